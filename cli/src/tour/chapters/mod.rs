//! The entries, in the order of the course notes.

mod affine;
mod attention;
mod beam;
mod bert;
mod bert_sentiment;
mod bmes;
pub mod char_lm;
mod classification;
mod cnn;
pub(crate) mod g2p;
mod g2p_nat;
mod g2p_restore;
mod g2p_sampling;
pub(crate) mod gpt;
mod gradients;
mod mlm;
mod mlp;
mod polynomial;
mod recurrent;
mod regression;
pub(crate) mod seq2seq;
mod stn;
mod word2vec;
mod word_eval;

use crate::tour::Entry;
use crate::tour::held_out::restore;

pub fn all() -> Vec<Entry> {
    vec![
        Entry {
            name: "linear_regression",
            chapter: "回归",
            run: regression::linear,
            eval: restore::<regression::Diabetes>,
        },
        Entry {
            name: "polynomial_l2",
            chapter: "回归 / 正则化",
            run: polynomial::polynomial,
            eval: restore::<polynomial::Auto>,
        },
        Entry {
            name: "logistic_regression",
            chapter: "逻辑回归",
            run: classification::logistic,
            eval: restore::<classification::BreastCancer>,
        },
        Entry {
            name: "softmax_wine",
            chapter: "多分类",
            run: classification::softmax_wine,
            eval: restore::<classification::Wine>,
        },
        Entry {
            name: "softmax_digits",
            chapter: "多分类",
            run: classification::softmax_digits,
            eval: restore::<classification::Digits>,
        },
        Entry {
            name: "nonlinear_mlp",
            chapter: "逻辑回归的缺陷以及引入神经网络",
            run: mlp::nonlinear,
            eval: restore::<mlp::Petals>,
        },
        Entry {
            name: "mlp_mnist",
            chapter: "逻辑回归的缺陷以及引入神经网络",
            run: mlp::mnist,
            eval: restore::<mlp::Mnist>,
        },
        Entry {
            name: "cnn",
            chapter: "CNN: 卷积, 共享权重, 池化",
            run: cnn::cnn,
            eval: restore::<cnn::Cnn>,
        },
        Entry {
            name: "cnn_batchnorm",
            chapter: "batch_normalization",
            run: cnn::cnn_batchnorm,
            eval: restore::<cnn::CnnBatchNorm>,
        },
        Entry {
            name: "spatial_transformer",
            chapter: "空间变换层",
            run: stn::stn,
            eval: restore::<stn::Distorted>,
        },
        Entry {
            name: "depthwise_separable",
            chapter: "架构设计: 针对CNN的优化",
            run: cnn::depthwise,
            eval: restore::<cnn::Depthwise>,
        },
        Entry {
            name: "rnn_gradients",
            chapter: "RNN 训练: BPTT, 梯度消失/爆炸",
            run: gradients::rnn_gradients,
            eval: restore::<gradients::Recall>,
        },
        Entry {
            name: "bilstm_segmentation",
            chapter: "RNN, Bidirectional RNN, LSTM",
            run: recurrent::bilstm_segmentation,
            eval: restore::<recurrent::Words>,
        },
        Entry {
            name: "char_lm",
            chapter: "LSTM: a character language model",
            run: char_lm::char_lm,
            eval: restore::<char_lm::Plays>,
        },
        Entry {
            name: "word2vec_skipgram",
            chapter: "字嵌入 (prediction-based)",
            run: word2vec::skipgram,
            eval: restore::<word2vec::SkipGram>,
        },
        Entry {
            name: "word2vec_cbow",
            chapter: "字嵌入 (prediction-based)",
            run: word2vec::cbow,
            eval: restore::<word2vec::Cbow>,
        },
        Entry {
            name: "transformer_segmentation",
            chapter: "自注意力机制, 位置编码",
            run: attention::segmentation,
            eval: restore::<attention::Segmentation>,
        },
        Entry {
            name: "g2p_cmudict",
            chapter: "seq2seq model: AT decoder, cross attention, teacher forcing",
            run: g2p::g2p_cmudict,
            eval: restore::<g2p::Lexicon>,
        },
        Entry {
            name: "g2p_sampling",
            chapter: "seq2seq model: exposure bias, scheduled sampling",
            run: g2p_sampling::g2p_sampling,
            eval: restore::<g2p::Lexicon>,
        },
        Entry {
            name: "g2p_nat",
            chapter: "seq2seq model: NAT decoder, length classifier",
            run: g2p_nat::g2p_nat,
            eval: restore::<g2p_nat::NatLexicon>,
        },
        Entry {
            name: "g2p_restore",
            chapter: "自监督学习: pretraining seq2seq by restoring corrupted input",
            run: g2p_restore::g2p_restore,
            eval: restore::<g2p_restore::Joint>,
        },
        Entry {
            name: "gpt_char",
            chapter: "自监督学习: GPT",
            run: gpt::gpt_char,
            eval: restore::<gpt::Shakespeare>,
        },
        Entry {
            name: "bert_sentiment",
            chapter: "自监督学习: BERT",
            run: bert_sentiment::bert_sentiment,
            eval: restore::<bert_sentiment::Reviews>,
        },
    ]
}

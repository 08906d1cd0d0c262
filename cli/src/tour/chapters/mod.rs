//! The entries, in the order of the course notes.

mod attention;
mod classification;
pub(super) mod cnn;
mod mlp;
mod regression;

use crate::tour::Entry;

pub fn all() -> Vec<Entry> {
    vec![
        Entry {
            name: "linear_regression",
            chapter: "回归",
            run: regression::linear,
        },
        Entry {
            name: "polynomial_l2",
            chapter: "回归 / 正则化",
            run: regression::polynomial,
        },
        Entry {
            name: "logistic_regression",
            chapter: "逻辑回归",
            run: classification::logistic,
        },
        Entry {
            name: "softmax_wine",
            chapter: "多分类",
            run: classification::softmax_wine,
        },
        Entry {
            name: "softmax_digits",
            chapter: "多分类",
            run: classification::softmax_digits,
        },
        Entry {
            name: "nonlinear_mlp",
            chapter: "逻辑回归的缺陷以及引入神经网络",
            run: mlp::nonlinear,
        },
        Entry {
            name: "mlp_mnist",
            chapter: "逻辑回归的缺陷以及引入神经网络",
            run: mlp::mnist,
        },
        Entry {
            name: "cnn",
            chapter: "CNN: 卷积, 共享权重, 池化",
            run: cnn::cnn,
        },
        Entry {
            name: "cnn_batchnorm",
            chapter: "batch_normalization",
            run: cnn::cnn_batchnorm,
        },
        Entry {
            name: "spatial_transformer",
            chapter: "空间变换层",
            run: cnn::stn,
        },
        Entry {
            name: "depthwise_separable",
            chapter: "架构设计: 针对CNN的优化",
            run: cnn::depthwise,
        },
        Entry {
            name: "transformer_segmentation",
            chapter: "自注意力机制, 位置编码",
            run: attention::segmentation,
        },
    ]
}

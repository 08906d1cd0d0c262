//! The entries, in the order of the course notes.

mod classification;
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
    ]
}

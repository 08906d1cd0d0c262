//! Max and average pooling over square windows of (planes, H, W) data (a
//! plane is one image channel), and their gradients. Average pooling counts
//! padding in its divisor (as the engine does); max pooling picks the first
//! maximum on ties.

use crate::Scaled;

/// A pooling window: max or average, size, stride and padding.
#[derive(Clone, Copy, Debug)]
pub struct Pool2d {
    pub max: bool,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
}

/// A pooling's output, and for each output element the flat input indices it
/// read (the one maximum for max pooling): what its gradient sends back.
pub struct Pooled {
    pub y: Vec<Scaled>,
    pub taps: Vec<Vec<usize>>,
}

impl Pool2d {
    /// Output size along an axis of `n`.
    pub fn out(&self, n: usize) -> usize {
        (n + 2 * self.padding - self.kernel) / self.stride + 1
    }

    /// The flat indices of the window of output (plane, oh, ow) inside the image.
    fn window(&self, (h, w): (usize, usize), plane: usize, oh: usize, ow: usize) -> Vec<usize> {
        let mut taps = Vec::new();
        for i in 0..self.kernel {
            for j in 0..self.kernel {
                let ih = (oh * self.stride + i) as isize - self.padding as isize;
                let iw = (ow * self.stride + j) as isize - self.padding as isize;
                if ih >= 0 && iw >= 0 && (ih as usize) < h && (iw as usize) < w {
                    taps.push((plane * h + ih as usize) * w + iw as usize);
                }
            }
        }
        taps
    }

    /// The pooled values (max: exact, scale 0; average: the mean, its terms
    /// the values over the window size) with the taps behind each.
    pub fn forward(&self, x: &[f64], planes: usize, h: usize, w: usize) -> Pooled {
        let (ho, wo) = (self.out(h), self.out(w));
        let area = (self.kernel * self.kernel) as f64;
        let (mut y, mut taps) = (Vec::new(), Vec::new());
        for plane in 0..planes {
            for oh in 0..ho {
                for ow in 0..wo {
                    let window = self.window((h, w), plane, oh, ow);
                    if self.max {
                        let first_max = window
                            .iter()
                            .copied()
                            .fold(window[0], |best, t| if x[t] > x[best] { t } else { best });
                        y.push((x[first_max], 0.0));
                        taps.push(vec![first_max]);
                    } else {
                        let sum: f64 = window.iter().map(|&t| x[t]).sum();
                        let size: f64 = window.iter().map(|&t| x[t].abs()).sum();
                        y.push((sum / area, size / area));
                        taps.push(window);
                    }
                }
            }
        }
        Pooled { y, taps }
    }

    /// dx for upstream dy: each dy goes to its maximum (max) or, divided by
    /// the window size, to every value of its window (average).
    pub fn backward(&self, pooled: &Pooled, dy: &[f64], x_len: usize) -> Vec<Scaled> {
        let share = if self.max {
            1.0
        } else {
            1.0 / (self.kernel * self.kernel) as f64
        };
        let mut dx = vec![(0.0, 0.0); x_len];
        for (o, taps) in pooled.taps.iter().enumerate() {
            for &t in taps {
                dx[t].0 += dy[o] * share;
                dx[t].1 += (dy[o] * share).abs();
            }
        }
        dx
    }
}

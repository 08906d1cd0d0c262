//! Max and average pooling of (planes, H, W) data (a plane is one image
//! channel) with PyTorch's options, and their gradients: rectangular windows,
//! stride, padding, dilation (max pooling), ceil_mode, and whether average
//! pooling counts padding in its divisor. Max pooling picks the first maximum
//! on ties; a window that holds no input (dilation can step over it all) is
//! -inf, as in PyTorch, and sends back no gradient.

use crate::Scaled;

/// A pooling window, as torch.nn.functional.max_pool2d / avg_pool2d take it.
#[derive(Clone, Copy, Debug)]
pub struct Pool2d {
    pub max: bool,
    /// (height, width) for each of the four.
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub dilation: [usize; 2],
    pub ceil_mode: bool,
    /// Average pooling divides by the window's positions inside the padded
    /// input (true) or by its input elements only (false).
    pub count_include_pad: bool,
}

/// A pooling's output, and for each output element the flat input indices it
/// read (the one maximum for max pooling) with the share of its gradient
/// each gets: what its backward sends back.
pub struct Pooled {
    pub y: Vec<Scaled>,
    pub taps: Vec<Vec<usize>>,
    pub share: Vec<f64>,
}

impl Pool2d {
    /// A square window with PyTorch's defaults for the rest.
    pub fn square(max: bool, kernel: usize, stride: usize, padding: usize) -> Pool2d {
        Pool2d {
            max,
            kernel: [kernel; 2],
            stride: [stride; 2],
            padding: [padding; 2],
            dilation: [1; 2],
            ceil_mode: false,
            count_include_pad: true,
        }
    }

    /// Output size along `axis` (0: height, 1: width) of an input `n` long,
    /// by PyTorch's rule: the windows that fit in the padded input, rounded
    /// up under ceil_mode as long as the last one starts inside the input or
    /// its left padding. Zero when none fits.
    pub fn out(&self, axis: usize, n: usize) -> usize {
        let (k, s) = (self.kernel[axis] as i64, self.stride[axis] as i64);
        let (p, d) = (self.padding[axis] as i64, self.dilation[axis] as i64);
        let room = n as i64 + 2 * p - d * (k - 1) - 1;
        let round_up = if self.ceil_mode { s - 1 } else { 0 };
        let mut out = (room + round_up).div_euclid(s) + 1;
        if self.ceil_mode && (out - 1) * s >= n as i64 + p {
            out -= 1;
        }
        out.max(0) as usize
    }

    /// The window of output (oh, ow) in an h x w image: the flat in-plane
    /// indices of the input elements it covers, and how many of its
    /// positions lie inside the padded input.
    fn window(&self, (h, w): (usize, usize), oh: usize, ow: usize) -> (Vec<usize>, usize) {
        let (mut taps, mut padded) = (Vec::new(), 0);
        for i in 0..self.kernel[0] {
            for j in 0..self.kernel[1] {
                let ih = (oh * self.stride[0] + i * self.dilation[0]) as isize;
                let iw = (ow * self.stride[1] + j * self.dilation[1]) as isize;
                let (ih, iw) = (ih - self.padding[0] as isize, iw - self.padding[1] as isize);
                let inside =
                    |v: isize, n: usize, p: usize| v >= -(p as isize) && v < (n + p) as isize;
                if inside(ih, h, self.padding[0]) && inside(iw, w, self.padding[1]) {
                    padded += 1;
                }
                if inside(ih, h, 0) && inside(iw, w, 0) {
                    taps.push(ih as usize * w + iw as usize);
                }
            }
        }
        (taps, padded)
    }

    /// The pooled values (max: exact, scale 0; average: the mean, its terms
    /// the values over the divisor) with the taps behind each.
    pub fn forward(&self, x: &[f64], planes: usize, h: usize, w: usize) -> Pooled {
        let (ho, wo) = (self.out(0, h), self.out(1, w));
        let mut pooled = Pooled {
            y: Vec::new(),
            taps: Vec::new(),
            share: Vec::new(),
        };
        for plane in 0..planes {
            for oh in 0..ho {
                for ow in 0..wo {
                    let (window, padded) = self.window((h, w), oh, ow);
                    let window: Vec<usize> = window.iter().map(|t| plane * h * w + t).collect();
                    if self.max {
                        let first_max = window
                            .iter()
                            .copied()
                            .reduce(|best, t| if x[t] > x[best] { t } else { best });
                        pooled
                            .y
                            .push((first_max.map_or(f64::NEG_INFINITY, |t| x[t]), 0.0));
                        pooled.taps.push(first_max.into_iter().collect());
                        pooled.share.push(1.0);
                    } else {
                        let divisor = if self.count_include_pad {
                            padded
                        } else {
                            window.len()
                        };
                        let sum: f64 = window.iter().map(|&t| x[t]).sum();
                        let size: f64 = window.iter().map(|&t| x[t].abs()).sum();
                        pooled.y.push((sum / divisor as f64, size / divisor as f64));
                        pooled.taps.push(window);
                        pooled.share.push(1.0 / divisor as f64);
                    }
                }
            }
        }
        pooled
    }

    /// dx for upstream dy: each dy goes to its maximum (max) or, times its
    /// window's share (one over the divisor), to every value of its window
    /// (average).
    pub fn backward(&self, pooled: &Pooled, dy: &[f64], x_len: usize) -> Vec<Scaled> {
        let mut dx = vec![(0.0, 0.0); x_len];
        for (o, taps) in pooled.taps.iter().enumerate() {
            let g = dy[o] * pooled.share[o];
            for &t in taps {
                dx[t].0 += g;
                dx[t].1 += g.abs();
            }
        }
        dx
    }
}

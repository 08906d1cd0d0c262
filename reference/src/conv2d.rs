//! 2-D convolution (NCHW, weights (Cout, Cin / groups, KH, KW)) with
//! stride, padding, dilation and groups, and both of its gradients, each
//! element on its own so that a costly one can be sampled:
//!
//! - forward: y[b, o, oh, ow] = sum_{c, kh, kw} x[b, g Cg + c, ih, iw] w[o, c, kh, kw]
//! - input gradient: dx[b, g Cg + c, ih, iw] = sum_{o in g, kh, kw} dy[b, o, oh, ow] w[o, c, kh, kw]
//! - weight gradient: dw[o, c, kh, kw] = sum_{b, oh, ow} dy[b, o, oh, ow] x[b, g Cg + c, ih, iw]
//!
//! where ih = oh S + kh D - P (and likewise iw) lands inside the image and
//! g is output channel o's group (Cg input channels each).

use crate::{Scaled, add_term};

/// A convolution's geometry.
#[derive(Clone, Copy, Debug)]
pub struct Conv2d {
    pub batch: usize,
    pub cin: usize,
    pub cout: usize,
    pub h: usize,
    pub w: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub dilation: [usize; 2],
    pub groups: usize,
}

impl Conv2d {
    /// Stride 1, padding `pad`, no dilation, one group.
    pub fn new(
        batch: usize,
        [cin, cout]: [usize; 2],
        [h, w]: [usize; 2],
        kernel: [usize; 2],
        pad: usize,
    ) -> Conv2d {
        Conv2d {
            batch,
            cin,
            cout,
            h,
            w,
            kernel,
            stride: [1, 1],
            padding: [pad, pad],
            dilation: [1, 1],
            groups: 1,
        }
    }

    /// The output's height and width.
    pub fn out(&self) -> (usize, usize) {
        let o = |n: usize, a: usize| {
            (n + 2 * self.padding[a] - self.dilation[a] * (self.kernel[a] - 1) - 1) / self.stride[a]
                + 1
        };
        (o(self.h, 0), o(self.w, 1))
    }

    /// (input channels, output channels) per group.
    fn per_group(&self) -> (usize, usize) {
        (self.cin / self.groups, self.cout / self.groups)
    }

    /// The input position that output position `o` reads at tap `k` along
    /// `axis`, if it lies inside the image.
    fn input_of(&self, o: usize, k: usize, axis: usize) -> Option<usize> {
        let n = [self.h, self.w][axis];
        let i = (o * self.stride[axis] + k * self.dilation[axis]) as isize
            - self.padding[axis] as isize;
        (i >= 0 && (i as usize) < n).then_some(i as usize)
    }

    /// For output position `o` along `axis`: the (tap, input position) pairs
    /// that land inside the image.
    fn inputs_of(&self, o: usize, axis: usize) -> Vec<(usize, usize)> {
        (0..self.kernel[axis])
            .filter_map(|k| self.input_of(o, k, axis).map(|i| (k, i)))
            .collect()
    }

    /// For input position `i` along `axis`: the (tap, output position) pairs
    /// that read it.
    fn outputs_of(&self, i: usize, axis: usize) -> Vec<(usize, usize)> {
        let n_out = [self.out().0, self.out().1][axis];
        let s = self.stride[axis] as isize;
        (0..self.kernel[axis])
            .filter_map(|k| {
                let shifted =
                    (i + self.padding[axis]) as isize - (k * self.dilation[axis]) as isize;
                let o = shifted / s;
                (shifted >= 0 && shifted % s == 0 && (o as usize) < n_out)
                    .then_some((k, o as usize))
            })
            .collect()
    }

    fn x_at(&self, x: &[f64], b: usize, c: usize, ih: usize, iw: usize) -> f64 {
        x[((b * self.cin + c) * self.h + ih) * self.w + iw]
    }

    fn w_at(&self, w: &[f64], o: usize, c: usize, kh: usize, kw: usize) -> f64 {
        w[((o * self.per_group().0 + c) * self.kernel[0] + kh) * self.kernel[1] + kw]
    }

    fn y_at(
        &self,
        y: &[f64],
        (ho, wo): (usize, usize),
        b: usize,
        o: usize,
        oh: usize,
        ow: usize,
    ) -> f64 {
        y[((b * self.cout + o) * ho + oh) * wo + ow]
    }

    /// Output element `e` of y (B, Cout, Ho, Wo).
    pub fn forward_at(&self, x: &[f64], w: &[f64], e: usize) -> Scaled {
        let (ho, wo) = self.out();
        let (ow, oh) = (e % wo, (e / wo) % ho);
        let (o, b) = ((e / (wo * ho)) % self.cout, e / (wo * ho * self.cout));
        let (cg, mg) = self.per_group();
        let group_start = (o / mg) * cg;
        let (rows, cols) = (self.inputs_of(oh, 0), self.inputs_of(ow, 1));
        let mut acc = (0.0, 0.0);
        for c in 0..cg {
            for &(kh, ih) in &rows {
                for &(kw, iw) in &cols {
                    let term =
                        self.x_at(x, b, group_start + c, ih, iw) * self.w_at(w, o, c, kh, kw);
                    add_term(&mut acc, term);
                }
            }
        }
        acc
    }

    /// Element `e` of dx (B, Cin, H, W), given dy.
    pub fn grad_input_at(&self, w: &[f64], dy: &[f64], e: usize) -> Scaled {
        let out = self.out();
        let (iw, ih) = (e % self.w, (e / self.w) % self.h);
        let (ci, b) = (
            (e / (self.w * self.h)) % self.cin,
            e / (self.w * self.h * self.cin),
        );
        let (cg, mg) = self.per_group();
        let (g, c) = (ci / cg, ci % cg);
        let (rows, cols) = (self.outputs_of(ih, 0), self.outputs_of(iw, 1));
        let mut acc = (0.0, 0.0);
        for o in g * mg..(g + 1) * mg {
            for &(kh, oh) in &rows {
                for &(kw, ow) in &cols {
                    let term = self.y_at(dy, out, b, o, oh, ow) * self.w_at(w, o, c, kh, kw);
                    add_term(&mut acc, term);
                }
            }
        }
        acc
    }

    /// Element `e` of dw (Cout, Cin / groups, KH, KW), given dy.
    pub fn grad_weight_at(&self, x: &[f64], dy: &[f64], e: usize) -> Scaled {
        let [kh_n, kw_n] = self.kernel;
        let (cg, mg) = self.per_group();
        let (kw, kh) = (e % kw_n, (e / kw_n) % kh_n);
        let (c, o) = ((e / (kw_n * kh_n)) % cg, e / (kw_n * kh_n * cg));
        let ci = (o / mg) * cg + c;
        let out = self.out();
        // The input row of each output row at tap kh, and column at kw.
        let rows: Vec<Option<usize>> = (0..out.0).map(|oh| self.input_of(oh, kh, 0)).collect();
        let cols: Vec<Option<usize>> = (0..out.1).map(|ow| self.input_of(ow, kw, 1)).collect();
        let mut acc = (0.0, 0.0);
        for b in 0..self.batch {
            for (oh, ih) in rows.iter().enumerate() {
                let Some(ih) = *ih else { continue };
                for (ow, iw) in cols.iter().enumerate() {
                    let Some(iw) = *iw else { continue };
                    let term = self.y_at(dy, out, b, o, oh, ow) * self.x_at(x, b, ci, ih, iw);
                    add_term(&mut acc, term);
                }
            }
        }
        acc
    }

    /// Every element of y.
    pub fn forward(&self, x: &[f64], w: &[f64]) -> Vec<Scaled> {
        let (ho, wo) = self.out();
        let n = self.batch * self.cout * ho * wo;
        (0..n).map(|e| self.forward_at(x, w, e)).collect()
    }

    /// Every element of dx.
    pub fn grad_input(&self, w: &[f64], dy: &[f64]) -> Vec<Scaled> {
        let n = self.batch * self.cin * self.h * self.w;
        (0..n).map(|e| self.grad_input_at(w, dy, e)).collect()
    }

    /// Every element of dw.
    pub fn grad_weight(&self, x: &[f64], dy: &[f64]) -> Vec<Scaled> {
        let n = self.cout * self.per_group().0 * self.kernel[0] * self.kernel[1];
        (0..n).map(|e| self.grad_weight_at(x, dy, e)).collect()
    }
}

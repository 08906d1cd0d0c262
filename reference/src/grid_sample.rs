//! Bilinear grid sampling with zeros outside (torch's grid_sample,
//! padding_mode "zeros"), its gradients with respect to the input and the
//! grid, and the affine grid of a spatial transformer (with its gradient).
//!
//! For a grid point (gx, gy) in [-1, 1]: ix = unnorm(gx, W), iy = unnorm(gy,
//! H); its four corners (x0, y0), (x0 + 1, y0), ... (x0 = floor ix) weigh
//! (1 - fx)(1 - fy), fx (1 - fy), (1 - fx) fy, fx fy with fx = ix - x0.

use crate::Scaled;

/// Pixel coordinate of a normalised one.
fn unnorm(g: f64, n: usize, align: bool) -> f64 {
    if align {
        (g + 1.0) / 2.0 * (n - 1) as f64
    } else {
        ((g + 1.0) * n as f64 - 1.0) / 2.0
    }
}

/// d(pixel coordinate) / d(normalised coordinate).
fn slope(n: usize, align: bool) -> f64 {
    if align {
        (n - 1) as f64 / 2.0
    } else {
        n as f64 / 2.0
    }
}

/// One corner of a sample: its flat offset in the plane (None outside the
/// image), its weight, and the weight's slopes along ix and iy.
type Corner = (Option<usize>, f64, f64, f64);

/// The sampling geometry: input (B, C, H, W), grid and output (B, Ho, Wo).
#[derive(Clone, Copy, Debug)]
pub struct GridSample {
    pub batch: usize,
    pub channels: usize,
    pub h: usize,
    pub w: usize,
    pub ho: usize,
    pub wo: usize,
    pub align_corners: bool,
}

/// The gradients of the input and of the grid.
pub struct Grads {
    pub dx: Vec<Scaled>,
    pub dgrid: Vec<Scaled>,
}

impl GridSample {
    /// The corners of grid point `p` (of B Ho Wo), and whether the point sits
    /// within 1e-4 pixel of a pixel line (where the slopes jump, so an f32
    /// and an f64 floor may pick different cells).
    fn corners(&self, grid: &[f64], p: usize) -> ([Corner; 4], bool) {
        let ix = unnorm(grid[2 * p], self.w, self.align_corners);
        let iy = unnorm(grid[2 * p + 1], self.h, self.align_corners);
        let (x0, y0) = (ix.floor(), iy.floor());
        let (fx, fy) = (ix - x0, iy - y0);
        let at = |xx: f64, yy: f64| {
            (xx >= 0.0 && yy >= 0.0 && (xx as usize) < self.w && (yy as usize) < self.h)
                .then(|| yy as usize * self.w + xx as usize)
        };
        let near_line = |f: f64| f.min(1.0 - f) < 1e-4;
        let corners = [
            (
                at(x0, y0),
                (1.0 - fx) * (1.0 - fy),
                -(1.0 - fy),
                -(1.0 - fx),
            ),
            (at(x0 + 1.0, y0), fx * (1.0 - fy), 1.0 - fy, -fx),
            (at(x0, y0 + 1.0), (1.0 - fx) * fy, -fy, 1.0 - fx),
            (at(x0 + 1.0, y0 + 1.0), fx * fy, fy, fx),
        ];
        (corners, near_line(fx) || near_line(fy))
    }

    /// y (B, C, Ho, Wo). The GPU computes a coordinate to about 1e-5 pixel,
    /// so every corner's weight may be off by that much: each corner's value
    /// counts unweighted in the scale.
    pub fn forward(&self, x: &[f64], grid: &[f64]) -> Vec<Scaled> {
        let (c, q_n, plane) = (self.channels, self.ho * self.wo, self.h * self.w);
        (0..self.batch * c * q_n)
            .map(|e| {
                let (q, ci, b) = (e % q_n, (e / q_n) % c, e / (q_n * c));
                let (mut s, mut a) = (0.0, 0.0);
                for (at, weight, _, _) in self.corners(grid, b * q_n + q).0 {
                    if let Some(at) = at {
                        let v = x[(b * c + ci) * plane + at];
                        s += weight * v;
                        a += v.abs();
                    }
                }
                (s, a)
            })
            .collect()
    }

    /// Both gradients for upstream dy. A grid point near a pixel line gets an
    /// unbounded scale: its slope differs on either side.
    pub fn backward(&self, x: &[f64], grid: &[f64], dy: &[f64]) -> Grads {
        let (c, q_n, plane) = (self.channels, self.ho * self.wo, self.h * self.w);
        let mut dx = vec![(0.0, 0.0); self.batch * c * plane];
        let mut dgrid = vec![(0.0, 0.0); self.batch * q_n * 2];
        let (sx, sy) = (
            slope(self.w, self.align_corners),
            slope(self.h, self.align_corners),
        );
        for b in 0..self.batch {
            for q in 0..q_n {
                let p = b * q_n + q;
                let (corners, near_line) = self.corners(grid, p);
                for ci in 0..c {
                    let g = dy[(b * c + ci) * q_n + q];
                    for &(at, weight, slope_x, slope_y) in &corners {
                        let Some(at) = at else { continue };
                        let xi = (b * c + ci) * plane + at;
                        dx[xi].0 += g * weight;
                        dx[xi].1 += g.abs();
                        let v = x[xi] * g;
                        dgrid[2 * p].0 += v * slope_x * sx;
                        dgrid[2 * p].1 += (v * sx).abs();
                        dgrid[2 * p + 1].0 += v * slope_y * sy;
                        dgrid[2 * p + 1].1 += (v * sy).abs();
                    }
                }
                if near_line {
                    dgrid[2 * p].1 = f64::INFINITY;
                    dgrid[2 * p + 1].1 = f64::INFINITY;
                }
            }
        }
        Grads { dx, dgrid }
    }
}

/// The target pixel coordinate of index i of n, in [-1, 1].
fn target(i: usize, n: usize, align: bool) -> f64 {
    if align {
        -1.0 + 2.0 * i as f64 / (n - 1) as f64
    } else {
        (2.0 * i as f64 + 1.0) / n as f64 - 1.0
    }
}

/// The grid (B, Ho, Wo, 2) of affine maps theta (B, 2, 3) applied to the
/// target coordinates: (t0 xs + t1 ys + t2, t3 xs + t4 ys + t5).
pub fn affine_grid(theta: &[f64], batch: usize, ho: usize, wo: usize, align: bool) -> Vec<f64> {
    let mut g = Vec::with_capacity(batch * ho * wo * 2);
    for b in 0..batch {
        let t = &theta[b * 6..b * 6 + 6];
        for i in 0..ho {
            for j in 0..wo {
                let (xs, ys) = (target(j, wo, align), target(i, ho, align));
                g.push(t[0] * xs + t[1] * ys + t[2]);
                g.push(t[3] * xs + t[4] * ys + t[5]);
            }
        }
    }
    g
}

/// The gradient of `affine_grid` with respect to theta, given the grid's.
pub fn affine_grid_backward(
    dgrid: &[f64],
    batch: usize,
    ho: usize,
    wo: usize,
    align: bool,
) -> Vec<f64> {
    let mut dtheta = vec![0.0; batch * 6];
    for b in 0..batch {
        for i in 0..ho {
            for j in 0..wo {
                let p = (b * ho + i) * wo + j;
                let (xs, ys) = (target(j, wo, align), target(i, ho, align));
                for (row, g) in [dgrid[2 * p], dgrid[2 * p + 1]].into_iter().enumerate() {
                    let t = &mut dtheta[b * 6 + 3 * row..b * 6 + 3 * row + 3];
                    t[0] += g * xs;
                    t[1] += g * ys;
                    t[2] += g;
                }
            }
        }
    }
    dtheta
}

//! An affine map of an image (rotation, scale, shift), resampled bilinearly:
//! the augmentation of the image classifiers and the distortion of the
//! spatial transformer's digits.

/// An affine map of an image: rotation (radians), scale, and a shift in pixels,
/// about the image centre.
pub(super) struct Affine {
    pub angle: f32,
    pub scale: f32,
    pub shift: (f32, f32),
}

impl Affine {
    /// Resamples `src` (h, w) into `dst` (h', w') bilinearly through the map,
    /// filling with `src`'s smallest value (its background).
    pub fn apply(
        &self,
        src: &[f32],
        (h, w): (usize, usize),
        dst: &mut [f32],
        (ho, wo): (usize, usize),
    ) {
        let bg = src.iter().copied().fold(f32::MAX, f32::min);
        let (c, s) = (self.angle.cos(), self.angle.sin());
        let (ci, cj) = ((h as f32 - 1.0) / 2.0, (w as f32 - 1.0) / 2.0);
        let (oi, oj) = ((ho as f32 - 1.0) / 2.0, (wo as f32 - 1.0) / 2.0);
        for y in 0..ho {
            for x in 0..wo {
                // Output pixel -> source pixel (the inverse map).
                let (u, v) = (x as f32 - oj - self.shift.0, y as f32 - oi - self.shift.1);
                let sx = (c * u + s * v) / self.scale + cj;
                let sy = (-s * u + c * v) / self.scale + ci;
                let (x0, y0) = (sx.floor(), sy.floor());
                let mut val = 0.0;
                for (dx, dy) in [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0)] {
                    let (px, py) = (x0 + dx, y0 + dy);
                    let wgt = (1.0 - (sx - px).abs()) * (1.0 - (sy - py).abs());
                    let inside = px >= 0.0 && py >= 0.0 && (px as usize) < w && (py as usize) < h;
                    val += wgt
                        * if inside {
                            src[py as usize * w + px as usize]
                        } else {
                            bg
                        };
                }
                dst[y * wo + x] = val;
            }
        }
    }
}

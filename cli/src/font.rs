//! The one font the charts use (the tour's training curves and the
//! benchmark report's bars): DejaVu Sans from the system, registered with
//! plotters once. Without it, charts are drawn unlabelled and their callers
//! write the labels to a text file beside them.

use std::sync::OnceLock;

use plotters::style::FontStyle;

/// Where distributions put DejaVu Sans (Debian's fonts-dejavu-core first).
const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
];

/// The family name charts ask for.
pub(crate) const SANS: &str = "sans-serif";

/// Registers the system font once; false when none is found (then no text
/// can be drawn).
pub(crate) fn sans() -> bool {
    static FOUND: OnceLock<bool> = OnceLock::new();
    *FOUND.get_or_init(|| {
        FONT_PATHS.iter().any(|p| {
            std::fs::read(p).is_ok_and(|bytes| {
                // plotters keeps the font for the process's life.
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                plotters::style::register_font(SANS, FontStyle::Normal, bytes).is_ok()
            })
        })
    })
}

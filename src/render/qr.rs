//! A QR code of a share link, for posters.

use super::grid::Grid;
use crate::error::{Error, Result};

/// A QR code of `text` (a share link, for posters) as black modules on white with the standard
/// four-module quiet zone, `scale` pixels per module. Medium error correction survives a
/// slightly damaged or badly lit print.
pub fn qr(text: &str, scale: usize) -> Result<Grid> {
    let code =
        qrcode::QrCode::with_error_correction_level(text, qrcode::EcLevel::M).map_err(|e| {
            Error::parameter(
                "link",
                format!("of {} bytes", text.len()),
                format!("a QR code cannot hold it ({e}); share a shorter link"),
            )
        })?;
    let (modules, colors) = (code.width(), code.to_colors());
    let side = (modules + 8) * scale;
    let mut rgba = vec![255u8; side * side * 4];
    for (i, color) in colors.iter().enumerate() {
        if *color == qrcode::Color::Dark {
            let (mx, my) = (i % modules + 4, i / modules + 4);
            for y in my * scale..(my + 1) * scale {
                for x in mx * scale..(mx + 1) * scale {
                    rgba[(y * side + x) * 4..(y * side + x) * 4 + 3].fill(0);
                }
            }
        }
    }
    Ok(Grid { width: side, height: side, rgba })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qr_codes_have_finder_patterns_and_a_quiet_zone() {
        let g = qr("https://example.org/dgflow/?model=25gaussians&seed=3&step=25", 2).unwrap();
        assert_eq!(g.width, g.height);
        let dark = |x: usize, y: usize| g.rgba[(y * g.width + x) * 4] == 0;
        assert!(!dark(0, 0) && !dark(7, 7), "quiet zone is white");
        // top-left finder pattern: dark outer ring starting at module (4, 4)
        assert!(dark(8, 8) && dark(8 + 12, 8) && dark(8, 8 + 12));
        assert!(!dark(8 + 2, 8 + 2), "ring, then a white ring");
        assert!(dark(8 + 4, 8 + 4), "then the dark centre");
    }
}

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

    /// The code reads back as the link it was made of, as a phone's camera reads it (decoded
    /// by an independent reader from the pixels alone).
    #[test]
    fn a_qr_code_reads_back_as_its_link() {
        for link in [
            "https://example.org/dgflow/?model=25gaussians&method=dgflow-kl&eta=0.01&gamma=0.01&steps=25&batch=64&seed=3&step=25",
            "http://127.0.0.1:8080/?model=cifar10&method=ddls&eta=0.1&gamma=0.01&steps=200&batch=256&seed=123456789&step=17&embed=1",
        ] {
            let g = qr(link, 3).unwrap();
            let mut image =
                rqrr::PreparedImage::prepare_from_greyscale(g.width, g.height, |x, y| {
                    g.rgba[(y * g.width + x) * 4]
                });
            let grids = image.detect_grids();
            assert_eq!(grids.len(), 1, "one code in the picture");
            let (_, text) = grids[0].decode().expect("the code decodes");
            assert_eq!(text, link);
        }
    }

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

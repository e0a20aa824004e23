//! Samples to things people look at: RGBA image grids and decoded sentences. The page and the CLI
//! both use these, so neither does pixel maths of its own.

/// A grid of images as RGBA8, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    pub width: usize,
    pub height: usize,
    pub rgba: Vec<u8>,
}

/// Pixels between tiles.
pub const GAP: usize = 2;

/// Number of grid columns for `n` tiles: the smallest near-square layout.
pub fn columns_for(n: usize) -> usize {
    (n as f64).sqrt().ceil().max(1.0) as usize
}

/// Lays out `n` images of `shape` = [channels (1 or 3), h, w], given as channel-first values in
/// `range`, in a grid of `cols` columns with a `GAP`-pixel white border between tiles.
pub fn image_grid(
    samples: &[f32],
    n: usize,
    shape: &[usize],
    range: [f32; 2],
    cols: usize,
) -> Grid {
    let (c, h, w) = (shape[0], shape[1], shape[2]);
    let cols = cols.clamp(1, n.max(1));
    let rows = n.div_ceil(cols);
    let width = cols * w + (cols + 1) * GAP;
    let height = rows * h + (rows + 1) * GAP;
    let mut rgba = vec![255u8; width * height * 4];
    let to_byte = |v: f32| -> u8 {
        let t = ((v - range[0]) / (range[1] - range[0])).clamp(0.0, 1.0);
        (t * 255.0).round() as u8
    };
    for i in 0..n {
        let sample = &samples[i * c * h * w..(i + 1) * c * h * w];
        let (x0, y0) = (GAP + (i % cols) * (w + GAP), GAP + (i / cols) * (h + GAP));
        for y in 0..h {
            for x in 0..w {
                let at = ((y0 + y) * width + x0 + x) * 4;
                for ch in 0..3 {
                    rgba[at + ch] = to_byte(sample[(ch % c) * h * w + y * w + x]);
                }
            }
        }
    }
    Grid { width, height, rgba }
}

/// Side of a scatter plot in pixels.
pub const SCATTER_SIZE: usize = 480;

/// Plots 2D points (flattened `[x0, y0, …]`) in `range` on both axes, y pointing up: `data`
/// (samples of the target distribution, where known) as small grey dots behind, then `points` as
/// larger blue dots, blended so that density shows and a phone screen still shows each one.
pub fn scatter(points: &[f32], data: &[f32], range: [f32; 2]) -> Grid {
    let size = SCATTER_SIZE;
    let mut rgba = vec![255u8; size * size * 4];
    let to_pixel = |v: f32| ((v - range[0]) / (range[1] - range[0]) * size as f32).floor() as i64;
    let mut plot = |values: &[f32], radius: i64, colour: [f32; 3], alpha: f32| {
        for p in values.chunks_exact(2) {
            let (cx, cy) = (to_pixel(p[0]), size as i64 - 1 - to_pixel(p[1]));
            for y in cy - radius..=cy + radius {
                for x in cx - radius..=cx + radius {
                    let inside = (x - cx).pow(2) + (y - cy).pow(2) <= radius * radius + radius;
                    if inside && (0..size as i64).contains(&x) && (0..size as i64).contains(&y) {
                        let at = (y as usize * size + x as usize) * 4;
                        for (channel, target) in rgba[at..at + 3].iter_mut().zip(colour) {
                            *channel =
                                (*channel as f32 * (1.0 - alpha) + target * alpha).round() as u8;
                        }
                    }
                }
            }
        }
    };
    plot(data, 1, [150.0, 150.0, 150.0], 0.35);
    plot(points, 3, [29.0, 78.0, 216.0], 0.55);
    Grid { width: size, height: size, rgba }
}

/// A QR code of `text` (a share link, for posters) as black modules on white with the standard
/// four-module quiet zone, `scale` pixels per module. Medium error correction survives a
/// slightly damaged or badly lit print.
pub fn qr(text: &str, scale: usize) -> Result<Grid, String> {
    let code = qrcode::QrCode::with_error_correction_level(text, qrcode::EcLevel::M)
        .map_err(|e| format!("cannot encode a QR code of {} bytes: {e}", text.len()))?;
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

/// Decodes text samples `[vocab, length]` (a distribution per position) by argmax.
pub fn decode_text(samples: &[f32], n: usize, shape: &[usize], vocab: &[String]) -> Vec<String> {
    let (v, len) = (shape[0], shape[1]);
    (0..n)
        .map(|i| {
            let s = &samples[i * v * len..(i + 1) * v * len];
            (0..len)
                .map(|pos| {
                    let best = (0..v)
                        .max_by(|&a, &b| s[a * len + pos].total_cmp(&s[b * len + pos]))
                        .unwrap_or(0);
                    vocab[best].as_str()
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_places_tiles_and_maps_the_range() {
        // Two 1×1 RGB images: black and white in [-1, 1].
        let samples = [-1.0, -1.0, -1.0, 1.0, 1.0, 1.0];
        let g = image_grid(&samples, 2, &[3, 1, 1], [-1.0, 1.0], 2);
        assert_eq!((g.width, g.height), (2 + 2 * GAP + GAP, 1 + 2 * GAP));
        let px = |x: usize, y: usize| &g.rgba[(y * g.width + x) * 4..(y * g.width + x) * 4 + 4];
        assert_eq!(px(GAP, GAP), &[0, 0, 0, 255]);
        assert_eq!(px(2 * GAP + 1, GAP), &[255, 255, 255, 255]);
        assert_eq!(px(0, 0), &[255, 255, 255, 255]);
    }

    #[test]
    fn scatter_puts_points_where_they_belong_over_grey_data() {
        let g = scatter(&[0.0, 0.0, -1.9, 1.9, 5.0, 5.0], &[1.0, -1.0], [-2.0, 2.0]);
        let px = |x: usize, y: usize| &g.rgba[(y * g.width + x) * 4..(y * g.width + x) * 4 + 3];
        let c = SCATTER_SIZE / 2;
        let blue = |p: &[u8]| p[2] > p[0] + 50;
        assert!(blue(px(c, c - 1)), "the origin is in the middle");
        assert!(blue(px(12, 12)), "(-1.9, 1.9) is near the top left");
        let data = px(3 * SCATTER_SIZE / 4, 3 * SCATTER_SIZE / 4 - 1);
        assert!(data[0] < 255 && data[0] == data[2], "the data point (1, −1) is grey: {data:?}");
        assert_eq!(
            px(SCATTER_SIZE - 1, 0),
            &[255, 255, 255],
            "points outside the range are left out"
        );
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

    #[test]
    fn text_is_decoded_by_argmax_per_position() {
        let vocab: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        // one sample, vocab 3 × length 2: position 0 → c, position 1 → a
        let samples = [0.1, 0.7, 0.2, 0.2, 0.7, 0.1];
        assert_eq!(decode_text(&samples, 1, &[3, 2], &vocab), ["ca"]);
        assert_eq!(columns_for(64), 8);
        assert_eq!(columns_for(10), 4);
    }
}

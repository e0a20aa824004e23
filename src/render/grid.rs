//! Images laid out in a grid of RGBA8 pixels, and two grids side by side.

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

/// Two grids side by side with a gap, e.g. before and after refinement.
pub fn side_by_side(a: &Grid, b: &Grid) -> Grid {
    let gap = 4 * GAP;
    let (width, height) = (a.width + gap + b.width, a.height.max(b.height));
    let mut rgba = vec![255u8; width * height * 4];
    for (grid, x0) in [(a, 0), (b, a.width + gap)] {
        for y in 0..grid.height {
            let src = &grid.rgba[y * grid.width * 4..(y + 1) * grid.width * 4];
            rgba[(y * width + x0) * 4..(y * width + x0 + grid.width) * 4].copy_from_slice(src);
        }
    }
    Grid { width, height, rgba }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_places_tiles_and_maps_the_range() {
        assert_eq!(columns_for(64), 8);
        assert_eq!(columns_for(10), 4);
        // Two 1×1 RGB images: black and white in [-1, 1].
        let samples = [-1.0, -1.0, -1.0, 1.0, 1.0, 1.0];
        let g = image_grid(&samples, 2, &[3, 1, 1], [-1.0, 1.0], 2);
        assert_eq!((g.width, g.height), (2 + 2 * GAP + GAP, 1 + 2 * GAP));
        let px = |x: usize, y: usize| &g.rgba[(y * g.width + x) * 4..(y * g.width + x) * 4 + 4];
        assert_eq!(px(GAP, GAP), &[0, 0, 0, 255]);
        assert_eq!(px(2 * GAP + 1, GAP), &[255, 255, 255, 255]);
        assert_eq!(px(0, 0), &[255, 255, 255, 255]);
    }
}

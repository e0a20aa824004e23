//! 2D points as a scatter plot over the data they should follow.

use super::grid::Grid;

/// Side of a scatter plot in pixels.
pub const SCATTER_SIZE: usize = 480;

/// Plots 2D points (flattened `[x0, y0, …]`) in `range` on both axes, y pointing up: `data`
/// (samples of the target distribution, where known) as small grey dots behind, `greyed` (samples
/// a method turned down) as larger grey dots, then `points` as larger blue dots, blended so that
/// density shows and a phone screen still shows each one.
pub fn scatter(points: &[f32], greyed: &[f32], data: &[f32], range: [f32; 2]) -> Grid {
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
    plot(greyed, 3, [110.0, 110.0, 110.0], 0.45);
    plot(points, 3, [29.0, 78.0, 216.0], 0.55);
    Grid { width: size, height: size, rgba }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scatter_puts_points_where_they_belong_over_grey_data() {
        let g = scatter(&[0.0, 0.0, -1.9, 1.9, 5.0, 5.0], &[1.0, 1.0], &[1.0, -1.0], [-2.0, 2.0]);
        let px = |x: usize, y: usize| &g.rgba[(y * g.width + x) * 4..(y * g.width + x) * 4 + 3];
        let c = SCATTER_SIZE / 2;
        let blue = |p: &[u8]| p[2] > p[0] + 50;
        assert!(blue(px(c, c - 1)), "the origin is in the middle");
        assert!(blue(px(12, 12)), "(-1.9, 1.9) is near the top left");
        let data = px(3 * SCATTER_SIZE / 4, 3 * SCATTER_SIZE / 4 - 1);
        assert!(data[0] < 255 && data[0] == data[2], "the data point (1, −1) is grey: {data:?}");
        let greyed = px(3 * SCATTER_SIZE / 4, SCATTER_SIZE / 4 - 1);
        assert!(
            greyed[0] < data[0] && greyed[0] == greyed[2],
            "the greyed point (1, 1) is grey and darker than data: {greyed:?}"
        );
        assert_eq!(
            px(SCATTER_SIZE - 1, 0),
            &[255, 255, 255],
            "points outside the range are left out"
        );
    }
}

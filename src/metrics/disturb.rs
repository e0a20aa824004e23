//! The disturbances of Heusel et al. 2017 (§ "FID is consistent with human judgement"): a metric
//! that behaves like FID grows steadily as real images are corrupted by Gaussian noise, by blur,
//! and by mixing in images of noise. Images are flat `[n, 3·h·w]` rows in [-1, 1].

use crate::rng::{Noise, Stream};

/// Each value plus N(0, σ²) noise, clipped to the image range.
pub fn gaussian_noise(images: &[f32], sigma: f32, seed: u64) -> Vec<f32> {
    let noise = Noise::new(seed, Stream::Data).normal(images.len(), sigma);
    images.iter().zip(noise).map(|(x, e)| (x + e).clamp(-1.0, 1.0)).collect()
}

/// Each channel of each `side`×`side` image convolved with a Gaussian of σ pixels (separable,
/// edges clamped), so a flat image stays flat.
pub fn gaussian_blur(images: &[f32], side: usize, sigma: f32) -> Vec<f32> {
    let radius = (3.0 * sigma).ceil() as isize;
    let weights: Vec<f32> =
        (-radius..=radius).map(|d| (-((d * d) as f32) / (2.0 * sigma * sigma)).exp()).collect();
    let total: f32 = weights.iter().sum();
    let weights: Vec<f32> = weights.iter().map(|w| w / total).collect();
    let clamp = |i: isize| i.clamp(0, side as isize - 1) as usize;
    let mut out = images.to_vec();
    for plane in out.chunks_exact_mut(side * side) {
        let rows: Vec<f32> = (0..side * side)
            .map(|p| {
                let (y, x) = ((p / side) as isize, (p % side) as isize);
                weights
                    .iter()
                    .enumerate()
                    .map(|(k, w)| w * plane[y as usize * side + clamp(x + k as isize - radius)])
                    .sum()
            })
            .collect();
        for (p, value) in plane.iter_mut().enumerate() {
            let (y, x) = ((p / side) as isize, p % side);
            *value = weights
                .iter()
                .enumerate()
                .map(|(k, w)| w * rows[clamp(y + k as isize - radius) * side + x])
                .sum();
        }
    }
    out
}

/// The first `round(fraction · n)` of the `n` images replaced by uniform noise images.
pub fn mix_in_noise_images(images: &[f32], per_image: usize, fraction: f32, seed: u64) -> Vec<f32> {
    let n = images.len() / per_image;
    let replaced = ((fraction * n as f32).round() as usize).min(n);
    let noise = Noise::new(seed, Stream::Data).uniform(replaced * per_image);
    noise
        .into_iter()
        .map(|u| 2.0 * u - 1.0)
        .chain(images[replaced * per_image..].iter().copied())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blur_keeps_flat_images_flat_and_smooths_an_edge() {
        let flat = vec![0.25f32; 2 * 3 * 8 * 8];
        assert!(gaussian_blur(&flat, 8, 1.5).iter().all(|v| (v - 0.25).abs() < 1e-6));
        // One plane: left half −1, right half +1; blurred, the step becomes a ramp.
        let edge: Vec<f32> = (0..64).map(|p| if p % 8 < 4 { -1.0 } else { 1.0 }).collect();
        let blurred = gaussian_blur(&edge, 8, 1.0);
        let row = &blurred[8 * 3..8 * 4];
        assert!(row.windows(2).all(|w| w[0] <= w[1] + 1e-6), "{row:?}");
        assert!(row[3] > -1.0 && row[4] < 1.0 && (row[3] + row[4]).abs() < 1e-5, "{row:?}");
    }

    #[test]
    fn noise_stays_in_range_and_grows_with_sigma() {
        let images = vec![0.9f32; 1000];
        let (small, large) = (gaussian_noise(&images, 0.05, 1), gaussian_noise(&images, 0.4, 1));
        let spread = |v: &[f32]| v.iter().map(|x| (x - 0.9).abs()).sum::<f32>();
        assert!(spread(&small) < spread(&large));
        assert!(large.iter().all(|x| (-1.0..=1.0).contains(x)));
    }

    #[test]
    fn mixing_replaces_exactly_the_fraction() {
        let images = vec![0.5f32; 10 * 4];
        let mixed = mix_in_noise_images(&images, 4, 0.3, 2);
        assert_eq!(mixed.len(), images.len());
        let changed = mixed.chunks(4).filter(|img| img.iter().any(|v| *v != 0.5)).count();
        assert_eq!(changed, 3);
        assert!(mixed[12..].iter().all(|v| *v == 0.5));
    }
}

//! Real data for the CIFAR-10 GAN: a batch of training images drawn at random (with replacement)
//! and flipped left-right half of the time, from the iteration's own noise so a resumed run sees
//! the same batches.

use crate::data::cifar::Cifar;
use crate::rng::{Noise, Stream};
use crate::train::gan::RealData;

pub struct ImageData {
    pub images: Cifar,
    pub seed: u64,
}

impl RealData for ImageData {
    fn batch(&self, n: usize, iteration: u64) -> Vec<f32> {
        let mut noise = Noise::at(self.seed, Stream::Data, iteration);
        let draws = noise.uniform(2 * n);
        let mut out = Vec::with_capacity(n * crate::data::cifar::PIXELS);
        for pair in draws.chunks_exact(2) {
            let index = ((pair[0] * self.images.len() as f32) as usize).min(self.images.len() - 1);
            let image: Vec<f32> = self.images.image(index).collect();
            if pair[1] < 0.5 {
                out.extend(image);
            } else {
                out.extend(image.chunks_exact(32).flat_map(|row| row.iter().rev().copied()));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_reproducible_and_flips_mirror_rows() {
        let pixels: Vec<u8> = (0..3 * crate::data::cifar::PIXELS).map(|i| (i % 32) as u8).collect();
        let data = ImageData { images: Cifar { pixels, labels: vec![0, 1, 2] }, seed: 3 };
        let a = data.batch(16, 5);
        assert_eq!(a, data.batch(16, 5));
        assert_ne!(a, data.batch(16, 6));
        // Every row is 0..32 or its mirror, and both occur.
        let rows: Vec<&[f32]> = a.chunks_exact(32).collect();
        let ramp: Vec<f32> = (0..32).map(|p| p as f32 / 127.5 - 1.0).collect();
        let mirrored: Vec<f32> = ramp.iter().rev().copied().collect();
        assert!(rows.iter().all(|r| *r == ramp.as_slice() || *r == mirrored.as_slice()));
        assert!(rows.contains(&ramp.as_slice()) && rows.contains(&mirrored.as_slice()));
    }
}

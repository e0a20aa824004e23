//! Where a trainer's real batches come from: CIFAR-10 images, encoded sentences, or the 2D toys'
//! distributions. Each batch is drawn from the iteration's own noise, so a resumed run sees the
//! same batches.

use crate::data::cifar::Cifar;
use crate::data::text::Vocab;
use crate::data::toy2d::Toy;
use crate::rng::{Noise, Stream};

/// Where real samples come from: `batch(n, iteration)` must depend only on its arguments, so a
/// resumed run sees the same data.
pub trait RealData {
    fn batch(&self, n: usize, iteration: u64) -> Vec<f32>;
}

/// Real data for the CIFAR-10 GAN: a batch of training images drawn at random (with replacement)
/// and flipped left-right half of the time, from the iteration's own noise so a resumed run sees
/// the same batches.
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

/// How much of each real one-hot the text GAN's critic was trained with spread to uniform (see
/// [`TextData::smoothing`]): real text is shown to that critic this way wherever it judges it.
pub const TEXT_SMOOTHING: f32 = 0.1;

/// Real data for the language GAN: random training lines, one-hot encoded, drawn from the
/// iteration's own noise so a resumed run sees the same batches.
pub struct TextData {
    pub lines: Vec<Vec<u16>>,
    pub vocab: Vocab,
    /// Mass moved from each real one-hot position to uniform. Without it the critic tells real
    /// one-hots from generated softmaxes by their peakedness alone, and the generator chases
    /// saturated softmaxes whose gradients vanish (seen here: collapse to one repeated character).
    pub smoothing: f32,
    pub seed: u64,
}

impl RealData for TextData {
    fn batch(&self, n: usize, iteration: u64) -> Vec<f32> {
        let draws = Noise::at(self.seed, Stream::Data, iteration).uniform(n);
        draws
            .into_iter()
            .flat_map(|u| {
                let i = ((u * self.lines.len() as f32) as usize).min(self.lines.len() - 1);
                let v = self.vocab.len() as f32;
                self.vocab
                    .one_hot(&self.lines[i])
                    .into_iter()
                    .map(move |x| x * (1.0 - self.smoothing) + self.smoothing / v)
            })
            .collect()
    }
}

/// Real data for the 2D toys: a fresh batch from the distribution at every iteration.
pub struct ToyData {
    pub toy: Toy,
    pub seed: u64,
}

impl RealData for ToyData {
    fn batch(&self, n: usize, iteration: u64) -> Vec<f32> {
        self.toy.sample(n, &mut Noise::at(self.seed, Stream::Data, iteration))
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

    #[test]
    fn batches_are_smoothed_one_hots_of_training_lines() {
        let vocab = Vocab::from_symbols(["a", "b", "c", "\u{fffd}"].map(String::from).to_vec());
        let data = TextData {
            lines: vec![vocab.encode("abc"), vocab.encode("cba")],
            vocab,
            smoothing: 0.2,
            seed: 1,
        };
        let batch = data.batch(5, 0);
        assert_eq!(batch, data.batch(5, 0));
        assert_eq!(batch.len(), 5 * 4 * 3);
        for sample in batch.chunks(12) {
            for pos in 0..3 {
                let column: Vec<f32> = (0..4).map(|s| sample[s * 3 + pos]).collect();
                assert!((column.iter().sum::<f32>() - 1.0).abs() < 1e-6);
                assert_eq!(
                    column.iter().filter(|&&v| (v - 0.85).abs() < 1e-6).count(),
                    1,
                    "{column:?}"
                );
            }
        }
    }
}

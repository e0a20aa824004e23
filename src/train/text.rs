//! Real data for the language GAN: random training lines, one-hot encoded, drawn from the
//! iteration's own noise so a resumed run sees the same batches.

use crate::data::text::Vocab;
use crate::rng::{Noise, Stream};
use crate::train::gan::RealData;

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

#[cfg(test)]
mod tests {
    use super::*;

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

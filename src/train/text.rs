//! Real data for the language GAN: random training lines, one-hot encoded, drawn from the
//! iteration's own noise so a resumed run sees the same batches.

use crate::data::text::Vocab;
use crate::rng::{Noise, Stream};
use crate::train::gan::RealData;

pub struct TextData {
    pub lines: Vec<Vec<u16>>,
    pub vocab: Vocab,
    pub seed: u64,
}

impl RealData for TextData {
    fn batch(&self, n: usize, iteration: u64) -> Vec<f32> {
        let draws = Noise::at(self.seed, Stream::Data, iteration).uniform(n);
        draws
            .into_iter()
            .flat_map(|u| {
                let i = ((u * self.lines.len() as f32) as usize).min(self.lines.len() - 1);
                self.vocab.one_hot(&self.lines[i])
            })
            .collect()
    }
}


//! Real data for the 2D toys: a fresh batch from the distribution at every iteration.

use crate::data::toy2d::Toy;
use crate::rng::{Noise, Stream};
use crate::train::gan::RealData;

pub struct ToyData {
    pub toy: Toy,
    pub seed: u64,
}

impl RealData for ToyData {
    fn batch(&self, n: usize, iteration: u64) -> Vec<f32> {
        self.toy.sample(n, &mut Noise::at(self.seed, Stream::Data, iteration))
    }
}

//! Seeded Gaussian noise drawn on the host, so every backend (CPU, WebGPU, native, wasm) refines
//! from the very same latents and noise, and a seed reproduces a run anywhere.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// Independent streams drawn from one seed: what is drawn for one purpose never shifts another
/// (e.g. changing the batch size leaves DOT's calibration set unchanged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Latents = 1,
    StepNoise = 2,
    Calibration = 3,
    Weights = 4,
    Data = 5,
    Training = 6,
    Statistics = 7,
    /// DRS's and MH-GAN's proposals after step 0, and their accept/reject draws.
    Proposals = 8,
    Acceptance = 9,
    /// DRS's burn-in batch.
    BurnIn = 10,
}

pub struct Noise(ChaCha8Rng);

impl Noise {
    pub fn new(seed: u64, stream: Stream) -> Noise {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream as u64);
        Noise(rng)
    }

    /// The stream positioned at `index`'s own stretch of 2³² words, so training iteration `index`
    /// draws the same numbers whether the run started at 0 or resumed from a checkpoint.
    pub fn at(seed: u64, stream: Stream, index: u64) -> Noise {
        let mut noise = Noise::new(seed, stream);
        noise.0.set_word_pos((index as u128) << 32);
        noise
    }

    /// `n` draws from U[0, 1).
    pub fn uniform(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.0.random::<f32>()).collect()
    }

    /// `n` draws from N(0, std²).
    pub fn normal(&mut self, n: usize, std: f32) -> Vec<f32> {
        (0..n).map(|_| self.0.sample::<f32, _>(StandardNormal) * std).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_draws_and_streams_differ() {
        let a = Noise::new(7, Stream::Latents).normal(16, 1.0);
        assert_eq!(a, Noise::new(7, Stream::Latents).normal(16, 1.0));
        assert_ne!(a, Noise::new(7, Stream::StepNoise).normal(16, 1.0));
        assert_ne!(a, Noise::new(8, Stream::Latents).normal(16, 1.0));
    }

    #[test]
    fn draws_are_standard_normal() {
        let x = Noise::new(1, Stream::Latents).normal(100_000, 1.0);
        let mean = x.iter().sum::<f32>() / x.len() as f32;
        let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / x.len() as f32;
        assert!(mean.abs() < 0.02 && (var - 1.0).abs() < 0.02, "mean {mean} var {var}");
    }
}

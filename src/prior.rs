//! The latent prior a bundle declares: where its generator's latents come from. The starting
//! latents, DRS's and MH-GAN's proposals, DOT's reference batch, DDLS's energy and the trainers'
//! latents all follow it.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::rng::Noise;

/// A distribution over each latent coordinate, independently.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Prior {
    /// z ~ N(0, σ² I); most GANs use σ = 1.
    Normal { sigma: f32 },
    /// z ~ uniform(low, high)^d, e.g. the DOT paper's 2D models' uniform(−1, 1)².
    Uniform { low: f32, high: f32 },
}

impl Prior {
    /// N(0, I).
    pub const STANDARD: Prior = Prior::Normal { sigma: 1.0 };

    /// Refuses parameters that describe no distribution, naming the field.
    pub fn check(self) -> Result<(), String> {
        match self {
            Prior::Normal { sigma } if !(sigma.is_finite() && sigma > 0.0) => {
                Err(format!("`sigma` is {sigma}: expected a finite standard deviation > 0"))
            }
            Prior::Uniform { low, high }
                if !(low.is_finite() && high.is_finite() && low < high) =>
            {
                Err(format!(
                    "`low` {low} and `high` {high}: expected finite bounds with low < high"
                ))
            }
            _ => Ok(()),
        }
    }

    /// `n` independent draws.
    pub fn sample(self, noise: &mut Noise, n: usize) -> Vec<f32> {
        match self {
            Prior::Normal { sigma } => noise.normal(n, sigma),
            Prior::Uniform { low, high } => {
                noise.uniform(n).into_iter().map(|u| low + (high - low) * u).collect()
            }
        }
    }

    /// ∇_z log p(z), the prior's part of DDLS's drift: −z/σ² for the normal, zero inside the
    /// uniform's box (where its density is flat).
    pub fn score(self, z: Tensor<2>) -> Tensor<2> {
        match self {
            Prior::Normal { sigma } => z.div_scalar(-sigma * sigma),
            Prior::Uniform { .. } => z.zeros_like(),
        }
    }

    /// Brings latents that a Langevin step moved outside the uniform's box back into it by
    /// reflection at its walls (Langevin dynamics on a density with reflecting boundaries);
    /// the normal has no walls.
    pub fn confine(self, z: Tensor<2>) -> Tensor<2> {
        match self {
            Prior::Normal { .. } => z,
            Prior::Uniform { low, high } => {
                // Unfolded onto a circle of twice the width, then folded back.
                let width = high - low;
                let period = 2.0 * width;
                let y =
                    (z.sub_scalar(low).remainder_scalar(period) + period).remainder_scalar(period);
                (y.sub_scalar(width).abs().neg() + width).add_scalar(low)
            }
        }
    }

    /// Whether `z` lies where the prior has density (always, for the normal).
    pub fn contains(self, z: f32) -> bool {
        match self {
            Prior::Normal { .. } => z.is_finite(),
            Prior::Uniform { low, high } => (low..=high).contains(&z),
        }
    }
}

impl std::fmt::Display for Prior {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Prior::Normal { sigma } => write!(f, "N(0, {sigma}² I)"),
            Prior::Uniform { low, high } => write!(f, "uniform({low}, {high}) per coordinate"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Stream;

    fn moments(v: &[f32]) -> (f64, f64) {
        let n = v.len() as f64;
        let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
        let var = v.iter().map(|&x| (f64::from(x) - mean).powi(2)).sum::<f64>() / n;
        (mean, var)
    }

    #[test]
    fn each_prior_draws_with_its_moments_and_bounds() {
        let n = 200_000;
        // The mean of n draws has standard error sd/√n: 5 of them is a tolerance a correct
        // sampler fails about once in 3.5 million runs; the variance's relative error is ~√(2/n).
        for prior in
            [Prior::STANDARD, Prior::Normal { sigma: 0.3 }, Prior::Uniform { low: -1.0, high: 3.0 }]
        {
            let draws = prior.sample(&mut Noise::new(11, Stream::Latents), n);
            let (mean, var) = moments(&draws);
            let (want_mean, want_var) = match prior {
                Prior::Normal { sigma } => (0.0, f64::from(sigma * sigma)),
                Prior::Uniform { low, high } => {
                    (f64::from(low + high) / 2.0, f64::from((high - low).powi(2)) / 12.0)
                }
            };
            let tolerance = 5.0 * want_var.sqrt() / (n as f64).sqrt();
            assert!((mean - want_mean).abs() < tolerance, "{prior:?}: mean {mean}");
            // The normal's sample variance has relative sd √(2/n); the uniform's is smaller.
            assert!(
                (var / want_var - 1.0).abs() < 7.5 * (2.0 / n as f64).sqrt(),
                "{prior:?}: variance {var}"
            );
            assert!(
                draws.iter().all(|&z| prior.contains(z)),
                "{prior:?}: a draw outside its support"
            );
        }
        let uniform =
            Prior::Uniform { low: -1.0, high: 3.0 }.sample(&mut Noise::new(2, Stream::Latents), n);
        let (lo, hi) = uniform.iter().fold((f32::MAX, f32::MIN), |(a, b), &z| (a.min(z), b.max(z)));
        assert!(lo >= -1.0 && hi < 3.0 && lo < -0.99 && hi > 2.99, "fills [-1, 3): {lo} to {hi}");
    }

    #[test]
    fn the_score_is_the_gradient_of_the_log_density_and_walls_reflect() {
        let device = crate::device::cpu();
        let z =
            Tensor::<2>::from_data(TensorData::new(vec![-2.0f32, 0.5, 1.0, 4.0], [2, 2]), &device);
        let host = |t: Tensor<2>| t.into_data().try_into_vec::<f32>().unwrap();
        assert_eq!(host(Prior::Normal { sigma: 2.0 }.score(z.clone())), [0.5, -0.125, -0.25, -1.0]);
        assert_eq!(host(Prior::Uniform { low: -1.0, high: 1.0 }.score(z.clone())), [0.0; 4]);
        // Reflected at −1 and 1: −2 → 0, 0.5 stays, 1 stays, 4 → −2 → 0 (two walls).
        let confined = host(Prior::Uniform { low: -1.0, high: 1.0 }.confine(z.clone()));
        for (got, want) in confined.iter().zip([0.0, 0.5, 1.0, 0.0]) {
            assert!((got - want).abs() < 1e-6, "{confined:?}");
        }
        assert_eq!(host(Prior::STANDARD.confine(z.clone())), host(z));
    }

    #[test]
    fn priors_that_describe_no_distribution_are_refused() {
        assert!(Prior::STANDARD.check().is_ok());
        let flat = Prior::Normal { sigma: 0.0 }.check().unwrap_err();
        assert!(flat.contains("`sigma` is 0"), "{flat}");
        let empty = Prior::Uniform { low: 1.0, high: 1.0 }.check().unwrap_err();
        assert!(empty.contains("low < high"), "{empty}");
        assert!(Prior::Uniform { low: f32::NAN, high: 1.0 }.check().is_err());
    }
}

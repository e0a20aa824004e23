//! The paper's 2D toy distributions (after DOT and DDLS): 25 Gaussians and the Swiss roll.

use serde::{Deserialize, Serialize};

use crate::rng::{Noise, Stream};

/// Standard deviation of each of the 25 Gaussians before scaling.
pub const SIGMA: f32 = 0.05;
/// The grid is divided by 2.828 (≈ 2√2) so it fits in [-1.5, 1.5].
pub const SCALE: f32 = 2.828;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Toy {
    /// A 5×5 grid of Gaussians at {−4, −2, 0, 2, 4}², σ = 0.05, scaled by 1/2.828.
    Gaussians25,
    /// sklearn's make_swiss_roll(noise = 0.25), columns x and z, divided by 7.5.
    SwissRoll,
}

impl Toy {
    pub const ALL: [Toy; 2] = [Toy::Gaussians25, Toy::SwissRoll];

    pub fn from_name(name: &str) -> crate::Result<Toy> {
        Toy::ALL.into_iter().find(|t| t.name() == name).ok_or_else(|| crate::Error::Parameter {
            name: "toy",
            value: name.to_string(),
            expected: "expected 25gaussians or swissroll".into(),
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Toy::Gaussians25 => "25gaussians",
            Toy::SwissRoll => "swissroll",
        }
    }

    /// 1,000 points (a fixed draw) of a model's toy, drawn behind its samples in plots; none
    /// for a model of no toy.
    pub fn backdrop(toy: Option<Toy>) -> Vec<f32> {
        toy.map(|toy| toy.sample(1000, &mut Noise::new(0, Stream::Data))).unwrap_or_default()
    }

    /// `n` points, flattened `[x0, y0, x1, y1, …]`.
    pub fn sample(self, n: usize, noise: &mut Noise) -> Vec<f32> {
        match self {
            Toy::Gaussians25 => {
                let picks = noise.uniform(n);
                let jitter = noise.normal(2 * n, SIGMA);
                (0..n)
                    .flat_map(|i| {
                        let k = ((picks[i] * 25.0) as usize).min(24);
                        let centre = mode(k);
                        [
                            (centre[0] + jitter[2 * i]) / SCALE,
                            (centre[1] + jitter[2 * i + 1]) / SCALE,
                        ]
                    })
                    .collect()
            }
            Toy::SwissRoll => {
                let u = noise.uniform(n);
                let jitter = noise.normal(2 * n, 0.25);
                (0..n)
                    .flat_map(|i| {
                        let t = 1.5 * std::f32::consts::PI * (1.0 + 2.0 * u[i]);
                        [
                            (t * t.cos() + jitter[2 * i]) / 7.5,
                            (t * t.sin() + jitter[2 * i + 1]) / 7.5,
                        ]
                    })
                    .collect()
            }
        }
    }
}

/// Centre `k` (0..25) of the Gaussian grid, before scaling.
pub fn mode(k: usize) -> [f32; 2] {
    [(k % 5) as f32 * 2.0 - 4.0, (k / 5) as f32 * 2.0 - 4.0]
}

/// Share of points within 4σ of some mode of the 25-Gaussian grid (the "high-quality" samples of
/// DOT and the paper), and how many of the 25 modes hold at least one such point.
pub fn high_quality(points: &[f32]) -> (f32, usize) {
    let radius = 4.0 * SIGMA / SCALE;
    let mut covered = [false; 25];
    let mut good = 0;
    for p in points.chunks_exact(2) {
        let nearest = (0..25)
            .map(|k| {
                let c = mode(k);
                (k, ((p[0] - c[0] / SCALE).powi(2) + (p[1] - c[1] / SCALE).powi(2)).sqrt())
            })
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .expect("25 modes");
        if nearest.1 <= radius {
            good += 1;
            covered[nearest.0] = true;
        }
    }
    (good as f32 / (points.len() / 2).max(1) as f32, covered.iter().filter(|&&c| c).count())
}

/// Mean log-likelihood of `points` under a Gaussian kernel density estimate of `reference`
/// with bandwidth `h` — a distance-like score between two 2D sample sets (higher is closer).
pub fn kde_log_likelihood(points: &[f32], reference: &[f32], h: f32) -> f32 {
    let m = (reference.len() / 2) as f64;
    let h2 = (h as f64) * (h as f64);
    let log_norm = -(m.ln() + (2.0 * std::f64::consts::PI * h2).ln());
    let total: f64 = points
        .chunks_exact(2)
        .map(|p| {
            let exps: Vec<f64> = reference
                .chunks_exact(2)
                .map(|r| {
                    -(((p[0] - r[0]) as f64).powi(2) + ((p[1] - r[1]) as f64).powi(2)) / (2.0 * h2)
                })
                .collect();
            let top = exps.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            top + exps.iter().map(|e| (e - top).exp()).sum::<f64>().ln() + log_norm
        })
        .sum();
    (total / (points.len() / 2) as f64) as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Stream;

    #[test]
    fn data_from_the_grid_is_all_high_quality_and_covers_every_mode() {
        let points = Toy::Gaussians25.sample(5000, &mut Noise::new(1, Stream::Latents));
        let (share, modes) = high_quality(&points);
        assert!(share > 0.999, "{share}");
        assert_eq!(modes, 25);
        assert!(points.iter().all(|v| v.abs() < 1.6));
    }

    #[test]
    fn kde_scores_data_above_a_shifted_copy() {
        let mut noise = Noise::new(2, Stream::Latents);
        let reference = Toy::SwissRoll.sample(2000, &mut noise);
        let same = Toy::SwissRoll.sample(1000, &mut noise);
        let shifted: Vec<f32> = same.iter().map(|v| v + 0.3).collect();
        assert!(
            kde_log_likelihood(&same, &reference, 0.1)
                > kde_log_likelihood(&shifted, &reference, 0.1) + 1.0
        );
        assert!(Toy::SwissRoll.sample(1000, &mut noise).iter().all(|v| v.abs() < 2.0));
    }
}

//! Discriminator Optimal Transport (Tanaka 2019), a baseline of the paper.
//!
//! Gradient descent from each starting point y = z₀ on ‖z − y + δ‖ − d(G(z)) / k_eff, where k_eff is
//! the critic's effective Lipschitz constant, estimated as in Tanaka's paper by the largest ratio
//! |d(G(zᵢ)) − d(G(zⱼ))| / ‖zᵢ − zⱼ‖ over pairs of a reference batch. δ = 0.001 (added to every
//! coordinate, as in Tanaka's code) keeps the norm differentiable at the start. No noise is added.

use burn::prelude::*;

/// Tanaka's δ.
pub const DELTA: f32 = 1e-3;

/// Drift −∇ of the DOT objective, given the current point, its origin and ∇d.
pub fn drift(z: Tensor<2>, origin: Tensor<2>, grad_d: Tensor<2>, k_eff: f32) -> Tensor<2> {
    let offset = (z - origin).add_scalar(DELTA);
    let norm = offset.clone().square().sum_dim(1).sqrt(); // [batch, 1]
    grad_d.div_scalar(k_eff) - offset / norm
}

/// Largest |dᵢ − dⱼ| / ‖pᵢ − pⱼ‖ over all pairs of `points` (`n` rows of `dim` values).
/// Returns `None` when no pair is distinct, which only a degenerate batch gives.
pub fn effective_lipschitz(points: &[f32], logits: &[f32], dim: usize) -> Option<f32> {
    let n = logits.len();
    let mut best: Option<f32> = None;
    for i in 0..n {
        for j in i + 1..n {
            let dist = points[i * dim..(i + 1) * dim]
                .iter()
                .zip(&points[j * dim..(j + 1) * dim])
                .map(|(a, b)| (a - b) * (a - b))
                .sum::<f32>()
                .sqrt();
            if dist > 0.0 {
                let ratio = (logits[i] - logits[j]).abs() / dist;
                best = Some(best.map_or(ratio, |b| b.max(ratio)));
            }
        }
    }
    best.filter(|k| *k > 0.0 && k.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lipschitz_estimate_of_a_linear_critic_is_its_slope() {
        // d(p) = 3 p₀ on the line: every pair gives exactly 3.
        let points = [0.0, 0.0, 1.0, 0.0, -2.0, 0.0];
        let logits = [0.0, 3.0, -6.0];
        assert!((effective_lipschitz(&points, &logits, 2).unwrap() - 3.0).abs() < 1e-6);
        assert_eq!(effective_lipschitz(&[1.0, 1.0], &[0.0, 0.0], 1), None);
    }
}

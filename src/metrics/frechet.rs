//! Fréchet distance between Gaussians fitted to two feature sets (Heusel et al. 2017):
//! ‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₁Σ₂)^½, computed in f64 through symmetric
//! eigendecompositions: tr (Σ₁Σ₂)^½ = tr (Σ₁^½ Σ₂ Σ₁^½)^½, a symmetric PSD matrix.

use nalgebra::{DMatrix, DVector};

use super::Features;

/// Mean and unbiased covariance of a feature set.
#[derive(Debug, Clone)]
pub struct Gaussian {
    pub mean: DVector<f64>,
    pub cov: DMatrix<f64>,
}

impl Gaussian {
    pub fn fit(features: &Features) -> Gaussian {
        let (n, d) = (features.len(), features.dim);
        assert!(n >= 2, "a covariance needs at least two samples");
        let x = DMatrix::from_row_iterator(n, d, features.values.iter().map(|&v| v as f64));
        let mean = x.row_mean().transpose();
        let centred = DMatrix::from_fn(n, d, |i, j| x[(i, j)] - mean[j]);
        let cov = centred.transpose() * &centred / (n as f64 - 1.0);
        Gaussian { mean, cov }
    }
}

/// The square root of a symmetric PSD matrix (round-off negatives clamped to zero).
fn sqrt_psd(m: &DMatrix<f64>) -> DMatrix<f64> {
    let eig = m.clone().symmetric_eigen();
    let roots = eig.eigenvalues.map(|v| v.max(0.0).sqrt());
    &eig.eigenvectors * DMatrix::from_diagonal(&roots) * eig.eigenvectors.transpose()
}

pub fn frechet_distance(a: &Gaussian, b: &Gaussian) -> f64 {
    let root_a = sqrt_psd(&a.cov);
    let middle = &root_a * &b.cov * &root_a;
    let middle = (&middle + middle.transpose()) * 0.5;
    let trace_root: f64 =
        middle.symmetric_eigen().eigenvalues.iter().map(|v| v.max(0.0).sqrt()).sum();
    (&a.mean - &b.mean).norm_squared() + a.cov.trace() + b.cov.trace() - 2.0 * trace_root
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Noise, Stream};

    fn gaussian_set(n: usize, d: usize, mean: f32, std: f32, seed: u64) -> Features {
        Features::new(
            d,
            Noise::new(seed, Stream::Data)
                .normal(n * d, std)
                .into_iter()
                .map(|v| v + mean)
                .collect(),
        )
    }

    #[test]
    fn identical_sets_are_at_distance_zero() {
        let x = gaussian_set(500, 8, 0.3, 2.0, 1);
        let g = Gaussian::fit(&x);
        assert!(frechet_distance(&g, &g).abs() < 1e-9, "{}", frechet_distance(&g, &g));
    }

    #[test]
    fn matches_the_closed_form_for_isotropic_gaussians() {
        // Between N(μ₁, σ₁²I) and N(μ₂, σ₂²I) in d dimensions: d(μ₁ − μ₂)² + d(σ₁ − σ₂)².
        let (a, b) = (
            Gaussian::fit(&gaussian_set(40_000, 4, 0.0, 1.0, 2)),
            Gaussian::fit(&gaussian_set(40_000, 4, 0.5, 2.0, 3)),
        );
        let expected = 4.0 * 0.25 + 4.0 * 1.0;
        let got = frechet_distance(&a, &b);
        assert!((got - expected).abs() < 0.1, "{got} vs {expected}");
        assert!((got - frechet_distance(&b, &a)).abs() < 1e-9, "symmetric");
    }

    #[test]
    fn handles_correlated_non_commuting_covariances() {
        // 2D: Σ₁ = diag(1, 4), Σ₂ = [[2, 1], [1, 2]] — tr(Σ₁Σ₂)^½ checked against a hand value.
        let a = Gaussian {
            mean: DVector::from_vec(vec![0.0, 0.0]),
            cov: DMatrix::from_row_slice(2, 2, &[1.0, 0.0, 0.0, 4.0]),
        };
        let b = Gaussian {
            mean: DVector::from_vec(vec![1.0, 0.0]),
            cov: DMatrix::from_row_slice(2, 2, &[2.0, 1.0, 1.0, 2.0]),
        };
        // Σ₁Σ₂ = [[2, 1], [4, 8]]: trace 10, det 12, so tr √ = √(10 + 2√12).
        let expected = 1.0 + 5.0 + 4.0 - 2.0 * (10.0 + 2.0 * 12f64.sqrt()).sqrt();
        assert!((frechet_distance(&a, &b) - expected).abs() < 1e-9);
    }
}

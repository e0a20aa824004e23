//! Sample-quality metrics. Images are compared in the penultimate-layer features of the project's
//! own CIFAR-10 classifier (the standard Inception-v3 weights are not available here), so every
//! number from `frechet`, `kid` and `precision_recall` is "in classifier features", never
//! Inception FID. Text is compared by the Jensen–Shannon divergence of n-gram distributions, 2D
//! points by the earth mover's distance (`emd`).

pub mod classifier;
pub mod confidence;
pub mod disturb;
pub mod emd;
pub mod frechet;
pub mod inception_analogue;
pub mod kid;
pub mod ngram;
pub mod precision_recall;

/// `n` feature vectors of `dim` values each, stored row after row.
#[derive(Debug, Clone)]
pub struct Features {
    pub dim: usize,
    pub values: Vec<f32>,
}

impl Features {
    pub fn new(dim: usize, values: Vec<f32>) -> Features {
        assert!(
            dim > 0 && values.len().is_multiple_of(dim),
            "{} values are not rows of {dim}",
            values.len()
        );
        Features { dim, values }
    }

    pub fn len(&self) -> usize {
        self.values.len() / self.dim
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn row(&self, i: usize) -> &[f32] {
        &self.values[i * self.dim..(i + 1) * self.dim]
    }

    /// The first `n` rows.
    pub fn head(&self, n: usize) -> Features {
        Features::new(self.dim, self.values[..n.min(self.len()) * self.dim].to_vec())
    }
}

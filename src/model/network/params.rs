//! What networks are built from and what a training pass records.

use std::collections::HashMap;

use burn::prelude::*;

/// Host-side weights by full parameter name, as read (and validated) from a bundle.
pub type HostWeights = HashMap<String, (Vec<usize>, Vec<f32>)>;

/// Device-side parameters by full name, flattened (shapes come from the spec).
pub type DeviceParams = HashMap<String, Tensor<1>>;

/// What a training-mode pass measured or estimated, to fold into the running state afterwards.
#[derive(Debug, Default)]
pub struct TrainingState {
    /// Batch mean, biased variance and value count of each batch-norm layer, by parameter prefix.
    pub batch_stats: Vec<(String, Tensor<1>, Tensor<1>, usize)>,
    /// Each spectral-norm layer's advanced left singular vector, by parameter name.
    pub sn_vectors: Vec<(String, Tensor<1>)>,
}

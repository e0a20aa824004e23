//! A [`NetworkSpec`] turned into tensors on a device, and its forward pass.
//!
//! Weights are plain (non-autodiff) tensors: when the input requires a gradient, burn treats them
//! as constants, so refining computes ∇ with respect to the input only — never weight gradients.
//!
//! `mod.rs` is the network and its passes; `inference` builds a network for refinement (batch
//! norms folded, activations fused, weights packed for the CPU kernels), `training` one whose
//! parameters take gradients; `ops` runs either, op by op, on `activation`s; `params` holds the
//! weights, parameters and state they are built from and record.

mod activation;
mod inference;
mod ops;
mod params;
#[cfg(test)]
mod tests;
mod training;

pub use activation::Activation;
pub use inference::fused_len;
pub use params::{DeviceParams, HostWeights, TrainingState};

use burn::prelude::*;

use super::spec::NetworkSpec;
use inference::build_ops;
use ops::{Op, run};
use training::{fuse_trained_activations, training_op};

/// A network ready to run on one device.
#[derive(Debug, Clone)]
pub struct Network {
    ops: Vec<Op>,
    input_shape: Vec<usize>,
}

impl Network {
    /// Builds `spec` from validated host weights named `prefix.<layer>.<field>`.
    /// `sn_iterations` extra power iterations refine every spectral-norm estimate (thermalising).
    /// A convolution's batch norm is folded into its weights, and on the CPU backend the
    /// activation after them is fused into its output (see [`fused_len`]).
    pub fn build(
        spec: &NetworkSpec,
        input_shape: &[usize],
        prefix: &str,
        weights: &HostWeights,
        sn_iterations: usize,
        device: &Device,
    ) -> Network {
        let ops = build_ops(&spec.layers, prefix, weights, sn_iterations, device);
        Network { ops, input_shape: input_shape.to_vec() }
    }

    /// Builds `spec` for a training step from device parameters, which may require gradients.
    /// Spectral norm is computed in the graph (σ = uᵀWv with u, v constants, as PyTorch does,
    /// advancing u by one power iteration) and batch norm uses batch statistics; both record
    /// their new state in `state`.
    pub fn training(
        spec: &NetworkSpec,
        input_shape: &[usize],
        prefix: &str,
        params: &DeviceParams,
        state: &mut TrainingState,
    ) -> Network {
        let ops = spec.layers.iter().map(|l| training_op(l, prefix, params, state)).collect();
        let ops = fuse_trained_activations(&spec.layers, ops);
        Network { ops, input_shape: input_shape.to_vec() }
    }

    /// Runs on `[batch, prod(input_shape)]` and returns `[batch, prod(output shape)]`.
    pub fn forward_flat(&self, x: Tensor<2>) -> Tensor<2> {
        self.forward_recording(x, &mut TrainingState::default())
    }

    /// Like `forward_flat`, recording training-mode batch statistics in `state`.
    pub fn forward_recording(&self, x: Tensor<2>, state: &mut TrainingState) -> Tensor<2> {
        let input = Activation::Flat(x).reshape(&self.input_shape);
        run(&self.ops, input, state).flat()
    }
}

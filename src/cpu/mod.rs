//! The CPU backend's own operations: convolutions, linear layers, batch norm and a channel
//! softmax on burn's flex backend, as backend extensions with hand-written backward passes,
//! over kernels of our own (`kernels`: AVX-512, AVX2, wasm SIMD or plain arrays, and Winograd
//! tiles).
//!
//! This module is the one place that decides where they run: [`Ops::on`] gives them for a flex
//! device (with or without autodiff), and nothing for a GPU device or in a build without the
//! `cpu` feature (the browser's WebGPU module), where the networks use burn's own operations.
//! The networks reach them only through what this module exports, which has the same shape in
//! every build (`enabled` or `disabled`), so `model::network` reads without a `cfg` line.
//!
//! Files: `conv/` (the convolution operation: forward, backward, tests), `linear`,
//! `batch_norm`, `softmax`; `kernels/` (the direct convolution kernels on slices); `flex`
//! (tensors to slices), `parallel` (work over cores), `pointwise` (fused activations).

mod pointwise;

#[cfg(feature = "cpu")]
mod batch_norm;
#[cfg(feature = "cpu")]
mod conv;
#[cfg(feature = "cpu")]
mod enabled;
#[cfg(feature = "cpu")]
mod flex;
#[cfg(feature = "cpu")]
mod kernels;
#[cfg(feature = "cpu")]
mod linear;
#[cfg(feature = "cpu")]
mod parallel;
#[cfg(feature = "cpu")]
mod softmax;
#[cfg(all(test, feature = "cpu"))]
mod test_support;

#[cfg(not(feature = "cpu"))]
mod disabled;

pub use pointwise::Pointwise;

#[cfg(feature = "cpu")]
pub use conv::{PackedConv, conv_transpose2d, conv2d};
#[cfg(feature = "cpu")]
pub use enabled::Ops;
#[cfg(feature = "cpu")]
pub use kernels::kernels_in_use;
#[cfg(feature = "cpu")]
pub use linear::{PackedLinear, linear};

#[cfg(not(feature = "cpu"))]
pub use disabled::{Ops, PackedConv, PackedLinear, conv_transpose2d, conv2d, linear};

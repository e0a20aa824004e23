//! dgflow: refine the samples of a generative model with DGflow — discriminator gradient flow
//! (Ansari, Ang & Soh, ICLR 2021) — on burn's CPU backend (native or wasm) or WebGPU.
//!
//! The core knows nothing about the browser: `bundle` reads models, `model` runs them, `flow`
//! refines, `render` turns samples into pixels and text. `wasm` only converts at the boundary.

pub mod bundle;
pub mod classifier;
pub mod data;
pub mod device;
pub mod error;
pub mod eval;
pub mod flow;
pub mod metrics;
pub mod model;
pub mod render;
pub mod rng;
pub mod train;

#[cfg(not(any(feature = "cpu", feature = "webgpu")))]
compile_error!("dgflow needs a backend: enable the `cpu` feature, `webgpu`, or both");

#[cfg(target_family = "wasm")]
mod wasm;

/// `initThreadPool(n)` in the threaded wasm module: starts the Web Workers the CPU backend runs on.
#[cfg(all(target_family = "wasm", feature = "threads"))]
pub use wasm_bindgen_rayon::init_thread_pool;

pub use error::{Error, Result};

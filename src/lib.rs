//! dgflow: refine the samples of a generative model with DGflow — discriminator gradient flow
//! (Ansari, Ang & Soh, ICLR 2021) — on burn's CPU backend (native or wasm) or WebGPU.
//!
//! The core knows nothing about the browser:
//!
//! - `flow`: refinement — the stepper, its settings (limits, defaults, checks), DGflow, DDLS, DOT
//! - `model`: the networks — the layer language, networks built from it, built-in architectures,
//!   and `Model`, a bundle's generator and critic
//! - `cpu`: the CPU backend's own operations and kernels, and the one place that decides where
//!   they run
//! - `bundle`: the bundle format — manifests and weights, read, checked and written
//! - `train`: the trainers, the recipes `dgflow train` runs, checkpoints
//! - `metrics`, `eval`: sample-quality metrics and the evaluation tables built from them
//! - `render`: how samples are shown — image grids, scatter plots, text, QR codes
//! - `data`: CIFAR-10, the text corpus, the 2D toys
//! - `device`, `error`, `rng`, `sample`, `prior`: backends, the error type, seeded random
//!   streams, what a sample is, where latents come from
//!
//! `browser` (wasm only) converts at the page's boundary; the CLI is `src/bin/dgflow/`.

pub mod bundle;
pub mod cpu;
pub mod data;
pub mod device;
pub mod error;
pub mod eval;
pub mod flow;
pub mod metrics;
pub mod model;
pub mod prior;
pub mod render;
pub mod rng;
pub mod sample;
pub mod train;

#[cfg(not(any(feature = "cpu", feature = "webgpu")))]
compile_error!("dgflow needs a backend: enable the `cpu` feature, `webgpu`, or both");

#[cfg(target_family = "wasm")]
mod browser;

/// `initThreadPool(n)` in the threaded wasm module: starts the Web Workers the CPU backend runs on.
#[cfg(all(target_family = "wasm", feature = "threads"))]
pub use wasm_bindgen_rayon::init_thread_pool;

pub use error::{Error, Result};

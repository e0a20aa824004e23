//! Choosing a compute backend. Nothing falls back silently: the caller gets the reason.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// burn's pure-Rust CPU backend (flex): everywhere, natively and in wasm.
    Cpu,
    /// burn's wgpu backend: WebGPU in the browser, Vulkan/Metal/DX12 natively.
    Gpu,
}

/// The GPU backend's name in messages: WebGPU in the browser, wgpu (Vulkan, Metal, DX12) natively.
const GPU: &str = if cfg!(target_family = "wasm") { "webgpu" } else { "gpu" };

#[cfg(feature = "cpu")]
pub fn cpu() -> Device {
    Device::flex()
}

/// Opens the GPU backend. In the browser this asks for a WebGPU adapter and device, which is
/// asynchronous; errors say why the GPU is unavailable so the caller can show it and use the CPU.
#[cfg(feature = "webgpu")]
pub async fn gpu() -> Result<Device> {
    #[cfg(target_family = "wasm")]
    let api = burn::backend::WgpuBackend::WebGpu;
    #[cfg(not(target_family = "wasm"))]
    let api = burn::backend::WgpuBackend::Auto;
    Device::wgpu_options().graphics_api(api).init_async().await.map_err(|e| Error::Backend {
        backend: GPU,
        reason: format!("no usable GPU adapter ({e:?}); use the CPU backend"),
    })
}

#[cfg(not(feature = "webgpu"))]
pub async fn gpu() -> Result<Device> {
    Err(Error::Backend {
        backend: GPU,
        reason:
            "this build has no GPU backend; rebuild with `--features webgpu` or use the CPU backend"
                .into(),
    })
}

pub async fn open(backend: Backend) -> Result<Device> {
    match backend {
        #[cfg(feature = "cpu")]
        Backend::Cpu => Ok(cpu()),
        #[cfg(not(feature = "cpu"))]
        Backend::Cpu => Err(Error::Backend { backend: "cpu", reason: "this build has no CPU backend (the browser's WebGPU module); use the CPU module or rebuild with `--features cpu`".into() }),
        Backend::Gpu => gpu().await,
    }
}

//! The browser boundary: what the page's worker calls. It converts between JS values and the
//! core's types and decides nothing: settings, limits, defaults, what a bundle must hold and how
//! a sample is shown are the core's. Every export returns `Result<_, JsError>` (or a promise
//! rejected with one) whose message is the core's error text.
//!
//! `engine` opens a backend and refines one step per call; `live` trains a small 2D GAN in the
//! page (CPU modules only); `convert` turns the core's values into JS ones.

mod convert;
mod engine;
#[cfg(feature = "cpu")]
mod live;

use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::bundle::Manifest;
use crate::flow::settings::FIRST_LOOK_BATCH;
use crate::flow::{FlowConfig, Limits};
use crate::render;
use crate::train::live::{ITERATIONS, SUGGESTED_ITERATIONS};
use convert::{js_error, picture, to_js};

#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

/// The paper's default settings (η = 0.1, γ = 0.01, 25 steps, DGflow-KL, batch 64, seed 0).
#[wasm_bindgen]
pub fn defaults() -> Result<JsValue, JsError> {
    to_js(&FlowConfig::default())
}

/// What the page's form accepts, as the core checks it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PageLimits {
    #[serde(flatten)]
    refinement: Limits,
    /// Iterations of a 2D GAN trained in the page: the fewest, the most, and a good start.
    live_iterations: [u64; 3],
    /// Samples of a plain visit on a phone.
    first_look_batch: usize,
}

/// `{maxSteps, maxBatch, maxEta, maxGamma, liveIterations: [fewest, most, suggested],
/// firstLookBatch}`.
#[wasm_bindgen]
pub fn limits() -> Result<JsValue, JsError> {
    let iterations = [*ITERATIONS.start(), *ITERATIONS.end(), SUGGESTED_ITERATIONS];
    to_js(&PageLimits {
        refinement: Limits::PAGE,
        live_iterations: iterations,
        first_look_batch: FIRST_LOOK_BATCH,
    })
}

/// A model's manifest (validated as the loader does; `name` names it in messages) and the
/// settings a run of it starts from: `{manifest, defaults}`, the paper's defaults with the
/// model's recommended η and γ where it has them.
#[wasm_bindgen(js_name = describeModel)]
pub fn describe_model(name: &str, manifest: &[u8]) -> Result<JsValue, JsError> {
    let manifest = Manifest::parse(manifest, name).map_err(js_error)?;
    #[derive(Serialize)]
    struct Description<'a> {
        manifest: &'a Manifest,
        defaults: FlowConfig,
    }
    to_js(&Description {
        defaults: FlowConfig::for_model(manifest.recommended),
        manifest: &manifest,
    })
}

/// A QR code of `text` as `{rgba, width, height}`, `scale` pixels per module.
#[wasm_bindgen(js_name = qrCode)]
pub fn qr_code(text: &str, scale: usize) -> Result<JsValue, JsError> {
    let grid = render::qr(text, scale.clamp(1, 16)).map_err(js_error)?;
    picture(&grid)
}

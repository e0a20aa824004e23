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

use crate::bundle::{self, Manifest};
use crate::flow::settings::FIRST_LOOK_BATCH;
use crate::flow::{FlowConfig, Limits, Method, budget};
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
    /// The largest budget (critic evaluations per sample) of the "reject or refine" view, and
    /// the one it starts at: what the paper's 25 DGflow steps cost.
    max_budget: usize,
    default_budget: usize,
    /// The largest manifest the loader reads and the largest weights file any bundle can have:
    /// a bundle brought to the page (a download, a zip) is stopped past them.
    max_manifest_bytes: usize,
    max_weights_bytes: usize,
}

/// `{maxSteps, maxBatch, maxEta, maxGamma, liveIterations: [fewest, most, suggested],
/// firstLookBatch, maxBudget, defaultBudget, maxManifestBytes, maxWeightsBytes}`.
#[wasm_bindgen]
pub fn limits() -> Result<JsValue, JsError> {
    let iterations = [*ITERATIONS.start(), *ITERATIONS.end(), SUGGESTED_ITERATIONS];
    to_js(&PageLimits {
        refinement: Limits::PAGE,
        live_iterations: iterations,
        first_look_batch: FIRST_LOOK_BATCH,
        max_budget: budget::max_budget(&Limits::PAGE),
        default_budget: budget::budget_for(Method::DgflowKl, FlowConfig::default().steps),
        max_manifest_bytes: bundle::MAX_MANIFEST_BYTES,
        max_weights_bytes: bundle::largest_shared_file(),
    })
}

/// The runs of the "reject or refine" view at `budget` critic evaluations per sample:
/// `[{settings, stride}]` for the flow of `settings` (DGflow-KL where they name DRS or MH-GAN),
/// DRS and MH-GAN, from the same seed and batch; `stride` of a run's steps make one step of the
/// view (see `flow::budget::reject_or_refine`).
#[wasm_bindgen(js_name = rejectOrRefine)]
pub fn reject_or_refine(settings: JsValue, budget: f64) -> Result<JsValue, JsError> {
    let flow = convert::settings(settings).map_err(js_error)?;
    // A budget from a form: anything but a whole number ≥ 0 is named as it came.
    if !(budget.is_finite() && budget >= 0.0 && budget.fract() == 0.0) {
        return Err(js_error(crate::error::Error::parameter(
            "budget",
            budget,
            "expected a whole number of critic evaluations per sample, at least 3",
        )));
    }
    #[derive(Serialize)]
    struct Run {
        settings: FlowConfig,
        stride: usize,
    }
    let runs = budget::reject_or_refine(&flow, budget as usize, &Limits::PAGE).map_err(js_error)?;
    to_js(&runs.map(|c| Run { settings: c.config, stride: c.stride }))
}

/// A model's manifest (validated as the loader does; `name` names it in messages) and the
/// settings a run of it starts from: `{manifest, defaults}`, the paper's defaults with the
/// model's recommended η and γ where it has them.
#[wasm_bindgen(js_name = describeModel)]
pub fn describe_model(name: &str, manifest: &[u8]) -> Result<JsValue, JsError> {
    let manifest = Manifest::parse(manifest, name).map_err(js_error)?;
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Description<'a> {
        manifest: &'a Manifest,
        defaults: FlowConfig,
        /// The most bytes its weights file and a shared one may have: a download or a zip entry
        /// past them is stopped (the loader would refuse the file anyway).
        largest_weights_file: usize,
        largest_shared_file: usize,
    }
    to_js(&Description {
        defaults: FlowConfig::for_model(manifest.recommended),
        largest_weights_file: bundle::largest_weights_file(&manifest),
        largest_shared_file: bundle::largest_shared_file(),
        manifest: &manifest,
    })
}

/// A QR code of `text` as `{rgba, width, height}`, `scale` pixels per module.
#[wasm_bindgen(js_name = qrCode)]
pub fn qr_code(text: &str, scale: usize) -> Result<JsValue, JsError> {
    let grid = render::qr(text, scale.clamp(1, 16)).map_err(js_error)?;
    picture(&grid)
}

//! The browser boundary: conversions between JS values and the core's types, nothing else.
//! Every export returns `Result<_, JsError>` whose message is the core's error text.

use std::cell::RefCell;
use std::rc::Rc;

use burn::prelude::Device;
use js_sys::{Float32Array, Object, Reflect, Uint8ClampedArray};
use wasm_bindgen::prelude::*;

use crate::bundle::{Bundle, SampleKind};
use crate::device::{self, Backend};
use crate::flow::{FlowConfig, Refiner, Step};
use crate::model::Model;
use crate::render;

#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

fn js_error(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

/// Sets `key` on a plain object of ours (which fails only for a frozen object).
fn set(out: &Object, key: &str, value: JsValue) -> Result<(), JsError> {
    Reflect::set(out, &key.into(), &value)
        .map(|_| ())
        .map_err(|_| js_error(format!("cannot set `{key}` on a result object")))
}

/// The paper's default settings (η = 0.1, γ = 0.01, 25 steps, DGflow-KL), so the page picks no
/// defaults of its own.
#[wasm_bindgen]
pub fn defaults() -> Result<JsValue, JsError> {
    serde_wasm_bindgen::to_value(&FlowConfig::default()).map_err(js_error)
}

/// A QR code of `text` as `{rgba, width, height}`, `scale` pixels per module.
#[wasm_bindgen(js_name = qrCode)]
pub fn qr_code(text: &str, scale: usize) -> Result<JsValue, JsError> {
    let grid = render::qr(text, scale.clamp(1, 16)).map_err(js_error)?;
    let out = Object::new();
    set(&out, "rgba", Uint8ClampedArray::from(grid.rgba.as_slice()).into())?;
    set(&out, "width", (grid.width as u32).into())?;
    set(&out, "height", (grid.height as u32).into())?;
    Ok(out.into())
}

/// A compute backend opened in this worker.
#[wasm_bindgen]
pub struct Engine {
    device: Device,
    backend: Backend,
}

#[wasm_bindgen]
impl Engine {
    /// Opens `"cpu"` or `"webgpu"`. WebGPU fails with a reason when no adapter is available; the
    /// caller then opens `"cpu"` and shows that reason.
    pub async fn open(backend: String) -> Result<Engine, JsError> {
        let backend = match backend.as_str() {
            "cpu" => Backend::Cpu,
            "webgpu" => Backend::Gpu,
            other => {
                return Err(js_error(format!(
                    "unknown backend {other:?}: expected \"cpu\" or \"webgpu\""
                )));
            }
        };
        let device = device::open(backend).await.map_err(js_error)?;
        Ok(Engine { device, backend })
    }

    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.backend.name().into()
    }

    /// Validates a bundle from its files' bytes (`shared`: an array of the Uint8Arrays of the
    /// files its manifest's `shared_weights` names, in order) and builds it on this device.
    #[wasm_bindgen(js_name = loadModel)]
    pub fn load_model(
        &self,
        name: &str,
        manifest: &[u8],
        weights: &[u8],
        shared: js_sys::Array,
        thermalize: usize,
    ) -> Result<LoadedModel, JsError> {
        let shared: Vec<Vec<u8>> =
            shared.iter().map(|b| js_sys::Uint8Array::new(&b).to_vec()).collect();
        let shared: Vec<&[u8]> = shared.iter().map(Vec::as_slice).collect();
        let bundle = Bundle::from_parts(name, manifest, weights, &shared).map_err(js_error)?;
        let model = Rc::new(Model::build(&bundle, thermalize, &self.device));
        Ok(LoadedModel { model, device: self.device.clone() })
    }
}

/// A model ready to refine on one engine.
#[wasm_bindgen]
pub struct LoadedModel {
    model: Rc<Model>,
    device: Device,
}

#[wasm_bindgen]
impl LoadedModel {
    /// The manifest, as a plain object.
    pub fn manifest(&self) -> Result<JsValue, JsError> {
        serde_wasm_bindgen::to_value(&self.model.manifest).map_err(js_error)
    }

    /// Starts a refinement; `settings` holds any of FlowConfig's fields (`method`, `eta`, `gamma`,
    /// `steps`, `space`, `seed`, `batch`, `keep`), the rest take the paper's defaults.
    pub fn refine(&self, settings: JsValue) -> js_sys::Promise {
        let (model, device) = (self.model.clone(), self.device.clone());
        wasm_bindgen_futures::future_to_promise(async move {
            let config: FlowConfig = if settings.is_undefined() || settings.is_null() {
                FlowConfig::default()
            } else {
                serde_wasm_bindgen::from_value(settings)
                    .map_err(|e| JsValue::from(js_error(format!("refinement settings: {e}"))))?
            };
            let refiner = Refiner::new(model.clone(), model.clone(), config, &device)
                .await
                .map_err(|e| JsValue::from(js_error(e)))?;
            Ok(Refinement { refiner: Rc::new(RefCell::new(refiner)), model }.into())
        })
    }
}

/// A refinement in progress, one step per `next()` so the worker can stream, report and cancel.
#[wasm_bindgen]
pub struct Refinement {
    refiner: Rc<RefCell<Refiner<Rc<Model>, Rc<Model>>>>,
    model: Rc<Model>,
}

#[wasm_bindgen]
impl Refinement {
    /// Resolves to the next step — `{index, logits, meanLogit, latents?, samples?, rgba?, width?,
    /// height?, columns?, tile?, gap?, text?}` with typed arrays — or to `null` after the last step.
    pub fn next(&self) -> js_sys::Promise {
        let (refiner, model) = (self.refiner.clone(), self.model.clone());
        wasm_bindgen_futures::future_to_promise(async move {
            // The worker awaits each step before asking for the next, so the borrow is never shared.
            let step =
                refiner.borrow_mut().next_step().await.map_err(|e| JsValue::from(js_error(e)))?;
            match step {
                None => Ok(JsValue::NULL),
                Some(step) => step_to_js(&step, &model),
            }
        })
    }
}

fn step_to_js(step: &Step, model: &Model) -> Result<JsValue, JsValue> {
    let out = Object::new();
    set(&out, "index", (step.index as u32).into())?;
    set(&out, "meanLogit", step.mean_logit().into())?;
    set(&out, "logits", Float32Array::from(step.logits.as_slice()).into())?;
    if let Some(latents) = &step.latents {
        set(&out, "latents", Float32Array::from(latents.as_slice()).into())?;
    }
    if let Some(samples) = &step.samples {
        set(&out, "samples", Float32Array::from(samples.as_slice()).into())?;
        let m = &model.manifest;
        let n = step.logits.len();
        match m.kind {
            SampleKind::Image => {
                let columns = render::columns_for(n);
                let grid = render::image_grid(samples, n, &m.sample_shape, m.value_range, columns);
                set(&out, "rgba", Uint8ClampedArray::from(grid.rgba.as_slice()).into())?;
                set(&out, "width", (grid.width as u32).into())?;
                set(&out, "height", (grid.height as u32).into())?;
                // The layout, so the page can find the sample under a pointer and cut its tile.
                set(&out, "columns", (columns as u32).into())?;
                set(&out, "tile", (m.sample_shape[2] as u32).into())?;
                set(&out, "gap", (render::GAP as u32).into())?;
            }
            SampleKind::Text => {
                let vocab = m.vocab.as_deref().expect("text manifests have a vocabulary");
                let lines = render::decode_text(samples, n, &m.sample_shape, vocab);
                set(
                    &out,
                    "text",
                    serde_wasm_bindgen::to_value(&lines).map_err(|e| JsValue::from(js_error(e)))?,
                )?;
            }
            SampleKind::Points => {
                let grid = render::scatter(
                    samples,
                    &crate::data::toy2d::Toy::backdrop(&m.name),
                    m.value_range,
                );
                set(&out, "rgba", Uint8ClampedArray::from(grid.rgba.as_slice()).into())?;
                set(&out, "width", (grid.width as u32).into())?;
                set(&out, "height", (grid.height as u32).into())?;
            }
        }
    }
    Ok(out.into())
}

/// A small 2D GAN trained in this worker, a few iterations per call (the page's live training).
/// It trains on the CPU, so a seed gives the same model everywhere, and so only the CPU modules
/// have it: the page moves a trained model to the WebGPU module as bundle files (`files`).
#[cfg(feature = "cpu")]
#[wasm_bindgen]
pub struct LiveTrainer {
    live: crate::train::live::LiveToy,
}

#[cfg(feature = "cpu")]
#[wasm_bindgen]
impl LiveTrainer {
    /// `toy`: "25gaussians" or "swissroll".
    #[wasm_bindgen(constructor)]
    pub fn new(toy: &str, seed: u32) -> Result<LiveTrainer, JsError> {
        let toy = crate::data::toy2d::Toy::from_name(toy).map_err(js_error)?;
        Ok(LiveTrainer { live: crate::train::live::LiveToy::new(toy, seed as u64, &device::cpu()) })
    }

    /// Iterations after which the model is usually worth refining.
    #[wasm_bindgen(js_name = suggestedIterations)]
    pub fn suggested_iterations() -> u32 {
        crate::train::live::SUGGESTED_ITERATIONS as u32
    }

    /// Trains `iterations` more and resolves to `{iteration, critic, generator}` (the last losses).
    pub fn train(&mut self, iterations: u32) -> Result<JsValue, JsError> {
        let losses = self.live.train(iterations as u64);
        let out = Object::new();
        set(&out, "iteration", (self.live.iteration() as f64).into())?;
        set(&out, "critic", losses.critic.into())?;
        set(&out, "generator", losses.generator.into())?;
        Ok(out.into())
    }

    /// The model as trained so far, built on `engine`'s device (an engine of this module).
    pub fn model(&self, engine: &Engine) -> LoadedModel {
        LoadedModel {
            model: Rc::new(Model::build(&self.live.bundle(), 0, &engine.device)),
            device: engine.device.clone(),
        }
    }

    /// The model as trained so far as `{manifest, weights}` bundle files (f16), for
    /// `Engine.loadModel` of any module.
    pub fn files(&self) -> Result<JsValue, JsError> {
        let (manifest, weights) = self.live.bundle().to_files();
        let out = Object::new();
        set(&out, "manifest", js_sys::Uint8Array::from(manifest.as_slice()).into())?;
        set(&out, "weights", js_sys::Uint8Array::from(weights.as_slice()).into())?;
        Ok(out.into())
    }
}

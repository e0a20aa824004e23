//! A backend opened in the worker, the models loaded on it, and refinements one step per call,
//! so that the worker can stream steps, report progress and cancel between them.

use std::cell::RefCell;
use std::rc::Rc;

use burn::prelude::Device;
use wasm_bindgen::prelude::*;

use super::convert::{self, js_error, rejection, to_js};
use crate::bundle::Bundle;
use crate::device::{self, Backend};
use crate::flow::{FlowConfig, Limits, Refiner};
use crate::model::Model;
use crate::model::presets::BUNDLED_CIFAR10;

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

    /// `"cpu"` or `"webgpu"`: in the browser, the GPU backend is WebGPU.
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        match self.backend {
            Backend::Cpu => "cpu",
            Backend::Gpu => "webgpu",
        }
        .into()
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

    /// A model of the bundled CIFAR-10 GAN's shapes with random weights, whose steps the page
    /// times to pick the faster of its CPU modules on this device.
    #[wasm_bindgen(js_name = timingModel)]
    pub fn timing_model(&self) -> LoadedModel {
        let bundle = BUNDLED_CIFAR10.init_bundle("timing", 0);
        let model = Rc::new(Model::build(&bundle, 0, &self.device));
        LoadedModel { model, device: self.device.clone() }
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
        to_js(&self.model.manifest)
    }

    /// The settings a run of this model starts from: the paper's, with its recommended η and γ.
    pub fn defaults(&self) -> Result<JsValue, JsError> {
        to_js(&FlowConfig::for_model(self.model.manifest.recommended))
    }

    /// Starts a refinement; `settings` holds any of FlowConfig's fields (`method`, `eta`, `gamma`,
    /// `steps`, `space`, `seed`, `batch`, `keep`), the rest take the paper's defaults. They are
    /// checked against the page's limits and the model's kind before anything runs.
    /// `show_rejected`: whether a DRS plot greys the samples it rejected or leaves them out.
    pub fn refine(&self, settings: JsValue, show_rejected: bool) -> js_sys::Promise {
        let (model, device) = (self.model.clone(), self.device.clone());
        wasm_bindgen_futures::future_to_promise(async move {
            let config = convert::settings(settings).map_err(rejection)?;
            config.validate_within(model.manifest.kind, &Limits::PAGE).map_err(rejection)?;
            let refiner = Refiner::new(model.clone(), model.clone(), config, &device)
                .await
                .map_err(rejection)?;
            let refiner = Rc::new(RefCell::new(refiner));
            Ok(Refinement { refiner, model, show_rejected }.into())
        })
    }
}

/// A refinement in progress, one step per `next()` so the worker can stream, report and cancel.
#[wasm_bindgen]
pub struct Refinement {
    refiner: Rc<RefCell<Refiner<Rc<Model>, Rc<Model>>>>,
    model: Rc<Model>,
    show_rejected: bool,
}

#[wasm_bindgen]
impl Refinement {
    /// Resolves to the next step (see `convert::step`), or to `null` after the last step.
    pub fn next(&self) -> js_sys::Promise {
        let (refiner, model, greyed) =
            (self.refiner.clone(), self.model.clone(), self.show_rejected);
        wasm_bindgen_futures::future_to_promise(async move {
            // The worker awaits each step before asking for the next, so the borrow is never shared.
            let step = refiner.borrow_mut().next_step().await.map_err(rejection)?;
            let method = refiner.borrow().config().method;
            match step {
                None => Ok(JsValue::NULL),
                Some(step) => convert::step(&step, &model, method, greyed).map_err(JsValue::from),
            }
        })
    }
}

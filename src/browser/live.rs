//! A small 2D GAN trained in the worker, a few iterations per call (the page's live training).
//! It trains on the CPU, so a seed gives the same model everywhere, and so only the CPU modules
//! have it: the page moves a trained model to the WebGPU module as bundle files (`files`).

use js_sys::Object;
use wasm_bindgen::prelude::*;

use super::convert::{js_error, picture, rejection, set};
use crate::data::toy2d::Toy;
use crate::device;
use crate::train::live::LiveToy;

#[wasm_bindgen]
pub struct LiveTrainer {
    live: std::rc::Rc<LiveToy>,
}

#[wasm_bindgen]
impl LiveTrainer {
    /// `toy`: "25gaussians" or "swissroll".
    #[wasm_bindgen(constructor)]
    pub fn new(toy: &str, seed: u32) -> Result<LiveTrainer, JsError> {
        let toy = Toy::from_name(toy).map_err(js_error)?;
        Ok(LiveTrainer { live: std::rc::Rc::new(LiveToy::new(toy, seed as u64, &device::cpu())) })
    }

    /// Trains `iterations` more and returns `{iteration, critic, generator}` (the last losses).
    pub fn train(&mut self, iterations: u32) -> Result<JsValue, JsError> {
        let live = std::rc::Rc::get_mut(&mut self.live)
            .ok_or_else(|| js_error("the trainer is busy with a preview; await it first"))?;
        let losses = live.train(iterations as u64);
        let out = Object::new();
        set(&out, "iteration", (live.iteration() as f64).into())?;
        set(&out, "critic", losses.critic.into())?;
        set(&out, "generator", losses.generator.into())?;
        Ok(out.into())
    }

    /// Resolves to the generator's samples so far, plotted: `{rgba, width, height}`.
    pub fn preview(&self) -> js_sys::Promise {
        let live = self.live.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let grid = live.preview(&device::cpu()).await.map_err(rejection)?;
            picture(&grid).map_err(JsValue::from)
        })
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

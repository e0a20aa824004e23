//! Conversions between the core's values and JS: errors into `JsError` with the core's message,
//! plain result objects, and a refinement step with its view.

use js_sys::{Float32Array, Object, Reflect, Uint8Array, Uint8ClampedArray};
use wasm_bindgen::prelude::*;

use crate::flow::{FlowConfig, Method, Step};
use crate::model::Model;
use crate::render::{Grid, Rejections, View};

pub(super) fn js_error(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

/// The same, as a `JsValue` (what a rejected promise carries).
pub(super) fn rejection(e: impl std::fmt::Display) -> JsValue {
    JsValue::from(js_error(e))
}

/// Sets `key` on a plain object of ours (which fails only for a frozen object).
pub(super) fn set(out: &Object, key: &str, value: JsValue) -> Result<(), JsError> {
    Reflect::set(out, &key.into(), &value)
        .map(|_| ())
        .map_err(|_| js_error(format!("cannot set `{key}` on a result object")))
}

/// A serde value (settings, a manifest, limits) as a plain JS object: maps (a flattened struct
/// is one to serde) become objects, not JS `Map`s.
pub(super) fn to_js(value: &impl serde::Serialize) -> Result<JsValue, JsError> {
    let objects = serde_wasm_bindgen::Serializer::new().serialize_maps_as_objects(true);
    value.serialize(&objects).map_err(js_error)
}

/// Refinement settings from the page: any of FlowConfig's fields (the rest the paper's
/// defaults), or the defaults where none are given.
pub(super) fn settings(value: JsValue) -> Result<FlowConfig, String> {
    if value.is_undefined() || value.is_null() {
        return Ok(FlowConfig::default());
    }
    serde_wasm_bindgen::from_value(value).map_err(|e| format!("refinement settings: {e}"))
}

/// `{rgba, width, height}`.
pub(super) fn picture(grid: &Grid) -> Result<JsValue, JsError> {
    let out = Object::new();
    set_picture(&out, grid)?;
    Ok(out.into())
}

/// Sets `rgba`, `width` and `height` of `out` to the grid's.
fn set_picture(out: &Object, grid: &Grid) -> Result<(), JsError> {
    set(out, "rgba", Uint8ClampedArray::from(grid.rgba.as_slice()).into())?;
    set(out, "width", (grid.width as u32).into())?;
    set(out, "height", (grid.height as u32).into())
}

/// `{index, logits, meanLogit, delivered, spent, accepted?, latents?, samples?, rgba?, width?,
/// height?, columns?, tile?, gap?, text?}` with typed arrays: the step, what the run has spent
/// (`{generator, critic, backward, perDelivered}`), which samples a selection method accepted
/// (1 or 0 each), and where it kept its samples, their view. A DRS plot after step 0 (whose
/// starting samples every method shares) greys its rejected samples where `greyed`, or leaves
/// them out.
pub(super) fn step(
    step: &Step,
    model: &Model,
    method: Method,
    greyed: bool,
) -> Result<JsValue, JsError> {
    let out = Object::new();
    set(&out, "index", (step.index as u32).into())?;
    set(&out, "meanLogit", step.mean_logit().into())?;
    set(&out, "logits", Float32Array::from(step.logits.as_slice()).into())?;
    set(&out, "delivered", (step.delivered as u32).into())?;
    let spent = Object::new();
    set(&spent, "generator", (step.spent.generator as f64).into())?;
    set(&spent, "critic", (step.spent.critic as f64).into())?;
    set(&spent, "backward", (step.spent.backward as f64).into())?;
    set(&spent, "perDelivered", step.spent.per_sample(step.delivered).into())?;
    set(&out, "spent", spent.into())?;
    if let Some(accepted) = &step.accepted {
        let flags: Vec<u8> = accepted.iter().map(|&a| u8::from(a)).collect();
        set(&out, "accepted", Uint8Array::from(flags.as_slice()).into())?;
    }
    if let Some(latents) = &step.latents {
        set(&out, "latents", Float32Array::from(latents.as_slice()).into())?;
    }
    if let Some(samples) = &step.samples {
        set(&out, "samples", Float32Array::from(samples.as_slice()).into())?;
        let rejections = match &step.accepted {
            Some(accepted) if method == Method::Drs && step.index > 0 => {
                Some(Rejections { accepted, greyed })
            }
            _ => None,
        };
        let view = View::with_rejections(&model.manifest, samples, step.logits.len(), rejections);
        if let Some(grid) = view.picture() {
            set_picture(&out, grid)?;
        }
        match view {
            View::Images { columns, tile, gap, .. } => {
                // The layout, so the page can find the sample under a pointer and cut its tile.
                set(&out, "columns", (columns as u32).into())?;
                set(&out, "tile", (tile as u32).into())?;
                set(&out, "gap", (gap as u32).into())?;
            }
            View::Text { lines } => set(&out, "text", to_js(&lines)?)?,
            View::Points { .. } => {}
        }
    }
    Ok(out.into())
}

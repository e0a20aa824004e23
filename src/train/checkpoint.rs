//! Training checkpoints: every tensor of the trainer (weights, SN vectors, running statistics,
//! Adam moments) in f32 safetensors, with the iteration, Adam step counts, configuration and
//! architecture in its metadata. Resuming restores all of it, so a run continues bit for bit.

use std::collections::HashMap;
use std::path::Path;

use burn::prelude::*;
use safetensors::{Dtype, SafeTensors};

use crate::bundle::Manifest;
use crate::error::{Error, Result};
use crate::model::network::{DeviceParams, HostWeights};
use crate::train::adam::Adam;
use crate::train::average;
use crate::train::gan::{GanTrainer, TrainConfig};

const META: &str = "dgflow-checkpoint";
/// Key prefix of the averaged weights (the generator's, or a critic-only fit's critic's).
const AVERAGE: &str = "average/";

fn host(t: &Tensor<1>) -> Vec<f32> {
    t.clone().into_data().try_into_vec::<f32>().expect("f32 tensors")
}

/// Flat f32 tensors by name, the way a checkpoint stores them.
pub type NamedTensors = Vec<(String, Vec<f32>)>;

/// Named flat f32 tensors and a JSON metadata value, written atomically to `path`.
pub fn write(path: &Path, tensors: NamedTensors, meta: serde_json::Value) -> Result<()> {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .into_iter()
        .map(|(k, v)| (k, vec![v.len()], v.iter().flat_map(|x| x.to_le_bytes()).collect()))
        .collect();
    let views = bytes.iter().map(|(k, s, b)| {
        (
            k.as_str(),
            safetensors::tensor::TensorView::new(Dtype::F32, s.clone(), b).expect("sizes match"),
        )
    });
    let data =
        safetensors::serialize(views, Some(HashMap::from([(META.to_string(), meta.to_string())])))
            .map_err(|e| Error::weights(&path.display().to_string(), e.to_string()))?;
    // Write then rename, so an interrupted save never leaves a half-written checkpoint.
    let tmp = path.with_extension("tmp");
    let io =
        |e: std::io::Error| Error::Io { path: path.display().to_string(), reason: e.to_string() };
    std::fs::write(&tmp, data).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// What `write` wrote: the metadata and the tensors.
pub fn read(path: &Path) -> Result<(serde_json::Value, NamedTensors)> {
    let bytes = crate::bundle::read_file(path)?;
    let (_, header) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| damaged(path, format!("not a checkpoint ({e})")))?;
    let meta: serde_json::Value = header
        .metadata()
        .as_ref()
        .and_then(|m| m.get(META))
        .and_then(|s| serde_json::from_str(s).ok())
        .ok_or_else(|| damaged(path, "no training metadata".into()))?;
    let file = SafeTensors::deserialize(&bytes).map_err(|e| damaged(path, e.to_string()))?;
    let tensors = file
        .tensors()
        .into_iter()
        .map(|(key, view)| {
            (
                key,
                view.data()
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect(),
            )
        })
        .collect();
    Ok((meta, tensors))
}

/// The error for a checkpoint whose content does not fit the trainer reading it.
pub fn damaged(path: &Path, reason: String) -> Error {
    Error::weights(
        &path.display().to_string(),
        format!("{reason}; delete the checkpoint to start over"),
    )
}

/// Every tensor of a trainer's parameters and Adam moments, under the checkpoint's key prefixes.
pub fn trainer_tensors(params: &DeviceParams, adams: &[(&str, &Adam)]) -> NamedTensors {
    let mut tensors: NamedTensors =
        params.iter().map(|(k, v)| (format!("param/{k}"), host(v))).collect();
    for (tag, adam) in adams {
        for (k, (m, v)) in &adam.moments {
            tensors.push((format!("adam_{tag}_m/{k}"), host(m)));
            tensors.push((format!("adam_{tag}_v/{k}"), host(v)));
        }
    }
    tensors
}

/// Splits read tensors into parameters (shaped by `shapes`, the architecture's) and the Adam
/// moments of each tagged optimiser.
pub fn split_tensors(
    path: &Path,
    tensors: NamedTensors,
    shapes: &HashMap<String, Vec<usize>>,
    adams: &mut [(&str, &mut Adam)],
    device: &Device,
) -> Result<HostWeights> {
    let mut weights = HostWeights::new();
    let mut halves: HashMap<(String, String), (Option<Tensor<1>>, Option<Tensor<1>>)> =
        HashMap::new();
    for (key, values) in tensors {
        if let Some(param) = key.strip_prefix("param/") {
            let shape = shapes.get(param).cloned().ok_or_else(|| {
                damaged(path, format!("parameter {param} is not in the architecture"))
            })?;
            weights.insert(param.to_string(), (shape, values));
            continue;
        }
        let unexpected = || damaged(path, format!("unexpected tensor {key}"));
        let (kind, param) = key.split_once('/').ok_or_else(unexpected)?;
        let (tag, moment) =
            kind.strip_prefix("adam_").and_then(|k| k.rsplit_once('_')).ok_or_else(unexpected)?;
        let t = Tensor::<1>::from_data(TensorData::new(values.clone(), [values.len()]), device);
        let entry = halves.entry((tag.to_string(), param.to_string())).or_default();
        match moment {
            "m" => entry.0 = Some(t),
            "v" => entry.1 = Some(t),
            _ => return Err(unexpected()),
        }
    }
    for ((tag, param), pair) in halves {
        let (Some(m), Some(v)) = pair else {
            return Err(damaged(path, format!("the Adam moments of {param} are incomplete")));
        };
        let (_, adam) = adams
            .iter_mut()
            .find(|(t, _)| *t == tag)
            .ok_or_else(|| damaged(path, format!("unknown optimiser {tag}")))?;
        adam.moments.insert(param, (m, v));
    }
    Ok(weights)
}

pub fn save(trainer: &GanTrainer, path: &Path) -> Result<()> {
    let mut tensors = trainer_tensors(
        &trainer.params,
        &[("g", &trainer.adam_generator), ("d", &trainer.adam_critic)],
    );
    for (k, v) in trainer.average.iter().flatten() {
        tensors.push((format!("{AVERAGE}{k}"), host(v)));
    }
    let meta = serde_json::json!({
        "iteration": trainer.iteration,
        "adam_g_t": trainer.adam_generator.t,
        "adam_d_t": trainer.adam_critic.t,
        "config": trainer.config,
        "manifest": trainer.manifest,
    });
    write(path, tensors, meta)
}

pub fn load(path: &Path, device: &Device) -> Result<GanTrainer> {
    let (meta, mut tensors) = read(path)?;
    let averaged: NamedTensors = tensors.extract_if(.., |(k, _)| k.starts_with(AVERAGE)).collect();
    let manifest: Manifest = serde_json::from_value(meta["manifest"].clone())
        .map_err(|e| damaged(path, format!("manifest: {e}")))?;
    let config: TrainConfig = serde_json::from_value(meta["config"].clone())
        .map_err(|e| damaged(path, format!("config: {e}")))?;
    let shapes = manifest.params().into_iter().map(|p| (p.name, p.shape)).collect();
    let mut adam_g = Adam::new(config.lr_generator, config.beta1, config.beta2);
    let mut adam_d = Adam::new(config.lr_critic, config.beta1, config.beta2);
    let weights = split_tensors(
        path,
        tensors,
        &shapes,
        &mut [("g", &mut adam_g), ("d", &mut adam_d)],
        device,
    )?;
    let mut trainer = GanTrainer::new(&crate::bundle::Bundle { manifest, weights }, config, device);
    trainer.iteration = meta["iteration"].as_u64().unwrap_or(0);
    // `new` started the average from the weights when the configuration averages; the
    // checkpoint's averaged tensors replace all of it. Which network they average is read from
    // their names (a critic-only fit written before critics were averaged holds the generator's).
    if trainer.average.is_some() {
        let critic = averaged.first().map_or(trainer.config.critic_only, |(key, _)| {
            key[AVERAGE.len()..].starts_with("critic.")
        });
        trainer.average = Some(average::start(&trainer.params, average::averaged_network(critic)));
    }
    if let Some(average) = trainer.average.as_mut() {
        if averaged.len() != average.len() {
            return Err(damaged(
                path,
                format!(
                    "{} of the {} averaged tensors are missing",
                    average.len().saturating_sub(averaged.len()),
                    average.len()
                ),
            ));
        }
        for (key, values) in averaged {
            let name = &key[AVERAGE.len()..];
            if !average.contains_key(name) {
                return Err(damaged(
                    path,
                    format!("averaged tensor {name} is not a weight of the averaged network"),
                ));
            }
            let len = values.len();
            average.insert(
                name.to_string(),
                Tensor::<1>::from_data(TensorData::new(values, [len]), device),
            );
        }
    }
    adam_g.t = meta["adam_g_t"].as_u64().unwrap_or(0);
    adam_d.t = meta["adam_d_t"].as_u64().unwrap_or(0);
    trainer.adam_generator = adam_g;
    trainer.adam_critic = adam_d;
    Ok(trainer)
}

/// A trainer with one optimiser (the VAE, the corrector): its parameters, Adam state, iteration
/// and configuration, as one checkpoint.
pub struct SingleOptimiser<C> {
    pub config: C,
    pub params: DeviceParams,
    pub adam: Adam,
    pub iteration: u64,
}

pub fn save_single<C: serde::Serialize>(path: &Path, state: &SingleOptimiser<C>) -> Result<()> {
    let tensors = trainer_tensors(&state.params, &[("opt", &state.adam)]);
    let meta = serde_json::json!({ "iteration": state.iteration, "adam_t": state.adam.t, "config": state.config });
    write(path, tensors, meta)
}

/// Reads what `save_single` wrote; `shapes` gives the architecture's parameter shapes from the
/// configuration, and `adam` a fresh optimiser of it.
pub fn load_single<C: serde::de::DeserializeOwned>(
    path: &Path,
    shapes: impl FnOnce(&C) -> HashMap<String, Vec<usize>>,
    adam: impl FnOnce(&C) -> Adam,
    device: &Device,
) -> Result<SingleOptimiser<C>> {
    let (meta, tensors) = read(path)?;
    let config: C = serde_json::from_value(meta["config"].clone())
        .map_err(|e| damaged(path, format!("config: {e}")))?;
    let mut optimiser = adam(&config);
    let weights =
        split_tensors(path, tensors, &shapes(&config), &mut [("opt", &mut optimiser)], device)?;
    optimiser.t = meta["adam_t"].as_u64().unwrap_or(0);
    let params = crate::train::params::device_params(&weights, device);
    Ok(SingleOptimiser {
        config,
        params,
        adam: optimiser,
        iteration: meta["iteration"].as_u64().unwrap_or(0),
    })
}

//! Training checkpoints: every tensor of the trainer (weights, SN vectors, running statistics,
//! Adam moments) in f32 safetensors, with the iteration, Adam step counts, configuration and
//! architecture in its metadata. Resuming restores all of it, so a run continues bit for bit.

use std::collections::HashMap;
use std::path::Path;

use burn::prelude::*;
use safetensors::{Dtype, SafeTensors};

use crate::bundle::Manifest;
use crate::error::{Error, Result};
use crate::train::gan::{GanTrainer, TrainConfig};

const META: &str = "dgflow-checkpoint";

fn host(t: &Tensor<1>) -> Vec<f32> {
    t.clone().into_data().try_into_vec::<f32>().expect("f32 tensors")
}

pub fn save(trainer: &GanTrainer, path: &Path) -> Result<()> {
    let mut tensors: Vec<(String, Vec<f32>)> = trainer.params.iter().map(|(k, v)| (format!("param/{k}"), host(v))).collect();
    for (tag, adam) in [("g", &trainer.adam_generator), ("d", &trainer.adam_critic)] {
        for (k, (m, v)) in &adam.moments {
            tensors.push((format!("adam_{tag}_m/{k}"), host(m)));
            tensors.push((format!("adam_{tag}_v/{k}"), host(v)));
        }
    }
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> =
        tensors.into_iter().map(|(k, v)| (k, vec![v.len()], v.iter().flat_map(|x| x.to_le_bytes()).collect())).collect();
    let meta = serde_json::json!({
        "iteration": trainer.iteration,
        "adam_g_t": trainer.adam_generator.t,
        "adam_d_t": trainer.adam_critic.t,
        "config": trainer.config,
        "manifest": trainer.manifest,
    });
    let views = bytes.iter().map(|(k, s, b)| (k.as_str(), safetensors::tensor::TensorView::new(Dtype::F32, s.clone(), b).expect("sizes match")));
    let data = safetensors::serialize(views, Some(HashMap::from([(META.to_string(), meta.to_string())])))
        .map_err(|e| Error::weights(&path.display().to_string(), e.to_string()))?;
    // Write then rename, so an interrupted save never leaves a half-written checkpoint.
    let tmp = path.with_extension("tmp");
    let io = |e: std::io::Error| Error::Io { path: path.display().to_string(), reason: e.to_string() };
    std::fs::write(&tmp, data).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

pub fn load(path: &Path, device: &Device) -> Result<GanTrainer> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| Error::Io { path: name.clone(), reason: e.to_string() })?;
    let bad = |reason: String| Error::weights(&name, format!("{reason}; delete the checkpoint to start over"));
    let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| bad(format!("not a checkpoint ({e})")))?;
    let meta: serde_json::Value = header
        .metadata()
        .as_ref()
        .and_then(|m| m.get(META))
        .and_then(|s| serde_json::from_str(s).ok())
        .ok_or_else(|| bad("no training metadata".into()))?;
    let file = SafeTensors::deserialize(&bytes).map_err(|e| bad(e.to_string()))?;
    let manifest: Manifest = serde_json::from_value(meta["manifest"].clone()).map_err(|e| bad(format!("manifest: {e}")))?;
    let config: TrainConfig = serde_json::from_value(meta["config"].clone()).map_err(|e| bad(format!("config: {e}")))?;
    let mut weights = crate::model::network::HostWeights::new();
    let mut trainer_tensors: Vec<(String, Tensor<1>)> = Vec::new();
    for (key, view) in file.tensors() {
        let values: Vec<f32> = view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        if let Some(param) = key.strip_prefix("param/") {
            weights.insert(param.to_string(), (view.shape().to_vec(), values));
        } else {
            trainer_tensors.push((key.clone(), Tensor::<1>::from_data(TensorData::new(values.clone(), [values.len()]), device)));
        }
    }
    let bundle = crate::bundle::Bundle { manifest, weights };
    let mut trainer = GanTrainer::new(&bundle, config, device);
    trainer.iteration = meta["iteration"].as_u64().unwrap_or(0);
    trainer.adam_generator.t = meta["adam_g_t"].as_u64().unwrap_or(0);
    trainer.adam_critic.t = meta["adam_d_t"].as_u64().unwrap_or(0);
    let mut firsts: HashMap<String, Tensor<1>> = HashMap::new();
    for (key, t) in trainer_tensors {
        let (kind, param) = key.split_once('/').ok_or_else(|| bad(format!("unexpected tensor {key}")))?;
        let (adam, moment) = match kind {
            "adam_g_m" => (&mut trainer.adam_generator, 0),
            "adam_g_v" => (&mut trainer.adam_generator, 1),
            "adam_d_m" => (&mut trainer.adam_critic, 0),
            "adam_d_v" => (&mut trainer.adam_critic, 1),
            _ => return Err(bad(format!("unexpected tensor {key}"))),
        };
        let pair_key = format!("{}/{param}", &kind[..6]);
        match firsts.remove(&pair_key) {
            None => {
                firsts.insert(pair_key, t);
            }
            Some(other) => {
                let (m, v) = if moment == 0 { (t, other) } else { (other, t) };
                adam.moments.insert(param.to_string(), (m, v));
            }
        }
    }
    if !firsts.is_empty() {
        return Err(bad("an Adam moment is missing its pair".into()));
    }
    Ok(trainer)
}

//! Training the CIFAR-10 reference classifier: cross-entropy with label smoothing, AdamW with a
//! linear warm-up and linear decay, random flips and translations (reflected at the borders).
//! Checkpoints hold every tensor and the step, so a run resumes bit for bit.

use std::collections::HashMap;
use std::path::Path;

use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use serde::{Deserialize, Serialize};

use crate::bundle::{Provenance, WeightsRef};
use crate::data::cifar::{CLASSES, Cifar, PIXELS};
use crate::error::Result;
use crate::metrics::classifier::{self, Classifier, ClassifierManifest};
use crate::model::network::{DeviceParams, HostWeights, Network, TrainingState};
use crate::rng::{Noise, Stream};
use crate::train::adam::Adam;
use crate::train::checkpoint;
use crate::train::params::{apply_state, descend, device_params, host_params, scalar, with_grad};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifierConfig {
    pub batch: usize,
    pub peak_lr: f32,
    /// The schedule's length: warm-up over the first 5 %, then linear decay to zero.
    pub total_steps: u64,
    /// Decoupled weight decay on convolution and linear weights.
    pub weight_decay: f32,
    pub label_smoothing: f32,
    /// Largest translation in pixels.
    pub shift: usize,
    pub seed: u64,
}

pub struct ClassifierTrainer {
    pub manifest: ClassifierManifest,
    pub config: ClassifierConfig,
    pub params: DeviceParams,
    pub adam: Adam,
    pub step: u64,
    device: Device,
}

impl ClassifierTrainer {
    /// A new run of the recipe (`dgflow train classifier`): the VGG-style network of widths
    /// `width` to 8 × `width`, freshly initialised from `config.seed`.
    pub fn fresh(width: usize, config: ClassifierConfig, device: &Device) -> ClassifierTrainer {
        let (features, head) = classifier::architecture(width);
        let manifest = ClassifierManifest {
            format: classifier::FORMAT.into(),
            name: "cifar10-classifier".into(),
            description: format!(
                "CIFAR-10 classifier (VGG-style, widths {width}–{}): the feature network of this project's image metrics — Fréchet distance, KID and precision/recall in its features are not Inception FID",
                8 * width
            ),
            input_shape: vec![3, 32, 32],
            classes: CLASSES.iter().map(|c| c.to_string()).collect(),
            features,
            head,
            weights: WeightsRef {
                file: "weights.safetensors".into(),
                sha256: String::new(),
                encoding: Default::default(),
            },
            provenance: Provenance {
                trained_by: String::new(),
                data: String::new(),
                recipe: String::new(),
                notes: String::new(),
            },
            test_accuracy: None,
        };
        let weights = classifier::init_weights(&manifest, config.seed);
        ClassifierTrainer::new(manifest, &weights, config, device)
    }

    /// The manifest of the network as trained so far, with its test accuracy and its recipe.
    pub fn finished_manifest(&self, test_accuracy: f32) -> ClassifierManifest {
        let c = &self.config;
        let mut manifest = self.manifest.clone();
        manifest.test_accuracy = Some(test_accuracy);
        manifest.provenance = Provenance {
            trained_by: format!("dgflow train classifier (this repository), {} steps", self.step),
            data: "CIFAR-10 training set (50,000 images); accuracy on the 10,000 test images"
                .into(),
            recipe: format!(
                "cross-entropy with label smoothing {}, AdamW (β 0.9, 0.999) peak lr {} with 5 % linear warm-up then linear decay over {} steps, decoupled weight decay {}, batch {}, random flips and ±{} px reflected shifts, seed {}",
                c.label_smoothing,
                c.peak_lr,
                c.total_steps,
                c.weight_decay,
                c.batch,
                c.shift,
                c.seed
            ),
            notes: String::new(),
        };
        manifest
    }

    pub fn new(
        manifest: ClassifierManifest,
        weights: &HostWeights,
        config: ClassifierConfig,
        device: &Device,
    ) -> ClassifierTrainer {
        let params = device_params(weights, device);
        ClassifierTrainer {
            manifest,
            adam: Adam::new(config.peak_lr, 0.9, 0.999),
            config,
            params,
            step: 0,
            device: device.clone(),
        }
    }

    pub fn learning_rate(&self) -> f32 {
        let (t, total) = (self.step as f32, self.config.total_steps.max(1) as f32);
        let warm = (0.05 * total).max(1.0);
        let factor = if t < warm {
            (t + 1.0) / warm
        } else {
            ((total - t) / (total - warm).max(1.0)).max(0.0)
        };
        self.config.peak_lr * factor
    }

    /// One optimiser step on a random augmented batch; returns (loss, batch accuracy).
    pub fn train_step(&mut self, data: &Cifar) -> (f32, f32) {
        let n = self.config.batch;
        let (images, labels) = augmented_batch(
            data,
            n,
            self.config.shift,
            Noise::at(self.config.seed, Stream::Data, self.step),
        );
        let x = Tensor::<2>::from_data(TensorData::new(images, [n, PIXELS]), &self.device);
        let graph = with_grad(&self.params, "");
        let mut state = TrainingState::default();
        let m = &self.manifest;
        let features =
            Network::training(&m.features, &m.input_shape, "features", &graph, &mut state);
        let feature_dim = m.features.output_shape(&m.input_shape).expect("checked at load")[0];
        let head = Network::training(&m.head, &[feature_dim], "head", &graph, &mut state);
        let logits = head.forward_flat(features.forward_recording(x, &mut state));
        let classes = m.classes.len();
        let smooth = self.config.label_smoothing;
        let targets: Vec<f32> = labels
            .iter()
            .flat_map(|&l| {
                (0..classes).map(move |c| {
                    if c == l as usize {
                        1.0 - smooth + smooth / classes as f32
                    } else {
                        smooth / classes as f32
                    }
                })
            })
            .collect();
        let targets = Tensor::<2>::from_data(TensorData::new(targets, [n, classes]), &self.device);
        let predictions = logits
            .clone()
            .without_autodiff()
            .argmax(1)
            .into_data()
            .convert::<i64>()
            .try_into_vec::<i64>()
            .expect("indices");
        let correct = predictions.iter().zip(&labels).filter(|(p, l)| **p == **l as i64).count();
        let loss = (log_softmax(logits, 1) * targets).sum().neg().div_scalar(n as f32);
        let loss_value = scalar(loss.clone());
        let grads = loss.backward();
        self.adam.lr = self.learning_rate();
        descend(&mut self.params, &mut self.adam, &graph, &grads, "");
        let decay = 1.0 - self.adam.lr * self.config.weight_decay;
        for (name, p) in self.params.iter_mut() {
            if name.ends_with(".weight") && !name.contains("_bn.") {
                *p = p.clone().mul_scalar(decay);
            }
        }
        apply_state(&mut self.params, state);
        self.step += 1;
        (loss_value, correct as f32 / n as f32)
    }

    pub fn host_weights(&self) -> HostWeights {
        host_params(&self.params, self.manifest.params())
    }

    /// Test-split accuracy of the current weights (inference mode: running statistics).
    pub fn accuracy(&self, test: &Cifar) -> Result<f32> {
        let classifier =
            Classifier::new(self.manifest.clone(), &self.host_weights(), &self.device)?;
        Ok(accuracy(&classifier, test, &self.device))
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let tensors = checkpoint::trainer_tensors(&self.params, &[("c", &self.adam)]);
        let meta = serde_json::json!({ "step": self.step, "adam_t": self.adam.t, "config": self.config, "manifest": self.manifest });
        checkpoint::write(path, tensors, meta)
    }

    pub fn load(path: &Path, device: &Device) -> Result<ClassifierTrainer> {
        let (meta, tensors) = checkpoint::read(path)?;
        let manifest: ClassifierManifest = serde_json::from_value(meta["manifest"].clone())
            .map_err(|e| checkpoint::damaged(path, format!("manifest: {e}")))?;
        let config: ClassifierConfig = serde_json::from_value(meta["config"].clone())
            .map_err(|e| checkpoint::damaged(path, format!("config: {e}")))?;
        let shapes: HashMap<String, Vec<usize>> =
            manifest.params().into_iter().map(|p| (p.name, p.shape)).collect();
        let mut adam = Adam::new(config.peak_lr, 0.9, 0.999);
        let weights =
            checkpoint::split_tensors(path, tensors, &shapes, &mut [("c", &mut adam)], device)?;
        let mut trainer = ClassifierTrainer::new(manifest, &weights, config, device);
        adam.t = meta["adam_t"].as_u64().unwrap_or(0);
        trainer.adam = adam;
        trainer.step = meta["step"].as_u64().unwrap_or(0);
        Ok(trainer)
    }
}

/// The share of `data` the classifier labels correctly.
pub fn accuracy(classifier: &Classifier, data: &Cifar, device: &Device) -> f32 {
    let images: Vec<f32> = (0..data.len()).flat_map(|i| data.image(i)).collect();
    let (_, probabilities) = classifier.run(&images, 500, device);
    let classes = classifier.manifest.classes.len();
    let correct = probabilities
        .chunks_exact(classes)
        .zip(&data.labels)
        .filter(|(p, l)| (0..classes).max_by(|&a, &b| p[a].total_cmp(&p[b])) == Some(**l as usize))
        .count();
    correct as f32 / data.len() as f32
}

/// `n` random training images, each flipped left-right half the time and shifted by up to
/// `shift` pixels each way (coordinates reflected at the borders), with their labels.
pub fn augmented_batch(
    data: &Cifar,
    n: usize,
    shift: usize,
    mut noise: Noise,
) -> (Vec<f32>, Vec<u8>) {
    let draws = noise.uniform(4 * n);
    let mut images = Vec::with_capacity(n * PIXELS);
    let mut labels = Vec::with_capacity(n);
    let reflect = |v: i64| -> usize {
        (if v < 0 {
            -v
        } else if v > 31 {
            62 - v
        } else {
            v
        }) as usize
    };
    for d in draws.chunks_exact(4) {
        let index = ((d[0] * data.len() as f32) as usize).min(data.len() - 1);
        let flip = d[1] < 0.5;
        let span = 2 * shift as i64 + 1;
        let dy = ((d[2] * span as f32) as i64).min(span - 1) - shift as i64;
        let dx = ((d[3] * span as f32) as i64).min(span - 1) - shift as i64;
        let image: Vec<f32> = data.image(index).collect();
        for c in 0..3 {
            for y in 0..32i64 {
                for x in 0..32i64 {
                    let sx = if flip { 31 - x } else { x };
                    images.push(image[c * 1024 + reflect(y + dy) * 32 + reflect(sx + dx)]);
                }
            }
        }
        labels.push(data.labels[index]);
    }
    (images, labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn augmentation_only_moves_pixels() {
        // One image whose pixel value encodes its column: flips and shifts keep rows sorted one way.
        let pixels: Vec<u8> = (0..PIXELS).map(|i| ((i % 32) * 8) as u8).collect();
        let data = Cifar { pixels, labels: vec![7] };
        let (plain, labels) = augmented_batch(&data, 1, 0, Noise::new(1, Stream::Data));
        assert_eq!(labels, [7]);
        let row: Vec<f32> = plain[..32].to_vec();
        let ascending = row.windows(2).all(|w| w[0] < w[1]);
        let descending = row.windows(2).all(|w| w[0] > w[1]);
        assert!(ascending || descending);
        let (shifted, _) = augmented_batch(&data, 64, 4, Noise::new(2, Stream::Data));
        let values: std::collections::BTreeSet<u32> = shifted.iter().map(|v| v.to_bits()).collect();
        let originals: std::collections::BTreeSet<u32> =
            data.image(0).map(|v| v.to_bits()).collect();
        assert!(values.is_subset(&originals), "augmentation invents no values");
    }
}

//! The project's own CIFAR-10 classifier: the reference feature network of our image metrics
//! (Fréchet distance, KID, precision/recall in its penultimate-layer features, and the
//! classifier-score analogue of the Inception Score). The standard Inception-v3 weights are not
//! available here, so numbers computed with it are "in classifier features", never Inception FID.
//!
//! A classifier bundle is a folder like a model bundle: `manifest.json` (format
//! `dgflow-classifier/1`) and f16 safetensors weights whose SHA-256 it records.

use std::path::Path;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::bundle::{self, MANIFEST_FILE, Provenance, WeightsRef};
use crate::error::{Error, Result};
use crate::metrics::Features;
use crate::model::network::{HostWeights, Network};
use crate::model::spec::{Layer, NetworkSpec, ParamSpec};

pub const FORMAT: &str = "dgflow-classifier/1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifierManifest {
    pub format: String,
    pub name: String,
    pub description: String,
    /// `[channels, height, width]`, values in [-1, 1] like the generators' output.
    pub input_shape: Vec<usize>,
    pub classes: Vec<String>,
    /// Image → feature vector (the penultimate layer).
    pub features: NetworkSpec,
    /// Feature vector → class logits.
    pub head: NetworkSpec,
    pub weights: WeightsRef,
    pub provenance: Provenance,
    /// Accuracy on the CIFAR-10 test split, measured when the bundle was written.
    #[serde(default)]
    pub test_accuracy: Option<f32>,
}

impl ClassifierManifest {
    pub fn params(&self) -> Vec<ParamSpec> {
        self.features.params("features").into_iter().chain(self.head.params("head")).collect()
    }

    /// The feature width, checking the two networks chain from the input to one logit per class.
    pub fn check(&self, path: &str) -> Result<usize> {
        let bad = |reason: String| Error::Manifest { path: path.into(), reason };
        if self.format != FORMAT {
            return Err(bad(format!("format is `{}`, expected `{FORMAT}`", self.format)));
        }
        let features = self
            .features
            .output_shape(&self.input_shape)
            .map_err(|e| bad(format!("features: {e}")))?;
        let logits = self.head.output_shape(&features).map_err(|e| bad(format!("head: {e}")))?;
        if features.len() != 1 || logits != [self.classes.len()] {
            return Err(bad(format!(
                "features must be a vector and the head give one logit per class; got {features:?} and {logits:?}"
            )));
        }
        Ok(features[0])
    }
}

/// The classifier's networks: a small VGG-style stack (conv–BN–ReLU, max pooling between
/// stages, global average pooling) whose widths double per stage from `width`.
pub fn architecture(width: usize) -> (NetworkSpec, NetworkSpec) {
    let mut layers = Vec::new();
    let mut conv = |name: String, inputs: usize, outputs: usize, pool: bool| {
        layers.push(Layer::Conv2d {
            name: name.clone(),
            inputs,
            outputs,
            kernel: 3,
            stride: 1,
            padding: 1,
            spectral_norm: false,
        });
        if pool {
            layers.push(Layer::MaxPool2d { kernel: 2 });
        }
        layers.push(Layer::BatchNorm { name: format!("{name}_bn"), channels: outputs, eps: 1e-5 });
        layers.push(Layer::Relu {});
    };
    conv("stem".into(), 3, width, false);
    let mut channels = width;
    for stage in 1..=3 {
        conv(format!("s{stage}a"), channels, 2 * channels, true);
        conv(format!("s{stage}b"), 2 * channels, 2 * channels, false);
        channels *= 2;
    }
    layers.push(Layer::GlobalAvgPool {});
    let head = vec![Layer::Linear {
        name: "out".into(),
        inputs: channels,
        outputs: 10,
        spectral_norm: false,
    }];
    (NetworkSpec { layers }, NetworkSpec { layers: head })
}

/// He-normal weights, zero biases, identity batch norm (the presets' initialisation).
pub fn init_weights(manifest: &ClassifierManifest, seed: u64) -> HostWeights {
    crate::model::presets::init_weights(
        manifest.params(),
        crate::model::presets::WeightInit::HeNormal,
        seed,
    )
}

/// A classifier built on a device.
pub struct Classifier {
    pub manifest: ClassifierManifest,
    pub feature_dim: usize,
    features: Network,
    head: Network,
}

impl Classifier {
    pub fn new(
        manifest: ClassifierManifest,
        weights: &HostWeights,
        device: &Device,
    ) -> Result<Classifier> {
        let feature_dim = manifest.check(&manifest.name)?;
        let features = Network::build(
            &manifest.features,
            &manifest.input_shape,
            "features",
            weights,
            0,
            device,
        );
        let head = Network::build(&manifest.head, &[feature_dim], "head", weights, 0, device);
        Ok(Classifier { manifest, feature_dim, features, head })
    }

    /// Reads and verifies a classifier bundle folder.
    pub fn load(dir: &Path, device: &Device) -> Result<Classifier> {
        let manifest_path = dir.join(MANIFEST_FILE);
        let shown = manifest_path.display().to_string();
        let manifest: ClassifierManifest =
            serde_json::from_slice(&bundle::read_file(&manifest_path)?)
                .map_err(|e| Error::Manifest { path: shown.clone(), reason: e.to_string() })?;
        manifest.check(&shown)?;
        let weights_path = dir.join(&manifest.weights.file);
        let bytes = bundle::read_file(&weights_path)?;
        let shown = weights_path.display().to_string();
        bundle::verify_digest(&shown, &bytes, &manifest.weights.sha256)?;
        let weights = bundle::read_weights(&shown, &bytes, &manifest.params(), false)?;
        Classifier::new(manifest, &weights, device)
    }

    /// Writes the bundle folder (f16 weights and the manifest with their digest).
    pub fn write_dir(
        manifest: &ClassifierManifest,
        weights: &HostWeights,
        dir: &Path,
    ) -> Result<()> {
        let mut manifest = manifest.clone();
        manifest.weights.sha256 = bundle::write_f16_weights(dir, &manifest.weights.file, weights)?;
        bundle::write_manifest(dir, &manifest)
    }

    /// Features and class probabilities of `images` (flattened rows), in chunks of `batch`.
    pub fn run(&self, images: &[f32], batch: usize, device: &Device) -> (Features, Vec<f32>) {
        let per_image: usize = self.manifest.input_shape.iter().product();
        let (mut features, mut probabilities) = (Vec::new(), Vec::new());
        for chunk in images.chunks(per_image * batch) {
            let n = chunk.len() / per_image;
            let x = Tensor::<2>::from_data(TensorData::new(chunk.to_vec(), [n, per_image]), device);
            let f = self.features.forward_flat(x);
            let p = burn::tensor::activation::softmax(self.head.forward_flat(f.clone()), 1);
            features.extend(f.into_data().try_into_vec::<f32>().expect("f32 features"));
            probabilities.extend(p.into_data().try_into_vec::<f32>().expect("f32 probabilities"));
        }
        (Features::new(self.feature_dim, features), probabilities)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Noise, Stream};

    fn manifest(width: usize) -> ClassifierManifest {
        let (features, head) = architecture(width);
        ClassifierManifest {
            format: FORMAT.into(),
            name: "t".into(),
            description: String::new(),
            input_shape: vec![3, 32, 32],
            classes: crate::data::cifar::CLASSES.iter().map(|c| c.to_string()).collect(),
            features,
            head,
            weights: WeightsRef {
                file: "weights.safetensors".into(),
                sha256: String::new(),
                encoding: Default::default(),
            },
            provenance: Provenance {
                trained_by: "test".into(),
                data: "none".into(),
                recipe: String::new(),
                notes: String::new(),
            },
            test_accuracy: None,
        }
    }

    #[test]
    fn a_written_classifier_loads_and_gives_features_and_probabilities() {
        let device = crate::device::cpu();
        let m = manifest(4);
        let weights = init_weights(&m, 1);
        let dir = tempfile::tempdir().unwrap();
        Classifier::write_dir(&m, &weights, dir.path()).unwrap();
        let c = Classifier::load(dir.path(), &device).unwrap();
        assert_eq!(c.feature_dim, 32);
        let images = Noise::new(2, Stream::Data).uniform(3 * 3072);
        let (features, probabilities) = c.run(&images, 2, &device);
        assert_eq!((features.len(), features.dim), (3, 32));
        for row in probabilities.chunks(10) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        }
    }

    #[test]
    fn a_damaged_classifier_is_refused_with_its_path() {
        let device = crate::device::cpu();
        let m = manifest(4);
        let dir = tempfile::tempdir().unwrap();
        Classifier::write_dir(&m, &init_weights(&m, 1), dir.path()).unwrap();
        let weights = dir.path().join("weights.safetensors");
        let mut bytes = std::fs::read(&weights).unwrap();
        bytes[100] ^= 1;
        std::fs::write(&weights, bytes).unwrap();
        let err = Classifier::load(dir.path(), &device).err().unwrap().to_string();
        assert!(err.contains("weights.safetensors") && err.contains("SHA-256"), "{err}");
        let mut wrong = m.clone();
        wrong.classes.pop();
        let err = wrong.check("x/manifest.json").unwrap_err().to_string();
        assert!(err.contains("one logit per class"), "{err}");
    }
}

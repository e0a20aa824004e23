//! The manifest: what a bundle holds and how to read it, checked as a whole when it is parsed.

use serde::{Deserialize, Serialize};

use crate::data::toy2d::Toy;
use crate::error::{Error, Result};
use crate::flow::select::Calibration;
use crate::flow::settings::{FlowConfig, Recommended};
use crate::model::spec::{NetworkSpec, ParamSpec, values_of};
pub use crate::prior::Prior;
use crate::sample::SampleKind;

/// The format this build writes. docs/bundle-format.md describes it, and
/// docs/bundle-manifest.schema.json is its machine-readable schema.
pub const FORMAT: &str = "dgflow-bundle/2";

/// Formats this build reads: older ones are upgraded as they are read (see [`upgrade`]).
pub const READS: [&str; 2] = ["dgflow-bundle/1", FORMAT];

pub const MANIFEST_FILE: &str = "manifest.json";

/// The most parameter values a bundle may declare: 64M (256 MB as f32), over ten times the
/// published SN-ResNet-GAN for CIFAR-10; a manifest asking for more is refused before its
/// weights are read, so that a stranger's link cannot make the page allocate gigabytes.
pub const MAX_PARAMETERS: usize = 1 << 26;

/// The largest manifest read: 4 MiB, far above any real one (the text model's, vocabulary and
/// all, is a few kilobytes); the page stops a download or a zip entry past it.
pub const MAX_MANIFEST_BYTES: usize = 4 << 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Latent {
    pub dim: usize,
    pub prior: Prior,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightsRef {
    pub file: String,
    pub sha256: String,
    /// How the file stores the tensors when this bundle is written (reading takes any).
    #[serde(default, skip_serializing_if = "Encoding::is_f16")]
    pub encoding: Encoding,
}

/// How a weights file stores its tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// Every tensor in f16.
    #[default]
    F16,
    /// Weight matrices and kernels (rank ≥ 2, at least `INT8_MIN_LEN` values) as int8 with one
    /// f32 scale per slice of their first axis, in a tensor named `<name>:scale`; the rest (biases,
    /// batch-norm statistics, spectral-norm vectors) in f16. Half the bytes of f16, for the page's
    /// transfer size.
    Int8,
    /// Every tensor in f32: exact, as the PyTorch exporter writes (python/); twice f16's bytes.
    F32,
}

impl Encoding {
    fn is_f16(&self) -> bool {
        *self == Encoding::F16
    }
}

/// Tensors kept in another bundle's weights file: a model that borrows a network (a VAE
/// borrowing a GAN's discriminator) ships it once, and the browser fetches and caches it once.
/// The digest pins the file, so a retrained lender is noticed rather than silently mixed in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharedWeights {
    /// Relative to this bundle's folder, e.g. `../cifar10/weights.safetensors`.
    pub file: String,
    pub sha256: String,
    /// Every parameter whose name starts with this comes from that file, e.g. `critic.`.
    pub prefix: String,
}

/// Where the weights came from: shown on model cards and in `dgflow info`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    pub trained_by: String,
    pub data: String,
    #[serde(default)]
    pub recipe: String,
    #[serde(default)]
    pub notes: String,
}

/// A network whose logit adds to the critic's: a bundle's whole critic is
/// d(x) = critic(x) + Σ term(x). A VAE has no discriminator of its own, so it borrows a GAN's
/// (≈ log p_data/p_GAN) and adds a corrector (≈ log p_GAN/p_VAE); the sum estimates
/// log p_data/p_VAE, which is what DGflow follows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CriticTerm {
    /// The prefix of its weights (`<name>.<layer>.<field>`), e.g. `corrector`.
    pub name: String,
    /// What its logit estimates, for cards and `dgflow info`.
    pub description: String,
    pub network: NetworkSpec,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    pub name: String,
    pub description: String,
    pub kind: SampleKind,
    pub latent: Latent,
    pub sample_shape: Vec<usize>,
    /// The generator's output range, e.g. [-1, 1] for a tanh output.
    pub value_range: [f32; 2],
    /// Text models: the character of each vocabulary index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vocab: Option<Vec<String>>,
    /// Points models: the 2D data set the model learned (`25gaussians` or `swissroll`), drawn
    /// behind its samples and scored against by `dgflow eval`; without it, the model's name if
    /// that names a data set (see [`Manifest::toy`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toy: Option<String>,
    pub generator: NetworkSpec,
    pub critic: NetworkSpec,
    /// Networks whose logits add to the critic's (see [`CriticTerm`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub critic_terms: Vec<CriticTerm>,
    pub weights: WeightsRef,
    /// Parameters read from other bundles' weights files instead of `weights`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shared_weights: Vec<SharedWeights>,
    pub provenance: Provenance,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recommended: Option<Recommended>,
    /// Platt scaling of the critic's logit for MH-GAN, fitted by `dgflow calibrate` on held-out
    /// real samples against the model's own; without it MH-GAN uses the logit as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Calibration>,
}

/// Brings a manifest of an older format this build reads up to [`FORMAT`], in place; refuses
/// one it does not read, saying what to do.
///
/// - `dgflow-bundle/1` → `/2`: `latent.prior` was the string `"normal"` (N(0, I)); it is now an
///   object, `{"kind": "normal", "sigma": 1}` (or a uniform prior).
pub fn upgrade(manifest: &mut serde_json::Value) -> std::result::Result<(), String> {
    let Some(object) = manifest.as_object_mut() else {
        return Err("expected a JSON object with `format`, `name`, `latent`, …".into());
    };
    let format = match object.get("format") {
        Some(serde_json::Value::String(f)) => f.clone(),
        Some(other) => {
            return Err(format!("field `format` is {other}, expected a string like {FORMAT:?}"));
        }
        None => {
            return Err(format!(
                "field `format` is missing; a bundle manifest names its format, e.g. {FORMAT:?}"
            ));
        }
    };
    if format == READS[0] {
        if let Some(latent) = object.get_mut("latent").and_then(|l| l.as_object_mut())
            && latent.get("prior") == Some(&serde_json::json!("normal"))
        {
            latent.insert("prior".into(), serde_json::json!({ "kind": "normal", "sigma": 1.0 }));
        }
        object.insert("format".into(), serde_json::json!(FORMAT));
        return Ok(());
    }
    if format == FORMAT {
        return Ok(());
    }
    let newer = format
        .strip_prefix("dgflow-bundle/")
        .and_then(|v| v.parse::<u32>().ok())
        .is_some_and(|v| v > 2);
    Err(if newer {
        format!(
            "field `format` is {format:?}, newer than this build reads ({}): update dgflow-web (git pull, then ./build.sh), or export the model again with this version's exporter",
            READS.join(", ")
        )
    } else {
        format!(
            "field `format` is {format:?}: not a dgflow bundle manifest this build reads ({}); see docs/bundle-format.md",
            READS.join(", ")
        )
    })
}

impl Manifest {
    /// The 2D data set a points model learned: its `toy` field, or else its name where that names
    /// one (the bundled `25gaussians` and `swissroll`); None for other models.
    pub fn toy(&self) -> Option<Toy> {
        if self.kind != SampleKind::Points {
            return None;
        }
        Toy::from_name(self.toy.as_deref().unwrap_or(&self.name)).ok()
    }

    /// The 2D data set, for what cannot go on without one (evaluation, calibration).
    pub fn required_toy(&self) -> Result<Toy> {
        self.toy().ok_or_else(|| {
            Error::manifest(
                &self.name,
                "names no 2D data set: give its manifest a `toy` (25gaussians or swissroll)",
            )
        })
    }

    /// Every parameter the architecture needs: the generator's, the critic's and each critic term's.
    pub fn params(&self) -> Vec<ParamSpec> {
        let mut params = self.generator.params("generator");
        params.extend(self.critic.params("critic"));
        for term in &self.critic_terms {
            params.extend(term.network.params(&term.name));
        }
        params
    }

    /// Parses and checks a manifest of any format this build reads, upgraded to [`FORMAT`];
    /// `path` is only used in messages.
    pub fn parse(bytes: &[u8], path: &str) -> Result<Manifest> {
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(Error::manifest(
                path,
                format!(
                    "it is {} bytes; a manifest is at most {MAX_MANIFEST_BYTES} bytes (4 MiB): is it the right file?",
                    bytes.len()
                ),
            ));
        }
        let mut value: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| Error::manifest(path, format!("not valid JSON ({e})")))?;
        upgrade(&mut value).map_err(|e| Error::manifest(path, e))?;
        let manifest: Manifest = serde_path_to_error::deserialize(value).map_err(|e| {
            let field = e.path().to_string();
            let inner = e.into_inner();
            Error::manifest(
                path,
                if field == "." { inner.to_string() } else { format!("field `{field}`: {inner}") },
            )
        })?;
        manifest.check(path)?;
        Ok(manifest)
    }

    fn check(&self, path: &str) -> Result<()> {
        let fail = |reason: String| Err(Error::manifest(path, reason));
        if self.format != FORMAT {
            return fail(format!("field `format` is {:?}, expected {FORMAT:?}", self.format));
        }
        if self.latent.dim == 0 {
            return fail("field `latent.dim` must be positive".into());
        }
        if let Err(e) = self.latent.prior.check() {
            return fail(format!("field `latent.prior`: {e}"));
        }
        if self.sample_shape.is_empty() || self.sample_shape.contains(&0) {
            return fail(format!(
                "field `sample_shape` {:?} must be non-empty and positive",
                self.sample_shape
            ));
        }
        let [lo, hi] = self.value_range;
        if !(lo.is_finite() && hi.is_finite() && lo < hi) {
            return fail(format!("field `value_range` [{lo}, {hi}] must be finite and increasing"));
        }
        let shape_ok = match self.kind {
            SampleKind::Image => {
                self.sample_shape.len() == 3 && matches!(self.sample_shape[0], 1 | 3)
            }
            SampleKind::Text => self.sample_shape.len() == 2,
            SampleKind::Points => self.sample_shape == [2],
        };
        if !shape_ok {
            return fail(format!(
                "field `sample_shape` {:?} does not fit kind {:?} (image: [1 or 3, h, w]; text: [vocab, length]; points: [2])",
                self.sample_shape, self.kind
            ));
        }
        match (&self.vocab, self.kind) {
            (Some(v), SampleKind::Text) if v.len() == self.sample_shape[0] => {}
            (v, SampleKind::Text) => {
                return fail(format!(
                    "field `vocab` must list {} characters for a text model, found {}",
                    self.sample_shape[0],
                    v.as_ref().map_or(0, |v| v.len())
                ));
            }
            (Some(_), _) => return fail("field `vocab` is only allowed for text models".into()),
            (None, _) => {}
        }
        if let Some(toy) = &self.toy {
            if self.kind != SampleKind::Points {
                return fail("field `toy` is only allowed for points models".into());
            }
            if let Err(e) = Toy::from_name(toy) {
                return fail(format!("field `toy`: {e}"));
            }
        }
        if let Some(r) = self.recommended
            && let Err(e) = FlowConfig::for_model(Some(r)).validate(self.kind)
        {
            return fail(format!("field `recommended`: {e}"));
        }
        if let Some(Err(e)) = self.calibration.map(Calibration::check) {
            return fail(format!("field `calibration`: {e}"));
        }
        match self.generator.output_shape(&[self.latent.dim]) {
            Ok(s) if s == self.sample_shape => {}
            Ok(s) => {
                return fail(format!(
                    "field `generator` maps the latent to {s:?}, but `sample_shape` is {:?}",
                    self.sample_shape
                ));
            }
            Err(e) => return fail(format!("field `generator`: {e}")),
        }
        match self.critic.output_shape(&self.sample_shape) {
            Ok(s) if s == [1] => {}
            Ok(s) => return fail(format!("field `critic` must end in one logit, it gives {s:?}")),
            Err(e) => return fail(format!("field `critic`: {e}")),
        }
        let digests = std::iter::once(("weights.sha256".to_string(), &self.weights.sha256)).chain(
            self.shared_weights
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("shared_weights[{i}].sha256"), &s.sha256)),
        );
        for (field, digest) in digests {
            if digest.len() != 64 || !digest.chars().all(|c| c.is_ascii_hexdigit()) {
                return fail(format!(
                    "field `{field}` {digest:?} is not a SHA-256 (64 hexadecimal digits); write the bundle again with `dgflow` or the exporter"
                ));
            }
        }
        let params = self.params();
        let total = params
            .iter()
            .try_fold(0usize, |sum, p| values_of(&p.shape).and_then(|n| sum.checked_add(n)));
        if total.is_none_or(|n| n > MAX_PARAMETERS) {
            let total = total.map_or("more than 2^64".into(), |n| n.to_string());
            return fail(format!(
                "the architecture needs {total} parameters; this engine loads at most {MAX_PARAMETERS} (small GANs), so it is refused before its weights are read"
            ));
        }
        for (i, shared) in self.shared_weights.iter().enumerate() {
            let file = &shared.file;
            if file.is_empty()
                || file.starts_with('/')
                || file.contains(':')
                || file.contains('\\')
                || file.split('/').any(|c| c.is_empty() || c == ".")
            {
                return fail(format!(
                    "field `shared_weights[{i}].file` {file:?} must be a relative path like `../other/weights.safetensors`"
                ));
            }
            let prefix = &shared.prefix;
            if !prefix.ends_with('.') || !params.iter().any(|p| p.name.starts_with(prefix.as_str()))
            {
                return fail(format!(
                    "field `shared_weights[{i}].prefix` {prefix:?} must end in `.` and name parameters of this model, e.g. `critic.`"
                ));
            }
            if self.shared_weights[..i].iter().any(|o| {
                o.prefix.starts_with(prefix.as_str()) || prefix.starts_with(o.prefix.as_str())
            }) {
                return fail(format!(
                    "field `shared_weights`: prefix {prefix:?} overlaps an earlier one"
                ));
            }
        }
        for (i, term) in self.critic_terms.iter().enumerate() {
            let name = &term.name;
            let identifier = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !identifier
                || name == "generator"
                || name == "critic"
                || self.critic_terms[..i].iter().any(|t| &t.name == name)
            {
                return fail(format!(
                    "field `critic_terms`: term {i} is named {name:?}; names are distinct lower-case identifiers other than `generator` and `critic`"
                ));
            }
            match term.network.output_shape(&self.sample_shape) {
                Ok(s) if s == [1] => {}
                Ok(s) => {
                    return fail(format!(
                        "critic term `{name}` must end in one logit, it gives {s:?}"
                    ));
                }
                Err(e) => return fail(format!("critic term `{name}`: {e}")),
            }
        }
        Ok(())
    }
}

//! Model bundles: `models/<name>/manifest.json` plus a safetensors weights file (f16 or f32
//! tensors, or int8 ones with a scale per slice of their first axis).
//!
//! Loading validates everything before a tensor is built — schema, shapes through every layer,
//! each weight's presence, shape, dtype and finiteness, and the file's SHA-256 — and every error
//! names the file and the field. Reading works from bytes so the browser can use it unchanged.

use std::collections::BTreeMap;
use std::path::Path;

use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::model::network::HostWeights;
use crate::model::spec::{NetworkSpec, ParamSpec};

pub const FORMAT: &str = "dgflow-bundle/1";
pub const MANIFEST_FILE: &str = "manifest.json";

/// What a sample is, which decides how it is shown and which refinement spaces make sense.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SampleKind {
    /// `[channels, height, width]` in `value_range`.
    Image,
    /// `[vocabulary, length]`: a softmax over the vocabulary at each position, decoded by argmax.
    Text,
    /// A point in the plane, `[2]`.
    Points,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Prior {
    /// z ~ N(0, I)
    Normal,
}

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
}

impl Encoding {
    fn is_f16(&self) -> bool {
        *self == Encoding::F16
    }
}

/// Smaller tensors stay f16 under `Encoding::Int8`: they are few bytes and often not weights.
const INT8_MIN_LEN: usize = 1024;
/// The scale tensor of an int8 tensor is named `<name>` followed by this.
const SCALE_SUFFIX: &str = ":scale";

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

/// Refinement settings suited to one model. The step size that works depends on how steep its
/// critic is, so a model can recommend its own instead of the paper's η = 0.1, γ = 0.01.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recommended {
    pub eta: f32,
    pub gamma: f32,
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
}

impl Manifest {
    /// Every parameter the architecture needs: the generator's, the critic's and each critic term's.
    pub fn params(&self) -> Vec<ParamSpec> {
        let mut params = self.generator.params("generator");
        params.extend(self.critic.params("critic"));
        for term in &self.critic_terms {
            params.extend(term.network.params(&term.name));
        }
        params
    }

    /// Parses and checks a manifest; `path` is only used in messages.
    pub fn parse(bytes: &[u8], path: &str) -> Result<Manifest> {
        let manifest: Manifest =
            serde_json::from_slice(bytes).map_err(|e| Error::manifest(path, e.to_string()))?;
        manifest.check(path)?;
        Ok(manifest)
    }

    fn check(&self, path: &str) -> Result<()> {
        let fail = |reason: String| Err(Error::manifest(path, reason));
        if self.format != FORMAT {
            return fail(format!(
                "field `format` is {:?}, this build reads {FORMAT:?}",
                self.format
            ));
        }
        if self.latent.dim == 0 {
            return fail("field `latent.dim` must be positive".into());
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
        if let Some(r) = self.recommended {
            let config =
                crate::flow::FlowConfig { eta: r.eta, gamma: r.gamma, ..Default::default() };
            if let Err(e) = config.validate() {
                return fail(format!("field `recommended`: {e}"));
            }
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
        let params = self.params();
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

/// A bundle read into memory and fully validated, ready to be built on a device.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub manifest: Manifest,
    pub weights: HostWeights,
}

impl Bundle {
    /// Validates a bundle from its two files' bytes; `dir` names the bundle in messages.
    pub fn from_bytes(dir: &str, manifest_bytes: &[u8], weights_bytes: &[u8]) -> Result<Bundle> {
        Bundle::from_parts(dir, manifest_bytes, weights_bytes, &[])
    }

    /// Like `from_bytes`, with the bytes of each file the manifest's `shared_weights` names, in order.
    pub fn from_parts(
        dir: &str,
        manifest_bytes: &[u8],
        weights_bytes: &[u8],
        shared: &[&[u8]],
    ) -> Result<Bundle> {
        let manifest = Manifest::parse(manifest_bytes, &format!("{dir}/{MANIFEST_FILE}"))?;
        if shared.len() != manifest.shared_weights.len() {
            return Err(Error::manifest(
                &format!("{dir}/{MANIFEST_FILE}"),
                format!(
                    "it shares {} weights files, {} were given",
                    manifest.shared_weights.len(),
                    shared.len()
                ),
            ));
        }
        let weights_path = format!("{dir}/{}", manifest.weights.file);
        verify_digest(&weights_path, weights_bytes, &manifest.weights.sha256)?;
        check_critic_terms_present(&weights_path, weights_bytes, &manifest)?;
        let is_shared =
            |name: &str| manifest.shared_weights.iter().any(|s| name.starts_with(&s.prefix));
        let (borrowed, own): (Vec<ParamSpec>, Vec<ParamSpec>) =
            manifest.params().into_iter().partition(|p| is_shared(&p.name));
        let mut weights = read_weights(&weights_path, weights_bytes, &own, false)?;
        for (entry, bytes) in manifest.shared_weights.iter().zip(shared) {
            let path = format!("{dir}/{}", entry.file);
            if !hex(&Sha256::digest(bytes)).eq_ignore_ascii_case(&entry.sha256) {
                return Err(Error::weights(
                    &path,
                    format!(
                        "its SHA-256 is not the {} this bundle was made with: the model it borrows `{}*` from was retrained or the file is damaged — rebuild this bundle against the current one (e.g. `dgflow train corrector --base {dir} --critic <that model's folder>`)",
                        entry.sha256, entry.prefix
                    ),
                ));
            }
            let wanted: Vec<ParamSpec> =
                borrowed.iter().filter(|p| p.name.starts_with(&entry.prefix)).cloned().collect();
            weights.extend(read_weights(&path, bytes, &wanted, true)?);
        }
        Ok(Bundle { manifest, weights })
    }

    /// The same generator judged by `lender`'s critic (its spec and `critic.*` weights).
    pub fn with_critic_of(&self, lender: &Bundle) -> Bundle {
        let mut bundle = self.clone();
        bundle.manifest.critic = lender.manifest.critic.clone();
        bundle.weights.retain(|k, _| !k.starts_with("critic."));
        bundle.weights.extend(
            lender
                .weights
                .iter()
                .filter(|(k, _)| k.starts_with("critic."))
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        bundle
    }

    /// The same model with only its own critic: the ablation of a corrector ("D alone").
    pub fn without_critic_terms(&self) -> Bundle {
        let mut manifest = self.manifest.clone();
        let prefixes: Vec<String> =
            manifest.critic_terms.drain(..).map(|t| format!("{}.", t.name)).collect();
        let weights = self
            .weights
            .iter()
            .filter(|(k, _)| !prefixes.iter().any(|p| k.starts_with(p)))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Bundle { manifest, weights }
    }

    /// Reads `dir/manifest.json` and the weights file it names.
    pub fn from_dir(dir: &Path) -> Result<Bundle> {
        let name = dir.display().to_string();
        let manifest_bytes = read_file(&dir.join(MANIFEST_FILE))?;
        let manifest = Manifest::parse(&manifest_bytes, &format!("{name}/{MANIFEST_FILE}"))?;
        let weights_bytes = read_file(&dir.join(&manifest.weights.file))?;
        let shared = manifest
            .shared_weights
            .iter()
            .map(|s| read_file(&dir.join(&s.file)))
            .collect::<Result<Vec<_>>>()?;
        let shared: Vec<&[u8]> = shared.iter().map(Vec::as_slice).collect();
        Bundle::from_parts(&name, &manifest_bytes, &weights_bytes, &shared)
    }

    /// Reads a bundle with `lender`'s critic in place of its own or the one it borrows: how a
    /// model is rebased on a retrained GAN, whose new weights no longer match the digest it
    /// pinned (so `from_dir` refuses it). Its own weights are still verified.
    pub fn from_dir_with_critic_of(dir: &Path, lender: &Bundle) -> Result<Bundle> {
        let name = dir.display().to_string();
        let manifest_bytes = read_file(&dir.join(MANIFEST_FILE))?;
        let mut manifest = Manifest::parse(&manifest_bytes, &format!("{name}/{MANIFEST_FILE}"))?;
        if let Some(other) = manifest.shared_weights.iter().find(|s| s.prefix != "critic.") {
            return Err(Error::manifest(
                &format!("{name}/{MANIFEST_FILE}"),
                format!(
                    "it borrows `{}*` as well as a critic; only a borrowed critic can be replaced",
                    other.prefix
                ),
            ));
        }
        manifest.shared_weights.clear();
        let weights_path = format!("{name}/{}", manifest.weights.file);
        let weights_bytes = read_file(&dir.join(&manifest.weights.file))?;
        verify_digest(&weights_path, &weights_bytes, &manifest.weights.sha256)?;
        check_critic_terms_present(&weights_path, &weights_bytes, &manifest)?;
        let own: Vec<ParamSpec> =
            manifest.params().into_iter().filter(|p| !p.name.starts_with("critic.")).collect();
        let weights = read_weights(&weights_path, &weights_bytes, &own, true)?;
        Ok(Bundle { manifest, weights }.with_critic_of(lender))
    }

    /// The bytes of `write_dir`'s two files, (manifest, weights), without touching a disk: how a
    /// model trained in one wasm module reaches another (the page trains 2D GANs on the CPU
    /// module and may refine them on the WebGPU one).
    pub fn to_files(&self) -> (Vec<u8>, Vec<u8>) {
        let mut manifest = self.manifest.clone();
        manifest.shared_weights.clear();
        let weights = encode(&self.weights, manifest.weights.encoding);
        manifest.weights.sha256 = hex(&Sha256::digest(&weights));
        (manifest_json(&manifest).into_bytes(), weights)
    }

    /// Writes the bundle as f16 weights (the shipping format) and a manifest with their digest;
    /// self-contained: every tensor in its own file.
    pub fn write_dir(&self, dir: &Path) -> Result<()> {
        self.write_dir_sharing(dir, &[])
    }

    /// Like `write_dir`, except that the parameters under each `(prefix, bundle folder)` of
    /// `shares` are left to that bundle's weights file (they must be the same tensors there).
    pub fn write_dir_sharing(&self, dir: &Path, shares: &[(&str, &Path)]) -> Result<()> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::Io { path: dir.display().to_string(), reason: e.to_string() })?;
        let mut manifest = self.manifest.clone();
        manifest.shared_weights.clear();
        for (prefix, source) in shares {
            let lender = Bundle::from_dir(source)?;
            let mine: Vec<_> = self.weights.iter().filter(|(k, _)| k.starts_with(prefix)).collect();
            let same = |(k, (_, v)): &(&String, &(Vec<usize>, Vec<f32>))| {
                lender.weights.get(*k).is_some_and(|(_, w)| {
                    w.len() == v.len()
                        && w.iter()
                            .zip(v.iter())
                            .all(|(a, b)| half::f16::from_f32(*a) == half::f16::from_f32(*b))
                })
            };
            if mine.is_empty() || !mine.iter().all(same) {
                return Err(Error::weights(
                    &source.display().to_string(),
                    format!(
                        "its `{prefix}*` tensors are not this model's, so they cannot be shared; write the bundle self-contained"
                    ),
                ));
            }
            let file = relative_path(dir, &source.join(&lender.manifest.weights.file))?;
            manifest.shared_weights.push(SharedWeights {
                file,
                sha256: lender.manifest.weights.sha256.clone(),
                prefix: prefix.to_string(),
            });
        }
        let own: HostWeights = self
            .weights
            .iter()
            .filter(|(k, _)| !manifest.shared_weights.iter().any(|s| k.starts_with(&s.prefix)))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        manifest.weights.sha256 =
            write_weights(dir, &manifest.weights.file, &own, manifest.weights.encoding)?;
        write_manifest(dir, &manifest)
    }
}

/// `to` as a path relative to the folder `from` (both must exist), with `/` separators.
fn relative_path(from: &Path, to: &Path) -> Result<String> {
    let canonical = |p: &Path| {
        p.canonicalize()
            .map_err(|e| Error::Io { path: p.display().to_string(), reason: e.to_string() })
    };
    let (from, to) = (canonical(from)?, canonical(to)?);
    let (a, b): (Vec<_>, Vec<_>) = (from.components().collect(), to.components().collect());
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<String> = vec!["..".into(); a.len() - common];
    parts.extend(b[common..].iter().map(|c| c.as_os_str().to_string_lossy().into_owned()));
    Ok(parts.join("/"))
}

/// Checks a weights file against the SHA-256 its manifest records.
pub(crate) fn verify_digest(path: &str, bytes: &[u8], sha256: &str) -> Result<()> {
    let digest = hex(&Sha256::digest(bytes));
    if digest.eq_ignore_ascii_case(sha256) {
        return Ok(());
    }
    Err(Error::weights(
        path,
        format!(
            "SHA-256 is {digest}, the manifest expects {sha256}; the file is corrupt or from another version — download or export it again"
        ),
    ))
}

/// A critic term with no weights at all is a missing network, not a damaged file: say so.
/// The bytes of a file, or an error that names it.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| Error::Io { path: path.display().to_string(), reason: e.to_string() })
}

fn check_critic_terms_present(path: &str, bytes: &[u8], manifest: &Manifest) -> Result<()> {
    let Ok(file) = SafeTensors::deserialize(bytes) else { return Ok(()) }; // read_weights explains
    let names = file.names();
    for term in &manifest.critic_terms {
        let prefix = format!("{}.", term.name);
        if !names.iter().any(|n| n.starts_with(&prefix)) {
            return Err(Error::weights(
                path,
                format!(
                    "the manifest adds the critic term `{}` ({}), but the file holds none of its weights; train it (`dgflow train corrector`) or remove it from `critic_terms`",
                    term.name, term.description
                ),
            ));
        }
    }
    Ok(())
}

/// Reads the `expected` tensors (f16, f32, or int8 with their scales; finite, of the expected
/// shapes); unless `others_allowed` (a file shared with another bundle), the file must hold
/// nothing else.
pub(crate) fn read_weights(
    path: &str,
    bytes: &[u8],
    expected: &[ParamSpec],
    others_allowed: bool,
) -> Result<HostWeights> {
    let file = SafeTensors::deserialize(bytes)
        .map_err(|e| Error::weights(path, format!("not a valid safetensors file ({e}); it may be truncated — download or export it again")))?;
    let mut out = HostWeights::new();
    for spec in expected {
        let view = file.tensor(&spec.name).map_err(|_| {
            Error::weights(
                path,
                format!(
                    "tensor `{}` is missing (the manifest's architecture needs it, shape {:?})",
                    spec.name, spec.shape
                ),
            )
        })?;
        if view.shape() != spec.shape.as_slice() {
            return Err(Error::weights(
                path,
                format!(
                    "tensor `{}` has shape {:?}, expected {:?} from the manifest",
                    spec.name,
                    view.shape(),
                    spec.shape
                ),
            ));
        }
        let values: Vec<f32> = match view.dtype() {
            Dtype::I8 => {
                let scale_name = format!("{}{SCALE_SUFFIX}", spec.name);
                let scales = file.tensor(&scale_name).ok().filter(|t| t.shape() == [spec.shape[0]]).ok_or_else(|| {
                    Error::weights(path, format!("int8 tensor `{}` needs its scales `{scale_name}` (shape [{}]); the file is damaged — export it again", spec.name, spec.shape[0]))
                })?;
                let scales = floats(path, &scale_name, &scales)?;
                let row = spec.shape.iter().skip(1).product::<usize>().max(1);
                view.data()
                    .iter()
                    .enumerate()
                    .map(|(i, &q)| q as i8 as f32 * scales[i / row])
                    .collect()
            }
            _ => floats(path, &spec.name, &view)?,
        };
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(Error::weights(
                path,
                format!(
                    "tensor `{}` holds a non-finite value ({}) at index {i}; the model diverged in training or the file is damaged",
                    spec.name, values[i]
                ),
            ));
        }
        out.insert(spec.name.clone(), (spec.shape.clone(), values));
    }
    let is_scale = |n: &str| n.strip_suffix(SCALE_SUFFIX).is_some_and(|w| out.contains_key(w));
    if let Some(extra) =
        file.names().into_iter().find(|n| !others_allowed && !out.contains_key(*n) && !is_scale(n))
    {
        return Err(Error::weights(
            path,
            format!(
                "tensor `{extra}` is not used by the manifest's architecture; is this the right weights file?"
            ),
        ));
    }
    Ok(out)
}

/// The values of an f16 or f32 tensor.
fn floats(path: &str, name: &str, view: &safetensors::tensor::TensorView) -> Result<Vec<f32>> {
    match view.dtype() {
        Dtype::F16 => Ok(view
            .data()
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect()),
        Dtype::F32 => Ok(view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()),
        other => Err(Error::weights(
            path,
            format!(
                "tensor `{name}` has dtype {other:?}; only F16, F32 and I8 (with scales) are supported"
            ),
        )),
    }
}

/// Writes `weights` as f16 safetensors to `dir/file` (creating `dir`); returns their SHA-256.
pub(crate) fn write_f16_weights(dir: &Path, file: &str, weights: &HostWeights) -> Result<String> {
    write_weights(dir, file, weights, Encoding::F16)
}

/// Writes `weights` as safetensors in `encoding` to `dir/file` (creating `dir`); returns their SHA-256.
pub(crate) fn write_weights(
    dir: &Path,
    file: &str,
    weights: &HostWeights,
    encoding: Encoding,
) -> Result<String> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::Io { path: dir.display().to_string(), reason: e.to_string() })?;
    let bytes = encode(weights, encoding);
    let path = dir.join(file);
    std::fs::write(&path, &bytes)
        .map_err(|e| Error::Io { path: path.display().to_string(), reason: e.to_string() })?;
    Ok(hex(&Sha256::digest(&bytes)))
}

/// Writes `dir/manifest.json`, pretty-printed.
pub(crate) fn write_manifest(dir: &Path, manifest: &impl Serialize) -> Result<()> {
    let path = dir.join(MANIFEST_FILE);
    std::fs::write(&path, manifest_json(manifest))
        .map_err(|e| Error::Io { path: path.display().to_string(), reason: e.to_string() })
}

fn manifest_json(manifest: &impl Serialize) -> String {
    serde_json::to_string_pretty(manifest).expect("manifests serialise") + "\n"
}

/// Serialises weights as f16 safetensors, in name order so the bytes (and digest) are stable.
pub fn encode_f16(weights: &HostWeights) -> Vec<u8> {
    encode(weights, Encoding::F16)
}

/// Serialises weights as safetensors in `encoding`, in name order so the bytes (and digest) are stable.
pub fn encode(weights: &HostWeights, encoding: Encoding) -> Vec<u8> {
    let f16_bytes = |values: &[f32]| {
        values.iter().flat_map(|v| half::f16::from_f32(*v).to_le_bytes()).collect::<Vec<u8>>()
    };
    let mut encoded: BTreeMap<String, (Dtype, Vec<usize>, Vec<u8>)> = BTreeMap::new();
    for (name, (shape, values)) in weights {
        if encoding == Encoding::Int8 && shape.len() >= 2 && values.len() >= INT8_MIN_LEN {
            let (quantised, scales) = quantise_rows(values, shape[0]);
            let scale_bytes = scales.iter().flat_map(|s| s.to_le_bytes()).collect();
            encoded
                .insert(format!("{name}{SCALE_SUFFIX}"), (Dtype::F32, vec![shape[0]], scale_bytes));
            encoded.insert(
                name.clone(),
                (Dtype::I8, shape.clone(), quantised.iter().map(|&q| q as u8).collect()),
            );
        } else {
            encoded.insert(name.clone(), (Dtype::F16, shape.clone(), f16_bytes(values)));
        }
    }
    let views = encoded.iter().map(|(name, (dtype, shape, bytes))| {
        (
            name.as_str(),
            safetensors::tensor::TensorView::new(*dtype, shape.clone(), bytes)
                .expect("the view matches its shape"),
        )
    });
    safetensors::serialize(views, None).expect("in-memory serialisation cannot fail")
}

/// Symmetric int8 quantisation of each of `rows` equal slices: q = round(v / s), s = max|v| / 127,
/// so each slice keeps its own range (a layer's filters differ in size by orders of magnitude).
fn quantise_rows(values: &[f32], rows: usize) -> (Vec<i8>, Vec<f32>) {
    let len = values.len() / rows;
    let scales: Vec<f32> = values
        .chunks(len)
        .map(|row| row.iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0)
        .collect();
    let quantised = values
        .chunks(len)
        .zip(&scales)
        .flat_map(|(row, &s)| {
            row.iter()
                .map(move |&v| if s > 0.0 { (v / s).round().clamp(-127.0, 127.0) as i8 } else { 0 })
        })
        .collect();
    (quantised, scales)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

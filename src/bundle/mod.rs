//! Model bundles: `models/<name>/manifest.json` plus a safetensors weights file (f16 or f32
//! tensors, or int8 ones with a scale per slice of their first axis).
//!
//! Loading validates everything before a tensor is built — schema, shapes through every layer,
//! each weight's presence, shape, dtype and finiteness, and the file's SHA-256 — and every error
//! names the file and the field. Reading works from bytes so the browser can use it unchanged.
//!
//! `manifest` is the format (every field and its checks; `docs/bundle-format.md` describes it),
//! `weights` reads and writes the tensors; `mod.rs` puts them together into a [`Bundle`].

mod manifest;
mod weights;

pub use manifest::{
    CriticTerm, Encoding, FORMAT, Latent, MANIFEST_FILE, Manifest, Prior, Provenance,
    SharedWeights, WeightsRef,
};
pub use manifest::{MAX_MANIFEST_BYTES, MAX_PARAMETERS};
pub use weights::{encode, encode_f16};
pub(crate) use weights::{
    read_file, read_weights, verify_digest, write_f16_weights, write_manifest, write_weights,
};

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::model::network::HostWeights;
use crate::model::spec::ParamSpec;
use weights::{check_critic_terms_present, check_file_size, hex, largest_file, manifest_json};

/// A bundle read into memory and fully validated, ready to be built on a device.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub manifest: Manifest,
    pub weights: HostWeights,
}

/// The largest weights file `manifest` can honestly have (every tensor as f32): a longer one is
/// refused unread, and the page stops downloading or unzipping past it.
pub fn largest_weights_file(manifest: &Manifest) -> usize {
    largest_file(&manifest.params())
}

/// The largest shared weights file: it holds another model's tensors too, so it is bounded by
/// the engine's limit on parameters.
pub fn largest_shared_file() -> usize {
    largest_file(&[ParamSpec { name: String::new(), shape: vec![MAX_PARAMETERS], fan_in: 0 }])
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
        let params = manifest.params();
        check_file_size(&weights_path, weights_bytes.len(), largest_file(&params))?;
        for (entry, bytes) in manifest.shared_weights.iter().zip(shared) {
            check_file_size(&format!("{dir}/{}", entry.file), bytes.len(), largest_shared_file())?;
        }
        verify_digest(&weights_path, weights_bytes, &manifest.weights.sha256)?;
        check_critic_terms_present(&weights_path, weights_bytes, &manifest)?;
        let is_shared =
            |name: &str| manifest.shared_weights.iter().any(|s| name.starts_with(&s.prefix));
        let (borrowed, own): (Vec<ParamSpec>, Vec<ParamSpec>) =
            params.into_iter().partition(|p| is_shared(&p.name));
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
    /// Rewrites `dir/manifest.json` only (e.g. with a fitted calibration); the weights it
    /// names stay as they are, so the manifest must still describe them.
    pub fn write_manifest(dir: &Path, manifest: &Manifest) -> Result<()> {
        weights::write_manifest(dir, manifest)
    }

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

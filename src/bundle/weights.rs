//! A bundle's tensors in safetensors files: read and checked against the manifest (presence,
//! shape, dtype, finiteness, SHA-256), and written as f16 or int8.

use std::collections::BTreeMap;
use std::path::Path;

use safetensors::{Dtype, SafeTensors};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::manifest::{Encoding, MANIFEST_FILE, Manifest};
use crate::error::{Error, Result};
use crate::model::network::HostWeights;
use crate::model::spec::ParamSpec;

/// Smaller tensors stay f16 under `Encoding::Int8`: they are few bytes and often not weights.
pub(super) const INT8_MIN_LEN: usize = 1024;

/// The scale tensor of an int8 tensor is named `<name>` followed by this.
pub(super) const SCALE_SUFFIX: &str = ":scale";

/// The largest a weights file holding `params` can honestly be: every value as f32, a scale per
/// slice of the first axis, and room for the header's entry of each tensor.
pub(super) fn largest_file(params: &[ParamSpec]) -> usize {
    params
        .iter()
        .map(|p| {
            let values = p.shape.iter().product::<usize>();
            values.saturating_mul(4).saturating_add(4 * p.shape.first().copied().unwrap_or(0) + 512)
        })
        .fold(4096usize, usize::saturating_add)
}

/// Refuses a file far larger than its manifest's tensors (padded, or the wrong file) before it
/// is hashed or parsed.
pub(super) fn check_file_size(path: &str, len: usize, largest: usize) -> Result<()> {
    if len > largest {
        return Err(Error::weights(
            path,
            format!(
                "is {len} bytes, larger than the {largest} bytes the manifest's tensors can take even as f32; it is the wrong file or was padded — download or export it again"
            ),
        ));
    }
    Ok(())
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

pub(super) fn check_critic_terms_present(
    path: &str,
    bytes: &[u8],
    manifest: &Manifest,
) -> Result<()> {
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
pub(super) fn floats(
    path: &str,
    name: &str,
    view: &safetensors::tensor::TensorView,
) -> Result<Vec<f32>> {
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

pub(super) fn manifest_json(manifest: &impl Serialize) -> String {
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
        } else if encoding == Encoding::F32 {
            let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            encoded.insert(name.clone(), (Dtype::F32, shape.clone(), bytes));
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
pub(super) fn quantise_rows(values: &[f32], rows: usize) -> (Vec<i8>, Vec<f32>) {
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

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

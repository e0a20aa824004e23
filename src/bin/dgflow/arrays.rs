//! Arrays a run is given from files (`refine --latents`, `--noise`): NumPy `.npy` files and
//! safetensors files, read as f32 and checked against the shape the run needs.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use safetensors::{Dtype, SafeTensors};

/// An array as a file holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// Reads the array of `path` (`what` names it in messages) and checks it has `shape`, or as
/// many values in one axis: a `.npy` file, or a safetensors file holding a tensor named one of
/// `names`, or only one tensor, or (a `dgflow refine --record` file) `<names[0]>/1`, `/2`, …
/// stacked along a first axis.
pub fn read_shaped(path: &Path, what: &str, names: &[&str], shape: &[usize]) -> Result<Vec<f32>> {
    let array =
        read(path, names).with_context(|| format!("reading {what} from {}", path.display()))?;
    let want: usize = shape.iter().product();
    let flat_ok = array.shape.len() == 1 && array.values.len() == want;
    let stacked_ok =
        array.shape.len() == 2 && array.shape[0] == shape[0] && array.values.len() == want;
    if array.shape != shape && !flat_ok && !stacked_ok {
        bail!(
            "{what} in {} has shape {:?} ({} values); this run needs shape {shape:?} ({want} values)",
            path.display(),
            array.shape,
            array.values.len()
        );
    }
    Ok(array.values)
}

/// The array of `path` as the file holds it (see [`read_shaped`]), `what` naming it in messages.
pub fn read_any(path: &Path, what: &str, names: &[&str]) -> Result<Array> {
    read(path, names).with_context(|| format!("reading {what} from {}", path.display()))
}

fn read(path: &Path, names: &[&str]) -> Result<Array> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.starts_with(b"\x93NUMPY") { npy(&bytes) } else { safetensors(&bytes, names) }
}

/// A `.npy` file (format 1.0 to 3.0) of little-endian f32 or f64 in C order.
fn npy(bytes: &[u8]) -> Result<Array> {
    let major = *bytes.get(6).ok_or_else(|| anyhow!("a truncated .npy header"))?;
    let (length_bytes, start) = match major {
        1 => (2, 10),
        2 | 3 => (4, 12),
        other => bail!("a .npy file of format version {other}; versions 1 to 3 are read"),
    };
    let length = bytes
        .get(8..8 + length_bytes)
        .map(|b| b.iter().rev().fold(0usize, |n, &byte| n << 8 | byte as usize))
        .ok_or_else(|| anyhow!("a truncated .npy header"))?;
    let header = bytes
        .get(start..start + length)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or_else(|| anyhow!("a damaged .npy header"))?;
    let field = |key: &str| -> Result<&str> {
        let at = header
            .find(&format!("'{key}':"))
            .ok_or_else(|| anyhow!("the .npy header has no '{key}'"))?;
        Ok(header[at + key.len() + 3..].trim_start())
    };
    if field("fortran_order")?.starts_with("True") {
        bail!("a Fortran-ordered .npy array; save it in C order (numpy.ascontiguousarray)");
    }
    let descr = field("descr")?;
    let width = if descr.starts_with("'<f4'") {
        4
    } else if descr.starts_with("'<f8'") {
        8
    } else {
        bail!(
            "a .npy array of dtype {}; float32 or float64 (little-endian) are read",
            descr.split(',').next().unwrap_or(descr)
        );
    };
    let shape_text = field("shape")?;
    let shape_text =
        &shape_text[1..shape_text.find(')').ok_or_else(|| anyhow!("a damaged .npy shape"))?];
    let shape = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|_| anyhow!("a damaged .npy shape ({shape_text})")))
        .collect::<Result<Vec<_>>>()?;
    let data = &bytes[start + length..];
    let count = shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(|| anyhow!("a .npy shape too large"))?;
    if data.len() != count * width {
        bail!(
            "a .npy array of shape {shape:?} needs {} bytes of data, the file has {}",
            count * width,
            data.len()
        );
    }
    let values = if width == 4 {
        data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
    } else {
        data.chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32)
            .collect()
    };
    Ok(Array { shape, values })
}

fn safetensors(bytes: &[u8], names: &[&str]) -> Result<Array> {
    let file = SafeTensors::deserialize(bytes)
        .map_err(|e| anyhow!("neither a .npy nor a safetensors file ({e})"))?;
    let tensor = |name: &str| -> Result<Array> {
        let view = file.tensor(name)?;
        let values = match view.dtype() {
            Dtype::F32 => view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Dtype::F64 => view
                .data()
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32)
                .collect(),
            Dtype::F16 => view
                .data()
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            other => bail!("tensor `{name}` has dtype {other:?}; F32, F64 or F16 are read"),
        };
        Ok(Array { shape: view.shape().to_vec(), values })
    };
    if let Some(name) = names.iter().find(|n| file.names().iter().any(|m| m == *n)) {
        return tensor(name);
    }
    let all = file.names();
    if all.len() == 1 {
        return tensor(all[0]);
    }
    // A record's per-step tensors, `<name>/1` … `<name>/n`, stacked.
    let mut stacked = Vec::new();
    while let Ok(step) = tensor(&format!("{}/{}", names[0], stacked.len() + 1)) {
        stacked.push(step);
    }
    match stacked.first() {
        Some(first) => {
            let per = first.values.len();
            if stacked.iter().any(|s| s.values.len() != per) {
                bail!("the tensors `{}/k` differ in size", names[0]);
            }
            Ok(Array {
                shape: vec![stacked.len(), per],
                values: stacked.into_iter().flat_map(|s| s.values).collect(),
            })
        }
        None => bail!(
            "no tensor named {} (the file holds {}); name the tensor so, or keep only one in the file",
            names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(" or "),
            all.len()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy_bytes(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
        let mut header =
            format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend((header.len() as u16).to_le_bytes());
        out.extend(header.as_bytes());
        out.extend(data);
        out
    }

    #[test]
    fn npy_files_of_f32_and_f64_are_read_and_others_refused() {
        let f32s: Vec<u8> =
            [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let a = npy(&npy_bytes("<f4", "(2, 3)", &f32s)).unwrap();
        assert_eq!((a.shape, a.values), (vec![2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
        let f64s: Vec<u8> = [0.5f64, -1.5].iter().flat_map(|v| v.to_le_bytes()).collect();
        let b = npy(&npy_bytes("<f8", "(2,)", &f64s)).unwrap();
        assert_eq!((b.shape, b.values), (vec![2], vec![0.5, -1.5]));
        let e = npy(&npy_bytes("<i8", "(2,)", &f64s)).unwrap_err().to_string();
        assert!(e.contains("float32 or float64"), "{e}");
        let e = npy(&npy_bytes("<f4", "(2, 4)", &f32s)).unwrap_err().to_string();
        assert!(e.contains("needs 32 bytes of data, the file has 24"), "{e}");
    }
}

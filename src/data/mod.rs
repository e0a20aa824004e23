//! Training and evaluation data. Toy distributions are generated in code; files are read from
//! the shared data folder, never copied into the repository.

pub mod cifar;
pub mod text;
pub mod toy2d;

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Reads a shared data file and checks its SHA-256 against the published one; `what` names the
/// data set in the hint of a missing file.
fn read_verified(path: &Path, sha256: &str, what: &str) -> Result<Vec<u8>> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| Error::Io {
        path: shown.clone(),
        reason: format!(
            "{e}; {what} is expected in the shared data folder (see its README), or pass --data"
        ),
    })?;
    let digest: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
    if digest != sha256 {
        return Err(Error::weights(
            &shown,
            format!("SHA-256 is {digest}, expected {sha256}; the file is damaged — copy it again"),
        ));
    }
    Ok(bytes)
}

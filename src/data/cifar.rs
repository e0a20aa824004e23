//! CIFAR-10 in its binary layout, read from the shared data folder (never copied into the repo):
//! records of 1 label byte and 3,072 pixel bytes (1,024 R, then G, then B, each 32×32 row-major).
//! Every file's SHA-256 is checked against the published one before use.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

pub const RECORD: usize = 1 + PIXELS;
pub const PIXELS: usize = 3 * 32 * 32;
pub const RECORDS_PER_FILE: usize = 10_000;
pub const CLASSES: [&str; 10] =
    ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

/// The files and their SHA-256, as listed in shared/data/README.md.
const TRAIN: [(&str, &str); 5] = [
    ("data_batch_1.bin", "960140f4c79a698ce0735627a3fe732e41ccc6449e4d63a0f9df01739c27a528"),
    ("data_batch_2.bin", "a43033a717a66ce8fde40adb325b037d37f412d117dcd45b637feff49c4a0982"),
    ("data_batch_3.bin", "de24c752f508e06affd14fec0dd4c001e3e196273faac9a9c5e3374c8277fbfd"),
    ("data_batch_4.bin", "f92b9d79867fcf85ec8d5bd79ad14a2a5a2d27d84a70d224d414fdeb9622d496"),
    ("data_batch_5.bin", "2d3267de4f40c6af0669762f61c7799496081a2b3a052f1922d8658bb7f80877"),
];
const TEST: [(&str, &str); 1] =
    [("test_batch.bin", "68817301c725d8fd68332395d8fd2ed089ee7a73836849d9bcb6d35772ef46f6")];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Train,
    Test,
}

/// Images as bytes, channel-first, with their labels.
#[derive(Debug, Clone)]
pub struct Cifar {
    pub pixels: Vec<u8>,
    pub labels: Vec<u8>,
}

impl Cifar {
    /// Reads a split from `dir` (the folder holding `data_batch_*.bin` and `test_batch.bin`).
    pub fn load(dir: &Path, split: Split) -> Result<Cifar> {
        let files: &[(&str, &str)] = match split {
            Split::Train => &TRAIN,
            Split::Test => &TEST,
        };
        let mut out = Cifar { pixels: Vec::new(), labels: Vec::new() };
        for (name, sha256) in files {
            let path = dir.join(name);
            let shown = path.display().to_string();
            let bytes = std::fs::read(&path).map_err(|e| Error::Io {
                path: shown.clone(),
                reason: format!("{e}; CIFAR-10 is expected in the shared data folder (see its README), or pass --data"),
            })?;
            out.append(&shown, &bytes, sha256)?;
        }
        Ok(out)
    }

    fn append(&mut self, path: &str, bytes: &[u8], sha256: &str) -> Result<()> {
        if bytes.len() != RECORDS_PER_FILE * RECORD {
            return Err(Error::weights(
                path,
                format!(
                    "{} bytes, expected {} ({RECORDS_PER_FILE} records of {RECORD}); the file is truncated or not CIFAR-10 binary",
                    bytes.len(),
                    RECORDS_PER_FILE * RECORD
                ),
            ));
        }
        let digest: String = Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect();
        if digest != sha256 {
            return Err(Error::weights(
                path,
                format!(
                    "SHA-256 is {digest}, expected {sha256}; the file is damaged — copy it again"
                ),
            ));
        }
        for record in bytes.chunks_exact(RECORD) {
            if record[0] as usize >= CLASSES.len() {
                return Err(Error::weights(
                    path,
                    format!("label {} out of range 0..10", record[0]),
                ));
            }
            self.labels.push(record[0]);
            self.pixels.extend_from_slice(&record[1..]);
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Image `i` as channel-first values in [-1, 1], the generator's tanh range.
    pub fn image(&self, i: usize) -> impl Iterator<Item = f32> + '_ {
        self.pixels[i * PIXELS..(i + 1) * PIXELS].iter().map(|&p| p as f32 / 127.5 - 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_file(label: u8) -> Vec<u8> {
        (0..RECORDS_PER_FILE)
            .flat_map(|i| {
                std::iter::once(label).chain((0..PIXELS).map(move |p| ((i + p) % 256) as u8))
            })
            .collect()
    }

    #[test]
    fn bad_files_are_named_with_the_reason() {
        let mut data = Cifar { pixels: vec![], labels: vec![] };
        let good = fake_file(3);
        let err = data.append("x.bin", &good[..good.len() - 1], "00").unwrap_err().to_string();
        assert!(err.contains("x.bin") && err.contains("truncated"), "{err}");
        let err = data.append("x.bin", &good, "00").unwrap_err().to_string();
        assert!(err.contains("x.bin: SHA-256 is") && err.contains("expected 00"), "{err}");
        let digest: String = Sha256::digest(&good).iter().map(|b| format!("{b:02x}")).collect();
        data.append("x.bin", &good, &digest).unwrap();
        assert_eq!(data.len(), RECORDS_PER_FILE);
        assert_eq!(data.labels[0], 3);
        let first: Vec<f32> = data.image(0).take(2).collect();
        assert_eq!(first, [-1.0, 1.0 / 127.5 - 1.0]);

        let bad_label = fake_file(10);
        let digest: String =
            Sha256::digest(&bad_label).iter().map(|b| format!("{b:02x}")).collect();
        assert!(
            data.append("y.bin", &bad_label, &digest)
                .unwrap_err()
                .to_string()
                .contains("label 10 out of range")
        );
    }

    #[test]
    fn a_missing_folder_says_where_the_data_should_be() {
        let err = Cifar::load(Path::new("/nonexistent"), Split::Test).unwrap_err().to_string();
        assert!(
            err.contains("/nonexistent/test_batch.bin") && err.contains("shared data folder"),
            "{err}"
        );
    }
}

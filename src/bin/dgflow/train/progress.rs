//! How a training run shows its progress: a bar with ETA on a terminal (a line per checkpoint
//! otherwise), and a CSV log appended to across resumes.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

/// A checkpoint's CSV line: appended to the log, and printed when no progress bar shows.
pub fn checkpoint_line(
    log: &mut Option<std::fs::File>,
    bar: &indicatif::ProgressBar,
    line: &str,
) -> Result<()> {
    if let Some(file) = log.as_mut() {
        writeln!(file, "{line}")?;
    }
    if bar.is_hidden() {
        println!("{line}");
    }
    Ok(())
}

/// A CSV log opened for appending, with `header` written when the file is new.
pub fn open_log(path: Option<&Path>, header: &str) -> Result<Option<std::fs::File>> {
    let Some(path) = path else { return Ok(None) };
    let fresh = !path.exists();
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    if fresh {
        writeln!(file, "{header}")?;
    }
    Ok(Some(file))
}

/// A progress bar with ETA, at `position` of `length`; hidden (and the caller prints lines
/// instead) when the output is not a terminal.
pub fn progress_bar(position: u64, length: u64) -> Result<indicatif::ProgressBar> {
    let bar = indicatif::ProgressBar::new(length);
    bar.set_style(indicatif::ProgressStyle::with_template(
        "{bar:40} {pos}/{len} [{elapsed_precise} < {eta_precise}] {msg}",
    )?);
    bar.set_position(position.min(length));
    bar.reset_eta();
    Ok(bar)
}

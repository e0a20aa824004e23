//! A run resumed from its checkpoint goes on with the settings it began with, which the
//! checkpoint holds; a flag that says otherwise (given, or by its default) is refused rather than
//! silently ignored, so that no one believes a resumed run took a new learning rate or seed.

use std::fmt::Display;
use std::path::Path;

use anyhow::{Result, bail};

/// One setting: the flag, the checkpoint's value and the command's.
pub type Setting = (&'static str, String, String);

pub fn setting(flag: &'static str, saved: impl Display, given: impl Display) -> Setting {
    (flag, saved.to_string(), given.to_string())
}

/// Refuses the settings whose command value differs from the checkpoint's.
pub fn refuse_changed(checkpoint: &Path, settings: &[Setting]) -> Result<()> {
    let changed: Vec<String> = settings
        .iter()
        .filter(|(_, saved, given)| saved != given)
        .map(|(flag, saved, given)| format!("{flag} {given} (the checkpoint's: {saved})"))
        .collect();
    if changed.is_empty() {
        return Ok(());
    }
    bail!(
        "{} was started with other settings than this command's: {}. A run resumes with the \
         settings it began with: give its flags (a flag left out counts as its default), or start \
         a new run, with its own --checkpoint, from the bundle it wrote (--init)",
        checkpoint.display(),
        changed.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changed_settings_are_refused_and_each_is_named() {
        let path = Path::new("run.ckpt");
        assert!(refuse_changed(path, &[setting("--lr", 2e-4f32, 2e-4f32)]).is_ok());
        let message = refuse_changed(
            path,
            &[
                setting("--lr", 2e-4f32, 1e-4f32),
                setting("--batch", 64, 64),
                setting("--seed", 4, 0),
            ],
        )
        .unwrap_err()
        .to_string();
        assert!(message.starts_with("run.ckpt was started with other settings"), "{message}");
        assert!(
            message.contains(
                "--lr 0.0001 (the checkpoint's: 0.0002), --seed 0 (the checkpoint's: 4)."
            ),
            "{message}"
        );
        assert!(!message.contains("--batch"), "{message}");
    }
}

//! The crate's one error type. Every variant names the thing that is wrong (file, field, value)
//! and, in its message, a way out.

use std::fmt;

pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bundle file could not be read at all.
    #[error("{path}: cannot read ({reason}); check that the model bundle exists and is complete")]
    Io { path: String, reason: String },

    /// The manifest is not valid JSON or does not match the bundle schema.
    #[error(
        "{path}: {reason}; see the manifest of a bundled model in models/ for the expected fields"
    )]
    Manifest { path: String, reason: String },

    /// The weights file is malformed, truncated, or disagrees with the manifest.
    #[error("{path}: {reason}")]
    Weights { path: String, reason: String },

    /// A refinement or model parameter is out of its valid range.
    #[error("invalid {name} = {value}: {expected}")]
    Parameter { name: &'static str, value: String, expected: String },

    /// A training run cannot go on from its checkpoint with the settings it was given.
    #[error("{path}: {reason}")]
    Resume { path: String, reason: String },

    /// A refinement ran away: a logit became infinite or NaN.
    #[error("the flow diverged at step {step} (sample {sample} has logit {logit}); lower η or γ")]
    Diverged { step: usize, sample: usize, logit: f32 },

    /// A quantity a method needs could not be estimated from the model.
    #[error("cannot estimate {of}: {reason}")]
    Estimate { of: &'static str, reason: String },

    /// A compute backend could not be opened or failed while running.
    #[error("{backend}: {reason}")]
    Backend { backend: &'static str, reason: String },
}

impl Error {
    pub(crate) fn parameter(
        name: &'static str,
        value: impl fmt::Display,
        expected: impl Into<String>,
    ) -> Self {
        Error::Parameter { name, value: value.to_string(), expected: expected.into() }
    }

    pub(crate) fn weights(path: &str, reason: impl Into<String>) -> Self {
        Error::Weights { path: path.to_string(), reason: reason.into() }
    }

    pub(crate) fn manifest(path: &str, reason: impl Into<String>) -> Self {
        Error::Manifest { path: path.to_string(), reason: reason.into() }
    }
}

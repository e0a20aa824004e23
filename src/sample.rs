//! What a sample is. Its kind decides how it is shown (see `render`) and which refinement
//! spaces make sense (see `flow::settings`); the bundle format names it in every manifest.

use serde::{Deserialize, Serialize};

/// The kind of a model's samples.
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

impl SampleKind {
    /// Whether samples of this kind can be refined directly (data space). A text sample is a
    /// distribution over characters at each position: a step in data space would leave the
    /// simplex, and nothing decodes what lies off it.
    pub fn refinable_in_data_space(self) -> bool {
        self != SampleKind::Text
    }
}

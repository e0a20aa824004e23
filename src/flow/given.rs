//! What a run may be given instead of drawing it from its seed: its starting latents and the
//! noise of its steps (`dgflow refine --latents`, `--noise`), checked against the run.

use super::settings::FlowConfig;
use crate::error::{Error, Result};

/// What a run may be given instead of drawing it from its seed, so that a paper's figure or an
/// external reference's run can be replayed sample for sample: the starting latents
/// (`[batch, latent_dim]`, row-major) and the noise ξ each step adds (`[steps, batch, dim]`, dim
/// the refined state's: the latent's, or in data space the sample's).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Given {
    pub latents: Option<Vec<f32>>,
    pub noise: Option<Vec<f32>>,
}

impl Given {
    /// Refuses latents that do not fit the run, naming what was expected.
    pub(super) fn check_latents(&self, config: &FlowConfig, latent_dim: usize) -> Result<()> {
        let Some(latents) = &self.latents else { return Ok(()) };
        let want = config.batch * latent_dim;
        let expected =
            format!("batch × latent dimension = {} × {latent_dim} = {want}", config.batch);
        fitting("latents", latents, want, expected)
    }

    /// Refuses noise that does not fit the run (whose refined state has `state_dim` values per
    /// sample), naming what was expected.
    pub(super) fn check_noise(&self, config: &FlowConfig, state_dim: usize) -> Result<()> {
        let Some(noise) = &self.noise else { return Ok(()) };
        if !config.adds_noise() {
            return Err(Error::parameter(
                "noise",
                format!("{} values", noise.len()),
                format!(
                    "{} with γ = {} adds no noise to replay; leave it out",
                    config.method.name(),
                    config.gamma
                ),
            ));
        }
        let want = config.steps * config.batch * state_dim;
        let expected = format!(
            "steps × batch × dimension = {} × {} × {state_dim} = {want}",
            config.steps, config.batch
        );
        fitting("noise", noise, want, expected)
    }
}

/// Refuses `values` unless there are `want` of them (`expected` says how many, and why) and all
/// are finite.
fn fitting(name: &'static str, values: &[f32], want: usize, expected: String) -> Result<()> {
    if values.len() != want {
        return Err(Error::parameter(
            name,
            format!("{} values", values.len()),
            format!("expected {expected}"),
        ));
    }
    match values.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(Error::parameter(name, values[i], format!("value {i} is not finite"))),
        None => Ok(()),
    }
}

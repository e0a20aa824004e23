//! What a run may be given instead of drawing it from its seed: its starting latents and the
//! noise of its steps (`dgflow refine --latents`, `--noise`), checked against the run.

use super::settings::{FlowConfig, Method};
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
        if let Some(latents) = &self.latents {
            let want = config.batch * latent_dim;
            if latents.len() != want {
                return Err(Error::parameter(
                    "latents",
                    format!("{} values", latents.len()),
                    format!(
                        "expected batch × latent dimension = {} × {latent_dim} = {want}",
                        config.batch
                    ),
                ));
            }
            finite("latents", latents)?;
        }
        Ok(())
    }

    /// Refuses noise that does not fit the run (whose refined state has `state_dim` values per
    /// sample), naming what was expected.
    pub(super) fn check_noise(&self, config: &FlowConfig, state_dim: usize) -> Result<()> {
        if let Some(noise) = &self.noise {
            if config.method.selects() || config.method == Method::Dot || config.gamma == 0.0 {
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
            if noise.len() != want {
                return Err(Error::parameter(
                    "noise",
                    format!("{} values", noise.len()),
                    format!(
                        "expected steps × batch × dimension = {} × {} × {state_dim} = {want}",
                        config.steps, config.batch
                    ),
                ));
            }
            finite("noise", noise)?;
        }
        Ok(())
    }
}

fn finite(name: &'static str, values: &[f32]) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(Error::parameter(name, values[i], format!("value {i} is not finite"))),
        None => Ok(()),
    }
}

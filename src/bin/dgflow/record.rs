//! Records of runs for the independent PyTorch reference (`tests/reference/`): everything random
//! that a run drew, and what it computed, in one safetensors file. The reference replays the same
//! inputs with its own layers, spectral norm, batch norm, autograd and Adam and compares.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::json;

use dgflow::bundle::Latent;
use dgflow::flow::select::Rule;
use dgflow::flow::{FlowConfig, Method, Space, Step, burn_in_latents, calibration_latents};
use dgflow::model::network::HostWeights;
use dgflow::train::checkpoint;
use dgflow::train::gan::{IterationInputs, Losses, TrainConfig};

/// A refinement as it ran: the starting latents, the noise of every step, DOT's reference batch,
/// and every step's state, samples and logits.
/// DRS and MH-GAN add DRS's burn-in latents and the rule it started with (or MH-GAN's
/// calibration), and per step the fresh latents drawn for every slot, the uniforms and which
/// samples were accepted.
pub struct RefineRecord {
    tensors: Vec<(String, Vec<f32>)>,
    config: FlowConfig,
    latent_dim: usize,
    rule: serde_json::Value,
}

impl RefineRecord {
    /// `z0`: the latents the run started from; `rule`: the selection method's rule as the run
    /// starts (`Refiner::rule`).
    pub fn new(
        config: &FlowConfig,
        latent: &Latent,
        z0: Vec<f32>,
        rule: Option<Rule>,
    ) -> RefineRecord {
        let (latent_dim, prior) = (latent.dim, latent.prior);
        let mut tensors = vec![("z0".to_string(), z0)];
        tensors.push(("calibration".into(), calibration_latents(config.seed, latent_dim, prior)));
        if config.method == Method::Drs {
            tensors.push(("burn_in".into(), burn_in_latents(config.seed, latent_dim, prior)));
        }
        let rule = match rule {
            Some(Rule::Rejection { d_max, shift }) => json!({ "d_max": d_max, "shift": shift }),
            Some(Rule::Chain { calibration }) => json!({ "calibration": calibration }),
            None => serde_json::Value::Null,
        };
        RefineRecord { tensors, config: config.clone(), latent_dim, rule }
    }

    /// Adds a step, and the noise (flows) or the draws (selection methods) that led to it.
    /// Every step must be kept (`Keep::All`).
    pub fn push(
        &mut self,
        step: &Step,
        noise: Option<&[f32]>,
        drawn: Option<(Option<&[f32]>, &[f32])>,
    ) -> Result<()> {
        let k = step.index;
        if let Some(xi) = noise {
            self.tensors.push((format!("noise/{k}"), xi.to_vec()));
        }
        if let Some((fresh, uniforms)) = drawn {
            if let Some(fresh) = fresh {
                self.tensors.push((format!("fresh/{k}"), fresh.to_vec()));
            }
            self.tensors.push((format!("uniforms/{k}"), uniforms.to_vec()));
        }
        if let Some(accepted) = &step.accepted {
            let flags = accepted.iter().map(|&a| f32::from(u8::from(a))).collect();
            self.tensors.push((format!("accepted/{k}"), flags));
        }
        let samples = step.samples.clone().context("a recorded run keeps every step's samples")?;
        if self.config.space == Space::Latent {
            self.tensors.push((
                format!("latents/{k}"),
                step.latents.clone().context("latent-space steps carry latents")?,
            ));
        }
        self.tensors.push((format!("samples/{k}"), samples));
        self.tensors.push((format!("logits/{k}"), step.logits.clone()));
        Ok(())
    }

    pub fn write(self, path: &Path, k_eff: f32, thermalize: usize) -> Result<()> {
        let meta = json!({ "config": self.config, "latent_dim": self.latent_dim, "k_eff": k_eff, "thermalize": thermalize, "rule": self.rule });
        checkpoint::write(path, self.tensors, meta)
            .with_context(|| format!("writing {}", path.display()))
    }
}

/// A few training iterations: the weights before, every iteration's inputs and losses, the
/// weights after (all parameters, spectral-norm vectors and running statistics).
pub struct TrainRecord {
    tensors: Vec<(String, Vec<f32>)>,
    losses: Vec<serde_json::Value>,
    first: u64,
}

impl TrainRecord {
    pub fn new(before: HostWeights, first_iteration: u64) -> TrainRecord {
        let tensors = before.into_iter().map(|(k, (_, v))| (format!("before/{k}"), v)).collect();
        TrainRecord { tensors, losses: Vec::new(), first: first_iteration }
    }

    /// Adds an iteration; `trace` is what its steps traced (kept for the first iteration only:
    /// later ones start from states the reference only approximates).
    pub fn push(
        &mut self,
        iteration: u64,
        inputs: &IterationInputs,
        losses: &Losses,
        trace: Vec<(String, Vec<f32>)>,
    ) {
        if iteration == self.first {
            let mut seen = std::collections::HashSet::new();
            for (key, values) in trace {
                // Only each network's first step: one critic step, then the generator step.
                if seen.insert(key.clone()) {
                    self.tensors.push((key, values));
                }
            }
        }
        for (k, (real, z)) in inputs.critic.iter().enumerate() {
            self.tensors.push((format!("iteration/{iteration}/critic/{k}/real"), real.clone()));
            self.tensors.push((format!("iteration/{iteration}/critic/{k}/z"), z.clone()));
        }
        self.tensors.push((format!("iteration/{iteration}/generator/z"), inputs.generator.clone()));
        self.losses.push(json!({
            "critic": losses.critic, "generator": nan_as_null(losses.generator),
            "real_logit": losses.real_logit, "fake_logit": losses.fake_logit,
        }));
    }

    pub fn write(
        mut self,
        path: &Path,
        after: HostWeights,
        config: &TrainConfig,
        manifest: &dgflow::bundle::Manifest,
    ) -> Result<()> {
        self.tensors.extend(after.into_iter().map(|(k, (_, v))| (format!("after/{k}"), v)));
        let meta = json!({ "config": config, "manifest": manifest, "first_iteration": self.first, "losses": self.losses });
        checkpoint::write(path, self.tensors, meta)
            .with_context(|| format!("writing {}", path.display()))
    }
}

/// JSON has no NaN (a critic-only iteration has no generator loss).
fn nan_as_null(x: f32) -> serde_json::Value {
    if x.is_nan() { serde_json::Value::Null } else { json!(x) }
}

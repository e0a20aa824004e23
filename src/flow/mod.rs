//! Refinement flows: DGflow (KL, JS, log D) and the baselines DDLS and DOT, and the selection
//! methods DRS and MH-GAN, behind one stepper.
//!
//! [`Refiner`] advances one step per call so a caller (the CLI's loop, the browser worker's
//! awaits) can show progress, stream steps and cancel. Only gradients with respect to the refined
//! state (z, or x in data space) are computed: the model's weights are constants. Every step
//! reports the evaluations spent so far, so methods compare at equal compute.

pub mod budget;
pub mod ddls;
pub mod dgflow;
pub mod dot;
mod given;
pub mod probe;
pub mod select;
pub mod settings;

use burn::prelude::*;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::model::{Critic, Generator};
use crate::prior::Prior;
use crate::rng::{Noise, Stream};
pub use given::Given;
use select::{DRS_BURN_IN, Proposals, Rule, Slots};
pub use settings::{FlowConfig, Keep, Limits, Method, Recommended, Space};

/// Size of the reference batch DOT estimates k_eff on (drawn from its own seed stream).
pub const DOT_CALIBRATION: usize = 128;

/// One step of a trajectory, read back to the host.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// 0 is before refinement.
    pub index: usize,
    /// One logit per sample, kept for every step.
    pub logits: Vec<f32>,
    /// `[batch, latent_dim]`, when this step is kept and the flow runs in latent space.
    pub latents: Option<Vec<f32>>,
    /// `[batch, prod(sample_shape)]`, when this step is kept.
    pub samples: Option<Vec<f32>>,
    /// Selection methods only, per sample — DRS: it is an accepted proposal (the others show their
    /// latest rejected one); MH-GAN: its chain accepted this step's proposal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted: Option<Vec<bool>>,
    /// How many of the samples the method delivers: all of them, but for DRS the accepted ones.
    pub delivered: usize,
    /// What the run has spent up to and including this step.
    pub spent: Spent,
}

/// Evaluations a run has spent, counted in samples over the whole batch, setup included (DOT's
/// reference batch, DRS's burn-in). A step of a DGflow method in latent space costs each sample
/// one forward pass through generator and critic and one backward pass through both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Spent {
    /// Samples through the generator.
    pub generator: u64,
    /// Samples through the critic.
    pub critic: u64,
    /// Samples back through the critic (and the generator in latent space) for ∇ of the logit.
    pub backward: u64,
}

impl Spent {
    /// Critic evaluations, forward and backward, per delivered sample: the cost a budget counts
    /// (every method runs the critic once per forward pass, the generator with it in latent space).
    pub fn per_sample(&self, delivered: usize) -> f64 {
        (self.critic + self.backward) as f64 / delivered.max(1) as f64
    }
}

impl Step {
    pub fn mean_logit(&self) -> f32 {
        self.logits.iter().sum::<f32>() / self.logits.len() as f32
    }
}

/// A whole refinement, as [`refine`] returns it.
#[derive(Debug, Clone, Serialize)]
pub struct Trajectory {
    pub config: FlowConfig,
    pub steps: Vec<Step>,
}

/// A refinement in progress: call [`Refiner::next_step`] until it returns `None`.
/// It owns (handles to) its generator and critic, so it can live on in a browser worker.
pub struct Refiner<G: Generator, C: Critic> {
    generator: G,
    critic: C,
    config: FlowConfig,
    device: Device,
    /// z in latent space, x in data space.
    state: Tensor<2>,
    origin: Tensor<2>,
    noise: Noise,
    /// The ξ added by the latest step (none for step 0, DOT or γ = 0), for recording a run.
    added_noise: Option<Vec<f32>>,
    k_eff: f32,
    /// Drift at the current state, computed with its logits; `None` before step 0 is evaluated.
    drift: Option<Tensor<2>>,
    next_index: usize,
    spent: Spent,
    /// Selection methods: how they decide, what each sample's slot holds (from step 0 on), and
    /// the streams of their proposals and accept/reject draws.
    rule: Option<Rule>,
    slots: Option<Slots>,
    proposals: Noise,
    acceptance: Noise,
    /// What the latest selection step drew: fresh latents for every slot (none at step 0, whose
    /// proposals are the starting latents) and one uniform per slot, for recording a run.
    drawn: Option<(Option<Vec<f32>>, Vec<f32>)>,
    start: Vec<f32>,
    /// Noise to add instead of drawing it (`[steps, batch, dim]`), see [`Given`].
    given_noise: Option<Vec<f32>>,
}

impl<G: Generator, C: Critic> Refiner<G, C> {
    /// Draws the starting latents from `config.seed` and prepares the flow.
    pub async fn new(
        generator: G,
        critic: C,
        config: FlowConfig,
        device: &Device,
    ) -> Result<Refiner<G, C>> {
        Refiner::with_given(generator, critic, config, Given::default(), device).await
    }

    /// As [`Refiner::new`], starting from the latents and adding the noise of `given` where it
    /// has them (the seed still draws everything else).
    pub async fn with_given(
        generator: G,
        critic: C,
        config: FlowConfig,
        given: Given,
        device: &Device,
    ) -> Result<Refiner<G, C>> {
        config.validate(generator.sample_kind())?;
        let (dim, prior) = (generator.latent_dim(), generator.prior());
        given.check_latents(&config, dim)?;
        let start = given.latents.clone().unwrap_or_else(|| starting_latents(&config, dim, prior));
        let z0 =
            Tensor::<2>::from_data(TensorData::new(start.clone(), [config.batch, dim]), device);
        let mut spent = Spent::default();
        let state = match config.space {
            Space::Latent => z0,
            Space::Data => {
                spent.generator += config.batch as u64;
                generator.generate(z0)
            }
        };
        given.check_noise(&config, state.dims()[1])?;
        let k_eff = if config.method == Method::Dot {
            spent.generator += DOT_CALIBRATION as u64;
            spent.critic += DOT_CALIBRATION as u64;
            estimate_k_eff(&generator, &critic, &config, device).await?
        } else {
            1.0
        };
        let rule = match config.method {
            Method::Drs => {
                spent.generator += DRS_BURN_IN as u64;
                spent.critic += DRS_BURN_IN as u64;
                let burn_in = burn_in_logits(&generator, &critic, config.seed, device).await?;
                Some(Rule::rejection(&burn_in, config.percentile)?)
            }
            Method::MhGan => Some(Rule::Chain { calibration: critic.calibration() }),
            _ => None,
        };
        Ok(Refiner {
            generator,
            critic,
            noise: Noise::new(config.seed, Stream::StepNoise),
            proposals: Noise::new(config.seed, Stream::Proposals),
            acceptance: Noise::new(config.seed, Stream::Acceptance),
            added_noise: None,
            origin: state.clone(),
            state,
            config,
            device: device.clone(),
            k_eff,
            drift: None,
            next_index: 0,
            spent,
            rule,
            slots: None,
            drawn: None,
            start,
            given_noise: given.noise,
        })
    }

    /// The latents the run started from (`[batch, latent_dim]`): drawn from the seed or given.
    pub fn start(&self) -> &[f32] {
        &self.start
    }

    /// The fresh latents (`[batch, latent_dim]`; `None` at step 0) and the uniforms (one per
    /// sample) that the latest step of a selection method drew.
    pub fn drawn(&self) -> Option<(Option<&[f32]>, &[f32])> {
        self.drawn.as_ref().map(|(fresh, uniforms)| (fresh.as_deref(), uniforms.as_slice()))
    }

    /// How a selection method decides now (DRS's d* rises as larger logits turn up); `None` for
    /// the flows.
    pub fn rule(&self) -> Option<Rule> {
        self.slots.as_ref().map(|s| s.rule).or(self.rule)
    }

    pub fn config(&self) -> &FlowConfig {
        &self.config
    }

    /// DOT's k_eff (1 for the other methods).
    pub fn k_eff(&self) -> f32 {
        self.k_eff
    }

    /// The standard normal ξ the latest step added (before scaling by √(2ηγ)); `None` after
    /// step 0 and for flows without noise.
    pub fn added_noise(&self) -> Option<&[f32]> {
        self.added_noise.as_deref()
    }

    /// Returns step 0 (before refinement) on the first call, then one more flow step per call,
    /// and `None` after the last.
    pub async fn next_step(&mut self) -> Result<Option<Step>> {
        let index = self.next_index;
        if index > self.config.steps {
            return Ok(None);
        }
        if self.config.method.selects() {
            self.next_index += 1;
            return self.select(index).await.map(Some);
        }
        if let Some(drift) = self.drift.take() {
            self.advance(drift, index);
        }
        let last = index == self.config.steps;
        let (samples, logits, drift) = self.evaluate(!last);
        self.drift = drift;
        self.next_index += 1;

        let logits = read(logits).await?;
        if let Some(sample) = logits.iter().position(|d| !d.is_finite()) {
            return Err(Error::Diverged { step: index, sample, logit: logits[sample] });
        }
        let kept = self.config.keeps(index);
        let latents = if kept && self.config.space == Space::Latent {
            Some(read(self.state.clone()).await?)
        } else {
            None
        };
        let samples = if kept { Some(read(samples).await?) } else { None };
        let (accepted, delivered, spent) = (None, self.config.batch, self.spent);
        Ok(Some(Step { index, logits, latents, samples, accepted, delivered, spent }))
    }

    /// Step `index` of a selection method: the proposals of the slots still proposing (all of
    /// them at step 0), evaluated and judged.
    async fn select(&mut self, index: usize) -> Result<Step> {
        let (batch, dim) = (self.config.batch, self.generator.latent_dim());
        // Drawn for the whole batch at every step, so that a seed gives each slot the same
        // proposals whatever the other slots did.
        let uniforms = self.acceptance.uniform(batch);
        let (proposing, latents, fresh) = match &self.slots {
            None => ((0..batch).collect::<Vec<_>>(), read(self.state.clone()).await?, None),
            Some(slots) => {
                let fresh = self.generator.prior().sample(&mut self.proposals, batch * dim);
                let proposing = slots.proposing();
                let rows = proposing.iter().flat_map(|&i| fresh[i * dim..(i + 1) * dim].to_vec());
                let rows = rows.collect();
                (proposing, rows, Some(fresh))
            }
        };
        let (samples, logits) = if proposing.is_empty() {
            (Vec::new(), Vec::new())
        } else {
            let z = Tensor::<2>::from_data(
                TensorData::new(latents.clone(), [proposing.len(), dim]),
                &self.device,
            );
            let x = self.generator.generate(z);
            let d = self.critic.logit(x.clone());
            self.spent.generator += proposing.len() as u64;
            self.spent.critic += proposing.len() as u64;
            let (samples, logits) = (read(x).await?, read(d).await?);
            if let Some(row) = logits.iter().position(|d| !d.is_finite()) {
                return Err(Error::Diverged {
                    step: index,
                    sample: proposing[row],
                    logit: logits[row],
                });
            }
            (samples, logits)
        };
        let proposals =
            Proposals { slots: &proposing, latents: &latents, samples: &samples, logits: &logits };
        let slots = match self.slots.take() {
            Some(mut slots) => {
                slots.judge(proposals, &uniforms);
                slots
            }
            None => {
                let rule = self.rule.expect("a selection method has its rule from `new`");
                Slots::start(rule, proposals, &uniforms)
            }
        };
        let kept = self.config.keeps(index);
        let step = Step {
            index,
            logits: slots.logits.clone(),
            latents: kept.then(|| slots.latents.clone()),
            samples: kept.then(|| slots.samples.clone()),
            accepted: Some(slots.accepted.clone()),
            delivered: slots.delivered(),
            spent: self.spent,
        };
        self.slots = Some(slots);
        self.drawn = Some((fresh, uniforms));
        Ok(step)
    }

    /// Samples, logits and (unless `with_drift` is false) the drift at the current state.
    fn evaluate(&mut self, with_drift: bool) -> (Tensor<2>, Tensor<1>, Option<Tensor<2>>) {
        let batch = self.config.batch as u64;
        if self.config.space == Space::Latent {
            self.spent.generator += batch;
        }
        self.spent.critic += batch;
        if with_drift {
            self.spent.backward += batch;
        }
        if !with_drift {
            let samples = self.samples_of(self.state.clone());
            let logits = self.critic.logit(samples.clone());
            return (samples, logits, None);
        }
        let input = self.state.clone().autodiff().require_grad();
        let samples = self.samples_of(input.clone());
        let logits = self.critic.logit(samples.clone());
        let detached = logits.clone().without_autodiff();
        // Weighting each logit by the (constant) DGflow scale before the backward pass gives
        // s(dᵢ) ∇dᵢ for every sample in one gradient computation.
        let objective = match self.config.method {
            Method::DgflowKl | Method::DgflowJs | Method::DgflowLogD => {
                logits * dgflow::drift_scale(self.config.method, detached.clone())
            }
            Method::Ddls | Method::Dot => logits,
            Method::Drs | Method::MhGan => unreachable!("selection methods have no drift"),
        };
        let gradients = objective.sum().backward();
        let grad = input.grad(&gradients).expect("the refined state requires a gradient");
        let drift = match self.config.method {
            Method::DgflowKl | Method::DgflowJs | Method::DgflowLogD => grad,
            Method::Ddls => ddls::drift(self.state.clone(), grad, self.generator.prior()),
            Method::Dot => dot::drift(self.state.clone(), self.origin.clone(), grad, self.k_eff),
            Method::Drs | Method::MhGan => unreachable!("selection methods have no drift"),
        };
        (samples.without_autodiff(), detached, Some(drift))
    }

    fn samples_of(&self, state: Tensor<2>) -> Tensor<2> {
        match self.config.space {
            Space::Latent => self.generator.generate(state),
            Space::Data => state,
        }
    }

    /// Step `index`: `state ← state + η · drift + √(2ηγ) ξ` (DOT is plain gradient descent: no
    /// noise).
    fn advance(&mut self, drift: Tensor<2>, index: usize) {
        let FlowConfig { eta, gamma, method, .. } = self.config;
        let mut next = self.state.clone() + drift.mul_scalar(eta);
        if self.config.adds_noise() {
            let [batch, dim] = self.state.dims();
            let xi = match &self.given_noise {
                Some(all) => all[(index - 1) * batch * dim..index * batch * dim].to_vec(),
                None => self.noise.normal(batch * dim, 1.0),
            };
            self.added_noise = Some(xi.clone());
            let xi = Tensor::<2>::from_data(TensorData::new(xi, [batch, dim]), &self.device);
            next = next + xi.mul_scalar((2.0 * eta * gamma).sqrt());
        }
        // DDLS samples a density over the prior's support: it stays there.
        self.state =
            if method == Method::Ddls { self.generator.prior().confine(next) } else { next };
    }
}

/// Runs a whole refinement and keeps the steps `config.keep` asks for.
pub async fn refine(
    generator: impl Generator,
    critic: impl Critic,
    config: FlowConfig,
    device: &Device,
) -> Result<Trajectory> {
    let mut refiner = Refiner::new(generator, critic, config.clone(), device).await?;
    let mut steps = Vec::with_capacity(config.steps + 1);
    while let Some(step) = refiner.next_step().await? {
        steps.push(step);
    }
    Ok(Trajectory { config, steps })
}

/// The latents a refinement starts from (`[batch, dim]`, row-major), drawn from the seed.
pub fn starting_latents(config: &FlowConfig, dim: usize, prior: Prior) -> Vec<f32> {
    prior.sample(&mut Noise::new(config.seed, Stream::Latents), config.batch * dim)
}

/// `n` samples of the base model from the starting latents of `seed`: what step 0 of any flow
/// of that seed shows, read back.
pub async fn base_samples(
    generator: &impl Generator,
    n: usize,
    seed: u64,
    device: &Device,
) -> Result<Vec<f32>> {
    let (dim, prior) = (generator.latent_dim(), generator.prior());
    let config = FlowConfig { batch: n, seed, ..FlowConfig::default() };
    let z = starting_latents(&config, dim, prior);
    let z = Tensor::<2>::from_data(TensorData::new(z, [n, dim]), device);
    read(generator.generate(z)).await
}

/// DOT's reference batch (`[DOT_CALIBRATION, dim]`), from its own stream of the seed.
pub fn calibration_latents(seed: u64, dim: usize, prior: Prior) -> Vec<f32> {
    prior.sample(&mut Noise::new(seed, Stream::Calibration), DOT_CALIBRATION * dim)
}

/// DRS's burn-in latents (`[DRS_BURN_IN, dim]`), from their own stream of `seed`.
pub fn burn_in_latents(seed: u64, dim: usize, prior: Prior) -> Vec<f32> {
    prior.sample(&mut Noise::new(seed, Stream::BurnIn), DRS_BURN_IN * dim)
}

/// The critic's logits of DRS's burn-in batch.
async fn burn_in_logits(
    generator: &impl Generator,
    critic: &impl Critic,
    seed: u64,
    device: &Device,
) -> Result<Vec<f32>> {
    let dim = generator.latent_dim();
    let z = Tensor::<2>::from_data(
        TensorData::new(burn_in_latents(seed, dim, generator.prior()), [DRS_BURN_IN, dim]),
        device,
    );
    read(critic.logit(generator.generate(z))).await
}

async fn estimate_k_eff(
    generator: &impl Generator,
    critic: &impl Critic,
    config: &FlowConfig,
    device: &Device,
) -> Result<f32> {
    let dim = generator.latent_dim();
    let z = calibration_latents(config.seed, dim, generator.prior());
    let z = Tensor::<2>::from_data(TensorData::new(z, [DOT_CALIBRATION, dim]), device);
    let x = generator.generate(z.clone());
    let logits = read(critic.logit(x.clone())).await?;
    let (points, width) = match config.space {
        Space::Latent => (read(z).await?, dim),
        Space::Data => {
            let width = x.dims()[1];
            (read(x).await?, width)
        }
    };
    dot::effective_lipschitz(&points, &logits, width).ok_or_else(|| Error::Estimate {
        of: "DOT's k_eff",
        reason: "the critic gives the same logit everywhere on the reference batch; is the critic trained?".into(),
    })
}

/// Reads a tensor back to the host; asynchronous because the browser's WebGPU requires it.
pub async fn read<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    let data = t
        .into_data_async()
        .await
        .map_err(|e| Error::Backend { backend: "readback", reason: format!("{e:?}") })?;
    data.try_into_vec::<f32>()
        .map_err(|e| Error::Backend { backend: "readback", reason: format!("{e:?}") })
}

#[cfg(test)]
mod selection_tests;
#[cfg(test)]
mod tests;

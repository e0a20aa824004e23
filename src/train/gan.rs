//! The GAN trainer: a generator and a critic trained in turns on the logistic or Wasserstein
//! loss, with spectral normalisation, an optional average of the trained weights, and a trace of
//! each iteration for the PyTorch reference.

use burn::prelude::*;
use burn::tensor::Gradients;
use burn::tensor::activation::softplus;
use serde::{Deserialize, Serialize};

use super::adam::Adam;
use super::average;
use super::params::{
    apply_state, descend, device_params, host_params, is_trainable, scalar, with_grad,
};
use super::real_data::RealData;
use crate::bundle::{Bundle, Manifest};
use crate::model::network::{DeviceParams, HostWeights, Network, TrainingState};
use crate::rng::{Noise, Stream};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub batch: usize,
    pub lr_generator: f32,
    pub lr_critic: f32,
    pub beta1: f32,
    pub beta2: f32,
    /// Critic updates per generator update (WGAN's n_critic).
    pub critic_steps: usize,
    pub seed: u64,
    #[serde(default)]
    pub loss: GanLoss,
    /// Train the critic alone (the generator frozen): the logistic fine-tune that turns a
    /// Wasserstein critic into the density-ratio estimator DGflow needs.
    #[serde(default)]
    pub critic_only: bool,
    /// Keep an exponential moving average of the trained network's weights with this decay (e.g.
    /// 0.999): the generator's, or in a critic-only fit the critic's; bundles then ship the
    /// average (see `average`).
    #[serde(default)]
    pub average_decay: Option<f32>,
}

/// The adversarial objective.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum GanLoss {
    /// Non-saturating / logistic: the critic's logit estimates log p_data/p_G (what DGflow-KL needs).
    #[default]
    Logistic,
    /// Wasserstein with a spectrally normalised critic: steadier for the softmax outputs of the
    /// text generator, but its critic is no density ratio until fine-tuned with `Logistic`.
    Wasserstein,
}

/// What one iteration draws: each critic step's real batch and latents (flat, row-major), then
/// the generator step's latents.
#[derive(Debug, Clone, PartialEq)]
pub struct IterationInputs {
    pub critic: Vec<(Vec<f32>, Vec<f32>)>,
    pub generator: Vec<f32>,
}

/// Losses of one step.
#[derive(Debug, Clone, Copy)]
pub struct Losses {
    pub critic: f32,
    pub generator: f32,
    /// Mean critic logit on real and on generated samples.
    pub real_logit: f32,
    pub fake_logit: f32,
}

pub struct GanTrainer {
    pub manifest: Manifest,
    pub config: TrainConfig,
    /// Every tensor of the bundle (weights, spectral-norm vectors, running statistics).
    pub params: DeviceParams,
    pub adam_generator: Adam,
    pub adam_critic: Adam,
    /// The trained network's averaged weights, while `config.average_decay` is set.
    pub average: Option<DeviceParams>,
    pub iteration: u64,
    /// When set, each step appends what a reference implementation checks, under record keys:
    /// its gradients as `gradients/(critic|generator)/<parameter>`, and a critic step's generated
    /// samples as `generated/critic` (costs a readback per tensor).
    pub trace: Option<Vec<(String, Vec<f32>)>>,
    device: Device,
}

impl GanTrainer {
    pub fn new(bundle: &Bundle, config: TrainConfig, device: &Device) -> GanTrainer {
        let params = device_params(&bundle.weights, device);
        GanTrainer {
            manifest: bundle.manifest.clone(),
            adam_generator: Adam::new(config.lr_generator, config.beta1, config.beta2),
            adam_critic: Adam::new(config.lr_critic, config.beta1, config.beta2),
            average: config
                .average_decay
                .map(|_| average::start(&params, average::averaged_network(config.critic_only))),
            config,
            params,
            iteration: 0,
            trace: None,
            device: device.clone(),
        }
    }

    fn tensor(&self, values: Vec<f32>, rows: usize) -> Tensor<2> {
        let cols = values.len() / rows;
        Tensor::<2>::from_data(TensorData::new(values, [rows, cols]), &self.device)
    }

    /// The random inputs of the next iteration: they depend only on the seed and the iteration,
    /// so a resumed run (or a reference implementation replaying a record) sees the same ones.
    pub fn inputs(&self, data: &dyn RealData) -> IterationInputs {
        let (n, latent, steps) =
            (self.config.batch, self.manifest.latent.dim, self.config.critic_steps as u64);
        let prior = self.manifest.latent.prior;
        let mut noise = Noise::at(self.config.seed, Stream::Training, self.iteration);
        let critic = (0..steps)
            .map(|k| {
                (data.batch(n, self.iteration * steps + k), prior.sample(&mut noise, n * latent))
            })
            .collect();
        IterationInputs { critic, generator: prior.sample(&mut noise, n * latent) }
    }

    pub fn step(&mut self, data: &dyn RealData) -> Losses {
        let inputs = self.inputs(data);
        self.step_on(inputs)
    }

    /// One iteration on the given inputs: every critic step, then (unless critic-only) the generator step.
    pub fn step_on(&mut self, inputs: IterationInputs) -> Losses {
        let (n, m) = (self.config.batch, &self.manifest.clone());
        let latent = m.latent.dim;
        let mut losses = Losses { critic: 0.0, generator: 0.0, real_logit: 0.0, fake_logit: 0.0 };
        for (real, z) in inputs.critic {
            losses = self.critic_step(m, self.tensor(real, n), self.tensor(z, n));
        }
        if self.config.critic_only {
            self.update_average();
            self.iteration += 1;
            return Losses { generator: f32::NAN, ..losses };
        }
        let z_generator = self.tensor(inputs.generator, n);

        // Generator: non-saturating loss softplus(−d(G(z))), or −d(G(z)) for Wasserstein.
        // One state collects the critic's advanced SN vectors and the generator's batch statistics.
        let params = with_grad(&self.params, "generator.");
        let mut state = TrainingState::default();
        let generator =
            Network::training(&m.generator, &[latent], "generator", &params, &mut state);
        let critic = Network::training(&m.critic, &m.sample_shape, "critic", &params, &mut state);
        let fake = generator.forward_recording(z_generator, &mut state);
        let d_fake = critic.forward_flat(fake);
        let generator_loss = match self.config.loss {
            GanLoss::Logistic => softplus(d_fake.neg(), 1.0).mean(),
            GanLoss::Wasserstein => d_fake.mean().neg(),
        };
        let generator_loss_value = scalar(generator_loss.clone());
        let grads = generator_loss.backward();
        self.log_gradients("generator", &params, &grads);
        descend(&mut self.params, &mut self.adam_generator, &params, &grads, "generator.");
        apply_state(&mut self.params, state);
        self.update_average();

        self.iteration += 1;
        Losses { generator: generator_loss_value, ..losses }
    }

    fn update_average(&mut self) {
        if let (Some(decay), Some(average)) = (self.config.average_decay, self.average.as_mut()) {
            average::update(average, &self.params, decay);
        }
    }

    /// One critic update on a real batch and generated samples from latents `z`.
    fn critic_step(&mut self, m: &Manifest, real: Tensor<2>, z: Tensor<2>) -> Losses {
        let latent = m.latent.dim;
        // Critic: logistic loss softplus(−d(real)) + softplus(d(fake)), or d(fake) − d(real) for Wasserstein.
        let params = with_grad(&self.params, "critic.");
        // The generator's running statistics move only in its own step.
        let generator = Network::training(
            &m.generator,
            &[latent],
            "generator",
            &params,
            &mut TrainingState::default(),
        );
        let fake = generator.forward_flat(z);
        if let Some(trace) = self.trace.as_mut() {
            // The critic's gradients are checked on these inputs, apart from the generator's rounding.
            trace.push((
                "generated/critic".into(),
                fake.clone().into_data().try_into_vec::<f32>().expect("f32 samples"),
            ));
        }
        let mut d_state = TrainingState::default();
        let critic = Network::training(&m.critic, &m.sample_shape, "critic", &params, &mut d_state);
        let (d_real, d_fake) = if m.critic.samples_independent() {
            // One pass over both batches: the same logits, with each layer's weights prepared
            // and its work handed out once (PyTorch's recipe concatenates them too).
            let n = real.dims()[0];
            let both = critic.forward_flat(Tensor::cat(vec![real, fake], 0));
            (both.clone().slice(0..n), both.slice(n..2 * n))
        } else {
            (critic.forward_flat(real), critic.forward_flat(fake))
        };
        let real_logit = scalar(d_real.clone().mean());
        let fake_logit = scalar(d_fake.clone().mean());
        let critic_loss = match self.config.loss {
            GanLoss::Logistic => softplus(d_real.neg(), 1.0).mean() + softplus(d_fake, 1.0).mean(),
            GanLoss::Wasserstein => d_fake.mean() - d_real.mean(),
        };
        let critic_loss_value = scalar(critic_loss.clone());
        let grads = critic_loss.backward();
        self.log_gradients("critic", &params, &grads);
        descend(&mut self.params, &mut self.adam_critic, &params, &grads, "critic.");
        apply_state(&mut self.params, d_state);

        Losses { critic: critic_loss_value, generator: f32::NAN, real_logit, fake_logit }
    }

    fn log_gradients(&mut self, net: &str, graph_params: &DeviceParams, grads: &Gradients) {
        let Some(trace) = self.trace.as_mut() else { return };
        let prefix = format!("{net}.");
        for (name, p) in
            graph_params.iter().filter(|(k, _)| k.starts_with(&prefix) && is_trainable(k))
        {
            let grad = p.grad(grads).expect("parameters under the prefix require gradients");
            trace.push((
                format!("gradients/{net}/{name}"),
                grad.into_data().try_into_vec::<f32>().expect("f32 gradients"),
            ));
        }
    }

    /// The current weights, as a bundle's host weights.
    pub fn host_weights(&self) -> HostWeights {
        host_params(&self.params, self.manifest.params())
    }

    /// Starts averaging the trained network's weights (the critic's in a critic-only fit) from
    /// their current values (a new run, or a resumed one that did not average before).
    pub fn start_average(&mut self, decay: f32) {
        self.config.average_decay = Some(decay);
        self.average =
            Some(average::start(&self.params, average::averaged_network(self.config.critic_only)));
    }

    /// Whether the average holds the generator's weights (not a critic-only fit's critic).
    pub fn averages_generator(&self) -> bool {
        self.average.as_ref().is_some_and(|a| !average::covers_critic(a))
    }

    /// The parameters a bundle ships: with averaging, the averaged generator and its own
    /// batch-norm statistics, or the averaged critic and its settled spectral-norm vectors;
    /// otherwise the current ones.
    pub fn shipped_params(&self) -> DeviceParams {
        match &self.average {
            Some(average) if average::covers_critic(average) => {
                average::critic_averaged_params(&self.manifest, &self.params, average)
            }
            Some(average) => average::averaged_params(
                &self.manifest,
                &self.params,
                average,
                self.config.batch,
                average::STATISTICS_BATCHES,
                self.config.seed,
            ),
            None => self.params.clone(),
        }
    }

    /// Replaces the generator by its average and stops averaging: the critic-only fine-tune
    /// fits the critic to the generator that ships.
    pub fn adopt_average(&mut self) {
        debug_assert!(self.averages_generator(), "only a generator's average is adopted");
        self.params = self.shipped_params();
        self.average = None;
        self.config.average_decay = None;
    }

    /// What ships: see `shipped_params`.
    pub fn bundle(&self) -> Bundle {
        Bundle {
            manifest: self.manifest.clone(),
            weights: host_params(&self.shipped_params(), self.manifest.params()),
        }
    }
}

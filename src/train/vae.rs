//! A convolutional VAE (Kingma & Welling 2014) for images: an encoder to a diagonal Gaussian
//! posterior, DCGAN's generator as the decoder, a Gaussian likelihood of fixed σ and the N(0, I)
//! prior, trained on the negative ELBO with Adam. Only the decoder ships: refinement samples
//! from the prior and never encodes.

use std::collections::HashMap;
use std::path::Path;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::bundle::{Bundle, Latent, Prior};
use crate::error::{Error, Result};
use crate::model::network::{HostWeights, Network, TrainingState};
use crate::model::presets::{WeightInit, dcgan_generator, init_weights, vae_encoder};
use crate::model::spec::NetworkSpec;
use crate::rng::{Noise, Stream};
use crate::sample::SampleKind;
use crate::train::adam::Adam;
use crate::train::checkpoint::{self, SingleOptimiser};
use crate::train::params::{apply_state, descend, device_params, host_params, scalar, with_grad};
use crate::train::real_data::RealData;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VaeConfig {
    pub latent: usize,
    /// Channel-width multiplier of the encoder and the decoder.
    pub width: usize,
    /// Image side, a multiple of 8.
    pub size: usize,
    pub batch: usize,
    pub lr: f32,
    /// Standard deviation of the decoder's Gaussian likelihood, in the images' [-1, 1] units:
    /// smaller fits the training images more closely, larger makes prior samples more coherent.
    pub sigma: f32,
    pub seed: u64,
}

/// Per-image terms of the negative ELBO, in nats (the likelihood's constant left out).
#[derive(Debug, Clone, Copy)]
pub struct VaeLosses {
    pub reconstruction: f32,
    pub kl: f32,
}

pub struct VaeTrainer {
    pub state: SingleOptimiser<VaeConfig>,
    device: Device,
}

impl VaeConfig {
    pub fn encoder(&self) -> NetworkSpec {
        vae_encoder(self.latent, self.width, self.size)
    }

    pub fn decoder(&self) -> NetworkSpec {
        dcgan_generator(self.latent, self.width, self.size)
    }

    fn shapes(&self) -> HashMap<String, Vec<usize>> {
        self.encoder()
            .params("encoder")
            .into_iter()
            .chain(self.decoder().params("generator"))
            .map(|p| (p.name, p.shape))
            .collect()
    }

    fn adam(&self) -> Adam {
        Adam::new(self.lr, 0.9, 0.999)
    }
}

impl VaeTrainer {
    /// Fresh He-normal weights for the encoder (`encoder.*`) and decoder (`generator.*`).
    pub fn new(config: VaeConfig, device: &Device) -> VaeTrainer {
        let specs = config
            .encoder()
            .params("encoder")
            .into_iter()
            .chain(config.decoder().params("generator"));
        let params = device_params(&init_weights(specs, WeightInit::HeNormal, config.seed), device);
        let adam = config.adam();
        VaeTrainer {
            state: SingleOptimiser { config, params, adam, iteration: 0 },
            device: device.clone(),
        }
    }

    pub fn load(path: &Path, device: &Device) -> Result<VaeTrainer> {
        let state = checkpoint::load_single(path, VaeConfig::shapes, VaeConfig::adam, device)?;
        Ok(VaeTrainer { state, device: device.clone() })
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        checkpoint::save_single(path, &self.state)
    }

    pub fn iteration(&self) -> u64 {
        self.state.iteration
    }

    pub fn config(&self) -> &VaeConfig {
        &self.state.config
    }

    /// One step on the iteration's batch of `data` and its own posterior noise.
    pub fn step(&mut self, data: &dyn RealData) -> VaeLosses {
        let c = &self.state.config;
        let images = data.batch(c.batch, self.state.iteration);
        let noise = Noise::at(c.seed, Stream::Training, self.state.iteration)
            .normal(c.batch * c.latent, 1.0);
        self.step_on(images, noise)
    }

    /// One Adam step on the negative ELBO of `images` (flat, in [-1, 1]), reparameterised with
    /// the standard normal draws `noise` (batch × latent).
    pub fn step_on(&mut self, images: Vec<f32>, noise: Vec<f32>) -> VaeLosses {
        let c = self.state.config.clone();
        let (n, l) = (c.batch, c.latent);
        let x =
            Tensor::<2>::from_data(TensorData::new(images, [n, 3 * c.size * c.size]), &self.device);
        let eps = Tensor::<2>::from_data(TensorData::new(noise, [n, l]), &self.device);
        let graph = with_grad(&self.state.params, "");
        let mut state = TrainingState::default();
        let encoder =
            Network::training(&c.encoder(), &[3, c.size, c.size], "encoder", &graph, &mut state);
        let decoder = Network::training(&c.decoder(), &[l], "generator", &graph, &mut state);
        let posterior = encoder.forward_recording(x.clone(), &mut state);
        let mean = posterior.clone().slice([0..n, 0..l]);
        // Bounded so that an early outlier cannot overflow exp.
        let log_var = posterior.slice([0..n, l..2 * l]).clamp(-12.0, 8.0);
        let z = mean.clone() + (log_var.clone() * 0.5).exp() * eps;
        let reconstruction = decoder.forward_recording(z, &mut state);
        let rec =
            (x - reconstruction).square().sum_dim(1).mean().div_scalar(2.0 * c.sigma * c.sigma);
        let kl = (mean.square() + log_var.clone().exp() - log_var)
            .sub_scalar(1.0)
            .sum_dim(1)
            .mean()
            .mul_scalar(0.5);
        let losses = VaeLosses {
            reconstruction: scalar(rec.clone().reshape([1])),
            kl: scalar(kl.clone().reshape([1])),
        };
        let grads = (rec + kl).reshape([1]).backward();
        descend(&mut self.state.params, &mut self.state.adam, &graph, &grads, "");
        apply_state(&mut self.state.params, state);
        self.state.iteration += 1;
        losses
    }

    /// The decoder's weights (`generator.*`), as a bundle's.
    pub fn decoder_weights(&self) -> HostWeights {
        host_params(&self.state.params, self.state.config.decoder().params("generator"))
    }

    /// The decoder as a bundle's generator, with `critic`'s discriminator borrowed as its critic
    /// (it estimates log p_data/p_GAN for the GAN it was trained with; a corrector added by
    /// `train::corrector` turns that into log p_data/p_VAE).
    pub fn bundle(&self, name: &str, critic: &Bundle) -> Result<Bundle> {
        let c = &self.state.config;
        let m = &critic.manifest;
        if m.kind != SampleKind::Image || m.sample_shape != [3, c.size, c.size] {
            return Err(Error::manifest(
                &m.name,
                format!(
                    "the borrowed critic must judge {0}×{0} RGB images, it takes {1:?}",
                    c.size, m.sample_shape
                ),
            ));
        }
        let mut manifest = m.clone();
        manifest.name = name.into();
        manifest.latent = Latent { dim: c.latent, prior: Prior::STANDARD };
        manifest.generator = c.decoder();
        manifest.critic_terms.clear();
        manifest.recommended = None;
        // Written as training writes every bundle, whatever the lender's file holds.
        manifest.weights.encoding = Default::default();
        Ok(Bundle { manifest, weights: self.decoder_weights() }.with_critic_of(critic))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Blobs;

    /// Images that are one of two flat colours: a VAE learns them in a few steps.
    impl RealData for Blobs {
        fn batch(&self, n: usize, iteration: u64) -> Vec<f32> {
            (0..n)
                .flat_map(|i| {
                    vec![
                        if (i as u64 + iteration).is_multiple_of(2) { 0.5 } else { -0.5 };
                        3 * 8 * 8
                    ]
                })
                .collect()
        }
    }

    fn config() -> VaeConfig {
        VaeConfig { latent: 4, width: 4, size: 8, batch: 16, lr: 2e-3, sigma: 0.2, seed: 3 }
    }

    #[test]
    fn training_lowers_the_negative_elbo_and_resumes_bit_for_bit() {
        let device = crate::device::cpu();
        let mut trainer = VaeTrainer::new(config(), &device);
        let first = trainer.step(&Blobs);
        for _ in 0..40 {
            trainer.step(&Blobs);
        }
        let last = trainer.step(&Blobs);
        assert!(
            last.reconstruction + last.kl < 0.5 * (first.reconstruction + first.kl),
            "{first:?} → {last:?}"
        );

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vae.ckpt");
        trainer.save(&path).unwrap();
        let mut resumed = VaeTrainer::load(&path, &device).unwrap();
        assert_eq!(resumed.iteration(), trainer.iteration());
        let (a, b) = (trainer.step(&Blobs), resumed.step(&Blobs));
        assert_eq!((a.reconstruction, a.kl), (b.reconstruction, b.kl));
        assert_eq!(trainer.decoder_weights(), resumed.decoder_weights());
    }

    #[test]
    fn its_bundle_borrows_the_critic_and_refuses_one_of_another_shape() {
        let device = crate::device::cpu();
        let trainer = VaeTrainer::new(config(), &device);
        let gan = crate::model::presets::Architecture::Dcgan { latent: 6, width: 2, size: 8 }
            .init_bundle("gan", 1);
        let bundle = trainer.bundle("vae", &gan).unwrap();
        assert_eq!(bundle.manifest.latent.dim, 4);
        assert_eq!(bundle.manifest.critic, gan.manifest.critic);
        assert_eq!(bundle.weights["critic.out.weight"], gan.weights["critic.out.weight"]);
        let other = crate::model::presets::Architecture::Dcgan { latent: 6, width: 2, size: 16 }
            .init_bundle("big", 1);
        let error = trainer.bundle("vae", &other).unwrap_err().to_string();
        assert!(error.contains("8×8 RGB"), "{error}");
    }
}

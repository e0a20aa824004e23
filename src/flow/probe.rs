//! A model at given latents: its samples, the critic's logits and their gradient with respect to
//! the latents — what another implementation of the same model must reproduce to be the same
//! model (`dgflow probe`, the check of a bundle exported from PyTorch).

use burn::prelude::*;

use super::read;
use crate::error::Result;
use crate::model::{Critic, Generator};

/// G(z), d(G(z)) and ∇_z d(G(z)) at `latents` (`[n, latent_dim]`, row-major), read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// `[n, prod(sample_shape)]`.
    pub samples: Vec<f32>,
    /// `[n]`.
    pub logits: Vec<f32>,
    /// `[n, latent_dim]`.
    pub gradient: Vec<f32>,
}

pub async fn probe(
    generator: &impl Generator,
    critic: &impl Critic,
    latents: Vec<f32>,
    device: &Device,
) -> Result<Probe> {
    let dim = generator.latent_dim();
    let n = latents.len() / dim;
    let z = Tensor::<2>::from_data(TensorData::new(latents, [n, dim]), device)
        .autodiff()
        .require_grad();
    let samples = generator.generate(z.clone());
    let logits = critic.logit(samples.clone());
    // Each logit depends on its own sample only (the networks run in inference form), so the
    // gradient of their sum is every sample's own.
    let gradients = logits.clone().sum().backward();
    let gradient = z.grad(&gradients).expect("the latents require a gradient");
    Ok(Probe {
        samples: read(samples.without_autodiff()).await?,
        logits: read(logits.without_autodiff()).await?,
        gradient: read(gradient).await?,
    })
}

//! Generators and critics. Images, text (soft one-hot sequences) and 2D points all meet the flow
//! through the same two traits, on flattened `[batch, values]` tensors.

pub mod network;
pub mod presets;
pub mod spec;
pub mod spectral;

use burn::prelude::*;

use crate::bundle::{Bundle, Manifest};
use network::Network;

/// Maps latents `[batch, latent_dim]` to flattened samples `[batch, prod(sample_shape)]`.
pub trait Generator {
    fn latent_dim(&self) -> usize;
    fn generate(&self, z: Tensor<2>) -> Tensor<2>;
}

/// Maps flattened samples to one logit each, `[batch]`. A critic trained with the logistic
/// (non-saturating) loss estimates log p_data(x) / p_G(x), which is what DGflow-KL follows.
pub trait Critic {
    fn logit(&self, x: Tensor<2>) -> Tensor<1>;
}

impl<T: Generator + ?Sized> Generator for &T {
    fn latent_dim(&self) -> usize {
        (**self).latent_dim()
    }
    fn generate(&self, z: Tensor<2>) -> Tensor<2> {
        (**self).generate(z)
    }
}

impl<T: Critic + ?Sized> Critic for &T {
    fn logit(&self, x: Tensor<2>) -> Tensor<1> {
        (**self).logit(x)
    }
}

impl<T: Generator + ?Sized> Generator for std::rc::Rc<T> {
    fn latent_dim(&self) -> usize {
        (**self).latent_dim()
    }
    fn generate(&self, z: Tensor<2>) -> Tensor<2> {
        (**self).generate(z)
    }
}

impl<T: Critic + ?Sized> Critic for std::rc::Rc<T> {
    fn logit(&self, x: Tensor<2>) -> Tensor<1> {
        (**self).logit(x)
    }
}

/// A bundle built on one device.
#[derive(Debug, Clone)]
pub struct Model {
    pub manifest: Manifest,
    generator: Network,
    critic: Network,
}

impl Model {
    /// Builds a validated bundle. `thermalize` extra power iterations refine each spectral-norm
    /// estimate first, as the authors' code does by running the critic in training mode.
    pub fn build(bundle: &Bundle, thermalize: usize, device: &Device) -> Model {
        let m = &bundle.manifest;
        let generator = Network::build(&m.generator, &[m.latent.dim], "generator", &bundle.weights, thermalize, device);
        let critic = Network::build(&m.critic, &m.sample_shape, "critic", &bundle.weights, thermalize, device);
        Model { manifest: m.clone(), generator, critic }
    }

    pub fn sample_len(&self) -> usize {
        self.manifest.sample_shape.iter().product()
    }
}

impl Generator for Model {
    fn latent_dim(&self) -> usize {
        self.manifest.latent.dim
    }
    fn generate(&self, z: Tensor<2>) -> Tensor<2> {
        self.generator.forward_flat(z)
    }
}

impl Critic for Model {
    fn logit(&self, x: Tensor<2>) -> Tensor<1> {
        self.critic.forward_flat(x).squeeze_dim(1)
    }
}

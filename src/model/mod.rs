//! Generators and critics. Images, text (soft one-hot sequences) and 2D points all meet the flow
//! through the same two traits, on flattened `[batch, values]` tensors.

pub mod network;
pub mod presets;
pub mod spec;
pub mod spectral;

use burn::prelude::*;

use crate::bundle::{Bundle, Manifest};
use crate::flow::select::Calibration;
use crate::prior::Prior;
use crate::sample::SampleKind;
use network::Network;

/// Maps latents `[batch, latent_dim]` to flattened samples `[batch, prod(sample_shape)]`.
pub trait Generator {
    fn latent_dim(&self) -> usize;
    /// Where its latents come from.
    fn prior(&self) -> Prior;
    /// What the samples are, which decides the spaces they can be refined in.
    fn sample_kind(&self) -> SampleKind;
    fn generate(&self, z: Tensor<2>) -> Tensor<2>;
}

/// Maps flattened samples to one logit each, `[batch]`. A critic trained with the logistic
/// (non-saturating) loss estimates log p_data(x) / p_G(x), which is what DGflow-KL follows.
pub trait Critic {
    fn logit(&self, x: Tensor<2>) -> Tensor<1>;
    /// The map from this logit to a calibrated one, which MH-GAN's acceptance needs.
    fn calibration(&self) -> Calibration {
        Calibration::IDENTITY
    }
}

impl<T: Generator + ?Sized> Generator for &T {
    fn latent_dim(&self) -> usize {
        (**self).latent_dim()
    }
    fn prior(&self) -> Prior {
        (**self).prior()
    }
    fn sample_kind(&self) -> SampleKind {
        (**self).sample_kind()
    }
    fn generate(&self, z: Tensor<2>) -> Tensor<2> {
        (**self).generate(z)
    }
}

impl<T: Critic + ?Sized> Critic for &T {
    fn logit(&self, x: Tensor<2>) -> Tensor<1> {
        (**self).logit(x)
    }
    fn calibration(&self) -> Calibration {
        (**self).calibration()
    }
}

impl<T: Generator + ?Sized> Generator for std::rc::Rc<T> {
    fn latent_dim(&self) -> usize {
        (**self).latent_dim()
    }
    fn prior(&self) -> Prior {
        (**self).prior()
    }
    fn sample_kind(&self) -> SampleKind {
        (**self).sample_kind()
    }
    fn generate(&self, z: Tensor<2>) -> Tensor<2> {
        (**self).generate(z)
    }
}

impl<T: Critic + ?Sized> Critic for std::rc::Rc<T> {
    fn logit(&self, x: Tensor<2>) -> Tensor<1> {
        (**self).logit(x)
    }
    fn calibration(&self) -> Calibration {
        (**self).calibration()
    }
}

/// A bundle built on one device.
#[derive(Debug, Clone)]
pub struct Model {
    pub manifest: Manifest,
    generator: Network,
    critic: Network,
    /// Networks whose logits add to the critic's (a VAE's corrector).
    critic_terms: Vec<Network>,
}

impl Model {
    /// Builds a validated bundle. `thermalize` extra power iterations refine each spectral-norm
    /// estimate first, as the authors' code does by running the critic in training mode.
    pub fn build(bundle: &Bundle, thermalize: usize, device: &Device) -> Model {
        let m = &bundle.manifest;
        let generator = Network::build(
            &m.generator,
            &[m.latent.dim],
            "generator",
            &bundle.weights,
            thermalize,
            device,
        );
        let critic = Network::build(
            &m.critic,
            &m.sample_shape,
            "critic",
            &bundle.weights,
            thermalize,
            device,
        );
        let critic_terms = m
            .critic_terms
            .iter()
            .map(|t| {
                Network::build(
                    &t.network,
                    &m.sample_shape,
                    &t.name,
                    &bundle.weights,
                    thermalize,
                    device,
                )
            })
            .collect();
        Model { manifest: m.clone(), generator, critic, critic_terms }
    }
}

impl Generator for Model {
    fn latent_dim(&self) -> usize {
        self.manifest.latent.dim
    }
    fn prior(&self) -> Prior {
        self.manifest.latent.prior
    }
    fn sample_kind(&self) -> SampleKind {
        self.manifest.kind
    }
    fn generate(&self, z: Tensor<2>) -> Tensor<2> {
        self.generator.forward_flat(z)
    }
}

impl Critic for Model {
    /// The critic's logit plus every critic term's.
    fn logit(&self, x: Tensor<2>) -> Tensor<1> {
        let logit =
            self.critic_terms.iter().fold(self.critic.forward_flat(x.clone()), |sum, term| {
                sum + term.forward_flat(x.clone())
            });
        logit.squeeze_dim(1)
    }
    fn calibration(&self) -> Calibration {
        self.manifest.calibration.unwrap_or(Calibration::IDENTITY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::CriticTerm;
    use crate::model::presets::{Architecture, WeightInit};

    #[test]
    fn the_critic_is_the_sum_of_its_parts() {
        let device = crate::device::cpu();
        let arch = Architecture::Dcgan { latent: 4, width: 2, size: 8 };
        let mut bundle = arch.init_bundle_with("sum", WeightInit::HeNormal, 1);
        let other = arch.init_bundle_with("other", WeightInit::HeNormal, 2);
        bundle.manifest.critic_terms.push(CriticTerm {
            name: "corrector".into(),
            description: String::new(),
            network: other.manifest.critic.clone(),
        });
        for (k, v) in other.weights.iter().filter(|(k, _)| k.starts_with("critic.")) {
            bundle.weights.insert(k.replacen("critic.", "corrector.", 1), v.clone());
        }
        let (with_term, alone) = (
            Model::build(&bundle, 0, &device),
            Model::build(&bundle.without_critic_terms(), 0, &device),
        );
        let term = Network::build(
            &other.manifest.critic,
            &[3, 8, 8],
            "corrector",
            &bundle.weights,
            0,
            &device,
        );
        // Seeded images of unit scale: the logits of this tiny critic on generated samples are ~1e-3.
        let pixels = crate::rng::Noise::new(3, crate::rng::Stream::Data).normal(5 * 3 * 8 * 8, 1.0);
        let x =
            Tensor::<2>::from_data(burn::tensor::TensorData::new(pixels, [5, 3 * 8 * 8]), &device);
        let host = |t: Tensor<1>| t.into_data().try_into_vec::<f32>().unwrap();
        let sum = host(with_term.logit(x.clone()));
        let parts: Vec<f32> = host(alone.logit(x.clone()))
            .iter()
            .zip(host(term.forward_flat(x).squeeze_dim(1)))
            .map(|(a, b)| a + b)
            .collect();
        for (s, p) in sum.iter().zip(&parts) {
            assert!((s - p).abs() <= 1e-5 * (1.0 + p.abs()), "{sum:?} vs {parts:?}");
        }
        assert!(parts.iter().any(|p| p.abs() > 1e-3), "the logits are not all zero: {parts:?}");
    }
}

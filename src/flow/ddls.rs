//! Discriminator Driven Latent Sampling (Che et al. 2020), a baseline of the paper.
//!
//! Langevin dynamics in latent space on the energy E(z) = −log p(z) − d(G(z)), i.e. on the
//! density p(z) e^{d(G(z))} for the bundle's prior p (N(0, I): E = ‖z‖²/2 − d):
//! `z ← z − η ∇E(z) + √(2ηγ) ξ`, with drift −∇E = ∇d + ∇log p. A uniform prior's box reflects
//! the steps that leave it (see `Prior::confine`). γ = 1 is Che et al.'s sampler exactly, with
//! their step ε = 2η; smaller γ lowers the temperature, so DDLS and DGflow can be run with the
//! same (η, γ) side by side.

use burn::prelude::*;

use crate::prior::Prior;

/// Drift −∇E(z) given ∇_z d(G(z)).
pub fn drift(z: Tensor<2>, grad_d: Tensor<2>, prior: Prior) -> Tensor<2> {
    grad_d + prior.score(z)
}

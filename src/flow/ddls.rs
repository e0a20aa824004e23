//! Discriminator Driven Latent Sampling (Che et al. 2020), a baseline of the paper.
//!
//! Langevin dynamics in latent space on the energy E(z) = ‖z‖²/2 − d(G(z)), i.e. on the density
//! p(z) ∝ N(z; 0, I) e^{d(G(z))}: `z ← z − η ∇E(z) + √(2ηγ) ξ`, with drift −∇E = ∇d − z.
//! γ = 1 is Che et al.'s sampler exactly, with their step ε = 2η; smaller γ lowers the temperature,
//! so DDLS and DGflow can be run with the same (η, γ) side by side.

use burn::prelude::*;

/// Drift −∇E(z) given ∇_z d(G(z)).
pub fn drift(z: Tensor<2>, grad_d: Tensor<2>) -> Tensor<2> {
    grad_d - z
}

//! DGflow's drift (Ansari, Ang & Soh 2021, eq. 12 and Algorithm 1).
//!
//! The flow minimises an f-divergence D_f(μ‖ρ) plus γ × negative entropy; its particle update is
//! `x ← x − η ∇ₓ f′(ρ/μ)(x) + √(2ηγ) ξ`. With a logistic-loss critic, ρ/μ ≈ e^{−d(x)}, and the
//! chain rule gives `−∇ f′(e^{−d}) = s(d) ∇d` with a per-sample scale s:
//!
//! * KL, f(r) = r log r: f′(r) = log r + 1, so s = 1.
//! * JS, f(r) = r log r − (1 + r) log((1 + r)/2): f′(r) = log(2r/(1 + r)), so s = σ(d).
//! * log D, f(r) = (1 + r) log(1 + r) − 2 log 2: f′(r) = log(1 + r) + 1, so s = σ(−d) = 1/(1 + e^{d}).
//!
//! These match `_velocity` in the authors' code (clear-nus/DGflow, dgflow.py: `s = 1`,
//! `1/(1 + exp(d))`, `1/(1 + 1/exp(d))`). In latent space the same drift is taken through the
//! generator, `∇_z d(G(z))`, with no prior term, exactly as their code does.

use burn::prelude::*;
use burn::tensor::activation::sigmoid;

use super::settings::Method;

/// The per-sample drift scale s(d) for a DGflow method; `d` holds the current logits and is a
/// constant here (the paper's s multiplies ∇d, it is not differentiated).
pub fn drift_scale(method: Method, d: Tensor<1>) -> Tensor<1> {
    match method {
        Method::DgflowKl => d.ones_like(),
        Method::DgflowJs => sigmoid(d),
        Method::DgflowLogD => sigmoid(d.neg()),
        Method::Ddls | Method::Dot | Method::Drs | Method::MhGan => {
            unreachable!("only DGflow methods have a drift scale")
        }
    }
}

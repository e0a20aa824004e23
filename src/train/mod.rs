//! Training the bundled GANs with burn's autodiff: the non-saturating (logistic) loss, so the
//! critic's logit estimates log p_data/p_G as DGflow-KL needs; spectral normalisation instead of a
//! gradient penalty (burn has first-order gradients only). Checkpoints resume bit for bit.

pub mod adam;
pub mod average;
pub mod checkpoint;
pub mod classifier_trainer;
pub mod corrector;
pub mod gan;
pub mod live;
pub mod monitor;
pub mod params;
pub mod real_data;
pub mod recipe;
pub mod vae;

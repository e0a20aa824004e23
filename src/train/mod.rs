//! Training the bundled GANs with burn's autodiff: the non-saturating (logistic) loss, so the
//! critic's logit estimates log p_data/p_G as DGflow-KL needs; spectral normalisation instead of a
//! gradient penalty (burn has first-order gradients only). Checkpoints resume bit for bit.

pub mod adam;
pub mod average;
pub mod checkpoint;
pub mod classifier;
pub mod corrector;
pub mod gan;
pub mod images;
pub mod live;
pub mod text;
pub mod toy;
pub mod vae;

//! A small 2D GAN trained a few iterations at a time while someone watches (the page's live
//! training), then refined like any bundle.
//!
//! Smaller than the bundled toys (hidden 64 / 128 instead of 256 / 512) and with a faster
//! schedule, so that it takes shape within a minute on one browser thread.

use burn::prelude::Device;

use crate::bundle::Bundle;
use crate::data::toy2d::Toy;
use crate::error::Result;
use crate::flow::{self, Recommended};
use crate::model::Model;
use crate::model::presets::Architecture;
use crate::render::{Grid, View};
use crate::train::gan::{GanTrainer, Losses, TrainConfig};
use crate::train::real_data::ToyData;

/// Iterations after which the live model is usually worth refining (measured in its test).
pub const SUGGESTED_ITERATIONS: u64 = 1500;
/// The iterations the page offers: fewer leave a cloud, more take minutes on a phone.
pub const ITERATIONS: std::ops::RangeInclusive<u64> = 100..=20_000;
/// Samples drawn in a preview of the generator while it trains.
pub const PREVIEW_SAMPLES: usize = 512;

pub struct LiveToy {
    trainer: GanTrainer,
    data: ToyData,
}

impl LiveToy {
    pub fn new(toy: Toy, seed: u64, device: &Device) -> LiveToy {
        let mut bundle =
            Architecture::Toy2d { hidden_g: 64, hidden_d: 128 }.init_bundle(toy.name(), seed);
        bundle.manifest.description =
            format!("{}: a small GAN trained live in this page", toy.name());
        // Like the bundled toys' critics, this one is steep: the paper's η = 0.1 overshoots.
        bundle.manifest.recommended = Some(Recommended { eta: 0.01, gamma: 0.01 });
        let config = TrainConfig {
            batch: 128,
            lr_generator: 1e-3,
            lr_critic: 1e-3,
            beta1: 0.5,
            beta2: 0.9,
            critic_steps: 2,
            seed,
            loss: Default::default(),
            critic_only: false,
            average_decay: None,
        };
        LiveToy { trainer: GanTrainer::new(&bundle, config, device), data: ToyData { toy, seed } }
    }

    /// Runs `iterations` more training iterations and returns the last one's losses.
    pub fn train(&mut self, iterations: u64) -> Losses {
        let mut losses = Losses {
            critic: f32::NAN,
            generator: f32::NAN,
            real_logit: f32::NAN,
            fake_logit: f32::NAN,
        };
        for _ in 0..iterations {
            losses = self.trainer.step(&self.data);
        }
        losses
    }

    pub fn iteration(&self) -> u64 {
        self.trainer.iteration
    }

    /// [`PREVIEW_SAMPLES`] samples of the generator as trained so far (the latents of its seed),
    /// plotted over its toy's data.
    pub async fn preview(&self, device: &Device) -> Result<Grid> {
        let bundle = self.bundle();
        let model = Model::build(&bundle, 0, device);
        let samples = flow::base_samples(&model, PREVIEW_SAMPLES, 0, device).await?;
        let view = View::of(&bundle.manifest, &samples, PREVIEW_SAMPLES);
        Ok(view.picture().expect("points are shown as a plot").clone())
    }

    /// The current weights as a bundle, which the flow refines like a shipped one.
    pub fn bundle(&self) -> Bundle {
        let mut bundle = self.trainer.bundle();
        bundle.manifest.provenance.trained_by =
            format!("trained live, {} iterations", self.trainer.iteration);
        bundle
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::toy2d::high_quality;
    use crate::flow::FlowConfig;

    #[test]
    fn a_live_25_gaussians_gan_takes_shape_and_dgflow_improves_it() {
        let device = crate::device::cpu();
        let mut live = LiveToy::new(Toy::Gaussians25, 1, &device);
        let samples = |live: &LiveToy, eta: f32| {
            let model = Model::build(&live.bundle(), 0, &device);
            let config = FlowConfig {
                batch: 1000,
                steps: 25,
                eta,
                keep: crate::flow::Keep::Steps(vec![0, 25]),
                ..FlowConfig::default()
            };
            let t = pollster::block_on(flow::refine(&model, &model, config, &device)).unwrap();
            (
                high_quality(t.steps[0].samples.as_ref().unwrap()),
                high_quality(t.steps[25].samples.as_ref().unwrap()),
            )
        };
        let ((before, modes_before), _) = samples(&live, 0.01);
        live.train(SUGGESTED_ITERATIONS);
        assert_eq!(live.iteration(), SUGGESTED_ITERATIONS);
        let ((base, modes), (refined, _)) = samples(&live, 0.01);
        assert!(
            modes >= 15 && modes > modes_before && base > before,
            "untrained {before} ({modes_before} modes) → trained {base} ({modes} modes)"
        );
        assert!(
            refined > base,
            "DGflow-KL should raise the share of high-quality samples: {base} → {refined}"
        );
    }
}

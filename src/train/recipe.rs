//! The recipes `dgflow train` runs. For each model family: its real data, its networks, what
//! its bundle says about itself and its training, and how a run starts — fresh, from another
//! bundle's weights, or on from a checkpoint with new settings. The CLI parses flags and drives
//! the loop; what a recipe is lives here.

use std::collections::BTreeMap;
use std::path::Path;

use super::gan::{GanLoss, GanTrainer, TrainConfig};
use super::real_data::{ImageData, RealData, TEXT_SMOOTHING, TextData, ToyData};
use crate::bundle::{Bundle, Provenance};
use crate::data::cifar::{Cifar, Split};
use crate::data::text::{self, Corpus, Vocab};
use crate::data::toy2d::Toy;
use crate::error::{Error, Result};
use crate::flow::Recommended;
use crate::model::presets::Architecture;

/// What `dgflow train` can train.
#[derive(Debug, Copy, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Recipe {
    /// The paper's 25 Gaussians: MLP generator, spectral-norm MLP critic.
    #[cfg_attr(feature = "cli", value(name = "25gaussians"))]
    Gaussians25,
    /// The paper's Swiss roll, the same networks.
    Swissroll,
    /// SN-DCGAN on CIFAR-10.
    Cifar10,
    /// The WGAN-GP language networks on 32-character sentence openings.
    Text,
    /// The CIFAR-10 classifier whose features our image metrics use.
    Classifier,
    /// A CIFAR-10 VAE; its bundle borrows the discriminator of a GAN.
    Vae,
    /// A density-ratio corrector between a GAN and another model.
    Corrector,
}

impl Recipe {
    /// The 2D data set of a toy recipe.
    pub fn toy(self) -> Option<Toy> {
        match self {
            Recipe::Gaussians25 => Some(Toy::Gaussians25),
            Recipe::Swissroll => Some(Toy::SwissRoll),
            _ => None,
        }
    }
}

/// The networks of the cifar10 recipe.
#[derive(Debug, Copy, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum ImageNetworks {
    /// SN-DCGAN (Miyato et al. 2018's CNN), the bundled model's.
    #[default]
    Dcgan,
    /// SN-ResNet-GAN (Miyato et al. 2018's ResNet).
    Snresnet,
}

/// The flags a GAN recipe reads.
#[derive(Debug, Clone)]
pub struct GanOptions<'a> {
    /// The shared data folder (holding `cifar-10-batches-bin/` and `text/`).
    pub data: &'a Path,
    /// Channel width of the image and text networks.
    pub width: usize,
    /// Residual blocks of the text networks.
    pub blocks: usize,
    /// The cifar10 recipe's networks.
    pub networks: ImageNetworks,
    pub seed: u64,
}

/// A GAN recipe ready to train: its data and networks, and what its bundle says about them.
pub struct GanRecipe {
    pub data: Box<dyn RealData>,
    pub architecture: Architecture,
    /// The bundle's name.
    pub name: &'static str,
    /// The bundle's description.
    pub description: String,
    /// The bundle's account of its training data.
    pub data_note: String,
    /// The text recipe's held-out sentences, for scoring its checkpoints.
    pub held_out: Vec<String>,
}

impl Recipe {
    /// The data, networks and descriptions of a GAN recipe; reads its data set from
    /// `options.data`. The classifier, VAE and corrector have trainers of their own.
    pub fn gan(self, options: &GanOptions) -> Result<GanRecipe> {
        let GanOptions { data, width, blocks, networks, seed } = *options;
        if networks != ImageNetworks::Dcgan && self != Recipe::Cifar10 {
            return Err(Error::parameter(
                "arch",
                "snresnet",
                "only the cifar10 recipe has a choice of networks; leave --arch out",
            ));
        }
        let recipe = match self {
            Recipe::Gaussians25 | Recipe::Swissroll => {
                let toy = self.toy().expect("a toy recipe names its data set");
                let description = match toy {
                    Toy::Gaussians25 => {
                        "SN-GAN on the paper's 25 Gaussians (5×5 grid, σ = 0.05, scaled by 1/2.828)"
                    }
                    Toy::SwissRoll => {
                        "SN-GAN on the paper's Swiss roll (noise 0.25, x and z columns, divided by 7.5)"
                    }
                };
                GanRecipe {
                    data: Box::new(ToyData { toy, seed }),
                    architecture: Architecture::toy2d(),
                    name: toy.name(),
                    description: description.into(),
                    data_note: format!(
                        "{} samples generated in code (src/data/toy2d.rs), fresh each iteration",
                        toy.name()
                    ),
                    held_out: Vec::new(),
                }
            }
            Recipe::Cifar10 => GanRecipe {
                data: Box::new(ImageData {
                    images: Cifar::load(&data.join("cifar-10-batches-bin"), Split::Train)?,
                    seed,
                }),
                architecture: match networks {
                    ImageNetworks::Dcgan => Architecture::Dcgan { latent: 128, width, size: 32 },
                    ImageNetworks::Snresnet => {
                        Architecture::SnResnet { latent: 128, width, size: 32 }
                    }
                },
                name: "cifar10",
                description: match networks {
                    ImageNetworks::Dcgan => format!(
                        "SN-DCGAN on CIFAR-10 (32×32 RGB), channel width {width} (64 is Miyato et al.'s)"
                    ),
                    ImageNetworks::Snresnet => format!(
                        "SN-ResNet-GAN on CIFAR-10 (32×32 RGB), critic width {width}, generator {} (128 and 256 are Miyato et al.'s)",
                        2 * width
                    ),
                },
                data_note: "CIFAR-10 training set (50,000 images), random left-right flips".into(),
                held_out: Vec::new(),
            },
            Recipe::Text => {
                let corpus = Corpus::load(&data.join("text"))?;
                let vocab = Vocab::from_lines(&corpus.train, text::VOCAB_SIZE);
                let lines = corpus.train.iter().map(|l| vocab.encode(l)).collect();
                let data_note = format!(
                    "the first 32 characters of the {} training lines (of 32+ characters) of the One Billion Word held-out sentences and 17 Gutenberg books; every 7th line ({}) held out for evaluation; {} symbols, rarer characters folded into {}; real one-hots smoothed by 0.1 towards uniform",
                    corpus.train.len(),
                    corpus.held_out.len(),
                    vocab.len(),
                    text::UNKNOWN
                );
                let architecture = Architecture::CharCnn {
                    latent: 128,
                    width,
                    length: text::LENGTH,
                    blocks,
                    vocab: vocab.symbols.clone(),
                };
                GanRecipe {
                    data: Box::new(TextData { lines, vocab, smoothing: TEXT_SMOOTHING, seed }),
                    architecture,
                    name: "text",
                    description: format!(
                        "SN language GAN (WGAN-GP's residual 1D-conv networks, width {width}, {blocks} blocks) on 32-character sentence openings"
                    ),
                    data_note,
                    held_out: corpus.held_out,
                }
            }
            Recipe::Classifier | Recipe::Vae | Recipe::Corrector => {
                return Err(Error::parameter(
                    "recipe",
                    format!("{self:?}").to_lowercase(),
                    "not a GAN recipe: it has a trainer of its own",
                ));
            }
        };
        Ok(recipe)
    }
}

impl GanRecipe {
    /// A new run's trainer: fresh weights, or `init`'s (a bundle of the same networks, whose
    /// training history the new bundle carries on); the optimiser starts afresh either way.
    pub fn start(
        &self,
        config: TrainConfig,
        init: Option<&Path>,
        device: &burn::prelude::Device,
    ) -> Result<GanTrainer> {
        let mut bundle = self.architecture.init_bundle(self.name, config.seed);
        bundle.manifest.description = self.description.clone();
        let mut start = stage_note(0, config.loss, config.critic_only);
        if let Some(decay) = config.average_decay {
            start = format!("{start} {}", average_note(0, decay, config.critic_only));
        }
        bundle.manifest.provenance.notes = start.clone();
        if let Some(dir) = init {
            bundle = starting_bundle(dir, &bundle)?;
            let history = &mut bundle.manifest.provenance;
            history.notes = format!(
                "{} Then a new run from those weights ({}; the optimiser afresh): {start}",
                history.notes, history.trained_by
            );
        }
        Ok(GanTrainer::new(&bundle, config, device))
    }

    /// The trained model's bundle, with where it came from and how it was trained.
    pub fn finished_bundle(&self, trainer: &GanTrainer) -> Bundle {
        let mut bundle = trainer.bundle();
        let c = &trainer.config;
        bundle.manifest.provenance = Provenance {
            trained_by: format!(
                "dgflow train {} (this repository), {} iterations",
                bundle.manifest.name, trainer.iteration
            ),
            data: self.data_note.clone(),
            recipe: format!(
                "spectral-norm critic, {} critic steps per generator step, Adam lr {} (critic {}) betas ({}, {}), batch {}, seed {}",
                c.critic_steps, c.lr_generator, c.lr_critic, c.beta1, c.beta2, c.batch, c.seed
            ),
            notes: trainer.manifest.provenance.notes.clone(),
        };
        if matches!(self.architecture, Architecture::Toy2d { .. }) {
            // The toys' critics are steep (see the model cards): η = 0.1 overshoots, 0.01 refines.
            bundle.manifest.recommended = Some(Recommended { eta: 0.01, gamma: 0.01 });
        }
        bundle
    }
}

/// What changes when a run goes on from its checkpoint.
#[derive(Debug, Clone, Copy)]
pub struct Continuation {
    pub loss: GanLoss,
    pub critic_only: bool,
    /// Start averaging with this decay, unless the run already averages.
    pub average: Option<f32>,
}

/// Applies `next` to a run resumed from `checkpoint`, recording each new stage in the bundle's
/// training history; returns the stages, for the caller to report.
pub fn continue_run(
    trainer: &mut GanTrainer,
    next: Continuation,
    checkpoint: &Path,
) -> Result<Vec<String>> {
    let iteration = trainer.iteration;
    let mut stages = Vec::new();
    if (trainer.config.loss, trainer.config.critic_only) != (next.loss, next.critic_only) {
        stages.push(stage_note(iteration, next.loss, next.critic_only));
        trainer.config.loss = next.loss;
        trainer.config.critic_only = next.critic_only;
    }
    if next.critic_only && trainer.averages_generator() {
        trainer.adopt_average();
        stages.push(format!(
            "From iteration {iteration}: the generator replaced by its average, for the critic to fit."
        ));
    } else if !next.critic_only && trainer.average.is_some() && !trainer.averages_generator() {
        return Err(Error::Resume {
            path: checkpoint.display().to_string(),
            reason: "it holds a critic-only fit with the critic's weights averaged: go on with --critic-only, or train both networks from a copy of the checkpoint before the fit".into(),
        });
    }
    if let (Some(decay), None) = (next.average, &trainer.average) {
        trainer.start_average(decay);
        stages.push(average_note(iteration, decay, next.critic_only));
    }
    for stage in &stages {
        let notes = &mut trainer.manifest.provenance.notes;
        *notes = format!("{notes} {stage}").trim().to_string();
    }
    Ok(stages)
}

/// The bundle at `dir`, to train on from, if it holds the same networks as `fresh` (the
/// recipe's, freshly initialised): every parameter, of the same shape.
pub fn starting_bundle(dir: &Path, fresh: &Bundle) -> Result<Bundle> {
    let mut bundle = Bundle::from_dir(dir)?;
    let shapes = |b: &Bundle| -> BTreeMap<String, Vec<usize>> {
        b.weights.iter().map(|(name, (shape, _))| (name.clone(), shape.clone())).collect()
    };
    let (ours, theirs) = (shapes(fresh), shapes(&bundle));
    let refuse = |reason: String| {
        Err(Error::weights(
            &format!("--init {}", dir.display()),
            format!(
                "{reason}: start from a bundle trained with the same recipe and flags (--width, --blocks)"
            ),
        ))
    };
    if let Some((name, shape)) = ours.iter().find(|(name, shape)| theirs.get(*name) != Some(shape))
    {
        let there = theirs.get(name).map_or("missing".to_string(), |s| format!("{s:?}"));
        return refuse(format!("{name} is {there} there, {shape:?} in this recipe's networks"));
    }
    if let Some(name) = theirs.keys().find(|name| !ours.contains_key(*name)) {
        return refuse(format!("{name} is not a parameter of this recipe's networks"));
    }
    // Training writes f16 whatever it started from (an int8 bundle is packed for the page).
    bundle.manifest.weights.encoding = Default::default();
    Ok(bundle)
}

/// A sentence for the bundle's training history: which loss from which iteration.
fn stage_note(iteration: u64, loss: GanLoss, critic_only: bool) -> String {
    let loss = match loss {
        GanLoss::Logistic => "the non-saturating (logistic) loss",
        GanLoss::Wasserstein => "the Wasserstein loss",
    };
    let only = if critic_only { ", critic only (generator frozen)" } else { "" };
    format!("From iteration {iteration}: {loss}{only}.")
}

/// A sentence for the bundle's training history: which network's weights are averaged from when.
fn average_note(iteration: u64, decay: f32, critic_only: bool) -> String {
    let network = if critic_only { "critic" } else { "generator" };
    format!("From iteration {iteration}: the {network}'s weights averaged (decay {decay}).")
}

//! The flags of `dgflow train`: what to train, for how long, with which optimiser settings, and
//! where its data, checkpoint, log and bundle live.

use std::path::PathBuf;

use crate::flags;
use dgflow::flow::Limits;
use dgflow::model::presets::{MAX_BLOCKS, MAX_LATENT, MAX_WIDTH};
use dgflow::train::gan::GanLoss;
use dgflow::train::recipe::{ImageNetworks, Recipe};

#[derive(clap::Args)]
pub struct TrainArgs {
    /// What to train.
    #[arg(value_enum)]
    pub recipe: Recipe,
    /// Output bundle directory (f16 weights + manifest), written at the end.
    #[arg(long)]
    pub out: PathBuf,
    /// Checkpoint file, saved every --every iterations and resumed from when present.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// CSV log of losses and evaluations (appended to on resume).
    #[arg(long)]
    pub log: Option<PathBuf>,
    #[arg(long, allow_negative_numbers = true, default_value_t = 20_000, value_parser = flags::at_least(0))]
    pub iterations: u64,
    #[arg(long, allow_negative_numbers = true, default_value_t = 256, value_parser = flags::whole(1, Limits::ENGINE.max_batch as u64))]
    pub batch: usize,
    /// Adam learning rate of the generator.
    #[arg(long, allow_negative_numbers = true, default_value_t = 1e-4, value_parser = flags::positive(1.0))]
    pub lr: f32,
    /// Adam learning rate of the critic (defaults to --lr).
    #[arg(long, allow_negative_numbers = true, value_parser = flags::positive(1.0))]
    pub lr_critic: Option<f32>,
    /// Critic updates per generator update.
    #[arg(long, allow_negative_numbers = true, default_value_t = 1, value_parser = flags::whole(1, 100))]
    pub critic_steps: usize,
    /// The adversarial loss: logistic (the critic estimates log p_data/p_G, as DGflow needs) or
    /// wasserstein (steadier for text; then fine-tune the critic with --critic-only --loss logistic).
    #[arg(long, value_enum, default_value_t = GanLoss::Logistic)]
    pub loss: GanLoss,
    /// Train the critic alone, the generator frozen (the fine-tune after Wasserstein training).
    #[arg(long)]
    pub critic_only: bool,
    /// Average the trained weights with this decay (e.g. 0.999) and ship the average: the
    /// generator's, or with --critic-only the critic's (the fit's last iterate oscillates too;
    /// 0.99 suits a fit of ~1,000 steps). Given on resuming a run that did not average, the
    /// average starts from the current weights.
    #[arg(long, allow_negative_numbers = true, value_parser = flags::fraction(false))]
    pub average: Option<f32>,
    /// Adam's second-moment decay (β1 is 0.5, as in DCGAN and SN-GAN).
    #[arg(long, allow_negative_numbers = true, default_value_t = 0.9, value_parser = flags::fraction(true))]
    pub beta2: f32,
    #[arg(long, allow_negative_numbers = true, default_value_t = 1000, value_parser = flags::at_least(1))]
    pub every: u64,
    #[arg(long, allow_negative_numbers = true, default_value_t = 0, value_parser = flags::at_least(0))]
    pub seed: u64,
    /// Channel-width multiplier of the image and text models (cifar10: 64 is the published size;
    /// text: the residual blocks' channels, 512 in WGAN-GP).
    #[arg(long, allow_negative_numbers = true, default_value_t = 32, value_parser = flags::whole(1, MAX_WIDTH as u64))]
    pub width: usize,
    /// cifar10: the networks, SN-DCGAN or SN-ResNet-GAN (then --width is the critic's channels,
    /// 128 published, the generator's twice that).
    #[arg(long, value_enum, default_value_t = ImageNetworks::Dcgan)]
    pub arch: ImageNetworks,
    /// Residual blocks of the text model (5 in WGAN-GP).
    #[arg(long, allow_negative_numbers = true, default_value_t = 5, value_parser = flags::whole(1, MAX_BLOCKS as u64))]
    pub blocks: usize,
    /// The shared data folder (holding cifar-10-batches-bin/ and text/).
    #[arg(long, env = "DGFLOW_DATA", default_value = "../shared/data")]
    pub data: PathBuf,
    /// vae: the GAN bundle whose discriminator the VAE borrows; corrector: the GAN whose samples
    /// the corrector tells from the base model's (e.g. models/cifar10).
    #[arg(long)]
    pub critic: Option<PathBuf>,
    /// corrector: the bundle it corrects (e.g. the VAE's).
    #[arg(long)]
    pub base: Option<PathBuf>,
    /// vae: latent dimensions (the paper's VAE uses 64).
    #[arg(long, allow_negative_numbers = true, default_value_t = 64, value_parser = flags::whole(1, MAX_LATENT as u64))]
    pub latent: usize,
    /// vae: standard deviation of the decoder's Gaussian likelihood, in [-1, 1] pixel units.
    #[arg(long, allow_negative_numbers = true, default_value_t = 0.2, value_parser = flags::positive(10.0))]
    pub sigma: f32,
    /// Start from this bundle's weights instead of fresh ones: a model of the recipe's
    /// networks (same flags), e.g. models/cifar10 to train it on. The optimiser starts afresh;
    /// ignored when resuming from --checkpoint.
    #[arg(long)]
    pub init: Option<PathBuf>,
    /// cifar10: the classifier in whose features the log scores each checkpoint's samples.
    #[arg(long, default_value = "models/cifar10-classifier")]
    pub classifier: PathBuf,
    /// Record this run's iterations for the PyTorch reference (tests/reference/): the weights
    /// before and after and every iteration's data and latents, as safetensors. Meant for a few
    /// iterations: each stores its batches.
    #[arg(long)]
    pub record: Option<PathBuf>,
}

//! `dgflow`: the native command line — refine a bundle's samples, describe a bundle, or create a
//! freshly initialised one.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};

use std::io::Write;

use dgflow::bundle::{Bundle, Provenance, Recommended, SampleKind};
use dgflow::classifier::{self, Classifier, ClassifierManifest};
use dgflow::data::cifar::{CLASSES, Cifar, Split};
use dgflow::data::text::{self, Corpus, Vocab};
use dgflow::data::toy2d::Toy;
use dgflow::device::{self, Backend};
use dgflow::eval;
use dgflow::flow::{self, FlowConfig, Keep, Method, Space, Trajectory};
use dgflow::metrics::frechet::{Gaussian, frechet_distance};
use dgflow::metrics::ngram;
use dgflow::model::Model;
use dgflow::model::presets::Architecture;
use dgflow::render;
use dgflow::rng::{Noise, Stream};
use dgflow::train::checkpoint;
use dgflow::train::classifier::{ClassifierConfig, ClassifierTrainer};
use dgflow::train::gan::{GanLoss, GanTrainer, RealData, TrainConfig};
use dgflow::train::images::ImageData;
use dgflow::train::text::TextData;
use dgflow::train::toy::ToyData;

mod bench;
mod record;
mod vae;

#[derive(Parser)]
#[command(
    name = "dgflow",
    version,
    about = "Refine generative-model samples with discriminator gradient flow (DGflow)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Refine a batch of samples and write a before/after comparison.
    Refine(RefineArgs),
    /// Describe a model bundle.
    Info {
        /// Bundle directory (holding manifest.json).
        model: PathBuf,
    },
    /// Write a bundle with freshly initialised (untrained) weights of a built-in architecture.
    Init(InitArgs),
    /// Train a bundled model family; resumes from its checkpoint when one exists.
    Train(TrainArgs),
    /// Evaluate a bundle: base samples against every refinement method, as in the paper's tables.
    Eval(EvalArgs),
    /// Time refinement and training on this machine's CPU, beside a reference implementation.
    Bench(bench::BenchArgs),
    /// Rewrite a bundle's weights file in another encoding (int8 halves the page's download).
    Pack {
        /// Bundle directory (holding manifest.json); rewritten in place.
        model: PathBuf,
        #[arg(long, value_enum)]
        encoding: dgflow::bundle::Encoding,
    },
    /// Check that the image metrics behave like FID: train vs test images, then real images
    /// disturbed by noise, blur and mixed-in noise images (Heusel et al. 2017).
    CheckMetrics(CheckMetricsArgs),
}

#[derive(clap::Args)]
struct CheckMetricsArgs {
    /// The classifier bundle whose features score images.
    #[arg(long, default_value = "models/cifar10-classifier")]
    classifier: PathBuf,
    /// Training images scored against the 10,000 test images, in each condition.
    #[arg(long, default_value_t = 5000)]
    samples: usize,
    /// The shared data folder (holding cifar-10-batches-bin/).
    #[arg(long, env = "DGFLOW_DATA", default_value = "../shared/data")]
    data: PathBuf,
    /// Write the table (markdown) here as well as to the terminal.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(clap::Args)]
struct TrainArgs {
    /// What to train.
    #[arg(value_enum)]
    recipe: Recipe,
    /// Output bundle directory (f16 weights + manifest), written at the end.
    #[arg(long)]
    out: PathBuf,
    /// Checkpoint file, saved every --every iterations and resumed from when present.
    #[arg(long)]
    checkpoint: PathBuf,
    /// CSV log of losses and evaluations (appended to on resume).
    #[arg(long)]
    log: Option<PathBuf>,
    #[arg(long, default_value_t = 20_000)]
    iterations: u64,
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// Adam learning rate of the generator.
    #[arg(long, default_value_t = 1e-4)]
    lr: f32,
    /// Adam learning rate of the critic (defaults to --lr).
    #[arg(long)]
    lr_critic: Option<f32>,
    /// Critic updates per generator update.
    #[arg(long, default_value_t = 1)]
    critic_steps: usize,
    /// The adversarial loss: logistic (the critic estimates log p_data/p_G, as DGflow needs) or
    /// wasserstein (steadier for text; then fine-tune the critic with --critic-only --loss logistic).
    #[arg(long, value_enum, default_value_t = LossArg::Logistic)]
    loss: LossArg,
    /// Train the critic alone, the generator frozen (the fine-tune after Wasserstein training).
    #[arg(long)]
    critic_only: bool,
    /// Average the trained weights with this decay (e.g. 0.999) and ship the average: the
    /// generator's, or with --critic-only the critic's (the fit's last iterate oscillates too;
    /// 0.99 suits a fit of ~1,000 steps). Given on resuming a run that did not average, the
    /// average starts from the current weights.
    #[arg(long)]
    average: Option<f32>,
    /// Adam's second-moment decay (β1 is 0.5, as in DCGAN and SN-GAN).
    #[arg(long, default_value_t = 0.9)]
    beta2: f32,
    #[arg(long, default_value_t = 1000)]
    every: u64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Channel-width multiplier of the image and text models (cifar10: 64 is the published size;
    /// text: the residual blocks' channels, 512 in WGAN-GP).
    #[arg(long, default_value_t = 32)]
    width: usize,
    /// Residual blocks of the text model (5 in WGAN-GP).
    #[arg(long, default_value_t = 5)]
    blocks: usize,
    /// The shared data folder (holding cifar-10-batches-bin/ and text/).
    #[arg(long, env = "DGFLOW_DATA", default_value = "../shared/data")]
    data: PathBuf,
    /// vae: the GAN bundle whose discriminator the VAE borrows; corrector: the GAN whose samples
    /// the corrector tells from the base model's (e.g. models/cifar10).
    #[arg(long)]
    critic: Option<PathBuf>,
    /// corrector: the bundle it corrects (e.g. the VAE's).
    #[arg(long)]
    base: Option<PathBuf>,
    /// vae: latent dimensions (the paper's VAE uses 64).
    #[arg(long, default_value_t = 64)]
    latent: usize,
    /// vae: standard deviation of the decoder's Gaussian likelihood, in [-1, 1] pixel units.
    #[arg(long, default_value_t = 0.2)]
    sigma: f32,
    /// Start from this bundle's weights instead of fresh ones: a model of the recipe's
    /// networks (same flags), e.g. models/cifar10 to train it on. The optimiser starts afresh;
    /// ignored when resuming from --checkpoint.
    #[arg(long)]
    init: Option<PathBuf>,
    /// cifar10: the classifier in whose features the log scores each checkpoint's samples.
    #[arg(long, default_value = "models/cifar10-classifier")]
    classifier: PathBuf,
    /// Record this run's iterations for the PyTorch reference (tests/reference/): the weights
    /// before and after and every iteration's data and latents, as safetensors. Meant for a few
    /// iterations: each stores its batches.
    #[arg(long)]
    record: Option<PathBuf>,
}

#[derive(Copy, Clone, PartialEq, ValueEnum)]
enum LossArg {
    Logistic,
    Wasserstein,
}

#[derive(Copy, Clone, PartialEq, ValueEnum)]
enum Recipe {
    #[value(name = "25gaussians")]
    Gaussians25,
    Swissroll,
    Cifar10,
    Text,
    /// The CIFAR-10 classifier whose features our image metrics use.
    Classifier,
    /// A CIFAR-10 VAE; its bundle borrows the discriminator of --critic.
    Vae,
    /// A density-ratio corrector between the GAN of --critic and the model of --base.
    Corrector,
}

#[derive(clap::Args)]
struct EvalArgs {
    /// Bundle directory.
    #[arg(long)]
    model: PathBuf,
    /// Samples per cell of the table.
    #[arg(long, default_value_t = 4096)]
    samples: usize,
    /// Step size η [default: the bundle's recommendation, else the paper's 0.1].
    #[arg(long)]
    eta: Option<f32>,
    /// Noise factor γ [default: the bundle's recommendation, else the paper's 0.01].
    #[arg(long)]
    gamma: Option<f32>,
    /// Refine latents or samples (DDLS runs in latent space either way).
    #[arg(long, value_enum, default_value_t = Space::Latent)]
    space: Space,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write the table (markdown) here as well as to the terminal.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Samples refined at once (the rest in further chunks, each with the next seed).
    #[arg(long, default_value_t = 500)]
    chunk: usize,
    /// Methods to compare, in this order [default: all: dgflow-kl, dgflow-js, dgflow-logd, ddls, dot].
    #[arg(long, value_enum, value_delimiter = ',')]
    methods: Vec<Method>,
    /// Drop the bundle's critic terms (a VAE's corrector) and refine with its own critic alone:
    /// the ablation that measures what the corrector adds.
    #[arg(long)]
    without_corrector: bool,
    /// The classifier bundle whose features score images.
    #[arg(long, default_value = "models/cifar10-classifier")]
    classifier: PathBuf,
    /// The shared data folder (reference images and held-out sentences).
    #[arg(long, env = "DGFLOW_DATA", default_value = "../shared/data")]
    data: PathBuf,
}

#[derive(clap::Args)]
struct RefineArgs {
    /// Bundle directory (holding manifest.json), e.g. models/cifar10.
    #[arg(long)]
    model: PathBuf,
    #[arg(long, value_enum, default_value_t = Method::DgflowKl)]
    method: Method,
    /// Step size η [default: the bundle's recommendation, else the paper's 0.1].
    #[arg(long, allow_negative_numbers = true)]
    eta: Option<f32>,
    /// Noise factor γ: each step adds √(2ηγ)·ξ [default: the bundle's recommendation, else 0.01].
    #[arg(long, allow_negative_numbers = true)]
    gamma: Option<f32>,
    #[arg(long, default_value_t = 25)]
    steps: usize,
    #[arg(long, value_enum, default_value_t = Space::Latent)]
    space: Space,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Number of samples.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Extra spectral-norm power iterations before refining (the authors' "thermalisation").
    #[arg(long, default_value_t = 0)]
    thermalize: usize,
    /// Keep samples of every n-th step in the trajectory file (0 keeps only the first and last).
    #[arg(long, default_value_t = 1)]
    keep_every: usize,
    #[arg(long, value_enum, default_value_t = Backend::Cpu)]
    device: Backend,
    /// Before/after output: a PNG grid for images, a text listing for text, CSV (or, given a
    /// .png name, scatter plots) for points. Defaults to refined.png, refined.txt or refined.csv.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Also write the whole trajectory (logits every step, samples and latents of kept steps) as JSON.
    #[arg(long)]
    trajectory: Option<PathBuf>,
    /// Record the run for the PyTorch reference (tests/reference/): starting latents, every
    /// step's noise, state, samples and logits, as safetensors. Keeps every step.
    #[arg(long)]
    record: Option<PathBuf>,
}

#[derive(clap::Args)]
struct InitArgs {
    #[arg(long, value_enum)]
    arch: ArchArg,
    /// Output bundle directory.
    #[arg(long)]
    out: PathBuf,
    /// Bundle name written in the manifest (defaults to the directory name).
    #[arg(long)]
    name: Option<String>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Channel-width multiplier (dcgan: 64 is the published size; charcnn: residual channels).
    #[arg(long, default_value_t = 8)]
    width: usize,
    #[arg(long, default_value_t = 128)]
    latent: usize,
    /// Image side (dcgan, a multiple of 8) or sequence length (charcnn).
    #[arg(long, default_value_t = 32)]
    size: usize,
    /// Characters of the vocabulary (charcnn).
    #[arg(long, default_value = " abcdefghijklmnopqrstuvwxyz.,'")]
    vocab: String,
}

#[derive(Copy, Clone, ValueEnum)]
enum ArchArg {
    Toy2d,
    Dcgan,
    Charcnn,
}

fn main() {
    keep_freed_memory();
    let cli = Cli::parse();
    if let Err(e) = on_a_pool_thread(|| run(cli)) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

/// Runs `f` on a thread of a rayon pool of its own, so that each parallel loop of the kernels
/// runs partly on the calling thread while the others help. Called from the main thread, every
/// loop woke the pool and put the main thread to sleep until it finished; a 2D toy's step at
/// batch 256 runs 16 such loops in ~4 ms (measured side by side: 3.95-4.18 -> 3.43-3.77 ms),
/// and CIFAR-10 at batch 1 runs dozens in ~4 ms (4.2-4.4 -> 3.5 ms).
fn on_a_pool_thread<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    // The main thread's stack size: a pool thread's default is 2 MiB.
    match rayon::ThreadPoolBuilder::new().stack_size(8 << 20).build() {
        Ok(pool) => pool.install(f),
        // Without threads of its own the work runs here, only slower.
        Err(_) => f(),
    }
}

/// Every tensor op allocates its output, and a refinement step frees and reallocates the same
/// multi-megabyte buffers dozens of times. glibc serves such sizes with fresh mmaps and returns
/// them on free, so each reuse faults every page in again (3.5× the page faults; cifar10 at
/// batch 64 spent ~10 % of a step there). Serving them from the heap and keeping freed memory
/// makes reuse free; the process holds at most its peak working set, which it needs anyway.
/// One arena for every thread keeps it so for the pool threads the work runs on: each thread's
/// own arena (heaps of at most 64 MiB) maps such buffers afresh (cifar10 at batch 64 was 7 %
/// slower on a pool thread with them, as fast as before with one arena).
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; it is called before any thread starts.
    unsafe {
        // 32 MiB is the largest mmap threshold glibc accepts; larger buffers still get their own mmap.
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Refine(args) => refine(args),
        Command::Info { model } => info(&model),
        Command::Init(args) => init(args),
        Command::Train(args) => train(args),
        Command::Eval(args) => eval(args),
        Command::Bench(args) => bench::bench(args),
        Command::Pack { model, encoding } => pack(&model, encoding),
        Command::CheckMetrics(args) => check_metrics(args),
    }
}

fn check_metrics(args: CheckMetricsArgs) -> Result<()> {
    let device = device::cpu();
    let classifier = Classifier::load(&args.classifier, &device)
        .with_context(|| "the metrics live in the features of the project's CIFAR-10 classifier (train one with `dgflow train classifier`)")?;
    let dir = args.data.join("cifar-10-batches-bin");
    let (train, test) = (Cifar::load(&dir, Split::Train)?, Cifar::load(&dir, Split::Test)?);
    if args.samples == 0 || args.samples > train.len() {
        bail!("--samples must be between 1 and {}", train.len());
    }
    let test_images: Vec<f32> = (0..test.len()).flat_map(|i| test.image(i)).collect();
    let (reference, _) = classifier.run(&test_images, 500, &device);
    let images: Vec<f32> = (0..args.samples).flat_map(|i| train.image(i)).collect();
    let table = eval::disturbance_table(&classifier, &images, 32, &reference, &device);
    let caption = format!(
        "{} CIFAR-10 training images against the 10,000 test images, in the features of {} (not Inception FID; precision and recall on the first {} of each set)",
        args.samples,
        classifier.manifest.name,
        eval::PRECISION_RECALL_POINTS
    );
    println!("{caption}\n\n{table}");
    if let Some(path) = args.out {
        std::fs::write(&path, format!("{caption}\n\n{table}"))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn train(args: TrainArgs) -> Result<()> {
    let rates = [args.lr, args.lr_critic.unwrap_or(args.lr)];
    if args.batch == 0
        || args.every == 0
        || args.critic_steps == 0
        || args.width == 0
        || !(0.0..1.0).contains(&args.beta2)
        || !rates.iter().all(|r| r.is_finite() && *r > 0.0)
    {
        bail!(
            "--batch, --every, --critic-steps, --width, --lr and --lr-critic must be positive, and --beta2 in [0, 1)"
        );
    }
    if args.average.is_some_and(|d| !(d > 0.0 && d < 1.0)) {
        bail!(
            "--average is the averaging decay, in (0, 1): 0.999 averages over about the last 1,000 iterations"
        );
    }
    let device = device::cpu();
    match args.recipe {
        Recipe::Classifier => return train_classifier(&args, &device),
        Recipe::Vae => return vae::train_vae(&args, &device),
        Recipe::Corrector => return vae::train_corrector(&args, &device),
        _ => {}
    }
    // The text recipe's held-out lines, read once for the JS-4 of every checkpoint.
    let mut held_out: Vec<String> = Vec::new();
    let toy = match args.recipe {
        Recipe::Gaussians25 => Some(Toy::Gaussians25),
        Recipe::Swissroll => Some(Toy::SwissRoll),
        Recipe::Cifar10 | Recipe::Text | Recipe::Classifier | Recipe::Vae | Recipe::Corrector => {
            None
        }
    };
    // Before the training data, so that a missing classifier fails fast; a critic-only fit leaves
    // the samples as they are.
    let image_score = match (args.recipe, args.critic_only) {
        (Recipe::Cifar10, false) => Some(ImageScore::load(&args.classifier, &args.data, &device)?),
        _ => None,
    };
    let (data, arch, description, data_note): (Box<dyn RealData>, Architecture, String, String) =
        match args.recipe {
            Recipe::Gaussians25 | Recipe::Swissroll => {
                let toy = toy.expect("a toy recipe");
                let description = match toy {
                    Toy::Gaussians25 => {
                        "SN-GAN on the paper's 25 Gaussians (5×5 grid, σ = 0.05, scaled by 1/2.828)"
                    }
                    Toy::SwissRoll => {
                        "SN-GAN on the paper's Swiss roll (noise 0.25, x and z columns, divided by 7.5)"
                    }
                };
                let note = format!(
                    "{} samples generated in code (src/data/toy2d.rs), fresh each iteration",
                    toy.name()
                );
                (
                    Box::new(ToyData { toy, seed: args.seed }),
                    Architecture::toy2d(),
                    description.into(),
                    note,
                )
            }
            Recipe::Cifar10 => (
                Box::new(ImageData {
                    images: Cifar::load(&args.data.join("cifar-10-batches-bin"), Split::Train)?,
                    seed: args.seed,
                }),
                Architecture::Dcgan { latent: 128, width: args.width, size: 32 },
                format!(
                    "SN-DCGAN on CIFAR-10 (32×32 RGB), channel width {} (64 is Miyato et al.'s)",
                    args.width
                ),
                "CIFAR-10 training set (50,000 images), random left-right flips".into(),
            ),
            Recipe::Text => {
                let corpus = Corpus::load(&args.data.join("text"))?;
                held_out = corpus.held_out.clone();
                let vocab = Vocab::from_lines(&corpus.train, text::VOCAB_SIZE);
                let lines = corpus.train.iter().map(|l| vocab.encode(l)).collect();
                let note = format!(
                    "the first 32 characters of the {} training lines (of 32+ characters) of the One Billion Word held-out sentences and 17 Gutenberg books; every 7th line ({}) held out for evaluation; {} symbols, rarer characters folded into {}; real one-hots smoothed by 0.1 towards uniform",
                    corpus.train.len(),
                    corpus.held_out.len(),
                    vocab.len(),
                    text::UNKNOWN
                );
                let arch = Architecture::CharCnn {
                    latent: 128,
                    width: args.width,
                    length: text::LENGTH,
                    blocks: args.blocks,
                    vocab: vocab.symbols.clone(),
                };
                let description = format!(
                    "SN language GAN (WGAN-GP's residual 1D-conv networks, width {}, {} blocks) on 32-character sentence openings",
                    args.width, args.blocks
                );
                (
                    Box::new(TextData { lines, vocab, smoothing: 0.1, seed: args.seed }),
                    arch,
                    description,
                    note,
                )
            }
            Recipe::Classifier | Recipe::Vae | Recipe::Corrector => {
                unreachable!("trained by their own functions")
            }
        };
    let name = match args.recipe {
        Recipe::Gaussians25 => "25gaussians",
        Recipe::Swissroll => "swissroll",
        Recipe::Cifar10 => "cifar10",
        Recipe::Text => "text",
        Recipe::Classifier | Recipe::Vae | Recipe::Corrector => {
            unreachable!("trained by their own functions")
        }
    };
    let loss = match args.loss {
        LossArg::Logistic => GanLoss::Logistic,
        LossArg::Wasserstein => GanLoss::Wasserstein,
    };
    let mut trainer = if args.checkpoint.exists() {
        let mut t = checkpoint::load(&args.checkpoint, &device)?;
        let iteration = t.iteration;
        println!("resuming {} from iteration {iteration}", args.checkpoint.display());
        if let Some(dir) = &args.init {
            println!(
                "(--init {} applies to a new run only: the checkpoint's weights go on)",
                dir.display()
            );
        }
        if (t.config.loss, t.config.critic_only) != (loss, args.critic_only) {
            record_stage(&mut t, stage_note(iteration, loss, args.critic_only));
            t.config.loss = loss;
            t.config.critic_only = args.critic_only;
        }
        if args.critic_only && t.averages_generator() {
            t.adopt_average();
            record_stage(
                &mut t,
                format!(
                    "From iteration {iteration}: the generator replaced by its average, for the critic to fit."
                ),
            );
        } else if !args.critic_only && t.average.is_some() && !t.averages_generator() {
            bail!(
                "{} holds a critic-only fit with the critic's weights averaged: go on with --critic-only, or train both networks from a copy of the checkpoint before the fit",
                args.checkpoint.display()
            );
        }
        if let (Some(decay), None) = (args.average, &t.average) {
            t.start_average(decay);
            record_stage(&mut t, average_note(iteration, decay, args.critic_only));
        }
        t
    } else {
        let lr_critic = args.lr_critic.unwrap_or(args.lr);
        let config = TrainConfig {
            batch: args.batch,
            lr_generator: args.lr,
            lr_critic,
            beta1: 0.5,
            beta2: args.beta2,
            critic_steps: args.critic_steps,
            seed: args.seed,
            loss,
            critic_only: args.critic_only,
            average_decay: args.average,
        };
        let mut bundle = arch.init_bundle(name, args.seed);
        bundle.manifest.description = description;
        let mut start = stage_note(0, loss, args.critic_only);
        if let Some(decay) = args.average {
            start = format!("{start} {}", average_note(0, decay, args.critic_only));
        }
        bundle.manifest.provenance.notes = start.clone();
        if let Some(dir) = &args.init {
            bundle = starting_bundle(dir, &bundle)?;
            let history = &mut bundle.manifest.provenance;
            history.notes = format!(
                "{} Then a new run from those weights ({}; the optimiser afresh): {start}",
                history.notes, history.trained_by
            );
            println!("starting from the weights of {}", dir.display());
        }
        GanTrainer::new(&bundle, config, &device)
    };
    let mut log = open_log(
        args.log.as_deref(),
        "iteration,critic_loss,generator_loss,real_logit,fake_logit,eval",
    )?;
    let bar = progress_bar(trainer.iteration, args.iterations)?;
    let reference =
        toy.map(|toy| toy.sample(4000, &mut Noise::new(args.seed ^ 0x5eed, Stream::Data)));
    let mut record = args
        .record
        .as_ref()
        .map(|_| record::TrainRecord::new(trainer.host_weights(), trainer.iteration));
    if record.is_some() {
        trainer.trace = Some(Vec::new());
    }
    while trainer.iteration < args.iterations {
        let inputs = trainer.inputs(data.as_ref());
        let iteration = trainer.iteration;
        let losses = trainer.step_on(inputs.clone());
        if let Some(r) = record.as_mut() {
            r.push(
                iteration,
                &inputs,
                &losses,
                trainer.trace.replace(Vec::new()).unwrap_or_default(),
            );
        }
        bar.inc(1);
        if trainer.iteration % args.every == 0 || trainer.iteration == args.iterations {
            checkpoint::save(&trainer, &args.checkpoint)?;
            let bundle = trainer.bundle();
            let score = match (toy, &reference, args.recipe) {
                (Some(toy), Some(reference), _) => toy_score(&bundle, toy, reference, &device)?,
                (_, _, Recipe::Text) => {
                    text_score(&bundle, &held_out, &args.checkpoint.with_extension("txt"), &device)?
                }
                _ => {
                    let path = args.checkpoint.with_extension("png");
                    write_png(&path, &base_grid(&bundle, 64, &device)?)?;
                    match &image_score {
                        Some(score) => format!(
                            "{}; samples in {}",
                            score.of(&bundle, &device)?,
                            path.display()
                        ),
                        None => format!("samples in {}", path.display()),
                    }
                }
            };
            bar.set_message(format!("D {:.3} G {:.3} | {score}", losses.critic, losses.generator));
            let line = format!(
                "{},{},{},{},{},{score}",
                trainer.iteration,
                losses.critic,
                losses.generator,
                losses.real_logit,
                losses.fake_logit
            );
            checkpoint_line(&mut log, &bar, &line)?;
        }
    }
    bar.finish();
    if let (Some(r), Some(path)) = (record, &args.record) {
        r.write(path, trainer.host_weights(), &trainer.config, &trainer.manifest)?;
        println!("wrote {}", path.display());
    }
    let mut bundle = trainer.bundle();
    bundle.manifest.provenance = Provenance {
        trained_by: format!(
            "dgflow train {} (this repository), {} iterations",
            bundle.manifest.name, trainer.iteration
        ),
        data: data_note,
        recipe: format!(
            "spectral-norm critic, {} critic steps per generator step, Adam lr {} (critic {}) betas ({}, {}), batch {}, seed {}",
            trainer.config.critic_steps,
            trainer.config.lr_generator,
            trainer.config.lr_critic,
            trainer.config.beta1,
            trainer.config.beta2,
            trainer.config.batch,
            trainer.config.seed
        ),
        notes: trainer.manifest.provenance.notes.clone(),
    };
    if toy.is_some() {
        // The toys' critics are steep (see the model cards): η = 0.1 overshoots, 0.01 refines.
        bundle.manifest.recommended = Some(Recommended { eta: 0.01, gamma: 0.01 });
    }
    bundle.write_dir(&args.out)?;
    println!("wrote {}", args.out.display());
    Ok(())
}

/// The bundle at `dir`, to train on from, if it holds the same networks as `fresh` (the
/// recipe's, freshly initialised): every parameter, of the same shape.
fn starting_bundle(dir: &Path, fresh: &Bundle) -> Result<Bundle> {
    let mut bundle = Bundle::from_dir(dir)?;
    let sorted = |b: &Bundle| {
        b.weights
            .iter()
            .map(|(name, (shape, _))| (name.clone(), shape.clone()))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let (ours, theirs) = (sorted(fresh), sorted(&bundle));
    let differs = ours.iter().find(|(name, shape)| theirs.get(*name) != Some(shape));
    let extra = theirs.keys().find(|name| !ours.contains_key(*name));
    if let Some((name, shape)) = differs {
        let there = theirs.get(name).map_or("missing".to_string(), |s| format!("{s:?}"));
        bail!(
            "--init {}: {name} is {there} there, {shape:?} in this recipe's networks: start from a bundle trained with the same recipe and flags (--width, --blocks)",
            dir.display()
        );
    }
    if let Some(name) = extra {
        bail!(
            "--init {}: {name} is not a parameter of this recipe's networks: start from a bundle trained with the same recipe and flags",
            dir.display()
        );
    }
    // Training writes f16 whatever it started from (an int8 bundle is packed for the page).
    bundle.manifest.weights.encoding = Default::default();
    Ok(bundle)
}

/// Prints a resumed run's new stage and adds it to the bundle's training history.
fn record_stage(trainer: &mut GanTrainer, stage: String) {
    println!("{stage}");
    trainer.manifest.provenance.notes =
        format!("{} {stage}", trainer.manifest.provenance.notes).trim().to_string();
}

/// A sentence for the bundle's training history: which loss from which iteration.
fn stage_note(iteration: u64, loss: GanLoss, critic_only: bool) -> String {
    let loss = match loss {
        GanLoss::Logistic => "the non-saturating (logistic) loss",
        GanLoss::Wasserstein => "the Wasserstein loss",
    };
    format!(
        "From iteration {iteration}: {loss}{}.",
        if critic_only { ", critic only (generator frozen)" } else { "" }
    )
}

/// A sentence for the bundle's training history: which network's weights are averaged from when.
fn average_note(iteration: u64, decay: f32, critic_only: bool) -> String {
    let network = if critic_only { "critic" } else { "generator" };
    format!("From iteration {iteration}: the {network}'s weights averaged (decay {decay}).")
}

/// `dgflow train classifier`: the reference feature network of the image metrics.
fn train_classifier(args: &TrainArgs, device: &burn::prelude::Device) -> Result<()> {
    let cifar_dir = args.data.join("cifar-10-batches-bin");
    let (train, test) =
        (Cifar::load(&cifar_dir, Split::Train)?, Cifar::load(&cifar_dir, Split::Test)?);
    let mut trainer = if args.checkpoint.exists() {
        let t = ClassifierTrainer::load(&args.checkpoint, device)?;
        println!("resuming {} from step {}", args.checkpoint.display(), t.step);
        t
    } else {
        let (features, head) = classifier::architecture(args.width);
        let manifest = ClassifierManifest {
            format: classifier::FORMAT.into(),
            name: "cifar10-classifier".into(),
            description: format!(
                "CIFAR-10 classifier (VGG-style, widths {}–{}): the feature network of this project's image metrics — Fréchet distance, KID and precision/recall in its features are not Inception FID",
                args.width,
                8 * args.width
            ),
            input_shape: vec![3, 32, 32],
            classes: CLASSES.iter().map(|c| c.to_string()).collect(),
            features,
            head,
            weights: dgflow::bundle::WeightsRef {
                file: "weights.safetensors".into(),
                sha256: String::new(),
                encoding: Default::default(),
            },
            provenance: Provenance {
                trained_by: String::new(),
                data: String::new(),
                recipe: String::new(),
                notes: String::new(),
            },
            test_accuracy: None,
        };
        let weights = classifier::init_weights(&manifest, args.seed);
        let config = ClassifierConfig {
            batch: args.batch,
            peak_lr: args.lr,
            total_steps: args.iterations,
            weight_decay: 0.05,
            label_smoothing: 0.1,
            shift: 4,
            seed: args.seed,
        };
        ClassifierTrainer::new(manifest, &weights, config, device)
    };
    let mut log =
        open_log(args.log.as_deref(), "step,loss,batch_accuracy,learning_rate,test_accuracy")?;
    let bar = progress_bar(trainer.step, args.iterations)?;
    let mut accuracy = f32::NAN;
    while trainer.step < args.iterations {
        let (loss, batch_accuracy) = trainer.train_step(&train);
        bar.inc(1);
        if trainer.step % args.every == 0 || trainer.step == args.iterations {
            trainer.save(&args.checkpoint)?;
            accuracy = trainer.accuracy(&test)?;
            let line = format!(
                "{},{loss},{batch_accuracy},{},{accuracy}",
                trainer.step,
                trainer.learning_rate()
            );
            bar.set_message(format!("loss {loss:.3} | test accuracy {:.2} %", 100.0 * accuracy));
            checkpoint_line(&mut log, &bar, &line)?;
        }
    }
    bar.finish();
    if accuracy.is_nan() {
        accuracy = trainer.accuracy(&test)?;
    }
    let mut manifest = trainer.manifest.clone();
    let c = &trainer.config;
    manifest.test_accuracy = Some(accuracy);
    manifest.provenance = Provenance {
        trained_by: format!("dgflow train classifier (this repository), {} steps", trainer.step),
        data: "CIFAR-10 training set (50,000 images); accuracy on the 10,000 test images".into(),
        recipe: format!(
            "cross-entropy with label smoothing {}, AdamW (β 0.9, 0.999) peak lr {} with 5 % linear warm-up then linear decay over {} steps, decoupled weight decay {}, batch {}, random flips and ±{} px reflected shifts, seed {}",
            c.label_smoothing, c.peak_lr, c.total_steps, c.weight_decay, c.batch, c.shift, c.seed
        ),
        notes: String::new(),
    };
    Classifier::write_dir(&manifest, &trainer.host_weights(), &args.out)?;
    println!("wrote {} (test accuracy {:.2} %)", args.out.display(), 100.0 * accuracy);
    Ok(())
}

/// A checkpoint's CSV line: appended to the log, and printed when no progress bar shows.
fn checkpoint_line(
    log: &mut Option<std::fs::File>,
    bar: &indicatif::ProgressBar,
    line: &str,
) -> Result<()> {
    if let Some(file) = log.as_mut() {
        writeln!(file, "{line}")?;
    }
    if bar.is_hidden() {
        println!("{line}");
    }
    Ok(())
}

/// A CSV log opened for appending, with `header` written when the file is new.
fn open_log(path: Option<&Path>, header: &str) -> Result<Option<std::fs::File>> {
    let Some(path) = path else { return Ok(None) };
    let fresh = !path.exists();
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    if fresh {
        writeln!(file, "{header}")?;
    }
    Ok(Some(file))
}

/// A progress bar with ETA, at `position` of `length`; hidden (and the caller prints lines
/// instead) when the output is not a terminal.
fn progress_bar(position: u64, length: u64) -> Result<indicatif::ProgressBar> {
    let bar = indicatif::ProgressBar::new(length);
    bar.set_style(indicatif::ProgressStyle::with_template(
        "{bar:40} {pos}/{len} [{elapsed_precise} < {eta_precise}] {msg}",
    )?);
    bar.set_position(position.min(length));
    bar.reset_eta();
    Ok(bar)
}

/// The base model's samples of `bundle` (fixed latents, seed 0), as the flow returns them.
fn base_samples(bundle: &Bundle, n: usize, device: &burn::prelude::Device) -> Result<Vec<f32>> {
    seeded_base_samples(&Model::build(bundle, 0, device), n, 0, device)
}

/// `n` base samples of `model` from the latents of `seed`.
fn seeded_base_samples(
    model: &Model,
    n: usize,
    seed: u64,
    device: &burn::prelude::Device,
) -> Result<Vec<f32>> {
    let config = FlowConfig {
        steps: 1,
        batch: n,
        seed,
        keep: Keep::Steps(vec![0]),
        ..FlowConfig::default()
    };
    let mut refiner = pollster::block_on(flow::Refiner::new(model, model, config, device))?;
    let step = pollster::block_on(refiner.next_step())?.expect("step 0");
    Ok(step.samples.expect("step 0 is kept"))
}

/// JS-4 of 2,000 base sentences against the held-out lines, for the training log; the first 32
/// sentences go to `sample_path`.
fn text_score(
    bundle: &Bundle,
    held_out: &[String],
    sample_path: &Path,
    device: &burn::prelude::Device,
) -> Result<String> {
    let m = &bundle.manifest;
    let vocab = Vocab::from_symbols(m.vocab.clone().context("a text bundle has a vocabulary")?);
    let held_out: Vec<Vec<u16>> = held_out.iter().map(|l| vocab.encode(l)).collect();
    let n = 2000;
    let samples = base_samples(bundle, n, device)?;
    let generated = text::argmax_indices(&samples, n, vocab.len(), text::LENGTH);
    let lines: Vec<String> = generated
        .iter()
        .take(32)
        .map(|s| s.iter().map(|&i| vocab.symbols[i as usize].as_str()).collect::<String>() + "\n")
        .collect();
    std::fs::write(sample_path, lines.concat())
        .with_context(|| format!("writing {}", sample_path.display()))?;
    Ok(format!("JS-4 {:.4}", ngram::js_divergence(&generated, &held_out, 4)))
}

/// A grid of `n` base samples of an image model (fixed latents, seed 0), to watch training.
fn base_grid(bundle: &Bundle, n: usize, device: &burn::prelude::Device) -> Result<render::Grid> {
    let samples = base_samples(bundle, n, device)?;
    let m = &bundle.manifest;
    Ok(render::image_grid(&samples, n, &m.sample_shape, m.value_range, render::columns_for(n)))
}

/// The training log's measure of an image GAN: the Fréchet distance, in the features of the
/// project's classifier, between 2,000 base samples (the same latents at every checkpoint) and
/// the first 2,000 CIFAR-10 test images. A trend to watch while training; `dgflow eval` gives the
/// card's numbers (against all 10,000).
struct ImageScore {
    classifier: Classifier,
    reference: Gaussian,
}

impl ImageScore {
    const IMAGES: usize = 2000;
    /// Samples generated at once (memory), each chunk with the next seed; divides `IMAGES`.
    const CHUNK: usize = 250;

    fn load(classifier: &Path, data: &Path, device: &burn::prelude::Device) -> Result<ImageScore> {
        let classifier = Classifier::load(classifier, device)
            .with_context(|| format!("the training log scores samples in the features of the CIFAR-10 classifier {} (pass its folder with --classifier)", classifier.display()))?;
        let test = Cifar::load(&data.join("cifar-10-batches-bin"), Split::Test)?;
        let images: Vec<f32> =
            (0..Self::IMAGES.min(test.len())).flat_map(|i| test.image(i)).collect();
        let (features, _) = classifier.run(&images, Self::CHUNK, device);
        Ok(ImageScore { reference: Gaussian::fit(&features), classifier })
    }

    fn of(&self, bundle: &Bundle, device: &burn::prelude::Device) -> Result<String> {
        let model = Model::build(bundle, 0, device);
        let mut samples = Vec::new();
        for seed in 0..(Self::IMAGES / Self::CHUNK) as u64 {
            samples.extend(seeded_base_samples(&model, Self::CHUNK, seed, device)?);
        }
        let (features, _) = self.classifier.run(&samples, Self::CHUNK, device);
        Ok(format!(
            "FD {:.2} (classifier features)",
            frechet_distance(&Gaussian::fit(&features), &self.reference)
        ))
    }
}

/// A one-line quality summary of a toy model's base samples, for the training log.
fn toy_score(
    bundle: &Bundle,
    toy: Toy,
    reference: &[f32],
    device: &burn::prelude::Device,
) -> Result<String> {
    let points = base_samples(bundle, 2000, device)?;
    Ok(eval::toy_metrics(toy, &points, reference)
        .into_iter()
        .map(|(name, value)| format!("{name} {value}"))
        .collect::<Vec<_>>()
        .join(", "))
}

fn eval(args: EvalArgs) -> Result<()> {
    let mut bundle = Bundle::from_dir(&args.model)?;
    if args.without_corrector {
        if bundle.manifest.critic_terms.is_empty() {
            bail!(
                "{} has no critic terms to drop (--without-corrector is for models refined through a corrector)",
                args.model.display()
            );
        }
        bundle = bundle.without_critic_terms();
    }
    let methods = if args.methods.is_empty() { Method::ALL.to_vec() } else { args.methods.clone() };
    let device = device::cpu();
    let model = Model::build(&bundle, 0, &device);
    let (eta, gamma) = step_settings(&bundle, args.eta, args.gamma);
    let base = FlowConfig {
        eta,
        gamma,
        space: args.space,
        batch: args.samples,
        seed: args.seed,
        ..FlowConfig::default()
    };
    let m = &bundle.manifest;
    let (table, against) = match m.kind {
        SampleKind::Points => {
            let toy = Toy::from_name(&m.name).with_context(|| {
                format!("no 2D data set is named {} (the bundle's name selects it)", m.name)
            })?;
            let reference =
                toy.sample(args.samples, &mut Noise::new(args.seed ^ 0x5eed, Stream::Data));
            (
                pollster::block_on(eval::toy_table(
                    &model, toy, base, &methods, &reference, &device,
                ))?,
                format!("{} fresh data samples", args.samples),
            )
        }
        SampleKind::Text => {
            let vocab =
                Vocab::from_symbols(m.vocab.clone().context("a text bundle has a vocabulary")?);
            let held_out: Vec<Vec<u16>> = Corpus::load(&args.data.join("text"))?
                .held_out
                .iter()
                .map(|l| vocab.encode(l))
                .collect();
            let length = m.sample_shape[1];
            let score =
                |samples: &[f32]| eval::text_metrics(samples, vocab.len(), length, &held_out);
            let table = pollster::block_on(eval::table(
                &model, base, &methods, args.chunk, &score, &device,
            ))?;
            (
                table,
                format!("the {} held-out sentences (every 7th line of the corpus)", held_out.len()),
            )
        }
        SampleKind::Image => {
            let classifier = Classifier::load(&args.classifier, &device)
                .with_context(|| "image metrics need the project's CIFAR-10 classifier (train one with `dgflow train classifier`)")?;
            let dir = args.data.join("cifar-10-batches-bin");
            let (train, test) = (Cifar::load(&dir, Split::Train)?, Cifar::load(&dir, Split::Test)?);
            let images: Vec<f32> = (0..test.len()).flat_map(|i| test.image(i)).collect();
            let (reference, _) = classifier.run(&images, 500, &device);
            let score =
                |samples: &[f32]| eval::image_metrics(&classifier, samples, &reference, &device);
            let mut table = pollster::block_on(eval::table(
                &model, base, &methods, args.chunk, &score, &device,
            ))?;
            // What real images score at this sample size: a model that matched the data would
            // reach these values, not 0 and 1 (precision especially sits well below 1).
            let n = args.samples.min(train.len());
            let real: Vec<f32> = (0..n).flat_map(|i| train.image(i)).collect();
            let cells: Vec<String> = score(&real)
                .into_iter()
                .map(|(metric, value)| format!("{metric} {value}"))
                .collect();
            table += &format!(
                "\nReal images at this sample size (the first {n} CIFAR-10 training images, scored the same way): {}.\n",
                cells.join(", ")
            );
            (
                table,
                format!(
                    "the 10,000 CIFAR-10 test images, in the features of our classifier (not Inception FID; precision and recall on the first {} of each set)",
                    eval::PRECISION_RECALL_POINTS
                ),
            )
        }
    };
    let space = if args.space == Space::Latent { "latent" } else { "data" };
    let critic = match (m.critic_terms.is_empty(), args.without_corrector) {
        (_, true) => "; critic terms dropped (own critic alone)",
        (false, false) => "; critic = own critic + its terms",
        (true, false) => "",
    };
    let caption = format!(
        "{} — {} samples per cell against {against}; seed {}, η = {eta}, γ = {gamma}, {space} space{critic} (step 0 is the base model)",
        m.name, args.samples, args.seed
    );
    println!("{caption}\n\n{table}");
    if let Some(path) = args.out {
        std::fs::write(&path, format!("{caption}\n\n{table}"))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn refine(args: RefineArgs) -> Result<()> {
    let (method, space) = (args.method, args.space);
    let keep = match (&args.record, args.keep_every) {
        (Some(_), _) => Keep::All,
        (None, 0) => Keep::Steps(vec![0, args.steps]),
        (None, n) => Keep::Every(n),
    };
    let bundle = Bundle::from_dir(&args.model)?;
    let (eta, gamma) = step_settings(&bundle, args.eta, args.gamma);
    let config = FlowConfig {
        method,
        eta,
        gamma,
        steps: args.steps,
        space,
        seed: args.seed,
        batch: args.batch,
        keep,
    };
    config.validate()?;
    if space == Space::Data && bundle.manifest.kind == SampleKind::Text {
        bail!(
            "--space data does not apply to text models (their samples are distributions over characters); use --space latent"
        );
    }
    let device = pollster::block_on(device::open(args.device))?;
    let model = Model::build(&bundle, args.thermalize, &device);

    let start = web_time::Instant::now();
    let mut refiner =
        pollster::block_on(flow::Refiner::new(&model, &model, config.clone(), &device))?;
    if method == Method::Dot {
        println!("DOT k_eff = {:.4}", refiner.k_eff());
    }
    println!(
        "{} on {} ({} samples, η = {}, γ = {}, seed {})",
        method.name(),
        args.model.display(),
        config.batch,
        config.eta,
        config.gamma,
        config.seed
    );
    println!("step  mean logit");
    let mut steps = Vec::new();
    let mut record =
        args.record.as_ref().map(|_| record::RefineRecord::new(&config, model.manifest.latent.dim));
    while let Some(step) = pollster::block_on(refiner.next_step())? {
        println!("{:>4}  {:+.4}", step.index, step.mean_logit());
        if let Some(r) = record.as_mut() {
            r.push(&step, refiner.added_noise())?;
        }
        steps.push(step);
    }
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "{} steps in {seconds:.2} s ({:.1} ms/step)",
        config.steps,
        1e3 * seconds / config.steps as f64
    );

    let trajectory = Trajectory { config, steps };
    let out = write_comparison(&model, &trajectory, args.out)?;
    println!("wrote {}", out.display());
    if let (Some(r), Some(path)) = (record, &args.record) {
        r.write(path, refiner.k_eff(), args.thermalize)?;
        println!("wrote {}", path.display());
    }
    if let Some(path) = args.trajectory {
        let json = serde_json::to_string(&trajectory)?;
        std::fs::write(&path, json).with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// η and γ: as given, else the bundle's recommendation, else the paper's defaults.
fn step_settings(bundle: &Bundle, eta: Option<f32>, gamma: Option<f32>) -> (f32, f32) {
    let paper = FlowConfig::default();
    let (eta0, gamma0) =
        bundle.manifest.recommended.map_or((paper.eta, paper.gamma), |r| (r.eta, r.gamma));
    (eta.unwrap_or(eta0), gamma.unwrap_or(gamma0))
}

/// Writes the first and last kept steps side by side, in the form that suits the sample kind.
fn write_comparison(
    model: &Model,
    trajectory: &Trajectory,
    out: Option<PathBuf>,
) -> Result<PathBuf> {
    let m = &model.manifest;
    let kept: Vec<_> = trajectory.steps.iter().filter(|s| s.samples.is_some()).collect();
    let (first, last) = (kept[0], kept[kept.len() - 1]);
    let (before, after) =
        (first.samples.as_deref().expect("kept"), last.samples.as_deref().expect("kept"));
    let n = trajectory.config.batch;
    match m.kind {
        SampleKind::Image => {
            let path = out.unwrap_or_else(|| "refined.png".into());
            let cols = render::columns_for(n);
            let a = render::image_grid(before, n, &m.sample_shape, m.value_range, cols);
            let b = render::image_grid(after, n, &m.sample_shape, m.value_range, cols);
            write_png(&path, &side_by_side(&a, &b))?;
            Ok(path)
        }
        SampleKind::Text => {
            let path = out.unwrap_or_else(|| "refined.txt".into());
            let vocab = m.vocab.as_deref().expect("text manifests have a vocabulary");
            let a = render::decode_text(before, n, &m.sample_shape, vocab);
            let b = render::decode_text(after, n, &m.sample_shape, vocab);
            let mut text = format!(
                "# {} — step {} → step {} (logit before → after)\n",
                m.name, first.index, last.index
            );
            for i in 0..n {
                text += &format!(
                    "{:+.3} {:?}\n{:+.3} {:?}\n\n",
                    first.logits[i], a[i], last.logits[i], b[i]
                );
            }
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
            Ok(path)
        }
        SampleKind::Points
            if out.as_ref().is_some_and(|p| p.extension().is_some_and(|e| e == "png")) =>
        {
            let path = out.expect("checked above");
            let data = Toy::backdrop(&m.name);
            let a = render::scatter(before, &data, m.value_range);
            let b = render::scatter(after, &data, m.value_range);
            write_png(&path, &side_by_side(&a, &b))?;
            Ok(path)
        }
        SampleKind::Points => {
            let path = out.unwrap_or_else(|| "refined.csv".into());
            let mut csv =
                String::from("x_before,y_before,x_after,y_after,logit_before,logit_after\n");
            for i in 0..n {
                csv += &format!(
                    "{},{},{},{},{},{}\n",
                    before[2 * i],
                    before[2 * i + 1],
                    after[2 * i],
                    after[2 * i + 1],
                    first.logits[i],
                    last.logits[i]
                );
            }
            std::fs::write(&path, csv).with_context(|| format!("writing {}", path.display()))?;
            Ok(path)
        }
    }
}

fn side_by_side(a: &render::Grid, b: &render::Grid) -> render::Grid {
    let gap = 4 * render::GAP;
    let (width, height) = (a.width + gap + b.width, a.height.max(b.height));
    let mut rgba = vec![255u8; width * height * 4];
    for (grid, x0) in [(a, 0), (b, a.width + gap)] {
        for y in 0..grid.height {
            let src = &grid.rgba[y * grid.width * 4..(y + 1) * grid.width * 4];
            rgba[(y * width + x0) * 4..(y * width + x0 + grid.width) * 4].copy_from_slice(src);
        }
    }
    render::Grid { width, height, rgba }
}

fn write_png(path: &Path, grid: &render::Grid) -> Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut encoder =
        png::Encoder::new(std::io::BufWriter::new(file), grid.width as u32, grid.height as u32);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.write_header()?.write_image_data(&grid.rgba)?;
    Ok(())
}

fn info(dir: &Path) -> Result<()> {
    let manifest = std::fs::read(dir.join("manifest.json")).unwrap_or_default();
    let format = serde_json::from_slice::<serde_json::Value>(&manifest)
        .ok()
        .and_then(|m| m["format"].as_str().map(String::from));
    if format.as_deref() == Some(classifier::FORMAT) {
        let c = Classifier::load(dir, &device::cpu())?;
        let m = &c.manifest;
        println!("{} — {}", m.name, m.description);
        println!(
            "kind:        classifier ({}), input {:?}, {} classes: {}",
            classifier::FORMAT,
            m.input_shape,
            m.classes.len(),
            m.classes.join(", ")
        );
        println!(
            "features:    {} layers to {} features (the space of our image metrics)",
            m.features.layers.len(),
            c.feature_dim
        );
        if let Some(a) = m.test_accuracy {
            println!("accuracy:    {:.2} % on the CIFAR-10 test split", 100.0 * a);
        }
        println!("trained by:  {}", m.provenance.trained_by);
        println!("recipe:      {}", m.provenance.recipe);
        return Ok(());
    }
    let bundle = Bundle::from_dir(dir)?;
    let m = &bundle.manifest;
    let count = |prefix: &str| -> usize {
        bundle
            .weights
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, (_, v))| v.len())
            .sum()
    };
    println!("{} — {}", m.name, m.description);
    println!(
        "kind:        {:?}, sample shape {:?}, values in [{}, {}]",
        m.kind, m.sample_shape, m.value_range[0], m.value_range[1]
    );
    println!("latent:      {} dimensions, {:?} prior", m.latent.dim, m.latent.prior);
    println!(
        "generator:   {} layers, {} parameters",
        m.generator.layers.len(),
        count("generator.")
    );
    println!("critic:      {} layers, {} parameters", m.critic.layers.len(), count("critic."));
    for term in &m.critic_terms {
        println!(
            "  + {}: {} layers, {} parameters — {}",
            term.name,
            term.network.layers.len(),
            count(&format!("{}.", term.name)),
            term.description
        );
    }
    if let Some(vocab) = &m.vocab {
        println!("vocabulary:  {} characters: {:?}", vocab.len(), vocab.concat());
    }
    println!("weights:     {} (sha256 {})", m.weights.file, m.weights.sha256);
    println!("trained by:  {}", m.provenance.trained_by);
    println!("data:        {}", m.provenance.data);
    if !m.provenance.recipe.is_empty() {
        println!("recipe:      {}", m.provenance.recipe);
    }
    if let Some(r) = m.recommended {
        println!(
            "recommended: η = {}, γ = {} (the paper's defaults are η = 0.1, γ = 0.01)",
            r.eta, r.gamma
        );
    }
    Ok(())
}

fn pack(dir: &Path, encoding: dgflow::bundle::Encoding) -> Result<()> {
    let mut bundle = Bundle::from_dir(dir)?;
    let file = dir.join(&bundle.manifest.weights.file);
    let before = std::fs::metadata(&file)?.len();
    bundle.manifest.weights.encoding = encoding;
    let shares: Vec<(String, PathBuf)> = bundle
        .manifest
        .shared_weights
        .iter()
        .map(|s| {
            (
                s.prefix.clone(),
                dir.join(&s.file).parent().expect("a file has a folder").to_path_buf(),
            )
        })
        .collect();
    let shares: Vec<(&str, &Path)> =
        shares.iter().map(|(p, d)| (p.as_str(), d.as_path())).collect();
    bundle.write_dir_sharing(dir, &shares)?;
    let after = std::fs::metadata(&file)?.len();
    let max_change = Bundle::from_dir(dir)?
        .weights
        .iter()
        .map(|(k, (_, v))| {
            v.iter().zip(&bundle.weights[k].1).fold(0f32, |m, (a, b)| m.max((a - b).abs()))
        })
        .fold(0f32, f32::max);
    println!(
        "wrote {} as {encoding:?}: {before} → {after} bytes; largest change of a weight {max_change:.2e}",
        file.display()
    );
    Ok(())
}

fn init(args: InitArgs) -> Result<()> {
    let arch = match args.arch {
        ArchArg::Toy2d => Architecture::toy2d(),
        ArchArg::Dcgan => {
            if args.size == 0 || !args.size.is_multiple_of(8) {
                bail!("--size {} must be a positive multiple of 8 for dcgan", args.size);
            }
            Architecture::Dcgan { latent: args.latent, width: args.width, size: args.size }
        }
        ArchArg::Charcnn => Architecture::CharCnn {
            latent: args.latent,
            width: args.width,
            length: args.size,
            blocks: 5,
            vocab: args.vocab.chars().map(String::from).collect(),
        },
    };
    if args.width == 0 || args.latent == 0 || args.size == 0 {
        bail!("--width, --latent and --size must be positive");
    }
    let name = args.name.unwrap_or_else(|| {
        args.out.file_name().map_or("model".into(), |n| n.to_string_lossy().into_owned())
    });
    arch.init_bundle(&name, args.seed).write_dir(&args.out)?;
    println!("wrote {}", args.out.display());
    Ok(())
}

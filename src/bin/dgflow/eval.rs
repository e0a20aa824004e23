//! `dgflow eval`: base samples against every refinement method, scored as in the paper's tables;
//! and `dgflow check-metrics`: that the image metrics behave like FID.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use dgflow::bundle::Bundle;
use dgflow::data::cifar::{Cifar, Split};
use dgflow::data::text::{Corpus, Vocab};
use dgflow::data::toy2d::Toy;
use dgflow::device;
use dgflow::eval;
use dgflow::flow::{FlowConfig, Method, Space};
use dgflow::metrics::classifier::Classifier;
use dgflow::model::Model;
use dgflow::rng::{Noise, Stream};
use dgflow::sample::SampleKind;

#[derive(clap::Args)]
pub struct EvalArgs {
    /// Bundle directory.
    #[arg(long)]
    pub model: PathBuf,
    /// Samples per cell of the table.
    #[arg(long, default_value_t = 4096)]
    pub samples: usize,
    /// Step size η [default: the bundle's recommendation, else the paper's 0.1].
    #[arg(long)]
    pub eta: Option<f32>,
    /// Noise factor γ [default: the bundle's recommendation, else the paper's 0.01].
    #[arg(long)]
    pub gamma: Option<f32>,
    /// Refine latents or samples (DDLS runs in latent space either way).
    #[arg(long, value_enum, default_value_t = Space::Latent)]
    pub space: Space,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Write the table (markdown) here as well as to the terminal.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Samples refined at once (the rest in further chunks, each with the next seed).
    #[arg(long, default_value_t = 500)]
    pub chunk: usize,
    /// Methods to compare, in this order [default: all: dgflow-kl, dgflow-js, dgflow-logd, ddls, dot].
    #[arg(long, value_enum, value_delimiter = ',')]
    pub methods: Vec<Method>,
    /// Drop the bundle's critic terms (a VAE's corrector) and refine with its own critic alone:
    /// the ablation that measures what the corrector adds.
    #[arg(long)]
    pub without_corrector: bool,
    /// The classifier bundle whose features score images.
    #[arg(long, default_value = "models/cifar10-classifier")]
    pub classifier: PathBuf,
    /// The shared data folder (reference images and held-out sentences).
    #[arg(long, env = "DGFLOW_DATA", default_value = "../shared/data")]
    pub data: PathBuf,
}

pub fn eval(args: EvalArgs) -> Result<()> {
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
    let defaults = FlowConfig::for_model(bundle.manifest.recommended);
    let (eta, gamma) = (args.eta.unwrap_or(defaults.eta), args.gamma.unwrap_or(defaults.gamma));
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

#[derive(clap::Args)]
pub struct CheckMetricsArgs {
    /// The classifier bundle whose features score images.
    #[arg(long, default_value = "models/cifar10-classifier")]
    pub classifier: PathBuf,
    /// Training images scored against the 10,000 test images, in each condition.
    #[arg(long, default_value_t = 5000)]
    pub samples: usize,
    /// The shared data folder (holding cifar-10-batches-bin/).
    #[arg(long, env = "DGFLOW_DATA", default_value = "../shared/data")]
    pub data: PathBuf,
    /// Write the table (markdown) here as well as to the terminal.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn check_metrics(args: CheckMetricsArgs) -> Result<()> {
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

//! `dgflow eval`: base samples against every refinement method, scored as in the paper's tables;
//! and `dgflow check-metrics`: that the image metrics behave like FID.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use crate::flags;
use crate::output::write_table;

use dgflow::bundle::Bundle;
use dgflow::data::cifar::{Cifar, Split};
use dgflow::data::text::{Corpus, Vocab};
use dgflow::device;
use dgflow::eval;
use dgflow::flow::{FlowConfig, Limits, Method, Space};
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
    #[arg(long, allow_negative_numbers = true, default_value_t = 4096, value_parser = flags::whole(1, eval::MAX_SAMPLES as u64))]
    pub samples: usize,
    /// Step size η [default: the bundle's recommendation, else the paper's 0.1].
    #[arg(long, allow_negative_numbers = true)]
    pub eta: Option<f32>,
    /// Noise factor γ [default: the bundle's recommendation, else the paper's 0.01].
    #[arg(long, allow_negative_numbers = true)]
    pub gamma: Option<f32>,
    /// Refine latents or samples (DDLS runs in latent space either way).
    #[arg(long, value_enum, default_value_t = Space::Latent)]
    pub space: Space,
    /// Seeds to score, each an independent draw of `--samples` (cells give mean ± sd over them).
    /// Report on seeds no setting was chosen on: the bundled models' settings were chosen on seed 0.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3", allow_negative_numbers = true, value_parser = flags::at_least(0))]
    pub seeds: Vec<u64>,
    /// Write the table (markdown) here as well as to the terminal.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Samples refined at once (the rest in further chunks, each with a seed of its own).
    #[arg(long, allow_negative_numbers = true, default_value_t = 500, value_parser = flags::whole(1, Limits::ENGINE.max_batch as u64))]
    pub chunk: usize,
    /// Methods to compare, in this order [default: all: dgflow-kl, dgflow-js, dgflow-logd, ddls,
    /// dot, drs, mh-gan].
    #[arg(long, value_enum, value_delimiter = ',')]
    pub methods: Vec<Method>,
    /// Compare at equal compute: each method runs the steps that spend about this many critic
    /// evaluations (forward and backward) per sample (DGflow's 25 steps spend 51), and the
    /// columns are fifths of it [default: every method runs --steps].
    #[arg(long, allow_negative_numbers = true)]
    pub budget: Option<usize>,
    /// Flow steps (and DRS/MH-GAN proposals after the first) when no --budget is given.
    #[arg(long, allow_negative_numbers = true, default_value_t = 25, value_parser = flags::whole(1, Limits::ENGINE.max_steps as u64))]
    pub steps: usize,
    /// DRS: the percentile of its burn-in batch's F accepted with probability ½.
    #[arg(long, allow_negative_numbers = true, default_value_t = dgflow::flow::select::DRS_PERCENTILE)]
    pub percentile: f32,
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
        seed: args.seeds[0],
        steps: args.steps,
        percentile: args.percentile,
        ..FlowConfig::default()
    };
    eval::check_samples(bundle.manifest.kind, args.samples)?;
    if let Some(budget) = args.budget {
        dgflow::flow::budget::check_budget(budget)?;
    }
    // Every chunk runs these settings: check them once, before anything runs.
    FlowConfig { batch: args.chunk.min(args.samples), ..base.clone() }
        .validate(bundle.manifest.kind)?;
    let m = &bundle.manifest;
    // The table of every method, with the kind's scorer.
    let run = |score: &eval::Scorer| {
        pollster::block_on(eval::table(
            &model,
            base.clone(),
            &args.seeds,
            &methods,
            args.chunk,
            args.budget,
            score,
            &device,
        ))
    };
    let (table, against) = match m.kind {
        SampleKind::Points => {
            let toy = m.required_toy()?;
            let reference = toy.sample(args.samples, &mut Noise::new(0x5eed, Stream::Data));
            let score = |points: &[f32]| eval::toy_metrics(toy, points, &reference);
            let mut table = run(&score)?;
            // What the data itself scores at this sample size: fresh draws per seed (never the
            // reference's), scored the same way.
            let real: Vec<Vec<_>> = args
                .seeds
                .iter()
                .map(|&seed| {
                    let points = toy.sample(args.samples, &mut Noise::new(seed + 1, Stream::Data));
                    eval::toy_metrics(toy, &points, &reference)
                })
                .collect();
            table += &format!(
                "\nThe data itself at this sample size ({} fresh draws per seed, scored the same way): {}.\n",
                args.samples,
                eval::real_floor(&real)
            );
            (table, format!("{} fresh data samples", args.samples))
        }
        SampleKind::Text => {
            let vocab =
                Vocab::from_symbols(m.vocab.clone().context("a text bundle has a vocabulary")?);
            let corpus = Corpus::load(&args.data.join("text"))?;
            let held_out: Vec<Vec<u16>> = corpus.held_out.iter().map(|l| vocab.encode(l)).collect();
            let length = m.sample_shape[1];
            let score =
                |samples: &[f32]| eval::text_metrics(samples, vocab.len(), length, &held_out);
            let mut table = run(&score)?;
            // What real sentences score at this sample size: training lines, a disjoint stretch
            // of them per seed, against the same held-out lines.
            let n = args.samples.min(corpus.train.len() / args.seeds.len());
            let real: Vec<Vec<_>> = (0..args.seeds.len())
                .map(|i| {
                    let lines: Vec<Vec<u16>> =
                        corpus.train[i * n..(i + 1) * n].iter().map(|l| vocab.encode(l)).collect();
                    eval::sentence_metrics(&lines, &held_out)
                })
                .collect();
            table += &format!(
                "\nReal sentences at this sample size ({n} training lines per seed, a different {n} each, scored the same way): {}.\n",
                eval::real_floor(&real)
            );
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
            let mut table = run(&score)?;
            // What real images score at this sample size: a model that matched the data would
            // reach these values, not 0 and 1 (precision especially sits well below 1). A
            // disjoint stretch of the training images per seed.
            let n = args.samples.min(train.len() / args.seeds.len());
            let real: Vec<Vec<_>> = (0..args.seeds.len())
                .map(|i| {
                    let images: Vec<f32> =
                        (i * n..(i + 1) * n).flat_map(|k| train.image(k)).collect();
                    score(&images)
                })
                .collect();
            table += &format!(
                "\nReal images at this sample size ({n} CIFAR-10 training images per seed, a different {n} each, scored the same way): {}.\n",
                eval::real_floor(&real)
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
        "{} — {} samples per cell against {against}; mean ± sd over seeds {}, η = {eta}, γ = {gamma}, {space} space{critic} (step 0 is the base model)",
        m.name,
        args.samples,
        args.seeds.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
    );
    println!("{caption}\n\n{table}");
    if let Some(path) = args.out {
        write_table(&path, &caption, &table)?;
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct CheckMetricsArgs {
    /// The classifier bundle whose features score images.
    #[arg(long, default_value = "models/cifar10-classifier")]
    pub classifier: PathBuf,
    /// Training images scored against the 10,000 test images, in each condition.
    #[arg(long, allow_negative_numbers = true, default_value_t = 5000, value_parser = flags::whole(1, eval::MAX_SAMPLES as u64))]
    pub samples: usize,
    /// The shared data folder (holding cifar-10-batches-bin/).
    #[arg(long, env = "DGFLOW_DATA", default_value = "../shared/data")]
    pub data: PathBuf,
    /// Write the table (markdown) here as well as to the terminal.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn check_metrics(args: CheckMetricsArgs) -> Result<()> {
    eval::check_samples(SampleKind::Image, args.samples)?;
    let device = device::cpu();
    let classifier = Classifier::load(&args.classifier, &device)
        .with_context(|| "the metrics live in the features of the project's CIFAR-10 classifier (train one with `dgflow train classifier`)")?;
    let dir = args.data.join("cifar-10-batches-bin");
    let (train, test) = (Cifar::load(&dir, Split::Train)?, Cifar::load(&dir, Split::Test)?);
    if args.samples > train.len() {
        bail!("--samples {} is more than the {} training images", args.samples, train.len());
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
        write_table(&path, &caption, &table)?;
    }
    Ok(())
}

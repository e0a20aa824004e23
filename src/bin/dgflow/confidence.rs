//! `dgflow confidence`: how sure our classifier is of an image model's samples, base and after
//! DGflow-KL at the page's settings, beside its confidence on real test images; and a grid of
//! unselected base and refined samples with its verdict on each, to look at.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use crate::flags;
use crate::output::{write_png, write_table};

use dgflow::bundle::Bundle;
use dgflow::data::cifar::{Cifar, Split};
use dgflow::device;
use dgflow::eval::{self, cell};
use dgflow::flow::{self, FlowConfig, Keep, Limits, Method};
use dgflow::metrics::classifier::Classifier;
use dgflow::metrics::confidence::{
    bin_names, bin_shares, class_shares, median_confidence, top_class,
};
use dgflow::model::Model;
use dgflow::render;
use dgflow::sample::SampleKind;

/// Samples in the grid: 8 × 8, as the "random grid of 64" asks.
const GRID: usize = 64;

#[derive(clap::Args)]
pub struct ConfidenceArgs {
    /// Bundle directory of an image model.
    #[arg(long)]
    pub model: PathBuf,
    /// Samples per seed.
    #[arg(long, allow_negative_numbers = true, default_value_t = 5000, value_parser = flags::whole(1, eval::MAX_SAMPLES as u64))]
    pub samples: usize,
    /// Seeds, each an independent draw (cells give mean ± sd over them); the same latents as
    /// `dgflow eval` draws for a seed. The bundled models' settings were chosen on seed 0.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3", allow_negative_numbers = true, value_parser = flags::at_least(0))]
    pub seeds: Vec<u64>,
    /// Step size η [default: the bundle's recommendation, else the paper's 0.1, as the page].
    #[arg(long, allow_negative_numbers = true)]
    pub eta: Option<f32>,
    /// Noise factor γ [default: the bundle's recommendation, else the paper's 0.01].
    #[arg(long, allow_negative_numbers = true)]
    pub gamma: Option<f32>,
    /// DGflow-KL steps (latent space) before the refined samples are scored.
    #[arg(long, allow_negative_numbers = true, default_value_t = 25, value_parser = flags::whole(1, Limits::ENGINE.max_steps as u64))]
    pub steps: usize,
    /// Samples refined at once.
    #[arg(long, allow_negative_numbers = true, default_value_t = 500, value_parser = flags::whole(1, Limits::ENGINE.max_batch as u64))]
    pub chunk: usize,
    /// Also write the first seed's first 64 samples, base (left) beside refined (right), to this
    /// PNG, and the classifier's verdict on each under the tables.
    #[arg(long)]
    pub grid: Option<PathBuf>,
    /// The classifier bundle that judges the samples.
    #[arg(long, default_value = "models/cifar10-classifier")]
    pub classifier: PathBuf,
    /// The shared data folder (holding cifar-10-batches-bin/).
    #[arg(long, env = "DGFLOW_DATA", default_value = "../shared/data")]
    pub data: PathBuf,
    /// Write the tables (markdown) here as well as to the terminal.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn confidence(args: ConfidenceArgs) -> Result<()> {
    let bundle = Bundle::from_dir(&args.model)?;
    let m = &bundle.manifest;
    if m.kind != SampleKind::Image {
        bail!(
            "{} is not an image model; `dgflow confidence` judges images (`dgflow eval` scores the others)",
            args.model.display()
        );
    }
    if args.grid.is_some() && args.samples.min(args.chunk) < GRID {
        bail!(
            "--grid shows {GRID} samples of one chunk: give --samples and --chunk {GRID} or more"
        );
    }
    let defaults = FlowConfig::for_model(m.recommended);
    let (eta, gamma) = (args.eta.unwrap_or(defaults.eta), args.gamma.unwrap_or(defaults.gamma));
    let config = FlowConfig {
        method: Method::DgflowKl,
        eta,
        gamma,
        steps: args.steps,
        keep: Keep::Steps(vec![0, args.steps]),
        ..FlowConfig::default()
    };
    FlowConfig { batch: args.chunk.min(args.samples), ..config.clone() }.validate(m.kind)?;

    let device = device::cpu();
    let classifier = Classifier::load(&args.classifier, &device).with_context(
        || "the samples are judged by the project's CIFAR-10 classifier (train one with `dgflow train classifier`)",
    )?;
    if m.sample_shape != classifier.manifest.input_shape {
        bail!(
            "{} makes samples of shape {:?}, but the classifier takes {:?}",
            args.model.display(),
            m.sample_shape,
            classifier.manifest.input_shape
        );
    }
    let classes = classifier.manifest.classes.len();

    let test = Cifar::load(&args.data.join("cifar-10-batches-bin"), Split::Test)?;
    let images: Vec<f32> = (0..test.len()).flat_map(|i| test.image(i)).collect();
    let (_, real) = classifier.run(&images, 500, &device);
    let correct = real
        .chunks_exact(classes)
        .zip(&test.labels)
        .filter(|(row, label)| top_class(row).0 == **label as usize)
        .count();
    let accuracy = 100.0 * correct as f64 / test.len() as f64;

    let model = Model::build(&bundle, 0, &device);
    // [seed] → (base, refined) class probabilities; the first chunk's samples for the grid.
    let mut judged: Vec<[Vec<f32>; 2]> = Vec::new();
    let mut grid_samples: Option<[Vec<f32>; 2]> = None;
    for &seed in &args.seeds {
        let mut probabilities = [Vec::new(), Vec::new()];
        for (c, start) in (0..args.samples).step_by(args.chunk).enumerate() {
            let batch = args.chunk.min(args.samples - start);
            let run = FlowConfig { batch, seed: eval::chunk_seed(seed, c), ..config.clone() };
            let trajectory = pollster::block_on(flow::refine(&model, &model, run, &device))?;
            let kept: Vec<&[f32]> =
                trajectory.steps.iter().filter_map(|s| s.samples.as_deref()).collect();
            for (p, samples) in probabilities.iter_mut().zip(&kept) {
                p.extend(classifier.run(samples, 500, &device).1);
            }
            if args.grid.is_some() && grid_samples.is_none() {
                let first = |s: &[f32]| s[..GRID * s.len() / batch].to_vec();
                grid_samples = Some([first(kept[0]), first(kept[1])]);
            }
        }
        judged.push(probabilities);
    }

    // One metric's rows: the test images' value, then base and refined as mean ± sd over seeds,
    // each computed once per set of samples.
    let rows = |f: &dyn Fn(&[f32]) -> Vec<f64>, decimals: usize| -> Vec<[String; 3]> {
        let real = f(&real);
        let per_seed: [Vec<Vec<f64>>; 2] =
            [0, 1].map(|w| judged.iter().map(|p| f(&p[w])).collect());
        (0..real.len())
            .map(|row| {
                let over = |w: usize| {
                    cell(&per_seed[w].iter().map(|v| v[row]).collect::<Vec<_>>(), decimals)
                };
                [format!("{:.*}", decimals, real[row]), over(0), over(1)]
            })
            .collect()
    };
    let refined = format!("DGflow-KL, step {}", args.steps);
    let mut tables = format!(
        "| largest class probability | CIFAR-10 test images | base (step 0) | {refined} |\n|---|---|---|---|\n"
    );
    for (name, [r, b, a]) in bin_names().iter().zip(rows(&|p| bin_shares(p, classes), 1)) {
        tables += &format!("| {name} | {r} % | {b} % | {a} % |\n");
    }
    for [r, b, a] in rows(&|p| vec![median_confidence(p, classes)], 3) {
        tables += &format!("| median | {r} | {b} | {a} |\n");
    }
    tables += &format!(
        "\nThe class the classifier picks, percent of samples:\n\n| class | CIFAR-10 test images | base (step 0) | {refined} |\n|---|---|---|---|\n"
    );
    let shares = rows(&|p| class_shares(p, classes), 1);
    for (name, [r, b, a]) in classifier.manifest.classes.iter().zip(shares) {
        tables += &format!("| {name} | {r} | {b} | {a} |\n");
    }

    if let (Some(path), Some([base, refined_grid])) = (&args.grid, &grid_samples) {
        let grid =
            |samples: &[f32]| render::image_grid(samples, GRID, &m.sample_shape, m.value_range, 8);
        write_png(path, &render::side_by_side(&grid(base), &grid(refined_grid)))?;
        // The grid is the first seed's first samples: their verdicts are its judgement's first rows.
        let [before, after] = &judged[0];
        let name = |i: usize| classifier.manifest.classes[i].as_str();
        tables += &format!(
            "\nThe grid (`{}`: seed {}'s first {GRID} samples, unselected; base left, refined right), row by row: the classifier's class and probability, base → refined:\n\n|{}\n|{}\n",
            path.file_name().map_or(path.display().to_string(), |f| f.to_string_lossy().into()),
            args.seeds[0],
            (1..=8).map(|c| format!(" {c} |")).collect::<String>(),
            "---|".repeat(8)
        );
        for row in 0..GRID / 8 {
            let cells: Vec<String> = (row * 8..row * 8 + 8)
                .map(|i| {
                    let (a, pa) = top_class(&before[i * classes..(i + 1) * classes]);
                    let (b, pb) = top_class(&after[i * classes..(i + 1) * classes]);
                    if a == b {
                        format!("{} {pa:.2} → {pb:.2}", name(a))
                    } else {
                        format!("{} {pa:.2} → {} {pb:.2}", name(a), name(b))
                    }
                })
                .collect();
            tables += &format!("| {} |\n", cells.join(" | "));
        }
    }

    let caption = format!(
        "{} — how sure our classifier ({}, {accuracy:.1} % of the CIFAR-10 test images right) is of each sample's class: percent of samples by their largest class probability, {} samples per seed, mean ± sd over seeds {}; refined: {} DGflow-KL steps at η = {eta}, γ = {gamma}, latent space; test images: all {}, once",
        m.name,
        classifier.manifest.name,
        args.samples,
        args.seeds.iter().map(u64::to_string).collect::<Vec<_>>().join(", "),
        args.steps,
        test.len()
    );
    println!("{caption}\n\n{tables}");
    if let Some(path) = &args.out {
        write_table(path, &caption, &tables)?;
    }
    Ok(())
}

//! `dgflow refine`: refine a batch of samples and write a before/after comparison, and on request
//! the whole trajectory (JSON) and a record of the run for the PyTorch reference.

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::arrays;
use crate::flags;
use crate::output::write_png;
use crate::record;
use dgflow::bundle::Bundle;
use dgflow::device::{self, Backend};
use dgflow::flow::select::{DRS_PERCENTILE, Rule};
use dgflow::flow::{self, FlowConfig, Keep, Method, Space, Trajectory};
use dgflow::model::Model;
use dgflow::render::{self, View};

#[derive(clap::Args)]
pub struct RefineArgs {
    /// Bundle directory (holding manifest.json), e.g. models/cifar10.
    #[arg(long)]
    pub model: PathBuf,
    #[arg(long, value_enum, default_value_t = Method::DgflowKl)]
    pub method: Method,
    /// Step size η [default: the bundle's recommendation, else the paper's 0.1].
    #[arg(long, allow_negative_numbers = true)]
    pub eta: Option<f32>,
    /// Noise factor γ: each step adds √(2ηγ)·ξ [default: the bundle's recommendation, else 0.01].
    #[arg(long, allow_negative_numbers = true)]
    pub gamma: Option<f32>,
    #[arg(long, allow_negative_numbers = true, default_value_t = 25)]
    pub steps: usize,
    #[arg(long, value_enum, default_value_t = Space::Latent)]
    pub space: Space,
    /// DRS: the percentile of its burn-in batch's F accepted with probability ½ (its shift γ).
    #[arg(long, allow_negative_numbers = true, default_value_t = DRS_PERCENTILE)]
    pub percentile: f32,
    #[arg(long, allow_negative_numbers = true, default_value_t = 0, value_parser = flags::at_least(0))]
    pub seed: u64,
    /// Number of samples.
    #[arg(long, allow_negative_numbers = true, default_value_t = 64)]
    pub batch: usize,
    /// Extra spectral-norm power iterations before refining (the authors' "thermalisation").
    #[arg(long, allow_negative_numbers = true, default_value_t = 0, value_parser = flags::whole(0, 10_000))]
    pub thermalize: usize,
    /// Keep samples of every n-th step in the trajectory file (0 keeps only the first and last).
    #[arg(long, allow_negative_numbers = true, default_value_t = 1, value_parser = flags::whole(0, u32::MAX as u64))]
    pub keep_every: usize,
    #[arg(long, value_enum, default_value_t = Backend::Cpu)]
    pub device: Backend,
    /// Before/after output: a PNG grid for images, a text listing for text, CSV (or, given a
    /// .png name, scatter plots) for points. Defaults to refined.png, refined.txt or refined.csv.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also write the whole trajectory (logits every step, samples and latents of kept steps) as JSON.
    #[arg(long)]
    pub trajectory: Option<PathBuf>,
    /// Record the run for the PyTorch reference (tests/reference/): starting latents, every
    /// step's noise, state, samples and logits, as safetensors. Keeps every step.
    #[arg(long)]
    pub record: Option<PathBuf>,
    /// Start from these latents instead of the seed's: a .npy or safetensors file of shape
    /// [batch, latent dimension] (in safetensors, a tensor named `latents` or `z0`, or the only
    /// one; a --record file works).
    #[arg(long)]
    pub latents: Option<PathBuf>,
    /// Add this noise ξ at each step instead of the seed's: shape [steps, batch, dimension of
    /// the refined state] (a tensor named `noise`, the only one, or a --record file's).
    #[arg(long)]
    pub noise: Option<PathBuf>,
}

pub fn refine(args: RefineArgs) -> Result<()> {
    let (method, space) = (args.method, args.space);
    let keep = match (&args.record, args.keep_every) {
        (Some(_), _) => Keep::All,
        (None, 0) => Keep::Steps(vec![0, args.steps]),
        (None, n) => Keep::Every(n),
    };
    let bundle = Bundle::from_dir(&args.model)?;
    let defaults = FlowConfig::for_model(bundle.manifest.recommended);
    let config = FlowConfig {
        method,
        eta: args.eta.unwrap_or(defaults.eta),
        gamma: args.gamma.unwrap_or(defaults.gamma),
        steps: args.steps,
        space,
        seed: args.seed,
        batch: args.batch,
        keep,
        percentile: args.percentile,
    };
    config.validate(bundle.manifest.kind)?;
    let given = given(&args, &config, &bundle)?;
    let device = pollster::block_on(device::open(args.device))?;
    let model = Model::build(&bundle, args.thermalize, &device);

    let start = web_time::Instant::now();
    let refiner = flow::Refiner::with_given(&model, &model, config.clone(), given, &device);
    let mut refiner = pollster::block_on(refiner)?;
    if method == Method::Dot {
        println!("DOT k_eff = {:.4}", refiner.k_eff());
    }
    match refiner.rule() {
        Some(Rule::Rejection { d_max, shift }) => println!(
            "DRS: largest logit of the burn-in batch d* = {d_max:.4}, shift γ = {shift:.4} (percentile {})",
            config.percentile
        ),
        Some(Rule::Chain { calibration }) => println!(
            "MH-GAN: calibrated logit = {} · d + {}{}",
            calibration.scale,
            calibration.shift,
            if model.manifest.calibration.is_none() {
                " (no calibration in the bundle)"
            } else {
                ""
            }
        ),
        None => {}
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
    let selects = method.selects();
    println!(
        "step  mean logit{}",
        if selects {
            "  delivered  accepted now  critic evaluations per delivered sample"
        } else {
            ""
        }
    );
    let mut steps = Vec::new();
    let mut record = args.record.as_ref().map(|_| {
        let latent = &model.manifest.latent;
        record::RefineRecord::new(&config, latent, refiner.start().to_vec(), refiner.rule())
    });
    while let Some(step) = pollster::block_on(refiner.next_step())? {
        match &step.accepted {
            Some(accepted) => println!(
                "{:>4}  {:+10.4}  {:>9}  {:>12}  {:.1}",
                step.index,
                step.mean_logit(),
                step.delivered,
                accepted.iter().filter(|&&a| a).count(),
                step.spent.per_sample(step.delivered)
            ),
            None => println!("{:>4}  {:+.4}", step.index, step.mean_logit()),
        }
        if let Some(r) = record.as_mut() {
            r.push(&step, refiner.added_noise(), refiner.drawn())?;
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

/// The latents and noise of `--latents` and `--noise`, checked against the run's shapes.
fn given(args: &RefineArgs, config: &FlowConfig, bundle: &Bundle) -> Result<flow::Given> {
    let m = &bundle.manifest;
    let (batch, latent) = (config.batch, m.latent.dim);
    let latents = match &args.latents {
        Some(path) => {
            Some(arrays::read_shaped(path, "--latents", &["latents", "z0"], &[batch, latent])?)
        }
        None => None,
    };
    let noise = match &args.noise {
        Some(path) => {
            let dim = match config.space {
                Space::Latent => latent,
                Space::Data => m.sample_shape.iter().product(),
            };
            Some(arrays::read_shaped(path, "--noise", &["noise"], &[config.steps, batch, dim])?)
        }
        None => None,
    };
    Ok(flow::Given { latents, noise })
}

/// Writes the first and last kept steps side by side, as the core shows samples of their kind:
/// a PNG of two grids or plots, a listing of sentences, or (points, unless a .png is named) CSV.
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
    let png = out.as_ref().is_some_and(|p| p.extension().is_some_and(|e| e == "png"));
    match (View::of(m, before, n), View::of(m, after, n)) {
        (View::Text { lines: a }, View::Text { lines: b }) => {
            let path = out.unwrap_or_else(|| "refined.txt".into());
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
        (View::Points { .. }, View::Points { .. }) if !png => {
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
        (a, b) => {
            let path = out.unwrap_or_else(|| "refined.png".into());
            let pictures = a.picture().zip(b.picture());
            let (a, b) = pictures.expect("images and points are shown as pictures");
            write_png(&path, &render::side_by_side(a, b))?;
            Ok(path)
        }
    }
}

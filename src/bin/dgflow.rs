//! `dgflow`: the native command line — refine a bundle's samples, describe a bundle, or create a
//! freshly initialised one.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};

use dgflow::bundle::{Bundle, SampleKind};
use dgflow::device::{self, Backend};
use dgflow::flow::{self, FlowConfig, Keep, Method, Space, Trajectory};
use dgflow::model::Model;
use dgflow::model::presets::Architecture;
use dgflow::render;

#[derive(Parser)]
#[command(name = "dgflow", version, about = "Refine generative-model samples with discriminator gradient flow (DGflow)")]
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
}

#[derive(clap::Args)]
struct RefineArgs {
    /// Bundle directory (holding manifest.json), e.g. models/cifar10.
    #[arg(long)]
    model: PathBuf,
    #[arg(long, value_enum, default_value_t = MethodArg::DgflowKl)]
    method: MethodArg,
    /// Step size η.
    #[arg(long, default_value_t = 0.1, allow_negative_numbers = true)]
    eta: f32,
    /// Noise factor γ: each step adds √(2ηγ)·ξ.
    #[arg(long, default_value_t = 0.01, allow_negative_numbers = true)]
    gamma: f32,
    #[arg(long, default_value_t = 25)]
    steps: usize,
    #[arg(long, value_enum, default_value_t = SpaceArg::Latent)]
    space: SpaceArg,
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
    #[arg(long, value_enum, default_value_t = BackendArg::Cpu)]
    device: BackendArg,
    /// Before/after output: a PNG grid for images, a text listing for text, CSV for points.
    /// Defaults to refined.png, refined.txt or refined.csv.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Also write the whole trajectory (logits every step, samples and latents of kept steps) as JSON.
    #[arg(long)]
    trajectory: Option<PathBuf>,
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
enum MethodArg {
    DgflowKl,
    DgflowJs,
    DgflowLogd,
    Ddls,
    Dot,
}

#[derive(Copy, Clone, ValueEnum)]
enum SpaceArg {
    Latent,
    Data,
}

#[derive(Copy, Clone, ValueEnum)]
enum BackendArg {
    Cpu,
    Gpu,
}

#[derive(Copy, Clone, ValueEnum)]
enum ArchArg {
    Toy2d,
    Dcgan,
    Charcnn,
}

fn main() {
    if let Err(e) = run(Cli::parse()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Refine(args) => refine(args),
        Command::Info { model } => info(&model),
        Command::Init(args) => init(args),
    }
}

fn refine(args: RefineArgs) -> Result<()> {
    let method = match args.method {
        MethodArg::DgflowKl => Method::DgflowKl,
        MethodArg::DgflowJs => Method::DgflowJs,
        MethodArg::DgflowLogd => Method::DgflowLogD,
        MethodArg::Ddls => Method::Ddls,
        MethodArg::Dot => Method::Dot,
    };
    let space = match args.space {
        SpaceArg::Latent => Space::Latent,
        SpaceArg::Data => Space::Data,
    };
    let keep = if args.keep_every == 0 { Keep::Steps(vec![0, args.steps]) } else { Keep::Every(args.keep_every) };
    let config = FlowConfig { method, eta: args.eta, gamma: args.gamma, steps: args.steps, space, seed: args.seed, batch: args.batch, keep };
    config.validate()?;
    let bundle = Bundle::from_dir(&args.model)?;
    if space == Space::Data && bundle.manifest.kind == SampleKind::Text {
        bail!("--space data does not apply to text models (their samples are distributions over characters); use --space latent");
    }
    let backend = match args.device {
        BackendArg::Cpu => Backend::Cpu,
        BackendArg::Gpu => Backend::Gpu,
    };
    let device = pollster::block_on(device::open(backend))?;
    let model = Model::build(&bundle, args.thermalize, &device);

    let start = web_time::Instant::now();
    let mut refiner = pollster::block_on(flow::Refiner::new(&model, &model, config.clone(), &device))?;
    if method == Method::Dot {
        println!("DOT k_eff = {:.4}", refiner.k_eff());
    }
    println!("{} on {} ({} samples, η = {}, γ = {}, seed {})", method.name(), args.model.display(), config.batch, config.eta, config.gamma, config.seed);
    println!("step  mean logit");
    let mut steps = Vec::new();
    while let Some(step) = pollster::block_on(refiner.next_step())? {
        println!("{:>4}  {:+.4}", step.index, step.mean_logit());
        steps.push(step);
    }
    let seconds = start.elapsed().as_secs_f64();
    println!("{} steps in {seconds:.2} s ({:.1} ms/step)", config.steps, 1e3 * seconds / config.steps as f64);

    let trajectory = Trajectory { config, steps };
    let out = write_comparison(&model, &trajectory, args.out)?;
    println!("wrote {}", out.display());
    if let Some(path) = args.trajectory {
        let json = serde_json::to_string(&trajectory)?;
        std::fs::write(&path, json).with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// Writes the first and last kept steps side by side, in the form that suits the sample kind.
fn write_comparison(model: &Model, trajectory: &Trajectory, out: Option<PathBuf>) -> Result<PathBuf> {
    let m = &model.manifest;
    let kept: Vec<_> = trajectory.steps.iter().filter(|s| s.samples.is_some()).collect();
    let (first, last) = (kept[0], kept[kept.len() - 1]);
    let (before, after) = (first.samples.as_deref().expect("kept"), last.samples.as_deref().expect("kept"));
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
            let mut text = format!("# {} — step {} → step {} (logit before → after)\n", m.name, first.index, last.index);
            for i in 0..n {
                text += &format!("{:+.3} {:?}\n{:+.3} {:?}\n\n", first.logits[i], a[i], last.logits[i], b[i]);
            }
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
            Ok(path)
        }
        SampleKind::Points => {
            let path = out.unwrap_or_else(|| "refined.csv".into());
            let mut csv = String::from("x_before,y_before,x_after,y_after,logit_before,logit_after\n");
            for i in 0..n {
                csv += &format!("{},{},{},{},{},{}\n", before[2 * i], before[2 * i + 1], after[2 * i], after[2 * i + 1], first.logits[i], last.logits[i]);
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
    let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), grid.width as u32, grid.height as u32);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.write_header()?.write_image_data(&grid.rgba)?;
    Ok(())
}

fn info(dir: &Path) -> Result<()> {
    let bundle = Bundle::from_dir(dir)?;
    let m = &bundle.manifest;
    let count = |prefix: &str| -> usize {
        bundle.weights.iter().filter(|(k, _)| k.starts_with(prefix)).map(|(_, (_, v))| v.len()).sum()
    };
    println!("{} — {}", m.name, m.description);
    println!("kind:        {:?}, sample shape {:?}, values in [{}, {}]", m.kind, m.sample_shape, m.value_range[0], m.value_range[1]);
    println!("latent:      {} dimensions, {:?} prior", m.latent.dim, m.latent.prior);
    println!("generator:   {} layers, {} parameters", m.generator.layers.len(), count("generator."));
    println!("critic:      {} layers, {} parameters", m.critic.layers.len(), count("critic."));
    if let Some(vocab) = &m.vocab {
        println!("vocabulary:  {} characters: {:?}", vocab.len(), vocab.concat());
    }
    println!("weights:     {} (sha256 {})", m.weights.file, m.weights.sha256);
    println!("trained by:  {}", m.provenance.trained_by);
    println!("data:        {}", m.provenance.data);
    if !m.provenance.recipe.is_empty() {
        println!("recipe:      {}", m.provenance.recipe);
    }
    Ok(())
}

fn init(args: InitArgs) -> Result<()> {
    let arch = match args.arch {
        ArchArg::Toy2d => Architecture::toy2d(),
        ArchArg::Dcgan => {
            if args.size == 0 || args.size % 8 != 0 {
                bail!("--size {} must be a positive multiple of 8 for dcgan", args.size);
            }
            Architecture::Dcgan { latent: args.latent, width: args.width, size: args.size }
        }
        ArchArg::Charcnn => {
            Architecture::CharCnn { latent: args.latent, width: args.width, length: args.size, blocks: 5, vocab: args.vocab.chars().map(String::from).collect() }
        }
    };
    if args.width == 0 || args.latent == 0 || args.size == 0 {
        bail!("--width, --latent and --size must be positive");
    }
    let name = args.name.unwrap_or_else(|| args.out.file_name().map_or("model".into(), |n| n.to_string_lossy().into_owned()));
    arch.init_bundle(&name, args.seed).write_dir(&args.out)?;
    println!("wrote {}", args.out.display());
    Ok(())
}

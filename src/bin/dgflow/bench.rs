//! `dgflow bench`: refinement and training throughput on this machine's CPU, side by side with
//! the PyTorch reference on the same weights, and the effective FLOP rate against a measured peak.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use burn::tensor::Distribution;
use web_time::Instant;

use crate::flags;
use dgflow::bundle::Bundle;
use dgflow::device::Backend;
use dgflow::flow::{FlowConfig, Keep, Refiner};
use dgflow::model::Model;
use dgflow::model::network::{self, Network};
use dgflow::model::presets::{Architecture, MAX_WIDTH};
use dgflow::model::spec::{Layer, NetworkSpec};
use dgflow::train::gan::{GanTrainer, TrainConfig};
use dgflow::train::real_data::RealData;

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Bundles to time (default: every bundle in models/).
    #[arg(long, value_delimiter = ',')]
    models: Vec<PathBuf>,
    /// Batch sizes to time.
    #[arg(long, allow_negative_numbers = true, value_delimiter = ',', default_value = "1,64,256", value_parser = flags::whole(1, MAX_BATCH))]
    batches: Vec<usize>,
    /// Timed refinement steps per run (after one untimed warm-up step), at least: a model whose
    /// steps are quick gets as many as fill ~0.5 s, the same number on both sides.
    #[arg(long, allow_negative_numbers = true, default_value_t = 10, value_parser = flags::whole(1, MAX_STEPS as u64))]
    steps: usize,
    /// Runs per measurement; the median is reported.
    #[arg(long, allow_negative_numbers = true, default_value_t = 3, value_parser = flags::whole(1, 100))]
    repeats: usize,
    /// The reference to run beside each measurement, e.g. "python3 tests/reference/bench.py";
    /// it is called as `REFERENCE refine BUNDLE --batch N --steps S --threads T`.
    #[arg(long)]
    reference: Option<String>,
    /// Also time CIFAR-10 SN-DCGAN training (batch 64) at this channel width (0: skip).
    #[arg(long, allow_negative_numbers = true, default_value_t = 32, value_parser = flags::whole(0, MAX_WIDTH as u64))]
    train_width: usize,
    /// Where the engine refines and trains: cpu, or gpu (a `--features webgpu` build on a machine
    /// with one). The reference runs where it is told (e.g. `bench.py --device cuda`).
    #[arg(long, value_enum, default_value_t = Backend::Cpu)]
    device: Backend,
    /// Bundles to profile layer by layer (each layer alone: forward, and forward plus the input
    /// gradient a refinement step needs), beside the reference, to find where time goes.
    #[arg(long, value_delimiter = ',')]
    profile: Vec<PathBuf>,
    /// Batch size of the layer profile.
    #[arg(long, allow_negative_numbers = true, default_value_t = 64, value_parser = flags::whole(1, MAX_BATCH))]
    profile_batch: usize,
    /// Write the tables (markdown) here as well as to the terminal.
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn bench(args: BenchArgs) -> Result<()> {
    if args.batches.is_empty() {
        bail!("--batches names no batch size: give one or more, e.g. --batches 1,64,256");
    }
    let models = if args.models.is_empty() { shipped_models()? } else { args.models.clone() };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let device = pollster::block_on(dgflow::device::open(args.device))?;
    let peak = peak_gflops(threads);

    let mut report = format!("{}\n\n", machine(threads, peak));
    report += &format!(
        "## Refinement (DGflow-KL, latent space), native, {}\n\n",
        device_label(args.device)
    );
    report += &format!(
        "ms per step, the same statistic on both sides: the median of as many steps as fill ~0.5 s (at least {}), each \
         timed alone after {WARM_UP} untimed ones; then the median of {} runs. PyTorch eager; its faster configurations are \
         tried below. Ratio = PyTorch time / Rust time (> 1: Rust is faster); GFLOP/s counts the forward and the \
         input-gradient pass of G and D.\n\n",
        args.steps, args.repeats
    );
    report += "| model | batch | Rust ms/step | samples·steps/s | GFLOP/s | % of peak | PyTorch ms/step | ratio |\n";
    report += "|---|---|---|---|---|---|---|---|\n";
    print!("{report}");
    // (model, batch, timed steps, our ms/step) of each row, for the configurations table.
    let mut timed = Vec::new();
    for dir in &models {
        let bundle = Bundle::from_dir(dir)?;
        let model = Model::build(&bundle, 0, &device);
        let m = &bundle.manifest;
        let macs = m.generator.macs(&[m.latent.dim]).unwrap_or(0)
            + m.critic.macs(&m.sample_shape).unwrap_or(0);
        for &batch in &args.batches {
            // Ten steps of a 2D toy take ~20 ms, where the first steps after the reference's
            // process ran were measured up to 30 % slower than later ones.
            let steps = args
                .steps
                .max((MIN_RUN_MS / refine_ms_per_step(&model, batch, 1, &device)?).ceil() as usize)
                .min(MAX_STEPS);
            let mut rust = Vec::new();
            let mut torch = Vec::new();
            for _ in 0..args.repeats {
                rust.push(refine_ms_per_step(&model, batch, steps, &device)?);
                if let Some(reference) = &args.reference {
                    torch.push(reference_ms(reference, dir, batch, steps, threads, "eager")?);
                }
            }
            let (ms, torch_ms) =
                (median(&mut rust), (!torch.is_empty()).then(|| median(&mut torch)));
            timed.push((dir.clone(), batch, steps, ms));
            let gflops = 4.0 * macs as f64 * batch as f64 / (ms * 1e-3) / 1e9;
            let row = format!(
                "| {} | {batch} | {ms:.2} | {:.0} | {gflops:.1} | {} | {} | {} |\n",
                m.name,
                batch as f64 / (ms * 1e-3),
                peak.filter(|_| args.device == Backend::Cpu)
                    .map_or("–".into(), |p| format!("{:.0} %", 100.0 * gflops / p)),
                torch_ms.map_or("–".into(), |t| format!("{t:.2}")),
                torch_ms.map_or("–".into(), |t| format!("{:.2}×", t / ms)),
            );
            print!("{row}");
            report += &row;
        }
    }
    if let Some(reference) = &args.reference {
        let section = configurations_section(&args, reference, &models, &timed, threads)?;
        print!("{section}");
        report += &section;
    }
    for dir in &args.profile {
        let section = profile_section(&args, dir, threads, &device)?;
        print!("{section}");
        report += &section;
    }
    if args.train_width > 0 {
        let section = training_section(&args, threads, &device)?;
        print!("{section}");
        report += &section;
    }
    if let Some(path) = &args.out {
        std::fs::write(path, &report).with_context(|| format!("writing {}", path.display()))?;
        println!("\nwrote {}", path.display());
    }
    Ok(())
}

fn device_label(backend: Backend) -> &'static str {
    match backend {
        Backend::Cpu => "CPU",
        Backend::Gpu => "GPU (wgpu)",
    }
}

fn shipped_models() -> Result<Vec<PathBuf>> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("models")
        .context("no --models given and no models/ folder here")?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("manifest.json").exists() && Bundle::from_dir(p).is_ok())
        .collect();
    dirs.sort();
    Ok(dirs)
}

/// The largest batch timed: the engine's limit.
const MAX_BATCH: u64 = dgflow::flow::Limits::ENGINE.max_batch as u64;

/// How long a timed run lasts at least, unless it reaches [`MAX_STEPS`] first.
const MIN_RUN_MS: f64 = 500.0;
const MAX_STEPS: usize = 1000;

/// Calls of a timed run that are not timed, on both sides (first-call allocations; PyTorch's
/// compilation under `torch.compile`): tests/reference/bench.py's `WARM_UP`.
const WARM_UP: usize = 2;

/// The median time of one DGflow-KL step over `steps` steps, each timed alone, after
/// [`WARM_UP`] untimed ones (step 0 evaluates the start and its drift, step 1 is the first full
/// step), as the reference times its side.
fn refine_ms_per_step(model: &Model, batch: usize, steps: usize, device: &Device) -> Result<f64> {
    // One more step than timed: a flow's last step evaluates no drift, so it is cheaper.
    let config = FlowConfig {
        batch,
        steps: WARM_UP + steps,
        keep: Keep::Steps(vec![]),
        ..FlowConfig::default()
    };
    let mut refiner = pollster::block_on(Refiner::new(model, model, config, device))?;
    for _ in 0..WARM_UP {
        pollster::block_on(refiner.next_step())?;
    }
    let mut times = Vec::with_capacity(steps);
    for _ in 0..steps {
        let start = Instant::now();
        pollster::block_on(refiner.next_step())?;
        times.push(start.elapsed().as_secs_f64() * 1e3);
    }
    Ok(median(&mut times))
}

/// The reference's ms per step on the same bundle, batch and steps, run as `config` says
/// (eager, baked or compiled: see tests/reference/bench.py).
fn reference_ms(
    reference: &str,
    dir: &Path,
    batch: usize,
    steps: usize,
    threads: usize,
    config: &str,
) -> Result<f64> {
    let json = run_reference(
        reference,
        &[
            "refine",
            &dir.display().to_string(),
            "--batch",
            &batch.to_string(),
            "--steps",
            &steps.to_string(),
            "--threads",
            &threads.to_string(),
            "--config",
            config,
        ],
    )?;
    json["ms_per_step"].as_f64().context("the reference printed no ms_per_step")
}

/// PyTorch's faster configurations beside its plain (eager) one, at batch 64 on every model, so
/// that the comparison is with PyTorch at its best on this machine: the median of `repeats`
/// runs of each, a failed configuration reported as such.
fn configurations_section(
    args: &BenchArgs,
    reference: &str,
    models: &[PathBuf],
    steps: &[(PathBuf, usize, usize, f64)],
    threads: usize,
) -> Result<String> {
    let mut section = "\n## PyTorch's configurations, batch 64\n\n\
         PyTorch eager (the table above), with each spectral norm computed once into its weight (eager recomputes W/σ(W) on every forward), \
         and under `torch.compile` (its compilation untimed); ms per step, the median of runs; the best against ours.\n\n\
         | model | eager | baked spectral norm | torch.compile | best | ratio to ours |\n|---|---|---|---|---|---|\n"
        .to_string();
    for dir in models {
        let Some((_, batch, n, ours)) =
            steps.iter().find(|(d, b, _, _)| d == dir && *b == 64).cloned()
        else {
            continue;
        };
        let mut cells = Vec::new();
        let mut best: Option<(f64, &str)> = None;
        for config in ["eager", "baked", "compiled"] {
            let mut times = Vec::new();
            let mut failure = None;
            for _ in 0..args.repeats {
                match reference_ms(reference, dir, batch, n, threads, config) {
                    Ok(ms) => times.push(ms),
                    Err(e) => {
                        failure =
                            Some(format!("{e:#}").lines().next().unwrap_or("failed").to_string());
                        break;
                    }
                }
            }
            match failure {
                Some(reason) => cells.push(format!("failed ({reason})")),
                None => {
                    let ms = median(&mut times);
                    if best.is_none_or(|(b, _)| ms < b) {
                        best = Some((ms, config));
                    }
                    cells.push(format!("{ms:.2}"));
                }
            }
        }
        let name = Bundle::from_dir(dir)?.manifest.name;
        let (best_cell, ratio) = best.map_or(("–".into(), "–".into()), |(ms, config)| {
            (format!("{config} {ms:.2}"), format!("{:.2}×", ms / ours))
        });
        section += &format!("| {name} | {} | {best_cell} | {ratio} |\n", cells.join(" | "));
    }
    Ok(section)
}

fn run_reference(reference: &str, args: &[&str]) -> Result<serde_json::Value> {
    let mut words = reference.split_whitespace();
    let program = words.next().context("--reference is empty")?;
    let out = Command::new(program)
        .args(words)
        .args(args)
        .output()
        .with_context(|| format!("running {reference}"))?;
    if !out.status.success() {
        bail!("{reference} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().context("the reference printed nothing")?;
    serde_json::from_str(line).with_context(|| format!("the reference printed {line:?}, not JSON"))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Each op of a bundle's generator and critic timed alone on random input of its shape: the
/// forward pass, and the forward pass with the gradient with respect to its input (what every
/// op does in a refinement step), beside the reference's same layers. An op is a layer, or a
/// convolution with the batch norm and activation the engine folds and fuses into it
/// (`network::fused_len`); the reference runs those as layers of their own, timed one by one.
fn profile_section(
    args: &BenchArgs,
    dir: &Path,
    threads: usize,
    device: &Device,
) -> Result<String> {
    let bundle = Bundle::from_dir(dir)?;
    let m = &bundle.manifest;
    let batch = args.profile_batch;
    let torch = match &args.reference {
        Some(reference) => {
            let json = run_reference(
                reference,
                &[
                    "layers",
                    &dir.display().to_string(),
                    "--batch",
                    &batch.to_string(),
                    "--steps",
                    &args.steps.to_string(),
                    "--threads",
                    &threads.to_string(),
                ],
            )?;
            let layers =
                json["layers"].as_array().context("the reference printed no layers")?.clone();
            let ours = m.generator.layers.len() + m.critic.layers.len();
            if layers.len() != ours {
                bail!(
                    "the reference timed {} layers of {}, which has {ours}: are both reading the same manifest?",
                    layers.len(),
                    dir.display()
                );
            }
            Some(layers)
        }
        None => None,
    };
    let mut out = format!(
        "\n## Where the time goes: {} layer by layer, batch {batch}, {}\n\n\
         Each op alone on random input of its shape, ms (median of runs): forward, and forward + \
         input gradient (one refinement step runs the latter for every op of G and D); \
         ratio = PyTorch / Rust on the latter. On the CPU an op is a layer, or a convolution with \
         the batch norm folded into its weights and the activation fused into its output (one \
         row: `a + b + c`); PyTorch runs those as layers of their own, and its columns are their \
         sum.\n\n\
         | network | layer | input | Rust forward | Rust fwd + grad | PyTorch forward | PyTorch fwd + grad | ratio |\n\
         |---|---|---|---|---|---|---|---|\n",
        m.name,
        device_label(args.device)
    );
    let (mut rust_total, mut torch_total) = (0.0, 0.0);
    let mut index = 0;
    for (network, spec, input) in
        [("G", &m.generator, vec![m.latent.dim]), ("D", &m.critic, m.sample_shape.clone())]
    {
        let prefix = if network == "G" { "generator" } else { "critic" };
        let mut i = 0;
        while i < spec.layers.len() {
            let group = &spec.layers[i..i + network::fused_len(&spec.layers[i..], device)];
            let shape = NetworkSpec { layers: spec.layers[..i].to_vec() }
                .output_shape(&input)
                .map_err(anyhow::Error::msg)?;
            let alone = Network::build(
                &NetworkSpec { layers: group.to_vec() },
                &shape,
                prefix,
                &bundle.weights,
                0,
                device,
            );
            let len = shape.iter().product();
            let mut forward = Vec::new();
            let mut with_grad = Vec::new();
            for _ in 0..args.repeats {
                forward.push(layer_ms(&alone, batch, len, false, args.steps, device));
                with_grad.push(layer_ms(&alone, batch, len, true, args.steps, device));
            }
            let (forward, with_grad) = (median(&mut forward), median(&mut with_grad));
            rust_total += with_grad;
            let reference =
                torch.as_ref().and_then(|layers| layers.get(index..index + group.len()));
            let torch_ms = |key: &str| {
                reference
                    .and_then(|layers| layers.iter().map(|l| l[key].as_f64()).sum::<Option<f64>>())
            };
            let (torch_forward, torch_grad) = (torch_ms("forward_ms"), torch_ms("step_ms"));
            torch_total += torch_grad.unwrap_or(0.0);
            let shown = |v: Option<f64>| v.map_or("–".into(), |t| format!("{t:.2}"));
            out += &format!(
                "| {network} | {} | {} | {forward:.2} | {with_grad:.2} | {} | {} | {} |\n",
                group.iter().map(layer_label).collect::<Vec<_>>().join(" + "),
                shape.iter().map(usize::to_string).collect::<Vec<_>>().join("×"),
                shown(torch_forward),
                shown(torch_grad),
                torch_grad.map_or("–".into(), |t| format!("{:.2}×", t / with_grad)),
            );
            index += group.len();
            i += group.len();
        }
    }
    let torch_sum = torch.is_some().then_some(torch_total);
    out += &format!(
        "| all | | | | **{rust_total:.2}** | | {} | {} |\n",
        torch_sum.map_or("–".into(), |t| format!("**{t:.2}**")),
        torch_sum.map_or("–".into(), |t| format!("{:.2}×", t / rust_total)),
    );
    Ok(out)
}

/// The manifest's op name, with the layer's own name where it has one.
fn layer_label(layer: &Layer) -> String {
    let json = serde_json::to_value(layer).unwrap_or_default();
    match (json["op"].as_str(), json["name"].as_str()) {
        (Some(op), Some(name)) => format!("{name} ({op})"),
        (Some(op), None) => op.to_string(),
        _ => "?".into(),
    }
}

/// Median ms of one pass of `network` on a random `[batch, len]` input (see `median_ms`); with
/// `with_grad`, the pass includes the backward to the input. Reading the result back waits for
/// the work.
fn layer_ms(
    network: &Network,
    batch: usize,
    len: usize,
    with_grad: bool,
    runs: usize,
    device: &Device,
) -> f64 {
    let x = Tensor::<2>::random([batch, len], Distribution::Normal(0.0, 1.0), device);
    let pass = || {
        if with_grad {
            let input = x.clone().autodiff().require_grad();
            let gradients = network.forward_flat(input.clone()).sum().backward();
            input.grad(&gradients).expect("the input requires a gradient").into_data();
        } else {
            network.forward_flat(x.clone()).into_data();
        }
    };
    median_ms(runs, pass)
}

/// The median ms of `runs` calls of `pass`, each timed alone, after [`WARM_UP`] untimed calls.
fn median_ms(runs: usize, mut pass: impl FnMut()) -> f64 {
    for _ in 0..WARM_UP {
        pass();
    }
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            pass();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    median(&mut times)
}

/// Random images in [−1, 1]: throughput does not depend on the data.
struct NoiseImages;

impl RealData for NoiseImages {
    fn batch(&self, n: usize, iteration: u64) -> Vec<f32> {
        dgflow::rng::Noise::at(1, dgflow::rng::Stream::Data, iteration)
            .uniform(n * 3 * 32 * 32)
            .into_iter()
            .map(|u| 2.0 * u - 1.0)
            .collect()
    }
}

/// CIFAR-10 SN-DCGAN training throughput, one critic and one generator step per iteration.
fn training_section(args: &BenchArgs, threads: usize, device: &Device) -> Result<String> {
    let bundle = Architecture::Dcgan { latent: 128, width: args.train_width, size: 32 }
        .init_bundle("cifar10", 1);
    let dir = tempfile_dir()?;
    bundle.write_dir(&dir)?;
    let (batch, iterations) = (64, 5);
    let config = TrainConfig {
        batch,
        lr_generator: 2e-4,
        lr_critic: 2e-4,
        beta1: 0.5,
        beta2: 0.999,
        critic_steps: 1,
        seed: 1,
        loss: Default::default(),
        critic_only: false,
        average_decay: None,
    };
    let mut rust = Vec::new();
    let mut torch = Vec::new();
    for _ in 0..args.repeats {
        let mut trainer = GanTrainer::new(&bundle, config.clone(), device);
        let ms = median_ms(iterations, || {
            trainer.step(&NoiseImages);
        });
        rust.push(batch as f64 / (ms * 1e-3));
        if let Some(reference) = &args.reference {
            let json = run_reference(
                reference,
                &[
                    "train-cifar10",
                    &dir.display().to_string(),
                    "--batch",
                    &batch.to_string(),
                    "--iterations",
                    &iterations.to_string(),
                    "--threads",
                    &threads.to_string(),
                ],
            )?;
            torch.push(
                json["images_per_s"].as_f64().context("the reference printed no images_per_s")?,
            );
        }
    }
    std::fs::remove_dir_all(&dir).ok();
    let (ips, torch_ips) = (median(&mut rust), (!torch.is_empty()).then(|| median(&mut torch)));
    Ok(format!(
        "\n## Training: CIFAR-10 SN-DCGAN, width {}, batch {batch}, one critic + one generator step, {}\n\n\
         | Rust images/s | PyTorch images/s | ratio (Rust / PyTorch) |\n|---|---|---|\n| {ips:.1} | {} | {} |\n",
        args.train_width,
        device_label(args.device),
        torch_ips.map_or("–".into(), |t| format!("{t:.1}")),
        torch_ips.map_or("–".into(), |t| format!("{:.2}×", ips / t)),
    ))
}

fn tempfile_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("dgflow-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn machine(threads: usize, peak: Option<f64>) -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let peak = peak.map_or("not measured on this architecture".into(), |p| {
        format!("{p:.0} GFLOP/s measured (f32 FMA loop on {threads} threads, {})", simd_name())
    });
    let kernels = dgflow::cpu::kernels_in_use();
    format!(
        "# dgflow bench\n\nMachine: {cpu}, {threads} threads. Peak: {peak}. Convolution kernels: {kernels} (`DGFLOW_CPU_KERNELS` picks narrower ones)."
    )
}

fn simd_name() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        return "AVX-512";
    } else if std::arch::is_x86_feature_detected!("fma") {
        return "AVX2 + FMA";
    }
    "scalar"
}

/// The machine's attainable f32 rate: independent FMA chains on every thread, in the widest
/// vectors the CPU has. `None` where no such loop is written (not x86-64).
fn peak_gflops(threads: usize) -> Option<f64> {
    #[cfg(target_arch = "x86_64")]
    {
        const ITERATIONS: u64 = 20_000_000;
        let (flops_per_iteration, run): (u64, fn(u64) -> f32) =
            if std::arch::is_x86_feature_detected!("avx512f") {
                (12 * 16 * 2, |n| unsafe { fma_loop_avx512(n) })
            } else if std::arch::is_x86_feature_detected!("fma") {
                (12 * 8 * 2, |n| unsafe { fma_loop_avx2(n) })
            } else {
                return None;
            };
        run(ITERATIONS / 10); // wake the cores up
        let start = Instant::now();
        let sums: Vec<f32> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads).map(|_| s.spawn(move || run(ITERATIONS))).collect();
            handles.into_iter().map(|h| h.join().unwrap_or(0.0)).collect()
        });
        let seconds = start.elapsed().as_secs_f64();
        std::hint::black_box(sums);
        Some((flops_per_iteration * ITERATIONS * threads as u64) as f64 / seconds / 1e9)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = threads;
        None
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn fma_loop_avx2(n: u64) -> f32 {
    use std::arch::x86_64::*;
    // Twelve independent accumulators hide the FMA latency on two FMA pipes.
    let mut acc = [_mm256_set1_ps(0.0); 12];
    let (a, b) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
    for _ in 0..n {
        for x in acc.iter_mut() {
            *x = _mm256_fmadd_ps(*x, a, b);
        }
    }
    let sum = acc.iter().fold(_mm256_set1_ps(0.0), |s, x| _mm256_add_ps(s, *x));
    // SAFETY: __m256 is eight f32 lanes.
    let lanes: [f32; 8] = unsafe { std::mem::transmute(sum) };
    lanes.iter().sum()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn fma_loop_avx512(n: u64) -> f32 {
    use std::arch::x86_64::*;
    let mut acc = [_mm512_set1_ps(0.0); 12];
    let (a, b) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(1e-7));
    for _ in 0..n {
        for x in acc.iter_mut() {
            *x = _mm512_fmadd_ps(*x, a, b);
        }
    }
    _mm512_reduce_add_ps(acc.iter().fold(_mm512_set1_ps(0.0), |s, x| _mm512_add_ps(s, *x)))
}

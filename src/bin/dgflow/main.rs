//! `dgflow`, the native command line. One file per subcommand: `refine` (refine a bundle's
//! samples), `train` (the training recipes' loop; the recipes themselves are the library's),
//! `eval` (the paper's tables, and `check-metrics`), `confidence` (the classifier's verdict on
//! image samples), `calibrate` (MH-GAN's calibration of a critic), `bundle_tools` (`info`,
//! `init`, `pack`) and `bench` (timings beside PyTorch); `probe` writes a model's values at given
//! latents; `record` writes runs for the PyTorch reference and `output` the PNGs and tables. This
//! file parses the command line and sets up the process.

mod arrays;
mod bench;
mod bundle_tools;
mod calibrate;
mod confidence;
mod eval;
mod flags;
mod output;
mod probe;
mod record;
mod refine;
mod train;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

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
    Refine(refine::RefineArgs),
    /// The model at given latents: samples, logits and their gradient, for comparing another
    /// implementation of it (an exported PyTorch model) value by value.
    Probe(probe::ProbeArgs),
    /// Describe a model bundle.
    Info {
        /// Bundle directory (holding manifest.json).
        model: PathBuf,
    },
    /// Write a bundle with freshly initialised (untrained) weights of a built-in architecture.
    Init(bundle_tools::InitArgs),
    /// Train a bundled model family; resumes from its checkpoint when one exists.
    Train(train::TrainArgs),
    /// Evaluate a bundle: base samples against every refinement method, as in the paper's tables.
    Eval(eval::EvalArgs),
    /// Fit the calibration of a bundle's critic that MH-GAN uses (Platt scaling on real samples
    /// no evaluation uses, against the model's own) and write it into its manifest.
    Calibrate(calibrate::CalibrateArgs),
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
    CheckMetrics(eval::CheckMetricsArgs),
    /// How sure the CIFAR-10 classifier is of an image model's samples, base and refined, beside
    /// real test images; with a grid of unselected samples and its verdict on each.
    Confidence(confidence::ConfidenceArgs),
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
        Command::Refine(args) => refine::refine(args),
        Command::Probe(args) => probe::probe(args),
        Command::Info { model } => bundle_tools::info(&model),
        Command::Init(args) => bundle_tools::init(args),
        Command::Train(args) => train::train(args),
        Command::Eval(args) => eval::eval(args),
        Command::Calibrate(args) => calibrate::calibrate(args),
        Command::Bench(args) => bench::bench(args),
        Command::Pack { model, encoding } => bundle_tools::pack(&model, encoding),
        Command::CheckMetrics(args) => eval::check_metrics(args),
        Command::Confidence(args) => confidence::confidence(args),
    }
}

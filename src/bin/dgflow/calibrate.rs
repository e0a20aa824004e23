//! `dgflow calibrate`: fits the Platt scaling MH-GAN applies to a bundle's critic, on real samples
//! the evaluations never use against the model's own, and writes it into the manifest.

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow};
use burn::prelude::*;

use crate::flags;
use dgflow::bundle::{Bundle, Manifest};
use dgflow::data::cifar::{Cifar, Split};
use dgflow::data::text::{Corpus, Vocab};
use dgflow::device;
use dgflow::flow::{self, select::Calibration};
use dgflow::model::{Critic, Model};
use dgflow::rng::{Noise, Stream};
use dgflow::sample::SampleKind;
use dgflow::train::real_data::{ImageData, RealData, TEXT_SMOOTHING, TextData};

/// The seed of the calibration's draws (generated latents, real toy points, which training images
/// or lines): no evaluation uses it (they use seeds 1, 2, 3 and their chunks; settings were chosen
/// on seed 0), and the evaluations' real references are other draws or held-out data.
const CALIBRATION_SEED: u64 = 0xCA11B;

#[derive(clap::Args)]
pub struct CalibrateArgs {
    /// Bundle directory; its manifest.json gains (or replaces) its `calibration`.
    #[arg(long)]
    pub model: PathBuf,
    /// Real and generated samples each.
    #[arg(long, allow_negative_numbers = true, default_value_t = 10_000, value_parser = flags::whole(100, 100_000))]
    pub samples: usize,
    /// The shared data folder (CIFAR-10's training images, the text corpus).
    #[arg(long, env = "DGFLOW_DATA", default_value = "../shared/data")]
    pub data: PathBuf,
}

pub fn calibrate(args: CalibrateArgs) -> Result<()> {
    let bundle = Bundle::from_dir(&args.model)?;
    let device = device::cpu();
    let model = Model::build(&bundle, 0, &device);
    let m = &bundle.manifest;
    let n = args.samples;
    // Real samples as the critic saw real data in training, never what an evaluation scores
    // against: fresh draws of a toy, training images (the evaluations use the test set) or
    // training lines (they use the held-out lines), drawn with the calibration's own seed.
    let (real, source) = match m.kind {
        SampleKind::Points => {
            let toy = m.required_toy()?;
            let points = toy.sample(n, &mut Noise::new(CALIBRATION_SEED, Stream::Data));
            (points, format!("{n} fresh draws of {}", m.name))
        }
        SampleKind::Image => {
            let dir = args.data.join("cifar-10-batches-bin");
            let images = Cifar::load(&dir, Split::Train)?;
            let data = ImageData { images, seed: CALIBRATION_SEED };
            (
                data.batch(n, 0),
                format!("{n} CIFAR-10 training images (random, flipped half the time)"),
            )
        }
        SampleKind::Text => {
            let vocab =
                Vocab::from_symbols(m.vocab.clone().context("a text bundle has a vocabulary")?);
            let corpus = Corpus::load(&args.data.join("text"))?;
            let lines = corpus.train.iter().map(|l| vocab.encode(l)).collect();
            let data = TextData { lines, vocab, smoothing: TEXT_SMOOTHING, seed: CALIBRATION_SEED };
            (data.batch(n, 0), format!("{n} training lines (not the held-out ones)"))
        }
    };
    let width = real.len() / n;
    let generated = pollster::block_on(flow::base_samples(&model, n, CALIBRATION_SEED, &device))?;
    let logits = |samples: &[f32]| -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(n);
        for rows in samples.chunks(500 * width) {
            let x = Tensor::<2>::from_data(
                TensorData::new(rows.to_vec(), [rows.len() / width, width]),
                &device,
            );
            out.extend(pollster::block_on(flow::read(model.logit(x)))?);
        }
        Ok(out)
    };
    let (real_logits, generated_logits) = (logits(&real)?, logits(&generated)?);
    let fitted = Calibration::fit(&real_logits, &generated_logits)
        .map_err(|e| anyhow!("{}: {e}", args.model.display()))?;
    println!(
        "{}: Platt scaling on {source} against {n} of its own samples (seed {CALIBRATION_SEED:#x})",
        m.name
    );
    println!(
        "calibrated logit = {:.4} · d + {:.4}; logistic loss {:.4} nats as the critic stands, {:.4} calibrated (ln 2 = {:.4} is chance)",
        fitted.scale,
        fitted.shift,
        Calibration::IDENTITY.loss(&real_logits, &generated_logits),
        fitted.loss(&real_logits, &generated_logits),
        std::f64::consts::LN_2
    );
    write_calibration(&args.model, fitted)?;
    println!("wrote {}", args.model.join("manifest.json").display());
    Ok(())
}

/// Sets the manifest's `calibration`, leaving everything else, and the weights, as they are.
fn write_calibration(dir: &std::path::Path, calibration: Calibration) -> Result<()> {
    let path = dir.join(dgflow::bundle::MANIFEST_FILE);
    let text = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut manifest = Manifest::parse(&text, &path.display().to_string())?;
    manifest.calibration = Some(calibration);
    Bundle::write_manifest(dir, &manifest)?;
    Ok(())
}

//! How a training run watches its model: at each checkpoint, a one-line score of the base
//! model's samples (the toys' high-quality share and likelihood, the text model's JS-4, an image
//! model's Fréchet distance in our classifier's features) and a preview of them. The same
//! latents every time, so the trend is the model's, not the draw's.

use std::path::Path;

use burn::prelude::Device;

use crate::bundle::Bundle;
use crate::data::cifar::{Cifar, Split};
use crate::data::text::{self, Vocab};
use crate::data::toy2d::Toy;
use crate::error::{Error, Result};
use crate::eval;
use crate::flow;
use crate::metrics::classifier::Classifier;
use crate::metrics::frechet::{Gaussian, frechet_distance};
use crate::metrics::ngram;
use crate::model::Model;
use crate::render::{self, Grid};
use crate::rng::{Noise, Stream};

/// What a run scores at each checkpoint.
pub enum Monitor {
    /// A 2D toy's samples against a fixed draw of its data.
    Toy { toy: Toy, reference: Vec<f32> },
    /// Sentences against the held-out lines.
    Text { held_out: Vec<String> },
    /// Images: a grid of samples, and their Fréchet distance where a classifier is given.
    Image { score: Option<Box<ImageScore>> },
}

/// A checkpoint's score and a preview of its samples.
pub struct Report {
    /// One line for the log, e.g. `JS-4 0.6312`.
    pub summary: String,
    pub preview: Option<Preview>,
}

/// Samples to look at while a run goes on.
pub enum Preview {
    Grid(Grid),
    /// The first sentences, a line each.
    Lines(String),
}

/// Points scored by the toys' log, and drawn as their reference.
const TOY_POINTS: usize = 2000;
/// Sentences scored by the text model's log.
const SENTENCES: usize = 2000;
/// Images shown in an image model's preview.
const GRID: usize = 64;

impl Monitor {
    /// The toy recipe's monitor: its reference is a fixed draw from `seed`.
    pub fn toy(toy: Toy, seed: u64) -> Monitor {
        let reference = toy.sample(2 * TOY_POINTS, &mut Noise::new(seed ^ 0x5eed, Stream::Data));
        Monitor::Toy { toy, reference }
    }

    pub async fn report(&self, bundle: &Bundle, device: &Device) -> Result<Report> {
        match self {
            Monitor::Toy { toy, reference } => {
                let points = base_samples(bundle, TOY_POINTS, device).await?;
                let summary = eval::in_words(&eval::toy_metrics(*toy, &points, reference));
                Ok(Report { summary, preview: None })
            }
            Monitor::Text { held_out } => {
                let m = &bundle.manifest;
                let symbols = m.vocab.clone().ok_or_else(|| {
                    Error::manifest(&m.name, "a text bundle lists its vocabulary (`vocab`)")
                })?;
                let vocab = Vocab::from_symbols(symbols);
                let held_out: Vec<Vec<u16>> = held_out.iter().map(|l| vocab.encode(l)).collect();
                let samples = base_samples(bundle, SENTENCES, device).await?;
                let generated =
                    text::argmax_indices(&samples, SENTENCES, vocab.len(), m.sample_shape[1]);
                let lines: String = generated
                    .iter()
                    .take(32)
                    .map(|s| {
                        s.iter().map(|&i| vocab.symbols[i as usize].as_str()).collect::<String>()
                            + "\n"
                    })
                    .collect();
                let js4 = ngram::js_divergence(&generated, &held_out, 4);
                Ok(Report {
                    summary: format!("JS-4 {js4:.4}"),
                    preview: Some(Preview::Lines(lines)),
                })
            }
            Monitor::Image { score } => {
                let summary = match score {
                    Some(score) => score.of(bundle, device).await?,
                    None => String::new(),
                };
                Ok(Report {
                    summary,
                    preview: Some(Preview::Grid(base_grid(bundle, GRID, device).await?)),
                })
            }
        }
    }
}

/// The training log's measure of an image GAN: the Fréchet distance, in the features of the
/// project's classifier, between 2,000 base samples (the same latents at every checkpoint) and
/// the first 2,000 CIFAR-10 test images. A trend to watch while training; `dgflow eval` gives the
/// card's numbers (against all 10,000).
pub struct ImageScore {
    classifier: Classifier,
    reference: Gaussian,
}

impl ImageScore {
    const IMAGES: usize = 2000;
    /// Samples generated at once (memory), each chunk with the next seed; divides `IMAGES`.
    const CHUNK: usize = 250;

    /// The classifier bundle at `classifier` and the test images under `data`.
    pub fn load(classifier: &Path, data: &Path, device: &Device) -> Result<ImageScore> {
        let classifier = Classifier::load(classifier, device)?;
        let test = Cifar::load(&data.join("cifar-10-batches-bin"), Split::Test)?;
        let images: Vec<f32> =
            (0..Self::IMAGES.min(test.len())).flat_map(|i| test.image(i)).collect();
        let (features, _) = classifier.run(&images, Self::CHUNK, device);
        Ok(ImageScore { reference: Gaussian::fit(&features), classifier })
    }

    async fn of(&self, bundle: &Bundle, device: &Device) -> Result<String> {
        let model = Model::build(bundle, 0, device);
        let mut samples = Vec::new();
        for seed in 0..(Self::IMAGES / Self::CHUNK) as u64 {
            samples.extend(flow::base_samples(&model, Self::CHUNK, seed, device).await?);
        }
        let (features, _) = self.classifier.run(&samples, Self::CHUNK, device);
        let distance = frechet_distance(&Gaussian::fit(&features), &self.reference);
        Ok(format!("FD {distance:.2} (classifier features)"))
    }
}

/// A grid of `n` base samples of an image model (fixed latents, seed 0), to watch training.
pub async fn base_grid(bundle: &Bundle, n: usize, device: &Device) -> Result<Grid> {
    let samples = base_samples(bundle, n, device).await?;
    let m = &bundle.manifest;
    Ok(render::image_grid(&samples, n, &m.sample_shape, m.value_range, render::columns_for(n)))
}

/// The base model's samples of `bundle` from the latents of seed 0.
async fn base_samples(bundle: &Bundle, n: usize, device: &Device) -> Result<Vec<f32>> {
    flow::base_samples(&Model::build(bundle, 0, device), n, 0, device).await
}

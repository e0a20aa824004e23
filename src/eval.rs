//! Evaluation tables like the paper's: the base model (step 0) against every refinement method
//! at steps 0, 5, …, 25. The 2D toys are scored by the share of high-quality samples, the modes
//! they cover and a KDE log-likelihood under data samples; text by n-gram JS divergences; images
//! in the features of our own CIFAR-10 classifier.

use burn::prelude::*;

use crate::data::toy2d::{Toy, high_quality, kde_log_likelihood};
use crate::error::Result;
use crate::flow::{self, FlowConfig, Keep, Method, Space};
use crate::metrics::Features;
use crate::metrics::classifier::Classifier;
use crate::metrics::frechet::{Gaussian, frechet_distance};
use crate::metrics::inception_analogue::classifier_score;
use crate::metrics::precision_recall::precision_recall;
use crate::model::Model;

/// KDE bandwidth: about three standard deviations of one Gaussian of the 25-Gaussian grid.
pub const KDE_BANDWIDTH: f32 = 0.05;

/// The metrics of one set of 2D samples, as (name, formatted value) rows.
pub fn toy_metrics(toy: Toy, points: &[f32], reference: &[f32]) -> Vec<(&'static str, String)> {
    let mut rows = Vec::new();
    if toy == Toy::Gaussians25 {
        let (share, modes) = high_quality(points);
        rows.push(("% high quality", format!("{:.1}", 100.0 * share)));
        rows.push(("modes (of 25)", modes.to_string()));
    }
    rows.push((
        "KDE log-lik.",
        format!("{:.3}", kde_log_likelihood(points, reference, KDE_BANDWIDTH)),
    ));
    rows
}

/// Scores one set of samples (flattened rows) as (metric, formatted value) rows.
pub type Scorer<'a> = dyn Fn(&[f32]) -> Vec<(&'static str, String)> + 'a;

/// A markdown table: one row per method and metric, one column per fifth step of `base.steps`.
/// `base.batch` samples are refined in chunks of at most `chunk` (chunk c uses seed
/// `base.seed + c`), so large evaluations fit in memory; every method starts from the same latents.
/// DDLS always runs in latent space. Rows follow `methods`' order.
pub async fn table(
    model: &Model,
    base: FlowConfig,
    methods: &[Method],
    chunk: usize,
    score: &Scorer<'_>,
    device: &Device,
) -> Result<String> {
    let columns: Vec<usize> = (0..=base.steps)
        .step_by(5)
        .chain((!base.steps.is_multiple_of(5)).then_some(base.steps))
        .collect();
    let header: Vec<String> = columns.iter().map(|s| format!("step {s}")).collect();
    let mut table = format!(
        "| method | metric | {} |\n|---|---|{}\n",
        header.join(" | "),
        "---|".repeat(columns.len())
    );
    let chunks: Vec<usize> =
        (0..base.batch).step_by(chunk.max(1)).map(|start| chunk.min(base.batch - start)).collect();
    for &method in methods {
        let space = if method == Method::Ddls { Space::Latent } else { base.space };
        let mut per_step: Vec<Vec<f32>> = vec![Vec::new(); columns.len()];
        for (c, &n) in chunks.iter().enumerate() {
            let config = FlowConfig {
                method,
                space,
                keep: Keep::Every(5),
                batch: n,
                seed: base.seed + c as u64,
                ..base.clone()
            };
            let trajectory = flow::refine(model, model, config, device).await?;
            for (column, samples) in per_step
                .iter_mut()
                .zip(trajectory.steps.iter().filter_map(|s| s.samples.as_deref()))
            {
                column.extend_from_slice(samples);
            }
        }
        let scores: Vec<_> = per_step.iter().map(|samples| score(samples)).collect();
        for (row, (metric, _)) in scores[0].iter().enumerate() {
            let cells: Vec<&str> = scores.iter().map(|m| m[row].1.as_str()).collect();
            table += &format!("| {} | {metric} | {} |\n", method.name(), cells.join(" | "));
        }
    }
    Ok(table)
}

/// The 2D toys' table: share of high-quality samples, modes and KDE log-likelihood per step.
pub async fn toy_table(
    model: &Model,
    toy: Toy,
    base: FlowConfig,
    methods: &[Method],
    reference: &[f32],
    device: &Device,
) -> Result<String> {
    let batch = base.batch;
    table(
        model,
        base,
        methods,
        batch,
        &|points: &[f32]| toy_metrics(toy, points, reference),
        device,
    )
    .await
}

/// Points of each set that precision and recall compare (the first ones): they cost
/// O(n²) distances, and the tables say so.
pub const PRECISION_RECALL_POINTS: usize = 2000;

/// Image metrics in the features of our CIFAR-10 classifier (not Inception): Fréchet distance
/// and KID (×10³) against `reference`, improved precision and recall (k = 3, on the first
/// [`PRECISION_RECALL_POINTS`] of each set) and the classifier score.
pub fn image_metrics(
    classifier: &Classifier,
    samples: &[f32],
    reference: &Features,
    device: &Device,
) -> Vec<(&'static str, String)> {
    let (features, probabilities) = classifier.run(samples, 250, device);
    let fd = frechet_distance(&Gaussian::fit(&features), &Gaussian::fit(reference));
    let kid = crate::metrics::kid::kid(&features, reference, 10, 1000, 0);
    let (precision, recall) = precision_recall(
        &reference.head(PRECISION_RECALL_POINTS),
        &features.head(PRECISION_RECALL_POINTS),
        3,
    );
    vec![
        ("FD (classifier)", format!("{fd:.2}")),
        ("KID ×10³ (classifier)", format!("{:.2}", 1e3 * kid)),
        ("precision", format!("{precision:.3}")),
        ("recall", format!("{recall:.3}")),
        (
            "classifier score",
            format!("{:.2}", classifier_score(&probabilities, classifier.manifest.classes.len())),
        ),
    ]
}

/// The disturbance tests of Heusel et al. 2017, which check that our image metrics behave like FID:
/// `images` (real, flat, `side`×`side` RGB) scored against `reference` undisturbed, then with
/// growing Gaussian noise, blur and shares of noise images mixed in. A markdown table, then one
/// line per disturbance saying whether the Fréchet distance rose at every step.
pub fn disturbance_table(
    classifier: &Classifier,
    images: &[f32],
    side: usize,
    reference: &Features,
    device: &Device,
) -> String {
    use crate::metrics::disturb::{gaussian_blur, gaussian_noise, mix_in_noise_images};
    let per_image = 3 * side * side;
    // Each family: its name, then (strength, disturbed images) from mild to strong.
    type Family<'a> = (&'a str, Vec<(String, Vec<f32>)>);
    let families: [Family; 3] = [
        (
            "Gaussian noise",
            [0.05f32, 0.1, 0.2, 0.4]
                .iter()
                .map(|&s| (format!("σ = {s}"), gaussian_noise(images, s, 1)))
                .collect(),
        ),
        (
            "Gaussian blur",
            [0.5f32, 1.0, 2.0]
                .iter()
                .map(|&s| (format!("σ = {s} px"), gaussian_blur(images, side, s)))
                .collect(),
        ),
        (
            "noise images mixed in",
            [0.1f32, 0.25, 0.5]
                .iter()
                .map(|&f| {
                    (format!("{:.0} %", 100.0 * f), mix_in_noise_images(images, per_image, f, 2))
                })
                .collect(),
        ),
    ];
    let scored = |samples: &[f32]| image_metrics(classifier, samples, reference, device);
    let undisturbed = scored(images);
    let header: Vec<&str> = undisturbed.iter().map(|(name, _)| *name).collect();
    let row = |what: &str, strength: &str, cells: &[(&str, String)]| {
        format!(
            "| {what} | {strength} | {} |\n",
            cells.iter().map(|(_, v)| v.as_str()).collect::<Vec<_>>().join(" | ")
        )
    };
    let mut table = format!(
        "| disturbance | strength | {} |\n|---|---|{}\n",
        header.join(" | "),
        "---|".repeat(header.len())
    );
    table += &row("none (real training images)", "–", &undisturbed);
    let fd = |cells: &[(&str, String)]| {
        cells
            .iter()
            .find(|(name, _)| *name == "FD (classifier)")
            .and_then(|(_, v)| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    let mut verdicts = String::new();
    for (family, levels) in families {
        let mut distances = vec![fd(&undisturbed)];
        for (strength, disturbed) in levels {
            let cells = scored(&disturbed);
            distances.push(fd(&cells));
            table += &row(family, &strength, &cells);
        }
        let rising = distances.windows(2).all(|w| w[1] > w[0]);
        let shown: Vec<String> = distances.iter().map(|d| format!("{d:.2}")).collect();
        verdicts += &format!(
            "- {family}: FD {} — {}\n",
            shown.join(" → "),
            if rising { "rises at every step" } else { "NOT monotonic" }
        );
    }
    format!("{table}\n{verdicts}")
}

/// The text model's metrics: JS-4 and JS-6 between the argmax sentences and `reference`.
pub fn text_metrics(
    samples: &[f32],
    vocab: usize,
    length: usize,
    reference: &[Vec<u16>],
) -> Vec<(&'static str, String)> {
    let n = samples.len() / (vocab * length);
    let sentences = crate::data::text::argmax_indices(samples, n, vocab, length);
    vec![
        ("JS-4", format!("{:.4}", crate::metrics::ngram::js_divergence(&sentences, reference, 4))),
        ("JS-6", format!("{:.4}", crate::metrics::ngram::js_divergence(&sentences, reference, 6))),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::presets::Architecture;
    use crate::rng::{Noise, Stream};

    #[test]
    fn the_table_has_a_row_per_method_and_metric_and_a_column_per_fifth_step() {
        let device = crate::device::cpu();
        let model = Model::build(
            &Architecture::Toy2d { hidden_g: 8, hidden_d: 8 }.init_bundle("t", 1),
            0,
            &device,
        );
        let reference = Toy::Gaussians25.sample(100, &mut Noise::new(1, Stream::Data));
        let base = FlowConfig { steps: 7, batch: 50, ..FlowConfig::default() };
        let table = pollster::block_on(toy_table(
            &model,
            Toy::Gaussians25,
            base,
            &Method::ALL,
            &reference,
            &device,
        ))
        .unwrap();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[0], "| method | metric | step 0 | step 5 | step 7 |");
        assert_eq!(lines.len(), 2 + 5 * 3);
        assert!(lines[2].starts_with("| dgflow-kl | % high quality | "));
        assert!(lines.iter().skip(2).all(|l| l.matches('|').count() == 6), "{table}");
    }

    #[test]
    fn chunked_evaluation_scores_every_sample() {
        let device = crate::device::cpu();
        let model = Model::build(
            &Architecture::Toy2d { hidden_g: 8, hidden_d: 8 }.init_bundle("t", 1),
            0,
            &device,
        );
        let base = FlowConfig { steps: 5, batch: 70, ..FlowConfig::default() };
        let counted = |points: &[f32]| vec![("count", (points.len() / 2).to_string())];
        let table = pollster::block_on(table(
            &model,
            base,
            &[Method::DgflowKl, Method::Dot],
            32,
            &counted,
            &device,
        ))
        .unwrap();
        assert!(table.lines().skip(2).all(|l| l.ends_with("| 70 | 70 |")), "{table}");
        assert!(
            table.lines().nth(2).unwrap().starts_with("| dgflow-kl |")
                && table.lines().nth(3).unwrap().starts_with("| dot |"),
            "{table}"
        );
        assert_eq!(table.lines().count(), 4);
    }
}

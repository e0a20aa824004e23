//! Evaluation tables like the paper's: the base model (step 0) against every refinement method
//! at steps 0, 5, …, 25. The 2D toys are scored by the share of high-quality samples, the modes
//! they cover, a KDE log-likelihood under data samples and the earth mover's distance to them
//! (and, under a bounded prior, the share of latents that left it); text by n-gram JS divergences; images
//! in the features of our own CIFAR-10 classifier.

use burn::prelude::*;

use crate::data::toy2d::{Toy, high_quality, kde_log_likelihood};
use crate::error::{Error, Result};
use crate::flow::budget::steps_for_budget;
use crate::flow::{self, FlowConfig, Keep, Method, Space};
use crate::metrics::Features;
use crate::metrics::classifier::Classifier;
use crate::metrics::emd::emd;
use crate::metrics::frechet::{Gaussian, frechet_distance};
use crate::metrics::inception_analogue::classifier_score;
use crate::metrics::precision_recall::precision_recall;
use crate::model::Model;
use crate::prior::Prior;
use crate::sample::SampleKind;

/// The most samples one evaluation scores: every kept step's samples are held at once (for
/// CIFAR-10, 100,000 samples × 6 steps is 7.4 GB); score more as several runs with other seeds.
pub const MAX_SAMPLES: usize = 100_000;

/// The neighbours precision and recall take (Kynkäänniemi et al.'s k).
pub const NEIGHBOURS: usize = 3;

/// Rejects a sample count its kind's metrics cannot score: images need each point's
/// [`NEIGHBOURS`] nearest neighbours (and two points for a covariance); the toys' shares and the
/// text's n-gram frequencies need one.
pub fn check_samples(kind: SampleKind, samples: usize) -> Result<()> {
    let fewest = match kind {
        SampleKind::Image => NEIGHBOURS + 1,
        SampleKind::Text | SampleKind::Points => 1,
    };
    if (fewest..=MAX_SAMPLES).contains(&samples) {
        return Ok(());
    }
    let why = match kind {
        SampleKind::Image => format!(
            "; precision and recall need each sample's {NEIGHBOURS} nearest neighbours (thousands make the numbers steady)"
        ),
        _ => String::new(),
    };
    Err(Error::parameter("samples", samples, format!("expected {fewest} to {MAX_SAMPLES}{why}")))
}

/// KDE bandwidth: about three standard deviations of one Gaussian of the 25-Gaussian grid.
pub const KDE_BANDWIDTH: f32 = 0.05;

/// One metric's value for one set of samples, and the decimals it is shown with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    pub metric: &'static str,
    pub value: f64,
    pub decimals: usize,
}

impl Score {
    fn new(metric: &'static str, value: f64, decimals: usize) -> Score {
        Score { metric, value, decimals }
    }

    /// The value as the tables show it.
    pub fn shown(&self) -> String {
        format!("{:.*}", self.decimals, self.value)
    }
}

/// `metric value, …` for a line of text.
pub fn in_words(scores: &[Score]) -> String {
    scores.iter().map(|s| format!("{} {}", s.metric, s.shown())).collect::<Vec<_>>().join(", ")
}

/// The metrics of one set of 2D samples.
pub fn toy_metrics(toy: Toy, points: &[f32], reference: &[f32]) -> Vec<Score> {
    let mut scores = Vec::new();
    if toy == Toy::Gaussians25 {
        let (share, modes) = high_quality(points);
        scores.push(Score::new("% high quality", 100.0 * share as f64, 1));
        scores.push(Score::new("modes (of 25)", modes as f64, 0));
    }
    let likelihood = kde_log_likelihood(points, reference, KDE_BANDWIDTH) as f64;
    scores.push(Score::new("KDE log-lik.", likelihood, 3));
    // The earth mover's distance needs two sets of one size: as many reference points.
    let n = (points.len() / 2).min(reference.len() / 2);
    scores.push(Score::new("EMD", emd(&points[..2 * n], &reference[..2 * n], 2), 4));
    scores
}

/// Scores one set of samples (flattened rows).
pub type Scorer<'a> = dyn Fn(&[f32]) -> Vec<Score> + 'a;

/// The seed of chunk `chunk` of an evaluation of `seed`: chunks of different seeds never share
/// latents (seed 0's chunks are seeds 0, 1, 2, …).
pub fn chunk_seed(seed: u64, chunk: usize) -> u64 {
    (seed << 20) + chunk as u64
}

/// `mean ± sd` (sample standard deviation) of one cell over seeds, or the value for one seed.
pub fn cell(values: &[f64], decimals: usize) -> String {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() == 1 {
        return format!("{mean:.decimals$}");
    }
    let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    format!("{mean:.decimals$} ± {sd:.decimals$}")
}

/// Real samples scored as generated ones are, once per seed: what a model that matched the data
/// would reach at this sample size, as `metric mean ± sd, …`.
pub fn real_floor(per_seed: &[Vec<Score>]) -> String {
    per_seed[0]
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let values: Vec<f64> = per_seed.iter().map(|scores| scores[i].value).collect();
            format!("{} {}", s.metric, cell(&values, s.decimals))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The steps a table shows for a run of `steps`: every fifth and the last up to the paper's 25,
/// or for longer runs and with a budget, the run split in five (so that a table keeps six
/// columns, and every method's columns spend the same).
fn checkpoints(steps: usize, budget: bool) -> Vec<usize> {
    if budget || steps > 25 {
        let mut columns: Vec<usize> = (0..=5).map(|j| steps * j / 5).collect();
        columns.dedup();
        return columns;
    }
    (0..=steps).step_by(5).chain((!steps.is_multiple_of(5)).then_some(steps)).collect()
}

/// A markdown table: one row per method and metric, one column per [`checkpoints`] step (with
/// a `budget` of critic evaluations per sample, each method runs the steps it pays for, see
/// [`steps_for_budget`], and the columns are fifths of the budget), each cell the mean ±
/// sample standard deviation over `seeds` (the value, for one seed). `base.batch` samples per
/// seed are refined in chunks of at most `chunk` (see [`chunk_seed`]), so large evaluations fit
/// in memory; every method starts from the same latents. DDLS always runs in latent space. DRS
/// and MH-GAN are scored on the samples they deliver; where they take part, every method gets
/// two more rows: the share of samples delivered and the critic evaluations spent per delivered
/// sample. Rows follow `methods`' order.
#[allow(clippy::too_many_arguments)]
pub async fn table(
    model: &Model,
    base: FlowConfig,
    seeds: &[u64],
    methods: &[Method],
    chunk: usize,
    budget: Option<usize>,
    score: &Scorer<'_>,
    device: &Device,
) -> Result<String> {
    let column_count = checkpoints(base.steps, budget.is_some()).len();
    let header: Vec<String> = match budget {
        Some(b) => {
            (0..column_count).map(|j| format!("{} evaluations", 1 + (b - 1) * j / 5)).collect()
        }
        None => checkpoints(base.steps, false).iter().map(|s| format!("step {s}")).collect(),
    };
    let mut table = format!(
        "| method | metric | {} |\n|---|---|{}\n",
        header.join(" | "),
        "---|".repeat(column_count)
    );
    let costs = methods.iter().any(|m| m.selects());
    // A bounded prior: how many latents a method leaves outside its box (DGflow has no prior
    // term, so its latents may drift out; DDLS reflects at the walls).
    let prior = model.manifest.latent.prior;
    let bounded = matches!(prior, Prior::Uniform { .. });
    let chunks: Vec<usize> =
        (0..base.batch).step_by(chunk.max(1)).map(|start| chunk.min(base.batch - start)).collect();
    for &method in methods {
        let space =
            if method == Method::Ddls || method.selects() { Space::Latent } else { base.space };
        let steps = budget.map_or(base.steps, |b| steps_for_budget(method, b));
        let columns = checkpoints(steps, budget.is_some());
        // scores[seed][column][metric]
        let mut scores: Vec<Vec<Vec<Score>>> = Vec::with_capacity(seeds.len());
        for &seed in seeds {
            let mut per_step: Vec<Vec<f32>> = vec![Vec::new(); columns.len()];
            let (mut delivered, mut spent) =
                (vec![0usize; columns.len()], vec![0u64; columns.len()]);
            let mut outside = vec![None::<usize>; columns.len()];
            for (c, &n) in chunks.iter().enumerate() {
                let config = FlowConfig {
                    method,
                    space,
                    steps,
                    keep: Keep::Steps(columns.clone()),
                    batch: n,
                    seed: chunk_seed(seed, c),
                    ..base.clone()
                };
                let trajectory = flow::refine(model, model, config, device).await?;
                let kept = trajectory.steps.iter().filter(|s| s.samples.is_some());
                for (column, step) in kept.enumerate() {
                    let samples = step.samples.as_deref().unwrap_or_default();
                    let width = samples.len() / n;
                    match (&step.accepted, method) {
                        (Some(accepted), Method::Drs) => {
                            for (row, _) in accepted.iter().enumerate().filter(|(_, a)| **a) {
                                per_step[column]
                                    .extend_from_slice(&samples[row * width..(row + 1) * width]);
                            }
                        }
                        _ => per_step[column].extend_from_slice(samples),
                    }
                    delivered[column] += step.delivered;
                    spent[column] += step.spent.critic + step.spent.backward;
                    if let (true, Some(latents)) = (bounded, &step.latents) {
                        let dim = latents.len() / n;
                        let out = latents
                            .chunks(dim)
                            .filter(|z| z.iter().any(|&v| !prior.contains(v)))
                            .count();
                        *outside[column].get_or_insert(0) += out;
                    }
                }
            }
            let mut seed_scores: Vec<Vec<Score>> = per_step
                .iter()
                .map(|samples| if samples.is_empty() { Vec::new() } else { score(samples) })
                .collect();
            for (scores, out) in seed_scores.iter_mut().zip(&outside) {
                if let Some(out) = out {
                    let share = 100.0 * *out as f64 / base.batch as f64;
                    scores.push(Score::new("% latents outside the prior's box", share, 1));
                }
            }
            if costs {
                for (column, scores) in seed_scores.iter_mut().enumerate() {
                    let share = 100.0 * delivered[column] as f64 / base.batch as f64;
                    scores.push(Score::new("delivered %", share, 1));
                    let per = spent[column] as f64 / delivered[column].max(1) as f64;
                    scores.push(Score::new("critic evaluations per delivered sample", per, 1));
                }
            }
            scores.push(seed_scores);
        }
        // The metrics' names and decimals, from a cell that has them all.
        let full = scores.iter().flatten().max_by_key(|s| s.len()).cloned().unwrap_or_default();
        for first in &full {
            let cells: Vec<String> = (0..columns.len())
                .map(|column| {
                    // A column where a seed delivered nothing (DRS before any acceptance) has no
                    // metrics for it: the cell averages the seeds that did, or reads "none".
                    let values: Vec<f64> = scores
                        .iter()
                        .filter_map(|s| s[column].iter().find(|v| v.metric == first.metric))
                        .map(|v| v.value)
                        .collect();
                    if values.is_empty() { "none".into() } else { cell(&values, first.decimals) }
                })
                .collect();
            table += &format!("| {} | {} | {} |\n", method.name(), first.metric, cells.join(" | "));
        }
    }
    Ok(table)
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
) -> Vec<Score> {
    let (features, probabilities) = classifier.run(samples, 250, device);
    let fd = frechet_distance(&Gaussian::fit(&features), &Gaussian::fit(reference));
    let kid = crate::metrics::kid::kid(&features, reference, 10, 1000, 0);
    let (precision, recall) = precision_recall(
        &reference.head(PRECISION_RECALL_POINTS),
        &features.head(PRECISION_RECALL_POINTS),
        NEIGHBOURS,
    );
    let classes = classifier.manifest.classes.len();
    vec![
        Score::new("FD (classifier)", fd, 2),
        Score::new("KID ×10³ (classifier)", 1e3 * kid, 2),
        Score::new("precision", precision, 3),
        Score::new("recall", recall, 3),
        Score::new("classifier score", classifier_score(&probabilities, classes), 2),
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
    let header: Vec<&str> = undisturbed.iter().map(|s| s.metric).collect();
    let row = |what: &str, strength: &str, cells: &[Score]| {
        format!(
            "| {what} | {strength} | {} |\n",
            cells.iter().map(Score::shown).collect::<Vec<_>>().join(" | ")
        )
    };
    let mut table = format!(
        "| disturbance | strength | {} |\n|---|---|{}\n",
        header.join(" | "),
        "---|".repeat(header.len())
    );
    table += &row("none (real training images)", "–", &undisturbed);
    let fd = |cells: &[Score]| {
        cells.iter().find(|s| s.metric == "FD (classifier)").map_or(f64::NAN, |s| s.value)
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
) -> Vec<Score> {
    let n = samples.len() / (vocab * length);
    sentence_metrics(&crate::data::text::argmax_indices(samples, n, vocab, length), reference)
}

/// JS-4 and JS-6 between encoded sentences and `reference` (also what real sentences score).
pub fn sentence_metrics(sentences: &[Vec<u16>], reference: &[Vec<u16>]) -> Vec<Score> {
    let js = |n| crate::metrics::ngram::js_divergence(sentences, reference, n);
    vec![Score::new("JS-4", js(4), 4), Score::new("JS-6", js(6), 4)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::presets::Architecture;
    use crate::rng::{Noise, Stream};

    #[test]
    fn long_runs_keep_six_columns() {
        assert_eq!(checkpoints(25, false), [0, 5, 10, 15, 20, 25]);
        assert_eq!(checkpoints(7, false), [0, 5, 7]);
        assert_eq!(checkpoints(100, false), [0, 20, 40, 60, 80, 100]);
    }

    #[test]
    fn under_a_bounded_prior_the_table_counts_the_latents_that_left_it() {
        let device = crate::device::cpu();
        let mut bundle = Architecture::Toy2d { hidden_g: 8, hidden_d: 8 }.init_bundle("t", 1);
        bundle.manifest.latent.prior = Prior::Uniform { low: -0.5, high: 0.5 };
        let model = Model::build(&bundle, 0, &device);
        // Steps large enough that DGflow's latents (no prior term) leave the box.
        let base =
            FlowConfig { steps: 5, batch: 40, eta: 2.0, gamma: 0.0, ..FlowConfig::default() };
        let score = |_: &[f32]| vec![Score::new("none", 0.0, 1)];
        let methods = [Method::DgflowKl, Method::Ddls];
        let table =
            pollster::block_on(table(&model, base, &[0], &methods, 40, None, &score, &device))
                .unwrap();
        let row = |method: &str| {
            let line = table
                .lines()
                .find(|l| {
                    l.starts_with(&format!("| {method} | % latents outside the prior's box |"))
                })
                .unwrap_or_else(|| panic!("{table}"));
            line.split('|')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .skip(2)
                .map(|c| c.parse::<f64>().unwrap())
                .collect::<Vec<_>>()
        };
        let (flow, ddls) = (row("dgflow-kl"), row("ddls"));
        assert_eq!(flow[0], 0.0, "every latent starts inside: {table}");
        assert!(flow[1] > 0.0, "DGflow's latents leave the box: {table}");
        assert!(ddls.iter().all(|&v| v == 0.0), "DDLS reflects at the walls: {table}");
    }

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
        let score = |points: &[f32]| toy_metrics(Toy::Gaussians25, points, &reference);
        let table =
            pollster::block_on(table(&model, base, &[0], &Method::ALL, 50, None, &score, &device))
                .unwrap();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[0], "| method | metric | step 0 | step 5 | step 7 |");
        // Four metrics per method, and with DRS and MH-GAN in the table, two rows of costs.
        assert_eq!(lines.len(), 2 + 7 * 6, "{table}");
        assert!(lines[2].starts_with("| dgflow-kl | % high quality | "));
        assert!(lines.iter().skip(2).all(|l| l.matches('|').count() == 6), "{table}");
        // A flow's step k has spent k + 1 logits and as many gradients (the last step none).
        assert!(
            table.contains(
                "| dgflow-kl | critic evaluations per delivered sample | 2.0 | 12.0 | 15.0 |"
            ),
            "{table}"
        );
        assert!(table.contains("| mh-gan | delivered % | 100.0 | 100.0 | 100.0 |"), "{table}");
    }

    #[test]
    fn at_a_budget_every_method_spends_the_same_per_sample() {
        let device = crate::device::cpu();
        let model = Model::build(
            &Architecture::Toy2d { hidden_g: 8, hidden_d: 8 }.init_bundle("t", 1),
            0,
            &device,
        );
        let base = FlowConfig { batch: 40, ..FlowConfig::default() };
        let counted = |points: &[f32]| vec![Score::new("count", (points.len() / 2) as f64, 0)];
        let methods = [Method::DgflowKl, Method::MhGan, Method::Drs];
        let table = pollster::block_on(table(
            &model,
            base,
            &[0],
            &methods,
            40,
            Some(11),
            &counted,
            &device,
        ))
        .unwrap();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines[0],
            "| method | metric | 1 evaluations | 3 evaluations | 5 evaluations | 7 evaluations | 9 evaluations | 11 evaluations |"
        );
        let row = |method: &str, metric: &str| {
            let start = format!("| {method} | {metric} | ");
            lines
                .iter()
                .find(|l| l.starts_with(&start))
                .unwrap_or_else(|| panic!("{table}"))
                .to_string()
        };
        // DGflow: 5 steps; MH-GAN: 10 proposals after the first; both end at 11 per sample.
        assert!(
            row("dgflow-kl", "critic evaluations per delivered sample").ends_with("| 11.0 |"),
            "{table}"
        );
        assert!(
            row("mh-gan", "critic evaluations per delivered sample").ends_with("| 11.0 |"),
            "{table}"
        );
        assert!(row("mh-gan", "count").ends_with("| 40 | 40 | 40 | 40 | 40 | 40 |"), "{table}");
        // DRS scores only what it accepted, and pays for its burn-in batch too.
        let drs = row("drs", "count");
        let counts: Vec<f64> =
            drs.split('|').skip(3).filter_map(|c| c.trim().parse().ok()).collect();
        assert!(counts.windows(2).all(|w| w[0] <= w[1]) && counts[5] <= 40.0, "{table}");
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
        let counted = |points: &[f32]| vec![Score::new("count", (points.len() / 2) as f64, 0)];
        let table = pollster::block_on(table(
            &model,
            base,
            &[0],
            &[Method::DgflowKl, Method::Dot],
            32,
            None,
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

    #[test]
    fn several_seeds_give_mean_and_deviation_and_chunks_never_share_latents() {
        assert_eq!(cell(&[2.0], 2), "2.00");
        assert_eq!(cell(&[1.0, 2.0, 3.0], 1), "2.0 ± 1.0");
        // Seeds 0, 1 and 2 of 100 chunks each: 300 different chunk seeds.
        let mut seen: Vec<u64> =
            (0..3).flat_map(|seed| (0..100).map(move |c| chunk_seed(seed, c))).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 300);
        assert_eq!(chunk_seed(0, 7), 7, "seed 0's chunks are as before");

        let device = crate::device::cpu();
        let model = Model::build(
            &Architecture::Toy2d { hidden_g: 8, hidden_d: 8 }.init_bundle("t", 1),
            0,
            &device,
        );
        let base = FlowConfig { steps: 5, batch: 40, ..FlowConfig::default() };
        // The mean x of the samples: seeds draw different latents, so it varies.
        let mean_x = |points: &[f32]| {
            let xs: Vec<f64> = points.chunks(2).map(|p| p[0] as f64).collect();
            vec![Score::new("mean x", xs.iter().sum::<f64>() / xs.len() as f64, 4)]
        };
        let run = |seeds: &[u64]| {
            pollster::block_on(table(
                &model,
                base.clone(),
                seeds,
                &[Method::DgflowKl],
                16,
                None,
                &mean_x,
                &device,
            ))
            .unwrap()
        };
        let value = |table: &str, seed_cell: usize| -> f64 {
            let row = table.lines().nth(2).unwrap();
            row.split('|')
                .nth(3 + seed_cell)
                .unwrap()
                .trim()
                .split(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        };
        let singles: Vec<f64> = (1..=3).map(|seed| value(&run(&[seed]), 0)).collect();
        let together = run(&[1, 2, 3]);
        let mean = singles.iter().sum::<f64>() / 3.0;
        assert!((value(&together, 0) - mean).abs() < 1e-4, "{together} vs {singles:?}");
        assert!(together.lines().nth(2).unwrap().contains(" ± "), "{together}");
    }
}

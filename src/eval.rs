//! Evaluation tables like the paper's: the base model (step 0) against every refinement method
//! at steps 0, 5, …, 25. The 2D toys are scored by the share of high-quality samples, the modes
//! they cover and a KDE log-likelihood under data samples.

use burn::prelude::*;

use crate::data::toy2d::{Toy, high_quality, kde_log_likelihood};
use crate::error::Result;
use crate::flow::{self, FlowConfig, Keep, Method, Space};
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
    rows.push(("KDE log-lik.", format!("{:.3}", kde_log_likelihood(points, reference, KDE_BANDWIDTH))));
    rows
}

/// A markdown table: one row per method and metric, one column per fifth step of `base.steps`.
/// Every method refines the same starting latents (`base.seed`); DDLS always runs in latent space.
pub async fn toy_table(model: &Model, toy: Toy, base: FlowConfig, reference: &[f32], device: &Device) -> Result<String> {
    let columns: Vec<usize> = (0..=base.steps).step_by(5).chain((base.steps % 5 != 0).then_some(base.steps)).collect();
    let header: Vec<String> = columns.iter().map(|s| format!("step {s}")).collect();
    let mut table = format!("| method | metric | {} |\n|---|---|{}\n", header.join(" | "), "---|".repeat(columns.len()));
    for method in Method::ALL {
        let space = if method == Method::Ddls { Space::Latent } else { base.space };
        let config = FlowConfig { method, space, keep: Keep::Every(5), ..base.clone() };
        let trajectory = flow::refine(model, model, config, device).await?;
        let per_step: Vec<_> =
            trajectory.steps.iter().filter_map(|s| s.samples.as_deref()).map(|p| toy_metrics(toy, p, reference)).collect();
        for (row, (metric, _)) in per_step[0].iter().enumerate() {
            let cells: Vec<&str> = per_step.iter().map(|m| m[row].1.as_str()).collect();
            table += &format!("| {} | {metric} | {} |\n", method.name(), cells.join(" | "));
        }
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::presets::Architecture;
    use crate::rng::{Noise, Stream};

    #[test]
    fn the_table_has_a_row_per_method_and_metric_and_a_column_per_fifth_step() {
        let device = crate::device::cpu();
        let model = Model::build(&Architecture::Toy2d { hidden_g: 8, hidden_d: 8 }.init_bundle("t", 1), 0, &device);
        let reference = Toy::Gaussians25.sample(100, &mut Noise::new(1, Stream::Data));
        let base = FlowConfig { steps: 7, batch: 50, ..FlowConfig::default() };
        let table = pollster::block_on(toy_table(&model, Toy::Gaussians25, base, &reference, &device)).unwrap();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[0], "| method | metric | step 0 | step 5 | step 7 |");
        assert_eq!(lines.len(), 2 + 5 * 3);
        assert!(lines[2].starts_with("| dgflow-kl | % high quality | "));
        assert!(lines.iter().skip(2).all(|l| l.matches('|').count() == 6), "{table}");
    }
}

//! How one step's samples are shown, decided by their kind: the one place that knows, for the
//! page and the CLI alike.

use super::grid::{GAP, Grid, columns_for, image_grid};
use super::scatter::scatter;
use super::text::decode_text;
use crate::bundle::Manifest;
use crate::data::toy2d::Toy;
use crate::sample::SampleKind;

/// A step's samples as people see them.
#[derive(Debug, Clone, PartialEq)]
pub enum View {
    /// Images in a near-square grid, with its layout, so that a page can find the sample under
    /// a pointer and cut out its tile.
    Images { grid: Grid, columns: usize, tile: usize, gap: usize },
    /// One decoded sentence per sample.
    Text { lines: Vec<String> },
    /// The points in one scatter plot over the data of the toy the model is named after.
    Points { plot: Grid },
}

impl View {
    /// The view of `n` samples (flattened, as the flow returns them) of the model of `manifest`.
    pub fn of(manifest: &Manifest, samples: &[f32], n: usize) -> View {
        View::with_rejections(manifest, samples, n, None)
    }

    /// As [`View::of`], for a method that delivers only the samples it `accepted` (DRS): a plot
    /// greys the others or leaves them out. Images and text show every sample: a page veils a
    /// rejected tile or line itself, at once and without a new run, from the step's flags.
    pub fn with_rejections(
        manifest: &Manifest,
        samples: &[f32],
        n: usize,
        rejections: Option<Rejections>,
    ) -> View {
        let m = manifest;
        match m.kind {
            SampleKind::Image => {
                let columns = columns_for(n);
                let grid = image_grid(samples, n, &m.sample_shape, m.value_range, columns);
                View::Images { grid, columns, tile: m.sample_shape[2], gap: GAP }
            }
            SampleKind::Text => {
                let vocab = m.vocab.as_deref().expect("a validated text manifest has a vocabulary");
                View::Text { lines: decode_text(samples, n, &m.sample_shape, vocab) }
            }
            SampleKind::Points => {
                let (mut delivered, mut greyed) = (Vec::new(), Vec::new());
                for (i, point) in samples.chunks_exact(2).enumerate() {
                    match rejections {
                        Some(r) if !r.accepted[i] && r.greyed => greyed.extend_from_slice(point),
                        Some(r) if !r.accepted[i] => {}
                        _ => delivered.extend_from_slice(point),
                    }
                }
                let plot = scatter(&delivered, &greyed, &Toy::backdrop(m.toy()), m.value_range);
                View::Points { plot }
            }
        }
    }

    /// The picture, for the kinds that have one.
    pub fn picture(&self) -> Option<&Grid> {
        match self {
            View::Images { grid, .. } => Some(grid),
            View::Points { plot } => Some(plot),
            View::Text { .. } => None,
        }
    }
}

/// Which samples a selection method delivers, and whether the rest are drawn greyed.
#[derive(Debug, Clone, Copy)]
pub struct Rejections<'a> {
    pub accepted: &'a [bool],
    pub greyed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::presets::Architecture;

    #[test]
    fn each_kind_has_its_view() {
        let image = Architecture::Dcgan { latent: 4, width: 2, size: 8 }.init_bundle("img", 1);
        let samples = vec![0.5; 5 * 3 * 8 * 8];
        match View::of(&image.manifest, &samples, 5) {
            View::Images { grid, columns, tile, gap } => {
                assert_eq!((columns, tile, gap), (3, 8, GAP));
                assert_eq!((grid.width, grid.height), (3 * 8 + 4 * GAP, 2 * 8 + 3 * GAP));
            }
            other => panic!("an image model's view is a grid, not {other:?}"),
        }
        let vocab: Vec<String> = ["a", "b"].map(String::from).to_vec();
        let text = Architecture::CharCnn { latent: 4, width: 2, length: 3, blocks: 1, vocab };
        // Two sentences of three positions over {a, b}: "aba" and "bbb".
        let one_hot = [1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0];
        let view = View::of(&text.init_bundle("txt", 1).manifest, &one_hot, 2);
        assert_eq!(view, View::Text { lines: vec!["aba".into(), "bbb".into()] });
        assert_eq!(view.picture(), None);
        let points = Architecture::toy2d().init_bundle("25gaussians", 1);
        let view = View::of(&points.manifest, &[0.0, 0.0], 1);
        assert!(
            matches!(&view, View::Points { plot } if plot.width == super::super::scatter::SCATTER_SIZE)
        );
    }

    #[test]
    fn a_plot_greys_or_leaves_out_the_samples_not_accepted() {
        let points = Architecture::toy2d().init_bundle("plain", 1);
        // Two points far apart: (−1, 1) accepted, (1, −1) not.
        let samples = [-1.0, 1.0, 1.0, -1.0];
        let accepted = [true, false];
        let plot =
            |rejections| match View::with_rejections(&points.manifest, &samples, 2, rejections) {
                View::Points { plot } => plot,
                other => panic!("{other:?}"),
            };
        let range = points.manifest.value_range;
        let pixel = |g: &Grid, x: f32, y: f32| {
            let size = g.width as f32;
            let col = ((x - range[0]) / (range[1] - range[0]) * size) as usize;
            let row = g.height - 1 - ((y - range[0]) / (range[1] - range[0]) * size) as usize;
            g.rgba[(row * g.width + col) * 4..(row * g.width + col) * 4 + 3].to_vec()
        };
        let blue = |p: &[u8]| p[2] > p[0] + 50;
        let white = |p: &[u8]| p == [255, 255, 255];
        let all = plot(None);
        assert!(blue(&pixel(&all, -1.0, 1.0)) && blue(&pixel(&all, 1.0, -1.0)));
        let greyed = plot(Some(Rejections { accepted: &accepted, greyed: true }));
        let grey = pixel(&greyed, 1.0, -1.0);
        assert!(
            blue(&pixel(&greyed, -1.0, 1.0)) && grey[0] == grey[2] && !white(&grey),
            "{grey:?}"
        );
        let hidden = plot(Some(Rejections { accepted: &accepted, greyed: false }));
        assert!(blue(&pixel(&hidden, -1.0, 1.0)) && white(&pixel(&hidden, 1.0, -1.0)));
    }
}

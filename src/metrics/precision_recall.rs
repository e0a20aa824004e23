//! Improved precision and recall (Kynkäänniemi et al. 2019): each set's manifold is the union of
//! balls around its points reaching their k-th nearest neighbour; precision is the share of
//! generated points inside the real manifold, recall the share of real points inside the
//! generated one.

use super::Features;

fn distance2(x: &[f32], y: &[f32]) -> f32 {
    x.iter().zip(y).map(|(a, b)| (a - b) * (a - b)).sum()
}

/// The squared distance from every point to its k-th nearest other point.
fn radii2(set: &Features, k: usize) -> Vec<f32> {
    (0..set.len())
        .map(|i| {
            let mut d: Vec<f32> = (0..set.len())
                .filter(|&j| j != i)
                .map(|j| distance2(set.row(i), set.row(j)))
                .collect();
            let k = k.min(d.len()) - 1;
            *d.select_nth_unstable_by(k, f32::total_cmp).1
        })
        .collect()
}

/// The share of `queries` inside the k-NN manifold of `support`.
fn coverage(support: &Features, queries: &Features, k: usize) -> f64 {
    let radii = radii2(support, k);
    let inside = (0..queries.len())
        .filter(|&q| {
            (0..support.len()).any(|s| distance2(queries.row(q), support.row(s)) <= radii[s])
        })
        .count();
    inside as f64 / queries.len() as f64
}

/// (precision, recall) of `generated` against `real`, with the paper's k = 3.
pub fn precision_recall(real: &Features, generated: &Features, k: usize) -> (f64, f64) {
    (coverage(real, generated, k), coverage(generated, real, k))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Noise, Stream};

    fn set(n: usize, std: f32, seed: u64) -> Features {
        Features::new(2, Noise::new(seed, Stream::Data).normal(n * 2, std))
    }

    #[test]
    fn identical_sets_have_full_precision_and_recall() {
        let x = set(300, 1.0, 1);
        assert_eq!(precision_recall(&x, &x, 3), (1.0, 1.0));
    }

    #[test]
    fn a_collapsed_generator_is_precise_but_misses_recall() {
        let real = set(400, 1.0, 1);
        let collapsed = set(400, 0.1, 2);
        let (precision, recall) = precision_recall(&real, &collapsed, 3);
        assert!(precision > 0.95, "{precision}");
        assert!(recall < 0.3, "{recall}");
        let spread = set(400, 5.0, 3);
        let (precision, recall) = precision_recall(&real, &spread, 3);
        assert!(precision < 0.4 && recall > 0.9, "{precision} {recall}");
    }
}

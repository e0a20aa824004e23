//! Kernel Inception Distance's estimator (Bińkowski et al. 2018), in our classifier's features:
//! the unbiased MMD² with the cubic polynomial kernel k(x, y) = (x·y / d + 1)³, averaged over
//! random subsets so its cost stays bounded.

use super::Features;
use crate::rng::{Noise, Stream};

fn kernel(x: &[f32], y: &[f32]) -> f64 {
    let dot: f64 = x.iter().zip(y).map(|(a, b)| *a as f64 * *b as f64).sum();
    (dot / x.len() as f64 + 1.0).powi(3)
}

/// Unbiased MMD² between two sets of equal size.
fn mmd2(x: &[&[f32]], y: &[&[f32]]) -> f64 {
    let m = x.len() as f64;
    let (mut kxx, mut kyy, mut kxy) = (0.0, 0.0, 0.0);
    for i in 0..x.len() {
        for j in 0..x.len() {
            if i != j {
                kxx += kernel(x[i], x[j]);
                kyy += kernel(y[i], y[j]);
            }
            kxy += kernel(x[i], y[j]);
        }
    }
    (kxx + kyy) / (m * (m - 1.0)) - 2.0 * kxy / (m * m)
}

/// Mean MMD² over `subsets` random subsets of `size` rows of each set (drawn with `seed`).
pub fn kid(a: &Features, b: &Features, subsets: usize, size: usize, seed: u64) -> f64 {
    let size = size.min(a.len()).min(b.len());
    assert!(size >= 2, "KID needs at least two samples per set");
    let mut noise = Noise::new(seed, Stream::Calibration);
    let mut pick = |f: &Features| {
        let mut order: Vec<usize> = (0..f.len()).collect();
        // Partial Fisher–Yates: the first `size` entries become a uniform random subset.
        let u = noise.uniform(size);
        for (i, r) in u.into_iter().enumerate() {
            let j = i + ((r * (f.len() - i) as f32) as usize).min(f.len() - i - 1);
            order.swap(i, j);
        }
        order[..size].to_vec()
    };
    let total: f64 = (0..subsets)
        .map(|_| {
            let (ia, ib) = (pick(a), pick(b));
            let x: Vec<&[f32]> = ia.iter().map(|&i| a.row(i)).collect();
            let y: Vec<&[f32]> = ib.iter().map(|&i| b.row(i)).collect();
            mmd2(&x, &y)
        })
        .sum();
    total / subsets as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(n: usize, shift: f32, seed: u64) -> Features {
        Features::new(
            4,
            Noise::new(seed, Stream::Data)
                .normal(n * 4, 1.0)
                .into_iter()
                .map(|v| v + shift)
                .collect(),
        )
    }

    #[test]
    fn near_zero_for_one_distribution_and_positive_for_two() {
        let same = kid(&set(600, 0.0, 1), &set(600, 0.0, 2), 5, 300, 0);
        let apart = kid(&set(600, 0.0, 1), &set(600, 1.0, 3), 5, 300, 0);
        assert!(same.abs() < 0.02, "{same}");
        assert!(apart > 0.2, "{apart}");
        let further = kid(&set(600, 0.0, 1), &set(600, 2.0, 3), 5, 300, 0);
        assert!(further > apart, "{further} vs {apart}");
    }
}

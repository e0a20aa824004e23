//! Jensen–Shannon divergence between the character n-gram distributions of two corpora, in bits
//! (0 = same distribution, 1 = disjoint), as in the WGAN-GP language experiments (JS-4, JS-6).
//! Sentences are sequences of vocabulary indices, so padding and unknown symbols count too.

use std::collections::HashMap;
use std::hash::Hash;

/// Relative frequencies of every n-gram of every sentence.
fn distribution<T: Copy + Eq + Hash>(sentences: &[Vec<T>], n: usize) -> HashMap<&[T], f64> {
    let mut counts: HashMap<&[T], f64> = HashMap::new();
    let mut total = 0.0;
    for s in sentences {
        for gram in s.windows(n) {
            *counts.entry(gram).or_default() += 1.0;
            total += 1.0;
        }
    }
    counts.values_mut().for_each(|c| *c /= total);
    counts
}

/// JS divergence (base 2) between the n-gram distributions of `a` and `b`.
pub fn js_divergence<T: Copy + Eq + Hash>(a: &[Vec<T>], b: &[Vec<T>], n: usize) -> f64 {
    let (p, q) = (distribution(a, n), distribution(b, n));
    assert!(
        !p.is_empty() && !q.is_empty(),
        "JS-{n} needs sentences of at least {n} symbols on both sides"
    );
    // Σ p log(2p/(p+q)) over p's support, and the same for q; grams seen on one side only add p·log 2.
    let half = |p: &HashMap<&[T], f64>, q: &HashMap<&[T], f64>| -> f64 {
        p.iter()
            .map(|(gram, &pv)| pv * (2.0 * pv / (pv + q.get(gram).copied().unwrap_or(0.0))).log2())
            .sum()
    };
    0.5 * (half(&p, &q) + half(&q, &p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus(lines: &[&str]) -> Vec<Vec<u8>> {
        lines.iter().map(|l| l.bytes().collect()).collect()
    }

    #[test]
    fn identical_corpora_score_zero_and_disjoint_ones_one() {
        let a = corpus(&["the cat sat on the mat", "a dog ran"]);
        assert_eq!(js_divergence(&a, &a, 4), 0.0);
        // The same n-grams in another order and proportion-preserving repetition: still zero.
        let doubled =
            corpus(&["a dog ran", "the cat sat on the mat", "a dog ran", "the cat sat on the mat"]);
        assert!(js_divergence(&a, &doubled, 4).abs() < 1e-12);
        let other = corpus(&["xyzw xyzw"]);
        assert!((js_divergence(&a, &other, 4) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn partial_overlap_is_between_and_symmetric() {
        let a = corpus(&["abcdef"]);
        let b = corpus(&["abcdxy"]);
        let js = js_divergence(&a, &b, 4);
        // Grams: a = {abcd, bcde, cdef}, b = {abcd, bcdx, cdxy}: one of three shared, so 2/3 bit.
        assert!((js - 2.0 / 3.0).abs() < 1e-12, "{js}");
        assert_eq!(js, js_divergence(&b, &a, 4));
    }
}

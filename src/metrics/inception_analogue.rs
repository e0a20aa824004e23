//! The Inception-Score analogue in our classifier: exp E_x KL(p(y|x) ‖ p(y)), high when each
//! sample is confidently one class and the classes are balanced (at most the class count).

/// `probabilities`: rows of class probabilities, `classes` per row.
pub fn classifier_score(probabilities: &[f32], classes: usize) -> f64 {
    let n = probabilities.len() / classes;
    let mut marginal = vec![0.0f64; classes];
    for row in probabilities.chunks_exact(classes) {
        for (m, p) in marginal.iter_mut().zip(row) {
            *m += *p as f64 / n as f64;
        }
    }
    let kl: f64 = probabilities
        .chunks_exact(classes)
        .map(|row| {
            row.iter()
                .zip(&marginal)
                .filter(|(p, _)| **p > 0.0)
                .map(|(p, m)| *p as f64 * (*p as f64 / m).ln())
                .sum::<f64>()
        })
        .sum::<f64>()
        / n as f64;
    kl.exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confident_balanced_predictions_score_the_class_count() {
        let one_hot: Vec<f32> = (0..40)
            .flat_map(|i| (0..10).map(move |c| if c == i % 10 { 1.0 } else { 0.0 }))
            .collect();
        assert!((classifier_score(&one_hot, 10) - 10.0).abs() < 1e-9);
        let uniform = vec![0.1f32; 400];
        assert!((classifier_score(&uniform, 10) - 1.0).abs() < 1e-6);
        let one_class: Vec<f32> =
            (0..40).flat_map(|_| (0..10).map(|c| if c == 3 { 1.0 } else { 0.0 })).collect();
        assert!((classifier_score(&one_class, 10) - 1.0).abs() < 1e-9);
    }
}

//! How sure our classifier is of each sample's class: the share of samples by their largest class
//! probability (a histogram), and the share predicted as each class. A proxy for "recognisable as
//! one of the classes", read beside the classifier's confidence on real test images, never instead
//! of looking at the samples.

/// The bins' inner edges: [0, 0.3), [0.3, 0.5), [0.5, 0.7), [0.7, 0.9), [0.9, 1]. Our classifier
/// was trained with label smoothing 0.1 (a sure answer's target is 0.91), so nothing finer above
/// 0.9: it is surer than 0.99 of 0.2 % of the real test images.
pub const EDGES: [f32; 4] = [0.3, 0.5, 0.7, 0.9];

/// The bins' names, lowest first.
pub fn bin_names() -> Vec<String> {
    let mut names = vec![format!("below {}", EDGES[0])];
    names.extend(EDGES.windows(2).map(|w| format!("{} to {}", w[0], w[1])));
    names.push(format!("{} and above", EDGES[EDGES.len() - 1]));
    names
}

/// The most probable class of one row of class probabilities, and its probability.
pub fn top_class(row: &[f32]) -> (usize, f32) {
    row.iter()
        .copied()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (i, p)| if p > best.1 { (i, p) } else { best })
}

/// Percent of the rows (`classes` probabilities each) in each bin of their largest probability.
pub fn bin_shares(probabilities: &[f32], classes: usize) -> Vec<f64> {
    let mut counts = vec![0usize; EDGES.len() + 1];
    for row in probabilities.chunks_exact(classes) {
        let (_, p) = top_class(row);
        counts[EDGES.iter().filter(|&&edge| p >= edge).count()] += 1;
    }
    percent(&counts)
}

/// Percent of the rows predicted as each class.
pub fn class_shares(probabilities: &[f32], classes: usize) -> Vec<f64> {
    let mut counts = vec![0usize; classes];
    for row in probabilities.chunks_exact(classes) {
        counts[top_class(row).0] += 1;
    }
    percent(&counts)
}

/// The median of the rows' largest probabilities.
pub fn median_confidence(probabilities: &[f32], classes: usize) -> f64 {
    let mut top: Vec<f32> = probabilities.chunks_exact(classes).map(|r| top_class(r).1).collect();
    top.sort_by(f32::total_cmp);
    match top.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => top[n / 2] as f64,
        n => (top[n / 2 - 1] as f64 + top[n / 2] as f64) / 2.0,
    }
}

fn percent(counts: &[usize]) -> Vec<f64> {
    let total = counts.iter().sum::<usize>().max(1) as f64;
    counts.iter().map(|&c| 100.0 * c as f64 / total).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows of three classes whose first class has probability `p`.
    fn rows(ps: &[f32]) -> Vec<f32> {
        ps.iter().flat_map(|&p| [p, (1.0 - p) * 0.6, (1.0 - p) * 0.4]).collect()
    }

    #[test]
    fn each_sample_lands_in_the_bin_of_its_largest_probability() {
        // Every row's largest probability is its first class's ([0.4, 0.36, 0.24] at 0.4).
        let shares = bin_shares(&rows(&[0.4, 0.5, 0.69, 0.7, 0.95, 0.9, 1.0, 0.899]), 3);
        assert_eq!(shares, vec![0.0, 12.5, 25.0, 25.0, 37.5]);
        assert_eq!(bin_names().len(), shares.len());
        assert_eq!(bin_names()[0], "below 0.3");
        assert_eq!(bin_names()[2], "0.5 to 0.7");
        assert_eq!(bin_names()[4], "0.9 and above");
        // A row whose largest probability is another class's.
        assert_eq!(bin_shares(&[0.1, 0.2, 0.7], 3), vec![0.0, 0.0, 0.0, 100.0, 0.0]);
    }

    #[test]
    fn class_shares_count_the_predicted_class_and_sum_to_100() {
        let p = [0.8, 0.1, 0.1, 0.2, 0.5, 0.3, 0.1, 0.6, 0.3, 0.3, 0.3, 0.4];
        let shares = class_shares(&p, 3);
        assert_eq!(shares, vec![25.0, 50.0, 25.0]);
        assert!((shares.iter().sum::<f64>() - 100.0).abs() < 1e-9);
        assert_eq!(top_class(&[0.3, 0.3, 0.4]), (2, 0.4));
    }

    #[test]
    fn the_median_takes_the_middle_largest_probability() {
        assert!((median_confidence(&rows(&[0.9, 0.5, 0.7]), 3) - 0.7).abs() < 1e-6);
        assert!((median_confidence(&rows(&[0.9, 0.5, 0.7, 0.8]), 3) - 0.75).abs() < 1e-6);
        assert!(median_confidence(&[], 3).is_nan());
    }
}

//! Spectral normalisation (Miyato et al. 2018) for inference: W / σ(W), with σ estimated by power
//! iteration from the stored left singular vector `u`, as PyTorch's `spectral_norm` does.
//!
//! The weights are constant while refining, so σ is computed once, on the host, when a model is
//! built. "Thermalising" (the authors' code runs thousands of discriminator passes in training mode
//! before refining, only to advance `u`) is the same thing as running more power iterations here.

/// Divides `weight` (viewed as a `rows × (len / rows)` matrix) by its estimated largest singular
/// value and returns σ. `u` is updated in place by `iterations` extra power iterations.
///
/// With `iterations = 0` this matches PyTorch in eval mode with `v = normalise(Wᵀu)`:
/// σ = uᵀ W v where u is first refreshed as normalise(W v), i.e. σ = ‖W v‖.
pub fn normalise(weight: &mut [f32], rows: usize, u: &mut [f32], iterations: usize) -> f32 {
    debug_assert_eq!(u.len(), rows);
    let cols = weight.len() / rows;
    let mut v = vec![0f64; cols];
    for _ in 0..iterations {
        left_to_right(weight, rows, u, &mut v);
        right_to_left(weight, rows, &v, u);
    }
    left_to_right(weight, rows, u, &mut v);
    let wv: Vec<f64> = (0..rows)
        .map(|r| weight[r * cols..(r + 1) * cols].iter().zip(&v).map(|(&w, &x)| w as f64 * x).sum())
        .collect();
    let sigma = wv.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-12);
    for w in weight.iter_mut() {
        *w = (*w as f64 / sigma) as f32;
    }
    sigma as f32
}

/// v = normalise(Wᵀ u)
fn left_to_right(weight: &[f32], rows: usize, u: &[f32], v: &mut [f64]) {
    let cols = v.len();
    v.iter_mut().for_each(|x| *x = 0.0);
    for r in 0..rows {
        let ur = u[r] as f64;
        for (x, &w) in v.iter_mut().zip(&weight[r * cols..(r + 1) * cols]) {
            *x += w as f64 * ur;
        }
    }
    unit(v);
}

/// u = normalise(W v)
fn right_to_left(weight: &[f32], rows: usize, v: &[f64], u: &mut [f32]) {
    let cols = v.len();
    let mut acc: Vec<f64> = (0..rows)
        .map(|r| weight[r * cols..(r + 1) * cols].iter().zip(v).map(|(&w, &x)| w as f64 * x).sum())
        .collect();
    unit(&mut acc);
    for (dst, src) in u.iter_mut().zip(acc) {
        *dst = src as f32;
    }
}

fn unit(x: &mut [f64]) {
    // PyTorch's normalize uses eps = 1e-12 too, so a zero vector stays zero instead of NaN.
    let n = x.iter().map(|a| a * a).sum::<f64>().sqrt().max(1e-12);
    x.iter_mut().for_each(|a| *a /= n);
}

/// Reorders a transposed-convolution weight `[in, out, k…]` to `[out, in, k…]`, so its rows are the
/// output channels, the dimension PyTorch's `spectral_norm` uses for transposed convolutions.
pub fn swap_first_axes(weight: &[f32], a: usize, b: usize) -> Vec<f32> {
    let inner = weight.len() / (a * b);
    let mut out = vec![0f32; weight.len()];
    for i in 0..a {
        for j in 0..b {
            let src = (i * b + j) * inner;
            let dst = (j * a + i) * inner;
            out[dst..dst + inner].copy_from_slice(&weight[src..src + inner]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converges_to_the_largest_singular_value() {
        // diag(3, 1) rotated: singular values 3 and 1.
        let (c, s) = (0.6f32, 0.8f32);
        let mut w = vec![3.0 * c, -s, 3.0 * s, c];
        let mut u = vec![1.0, 1.0];
        let sigma = normalise(&mut w, 2, &mut u, 50);
        assert!((sigma - 3.0).abs() < 1e-5, "{sigma}");
        let mut again = w.clone();
        let sigma_after = normalise(&mut again, 2, &mut u, 50);
        assert!((sigma_after - 1.0).abs() < 1e-5, "normalised weight has σ = {sigma_after}");
    }

    #[test]
    fn one_iteration_gives_a_lower_bound() {
        let mut w: Vec<f32> = (0..12).map(|i| ((i * 7 % 5) as f32 - 2.0) * 0.3).collect();
        let mut u = vec![1.0, 0.0, 0.0];
        let rough = normalise(&mut w.clone(), 3, &mut u.clone(), 0);
        let exact = normalise(&mut w, 3, &mut u, 200);
        assert!(rough <= exact + 1e-6 && rough > 0.0);
    }

    #[test]
    fn swapping_axes_twice_is_identity() {
        let w: Vec<f32> = (0..24).map(|i| i as f32).collect();
        let swapped = swap_first_axes(&w, 2, 3);
        assert_eq!(&swapped[0..4], &[0.0, 1.0, 2.0, 3.0]);
        assert_eq!(&swapped[4..8], &[12.0, 13.0, 14.0, 15.0]);
        assert_eq!(swap_first_axes(&swapped, 3, 2), w);
    }
}

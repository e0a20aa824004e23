//! Work over cores: rayon natively and in the threaded wasm modules, a plain loop in the
//! single-threaded one. Every CPU operation splits its work through these, so the split is
//! chosen in one place.

#[cfg(any(not(target_family = "wasm"), feature = "threads"))]
pub(super) fn threads() -> usize {
    rayon::current_num_threads()
}

#[cfg(all(target_family = "wasm", not(feature = "threads")))]
pub(super) fn threads() -> usize {
    1
}

#[cfg(any(not(target_family = "wasm"), feature = "threads"))]
pub(super) fn for_each_chunk(
    data: &mut [f32],
    chunk: usize,
    f: impl Fn(usize, &mut [f32]) + Sync + Send,
) {
    use rayon::prelude::*;
    data.par_chunks_mut(chunk).enumerate().for_each(|(i, c)| f(i, c));
}

#[cfg(all(target_family = "wasm", not(feature = "threads")))]
pub(super) fn for_each_chunk(data: &mut [f32], chunk: usize, f: impl Fn(usize, &mut [f32])) {
    data.chunks_mut(chunk).enumerate().for_each(|(i, c)| f(i, c));
}

/// For each channel of `[n, c, l]` arrays `a` and `b`, Σ `term(a, b, channel)` over the values of
/// its `n` planes: a sum per plane, then over planes (two stages: the mean over 65,536 values
/// per channel of a DCGAN batch needs them to keep its digits); channels in parallel.
pub(super) fn channel_sums(
    [n, c, l]: [usize; 3],
    a: &[f32],
    b: &[f32],
    term: impl Fn(f32, f32, usize) -> f32 + Sync + Send,
) -> Vec<f32> {
    assert!(
        a.len() == n * c * l && b.len() == a.len(),
        "channel sums: arrays do not match their shape"
    );
    let mut sums = vec![0.0; c];
    let plane = |i: usize, ch: usize| (i * c + ch) * l..(i * c + ch + 1) * l;
    for_each_chunk(&mut sums, 1, |ch, sum| {
        sum[0] = (0..n)
            .map(|i| lane_sum(&a[plane(i, ch)], &b[plane(i, ch)], |x, y| term(x, y, ch)))
            .sum()
    });
    sums
}

/// Σ `term(a[j], b[j])` (a dot product, a channel's sums) in 16 partial sums, which run side by
/// side in vectors (one running sum waits on each add in turn: that made batch norm's and the
/// bias gradients' sums a tenth of GAN training).
pub(super) fn lane_sum(a: &[f32], b: &[f32], term: impl Fn(f32, f32) -> f32) -> f32 {
    const LANES: usize = 16;
    let mut partial = [0.0f32; LANES];
    let (blocks_a, blocks_b) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let rest: f32 =
        blocks_a.remainder().iter().zip(blocks_b.remainder()).map(|(x, y)| term(*x, *y)).sum();
    for (x, y) in blocks_a.zip(blocks_b) {
        for k in 0..LANES {
            partial[k] += term(x[k], y[k]);
        }
    }
    partial.iter().sum::<f32>() + rest
}

/// `len` zeros. Large buffers are zeroed in parallel: the allocator hands back memory freed
/// earlier, which `vec!` clears with a `memset` on one thread (in GAN training, ~20 % of what the
/// main thread did besides handing out work).
#[cfg(any(not(target_family = "wasm"), feature = "threads"))]
pub(super) fn zeroed(len: usize) -> Vec<f32> {
    use rayon::prelude::*;
    if len < 1 << 16 {
        return vec![0.0; len];
    }
    let mut zeros = Vec::with_capacity(len);
    // A `memset` per part (collecting zeros one by one cost more than the memset it replaced).
    zeros.spare_capacity_mut()[..len]
        .par_chunks_mut(1 << 15)
        .for_each(|part| part.fill(std::mem::MaybeUninit::new(0.0)));
    // SAFETY: every value of the first `len` was written above.
    unsafe { zeros.set_len(len) };
    zeros
}

#[cfg(all(target_family = "wasm", not(feature = "threads")))]
pub(super) fn zeroed(len: usize) -> Vec<f32> {
    vec![0.0; len]
}

#[cfg(any(not(target_family = "wasm"), feature = "threads"))]
pub(super) fn for_each_index(count: usize, f: impl Fn(usize) + Sync + Send) {
    use rayon::prelude::*;
    (0..count).into_par_iter().for_each(f);
}

#[cfg(all(target_family = "wasm", not(feature = "threads")))]
pub(super) fn for_each_index(count: usize, f: impl Fn(usize)) {
    (0..count).for_each(f);
}

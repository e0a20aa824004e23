//! The weight gradient of a convolution (training): the same kernels with the roles of input
//! and output swapped, summed over the batch in blocks.

use super::execute::pad;
use super::fused::InputMap;
use super::kernel::Kernel;
use super::layout::{
    Geometry, Plan, Reads, Shape4, TILE, channel_tap_reads, padded_outputs, task_size,
};
use crate::cpu::parallel::{for_each_chunk, zeroed};

/// Gradient values per block of a weight gradient's sum (128 KB: in L2 cache, with room).
pub(super) const WEIGHT_GRADIENT_BLOCK: usize = 1 << 15;

/// Positions per range of a weight gradient's sum, at least: each range adds a partial gradient
/// to write and add up, small next to this many positions' multiply-adds.
pub(super) const RANGE_POSITIONS: usize = 4096;

/// The gradient of a convolution's weights `[o, c, kh, kw]` (`weight_shape`) from its input `x`
/// `[n, c, h, w]` and the gradient of its output, `grad` `[n, o, h', w']`: for each weight, the
/// sum over samples and output positions of the output's gradient times the input under that
/// tap. The forward kernel computes it with the roles swapped: its positions are the (input
/// channel, tap) pairs, its channels the samples, its taps the output positions, and its weights
/// the output gradient laid out position-major. A transposed convolution's weight gradient is
/// this with `x` and `grad` exchanged (it is the adjoint of that convolution).
pub fn conv2d_weight_gradient(
    x: &[f32],
    x_shape: Shape4,
    grad: &[f32],
    weight_shape: Shape4,
    geometry: Geometry,
) -> Vec<f32> {
    conv2d_weight_gradient_on(Kernel::detect(), x, x_shape, grad, weight_shape, geometry)
}

pub(super) fn conv2d_weight_gradient_on(
    kernel: Kernel,
    x: &[f32],
    x_shape: Shape4,
    grad: &[f32],
    weight_shape: Shape4,
    geometry: Geometry,
) -> Vec<f32> {
    let [n, c, h, w] = x_shape;
    let [o, wc, kh, kw] = weight_shape;
    assert_eq!(c, wc, "conv2d weight gradient: input has {c} channels, weight expects {wc}");
    assert_eq!(
        x.len(),
        n * c * h * w,
        "conv2d weight gradient: input length does not match its shape"
    );
    let reads = Reads::of("conv2d weight gradient", [h, w], [kh, kw], geometry, 1);
    let out_plane = reads.starts.len();
    assert_eq!(
        grad.len(),
        n * o * out_plane,
        "conv2d weight gradient: output gradient does not match the output's shape"
    );
    let taps = reads.taps.len();
    let mut weight_grad = vec![0.0; o * c * taps];
    if n * out_plane == 0 || weight_grad.is_empty() {
        return weight_grad;
    }
    let plane = reads.padded.plane();
    let input = pad(x, x_shape, &reads.padded, InputMap::AsIs, true);
    let opad = padded_outputs(o);
    let pairs = channel_tap_reads(c, plane, &reads.taps);
    // Where each (sample, output position) starts reading: the sum runs over these.
    let starts = channel_tap_reads(n, c * plane, &reads.starts);
    // The sum runs in blocks of positions whose output-gradient rows (position-major, 128 KB)
    // each task transposes itself and reads while they are in its core's cache: transposed all
    // at once up front (8 MB at a DCGAN critic's first layer) they were streamed through memory
    // twice more, half of that layer's time. Tasks split the positions into up to four ranges,
    // each summed into a partial gradient of its own (as many as the positions alone decide, so
    // that the sum's rounding does not depend on the machine's threads), and the pairs into runs
    // long enough that a block's transpose costs little next to its multiply-adds.
    let block = (WEIGHT_GRADIENT_BLOCK / opad).max(1);
    let blocks = starts.len().div_ceil(block);
    let ranges = (starts.len() / RANGE_POSITIONS).clamp(1, 4);
    let blocks_per_range = blocks.div_ceil(ranges);
    let run_len = (task_size(pairs.len(), starts.len() * opad) * ranges)
        .max(4 * TILE)
        .next_multiple_of(TILE)
        .min(pairs.len().next_multiple_of(TILE));
    let runs = pairs.len().div_ceil(run_len);
    let mut partials = zeroed(ranges * runs * run_len * opad);
    for_each_chunk(&mut partials, run_len * opad, |task, partial| {
        let (range, run) = (task / runs, task % runs);
        let run_pairs = &pairs[run * run_len..((run + 1) * run_len).min(pairs.len())];
        let partial = &mut partial[..run_pairs.len() * opad];
        let mut rows = vec![0.0; block * opad];
        let mut sums = Vec::new();
        for b in range * blocks_per_range..((range + 1) * blocks_per_range).min(blocks) {
            let positions = b * block..((b + 1) * block).min(starts.len());
            let rows = &mut rows[..positions.len() * opad];
            position_major(grad, [o, out_plane], opad, positions.clone(), rows);
            let plan =
                Plan { reads: starts[positions].to_vec(), weights: rows, padded_outputs: opad };
            if b == range * blocks_per_range {
                kernel.gather(&input, &plan, run_pairs, partial);
            } else {
                sums.resize(partial.len(), 0.0);
                kernel.gather(&input, &plan, run_pairs, &mut sums);
                partial.iter_mut().zip(&sums).for_each(|(sum, value)| *sum += value);
            }
        }
    });
    // Row (channel, tap) → weight [o][channel][tap], one output channel per task: written in
    // order (a scatter down the columns on one thread took ~1 ms per layer), each value the sum
    // of the ranges' partial gradients, in range order.
    let per_range = runs * run_len * opad;
    for_each_chunk(&mut weight_grad, c * taps, |oc, row| {
        row.iter_mut().enumerate().for_each(|(pair, value)| {
            let at = pair * opad + oc;
            *value =
                (1..ranges).fold(partials[at], |sum, range| sum + partials[range * per_range + at]);
        })
    });
    weight_grad
}

/// Rows of `rows`, one per position `positions` of the flattened (sample, position) axis of
/// `grad` `[n, o, out_plane]`, each its `o` values (then `opad − o` left as they are), 16
/// positions at a time so that their rows stay in L1 while every channel is written.
pub(super) fn position_major(
    grad: &[f32],
    [o, out_plane]: [usize; 2],
    opad: usize,
    positions: std::ops::Range<usize>,
    rows: &mut [f32],
) {
    let mut q = positions.start;
    for block in rows.chunks_mut(16 * opad) {
        let mut filled = 0;
        // A block may cross from one sample into the next.
        while filled < block.len() / opad {
            let (sample, p) = (q / out_plane, q % out_plane);
            let len = (block.len() / opad - filled).min(out_plane - p);
            let sample_grad = &grad[sample * o * out_plane..][..o * out_plane];
            for oc in 0..o {
                let from = &sample_grad[oc * out_plane + p..][..len];
                for (row, value) in block[filled * opad..].chunks_exact_mut(opad).zip(from) {
                    row[oc] = *value;
                }
            }
            filled += len;
            q += len;
        }
    }
}

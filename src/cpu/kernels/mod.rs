//! Direct 2-D convolution kernels for the CPU backend, on plain `NCHW` slices.
//!
//! burn flex runs every convolution as im2col + GEMM per sample; on our small maps (4×4 to
//! 32×32) and 3-channel layers that leaves it 2–8× behind PyTorch's oneDNN (bench/RESULTS.md's
//! layer profile). These kernels compute each output directly: a tile of output positions times
//! a block of output channels stays in vector registers while the loop runs over input channels
//! and kernel taps, reading each input value once per tile as a broadcast and each weight vector
//! once per tile. Stride-1 layers whose rows are whole vectors instead keep runs of positions ×
//! a few channels in registers and write `NCHW` rows directly. A transposed convolution runs as
//! one dense convolution per output phase (for stride 2, four 2×2 ones), so it never multiplies
//! by the zeros of an upsampled input.
//!
//! Vectors are AVX-512 or AVX2 + FMA where the CPU has them (chosen at run time), wasm SIMD in
//! the browser's CPU module, and plain arrays elsewhere.
//!
//! `mod.rs` holds the entry points (pack, convolve, transpose); `fused` what a layer applies as
//! the kernels read and write; `layout` how weights, inputs and outputs are laid out and
//! planned; `execute` the tiled loops over a batch; `kernel` which vector kernels this CPU runs
//! (the one place that chooses), with `x86`, `wasm` and `portable` the kernels themselves over
//! the generic loops of `vector`; `winograd` the tiled path; `weight_gradient` the
//! training-time weight gradient.

mod execute;
mod fused;
mod kernel;
mod layout;
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
mod portable;
#[cfg(test)]
mod tests;
mod vector;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod wasm;
mod weight_gradient;
mod winograd;
#[cfg(target_arch = "x86_64")]
mod x86;

pub use fused::{Fused, InputMap, scale_by_derivative};
pub use layout::{Geometry, Shape4};
pub use weight_gradient::conv2d_weight_gradient;

use execute::run;
use kernel::{Kernel, Tiling};
use layout::{
    Axis, Layout, Padded, Phase, Position, Reads, RowPhase, pack, padded_outputs, phase_taps,
};
use winograd::TiledPhase;

/// Which vector instructions the convolution kernels use here: `avx512`, `avx2` or `portable`
/// (wasm SIMD in the browser's modules).
pub fn kernels_in_use() -> &'static str {
    Kernel::detect().name()
}

/// A convolution's weights `[o, c, kh, kw]` rearranged for the kernels (pack once per layer).
pub fn pack_conv2d(weight: &[f32], [o, c, kh, kw]: Shape4) -> Vec<f32> {
    assert_eq!(weight.len(), o * c * kh * kw, "conv2d weight length does not match its shape");
    pack(o, c, kh * kw, |oc, ic, t| weight[((oc * c + ic) * kh + t / kw) * kw + t % kw])
}

/// A transposed convolution's weights `[c, o, kh, kw]` rearranged for the kernels: one block
/// per output phase (see `conv_transpose2d`).
pub fn pack_conv_transpose2d(
    weight: &[f32],
    [c, o, kh, kw]: Shape4,
    [sh, sw]: [usize; 2],
) -> Vec<f32> {
    assert_eq!(
        weight.len(),
        c * o * kh * kw,
        "conv_transpose2d weight length does not match its shape"
    );
    let mut phases = Vec::new();
    for ry in 0..sh {
        for rx in 0..sw {
            let (ty, tx) = (phase_taps(kh, sh, ry), phase_taps(kw, sw, rx));
            phases.push(pack(o, c, ty * tx, |oc, ic, t| {
                weight[((ic * o + oc) * kh + ry + sh * (t / tx)) * kw + rx + sw * (t % tx)]
            }));
        }
    }
    phases.concat()
}

/// Where a convolution goes in tiles: the side of its taps and its stride, for a square kernel of
/// 2 or 3 taps per stride. A stride-s layer reads its input planes split by row and column phase
/// (see `Padded`) as a stride-1 one of c·s² channels: output (y, x) reads tap (s·a + py,
/// s·b + px) from row y + a, column x + b of the plane of phase (py, px).
fn conv2d_tiles([kh, kw]: [usize; 2], [sh, sw]: [usize; 2]) -> Option<(usize, usize)> {
    (kh == kw && sh == sw && kh.is_multiple_of(sh) && matches!(kh / sh, 2 | 3))
        .then_some((kh / sh, sh))
}

/// The side of a transposed convolution's phases where they go in tiles: all 2×2 or all 3×3.
fn phase_tile_side([kh, kw]: [usize; 2], [sh, sw]: [usize; 2]) -> Option<usize> {
    let side = phase_taps(kh, sh, 0);
    let square = (0..sh).all(|ry| phase_taps(kh, sh, ry) == side)
        && (0..sw).all(|rx| phase_taps(kw, sw, rx) == side);
    (matches!(side, 2 | 3) && square).then_some(side)
}

/// A convolution: `x` is `[n, c, h, w]`, `packed` the weights `[o, c, kh, kw]` through
/// [`pack_conv2d`]; returns `[n, o, h', w']`.
pub fn conv2d(
    x: &[f32],
    x_shape: Shape4,
    packed: &[f32],
    weight_shape: Shape4,
    fused: Fused,
    geometry: Geometry,
) -> (Vec<f32>, Shape4) {
    let kernel = Kernel::detect();
    conv2d_on(kernel, kernel.tiling(), x, x_shape, packed, weight_shape, fused, geometry)
}

#[allow(clippy::too_many_arguments)]
fn conv2d_on(
    kernel: Kernel,
    tiling: Tiling,
    x: &[f32],
    x_shape: Shape4,
    packed: &[f32],
    weight_shape: Shape4,
    fused: Fused,
    geometry: Geometry,
) -> (Vec<f32>, Shape4) {
    let [n, c, h, w] = x_shape;
    let [o, wc, kh, kw] = weight_shape;
    assert_eq!(c, wc, "conv2d: input has {c} channels, weight expects {wc}");
    assert!(
        packed.len() == c * kh * kw * padded_outputs(o),
        "conv2d: weights not packed by pack_conv2d for {weight_shape:?}"
    );
    // A strided layer reads its input from planes split by column where that makes its rows
    // whole vectors of consecutive reads, for the row kernel (see `Padded`).
    let reads = |columns| Reads::of("conv2d", [h, w], [kh, kw], geometry, columns);
    let split = (geometry.stride[1] > 1)
        .then(|| reads(geometry.stride[1]))
        .map(|split| (split.template(), split));
    let (template, reads) = match split {
        Some((template, split)) if RowPhase::of(&template, kernel.lanes()).is_some() => {
            (template, split)
        }
        _ => {
            let plain = reads(1);
            (plain.template(), plain)
        }
    };
    let [ho, wo] = reads.out;
    let layout = Layout {
        outputs: o,
        padded_outputs: padded_outputs(o),
        padded: reads.padded,
        out_plane: ho * wo,
    };
    if let Some((side, split)) = conv2d_tiles([kh, kw], geometry.stride)
        && tiling != Tiling::Never
        && reads.padded.size.iter().all(|size| size.is_multiple_of(split))
    {
        // Output (y, x) reads from row y, column x on of each plane of a phase; channel
        // (ic, py, px) of those planes has tap (a, b) at tap (s·a + py, s·b + px).
        let layout = Layout { padded: Padded { split: [split; 2], ..reads.padded }, ..layout };
        let taps: Vec<usize> = (0..c * split * split)
            .flat_map(|part| {
                let (ic, py, px) = (part / (split * split), part / split % split, part % split);
                (0..side * side).map(move |t| {
                    (ic * kh + split * (t / side) + py) * kw + split * (t % side) + px
                })
            })
            .collect();
        let phase = TiledPhase {
            rows: (0..ho).map(|y| y * wo).collect(),
            cols: (0..wo).collect(),
            start: 0,
            weights: packed,
            taps: &taps,
        };
        if let Some(out) = winograd::run(side, tiling, kernel, x, x_shape, &layout, fused, &[phase])
        {
            return (out, [n, o, ho, wo]);
        }
    }
    (
        run(
            kernel,
            x,
            [n, c, h, w],
            &layout,
            fused,
            &[Phase { taps: reads.taps, weights: packed, template }],
        ),
        [n, o, ho, wo],
    )
}

/// A transposed convolution: `x` is `[n, c, h, w]`, `packed` the weights `[c, o, kh, kw]`
/// through [`pack_conv_transpose2d`]; the output is `[n, o, out_size[0], out_size[1]]` (which
/// fixes the output padding).
pub fn conv_transpose2d(
    x: &[f32],
    x_shape: Shape4,
    packed: &[f32],
    weight_shape: Shape4,
    fused: Fused,
    geometry: Geometry,
    out_size: [usize; 2],
) -> (Vec<f32>, Shape4) {
    let kernel = Kernel::detect();
    conv_transpose2d_on(
        kernel,
        kernel.tiling(),
        x,
        x_shape,
        packed,
        weight_shape,
        fused,
        geometry,
        out_size,
    )
}

#[allow(clippy::too_many_arguments)]
fn conv_transpose2d_on(
    kernel: Kernel,
    tiling: Tiling,
    x: &[f32],
    x_shape: Shape4,
    packed: &[f32],
    weight_shape: Shape4,
    fused: Fused,
    geometry: Geometry,
    out_size: [usize; 2],
) -> (Vec<f32>, Shape4) {
    let [n, c, h, w] = x_shape;
    let [wc, o, kh, kw] = weight_shape;
    assert_eq!(c, wc, "conv_transpose2d: input has {c} channels, weight expects {wc}");
    let ([sh, sw], [ph, pw]) = (geometry.stride, geometry.padding);
    let [ho, wo] = out_size;
    // Output row Y takes kernel rows ky ≡ (Y + p) mod s, from input row (Y + p − ky) / s. For a
    // phase r = (Y + p) mod s that is input row m − t for ky = r + s·t, with m = ⌊(Y + p) / s⌋:
    // a dense convolution over the input with the phase's taps.
    let rows = Axis::new(h, ho, kh, sh, ph);
    let cols = Axis::new(w, wo, kw, sw, pw);
    let padded = [rows.lead + h + rows.trail, cols.lead + w + cols.trail];
    let opad = padded_outputs(o);
    let layout = Layout {
        outputs: o,
        padded_outputs: opad,
        padded: Padded { size: padded, offset: [rows.lead, cols.lead], split: [1, 1] },
        out_plane: ho * wo,
    };

    let mut phases = Vec::new();
    let mut rest = packed;
    for ry in 0..sh {
        for rx in 0..sw {
            // A phase with no taps (kernel narrower than the stride) still writes its outputs
            // (bias and what else is fused).
            let (ty, tx) = (phase_taps(kh, sh, ry), phase_taps(kw, sw, rx));
            assert!(
                rest.len() >= c * ty * tx * opad,
                "conv_transpose2d: weights not packed by pack_conv_transpose2d for {weight_shape:?}"
            );
            let (weights, next) = rest.split_at(c * ty * tx * opad);
            rest = next;
            phases.push(Phase {
                taps: (0..ty)
                    .flat_map(|a| (0..tx).map(move |b| (rows.lead - a) * padded[1] + cols.lead - b))
                    .collect(),
                weights,
                template: rows
                    .phase(ry)
                    .flat_map(|(y, my)| {
                        cols.phase(rx).map(move |(x, mx)| Position {
                            input: my * padded[1] + mx,
                            output: y * wo + x,
                        })
                    })
                    .collect(),
            });
        }
    }
    assert!(
        rest.is_empty(),
        "conv_transpose2d: weights not packed by pack_conv_transpose2d for {weight_shape:?}"
    );
    if let Some(side) = phase_tile_side([kh, kw], [sh, sw])
        && tiling != Tiling::Never
    {
        // A phase's outputs read consecutive input rows (m) and columns: its first output's block
        // starts side − 1 before its first tap's read, and its tap (a, b) is the correlation's
        // (side − 1 − a, side − 1 − b) (the taps read backwards).
        let taps: Vec<usize> = (0..c)
            .flat_map(|ic| (0..side * side).rev().map(move |t| ic * side * side + t))
            .collect();
        let tiled_phases: Vec<TiledPhase> = (0..sh)
            .flat_map(|ry| (0..sw).map(move |rx| (ry, rx)))
            .zip(&phases)
            .map(|((ry, rx), phase)| {
                let (ys, xs): (Vec<_>, Vec<_>) =
                    (rows.phase(ry).collect(), cols.phase(rx).collect());
                let first = |axis: &[(usize, usize)], lead: usize| {
                    axis.first().map_or(0, |&(_, m)| m + lead + 1 - side)
                };
                let start = first(&ys, rows.lead) * padded[1] + first(&xs, cols.lead);
                TiledPhase {
                    rows: ys.iter().map(|&(y, _)| y * wo).collect(),
                    cols: xs.iter().map(|&(x, _)| x).collect(),
                    start,
                    weights: phase.weights,
                    taps: &taps,
                }
            })
            .collect();
        if let Some(out) =
            winograd::run(side, tiling, kernel, x, x_shape, &layout, fused, &tiled_phases)
        {
            return (out, [n, o, ho, wo]);
        }
    }
    (run(kernel, x, [n, c, h, w], &layout, fused, &phases), [n, o, ho, wo])
}

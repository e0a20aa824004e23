use super::layout::TILE;
use super::weight_gradient::{RANGE_POSITIONS, WEIGHT_GRADIENT_BLOCK, conv2d_weight_gradient_on};
use super::*;
use crate::cpu::pointwise::Pointwise;

/// The definition, one multiply-add at a time.
fn naive_conv2d(
    x: &[f32],
    [n, c, h, w]: Shape4,
    weight: &[f32],
    [o, _, kh, kw]: Shape4,
    bias: &[f32],
    g: Geometry,
) -> Vec<f32> {
    let ([sh, sw], [ph, pw]) = (g.stride, g.padding);
    let (ho, wo) = ((h + 2 * ph - kh) / sh + 1, (w + 2 * pw - kw) / sw + 1);
    let mut out = vec![0.0; n * o * ho * wo];
    for b in 0..n {
        for oc in 0..o {
            for y in 0..ho {
                for xo in 0..wo {
                    let mut sum = bias[oc] as f64;
                    for ic in 0..c {
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let (iy, ix) = (
                                    (y * sh + ky) as isize - ph as isize,
                                    (xo * sw + kx) as isize - pw as isize,
                                );
                                if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                                    sum += (x[((b * c + ic) * h + iy as usize) * w + ix as usize]
                                        * weight[((oc * c + ic) * kh + ky) * kw + kx])
                                        as f64;
                                }
                            }
                        }
                    }
                    out[((b * o + oc) * ho + y) * wo + xo] = sum as f32;
                }
            }
        }
    }
    out
}

/// Scatters every input value through the kernel, the transposed convolution's definition.
fn naive_conv_transpose2d(
    x: &[f32],
    [n, c, h, w]: Shape4,
    weight: &[f32],
    [_, o, kh, kw]: Shape4,
    bias: &[f32],
    g: Geometry,
    [ho, wo]: [usize; 2],
) -> Vec<f32> {
    let ([sh, sw], [ph, pw]) = (g.stride, g.padding);
    let mut out = vec![0.0f64; n * o * ho * wo];
    for b in 0..n {
        for oc in 0..o {
            out[(b * o + oc) * ho * wo..][..ho * wo].iter_mut().for_each(|v| *v = bias[oc] as f64);
        }
        for ic in 0..c {
            for iy in 0..h {
                for ix in 0..w {
                    for oc in 0..o {
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let (y, xo) = (
                                    (iy * sh + ky) as isize - ph as isize,
                                    (ix * sw + kx) as isize - pw as isize,
                                );
                                if y >= 0 && xo >= 0 && (y as usize) < ho && (xo as usize) < wo {
                                    out[((b * o + oc) * ho + y as usize) * wo + xo as usize] += (x
                                        [((b * c + ic) * h + iy) * w + ix]
                                        * weight[((ic * o + oc) * kh + ky) * kw + kx])
                                        as f64;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    out.into_iter().map(|v| v as f32).collect()
}

fn values(len: usize, seed: u32) -> Vec<f32> {
    let mut state = seed.wrapping_mul(2654435761).wrapping_add(1);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state % 2001) as f32 / 1000.0 - 1.0
        })
        .collect()
}

fn assert_close(got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len());
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "element {i}: {a} vs {b}");
    }
}

// Shapes of the bundled models' layers and awkward ones: channel counts off the 32-block,
// odd sizes, stride 2 with and without an exact fit, kernels wider than the input.
// Rows of 16 and 32 take the row kernel on every vector width (stride 1), the others the
// channel kernel.
const CONVS: [(Shape4, [usize; 3], [usize; 2]); 10] = [
    ([2, 5, 6, 32], [20, 3, 1], [1, 1]),
    ([1, 8, 4, 16], [3, 3, 1], [1, 1]),
    ([2, 3, 8, 8], [32, 3, 1], [1, 1]),
    ([2, 32, 8, 8], [3, 3, 1], [1, 1]),
    ([1, 5, 9, 7], [33, 4, 2], [2, 1]),
    ([3, 16, 4, 4], [40, 3, 1], [1, 1]),
    ([2, 7, 5, 5], [9, 4, 2], [0, 2]),
    ([1, 4, 1, 12], [6, 5, 1], [0, 2]),
    ([2, 9, 6, 6], [64, 1, 1], [0, 0]),
    ([1, 2, 3, 3], [1, 3, 3], [2, 2]),
];

#[test]
fn conv2d_matches_the_definition() {
    for (i, &([n, c, h, w], [o, k, s], [p, q])) in CONVS.iter().enumerate() {
        let kh = if h == 1 { 1 } else { k };
        let g = Geometry {
            stride: [if h == 1 { 1 } else { s }, s],
            padding: [if h == 1 { 0 } else { p }, q],
        };
        let (x, weight, bias) = (
            values(n * c * h * w, i as u32),
            values(o * c * kh * k, 100 + i as u32),
            values(o, 200 + i as u32),
        );
        let (got, shape) = conv2d(
            &x,
            [n, c, h, w],
            &pack_conv2d(&weight, [o, c, kh, k]),
            [o, c, kh, k],
            Fused { bias: Some(&bias), ..Default::default() },
            g,
        );
        let want = naive_conv2d(&x, [n, c, h, w], &weight, [o, c, kh, k], &bias, g);
        assert_eq!(shape[0..2], [n, o]);
        assert_close(&got, &want);
    }
}

#[test]
fn conv_transpose2d_matches_the_definition() {
    for (i, &([n, c, h, w], [o, k, s], [p, q])) in CONVS.iter().enumerate() {
        let kh = if h == 1 { 1 } else { k };
        let g = Geometry {
            stride: [if h == 1 { 1 } else { s }, s],
            padding: [if h == 1 { 0 } else { p.min(kh - 1) }, q.min(k - 1)],
        };
        for extra in 0..g.stride[1] {
            let out_size = [
                (h - 1) * g.stride[0] + kh - 2 * g.padding[0],
                (w - 1) * g.stride[1] + k - 2 * g.padding[1] + extra,
            ];
            let (x, weight, bias) = (
                values(n * c * h * w, i as u32),
                values(c * o * kh * k, 100 + i as u32),
                values(o, 200 + i as u32),
            );
            let (got, shape) = conv_transpose2d(
                &x,
                [n, c, h, w],
                &pack_conv_transpose2d(&weight, [c, o, kh, k], g.stride),
                [c, o, kh, k],
                Fused { bias: Some(&bias), ..Default::default() },
                g,
                out_size,
            );
            let want = naive_conv_transpose2d(
                &x,
                [n, c, h, w],
                &weight,
                [c, o, kh, k],
                &bias,
                g,
                out_size,
            );
            assert_eq!(shape, [n, o, out_size[0], out_size[1]]);
            assert_close(&got, &want);
        }
    }
}

fn naive_conv2d_weight_gradient(
    x: &[f32],
    [n, c, h, w]: Shape4,
    grad: &[f32],
    [o, _, kh, kw]: Shape4,
    g: Geometry,
) -> Vec<f32> {
    let ([sh, sw], [ph, pw]) = (g.stride, g.padding);
    let (ho, wo) = ((h + 2 * ph - kh) / sh + 1, (w + 2 * pw - kw) / sw + 1);
    let mut out = vec![0.0; o * c * kh * kw];
    for oc in 0..o {
        for ic in 0..c {
            for ky in 0..kh {
                for kx in 0..kw {
                    let mut sum = 0.0f64;
                    for b in 0..n {
                        for y in 0..ho {
                            for xo in 0..wo {
                                let (iy, ix) = (
                                    (y * sh + ky) as isize - ph as isize,
                                    (xo * sw + kx) as isize - pw as isize,
                                );
                                if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                                    sum += (x[((b * c + ic) * h + iy as usize) * w + ix as usize]
                                        * grad[((b * o + oc) * ho + y) * wo + xo])
                                        as f64;
                                }
                            }
                        }
                    }
                    out[((oc * c + ic) * kh + ky) * kw + kx] = sum as f32;
                }
            }
        }
    }
    out
}

#[test]
fn conv2d_weight_gradient_matches_the_definition_on_every_vector_width() {
    for (i, &([n, c, h, w], [o, k, s], [p, q])) in CONVS.iter().enumerate() {
        let kh = if h == 1 { 1 } else { k };
        let g = Geometry {
            stride: [if h == 1 { 1 } else { s }, s],
            padding: [if h == 1 { 0 } else { p }, q],
        };
        let (ho, wo) = (
            (h + 2 * g.padding[0] - kh) / g.stride[0] + 1,
            (w + 2 * g.padding[1] - k) / g.stride[1] + 1,
        );
        let (x, grad) = (values(n * c * h * w, i as u32), values(n * o * ho * wo, 300 + i as u32));
        let want = naive_conv2d_weight_gradient(&x, [n, c, h, w], &grad, [o, c, kh, k], g);
        for kernel in Kernel::available() {
            assert_close(
                &conv2d_weight_gradient_on(kernel, &x, [n, c, h, w], &grad, [o, c, kh, k], g),
                &want,
            );
        }
    }
}

/// Enough samples and positions for the sum to run in blocks (the last one short, some
/// crossing from one sample into the next) in two ranges, and enough (channel, tap) pairs
/// for two runs of them.
#[test]
fn a_weight_gradient_summed_in_blocks_matches_the_definition() {
    let ([n, c, h, w], o, g) = ([40, 12, 14, 15], 40, Geometry { stride: [1, 1], padding: [1, 1] });
    assert!(c * 9 > 4 * TILE, "{} pairs make one run", c * 9);
    let reads = n * h * w;
    let block = WEIGHT_GRADIENT_BLOCK / padded_outputs(o);
    assert!(reads > block && !reads.is_multiple_of(block), "{reads} reads in blocks of {block}");
    assert!(reads >= 2 * RANGE_POSITIONS, "{reads} reads make one range");
    let (x, grad) = (values(n * c * h * w, 7), values(n * o * h * w, 8));
    let want = naive_conv2d_weight_gradient(&x, [n, c, h, w], &grad, [o, c, 3, 3], g);
    for kernel in Kernel::available() {
        assert_close(
            &conv2d_weight_gradient_on(kernel, &x, [n, c, h, w], &grad, [o, c, 3, 3], g),
            &want,
        );
    }
}

/// Many small samples: the row kernel's tasks then pad the samples they read themselves,
/// and start and end inside samples.
#[test]
fn tasks_of_whole_samples_match_the_definition() {
    let (shape, g) = ([24, 16, 4, 16], Geometry { stride: [1, 1], padding: [1, 1] });
    let (x, weight, bias) =
        (values(shape.iter().product(), 4), values(32 * 16 * 9, 5), values(32, 6));
    let want = naive_conv2d(&x, shape, &weight, [32, 16, 3, 3], &bias, g);
    for kernel in Kernel::available() {
        let (got, _) = conv2d_on(
            kernel,
            Tiling::Never,
            &x,
            shape,
            &pack_conv2d(&weight, [32, 16, 3, 3]),
            [32, 16, 3, 3],
            Fused { bias: Some(&bias), ..Default::default() },
            g,
        );
        assert_close(&got, &want);
    }
}

/// A convolution with a ReLU before, a leaky ReLU after and a gate, and the transposed
/// convolution of the same geometry with its input times tanh's derivative and a residual
/// after (everything `Fused` does on the way in and out), against the definitions on every
/// vector width; the transposed convolution's output size is its input's `stride` times
/// (no output padding). Returns the convolution's output shape.
fn check_fused_layers(
    tiling: Tiling,
    [n, c, h, w]: Shape4,
    o: usize,
    k: usize,
    g: Geometry,
    seed: u32,
) -> Shape4 {
    let leaky = Pointwise::LeakyRelu(0.2);
    let x = values(n * c * h * w, seed);
    let relu: Vec<f32> = x.iter().map(|v| v.max(0.0)).collect();
    let (weight, bias) = (values(o * c * k * k, seed + 1), values(o, seed + 2));
    let mut want = naive_conv2d(&relu, [n, c, h, w], &weight, [o, c, k, k], &bias, g);
    let gate = values(want.len(), seed + 3);
    leaky.apply(&mut want);
    want.iter_mut().zip(&gate).for_each(|(v, g)| *v = if *g > 0.0 { *v } else { 0.0 });
    let fused = Fused {
        input: InputMap::Relu,
        bias: Some(&bias),
        pointwise: leaky,
        gate: Some(&gate),
        ..Default::default()
    };
    let packed = pack_conv2d(&weight, [o, c, k, k]);
    let mut shape = [0; 4];
    for kernel in Kernel::available() {
        let (got, got_shape) =
            conv2d_on(kernel, tiling, &x, [n, c, h, w], &packed, [o, c, k, k], fused, g);
        assert_close(&got, &want);
        shape = got_shape;
    }

    let ([sh, sw], [ph, pw]) = (g.stride, g.padding);
    let out_size = [(h - 1) * sh + k - 2 * ph, (w - 1) * sw + k - 2 * pw];
    let tanh_outputs = values(x.len(), seed + 4);
    let scaled: Vec<f32> = x.iter().zip(&tanh_outputs).map(|(v, y)| v * (1.0 - y * y)).collect();
    let weight = values(c * o * k * k, seed + 5);
    let mut want =
        naive_conv_transpose2d(&scaled, [n, c, h, w], &weight, [c, o, k, k], &bias, g, out_size);
    let residual = values(want.len(), seed + 6);
    want.iter_mut().zip(&residual).for_each(|(v, r)| *v += r);
    let fused = Fused {
        input: InputMap::Derivative(Pointwise::Tanh, &tanh_outputs),
        bias: Some(&bias),
        residual: Some(&residual),
        ..Default::default()
    };
    let packed = pack_conv_transpose2d(&weight, [c, o, k, k], g.stride);
    for kernel in Kernel::available() {
        assert_close(
            &conv_transpose2d_on(
                kernel,
                tiling,
                &x,
                [n, c, h, w],
                &packed,
                [c, o, k, k],
                fused,
                g,
                out_size,
            )
            .0,
            &want,
        );
    }
    shape
}

/// Strided layers whose rows are whole vectors on some kernels: a convolution then reads
/// planes split by column, and a transposed convolution's phases write every other output.
#[test]
fn strided_rows_match_the_definition_on_every_vector_width() {
    for (i, (shape, k)) in
        [([2, 6, 8, 32], 4), ([2, 5, 6, 16], 3), ([3, 4, 4, 8], 4), ([1, 3, 4, 4], 4)]
            .into_iter()
            .enumerate()
    {
        check_fused_layers(
            Tiling::Never,
            shape,
            7 + i,
            k,
            Geometry { stride: [2, 2], padding: [1, 1] },
            10 * i as u32,
        );
    }
}

/// Layers in Winograd tiles on every vector width, in blocks of 4×4 outputs where their grid
/// allows and else of 2×2: stride-1 3×3 and 2×2 convolutions, stride-2 4×4 and 6×6 ones (2×2
/// and 3×3 taps per phase), and the transposed convolutions whose phases are all 3×3 or all
/// 2×2 (the input gradients of those); channel counts that end a block of outputs early, one
/// tile per phase, RGB out, a strided layer on an odd input (whose padded planes do not split
/// evenly: not in tiles).
#[test]
fn tiles_match_the_definition_on_every_vector_width() {
    // (input, outputs, kernel, stride, padding), and the blocks the convolution and the
    // transposed convolution go in.
    type Case = (Shape4, usize, usize, usize, usize, [Option<usize>; 2]);
    let cases: [Case; 12] = [
        ([2, 5, 6, 8], 20, 3, 1, 1, [Some(2), Some(2)]),
        ([3, 32, 4, 4], 40, 3, 1, 1, [Some(4), Some(4)]),
        ([1, 32, 8, 8], 3, 3, 1, 1, [Some(4), Some(4)]),
        ([1, 4, 5, 7], 6, 2, 1, 0, [Some(2), Some(2)]),
        ([2, 6, 4, 4], 7, 4, 2, 1, [Some(2), Some(4)]),
        ([1, 16, 2, 2], 33, 4, 2, 1, [None, Some(2)]),
        ([2, 9, 4, 6], 16, 3, 1, 2, [Some(2), Some(2)]),
        ([2, 5, 8, 12], 9, 4, 2, 1, [Some(2), Some(4)]),
        ([1, 3, 8, 4], 17, 6, 2, 2, [Some(2), Some(4)]),
        ([1, 4, 7, 7], 5, 4, 2, 0, [None, Some(4)]),
        ([2, 4, 8, 8], 6, 4, 2, 1, [Some(4), Some(4)]),
        ([1, 3, 16, 8], 5, 6, 2, 2, [Some(4), Some(4)]),
    ];
    let blocks = |grid: [usize; 2]| {
        [4, 2].into_iter().find(|m| grid.iter().all(|size| *size > 0 && size.is_multiple_of(*m)))
    };
    for (i, ([n, c, h, w], o, k, stride, padding, want)) in cases.into_iter().enumerate() {
        let g = Geometry { stride: [stride; 2], padding: [padding; 2] };
        let shape = check_fused_layers(Tiling::WhereItFits, [n, c, h, w], o, k, g, 20 * i as u32);
        let padded = [h + 2 * padding, w + 2 * padding];
        let split = padded.iter().all(|p| p.is_multiple_of(stride));
        let conv = blocks([shape[2], shape[3]])
            .filter(|_| conv2d_tiles([k, k], g.stride).is_some() && split);
        // A transposed convolution's phases: its output over the stride.
        let phase = [h, w].map(|size| ((size - 1) * stride + k - 2 * padding) / stride);
        let transposed = blocks(phase).filter(|_| phase_tile_side([k, k], g.stride).is_some());
        assert_eq!([conv, transposed], want, "case {i}'s layers go in other blocks");
    }
}

#[test]
fn every_vector_width_gives_the_same_result() {
    let g = Geometry { stride: [1, 1], padding: [1, 1] };
    // 40 outputs take the wide variants, 12 and 3 the narrow ones; 7×7 maps the channel
    // kernel, 16×16 the row kernel; 32 outputs in blocks of 3 (the relaxed wasm row
    // kernel's, and the portable one's) end in a block past the padded outputs.
    for (o, size) in [(40, 7), (12, 7), (40, 16), (3, 16), (32, 16)] {
        let shape = [3, 32, size, size];
        let (x, weight, bias) =
            (values(shape.iter().product(), 1), values(o * 32 * 9, 2), values(o, 3));
        let want = naive_conv2d(&x, shape, &weight, [o, 32, 3, 3], &bias, g);
        for kernel in Kernel::available() {
            let (got, _) = conv2d_on(
                kernel,
                Tiling::Never,
                &x,
                shape,
                &pack_conv2d(&weight, [o, 32, 3, 3]),
                [o, 32, 3, 3],
                Fused { bias: Some(&bias), ..Default::default() },
                g,
            );
            assert_close(&got, &want);
        }
    }
}

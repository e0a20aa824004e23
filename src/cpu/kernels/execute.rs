//! The tiled loops over a batch: each task pads the samples it reads, then runs its tiles of
//! output positions on the vector kernels.

use super::fused::{Fused, InputMap};
use super::kernel::Kernel;
use super::layout::{
    Layout, Padded, Phase, Plan, Position, RowPhase, Shape4, SharedOut, TILE, Target, task_size,
};
use crate::cpu::parallel::{for_each_chunk, for_each_index, zeroed};

/// Runs each phase over every sample's positions at once (so a weight block in cache serves
/// many samples), in parallel over runs of positions. Where the phase's positions form
/// whole-vector runs, on the row kernel, each task padding the samples it reads itself (while
/// they are in its core's cache, and without a parallel pass of its own); else on the channel
/// kernel over the batch padded once, whose position-major rows each run passes through the
/// bias and pointwise function and transposes into `NCHW`.
pub(super) fn run(
    kernel: Kernel,
    x: &[f32],
    [n, c, h, w]: Shape4,
    layout: &Layout,
    fused: Fused,
    phases: &[Phase],
) -> Vec<f32> {
    assert_eq!(x.len(), n * c * h * w, "input length does not match its shape");
    let plane = layout.padded.plane();
    let (outputs, out_plane, opad) = (layout.outputs, layout.out_plane, layout.padded_outputs);
    let len = n * outputs * out_plane;
    fused.check(len);
    if len == 0 {
        return Vec::new();
    }
    // The phases' positions cover each output position exactly once, so every value is written
    // below and the output need not be zeroed first (a memset was ~2 % of a text step).
    let mut writes = vec![0u32; out_plane];
    phases.iter().flat_map(|phase| &phase.template).for_each(|p| writes[p.output] += 1);
    assert!(
        writes.iter().all(|&count| count == 1),
        "the phases do not write each output position once"
    );
    let mut out = Vec::with_capacity(len);
    let shared = SharedOut(out.as_mut_ptr());
    let mut padded_batch: Option<Vec<f32>> = None;
    assert!(
        phases.iter().flat_map(|phase| &phase.template).all(|p| p.output < out_plane),
        "a position writes outside its plane"
    );
    // Each phase's row runs (where it has them), and the multiply-adds one run costs.
    let row_phases: Vec<Option<(RowPhase, usize)>> = phases
        .iter()
        .map(|phase| {
            RowPhase::of(&phase.template, kernel.lanes())
                .map(|rows| (rows, c * phase.taps.len() * outputs * kernel.lanes()))
        })
        .collect();
    // A phase's row-kernel tasks hold whole samples (large batches) or not.
    let whole: Vec<bool> = row_phases
        .iter()
        .map(|rows| {
            rows.as_ref().is_some_and(|(rows, cost)| {
                task_size(n * rows.runs.len(), *cost) >= rows.runs.len()
            })
        })
        .collect();
    // The runs of `samples` in an input whose first sample is `base`.
    let vectors =
        |rows: &RowPhase, samples: std::ops::Range<usize>, base: usize| -> Vec<Position> {
            samples
                .flat_map(|i| {
                    rows.runs.iter().map(move |r| Position {
                        input: (i - base) * c * plane + r.input,
                        output: i * outputs * out_plane + r.output,
                    })
                })
                .collect()
        };
    let by_samples: Vec<(Plan, &RowPhase, usize)> = phases
        .iter()
        .zip(&row_phases)
        .zip(&whole)
        .filter_map(|((phase, rows), &whole)| {
            rows.as_ref().filter(|_| whole).map(|(rows, cost)| {
                (Plan::new(c, plane, &phase.taps, phase.weights, opad), rows, *cost)
            })
        })
        .collect();
    if !by_samples.is_empty() {
        // One parallel pass over groups of samples, each task padding its samples once (while
        // they are in its core's cache) for every phase it runs on them.
        let work: usize = by_samples.iter().map(|(_, rows, cost)| rows.runs.len() * cost).sum();
        let group = task_size(n, work);
        let sample = c * h * w;
        for_each_index(n.div_ceil(group), |k| {
            let (first, end) = (k * group, ((k + 1) * group).min(n));
            let samples = first * sample..end * sample;
            let input = pad(
                &x[samples.clone()],
                [end - first, c, h, w],
                &layout.padded,
                fused.input.slice(samples),
                false,
            );
            for (plan, rows, _) in &by_samples {
                let target =
                    Target { out: &shared, len, outputs, out_plane, step: rows.step, fused };
                kernel.gather_rows(&input, plan, &vectors(rows, first..end, first), &target);
            }
        });
    }

    for ((phase, rows), &whole) in phases.iter().zip(&row_phases).zip(&whole) {
        let per_sample = phase.template.len();
        if per_sample == 0 || whole {
            continue;
        }
        let plan = Plan::new(c, plane, &phase.taps, phase.weights, opad);
        if let Some((rows, cost)) = rows {
            // Tasks smaller than a sample (small batches) share the batch padded once.
            let input = padded_batch
                .get_or_insert_with(|| pad(x, [n, c, h, w], &layout.padded, fused.input, true));
            let vectors = vectors(rows, 0..n, 0);
            let part = task_size(vectors.len(), *cost);
            let target = Target { out: &shared, len, outputs, out_plane, step: rows.step, fused };
            for_each_index(vectors.len().div_ceil(part), |k| {
                kernel.gather_rows(
                    input,
                    &plan,
                    &vectors[k * part..((k + 1) * part).min(vectors.len())],
                    &target,
                )
            });
            continue;
        }
        let input: &[f32] = padded_batch
            .get_or_insert_with(|| pad(x, [n, c, h, w], &layout.padded, fused.input, true));
        let positions: Vec<usize> = (0..n)
            .flat_map(|i| phase.template.iter().map(move |p| i * c * plane + p.input))
            .collect();
        // Whole tiles keep the kernel's registers full. Each run applies the bias and pointwise
        // function to its rows and transposes them into `out` (with residual and gate) while
        // they are in cache, 16 positions at a time (their rows stay in L1 while every channel
        // is written).
        let run_len =
            task_size(positions.len(), c * phase.taps.len() * opad).next_multiple_of(TILE);
        for_each_index(positions.len().div_ceil(run_len), |k| {
            let first = k * run_len;
            let run = &positions[first..(first + run_len).min(positions.len())];
            let mut rows = vec![0.0; run.len() * opad];
            kernel.gather(input, &plan, run, &mut rows);
            rows.chunks_mut(opad).for_each(|row| fused.apply_row(&mut row[..outputs]));
            for (block_index, block) in rows.chunks(16 * opad).enumerate() {
                let mut targets = [0usize; 16];
                for (r, target) in targets.iter_mut().enumerate().take(block.len() / opad) {
                    let (i, j) = (
                        (first + block_index * 16 + r) / per_sample,
                        (first + block_index * 16 + r) % per_sample,
                    );
                    *target = i * outputs * out_plane + phase.template[j].output;
                }
                for oc in 0..outputs {
                    for (row, target) in block.chunks(opad).zip(targets) {
                        // SAFETY: `target + oc · out_plane` lies in `out` (every template
                        // output is inside its plane, checked above), and each position belongs
                        // to one run, so no two runs write the same value.
                        unsafe {
                            *shared.at(target + oc * out_plane) =
                                fused.finish(row[oc], target + oc * out_plane)
                        };
                    }
                }
            }
        });
    }
    // SAFETY: the phases wrote every value of the capacity (asserted above).
    unsafe { out.set_len(len) };
    out
}

/// `x` `[n, c, h, w]` through `map`, each plane placed in zeroed `padded` planes; in parallel
/// over planes when `parallel` and the batch is large.
pub(super) fn pad(
    x: &[f32],
    [n, c, h, w]: Shape4,
    padded: &Padded,
    map: InputMap<&[f32]>,
    parallel: bool,
) -> Vec<f32> {
    if let InputMap::Derivative(_, outputs) = map {
        assert_eq!(outputs.len(), x.len(), "an input map's outputs do not match the input");
    }
    let ([hp, wp], [top, left]) = (padded.size, padded.offset);
    assert!(top + h <= hp && left + w <= wp, "the input does not fit its padded plane");
    let plane = padded.plane();
    let mut input = if parallel { zeroed(n * c * plane) } else { vec![0.0; n * c * plane] };
    let copy_plane = |i: usize, to_plane: &mut [f32]| {
        let columns = padded.split[1];
        let mut row = if padded.split == [1, 1] { Vec::new() } else { vec![0.0; w] };
        for y in 0..h {
            let at = (i * h + y) * w;
            let from = &x[at..][..w];
            if padded.split == [1, 1] {
                // Whole vectors at a time, inline: a `memcpy` call per row cost ~2 % of a text step.
                let to = &mut to_plane[padded.at(top + y, left)..][..w];
                let mut blocks = to.chunks_exact_mut(16);
                blocks.by_ref().zip(from.chunks_exact(16)).for_each(|(t, f)| t.copy_from_slice(f));
                blocks.into_remainder().copy_from_slice(from.chunks_exact(16).remainder());
                map.apply(to, at);
            } else {
                // Through a buffer the map applies to, then every `columns`-th value to each
                // plane of columns (of this row's row phase).
                row.copy_from_slice(from);
                map.apply(&mut row, at);
                for r in 0..columns {
                    let first = (r + columns - left % columns) % columns;
                    let to = &mut to_plane[padded.at(top + y, left + first)..];
                    to.iter_mut()
                        .zip(row.iter().skip(first).step_by(columns))
                        .for_each(|(t, v)| *t = *v);
                }
            }
        }
    };
    if parallel && input.len() >= 1 << 16 {
        for_each_chunk(&mut input, plane, copy_plane);
    } else {
        input.chunks_mut(plane).enumerate().for_each(|(i, padded)| copy_plane(i, padded));
    }
    input
}

//! The kernels' loops, generic over a vector type: a tile of output positions times a block of
//! output channels in registers (`gather`), or runs of whole output rows (`gather_rows`).

use super::layout::{Plan, Position, Target};

/// The row kernel: `NO` output channels × `NXV` runs of positions in registers, each run one
/// vector; writes `NCHW` rows directly.
///
/// # Safety
/// `Kernel::gather_rows`'s checks must hold, and `V`'s instructions must be available.
#[inline(always)]
pub(super) unsafe fn gather_rows<V: Vector, const NO: usize, const NXV: usize>(
    input: &[f32],
    plan: &Plan,
    vectors: &[Position],
    target: &Target,
) {
    let (opad, reads) = (plan.padded_outputs, &plan.reads);
    let x = input.as_ptr();
    // A last block reaching past the padded outputs (the relaxed wasm module's three channels
    // at a time against 32) reads its weights from a zero-padded copy: the packed rows' last one
    // has no successor.
    let mut tail: Vec<f32>;
    for ob in (0..target.outputs).step_by(NO) {
        let (w, stride) = if ob + NO > opad {
            tail = plan
                .weights
                .chunks(opad)
                .flat_map(|row| (ob..ob + NO).map(|o| row.get(o).copied().unwrap_or(0.0)))
                .collect();
            (tail.as_ptr(), NO)
        } else {
            (unsafe { plan.weights.as_ptr().add(ob) }, opad)
        };
        for tile in vectors.chunks(NXV) {
            let mut starts = [0usize; NXV];
            for (j, slot) in starts.iter_mut().enumerate() {
                *slot = tile[j.min(tile.len() - 1)].input;
            }
            let mut acc = [[unsafe { V::zero() }; NXV]; NO];
            for (k, &read) in reads.iter().enumerate() {
                let (xt, wt) = unsafe { (x.add(read), w.add(k * stride)) };
                let mut xv = [unsafe { V::zero() }; NXV];
                for (j, slot) in xv.iter_mut().enumerate() {
                    *slot = unsafe { V::load(xt.add(starts[j])) };
                }
                for (o, row) in acc.iter_mut().enumerate() {
                    let wv = unsafe { V::splat(*wt.add(o)) };
                    for (j, a) in row.iter_mut().enumerate() {
                        *a = unsafe { V::mul_add(xv[j], wv, *a) };
                    }
                }
            }
            let one = unsafe { V::splat(1.0) };
            let fused = target.fused;
            for (o, row) in acc.iter().enumerate().take(target.outputs - ob) {
                let b = unsafe { V::splat(fused.bias.map_or(0.0, |b| b[ob + o])) };
                for (value, run) in row.iter().zip(tile) {
                    let index = run.output + (ob + o) * target.out_plane;
                    let at = target.out.at(index);
                    let mut vector = unsafe { V::mul_add(*value, one, b) };
                    if target.step > 1 {
                        // A transposed convolution's phase: every step-th output, one by one.
                        let mut lanes = [0.0f32; 16];
                        unsafe { vector.store(lanes.as_mut_ptr()) };
                        for (l, lane) in lanes[..V::LANES].iter().enumerate() {
                            let mut value = [*lane];
                            fused.pointwise.apply(&mut value);
                            let index = index + l * target.step;
                            // SAFETY: inside the output (checked by `Kernel::gather_rows`),
                            // and only this run writes it.
                            unsafe { *target.out.at(index) = fused.finish(value[0], index) };
                        }
                        continue;
                    }
                    if let Some(residual) = fused.residual {
                        // SAFETY: `residual` has the output's length (`Fused::check`).
                        vector = unsafe {
                            V::mul_add(V::load(residual.as_ptr().add(index)), one, vector)
                        };
                    }
                    unsafe { vector.store(at) };
                    // SAFETY: the vector just stored, which only this run writes.
                    let stored = unsafe { std::slice::from_raw_parts_mut(at, V::LANES) };
                    fused.pointwise.apply(stored);
                    if let Some(gate) = fused.gate {
                        stored
                            .iter_mut()
                            .zip(&gate[index..index + V::LANES])
                            .for_each(|(v, g)| *v = if *g > 0.0 { *v } else { 0.0 });
                    }
                }
            }
        }
    }
}

/// A vector of `LANES` f32 — the few operations the kernel needs.
pub(super) trait Vector: Copy {
    const LANES: usize;
    unsafe fn zero() -> Self;
    unsafe fn splat(value: f32) -> Self;
    unsafe fn load(from: *const f32) -> Self;
    /// `a · b + c`.
    unsafe fn mul_add(a: Self, b: Self, c: Self) -> Self;
    unsafe fn store(self, to: *mut f32);
}

/// The kernel: `NX` output positions × `NV` vectors of output channels in registers, summing
/// over input channels and taps; each position's row gets `padded_outputs` values.
///
/// # Safety
/// `Kernel::gather`'s checks must hold, and `V`'s instructions must be available.
#[inline(always)]
pub(super) unsafe fn gather<V: Vector, const NV: usize, const NX: usize>(
    input: &[f32],
    plan: &Plan,
    positions: &[usize],
    out: &mut [f32],
) {
    let opad = plan.padded_outputs;
    let (x, w, y) = (input.as_ptr(), plan.weights.as_ptr(), out.as_mut_ptr());
    let reads = &plan.reads;
    for ob in (0..opad).step_by(NV * V::LANES) {
        for (tile_index, tile) in positions.chunks(NX).enumerate() {
            let mut offsets = [0usize; NX];
            for (j, slot) in offsets.iter_mut().enumerate() {
                *slot = tile[j.min(tile.len() - 1)];
            }
            let mut acc = [[unsafe { V::zero() }; NV]; NX];
            for (k, &read) in reads.iter().enumerate() {
                let xt = unsafe { x.add(read) };
                let wt = unsafe { w.add(k * opad + ob) };
                let mut wv = [unsafe { V::zero() }; NV];
                for (v, slot) in wv.iter_mut().enumerate() {
                    *slot = unsafe { V::load(wt.add(v * V::LANES)) };
                }
                for j in 0..NX {
                    let xv = unsafe { V::splat(*xt.add(offsets[j])) };
                    for v in 0..NV {
                        acc[j][v] = unsafe { V::mul_add(xv, wv[v], acc[j][v]) };
                    }
                }
            }
            for (j, row) in acc.iter().enumerate().take(tile.len()) {
                let dst = unsafe { y.add((tile_index * NX + j) * opad + ob) };
                for (v, value) in row.iter().enumerate() {
                    unsafe { value.store(dst.add(v * V::LANES)) };
                }
            }
        }
    }
}

//! Plain arrays of four, for other CPUs (LLVM vectorises them where it can), in tile shapes
//! the wasm modules use (the relaxed-SIMD row kernel's, whose blocks of 3 channels end past 32
//! outputs): the native tests then run the kernels the browser runs.

use super::layout::{Plan, Position, Target};
use super::vector::{self, Vector};

#[derive(Clone, Copy)]
pub(super) struct Lanes4([f32; 4]);

impl Vector for Lanes4 {
    const LANES: usize = 4;
    #[inline(always)]
    unsafe fn zero() -> Self {
        Lanes4([0.0; 4])
    }
    #[inline(always)]
    unsafe fn splat(value: f32) -> Self {
        Lanes4([value; 4])
    }
    #[inline(always)]
    unsafe fn load(from: *const f32) -> Self {
        Lanes4(unsafe { from.cast::<[f32; 4]>().read_unaligned() })
    }
    #[inline(always)]
    unsafe fn mul_add(a: Self, b: Self, c: Self) -> Self {
        Lanes4(std::array::from_fn(|i| a.0[i] * b.0[i] + c.0[i]))
    }
    #[inline(always)]
    unsafe fn store(self, to: *mut f32) {
        unsafe { to.cast::<[f32; 4]>().write_unaligned(self.0) }
    }
}

pub(super) unsafe fn gather(input: &[f32], plan: &Plan, positions: &[usize], out: &mut [f32]) {
    unsafe { vector::gather::<Lanes4, 2, 4>(input, plan, positions, out) }
}

pub(super) unsafe fn rows(input: &[f32], plan: &Plan, vectors: &[Position], target: &Target) {
    unsafe { vector::gather_rows::<Lanes4, 3, 3>(input, plan, vectors, target) }
}

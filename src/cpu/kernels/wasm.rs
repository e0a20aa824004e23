//! wasm SIMD (the browser's CPU modules are built with `simd128`): four lanes. With the
//! `relaxed-simd` feature (the modules for browsers that validate relaxed SIMD) a multiply-add is
//! `f32x4.relaxed_madd`, one fused instruction where the CPU has one (x86 FMA, Arm `fmla`): in
//! Chromium on this machine a CIFAR-10 step took ~20 % less than with a multiply and an add.

use core::arch::wasm32::*;

use super::layout::{Plan, Position, Target};
use super::vector::{self, Vector};

impl Vector for v128 {
    const LANES: usize = 4;
    #[inline(always)]
    unsafe fn zero() -> Self {
        f32x4_splat(0.0)
    }
    #[inline(always)]
    unsafe fn splat(value: f32) -> Self {
        f32x4_splat(value)
    }
    #[inline(always)]
    unsafe fn load(from: *const f32) -> Self {
        unsafe { v128_load(from.cast()) }
    }
    #[inline(always)]
    unsafe fn mul_add(a: Self, b: Self, c: Self) -> Self {
        #[cfg(feature = "relaxed-simd")]
        return f32x4_relaxed_madd(a, b, c);
        #[cfg(not(feature = "relaxed-simd"))]
        return f32x4_add(f32x4_mul(a, b), c);
    }
    #[inline(always)]
    unsafe fn store(self, to: *mut f32) {
        unsafe { v128_store(to.cast(), self) }
    }
}

// Tiles sized for V8 on x86, which leaves 15 vector registers for the accumulators, the
// weights, the inputs and (without a fused multiply-add) the product: measured in Chromium,
// 4 positions × 2 vectors beat 6 × 2 (which spills) by ~8 %. The row kernel's 3 channels ×
// 3 runs was best with `relaxed_madd`; with a multiply and an add it spills an accumulator
// on every tap, and 4 channels × 2 runs made a CIFAR-10 step 2–4 % faster in V8 (no change
// measured in JavaScriptCore, Safari's engine, which runs this module).
#[cfg_attr(feature = "relaxed-simd", target_feature(enable = "relaxed-simd"))]
pub(super) unsafe fn gather(input: &[f32], plan: &Plan, positions: &[usize], out: &mut [f32]) {
    unsafe { vector::gather::<v128, 2, 4>(input, plan, positions, out) }
}

#[cfg(feature = "relaxed-simd")]
#[target_feature(enable = "relaxed-simd")]
pub(super) unsafe fn rows(input: &[f32], plan: &Plan, vectors: &[Position], target: &Target) {
    unsafe { vector::gather_rows::<v128, 3, 3>(input, plan, vectors, target) }
}

#[cfg(not(feature = "relaxed-simd"))]
pub(super) unsafe fn rows(input: &[f32], plan: &Plan, vectors: &[Position], target: &Target) {
    unsafe { vector::gather_rows::<v128, 4, 2>(input, plan, vectors, target) }
}

//! AVX-512 and AVX2 + FMA kernels (x86_64), run where `kernel` found the instructions.

use std::arch::x86_64::*;

use super::layout::{Plan, Position, Target};
use super::vector::{Vector, gather, gather_rows};

impl Vector for __m512 {
    const LANES: usize = 16;
    #[inline(always)]
    unsafe fn zero() -> Self {
        unsafe { _mm512_setzero_ps() }
    }
    #[inline(always)]
    unsafe fn splat(value: f32) -> Self {
        unsafe { _mm512_set1_ps(value) }
    }
    #[inline(always)]
    unsafe fn load(from: *const f32) -> Self {
        unsafe { _mm512_loadu_ps(from) }
    }
    #[inline(always)]
    unsafe fn mul_add(a: Self, b: Self, c: Self) -> Self {
        unsafe { _mm512_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    unsafe fn store(self, to: *mut f32) {
        unsafe { _mm512_storeu_ps(to, self) }
    }
}

impl Vector for __m256 {
    const LANES: usize = 8;
    #[inline(always)]
    unsafe fn zero() -> Self {
        unsafe { _mm256_setzero_ps() }
    }
    #[inline(always)]
    unsafe fn splat(value: f32) -> Self {
        unsafe { _mm256_set1_ps(value) }
    }
    #[inline(always)]
    unsafe fn load(from: *const f32) -> Self {
        unsafe { _mm256_loadu_ps(from) }
    }
    #[inline(always)]
    unsafe fn mul_add(a: Self, b: Self, c: Self) -> Self {
        unsafe { _mm256_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    unsafe fn store(self, to: *mut f32) {
        unsafe { _mm256_storeu_ps(to, self) }
    }
}

/// 6 positions × 64 channels: 24 of the 32 vector registers accumulate, and each step
/// loads 4 weight vectors and 6 inputs for 24 multiply-adds (`wide`: 2 and 8 for 16).
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn gather_avx512_widest(
    input: &[f32],
    plan: &Plan,
    positions: &[usize],
    out: &mut [f32],
) {
    unsafe { gather::<__m512, 4, 6>(input, plan, positions, out) }
}

/// 8 positions × 32 channels: 16 of the 32 vector registers accumulate.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn gather_avx512_wide(
    input: &[f32],
    plan: &Plan,
    positions: &[usize],
    out: &mut [f32],
) {
    unsafe { gather::<__m512, 2, 8>(input, plan, positions, out) }
}

/// 24 positions × 16 channels, for layers with few outputs.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn gather_avx512_narrow(
    input: &[f32],
    plan: &Plan,
    positions: &[usize],
    out: &mut [f32],
) {
    unsafe { gather::<__m512, 1, 24>(input, plan, positions, out) }
}

/// 8 channels × 3 runs of 16 positions: 24 accumulators.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn rows_avx512_wide(
    input: &[f32],
    plan: &Plan,
    vectors: &[Position],
    target: &Target,
) {
    unsafe { gather_rows::<__m512, 8, 3>(input, plan, vectors, target) }
}

/// 4 channels × 6 runs, for layers with at most four outputs (RGB out).
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn rows_avx512_narrow(
    input: &[f32],
    plan: &Plan,
    vectors: &[Position],
    target: &Target,
) {
    unsafe { gather_rows::<__m512, 4, 6>(input, plan, vectors, target) }
}

/// 4 channels × 3 runs of 8 positions: 12 accumulators.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn rows_avx2(input: &[f32], plan: &Plan, vectors: &[Position], target: &Target) {
    unsafe { gather_rows::<__m256, 4, 3>(input, plan, vectors, target) }
}

/// 6 positions × 2 vectors: 12 of the 16 vector registers accumulate.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn gather_avx2(input: &[f32], plan: &Plan, positions: &[usize], out: &mut [f32]) {
    unsafe { gather::<__m256, 2, 6>(input, plan, positions, out) }
}

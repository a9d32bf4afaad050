//! AVX-512F building blocks shared by the f32 and bf16 kernels: loads and stores, `exp`,
//! exact GELU, QuickGELU and f32 → bf16 rounding on 16 lanes.
//!
//! Loads and stores go through the masked forms (`vmovups` with an all-ones mask, which
//! the compiler emits as plain `vmovups`): `_mm512_loadu_ps`/`_mm512_storeu_ps` are
//! `ptr::read_unaligned`/`write_unaligned`, whose overlap check in builds with debug
//! assertions (the dev profile) routed every register through the stack and ran the
//! micro-kernels at under half speed.
//!
//! Every function here needs AVX-512F (the callers check [`crate::isa`] first).

use std::arch::x86_64::*;

/// Load 16 f32 from `p` (unaligned).
///
/// # Safety
/// AVX-512F; `p` valid for 16 reads.
#[inline(always)]
pub unsafe fn ld(p: *const f32) -> __m512 {
    // SAFETY: the caller's contract.
    unsafe { _mm512_maskz_loadu_ps(0xFFFF, p) }
}

/// Store 16 f32 at `p` (unaligned).
///
/// # Safety
/// AVX-512F; `p` valid for 16 writes.
#[inline(always)]
pub unsafe fn st(p: *mut f32, v: __m512) {
    // SAFETY: the caller's contract.
    unsafe { _mm512_mask_storeu_ps(p, 0xFFFF, v) }
}

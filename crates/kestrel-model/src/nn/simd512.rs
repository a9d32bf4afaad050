//! AVX-512F building blocks shared by the f32 and bf16 kernels: loads and stores, `exp`,
//! exact GELU, QuickGELU and f32 → bf16 rounding on 16 lanes.
//!
//! Loads and stores go through the masked forms (`vmovups` with an all-ones mask, which
//! the compiler emits as plain `vmovups`): `_mm512_loadu_ps`/`_mm512_storeu_ps` are
//! `ptr::read_unaligned`/`write_unaligned`, whose overlap check in builds with debug
//! assertions (the dev profile) routed every register through the stack and ran the
//! micro-kernels at under half speed.
//!
//! Every function here needs AVX-512F (the callers check [`crate::nn::isa`] first).

use std::arch::x86_64::*;

use super::kernels::{ERFC_POLY, EXP_MAX, EXP_MIN, EXP_POLY, LN2_HI, LN2_LO};

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

/// Load the first `n` (< 16) f32 from `p`, the other lanes `fill`.
///
/// # Safety
/// AVX-512F; `p` valid for `n` reads.
#[inline(always)]
pub unsafe fn ld_tail(p: *const f32, n: usize, fill: f32) -> __m512 {
    // SAFETY: the caller's contract; masked-off lanes are not read.
    unsafe { _mm512_mask_loadu_ps(_mm512_set1_ps(fill), tail_mask(n), p) }
}

/// Store the first `n` (< 16) lanes of `v` at `p`.
///
/// # Safety
/// AVX-512F; `p` valid for `n` writes.
#[inline(always)]
pub unsafe fn st_tail(p: *mut f32, n: usize, v: __m512) {
    // SAFETY: the caller's contract; masked-off lanes are not written.
    unsafe { _mm512_mask_storeu_ps(p, tail_mask(n), v) }
}

#[inline(always)]
fn tail_mask(n: usize) -> __mmask16 {
    ((1u32 << n.min(16)) - 1) as __mmask16
}

/// `e^x` on 16 lanes: the same Cephes polynomial and steps as [`crate::nn::kernels::exp_f32`]
/// with fused multiply-adds (the AVX2 build's results, lane for lane).
///
/// # Safety
/// AVX-512F.
#[inline(always)]
pub unsafe fn exp(x: __m512) -> __m512 {
    // SAFETY: register-only AVX-512F operations (the caller's contract).
    unsafe {
        let s = _mm512_set1_ps;
        let x = _mm512_max_ps(_mm512_min_ps(x, s(EXP_MAX)), s(EXP_MIN));
        let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC }>(
            _mm512_fmadd_ps(x, s(std::f32::consts::LOG2_E), s(0.5)),
        );
        let r = _mm512_fnmadd_ps(n, s(LN2_LO), _mm512_fnmadd_ps(n, s(LN2_HI), x));
        let z = _mm512_mul_ps(r, r);
        let mut p = s(EXP_POLY[0]);
        for &c in &EXP_POLY[1..] {
            p = _mm512_fmadd_ps(p, r, s(c));
        }
        let y = _mm512_add_ps(_mm512_fmadd_ps(p, z, r), s(1.0));
        let n_bits = _mm512_sub_epi32(
            _mm512_castps_si512(_mm512_add_ps(n, s(12_582_912.0))),
            _mm512_set1_epi32(0x4B40_0000),
        );
        let scale = _mm512_castsi512_ps(_mm512_slli_epi32::<23>(_mm512_add_epi32(
            n_bits,
            _mm512_set1_epi32(127),
        )));
        _mm512_mul_ps(y, scale)
    }
}

/// Exact (erf) GELU on 16 lanes, the algorithm of [`crate::nn::kernels::gelu_erf`].
///
/// # Safety
/// AVX-512F.
#[inline(always)]
pub unsafe fn gelu_erf(x: __m512) -> __m512 {
    // SAFETY: register-only AVX-512F operations (the caller's contract).
    unsafe {
        let s = _mm512_set1_ps;
        let z = _mm512_mul_ps(_mm512_abs_ps(x), s(std::f32::consts::FRAC_1_SQRT_2));
        let t = _mm512_div_ps(s(1.0), _mm512_fmadd_ps(s(0.5), z, s(1.0)));
        let mut poly = s(ERFC_POLY[0]);
        for &c in &ERFC_POLY[1..] {
            poly = _mm512_fmadd_ps(poly, t, s(c));
        }
        let e = _mm512_mul_ps(t, exp(_mm512_fnmadd_ps(z, z, poly)));
        let h = _mm512_mul_ps(_mm512_mul_ps(s(0.5), x), e);
        let nonneg = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(x, _mm512_setzero_ps());
        _mm512_mask_blend_ps(nonneg, h, _mm512_sub_ps(x, h))
    }
}

/// QuickGELU `x·σ(1.702x)` on 16 lanes.
///
/// # Safety
/// AVX-512F.
#[inline(always)]
pub unsafe fn quick_gelu(x: __m512) -> __m512 {
    // SAFETY: register-only AVX-512F operations (the caller's contract).
    unsafe {
        let e = exp(_mm512_mul_ps(_mm512_set1_ps(-1.702), x));
        _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0), e))
    }
}

/// 16 f32 rounded to bf16 (nearest, ties to even; NaN stays a quiet NaN), bit for bit
/// [`crate::nn::matmul_bf16::to_bf16`] (no flush of denormals, unlike `vcvtneps2bf16`).
///
/// # Safety
/// AVX-512F.
#[inline(always)]
pub unsafe fn to_bf16(x: __m512) -> __m256i {
    // SAFETY: register-only AVX-512F operations (the caller's contract).
    unsafe {
        let b = _mm512_castps_si512(x);
        let lsb = _mm512_and_si512(_mm512_srli_epi32::<16>(b), _mm512_set1_epi32(1));
        let rounded = _mm512_srli_epi32::<16>(_mm512_add_epi32(
            _mm512_add_epi32(b, _mm512_set1_epi32(0x7FFF)),
            lsb,
        ));
        let nan = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(x, x);
        let quiet = _mm512_or_si512(_mm512_srli_epi32::<16>(b), _mm512_set1_epi32(0x40));
        _mm512_cvtepi32_epi16(_mm512_mask_blend_epi32(nan, rounded, quiet))
    }
}

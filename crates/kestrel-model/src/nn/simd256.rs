//! AVX2+FMA building blocks for the element-wise f32 kernels: `exp`, exact GELU and
//! QuickGELU on 8 lanes, the lane-for-lane twins of [`super::simd512`] and of the scalar
//! FMA builds in [`super::kernels`] (same polynomials, same fused steps, so every ISA gives
//! the same bits).
//!
//! The scalar loops the AVX2 build had relied on did not vectorise (the erf's select and
//! the 2^n bit trick stayed scalar): exact GELU took 12 % of the full ViT-B/16's time on
//! the AVX2 kernels against 2 % with AVX-512F.
//!
//! Every function here needs AVX2 and FMA (the callers check [`crate::nn::isa`] first).

use std::arch::x86_64::*;

use super::kernels::{ERFC_POLY, EXP_MAX, EXP_MIN, EXP_POLY, LN2_HI, LN2_LO};

/// Load 8 f32 from `p` (unaligned) with a plain `vmovups`: `_mm256_loadu_ps` is
/// `ptr::read_unaligned`, whose overlap check in builds with debug assertions (the dev
/// profile) routed every register through the stack.
///
/// # Safety
/// AVX; `p` valid for 8 reads.
#[inline]
#[target_feature(enable = "avx")]
pub unsafe fn ld8(p: *const f32) -> __m256 {
    let v;
    // SAFETY: the caller's contract; the asm only reads 32 bytes at `p`.
    unsafe {
        std::arch::asm!(
            "vmovups {v}, [{p}]",
            v = out(ymm_reg) v,
            p = in(reg) p,
            options(pure, readonly, nostack, preserves_flags)
        )
    };
    v
}

/// Store 8 f32 at `p` (unaligned), as [`ld8`].
///
/// # Safety
/// AVX; `p` valid for 8 writes.
#[inline]
#[target_feature(enable = "avx")]
pub unsafe fn st8(p: *mut f32, v: __m256) {
    // SAFETY: the caller's contract; the asm only writes 32 bytes at `p`.
    unsafe {
        std::arch::asm!(
            "vmovups [{p}], {v}",
            v = in(ymm_reg) v,
            p = in(reg) p,
            options(nostack, preserves_flags)
        )
    };
}

/// `e^x` on 8 lanes: the Cephes polynomial and steps of the scalar FMA `exp`.
///
/// # Safety
/// AVX2 and FMA.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub unsafe fn exp(x: __m256) -> __m256 {
    let s = _mm256_set1_ps;
    let x = _mm256_max_ps(_mm256_min_ps(x, s(EXP_MAX)), s(EXP_MIN));
    let n = _mm256_floor_ps(_mm256_fmadd_ps(x, s(std::f32::consts::LOG2_E), s(0.5)));
    let r = _mm256_fnmadd_ps(n, s(LN2_LO), _mm256_fnmadd_ps(n, s(LN2_HI), x));
    let z = _mm256_mul_ps(r, r);
    let mut p = s(EXP_POLY[0]);
    for &c in &EXP_POLY[1..] {
        p = _mm256_fmadd_ps(p, r, s(c));
    }
    let y = _mm256_add_ps(_mm256_fmadd_ps(p, z, r), s(1.0));
    let n_bits = _mm256_sub_epi32(
        _mm256_castps_si256(_mm256_add_ps(n, s(12_582_912.0))),
        _mm256_set1_epi32(0x4B40_0000),
    );
    let scale = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(
        n_bits,
        _mm256_set1_epi32(127),
    )));
    _mm256_mul_ps(y, scale)
}

/// Exact (erf) GELU on 8 lanes, the algorithm of [`crate::nn::kernels::gelu_erf`].
///
/// # Safety
/// AVX2 and FMA.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub unsafe fn gelu_erf(x: __m256) -> __m256 {
    let s = _mm256_set1_ps;
    let abs = _mm256_andnot_ps(s(-0.0), x);
    let z = _mm256_mul_ps(abs, s(std::f32::consts::FRAC_1_SQRT_2));
    let t = _mm256_div_ps(s(1.0), _mm256_fmadd_ps(s(0.5), z, s(1.0)));
    let mut poly = s(ERFC_POLY[0]);
    for &c in &ERFC_POLY[1..] {
        poly = _mm256_fmadd_ps(poly, t, s(c));
    }
    // SAFETY: AVX2 and FMA (this function's contract).
    let e = _mm256_mul_ps(t, unsafe { exp(_mm256_fnmadd_ps(z, z, poly)) });
    let h = _mm256_mul_ps(_mm256_mul_ps(s(0.5), x), e);
    // x ≥ 0: x − h; x < 0 (and NaN, as the scalar `if x >= 0.0`): h
    let nonneg = _mm256_cmp_ps::<_CMP_GE_OQ>(x, _mm256_setzero_ps());
    _mm256_blendv_ps(h, _mm256_sub_ps(x, h), nonneg)
}

/// QuickGELU `x·σ(1.702x)` on 8 lanes.
///
/// # Safety
/// AVX2 and FMA.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub unsafe fn quick_gelu(x: __m256) -> __m256 {
    // SAFETY: AVX2 and FMA (this function's contract).
    let e = unsafe { exp(_mm256_mul_ps(_mm256_set1_ps(-1.702), x)) };
    _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0), e))
}

//! CPU f32 kernels for the fast inference path, on plain slices.
//!
//! candle's CPU backend runs each element-wise op as its own single-threaded pass and
//! computes exact GELU with scalar `libm::erff`; on a 2-core machine that costs as much as
//! the matrix products. These kernels fuse what the transformer needs:
//! - [`linear`]: `act(residual + bias + x·Wᵀ)` — the bias and the residual are written into
//!   the output first and the product is accumulated onto them by `gemm`, the activation is
//!   applied in parallel chunks; few-row inputs (a text query) take a weight-streaming path;
//! - [`attention`]: multi-head attention read straight from the fused `[q|k|v]` projection
//!   (no head permutes), one (image, head) pair per task, optional causal mask;
//! - [`layer_norm`], [`softmax_in_place`], and an erf accurate to ~1e-7 that vectorises
//!   (used by exact GELU).
//!
//! Threads: everything runs on the global rayon pool (the one candle's own matmul uses).
//! Element-wise loops are compiled twice, plain and with AVX2+FMA, and picked at run time;
//! the matrix products dispatch on [`detected`] (AVX-512F, AVX2+FMA or portable for f32,
//! AMX-BF16 or AVX512-BF16 for bf16).

use rayon::prelude::*;

use crate::load::config::Activation;
pub use crate::nn::isa::{CpuKernels, detected};
use crate::nn::matmul::{self, PackedWeights};
use crate::nn::matmul_bf16::{self, PackedBf16};

/// Up to this many rows, [`linear`] streams the weights once with dot products instead of
/// calling `gemm` (which packs the whole weight matrix for every call).
pub const SKINNY_MAX_ROWS: usize = 16;

/// Defines `$name` that runs `$body` compiled for AVX2+FMA when the CPU has it.
macro_rules! simd_fn {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$m])* $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            #[allow(clippy::extra_unused_type_parameters)]
            fn inner<M: Madd>($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                fn avx2($($arg: $ty),*) $(-> $ret)? { inner::<Fused>($($arg),*) }
                if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                    // SAFETY: the running CPU supports the features `avx2` is compiled for.
                    return unsafe { avx2($($arg),*) };
                }
            }
            inner::<Plain>($($arg),*)
        }
    };
}

/// `a·b + c`: fused in the AVX2+FMA builds of the kernels (shorter dependency chains),
/// separate elsewhere (a software `fma` would be far slower than two instructions).
pub trait Madd {
    fn madd(a: f32, b: f32, c: f32) -> f32;
}

/// Hardware fused multiply-add.
pub struct Fused;
impl Madd for Fused {
    #[inline(always)]
    fn madd(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
}

/// Separate multiply and add.
pub struct Plain;
impl Madd for Plain {
    #[inline(always)]
    fn madd(a: f32, b: f32, c: f32) -> f32 {
        a * b + c
    }
}

/// `exp`'s input range: below, about 1e-38 instead of a denormal; above, f32's largest.
pub(crate) const EXP_MIN: f32 = -87.3;
pub(crate) const EXP_MAX: f32 = 88.3;
/// ln 2 in two parts for `exp`'s range reduction (Cephes).
pub(crate) const LN2_HI: f32 = 0.693_359_4;
pub(crate) const LN2_LO: f32 = -2.121_944_4e-4;
/// Cephes `expf` polynomial in the reduced argument, highest degree first: the scalar,
/// AVX2 and AVX-512 `exp` all step through it, so they give the same bits.
#[allow(clippy::excessive_precision)] // coefficients as published
pub(crate) const EXP_POLY: [f32; 6] = [
    1.987_569_1e-4,
    1.398_199_9e-3,
    8.333_452e-3,
    4.166_579_6e-2,
    1.666_666_5e-1,
    5.000_000_1e-1,
];
/// Numerical Recipes `erfcc` polynomial in `t = 1/(1 + z/2)`, highest degree first (shared
/// as [`EXP_POLY`] is).
#[allow(clippy::excessive_precision)] // coefficients as published
pub(crate) const ERFC_POLY: [f32; 10] = [
    0.170_872_77,
    -0.822_152_23,
    1.488_515_87,
    -1.135_203_98,
    0.278_868_07,
    -0.186_288_06,
    0.096_784_18,
    0.374_091_96,
    1.000_023_7,
    -1.265_512_2,
];

/// `e^x` for f32, branch-free so that it vectorises (Cephes `expf` polynomial, about 1 ulp).
/// Inputs below −87.3 give about 1e-38 instead of a denormal or 0.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    exp_with::<Plain>(x)
}

#[inline(always)]
fn exp_with<M: Madd>(x: f32) -> f32 {
    let x = x.clamp(EXP_MIN, EXP_MAX);
    let n = M::madd(x, std::f32::consts::LOG2_E, 0.5).floor();
    let r = M::madd(-n, LN2_LO, M::madd(-n, LN2_HI, x));
    let z = r * r;
    let mut p = EXP_POLY[0];
    for &c in &EXP_POLY[1..] {
        p = M::madd(p, r, c);
    }
    let y = M::madd(p, z, r) + 1.0;
    // 2^n without a float→int conversion (which does not vectorise well): adding 1.5·2^23
    // puts the integer n in the low mantissa bits.
    let n_bits = (n + 12_582_912.0).to_bits() as i32 - 0x4B40_0000;
    let scale = f32::from_bits(((n_bits + 127) as u32) << 23);
    y * scale
}

/// Complementary error function for `z >= 0` (Numerical Recipes `erfcc`: fractional error
/// below 1.2e-7), branch-free.
#[inline(always)]
fn erfc_nonneg<M: Madd>(z: f32) -> f32 {
    let t = 1.0 / M::madd(0.5, z, 1.0);
    let mut poly = ERFC_POLY[0];
    for &c in &ERFC_POLY[1..] {
        poly = M::madd(poly, t, c);
    }
    t * exp_with::<M>(M::madd(-z, z, poly))
}

/// Exact (erf) GELU of one value.
#[inline(always)]
pub fn gelu_erf(x: f32) -> f32 {
    gelu_erf_with::<Plain>(x)
}

#[inline(always)]
fn gelu_erf_with<M: Madd>(x: f32) -> f32 {
    let e = erfc_nonneg::<M>(x.abs() * std::f32::consts::FRAC_1_SQRT_2);
    let h = 0.5 * x * e;
    // x ≥ 0: 0.5·x·(2 − erfc) = x − h;  x < 0: 0.5·x·erfc(|x|/√2) = h.
    if x >= 0.0 { x - h } else { h }
}

/// QuickGELU of one value, `x·σ(1.702x)`.
#[inline(always)]
pub fn quick_gelu(x: f32) -> f32 {
    quick_gelu_with::<Plain>(x)
}

#[inline(always)]
fn quick_gelu_with<M: Madd>(x: f32) -> f32 {
    x / (1.0 + exp_with::<M>(-1.702 * x))
}

simd_fn! {
    fn apply_activation_chunk(xs: &mut [f32], act: Activation) {
        // Plain loops: iterator adapters with closures may stay out of line, compiled
        // without the AVX2 features of this function.
        match act {
            Activation::Gelu => {
                for x in xs.iter_mut() {
                    *x = gelu_erf_with::<M>(*x);
                }
            }
            Activation::QuickGelu => {
                for x in xs.iter_mut() {
                    *x = quick_gelu_with::<M>(*x);
                }
            }
        }
    }
}

/// Apply `act` to every element, in parallel.
pub fn activation_in_place(xs: &mut [f32], act: Activation) {
    xs.par_chunks_mut(16 * 1024)
        .for_each(|c| activation_chunk(c, act));
}

/// Whether the element-wise kernels use AVX-512F (the f32 kernel choice, so that
/// `KESTREL_CPU_KERNELS=avx2` tests the AVX2 builds on an AVX-512 machine).
#[cfg(target_arch = "x86_64")]
#[inline]
fn use_avx512() -> bool {
    detected().f32 >= crate::nn::isa::F32Isa::Avx512f
}

/// Whether the element-wise kernels use AVX2+FMA vectors (the f32 kernel choice, as
/// [`use_avx512`]).
#[cfg(target_arch = "x86_64")]
#[inline]
fn use_avx2() -> bool {
    detected().f32 >= crate::nn::isa::F32Isa::Avx2Fma
}

/// `act` on every element of one chunk, with AVX-512F or AVX2+FMA vectors where the
/// process uses them (the same bits as the scalar FMA build).
pub fn activation_chunk(xs: &mut [f32], act: Activation) {
    #[cfg(target_arch = "x86_64")]
    if use_avx512() {
        // SAFETY: AVX-512F was detected.
        return unsafe { avx512::activation(xs, act) };
    }
    #[cfg(target_arch = "x86_64")]
    if use_avx2() {
        // SAFETY: AVX2 and FMA were detected.
        return unsafe { avx2::activation(xs, act) };
    }
    apply_activation_chunk(xs, act)
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::super::simd256::{self as v, ld8, st8};
    use super::Activation;
    use std::arch::x86_64::__m256;

    /// # Safety
    /// AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn activation(xs: &mut [f32], act: Activation) {
        let body = xs.len() / 8 * 8;
        let (head, tail) = xs.split_at_mut(body);
        let p = head.as_mut_ptr();
        let f: unsafe fn(__m256) -> __m256 = match act {
            Activation::Gelu => v::gelu_erf,
            Activation::QuickGelu => v::quick_gelu,
        };
        let mut i = 0;
        // SAFETY: `i + 8 <= body`, inside `head`; AVX2 and FMA (this function's contract).
        while i < body {
            unsafe { st8(p.add(i), f(ld8(p.add(i)))) };
            i += 8;
        }
        // the last < 8 values in the scalar FMA build, which gives the same bits
        super::apply_activation_chunk(tail, act);
    }
}

/// The element-wise kernels on 16 lanes ([`crate::nn::simd512`]).
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::super::simd512::{self as v, ld, ld_tail, st, st_tail};
    use super::Activation;
    use std::arch::x86_64::*;

    /// # Safety
    /// AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn activation(xs: &mut [f32], act: Activation) {
        let f = match act {
            Activation::Gelu => |x| {
                // SAFETY: AVX-512F (this function's contract).
                unsafe { v::gelu_erf(x) }
            },
            Activation::QuickGelu => |x| {
                // SAFETY: as above.
                unsafe { v::quick_gelu(x) }
            },
        };
        map_in_place(xs, f);
    }

    #[inline(always)]
    fn map_in_place(xs: &mut [f32], f: impl Fn(__m512) -> __m512) {
        let n = xs.len();
        let p = xs.as_mut_ptr();
        let mut i = 0;
        // SAFETY (loads and stores): `i + 16 <= n`, the tail masked to `n - i` lanes.
        while i + 16 <= n {
            unsafe { st(p.add(i), f(ld(p.add(i)))) };
            i += 16;
        }
        if i < n {
            unsafe { st_tail(p.add(i), n - i, f(ld_tail(p.add(i), n - i, 0.0))) };
        }
    }

    /// Softmax of `scale · row[..valid]` in place, zeros from `valid` on.
    ///
    /// # Safety
    /// AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn softmax(row: &mut [f32], valid: usize, scale: f32) {
        let valid = valid.min(row.len());
        let (live, masked) = row.split_at_mut(valid);
        masked.fill(0.0);
        let n = live.len();
        let p = live.as_mut_ptr();
        let body = n / 16 * 16;
        let rest = n - body;
        // SAFETY (whole body): loads and stores stay inside `live` (`body` full vectors, then
        // `rest` masked lanes).
        unsafe {
            let mut m = _mm512_set1_ps(f32::NEG_INFINITY);
            let mut i = 0;
            while i < body {
                m = _mm512_max_ps(m, ld(p.add(i)));
                i += 16;
            }
            if rest > 0 {
                m = _mm512_max_ps(m, ld_tail(p.add(body), rest, f32::NEG_INFINITY));
            }
            let max = _mm512_set1_ps(_mm512_reduce_max_ps(m));
            let sc = _mm512_set1_ps(scale);
            let mut acc = _mm512_setzero_ps();
            let mut i = 0;
            while i < body {
                let e = v::exp(_mm512_mul_ps(_mm512_sub_ps(ld(p.add(i)), max), sc));
                st(p.add(i), e);
                acc = _mm512_add_ps(acc, e);
                i += 16;
            }
            if rest > 0 {
                let e = v::exp(_mm512_mul_ps(
                    _mm512_sub_ps(ld_tail(p.add(body), rest, 0.0), max),
                    sc,
                ));
                st_tail(p.add(body), rest, e);
                let live =
                    _mm512_mask_mov_ps(_mm512_setzero_ps(), ((1u32 << rest) - 1) as __mmask16, e);
                acc = _mm512_add_ps(acc, live);
            }
            let inv = _mm512_set1_ps(1.0 / _mm512_reduce_add_ps(acc));
            map_in_place(live, |x| _mm512_mul_ps(x, inv));
        }
    }
}

simd_fn! {
    /// Dot product with 16 independent accumulators (vectorises to two AVX registers).
    fn dot(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (a, b) = (&a[..n], &b[..n]);
        let mut acc = [0f32; 16];
        let body = n / 16 * 16;
        for (ca, cb) in a[..body].chunks_exact(16).zip(b[..body].chunks_exact(16)) {
            for i in 0..16 {
                acc[i] += ca[i] * cb[i];
            }
        }
        let mut tail = 0f32;
        for i in body..n {
            tail += a[i] * b[i];
        }
        for w in [8, 4, 2, 1] {
            for i in 0..w {
                acc[i] += acc[i + w];
            }
        }
        acc[0] + tail
    }
}

simd_fn! {
    /// `out[r][j] += x[r]·w[j0 + j]` for a block of weight rows; `x` holds `rows` rows of `k`.
    fn skinny_block(x: &[f32], rows: usize, k: usize, w_block: &[f32], out: &mut [f32], n: usize, j0: usize) {
        for (jj, wrow) in w_block.chunks_exact(k).enumerate() {
            for r in 0..rows {
                out[r * n + j0 + jj] += dot(&x[r * k..(r + 1) * k], wrow);
            }
        }
    }
}

/// A weight matrix for [`linear`]: torch layout `[n, k]`, packed for the AVX2/AVX-512
/// kernel, or rounded to bf16 and packed for the bf16 kernel.
#[derive(Clone, Copy)]
pub enum WeightRef<'a> {
    Raw(&'a [f32]),
    Packed(&'a PackedWeights),
    Bf16(&'a PackedBf16),
}

/// `act(residual + bias + x·Wᵀ)` for row-major `x` `[rows, k]` and `w` with `n` outputs.
#[allow(clippy::too_many_arguments)]
pub fn linear(
    x: &[f32],
    rows: usize,
    k: usize,
    w: WeightRef,
    n: usize,
    bias: Option<&[f32]>,
    residual: Option<&[f32]>,
    act: Option<Activation>,
) -> Vec<f32> {
    debug_assert_eq!(x.len(), rows * k);
    let mut out = match residual {
        Some(r) => r.to_vec(),
        None => vec![0f32; rows * n],
    };
    if let Some(b) = bias {
        out.par_chunks_mut(n).for_each(|row| {
            row.iter_mut().zip(b).for_each(|(o, b)| *o += b);
        });
    }
    if rows == 0 || n == 0 {
        return out;
    }
    match w {
        WeightRef::Packed(p) => matmul::matmul_acc(x, rows, p, &mut out),
        WeightRef::Bf16(p) => matmul_bf16::matmul_acc(x, rows, p, &mut out),
        WeightRef::Raw(w) if rows <= SKINNY_MAX_ROWS => {
            skinny_matmul_acc(x, rows, k, w, n, &mut out)
        }
        WeightRef::Raw(w) => {
            debug_assert_eq!(w.len(), n * k);
            // SAFETY: `out` is [rows, n], `x` is [rows, k] and `w` is [n, k], all row-major
            // and live for the call; the strides below stay inside them.
            unsafe {
                gemm::gemm(
                    rows,
                    n,
                    k,
                    out.as_mut_ptr(),
                    1,
                    n as isize,
                    true,
                    x.as_ptr(),
                    1,
                    k as isize,
                    w.as_ptr(),
                    k as isize,
                    1,
                    1.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::Rayon(rayon::current_num_threads()),
                );
            }
        }
    }
    if let Some(act) = act {
        activation_in_place(&mut out, act);
    }
    out
}

/// `out += x·Wᵀ` for few rows: the weight matrix is read once, split across threads by
/// output column blocks.
fn skinny_matmul_acc(x: &[f32], rows: usize, k: usize, w: &[f32], n: usize, out: &mut [f32]) {
    const BLOCK: usize = 64;
    let blocks: Vec<(usize, Vec<f32>)> = w
        .par_chunks(BLOCK * k)
        .enumerate()
        .map(|(bi, w_block)| {
            let cols = w_block.len() / k;
            let mut local = vec![0f32; rows * cols];
            skinny_block(x, rows, k, w_block, &mut local, cols, 0);
            (bi * BLOCK, local)
        })
        .collect();
    for (j0, local) in blocks {
        let cols = local.len() / rows.max(1);
        for r in 0..rows {
            let dst = &mut out[r * n + j0..r * n + j0 + cols];
            dst.iter_mut()
                .zip(&local[r * cols..(r + 1) * cols])
                .for_each(|(o, v)| *o += v);
        }
    }
}

simd_fn! {
    fn layer_norm_row(src: &[f32], dst: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
        let n = src.len() as f32;
        let mut acc = [0f32; 16];
        let body = src.len() / 16 * 16;
        for c in src[..body].chunks_exact(16) {
            for i in 0..16 {
                acc[i] += c[i];
            }
        }
        let mut sum = 0f32;
        for v in &src[body..] {
            sum += v;
        }
        for v in acc {
            sum += v;
        }
        let mean = sum / n;
        let mut acc = [0f32; 16];
        for c in src[..body].chunks_exact(16) {
            for i in 0..16 {
                let d = c[i] - mean;
                acc[i] += d * d;
            }
        }
        let mut var = 0f32;
        for v in &src[body..] {
            var += (v - mean) * (v - mean);
        }
        for v in acc {
            var += v;
        }
        let rstd = 1.0 / (var / n + eps).sqrt();
        let n = dst.len().min(src.len()).min(gamma.len()).min(beta.len());
        for i in 0..n {
            dst[i] = (src[i] - mean) * rstd * gamma[i] + beta[i];
        }
    }
}

/// LayerNorm over the last dimension (`dim`) of row-major `src` (two-pass mean/variance).
pub fn layer_norm(src: &[f32], dim: usize, gamma: &[f32], beta: &[f32], eps: f32) -> Vec<f32> {
    let mut dst = vec![0f32; src.len()];
    dst.par_chunks_mut(dim)
        .zip(src.par_chunks(dim))
        .for_each(|(d, s)| layer_norm_row(s, d, gamma, beta, eps));
    dst
}

/// Softmax of `scale · row[..valid]` in place (`scale > 0`); entries from `valid` on are
/// set to 0.
pub fn softmax_in_place(row: &mut [f32], valid: usize, scale: f32) {
    #[cfg(target_arch = "x86_64")]
    if use_avx512() {
        // SAFETY: AVX-512F was detected.
        return unsafe { avx512::softmax(row, valid, scale) };
    }
    softmax_portable(row, valid, scale)
}

simd_fn! {
    /// [`softmax_in_place`] without AVX-512 (compiled plain and for AVX2+FMA).
    fn softmax_portable(row: &mut [f32], valid: usize, scale: f32) {
        let valid = valid.min(row.len());
        let (live, masked) = row.split_at_mut(valid);
        for v in masked.iter_mut() {
            *v = 0.0;
        }
        let mut lanes = [f32::NEG_INFINITY; 8];
        let body = live.len() / 8 * 8;
        for c in live[..body].chunks_exact(8) {
            for i in 0..8 {
                lanes[i] = lanes[i].max(c[i]);
            }
        }
        let mut max = f32::NEG_INFINITY;
        for v in live[body..].iter().chain(&lanes) {
            max = max.max(*v);
        }
        let mut acc = [0f32; 8];
        for c in live[..body].chunks_exact_mut(8) {
            for i in 0..8 {
                c[i] = exp_with::<M>((c[i] - max) * scale);
                acc[i] += c[i];
            }
        }
        let mut sum = 0f32;
        for v in acc {
            sum += v;
        }
        for v in live[body..].iter_mut() {
            *v = exp_with::<M>((*v - max) * scale);
            sum += *v;
        }
        let inv = 1.0 / sum;
        for v in live.iter_mut() {
            *v *= inv;
        }
    }
}

/// Multi-head scaled-dot-product attention on the fused projection `qkv` `[batch, seq, 3·width]`
/// (q, k, v blocks in that order, heads contiguous inside each block), returning
/// `[batch, seq, width]` with the heads concatenated — the layout `out_proj` expects.
pub fn attention(
    qkv: &[f32],
    batch: usize,
    seq: usize,
    width: usize,
    heads: usize,
    causal: bool,
) -> Vec<f32> {
    attention_impl(qkv, batch, seq, width, heads, causal, matmul::available())
}

/// [`attention`] with the matrix-product path chosen by the caller (`packed` needs AVX2).
fn attention_impl(
    qkv: &[f32],
    batch: usize,
    seq: usize,
    width: usize,
    heads: usize,
    causal: bool,
    packed: bool,
) -> Vec<f32> {
    debug_assert_eq!(qkv.len(), batch * seq * 3 * width);
    let hd = width / heads;
    let scale = 1.0 / (hd as f32).sqrt();
    let row = 3 * width;
    let mut out = vec![0f32; batch * seq * width];
    if packed {
        // Every (image, head) task writes its `hd` columns of `out` in place, with
        // per-thread scratch (scores and the packed Kᵀ/Vᵀ) reused across tasks.
        let dst = SendPtr(out.as_mut_ptr());
        (0..batch * heads).into_par_iter().for_each(|task| {
            let (b, h) = (task / heads, task % heads);
            let base = b * seq * row + h * hd;
            let (k, v) = (&qkv[base + width..], &qkv[base + 2 * width..]);
            ATTN_SCRATCH.with(|cell| {
                let mut guard = cell.borrow_mut();
                let (scores, kt, vt) = &mut *guard;
                scores.clear();
                scores.resize(seq * seq, 0.0);
                // K as the "weights" of q·Kᵀ, then Vᵀ for P·V.
                kt.repack_strided(k, seq, hd, row, 1);
                matmul::matmul_acc_serial(&qkv[base..], row, seq, kt, scores, seq);
                for (i, r) in scores.chunks_exact_mut(seq).enumerate() {
                    softmax_in_place(r, if causal { i + 1 } else { seq }, scale);
                }
                vt.repack_strided(v, hd, seq, 1, row);
                // SAFETY: this task alone writes rows b·seq.. of columns h·hd..(h+1)·hd of
                // `out` (row stride `width`), which outlives the parallel loop.
                unsafe {
                    let c = dst.ptr().add(b * seq * width + h * hd);
                    matmul::matmul_acc_serial_raw(scores, seq, seq, vt, c, width);
                }
            });
        });
        return out;
    }
    let per_head: Vec<Vec<f32>> = (0..batch * heads)
        .into_par_iter()
        .map(|task| {
            let (b, h) = (task / heads, task % heads);
            let base = b * seq * row + h * hd;
            let q = &qkv[base..];
            let k = &qkv[base + width..];
            let v = &qkv[base + 2 * width..];
            let mut scores = vec![0f32; seq * seq];
            let mut out = vec![0f32; seq * hd];
            // SAFETY: q/k/v rows are `row` apart and `hd` long inside `qkv`; `scores` is
            // [seq, seq]; `out` is [seq, hd].
            unsafe {
                gemm::gemm(
                    seq,
                    seq,
                    hd,
                    scores.as_mut_ptr(),
                    1,
                    seq as isize,
                    false,
                    q.as_ptr(),
                    1,
                    row as isize,
                    k.as_ptr(),
                    row as isize,
                    1,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
            for (i, r) in scores.chunks_exact_mut(seq).enumerate() {
                softmax_in_place(r, if causal { i + 1 } else { seq }, scale);
            }
            unsafe {
                gemm::gemm(
                    seq,
                    hd,
                    seq,
                    out.as_mut_ptr(),
                    1,
                    hd as isize,
                    false,
                    scores.as_ptr(),
                    1,
                    seq as isize,
                    v.as_ptr(),
                    1,
                    row as isize,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
            out
        })
        .collect();
    out.par_chunks_mut(seq * width)
        .enumerate()
        .for_each(|(b, dst)| {
            for h in 0..heads {
                let src = &per_head[b * heads + h];
                for i in 0..seq {
                    dst[i * width + h * hd..i * width + (h + 1) * hd]
                        .copy_from_slice(&src[i * hd..(i + 1) * hd]);
                }
            }
        });
    out
}

/// The output pointer attention tasks write disjoint column blocks through.
#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
// SAFETY: every task writes a disjoint set of the output's elements.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

impl SendPtr {
    /// The pointer (a method, so that closures capture the `Sync` wrapper, not the field).
    fn ptr(&self) -> *mut f32 {
        self.0
    }
}

thread_local! {
    /// Per-thread attention scratch: scores `[seq, seq]`, packed Kᵀ and Vᵀ.
    static ATTN_SCRATCH: std::cell::RefCell<(Vec<f32>, PackedWeights, PackedWeights)> =
        std::cell::RefCell::new((Vec::new(), PackedWeights::empty(), PackedWeights::empty()));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The AVX2 vectors give the scalar FMA build's bits, value for value (so the AVX2,
    /// AVX-512 and scalar paths agree and the oracles hold on each).
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_activations_match_the_scalar_fma_build_bit_for_bit() {
        if !(std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")) {
            eprintln!("skip: no AVX2+FMA here");
            return;
        }
        let mut xs: Vec<f32> = (0..200_003)
            .map(|i| (i as f32 - 100_000.0) * 1.3e-4)
            .collect();
        xs.extend([
            0.0, -0.0, 1e-30, -1e-30, 1e-45, 87.0, -87.0, 100.0, -100.0, 1e30, -1e30,
        ]);
        for act in [Activation::Gelu, Activation::QuickGelu] {
            let mut vector = xs.clone();
            // SAFETY: AVX2 and FMA were detected above.
            unsafe { avx2::activation(&mut vector, act) };
            let mut scalar = xs.clone();
            apply_activation_chunk(&mut scalar, act);
            for ((x, v), s) in xs.iter().zip(&vector).zip(&scalar) {
                assert_eq!(v.to_bits(), s.to_bits(), "{act:?}({x}): {v} vs {s}");
            }
        }
    }

    /// erf in f64: Taylor series for |x| < 2.5, the erfc continued fraction beyond.
    fn erf_ref(x: f64) -> f64 {
        if x.abs() < 2.5 {
            let mut term = x;
            let mut sum = x;
            for n in 1..200 {
                term *= -x * x / n as f64;
                sum += term / (2 * n + 1) as f64;
            }
            sum * 2.0 / std::f64::consts::PI.sqrt()
        } else {
            let z = x.abs();
            let mut t = z;
            for k in (1..=200).rev() {
                t = z + (k as f64 / 2.0) / t;
            }
            let erfc = (-z * z).exp() / std::f64::consts::PI.sqrt() / t;
            x.signum() * (1.0 - erfc)
        }
    }

    #[test]
    fn exp_matches_std_to_a_few_ulp() {
        for i in -800..=800 {
            let x = i as f32 * 0.1;
            let b = x.exp();
            for a in [exp_f32(x), exp_with::<Fused>(x)] {
                assert!(((a - b) / b).abs() < 4e-7, "x={x}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn gelu_matches_erf_definition() {
        // Absolute error scaled by max(1, |x|): the f32 rounding of z² inside exp(−z²)
        // limits erfc to ~1e-6 relative where it is small.
        let mut worst = 0f64;
        for i in -6000..=6000 {
            let x = i as f64 * 0.002;
            let want = 0.5 * x * (1.0 + erf_ref(x / std::f64::consts::SQRT_2));
            for got in [gelu_erf(x as f32), gelu_erf_with::<Fused>(x as f32)] {
                worst = worst.max((got as f64 - want).abs() / x.abs().max(1.0));
            }
        }
        assert!(worst < 2e-7, "worst scaled error {worst}");
        assert_eq!(gelu_erf(0.0), 0.0);
        assert!((gelu_erf(1.0) - 0.841_344_7).abs() < 1e-6);
        assert!((gelu_erf(-1.0) + 0.158_655_25).abs() < 1e-6);
    }

    /// The dispatched chunk kernels (AVX-512F where the process uses it, with
    /// `KESTREL_CPU_KERNELS=avx2` the AVX2 build) against the scalar functions, over a
    /// length with a ragged tail.
    #[test]
    fn activation_chunks_match_scalar() {
        let xs: Vec<f32> = (0..12_003).map(|i| (i as f32 - 6000.0) * 0.002).collect();
        for (act, f) in [
            (Activation::Gelu, gelu_erf as fn(f32) -> f32),
            (Activation::QuickGelu, quick_gelu),
        ] {
            let mut got = xs.clone();
            activation_chunk(&mut got, act);
            for (x, g) in xs.iter().zip(&got) {
                let want = f(*x);
                assert!(
                    (g - want).abs() <= 1e-6 * want.abs().max(1.0),
                    "{x}: {g} vs {want}"
                );
            }
        }
        let mut nan = [f32::NAN; 3];
        activation_chunk(&mut nan, Activation::Gelu);
        assert!(nan.iter().all(|v| v.is_nan()));
    }

    #[test]
    fn softmax_matches_definition_with_tail_and_mask() {
        for (len, valid) in [(1, 1), (5, 3), (16, 16), (197, 197), (197, 100), (77, 8)] {
            let row: Vec<f32> = pseudo(len, len as u32).iter().map(|v| v * 20.0).collect();
            let mut got = row.clone();
            softmax_in_place(&mut got, valid, 0.125);
            let m = row[..valid].iter().cloned().fold(f32::MIN, f32::max) as f64;
            let z: f64 = row[..valid]
                .iter()
                .map(|&v| ((v as f64 - m) * 0.125).exp())
                .sum();
            for (i, g) in got.iter().enumerate() {
                let want = if i < valid {
                    ((row[i] as f64 - m) * 0.125).exp() / z
                } else {
                    0.0
                };
                assert!(
                    (*g as f64 - want).abs() < 1e-6,
                    "{len}/{valid} [{i}]: {g} vs {want}"
                );
            }
        }
    }

    #[test]
    fn quick_gelu_definition() {
        for x in [-3.0f32, -0.5, 0.0, 0.7, 4.0] {
            let want = x / (1.0 + (-1.702 * x).exp());
            assert!((quick_gelu(x) - want).abs() < 1e-6);
        }
    }

    fn naive_linear(x: &[f32], rows: usize, k: usize, w: &[f32], n: usize, b: &[f32]) -> Vec<f32> {
        let mut out = vec![0f32; rows * n];
        for r in 0..rows {
            for j in 0..n {
                let mut s = b[j] as f64;
                for i in 0..k {
                    s += x[r * k + i] as f64 * w[j * k + i] as f64;
                }
                out[r * n + j] = s as f32;
            }
        }
        out
    }

    fn pseudo(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s as f32 / u32::MAX as f32) * 2.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn linear_paths_match_naive() {
        for rows in [1, 3, SKINNY_MAX_ROWS, SKINNY_MAX_ROWS + 1, 40] {
            let (k, n) = (37, 150);
            let x = pseudo(rows * k, 1);
            let w = pseudo(n * k, 2);
            let b = pseudo(n, 3);
            let res = pseudo(rows * n, 4);
            let want = naive_linear(&x, rows, k, &w, n, &b);
            let packed = matmul::available().then(|| PackedWeights::pack(&w, n, k));
            let mut refs = vec![WeightRef::Raw(&w)];
            refs.extend(packed.as_ref().map(WeightRef::Packed));
            for wr in refs {
                let got = linear(&x, rows, k, wr, n, Some(&b), None, None);
                for (g, w) in got.iter().zip(&want) {
                    assert!((g - w).abs() < 1e-5, "rows {rows}: {g} vs {w}");
                }
                let got = linear(
                    &x,
                    rows,
                    k,
                    wr,
                    n,
                    Some(&b),
                    Some(&res),
                    Some(Activation::Gelu),
                );
                for ((g, w), r) in got.iter().zip(&want).zip(&res) {
                    let want = gelu_erf(w + r);
                    assert!((g - want).abs() < 1e-5, "rows {rows}: {g} vs {want}");
                }
            }
        }
    }

    #[test]
    fn layer_norm_matches_definition() {
        let dim = 37;
        let x: Vec<f32> = pseudo(dim * 3, 9).iter().map(|v| v * 10.0 + 3.0).collect();
        let g = pseudo(dim, 5);
        let b = pseudo(dim, 6);
        let y = layer_norm(&x, dim, &g, &b, 1e-5);
        for r in 0..3 {
            let row = &x[r * dim..(r + 1) * dim];
            let mean = row.iter().map(|&v| v as f64).sum::<f64>() / dim as f64;
            let var = row.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / dim as f64;
            for i in 0..dim {
                let want = (row[i] as f64 - mean) / (var + 1e-5).sqrt() * g[i] as f64 + b[i] as f64;
                assert!((y[r * dim + i] as f64 - want).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn attention_matches_naive_with_and_without_mask() {
        let (batch, seq, width, heads) = (2, 5, 8, 2);
        let hd = width / heads;
        let qkv = pseudo(batch * seq * 3 * width, 11);
        let paths = if matmul::available() {
            vec![false, true]
        } else {
            vec![false]
        };
        for (causal, packed) in [false, true]
            .into_iter()
            .flat_map(|c| paths.iter().map(move |p| (c, *p)))
        {
            let got = attention_impl(&qkv, batch, seq, width, heads, causal, packed);
            for b in 0..batch {
                for h in 0..heads {
                    let at = |t: usize, part: usize, d: usize| {
                        qkv[(b * seq + t) * 3 * width + part * width + h * hd + d] as f64
                    };
                    for i in 0..seq {
                        let valid = if causal { i + 1 } else { seq };
                        let s: Vec<f64> = (0..valid)
                            .map(|j| {
                                (0..hd).map(|d| at(i, 0, d) * at(j, 1, d)).sum::<f64>()
                                    / (hd as f64).sqrt()
                            })
                            .collect();
                        let m = s.iter().cloned().fold(f64::MIN, f64::max);
                        let e: Vec<f64> = s.iter().map(|v| (v - m).exp()).collect();
                        let z: f64 = e.iter().sum();
                        for d in 0..hd {
                            let want: f64 = (0..valid).map(|j| e[j] / z * at(j, 2, d)).sum();
                            let g = got[(b * seq + i) * width + h * hd + d] as f64;
                            assert!(
                                (g - want).abs() < 1e-5,
                                "causal={causal} packed={packed}: {g} vs {want}"
                            );
                        }
                    }
                }
            }
        }
    }
}

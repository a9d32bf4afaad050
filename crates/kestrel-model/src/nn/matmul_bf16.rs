//! `C += A·Wᵀ` with bf16 operands and f32 accumulation, for `--dtype bf16` on the CPU.
//!
//! The weights are rounded to bf16 (round to nearest even, as `torch.Tensor.to(bfloat16)`)
//! and packed once at load time in the layout both bf16 instruction sets read: 16-column
//! panels of `k/2` rows, each row the 16 columns' `(W[j][2i], W[j][2i+1])` pairs
//! (`[panels][kp/2][16][2]`, `kp` = `k` rounded up to 32, padding zero, the panel count
//! rounded up to even). The activations stay f32 in the model (LayerNorm, softmax, GELU and
//! the residual stream are f32) and are rounded to bf16 per call; products accumulate in
//! f32 onto the f32 output (which already holds the bias and the residual).
//!
//! - AMX-BF16: `A` is laid out as 16×32 tiles, each task loads the tile configuration,
//!   runs 32×32 output blocks as 2×2 `tdpbf16ps` tiles (tmm0–3 accumulate, tmm4–5 hold A,
//!   tmm6–7 hold B) and releases the tiles. Tile instructions are written with inline `asm!`
//!   (Rust's AMX intrinsics are unstable). Columns are blocked so that the weight panels a
//!   task reads (≤ 512 KiB) stay in L2 while it walks down the rows.
//!
//! - AVX512-BF16 (no AMX: AMD Zen 4, AMX-less Intel): `vdpbf16ps` on zmm registers reading
//!   the same panels, 14 rows × 2 panels per micro-kernel ([`crate::nn::bf16_dp`]).
//!
//! Which kernel runs is [`crate::nn::isa::detected`]'s `bf16`; without one, bf16 is refused
//! before a model is built ([`crate::device::check_precision`]).

// The packed kernels are x86_64 code; elsewhere (aarch64) only the portable path runs, and
// the packing helpers it never calls would warn as dead code.
#![cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]

use rayon::prelude::*;

use crate::nn::isa::{self, Bf16Isa};

/// Columns per panel (one AMX tile's / one zmm register's worth of f32 outputs).
pub(crate) const NR: usize = 16;
/// `k` per tile step: 32 bf16 values (64 bytes, one tile row).
const KT: usize = 32;

/// Round an f32 to bf16 (nearest, ties to even; NaN stays NaN).
#[inline(always)]
pub fn to_bf16(x: f32) -> u16 {
    let b = x.to_bits();
    if x.is_nan() {
        return ((b >> 16) | 0x40) as u16;
    }
    ((b + 0x7FFF + ((b >> 16) & 1)) >> 16) as u16
}

/// The f32 value of a bf16.
#[inline(always)]
pub fn from_bf16(h: u16) -> f32 {
    f32::from_bits((h as u32) << 16)
}

/// One 64-byte line of bf16 values: buffers the tiles read are built of these so that
/// every 64-byte tile row sits on one cache line (a `Vec<u16>` from malloc is 16-byte
/// aligned, and a tile row straddling two lines made `tileloadd` about half as fast).
#[repr(C, align(64))]
#[derive(Debug, Clone, Copy)]
pub(crate) struct Line([u16; 32]);

/// A zeroed, 64-byte aligned buffer of at least `len` bf16 values.
fn lines(len: usize) -> Vec<Line> {
    vec![Line([0; 32]); len.div_ceil(32)]
}

fn as_u16(v: &[Line]) -> &[u16] {
    // SAFETY: `Line` is `repr(C)` of 32 `u16` with no padding (64 bytes, align 64).
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast(), v.len() * 32) }
}

fn as_u16_mut(v: &mut [Line]) -> &mut [u16] {
    // SAFETY: as in `as_u16`, and the borrow is unique.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast(), v.len() * 32) }
}

/// A weight matrix `W` `[n, k]` (torch layout) rounded to bf16 and packed (see the module
/// header).
#[derive(Debug, Clone)]
pub struct PackedBf16 {
    n: usize,
    k: usize,
    /// `k` rounded up to a multiple of 32.
    kp: usize,
    /// Panels stored (even).
    panels: usize,
    data: Vec<Line>,
}

impl PackedBf16 {
    /// Round and pack a row-major `[n, k]` matrix (in parallel; for weights at load time).
    pub fn pack(w: &[f32], n: usize, k: usize) -> Self {
        debug_assert_eq!(w.len(), n * k);
        let kp = k.div_ceil(KT) * KT;
        let panels = n.div_ceil(NR).div_ceil(2) * 2;
        let mut data = lines(panels * kp * NR);
        as_u16_mut(&mut data)
            .par_chunks_mut(kp * NR)
            .enumerate()
            .for_each(|(p, panel)| {
                for j in 0..NR {
                    let col = p * NR + j;
                    if col >= n {
                        break;
                    }
                    for (kk, v) in w[col * k..(col + 1) * k].iter().enumerate() {
                        panel[(kk / 2) * 2 * NR + 2 * j + (kk & 1)] = to_bf16(*v);
                    }
                }
            });
        Self {
            n,
            k,
            kp,
            panels,
            data,
        }
    }

    pub fn n(&self) -> usize {
        self.n
    }
    pub fn k(&self) -> usize {
        self.k
    }
    /// Panel `p`: `kp/2` rows of 16 bf16 pairs (64-byte aligned).
    pub(crate) fn panel(&self, p: usize) -> &[u16] {
        &as_u16(&self.data)[p * self.kp * NR..(p + 1) * self.kp * NR]
    }
}

#[cfg(target_arch = "x86_64")]
/// 32 f32 rounded to bf16 ([`to_bf16`], 16 lanes at a time).
///
/// # Safety
/// AVX-512F; `s.len() >= 32` and `d.len() >= 32`.
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn round_32(s: &[f32], d: &mut [u16]) {
    use crate::nn::simd512::{ld, to_bf16};
    use std::arch::x86_64::{__m256i, _mm256_storeu_si256};
    debug_assert!(s.len() >= 32 && d.len() >= 32);
    // SAFETY: the caller's contract (32 values each side).
    unsafe {
        let lo = to_bf16(ld(s.as_ptr()));
        let hi = to_bf16(ld(s.as_ptr().add(16)));
        let dp = d.as_mut_ptr() as *mut __m256i;
        _mm256_storeu_si256(dp, lo);
        _mm256_storeu_si256(dp.add(1), hi);
    }
}

/// A raw pointer to the output that tasks write disjoint blocks of.
#[derive(Clone, Copy)]
struct OutPtr(*mut f32);
// SAFETY: every task writes a disjoint set of rows × columns of the output.
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

/// Whether this process has a bf16 kernel (AMX-BF16 or AVX512-BF16).
pub fn available() -> bool {
    isa::detected().bf16.is_some()
}

/// `c[m, n] += bf16(a[m, k]) · bf16(W)ᵀ` (f32 accumulation) with the detected kernel.
/// Panics when there is none ([`available`]).
pub fn matmul_acc(a: &[f32], m: usize, w: &PackedBf16, c: &mut [f32]) {
    let isa = isa::detected()
        .bf16
        .expect("matmul_bf16: this CPU has no bf16 kernel");
    matmul_acc_with(isa, a, m, w, c)
}

/// [`matmul_acc`] with a chosen kernel, which the CPU must have.
pub fn matmul_acc_with(isa: Bf16Isa, a: &[f32], m: usize, w: &PackedBf16, c: &mut [f32]) {
    assert_eq!(a.len(), m * w.k, "matmul_bf16: A has the wrong size");
    assert_eq!(c.len(), m * w.n, "matmul_bf16: C has the wrong size");
    assert!(
        isa::bf16_supported(isa),
        "matmul_bf16: {} is not available on this CPU",
        isa.name()
    );
    if m == 0 || w.n == 0 {
        return;
    }
    match isa {
        Bf16Isa::AmxBf16 => amx::matmul_acc(a, m, w, c),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `bf16_supported` checked the CPU has AVX512-BF16 (and AVX-512F); the
        // sizes were checked above.
        Bf16Isa::Avx512Bf16 => unsafe { crate::nn::bf16_dp::matmul_acc(a, m, w, c) },
        #[cfg(not(target_arch = "x86_64"))]
        Bf16Isa::Avx512Bf16 => unreachable!("AVX512-BF16 is x86-64 only"),
    }
}

#[cfg(target_arch = "x86_64")]
mod amx {
    use super::*;

    /// Rows (and columns) of one output block: 2×2 tiles of 16×16.
    const MB: usize = 32;
    /// Weight bytes one task keeps in L2 while walking down the rows.
    const L2_PANEL_BYTES: usize = 512 * 1024;

    /// The 64-byte tile configuration: palette 1, tmm0–7 all 16 rows × 64 bytes.
    #[repr(C, align(64))]
    struct TileConfig([u8; 64]);

    impl TileConfig {
        fn all_16x64() -> Self {
            let mut c = [0u8; 64];
            c[0] = 1; // palette
            for t in 0..8 {
                c[16 + 2 * t] = 64; // bytes per row (u16 little endian)
                c[48 + t] = 16; // rows
            }
            Self(c)
        }
    }

    /// Round `a` `[m, k]` to bf16 as 16×32 tiles: `[m/16 (rounded up to even)][kp/32][16][32]`,
    /// padding zero.
    fn tile_a(a: &[f32], m: usize, k: usize, kp: usize) -> Vec<Line> {
        let row_tiles = m.div_ceil(NR).div_ceil(2) * 2;
        let mut out = lines(row_tiles * NR * kp);
        as_u16_mut(&mut out)
            .par_chunks_mut(NR * kp)
            .enumerate()
            .for_each(|(t, dst)| {
                for r in 0..NR {
                    let row = t * NR + r;
                    if row >= m {
                        break;
                    }
                    let src = &a[row * k..(row + 1) * k];
                    let body = k / KT * KT;
                    for kt in 0..body / KT {
                        let s = &src[kt * KT..(kt + 1) * KT];
                        let d = &mut dst[kt * NR * KT + r * KT..kt * NR * KT + (r + 1) * KT];
                        // SAFETY: AMX implies AVX-512F (`isa::amx_bf16`); `s` holds 32 f32
                        // and `d` 32 u16.
                        unsafe { round_32(s, d) };
                    }
                    for (kk, v) in src.iter().enumerate().skip(body) {
                        dst[(kk / KT) * NR * KT + r * KT + kk % KT] = to_bf16(*v);
                    }
                }
            });
        out
    }

    pub(super) fn matmul_acc(a: &[f32], m: usize, w: &PackedBf16, c: &mut [f32]) {
        let (n, kp) = (w.n, w.kp);
        let at = tile_a(a, m, w.k, kp);
        let row_blocks = m.div_ceil(MB);
        // Panel pairs per column chunk: as many as fit the L2 budget.
        let pairs = w.panels / 2;
        let chunk_pairs = (L2_PANEL_BYTES / (2 * NR * kp * 2)).clamp(1, pairs);
        let col_chunks = pairs.div_ceil(chunk_pairs);
        // Split rows too when there are fewer column chunks than twice the threads.
        let threads = rayon::current_num_threads().max(1);
        let row_splits = (2 * threads).div_ceil(col_chunks).clamp(1, row_blocks);
        let blocks_per_split = row_blocks.div_ceil(row_splits);
        let out = OutPtr(c.as_mut_ptr());
        (0..col_chunks * row_splits)
            .into_par_iter()
            .for_each(|task| {
                let (cc, rs) = (task / row_splits, task % row_splits);
                let pairs_range = cc * chunk_pairs..((cc + 1) * chunk_pairs).min(pairs);
                let blocks = rs * blocks_per_split..((rs + 1) * blocks_per_split).min(row_blocks);
                if blocks.is_empty() {
                    return;
                }
                // SAFETY: AMX was detected and the tile state granted (`bf16_supported`); the
                // task owns rows (blocks) × columns (pairs_range) of C.
                unsafe { task_blocks(as_u16(&at), m, w, n, blocks, pairs_range, out) };
            });
    }

    /// A 32 × 32 f32 block, 64-byte aligned (tile stores of whole cache lines).
    #[repr(C, align(64))]
    struct Acc([f32; MB * MB]);

    /// `c[r][j] += acc[r][j]` for `r < rows`, `j < cols` (C row stride `ldc`).
    ///
    /// # Safety
    /// AVX-512F; `c` valid for `rows` rows of `cols` values, `ldc` apart.
    #[target_feature(enable = "avx512f")]
    unsafe fn add_block(acc: &Acc, c: *mut f32, ldc: usize, rows: usize, cols: usize) {
        use crate::nn::simd512::{ld, ld_tail, st, st_tail};
        use std::arch::x86_64::_mm512_add_ps;
        for r in 0..rows {
            let src = acc.0[r * MB..].as_ptr();
            // SAFETY: the caller's contract; `src` holds 32 values.
            unsafe {
                let dst = c.add(r * ldc);
                let mut j = 0;
                while j + NR <= cols {
                    st(dst.add(j), _mm512_add_ps(ld(dst.add(j)), ld(src.add(j))));
                    j += NR;
                }
                if j < cols {
                    let v = _mm512_add_ps(ld_tail(dst.add(j), cols - j, 0.0), ld(src.add(j)));
                    st_tail(dst.add(j), cols - j, v);
                }
            }
        }
    }

    /// Output blocks `blocks` (of 32 rows) × panel pairs `pairs` (32 columns each).
    ///
    /// # Safety
    /// The CPU has AMX-BF16 and this process may use the tile state; `at` is `a` tiled by
    /// [`tile_a`] for `w`; `c` is `[m, n]` and these blocks of it belong to the caller.
    unsafe fn task_blocks(
        at: &[u16],
        m: usize,
        w: &PackedBf16,
        n: usize,
        blocks: std::ops::Range<usize>,
        pairs: std::ops::Range<usize>,
        c: OutPtr,
    ) {
        let kp = w.kp;
        let cfg = TileConfig::all_16x64();
        // SAFETY: `cfg` is a valid 64-byte palette-1 configuration.
        unsafe { std::arch::asm!("ldtilecfg [{}]", in(reg) cfg.0.as_ptr(), options(nostack)) };
        let mut acc = Acc([0.0; MB * MB]);
        for rb in blocks {
            let r0 = rb * MB;
            // The two 16-row tiles of A for this block: tile t starts at t·16·kp.
            let a0 = at[(2 * rb) * NR * kp..].as_ptr();
            let a1 = at[(2 * rb + 1) * NR * kp..].as_ptr();
            for pair in pairs.clone() {
                let c0 = pair * 2 * NR;
                let b0 = w.panel(2 * pair).as_ptr();
                let b1 = w.panel(2 * pair + 1).as_ptr();
                // SAFETY: `acc` is 32 × 32 f32, 64-byte aligned; A and B tiles are 1 KiB
                // contiguous, 64-byte aligned blocks inside `at` and the panels, `kp/32`
                // steps long.
                unsafe { block_32x32(a0, a1, b0, b1, kp, acc.0.as_mut_ptr()) };
                let rows = MB.min(m - r0);
                let cols = MB.min(n.saturating_sub(c0));
                // SAFETY: AVX-512F comes with AMX (`isa::amx_bf16`); rows × cols from
                // (r0, c0) lie inside C and belong to this task.
                unsafe { add_block(&acc, c.0.add(r0 * n + c0), n, rows, cols) };
            }
        }
        // SAFETY: releases the tile state loaded above.
        unsafe { std::arch::asm!("tilerelease", options(nostack)) };
    }

    /// `C[32×32] = A[32×kp] · B[kp×32]` with C at `c` (32 × 32 f32), A as two
    /// 16-row tile columns `a0`, `a1` (`kp/32` tiles of 16×32 each, 1 KiB apart) and B as two
    /// VNNI panels `b0`, `b1` (`kp/2` rows of 64 bytes).
    ///
    /// # Safety
    /// Tiles configured as 16 rows × 64 bytes; all pointers valid for what is described.
    #[inline(always)]
    unsafe fn block_32x32(
        a0: *const u16,
        a1: *const u16,
        b0: *const u16,
        b1: *const u16,
        kp: usize,
        c: *mut f32,
    ) {
        let ldc = MB;
        let ldcb = ldc * 4;
        // SAFETY (whole body): see the function's contract.
        unsafe {
            std::arch::asm!(
                "tilezero tmm0",
                "tilezero tmm1",
                "tilezero tmm2",
                "tilezero tmm3",
                options(nostack)
            );
            let mut kk = 0;
            while kk < kp {
                std::arch::asm!(
                    "tileloadd tmm4, [{a0} + {s}*1]",
                    "tileloadd tmm5, [{a1} + {s}*1]",
                    "tileloadd tmm6, [{b0} + {s}*1]",
                    "tileloadd tmm7, [{b1} + {s}*1]",
                    "tdpbf16ps tmm0, tmm4, tmm6",
                    "tdpbf16ps tmm1, tmm4, tmm7",
                    "tdpbf16ps tmm2, tmm5, tmm6",
                    "tdpbf16ps tmm3, tmm5, tmm7",
                    a0 = in(reg) a0.add(kk * NR),
                    a1 = in(reg) a1.add(kk * NR),
                    b0 = in(reg) b0.add(kk * NR),
                    b1 = in(reg) b1.add(kk * NR),
                    s = in(reg) 64usize,
                    options(nostack)
                );
                kk += KT;
            }
            std::arch::asm!(
                "tilestored [{c0} + {ld}*1], tmm0",
                "tilestored [{c1} + {ld}*1], tmm1",
                "tilestored [{c2} + {ld}*1], tmm2",
                "tilestored [{c3} + {ld}*1], tmm3",
                c0 = in(reg) c,
                c1 = in(reg) c.add(NR),
                c2 = in(reg) c.add(NR * ldc),
                c3 = in(reg) c.add(NR * ldc + NR),
                ld = in(reg) ldcb,
                options(nostack)
            );
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod amx {
    use super::*;
    pub(super) fn matmul_acc(_a: &[f32], _m: usize, _w: &PackedBf16, _c: &mut [f32]) {
        unreachable!("AMX is x86-64 only; bf16_supported() is false elsewhere")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bf16_rounding_is_nearest_even() {
        assert_eq!(to_bf16(1.0), 0x3F80);
        // 1 + 2⁻⁸ is halfway between 1 and 1 + 2⁻⁷: ties to even (1.0).
        assert_eq!(to_bf16(1.0 + 1.0 / 256.0), 0x3F80);
        // 1 + 3·2⁻⁸ is halfway between 1 + 2⁻⁷ (odd) and 1 + 2⁻⁶: up.
        assert_eq!(to_bf16(1.0 + 3.0 / 256.0), 0x3F82);
        assert_eq!(from_bf16(to_bf16(-2.5)), -2.5);
        assert!(from_bf16(to_bf16(f32::NAN)).is_nan());
    }

    /// The 16-lane rounding used to tile activations is bit for bit the scalar one
    /// (ties, NaN, infinities, denormals, the largest finite values).
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn vector_rounding_matches_scalar() {
        if !isa::f32_supported(isa::F32Isa::Avx512f) {
            eprintln!("skip: no AVX-512F");
            return;
        }
        let mut xs: Vec<f32> = [
            1.0 + 1.0 / 256.0,
            1.0 + 3.0 / 256.0,
            -2.5,
            f32::NAN,
            -f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::MAX,
            f32::MIN,
            1e-40,
            -1e-40,
            0.0,
            -0.0,
        ]
        .to_vec();
        let mut s = 12345u32;
        while xs.len() < 32 * 64 {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            xs.push(f32::from_bits(s));
        }
        for chunk in xs.chunks_exact(32) {
            let mut got = [0u16; 32];
            // SAFETY: AVX-512F checked above; 32 values each side.
            unsafe { round_32(chunk, &mut got) };
            for (x, g) in chunk.iter().zip(got) {
                assert_eq!(g, to_bf16(*x), "{x:e} ({:#x})", x.to_bits());
            }
        }
    }

    /// Every bf16 kernel this CPU has, against an f64 product of the f32 inputs, on ragged
    /// shapes (rows not a multiple of 16 or 32, an odd panel count, `k` not a multiple of 32).
    /// Bound: each input is rounded by at most 2⁻⁹ relative (a product by ≤ 2⁻⁸), so
    /// `|err| ≤ 2⁻⁸ · Σ|aᵢ·wᵢ|` plus f32 accumulation (≤ k·2⁻²⁴ of the same sum).
    #[test]
    fn bf16_matmul_within_rounding_bound_of_f64() {
        for isa in [Bf16Isa::AmxBf16, Bf16Isa::Avx512Bf16] {
            if !isa::bf16_supported(isa) {
                eprintln!("skip: this CPU has no {}", isa.name());
                continue;
            }
            for (m, k, n) in [
                (1, 3, 1),
                (7, 300, 33),
                (16, 64, 32),
                (45, 257, 50),
                (70, 520, 100),
            ] {
                let a: Vec<f32> = (0..m * k)
                    .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
                    .collect();
                let w: Vec<f32> = (0..n * k)
                    .map(|i| ((i * 53) % 97) as f32 / 48.0 - 1.0)
                    .collect();
                let c0: Vec<f32> = (0..m * n).map(|i| i as f32 * 0.01).collect();
                let mut c = c0.clone();
                matmul_acc_with(isa, &a, m, &PackedBf16::pack(&w, n, k), &mut c);
                let mut worst = 0f64;
                for i in 0..m {
                    for j in 0..n {
                        let (mut s, mut abs) = (c0[i * n + j] as f64, 0f64);
                        for t in 0..k {
                            let p = a[i * k + t] as f64 * w[j * k + t] as f64;
                            s += p;
                            abs += p.abs();
                        }
                        let bound = abs * (2f64.powi(-8) + k as f64 * 2f64.powi(-24)) + 1e-6;
                        let err = (c[i * n + j] as f64 - s).abs();
                        assert!(
                            err <= bound,
                            "{}: {m}x{k}x{n} [{i},{j}]: err {err} > {bound}",
                            isa.name()
                        );
                        worst = worst.max(err / bound);
                    }
                }
                eprintln!(
                    "{} {m}x{k}x{n}: worst error {worst:.3} of the bound",
                    isa.name()
                );
            }
        }
    }

    /// Every bf16 kernel this CPU has equals an f64 product of the *bf16-rounded* inputs
    /// within f32 accumulation error, on shapes that are not multiples of any block: rows
    /// across the AVX512-BF16 kernel's 14-row strips and 126-row tasks and AMX's 32-row
    /// blocks, a lone last panel (n = 33, 1), an odd `k` (the last pair half padding), `k`
    /// across the 256-value `k` blocks. Bound: `k + 2` f32 roundings of partial sums no
    /// larger than `|c₀| + Σ|aᵢ·wᵢ|` (products of two bf16 are exact in f32).
    #[test]
    fn bf16_matmul_equals_f64_of_rounded_inputs() {
        let mut seed = 0x2545_F491u32;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            (seed as f32 / u32::MAX as f32) * 2.0 - 1.0
        };
        for isa in [Bf16Isa::AmxBf16, Bf16Isa::Avx512Bf16] {
            if !isa::bf16_supported(isa) {
                eprintln!("skip: this CPU has no {}", isa.name());
                continue;
            }
            for (m, k, n) in [
                (1, 1, 1),
                (3, 7, 33),
                (14, 32, 32),
                (15, 257, 17),
                (29, 771, 50),
                (127, 65, 96),
                (253, 301, 47),
            ] {
                let a: Vec<f32> = (0..m * k).map(|_| rnd() * 3.0).collect();
                let w: Vec<f32> = (0..n * k).map(|_| rnd()).collect();
                let c0: Vec<f32> = (0..m * n).map(|_| rnd()).collect();
                let mut c = c0.clone();
                matmul_acc_with(isa, &a, m, &PackedBf16::pack(&w, n, k), &mut c);
                let r = |x: f32| from_bf16(to_bf16(x)) as f64;
                let mut worst = 0f64;
                for i in 0..m {
                    for j in 0..n {
                        let mut s = c0[i * n + j] as f64;
                        let mut abs = s.abs();
                        for t in 0..k {
                            let p = r(a[i * k + t]) * r(w[j * k + t]);
                            s += p;
                            abs += p.abs();
                        }
                        let bound = abs * (k + 2) as f64 * 2f64.powi(-24);
                        let err = (c[i * n + j] as f64 - s).abs();
                        assert!(
                            err <= bound,
                            "{}: {m}x{k}x{n} [{i},{j}]: {} vs {s}, err {err} > {bound}",
                            isa.name(),
                            c[i * n + j]
                        );
                        worst = worst.max(err / bound);
                    }
                }
                eprintln!(
                    "{} {m}x{k}x{n}: worst error {worst:.3} of the f32 bound",
                    isa.name()
                );
            }
        }
    }
}

//! The AVX512-BF16 kernel of [`crate::nn::matmul_bf16`]: `C += bf16(A)·bf16(W)ᵀ` with
//! `vdpbf16ps` (`_mm512_dpbf16_ps`, stable in `core::arch`), for CPUs with AVX512-BF16 but
//! no AMX (AMD Zen 4 and later, Intel Cooper Lake, AMX-less Xeons).
//!
//! It reads the same packed weights as the AMX kernel ([`PackedBf16`]: 16-column panels
//! whose rows are the 16 columns' `(W[j][2i], W[j][2i+1])` pairs, 64 bytes, exactly one
//! `vdpbf16ps` operand). `A` is rounded to bf16 once per call into 14-row strips, `k`-pair
//! major (`[m/14][k/2][14]` pairs of bf16 as `u32`), so the micro-kernel broadcasts one pair
//! per row and step. The micro-kernel is the f32 one's shape (14 rows × 2 panels, 28 zmm
//! accumulators written out as named variables so they stay in registers), each step two
//! MACs per lane; work is split over the rayon pool by row blocks and column ranges as in
//! [`crate::nn::matmul`].
//!
//! `vdpbf16ps` treats bf16 denormal inputs as zero and flushes denormal results (as
//! `tdpbf16ps` does); products of two bf16 are exact in f32, so the only rounding besides
//! the inputs' is the f32 accumulation.

use std::arch::x86_64::*;

use rayon::prelude::*;

use crate::nn::matmul_bf16::{NR, PackedBf16, round_32, to_bf16};
use crate::nn::simd512::{ld, st};

/// Micro-kernel rows.
const MR: usize = 14;
/// `k` pairs per block: 2 panels × 128 pairs × 64 bytes = 16 KiB of weights in L1.
const KCP: usize = 128;
/// Rows per task (9 strips): the task's strips of A (≤ 63 KiB per `k` block) stay in L2.
const MC: usize = 126;

/// A raw pointer to the output that tasks write disjoint tiles of.
#[derive(Clone, Copy)]
struct OutPtr(*mut f32);
// SAFETY: every task writes a disjoint set of rows × columns of the output.
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

/// `c[m, n] += bf16(a[m, k]) · bf16(W)ᵀ`.
///
/// # Safety
/// The CPU has AVX-512F and AVX512-BF16; `a` is `[m, w.k()]` and `c` `[m, w.n()]`.
pub(crate) unsafe fn matmul_acc(a: &[f32], m: usize, w: &PackedBf16, c: &mut [f32]) {
    let (n, k) = (w.n(), w.k());
    let kh = k.div_ceil(2);
    let strips = strip_a(a, m, k);
    let panels = n.div_ceil(NR);
    let row_blocks = m.div_ceil(MC);
    // Enough tasks to keep every thread busy, never finer than one panel pair.
    let units = panels.div_ceil(2);
    let threads = rayon::current_num_threads().max(1);
    let col_chunks = (2 * threads).div_ceil(row_blocks).clamp(1, units);
    let panels_per_chunk = units.div_ceil(col_chunks) * 2;
    let out = OutPtr(c.as_mut_ptr());
    (0..row_blocks * col_chunks)
        .into_par_iter()
        .for_each(|task| {
            let (rb, cc) = (task / col_chunks, task % col_chunks);
            let rows = rb * MC..((rb + 1) * MC).min(m);
            let cols = cc * panels_per_chunk..((cc + 1) * panels_per_chunk).min(panels);
            if cols.is_empty() {
                return;
            }
            // SAFETY: the caller's contract (the CPU has the instructions); the task owns
            // rows × (panels in `cols`) of C; `strips` is `a` stripped for `kh` pairs.
            unsafe { block(&strips, kh, rows, cols, w, out) };
        });
}

/// `A` rounded to bf16 as `[m/14 (rounded up)][kh][14]` pairs (`u32`, the lower half the
/// even `k`), rows and the odd `k` past the end zero.
fn strip_a(a: &[f32], m: usize, k: usize) -> Vec<u32> {
    let kh = k.div_ceil(2);
    let mut out = vec![0u32; m.div_ceil(MR) * kh * MR];
    out.par_chunks_mut(kh * MR)
        .enumerate()
        .for_each(|(s, dst)| {
            for r in 0..MR {
                let row = s * MR + r;
                if row >= m {
                    break;
                }
                let src = &a[row * k..(row + 1) * k];
                let body = k / 32 * 32;
                let mut half = [0u16; 32];
                for c in 0..body / 32 {
                    // SAFETY: AVX-512F comes with AVX512-BF16 (the caller checked);
                    // 32 values each side.
                    unsafe { round_32(&src[c * 32..(c + 1) * 32], &mut half) };
                    for t in 0..16 {
                        dst[(c * 16 + t) * MR + r] =
                            half[2 * t] as u32 | (half[2 * t + 1] as u32) << 16;
                    }
                }
                for (i, pair) in src[body..].chunks(2).enumerate() {
                    let lo = to_bf16(pair[0]) as u32;
                    let hi = pair.get(1).map_or(0, |v| to_bf16(*v) as u32);
                    dst[(body / 2 + i) * MR + r] = lo | hi << 16;
                }
            }
        });
    out
}

/// One task: rows × column panels of C, over all `kh` pairs in `KCP` blocks; panels are
/// taken in pairs (a last odd panel alone), edge tiles run on a scratch tile.
///
/// # Safety
/// AVX-512F and AVX512-BF16; rows × panels of `c` (`[m, w.n()]`) belong to the caller.
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn block(
    strips: &[u32],
    kh: usize,
    rows: std::ops::Range<usize>,
    cols: std::ops::Range<usize>,
    w: &PackedBf16,
    c: OutPtr,
) {
    let ldc = w.n();
    let nstrips = rows.len().div_ceil(MR);
    let s0 = rows.start / MR;
    let mut k0 = 0;
    while k0 < kh {
        let kc = KCP.min(kh - k0);
        let mut p = cols.start;
        while p < cols.end {
            let pair = p + 1 < cols.end;
            // Pairs k0.. of each panel: 16 u32 each.
            let b0 = w.panel(p)[k0 * 2 * NR..].as_ptr().cast::<u32>();
            let b1 = if pair {
                w.panel(p + 1)[k0 * 2 * NR..].as_ptr().cast::<u32>()
            } else {
                b0
            };
            let width = if pair { 2 * NR } else { NR };
            let col0 = p * NR;
            let ncols = width.min(ldc - col0);
            for s in 0..nstrips {
                let row0 = rows.start + s * MR;
                let nrows = MR.min(rows.end - row0);
                let ap = strips[((s0 + s) * kh + k0) * MR..].as_ptr();
                // SAFETY: the tile lies inside C and belongs to this task; `ap`, `b0`, `b1`
                // hold `kc` pair steps (the panels are `kp/2 ≥ kh` pairs long).
                unsafe {
                    let tile = c.0.add(row0 * ldc + col0);
                    let run = |dst: *mut f32, ld: usize| {
                        if pair {
                            kernel::<2>(kc, ap, b0, b1, dst, ld)
                        } else {
                            kernel::<1>(kc, ap, b0, b1, dst, ld)
                        }
                    };
                    if nrows == MR && ncols == width {
                        run(tile, ldc);
                    } else {
                        let mut scratch = [0f32; MR * 2 * NR];
                        for r in 0..nrows {
                            for j in 0..ncols {
                                scratch[r * 2 * NR + j] = *tile.add(r * ldc + j);
                            }
                        }
                        run(scratch.as_mut_ptr(), 2 * NR);
                        for r in 0..nrows {
                            for j in 0..ncols {
                                *tile.add(r * ldc + j) = scratch[r * 2 * NR + j];
                            }
                        }
                    }
                }
            }
            p += if pair { 2 } else { 1 };
        }
        k0 += kc;
    }
}

/// 16 `u32` (32 bf16) from `p` as a `vdpbf16ps` operand.
///
/// # Safety
/// AVX-512F; `p` valid for 16 reads.
#[inline(always)]
unsafe fn ld_bh(p: *const u32) -> __m512bh {
    // SAFETY: the caller's contract; the masked load has no debug-build overlap check.
    let v = unsafe { _mm512_maskz_loadu_epi32(0xFFFF, p.cast()) };
    // SAFETY: both are 64-byte vectors; every bit pattern is a valid bf16 vector.
    unsafe { std::mem::transmute::<__m512i, __m512bh>(v) }
}

/// One bf16 pair broadcast to all 16 lanes.
#[inline(always)]
unsafe fn bcast(p: *const u32) -> __m512bh {
    // SAFETY: the caller's contract (`p` readable).
    let v = unsafe { _mm512_set1_epi32(*p as i32) };
    // SAFETY: as in `ld_bh`.
    unsafe { std::mem::transmute::<__m512i, __m512bh>(v) }
}

/// `C[14 × 16·NP] += Ap[kc pairs × 14] · [Bp0 | Bp1][kc pairs × 16]`, C row stride `ldc`
/// (`NP` is 1 or 2 panels; with 1, `b1` is not read).
///
/// # Safety
/// AVX-512F and AVX512-BF16; `a` holds `kc·14` pairs, each panel pointer in use `kc·16`,
/// C is 14 rows × 16·NP columns, stride `ldc`.
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn kernel<const NP: usize>(
    kc: usize,
    a: *const u32,
    b0: *const u32,
    b1: *const u32,
    c: *mut f32,
    ldc: usize,
) {
    macro_rules! two_panels {
        ($(($r:literal, $x:ident, $y:ident)),* $(,)?) => {{
            $(
                let mut $x = ld(c.add($r * ldc));
                let mut $y = ld(c.add($r * ldc + NR));
            )*
            let (mut ap, mut p0, mut p1) = (a, b0, b1);
            for _ in 0..kc {
                let v0 = ld_bh(p0);
                let v1 = ld_bh(p1);
                $(
                    let av = bcast(ap.add($r));
                    $x = _mm512_dpbf16_ps($x, av, v0);
                    $y = _mm512_dpbf16_ps($y, av, v1);
                )*
                ap = ap.add(MR);
                p0 = p0.add(NR);
                p1 = p1.add(NR);
            }
            $(
                st(c.add($r * ldc), $x);
                st(c.add($r * ldc + NR), $y);
            )*
        }};
    }
    macro_rules! one_panel {
        ($(($r:literal, $x:ident)),* $(,)?) => {{
            $( let mut $x = ld(c.add($r * ldc)); )*
            let (mut ap, mut p0) = (a, b0);
            for _ in 0..kc {
                let v0 = ld_bh(p0);
                $( $x = _mm512_dpbf16_ps($x, bcast(ap.add($r)), v0); )*
                ap = ap.add(MR);
                p0 = p0.add(NR);
            }
            $( st(c.add($r * ldc), $x); )*
        }};
    }
    const _: () = assert!(MR == 14);
    // SAFETY (whole body): the function's contract.
    unsafe {
        if NP == 2 {
            two_panels!(
                (0, x0, y0),
                (1, x1, y1),
                (2, x2, y2),
                (3, x3, y3),
                (4, x4, y4),
                (5, x5, y5),
                (6, x6, y6),
                (7, x7, y7),
                (8, x8, y8),
                (9, x9, y9),
                (10, x10, y10),
                (11, x11, y11),
                (12, x12, y12),
                (13, x13, y13),
            );
        } else {
            let _ = b1;
            one_panel!(
                (0, x0),
                (1, x1),
                (2, x2),
                (3, x3),
                (4, x4),
                (5, x5),
                (6, x6),
                (7, x7),
                (8, x8),
                (9, x9),
                (10, x10),
                (11, x11),
                (12, x12),
                (13, x13),
            );
        }
    }
}

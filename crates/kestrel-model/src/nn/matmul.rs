//! `C += A·Wᵀ` for f32 on x86-64 with AVX-512F or AVX2+FMA (picked at run time by
//! [`crate::nn::isa::detected`]), against weights packed once at load time.
//!
//! The `gemm` crate reaches about half of this CPU's FMA peak on the model's shapes and repacks
//! the weight matrix on every call; inference multiplies by the same weights millions of
//! times, so they are packed once into 16-column panels (`[n/16][k][16]`) and a BLIS-style
//! 6×16 register-blocked micro-kernel (12 accumulators) runs over them. The activation matrix
//! is packed per 6-row strip and `k` block. With AVX-512F the same panels are read two at a
//! time by a 14×32 micro-kernel (28 of the 32 zmm registers accumulate; the packing does not
//! depend on the ISA). Work is split over the rayon pool by row blocks and column ranges, so
//! one text query (a handful of rows) still uses every core.
//!
//! Other CPUs (no AVX2/FMA, or not x86-64) use [`crate::nn::kernels`]' `gemm` path.

// The packed kernels are x86_64 code; elsewhere (aarch64) only the portable path runs, and
// the packing helpers it never calls would warn as dead code.
#![cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]

use rayon::prelude::*;

use crate::nn::isa::{self, F32Isa};

/// Micro-kernel rows (AVX2).
const MR: usize = 6;
/// Micro-kernel rows (AVX-512F; two panels, 32 columns, wide).
const MR512: usize = 14;
/// Micro-kernel columns (two AVX registers).
pub const NR: usize = 16;
/// `k` block: a 16-column panel slice of `KC` rows (16 KiB) stays in L1.
const KC: usize = 256;
/// Rows per task: the packed `MC × KC` block of A (about 120 KiB) stays in L2; a multiple
/// of both micro-kernels' row counts would be 42·k, these are multiples of each one's.
fn mc(isa: F32Isa) -> usize {
    match isa {
        F32Isa::Avx512f => 126,
        _ => 120,
    }
}

/// Whether this process uses the packed kernel (AVX2+FMA or AVX-512F detected).
pub fn available() -> bool {
    isa::detected().f32 >= F32Isa::Avx2Fma
}

/// A weight matrix `W` `[n, k]` (torch layout) packed as `ceil(n/16)` panels of `k × 16`
/// (panel `p`, row `kk`, lane `j` holds `W[16p + j][kk]`; missing columns are zero).
#[derive(Debug, Clone)]
pub struct PackedWeights {
    n: usize,
    k: usize,
    data: Vec<f32>,
}

impl PackedWeights {
    /// Pack a row-major `[n, k]` matrix (in parallel; for weights at load time).
    pub fn pack(w: &[f32], n: usize, k: usize) -> Self {
        debug_assert_eq!(w.len(), n * k);
        let panels = n.div_ceil(NR);
        let mut data = vec![0f32; panels * k * NR];
        data.par_chunks_mut(k * NR)
            .enumerate()
            .for_each(|(p, panel)| {
                for j in 0..NR {
                    let col = p * NR + j;
                    if col >= n {
                        break;
                    }
                    let src = &w[col * k..(col + 1) * k];
                    for (kk, v) in src.iter().enumerate() {
                        panel[kk * NR + j] = *v;
                    }
                }
            });
        Self { n, k, data }
    }

    /// Pack the `n × k` matrix whose element (column `j`, step `kk`) is
    /// `src[j·col_stride + kk·k_stride]` (serially; for per-head attention operands).
    pub fn pack_strided(
        src: &[f32],
        n: usize,
        k: usize,
        col_stride: usize,
        k_stride: usize,
    ) -> Self {
        let panels = n.div_ceil(NR);
        let mut data = vec![0f32; panels * k * NR];
        for (p, panel) in data.chunks_exact_mut(k * NR).enumerate() {
            for kk in 0..k {
                let dst = &mut panel[kk * NR..(kk + 1) * NR];
                for (j, d) in dst.iter_mut().enumerate() {
                    let col = p * NR + j;
                    if col < n {
                        *d = src[col * col_stride + kk * k_stride];
                    }
                }
            }
        }
        Self { n, k, data }
    }

    /// An empty matrix, to [`Self::repack_strided`] into.
    pub fn empty() -> Self {
        Self {
            n: 0,
            k: 0,
            data: Vec::new(),
        }
    }

    /// [`Self::pack_strided`] into this matrix's buffer (no allocation once it is large
    /// enough; per-head attention operands reuse one per thread).
    pub fn repack_strided(
        &mut self,
        src: &[f32],
        n: usize,
        k: usize,
        col_stride: usize,
        k_stride: usize,
    ) {
        let panels = n.div_ceil(NR);
        self.data.clear();
        self.data.resize(panels * k * NR, 0.0);
        self.n = n;
        self.k = k;
        for (p, panel) in self.data.chunks_exact_mut(k * NR).enumerate() {
            let cols = NR.min(n - p * NR);
            for kk in 0..k {
                let dst = &mut panel[kk * NR..kk * NR + cols];
                for (j, d) in dst.iter_mut().enumerate() {
                    *d = src[(p * NR + j) * col_stride + kk * k_stride];
                }
            }
        }
    }

    pub fn n(&self) -> usize {
        self.n
    }
    pub fn k(&self) -> usize {
        self.k
    }
    fn panel(&self, p: usize) -> &[f32] {
        &self.data[p * self.k * NR..(p + 1) * self.k * NR]
    }
}

/// A raw pointer to the output that tasks write disjoint tiles of.
#[derive(Clone, Copy)]
struct OutPtr(*mut f32);
// SAFETY: every task writes a disjoint set of rows × columns of the output.
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

/// `c[m, n] += a[m, k] · Wᵀ` using the packed weights and the detected kernel. Requires
/// [`available`].
pub fn matmul_acc(a: &[f32], m: usize, w: &PackedWeights, c: &mut [f32]) {
    matmul_acc_with(isa::detected().f32, a, m, w, c)
}

/// Panics unless `isa` is a packed kernel this CPU runs.
fn check_isa(isa: F32Isa) {
    assert!(
        isa >= F32Isa::Avx2Fma && isa::f32_supported(isa),
        "matmul: the packed kernel {} is not available on this CPU",
        isa.name()
    );
}

/// [`matmul_acc`] with a chosen kernel (`Avx2Fma` or `Avx512f`, which the CPU must have).
pub fn matmul_acc_with(isa: F32Isa, a: &[f32], m: usize, w: &PackedWeights, c: &mut [f32]) {
    let (n, k) = (w.n, w.k);
    assert_eq!(a.len(), m * k, "matmul: A has the wrong size");
    assert_eq!(c.len(), m * n, "matmul: C has the wrong size");
    check_isa(isa);
    if m == 0 || n == 0 {
        return;
    }
    let panels = n.div_ceil(NR);
    let mc = mc(isa);
    let row_blocks = m.div_ceil(mc);
    // Enough tasks to keep every thread busy, never splitting finer than what one
    // micro-kernel call covers (one panel, two with AVX-512).
    let unit = if isa == F32Isa::Avx512f { 2 } else { 1 };
    let units = panels.div_ceil(unit);
    let threads = rayon::current_num_threads().max(1);
    let col_chunks = (2 * threads).div_ceil(row_blocks).clamp(1, units);
    let panels_per_chunk = units.div_ceil(col_chunks) * unit;
    let out = OutPtr(c.as_mut_ptr());
    (0..row_blocks * col_chunks)
        .into_par_iter()
        .for_each(|task| {
            let (rb, cc) = (task / col_chunks, task % col_chunks);
            let rows = rb * mc..((rb + 1) * mc).min(m);
            let cols = cc * panels_per_chunk..((cc + 1) * panels_per_chunk).min(panels);
            if cols.is_empty() {
                return;
            }
            // SAFETY: `check_isa` passed; the task owns rows × (panels in `cols`) of C.
            unsafe { block(isa, a, k, rows, cols, w, out, n) };
        });
}

/// `c[m, n] += a[m, k] · Wᵀ` on the calling thread, with row strides `lda` and `ldc`
/// (used inside already-parallel work such as attention heads). Requires [`available`].
pub fn matmul_acc_serial(
    a: &[f32],
    lda: usize,
    m: usize,
    w: &PackedWeights,
    c: &mut [f32],
    ldc: usize,
) {
    let isa = isa::detected().f32;
    check_isa(isa);
    if m == 0 || w.n == 0 {
        return;
    }
    assert!(
        a.len() >= (m - 1) * lda + w.k && lda >= w.k,
        "matmul: A is too small"
    );
    assert!(
        c.len() >= (m - 1) * ldc + w.n && ldc >= w.n,
        "matmul: C is too small"
    );
    let panels = w.n.div_ceil(NR);
    // SAFETY: checked above; this thread owns all of C.
    unsafe { block(isa, a, lda, 0..m, 0..panels, w, OutPtr(c.as_mut_ptr()), ldc) };
}

/// [`matmul_acc_serial`] onto C through a raw pointer (for tasks that each own a column
/// range of a shared output, such as attention heads).
///
/// # Safety
/// `c` is valid for `m` rows of `w.n()` values, `ldc` apart (`ldc >= w.n()`), and no other
/// thread touches those values during the call.
pub unsafe fn matmul_acc_serial_raw(
    a: &[f32],
    lda: usize,
    m: usize,
    w: &PackedWeights,
    c: *mut f32,
    ldc: usize,
) {
    let isa = isa::detected().f32;
    check_isa(isa);
    if m == 0 || w.n == 0 {
        return;
    }
    assert!(
        a.len() >= (m - 1) * lda + w.k && lda >= w.k && ldc >= w.n,
        "matmul: A is too small"
    );
    let panels = w.n.div_ceil(NR);
    // SAFETY: the caller's contract; the kernel stays inside rows × w.n of C.
    unsafe { block(isa, a, lda, 0..m, 0..panels, w, OutPtr(c), ldc) };
}

thread_local! {
    /// Each thread's packed strips of A, reused across calls (fresh ones were page-faulted
    /// and zeroed by the kernel for every attention head).
    static PACKED_A: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Run `f` on this thread's A-packing buffer, at least `len` long.
fn with_packed_a<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    PACKED_A.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            if buf.len() < len {
                buf.resize(len, 0.0);
            }
            f(&mut buf[..len])
        }
        // Re-entered on this thread (not done by the kernels): a private buffer.
        Err(_) => f(&mut vec![0f32; len]),
    })
}

#[cfg(not(target_arch = "x86_64"))]
#[allow(clippy::too_many_arguments)]
unsafe fn block(
    _isa: F32Isa,
    _a: &[f32],
    _lda: usize,
    _rows: std::ops::Range<usize>,
    _cols: std::ops::Range<usize>,
    _w: &PackedWeights,
    _c: OutPtr,
    _ldc: usize,
) {
    unreachable!("matmul_acc checks available()")
}

/// One task on the chosen kernel (which the CPU must have).
#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
unsafe fn block(
    isa: F32Isa,
    a: &[f32],
    lda: usize,
    rows: std::ops::Range<usize>,
    cols: std::ops::Range<usize>,
    w: &PackedWeights,
    c: OutPtr,
    ldc: usize,
) {
    // SAFETY: the caller checked that the CPU has `isa` and hands over its part of C.
    unsafe {
        match isa {
            F32Isa::Avx512f => block_avx512(a, lda, rows, cols, w, c, ldc),
            F32Isa::Avx2Fma => block_avx2(a, lda, rows, cols, w, c, ldc),
            F32Isa::Portable => unreachable!("matmul: checked by check_isa"),
        }
    }
}

/// Pack `A[rows, k0..k0+kc]` as strips of `mr` rows, k-major (strip s, step kk, row r),
/// rows past the end zero. `dst` has room for `strips · mr · KC` values.
#[inline(always)]
fn pack_a(
    a: &[f32],
    lda: usize,
    rows: &std::ops::Range<usize>,
    k0: usize,
    kc: usize,
    mr: usize,
    dst: &mut [f32],
) {
    let strips = rows.len().div_ceil(mr);
    for s in 0..strips {
        let dst = &mut dst[s * mr * KC..s * mr * KC + mr * kc];
        for r in 0..mr {
            let row = rows.start + s * mr + r;
            if row < rows.end {
                let src = &a[row * lda + k0..row * lda + k0 + kc];
                for (kk, v) in src.iter().enumerate() {
                    dst[kk * mr + r] = *v;
                }
            } else {
                for kk in 0..kc {
                    dst[kk * mr + r] = 0.0;
                }
            }
        }
    }
}

/// One task: rows × column panels of C, over all of `k` in `KC` blocks (AVX2 6×16 kernel).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn block_avx2(
    a: &[f32],
    lda: usize,
    rows: std::ops::Range<usize>,
    cols: std::ops::Range<usize>,
    w: &PackedWeights,
    c: OutPtr,
    ldc: usize,
) {
    let k = w.k;
    let strips = rows.len().div_ceil(MR);
    with_packed_a(strips * MR * KC, |packed_a| {
        let mut k0 = 0;
        while k0 < k {
            let kc = KC.min(k - k0);
            pack_a(a, lda, &rows, k0, kc, MR, packed_a);
            for p in cols.clone() {
                let b = &w.panel(p)[k0 * NR..(k0 + kc) * NR];
                let col0 = p * NR;
                let ncols = NR.min(w.n - col0);
                for s in 0..strips {
                    let row0 = rows.start + s * MR;
                    let nrows = MR.min(rows.end - row0);
                    let ap = packed_a[s * MR * KC..].as_ptr();
                    // SAFETY: the tile lies inside C and belongs to this task.
                    let tile = unsafe { c.0.add(row0 * ldc + col0) };
                    if nrows == MR && ncols == NR {
                        unsafe { kernel_6x16(kc, ap, b.as_ptr(), tile, ldc) };
                    } else {
                        // Edge tile: run on a full scratch tile, copy the valid part back.
                        let mut scratch = [0f32; MR * NR];
                        for r in 0..nrows {
                            for j in 0..ncols {
                                scratch[r * NR + j] = unsafe { *tile.add(r * ldc + j) };
                            }
                        }
                        unsafe { kernel_6x16(kc, ap, b.as_ptr(), scratch.as_mut_ptr(), NR) };
                        for r in 0..nrows {
                            for j in 0..ncols {
                                unsafe { *tile.add(r * ldc + j) = scratch[r * NR + j] };
                            }
                        }
                    }
                }
            }
            k0 += kc;
        }
    });
}

/// `C[6×16] += Ap[kc×6]ᵀ-strip · Bp[kc×16]`, C row stride `ldc`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn kernel_6x16(kc: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize) {
    use crate::nn::simd256::{ld8, st8};
    use std::arch::x86_64::*;
    // SAFETY (whole body): the caller passes `kc·6` packed A values, `kc·16` packed B values
    // and a C tile of 6 rows × 16 columns with row stride `ldc`.
    unsafe {
        let mut acc = [[_mm256_setzero_ps(); 2]; MR];
        for (r, row) in acc.iter_mut().enumerate() {
            row[0] = ld8(c.add(r * ldc));
            row[1] = ld8(c.add(r * ldc + 8));
        }
        let (mut ap, mut bp) = (a, b);
        for _ in 0..kc {
            let b0 = ld8(bp);
            let b1 = ld8(bp.add(8));
            for (r, row) in acc.iter_mut().enumerate() {
                let av = _mm256_broadcast_ss(&*ap.add(r));
                row[0] = _mm256_fmadd_ps(av, b0, row[0]);
                row[1] = _mm256_fmadd_ps(av, b1, row[1]);
            }
            ap = ap.add(MR);
            bp = bp.add(NR);
        }
        for (r, row) in acc.iter().enumerate() {
            st8(c.add(r * ldc), row[0]);
            st8(c.add(r * ldc + 8), row[1]);
        }
    }
}

/// One task with the AVX-512F 14×32 kernel: panels are taken in pairs (a last odd panel
/// alone), edge tiles run on a scratch tile.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn block_avx512(
    a: &[f32],
    lda: usize,
    rows: std::ops::Range<usize>,
    cols: std::ops::Range<usize>,
    w: &PackedWeights,
    c: OutPtr,
    ldc: usize,
) {
    let k = w.k;
    let strips = rows.len().div_ceil(MR512);
    with_packed_a(strips * MR512 * KC, |packed_a| {
        let mut k0 = 0;
        while k0 < k {
            let kc = KC.min(k - k0);
            pack_a(a, lda, &rows, k0, kc, MR512, packed_a);
            let mut p = cols.start;
            while p < cols.end {
                let pair = p + 1 < cols.end;
                let b0 = w.panel(p)[k0 * NR..(k0 + kc) * NR].as_ptr();
                let b1 = if pair {
                    w.panel(p + 1)[k0 * NR..(k0 + kc) * NR].as_ptr()
                } else {
                    b0
                };
                let width = if pair { 2 * NR } else { NR };
                let col0 = p * NR;
                let ncols = width.min(w.n - col0);
                for s in 0..strips {
                    let row0 = rows.start + s * MR512;
                    let nrows = MR512.min(rows.end - row0);
                    let ap = packed_a[s * MR512 * KC..].as_ptr();
                    // SAFETY: the tile lies inside C and belongs to this task; `ap`, `b0`, `b1`
                    // hold `kc` packed steps.
                    unsafe {
                        let tile = c.0.add(row0 * ldc + col0);
                        let run = |dst: *mut f32, ld: usize| {
                            if pair {
                                kernel_avx512::<2>(kc, ap, b0, b1, dst, ld)
                            } else {
                                kernel_avx512::<1>(kc, ap, b0, b1, dst, ld)
                            }
                        };
                        if nrows == MR512 && ncols == width {
                            run(tile, ldc);
                        } else {
                            let mut scratch = [0f32; MR512 * 2 * NR];
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
    });
}

/// `C[14 × 16·NP] += Ap[kc×14]-strip · [Bp0 | Bp1][kc×16]`, C row stride `ldc` (`NP` is 1
/// or 2 panels; with 1, `b1` is not read).
///
/// The 14·NP accumulators are named variables (a macro writes them out): with an array of
/// registers LLVM kept them on the stack and reloaded every one on each `k` step, which ran
/// the model's matrix products at under half the FMA rate.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn kernel_avx512<const NP: usize>(
    kc: usize,
    a: *const f32,
    b0: *const f32,
    b1: *const f32,
    c: *mut f32,
    ldc: usize,
) {
    use crate::nn::simd512::{ld, st};
    use std::arch::x86_64::*;
    macro_rules! two_panels {
        ($(($r:literal, $x:ident, $y:ident)),* $(,)?) => {{
            $(
                let mut $x = ld(c.add($r * ldc));
                let mut $y = ld(c.add($r * ldc + NR));
            )*
            let (mut ap, mut p0, mut p1) = (a, b0, b1);
            for _ in 0..kc {
                let v0 = ld(p0);
                let v1 = ld(p1);
                $(
                    let av = _mm512_set1_ps(*ap.add($r));
                    $x = _mm512_fmadd_ps(av, v0, $x);
                    $y = _mm512_fmadd_ps(av, v1, $y);
                )*
                ap = ap.add(MR512);
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
                let v0 = ld(p0);
                $( $x = _mm512_fmadd_ps(_mm512_set1_ps(*ap.add($r)), v0, $x); )*
                ap = ap.add(MR512);
                p0 = p0.add(NR);
            }
            $( st(c.add($r * ldc), $x); )*
        }};
    }
    const _: () = assert!(MR512 == 14);
    // SAFETY (whole body): the caller passes `kc·14` packed A values, `kc·16` packed values
    // behind each panel pointer in use and a C tile of 14 rows × 16·NP columns, stride `ldc`.
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

#[cfg(test)]
mod tests {
    use super::*;

    /// GFLOP/s of each packed kernel on a ViT-B/16 MLP product (1576 × 3072 × 768, batch 8),
    /// on the current rayon pool: `cargo test -p kestrel-model --lib matmul_rate --
    /// --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement, not a check"]
    fn matmul_rate() {
        let (m, n, k) = (1576, 3072, 768);
        let a: Vec<f32> = (0..m * k)
            .map(|i| ((i % 97) as f32 - 48.0) * 1e-2)
            .collect();
        let w: Vec<f32> = (0..n * k)
            .map(|i| ((i % 89) as f32 - 44.0) * 1e-2)
            .collect();
        let packed = PackedWeights::pack(&w, n, k);
        for isa in [F32Isa::Avx2Fma, F32Isa::Avx512f] {
            if !isa::f32_supported(isa) {
                continue;
            }
            let mut c = vec![0f32; m * n];
            matmul_acc_with(isa, &a, m, &packed, &mut c);
            let t = std::time::Instant::now();
            let reps = 5;
            for _ in 0..reps {
                matmul_acc_with(isa, &a, m, &packed, &mut c);
            }
            let s = t.elapsed().as_secs_f64() / reps as f64;
            eprintln!(
                "{}: {:.1} GFLOP/s ({:.1} ms)",
                isa.name(),
                2.0 * (m * n * k) as f64 / s * 1e-9,
                s * 1e3
            );
        }
    }

    /// Every packed kernel this CPU has, against an f64 reference on ragged shapes: rows
    /// not a multiple of 6 or 14, an odd number of panels (a lone last panel with AVX-512),
    /// columns not a multiple of 16, `k` not a multiple of `KC`, one row block and several.
    #[test]
    fn packed_matmul_matches_f64_on_ragged_shapes() {
        for isa in [F32Isa::Avx2Fma, F32Isa::Avx512f] {
            if !isa::f32_supported(isa) {
                eprintln!("skip: this CPU has no {}", isa.name());
                continue;
            }
            for (m, k, n) in [
                (1, 3, 1),
                (7, 300, 33),
                (13, 512, 16),
                (15, 257, 48),
                (125, 257, 50),
                (130, 520, 100),
            ] {
                let a: Vec<f32> = (0..m * k)
                    .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
                    .collect();
                let w: Vec<f32> = (0..n * k)
                    .map(|i| ((i * 53) % 97) as f32 / 48.0 - 1.0)
                    .collect();
                let mut c: Vec<f32> = (0..m * n).map(|i| i as f32 * 0.01).collect();
                let mut want = c.clone();
                for i in 0..m {
                    for j in 0..n {
                        let s: f64 = (0..k)
                            .map(|t| a[i * k + t] as f64 * w[j * k + t] as f64)
                            .sum();
                        want[i * n + j] = (want[i * n + j] as f64 + s) as f32;
                    }
                }
                matmul_acc_with(isa, &a, m, &PackedWeights::pack(&w, n, k), &mut c);
                for (g, w) in c.iter().zip(&want) {
                    // f32 rounding of k products of magnitude ≤ 1 (k ≤ 520): ≤ k·2⁻²⁴·|sum|.
                    assert!(
                        (g - w).abs() < 1e-3,
                        "{}: {m}x{k}x{n}: {g} vs {w}",
                        isa.name()
                    );
                }
            }
        }
    }
}

//! `C += A·Wᵀ` for f32 on x86-64 with AVX2+FMA, against weights packed once at load time.
//!
//! The `gemm` crate reaches about half of this CPU's FMA peak on the model's shapes and repacks
//! the weight matrix on every call; inference multiplies by the same weights millions of
//! times, so they are packed once into 16-column panels (`[n/16][k][16]`) and a BLIS-style
//! 6×16 register-blocked micro-kernel (12 accumulators) runs over them. The activation matrix
//! is packed per 6-row strip and `k` block. Work is split over the rayon pool by row blocks
//! and column ranges, so one text query (a handful of rows) still uses every core.
//!
//! Other CPUs (no AVX2/FMA, or not x86-64) use [`crate::kernels`]' `gemm` path.

use rayon::prelude::*;

/// Micro-kernel rows.
const MR: usize = 6;
/// Micro-kernel columns (two AVX registers).
pub const NR: usize = 16;
/// `k` block: a 16-column panel slice of `KC` rows (16 KiB) stays in L1.
const KC: usize = 256;
/// Rows per task: the packed `MC × KC` block of A (120 KiB) stays in L2.
const MC: usize = 120;

/// Whether this CPU can run the packed kernel.
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
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

/// `c[m, n] += a[m, k] · Wᵀ` using the packed weights. Requires [`available`].
pub fn matmul_acc(a: &[f32], m: usize, w: &PackedWeights, c: &mut [f32]) {
    let (n, k) = (w.n, w.k);
    assert_eq!(a.len(), m * k, "matmul: A has the wrong size");
    assert_eq!(c.len(), m * n, "matmul: C has the wrong size");
    assert!(available(), "matmul: the packed kernel needs AVX2 and FMA");
    if m == 0 || n == 0 {
        return;
    }
    let panels = n.div_ceil(NR);
    let row_blocks = m.div_ceil(MC);
    // Enough tasks to keep every thread busy, never splitting finer than one panel.
    let threads = rayon::current_num_threads().max(1);
    let col_chunks = (2 * threads).div_ceil(row_blocks).clamp(1, panels);
    let panels_per_chunk = panels.div_ceil(col_chunks);
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
            // SAFETY: `available()` was checked; the task owns rows × (panels in `cols`) of C.
            unsafe { block(a, k, rows, cols, w, out, n) };
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
    assert!(available(), "matmul: the packed kernel needs AVX2 and FMA");
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
    unsafe { block(a, lda, 0..m, 0..panels, w, OutPtr(c.as_mut_ptr()), ldc) };
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn block(
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

/// One task: rows × column panels of C, over all of `k` in `KC` blocks.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn block(
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
    let mut packed_a = vec![0f32; strips * MR * KC];
    let mut k0 = 0;
    while k0 < k {
        let kc = KC.min(k - k0);
        // Pack A[rows, k0..k0+kc] as strips of MR rows, k-major: strip s, step kk, row r.
        for s in 0..strips {
            let dst = &mut packed_a[s * MR * KC..s * MR * KC + MR * kc];
            for r in 0..MR {
                let row = rows.start + s * MR + r;
                if row < rows.end {
                    let src = &a[row * lda + k0..row * lda + k0 + kc];
                    for (kk, v) in src.iter().enumerate() {
                        dst[kk * MR + r] = *v;
                    }
                } else {
                    for kk in 0..kc {
                        dst[kk * MR + r] = 0.0;
                    }
                }
            }
        }
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
}

/// `C[6×16] += Ap[kc×6]ᵀ-strip · Bp[kc×16]`, C row stride `ldc`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn kernel_6x16(kc: usize, a: *const f32, b: *const f32, c: *mut f32, ldc: usize) {
    use std::arch::x86_64::*;
    // SAFETY (whole body): the caller passes `kc·6` packed A values, `kc·16` packed B values
    // and a C tile of 6 rows × 16 columns with row stride `ldc`.
    unsafe {
        let mut acc = [[_mm256_setzero_ps(); 2]; MR];
        for (r, row) in acc.iter_mut().enumerate() {
            row[0] = _mm256_loadu_ps(c.add(r * ldc));
            row[1] = _mm256_loadu_ps(c.add(r * ldc + 8));
        }
        let (mut ap, mut bp) = (a, b);
        for _ in 0..kc {
            let b0 = _mm256_loadu_ps(bp);
            let b1 = _mm256_loadu_ps(bp.add(8));
            for (r, row) in acc.iter_mut().enumerate() {
                let av = _mm256_broadcast_ss(&*ap.add(r));
                row[0] = _mm256_fmadd_ps(av, b0, row[0]);
                row[1] = _mm256_fmadd_ps(av, b1, row[1]);
            }
            ap = ap.add(MR);
            bp = bp.add(NR);
        }
        for (r, row) in acc.iter().enumerate() {
            _mm256_storeu_ps(c.add(r * ldc), row[0]);
            _mm256_storeu_ps(c.add(r * ldc + 8), row[1]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_matmul_matches_naive_on_ragged_shapes() {
        if !available() {
            eprintln!("skip: no AVX2/FMA");
            return;
        }
        for (m, k, n) in [(1, 3, 1), (7, 300, 33), (13, 512, 16), (125, 257, 50)] {
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
            matmul_acc(&a, m, &PackedWeights::pack(&w, n, k), &mut c);
            for (g, w) in c.iter().zip(&want) {
                assert!((g - w).abs() < 1e-3, "{m}x{k}x{n}: {g} vs {w}");
            }
        }
    }
}

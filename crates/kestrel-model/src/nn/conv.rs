//! 2-D convolution on the packed f32 matmul kernel ([`crate::nn::matmul`]). Per image the
//! NCHW input is transposed to HWC, so that im2col copies `C` contiguous values per kernel
//! tap into `[Ho·Wo, k·k·C]` rows (a 1×1, stride-1 convolution uses the HWC image as it is);
//! one `A·Wᵀ` runs against the weight permuted to `[out, ky, kx, C]` and packed once at
//! load time; the bias is added while the `[Ho·Wo, out]` result is transposed back to NCHW.
//!
//! Measured on RN50 (AMD EPYC Zen 4 with AVX-512F, 2 threads, batch 4,
//! `packaging/bench/torch_remoteclip.py`): with candle's CPU `conv2d` (im2col feeding the
//! `gemm` crate, which repacks the weights on every call) the image tower ran at 3.99 img/s,
//! 0.25× PyTorch 2.14 (oneDNN); with this 10.0 img/s, 0.71×. What is left is mostly layout:
//! the NCHW↔HWC transposes around every convolution and candle's elementwise ops between
//! them; a tower kept in HWC throughout would drop the transposes.

use rayon::prelude::*;

use crate::nn::matmul::{self, PackedWeights};

/// A convolution with square kernel `k`, `stride` and zero `padding`, and a per-output
/// channel bias (a folded BatchNorm's shift), over f32 NCHW data.
#[derive(Debug, Clone)]
pub struct PackedConv {
    /// `[out, k·k·in]` with columns ordered ky, kx, channel.
    weight: PackedWeights,
    bias: Vec<f32>,
    in_channels: usize,
    k: usize,
    stride: usize,
    padding: usize,
}

/// Rows × columns of a transpose tile (a 64×64 f32 tile is 16 KiB: L1).
const TILE: usize = 64;

impl PackedConv {
    /// `weight` is `[out, in, k, k]` row-major (torch's layout), `bias` `[out]`. Requires
    /// [`matmul::available`].
    pub fn new(
        weight: &[f32],
        bias: Vec<f32>,
        in_channels: usize,
        k: usize,
        stride: usize,
        padding: usize,
    ) -> Self {
        let out = bias.len();
        let (c, kk) = (in_channels, k * k);
        assert_eq!(
            weight.len(),
            out * c * kk,
            "conv: weight has the wrong size"
        );
        assert!(stride >= 1 && k >= 1, "conv: zero kernel or stride");
        // [out, c, ky, kx] -> [out, ky, kx, c]: the order of the HWC im2col's columns
        let mut permuted = vec![0f32; weight.len()];
        for o in 0..out {
            for ch in 0..c {
                for t in 0..kk {
                    permuted[(o * kk + t) * c + ch] = weight[(o * c + ch) * kk + t];
                }
            }
        }
        Self {
            weight: PackedWeights::pack(&permuted, out, c * kk),
            bias,
            in_channels,
            k,
            stride,
            padding,
        }
    }

    /// The output's height and width for an `h × w` input.
    pub fn output_size(&self, h: usize, w: usize) -> (usize, usize) {
        let o = |n: usize| (n + 2 * self.padding).saturating_sub(self.k) / self.stride + 1;
        (o(h), o(w))
    }

    /// `x` is `[b, in, h, w]` NCHW; returns `[b, out, ho, wo]` and `(ho, wo)`.
    pub fn forward(&self, x: &[f32], b: usize, h: usize, w: usize) -> (Vec<f32>, usize, usize) {
        let c = self.in_channels;
        assert_eq!(x.len(), b * c * h * w, "conv: input has the wrong size");
        let (ho, wo) = self.output_size(h, w);
        let out = self.bias.len();
        let cols = c * self.k * self.k;
        let rows = ho * wo;
        let direct = self.k == 1 && self.stride == 1 && self.padding == 0;
        let mut y = vec![0f32; b * out * rows];
        // One image at a time keeps the im2col matrix (a few MB for RN50's 3×3 stages)
        // small; the matmul itself is parallel over rows and columns. (Grouping several
        // late-stage images into one matmul measured no faster.)
        let mut hwc = vec![0f32; h * w * c];
        let mut a = if direct {
            Vec::new()
        } else {
            vec![0f32; rows * cols]
        };
        let mut prod = vec![0f32; rows * out];
        for (img, y_img) in x
            .chunks_exact(c * h * w)
            .zip(y.chunks_exact_mut(out * rows))
        {
            transpose(img, c, h * w, &mut hwc, None);
            if !direct {
                self.im2col(&hwc, h, w, wo, &mut a);
            }
            prod.fill(0.0);
            let a = if direct { &hwc } else { &a };
            matmul::matmul_acc(a, rows, &self.weight, &mut prod);
            transpose(&prod, rows, out, y_img, Some(&self.bias));
        }
        (y, ho, wo)
    }

    /// Rows of `a` (`[ho·wo, k·k·in]`, columns ky, kx, channel) from one HWC image, zero
    /// outside it; parallel over output rows.
    fn im2col(&self, hwc: &[f32], h: usize, w: usize, wo: usize, a: &mut [f32]) {
        let (k, s, p, c) = (self.k, self.stride, self.padding, self.in_channels);
        let cols = c * k * k;
        a.par_chunks_mut(wo * cols)
            .enumerate()
            .for_each(|(oy, band)| {
                for (ox, row) in band.chunks_exact_mut(cols).enumerate() {
                    for ky in 0..k {
                        let iy = (oy * s + ky) as isize - p as isize;
                        for kx in 0..k {
                            let ix = (ox * s + kx) as isize - p as isize;
                            let dst = &mut row[(ky * k + kx) * c..(ky * k + kx + 1) * c];
                            if iy < 0 || iy >= h as isize || ix < 0 || ix >= w as isize {
                                dst.fill(0.0);
                            } else {
                                let at = (iy as usize * w + ix as usize) * c;
                                dst.copy_from_slice(&hwc[at..at + c]);
                            }
                        }
                    }
                }
            });
    }
}

/// `dst[j, i] = src[i, j] (+ bias[j])` for `src` `[rows, cols]`, in L1-sized tiles,
/// parallel over tiles of `dst`'s rows.
fn transpose(src: &[f32], rows: usize, cols: usize, dst: &mut [f32], bias: Option<&[f32]>) {
    debug_assert_eq!(src.len(), rows * cols);
    dst.par_chunks_mut(TILE * rows)
        .enumerate()
        .for_each(|(t, band)| {
            let j0 = t * TILE;
            let j_n = (cols - j0).min(TILE);
            for i0 in (0..rows).step_by(TILE) {
                let i_n = (rows - i0).min(TILE);
                for jj in 0..j_n {
                    let j = j0 + jj;
                    let add = bias.map_or(0.0, |b| b[j]);
                    let d = &mut band[jj * rows + i0..jj * rows + i0 + i_n];
                    for (ii, v) in d.iter_mut().enumerate() {
                        *v = src[(i0 + ii) * cols + j] + add;
                    }
                }
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    /// Against candle's `conv2d` on random data, for the shapes RN50 has (3×3 with and
    /// without stride, 1×1) and an odd size.
    #[test]
    fn matches_candle_conv2d() {
        if !matmul::available() {
            eprintln!("skip: no packed matmul kernel on this CPU");
            return;
        }
        let mut seed = 7u32;
        let mut rnd = move || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        };
        for (b, c, h, w, out, k, s, p) in [
            (2, 3, 17, 13, 8, 3, 2, 1),
            (1, 16, 9, 9, 20, 3, 1, 1),
            (3, 24, 7, 5, 40, 1, 1, 0),
            (1, 5, 4, 4, 3, 3, 1, 0),
        ] {
            let x: Vec<f32> = (0..b * c * h * w).map(|_| rnd()).collect();
            let wt: Vec<f32> = (0..out * c * k * k).map(|_| rnd()).collect();
            let bias: Vec<f32> = (0..out).map(|_| rnd()).collect();
            let conv = PackedConv::new(&wt, bias.clone(), c, k, s, p);
            let (got, ho, wo) = conv.forward(&x, b, h, w);
            let dev = Device::Cpu;
            let want = Tensor::from_slice(&x, (b, c, h, w), &dev)
                .unwrap()
                .conv2d(
                    &Tensor::from_slice(&wt, (out, c, k, k), &dev).unwrap(),
                    p,
                    s,
                    1,
                    1,
                )
                .unwrap()
                .broadcast_add(&Tensor::from_slice(&bias, (1, out, 1, 1), &dev).unwrap())
                .unwrap();
            assert_eq!(want.dims(), &[b, out, ho, wo]);
            let want = want.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let d = got
                .iter()
                .zip(&want)
                .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(d < 1e-5, "{b}x{c}x{h}x{w} k{k} s{s} p{p}: off by {d}");
        }
    }
}

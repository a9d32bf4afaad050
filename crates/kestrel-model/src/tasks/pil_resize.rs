//! open_clip's RGB preprocessing as its PIL path computes it (RemoteCLIP, RS-M-CLIP): PIL's
//! 8-bit resampler (`Image.resize(size, BICUBIC)`), centre crop, `ToTensor` (`/255`) and
//! the mean/std normalisation.
//!
//! PIL resamples 8-bit images in two passes, horizontal then vertical, each with filter taps
//! computed in f64 (cubic a = −0.5, support widened by the scale when downsampling, taps
//! renormalised at the borders), quantised to 22-bit fixed point, accumulated in i32 from a
//! half-unit bias, and clipped to uint8 after each pass. This is a port of Pillow's
//! `Resample.c` (`precompute_coeffs`, `normalize_coeffs_8bpc`, `ImagingResample*_8bpc`); a
//! float resampler differs from it by up to 40 LSB on noise, this one by none.

use crate::load::config::Interpolation;

/// Fixed-point bits of the 8-bit taps (`PRECISION_BITS` in Pillow).
const PRECISION_BITS: u32 = 32 - 8 - 2;

fn bicubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

fn bilinear(x: f64) -> f64 {
    let x = x.abs();
    if x < 1.0 { 1.0 - x } else { 0.0 }
}

/// Per output index: first input index and fixed-point taps (Pillow's `precompute_coeffs`
/// followed by `normalize_coeffs_8bpc`).
fn coeffs(in_size: usize, out_size: usize, interp: Interpolation) -> Vec<(usize, Vec<i32>)> {
    let (support, filter): (f64, fn(f64) -> f64) = match interp {
        Interpolation::Bicubic => (2.0, bicubic),
        Interpolation::Bilinear => (1.0, bilinear),
    };
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = support * filterscale;
    let ss = 1.0 / filterscale;
    (0..out_size)
        .map(|xx| {
            let center = (xx as f64 + 0.5) * scale;
            let xmin = ((center - support + 0.5) as i64).max(0);
            let xmax = ((center + support + 0.5) as i64).min(in_size as i64);
            let n = (xmax - xmin).max(0) as usize;
            let w: Vec<f64> = (0..n)
                .map(|x| filter((x as f64 + xmin as f64 - center + 0.5) * ss))
                .collect();
            let total: f64 = w.iter().sum();
            let one = (1u32 << PRECISION_BITS) as f64;
            let k = w
                .iter()
                .map(|&v| {
                    let v = if total != 0.0 { v / total } else { v };
                    if v < 0.0 {
                        (-0.5 + v * one) as i32
                    } else {
                        (0.5 + v * one) as i32
                    }
                })
                .collect();
            (xmin as usize, k)
        })
        .collect()
}

/// Pillow's `clip8`: the accumulator shifted down and clamped to a byte.
fn clip8(acc: i32) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

/// PIL's `Image.resize((out_w, out_h), filter)` of an 8-bit HWC image with `channels`
/// interleaved samples per pixel. A dimension whose size does not change is not resampled.
pub fn resize_u8(
    hwc: &[u8],
    channels: usize,
    (h, w): (usize, usize),
    (out_h, out_w): (usize, usize),
    interp: Interpolation,
) -> Vec<u8> {
    let half = 1i32 << (PRECISION_BITS - 1);
    let mut cur = hwc.to_vec();
    if out_w != w {
        let taps = coeffs(w, out_w, interp);
        let mut next = vec![0u8; h * out_w * channels];
        for (src, dst) in cur
            .chunks_exact(w * channels)
            .zip(next.chunks_exact_mut(out_w * channels))
        {
            for (xx, (xmin, k)) in taps.iter().enumerate() {
                for c in 0..channels {
                    let mut acc = half;
                    for (x, kx) in k.iter().enumerate() {
                        acc += src[(xmin + x) * channels + c] as i32 * kx;
                    }
                    dst[xx * channels + c] = clip8(acc);
                }
            }
        }
        cur = next;
    }
    if out_h != h {
        let row = out_w * channels;
        let taps = coeffs(h, out_h, interp);
        let mut next = vec![0u8; out_h * row];
        let mut acc = vec![0i32; row];
        for (yy, (ymin, k)) in taps.iter().enumerate() {
            acc.iter_mut().for_each(|a| *a = half);
            for (y, ky) in k.iter().enumerate() {
                let src = &cur[(ymin + y) * row..(ymin + y + 1) * row];
                acc.iter_mut()
                    .zip(src)
                    .for_each(|(a, &v)| *a += v as i32 * ky);
            }
            for (d, a) in next[yy * row..(yy + 1) * row].iter_mut().zip(&acc) {
                *d = clip8(*a);
            }
        }
        cur = next;
    }
    cur
}

/// The resize and centre crop of open_clip's RGB transform on an 8-bit HWC image: the
/// shorter side to `size` (`resized`: `(rh, rw)`), then the crop at `(top, left)`. Returns
/// `size × size × channels` bytes, HWC.
pub fn resize_crop_u8(
    hwc: &[u8],
    channels: usize,
    (h, w): (usize, usize),
    resized: (usize, usize),
    (top, left): (usize, usize),
    size: usize,
    interp: Interpolation,
) -> Vec<u8> {
    let (rh, rw) = resized;
    let r = if (rh, rw) == (h, w) {
        hwc.to_vec()
    } else {
        resize_u8(hwc, channels, (h, w), (rh, rw), interp)
    };
    let mut out = Vec::with_capacity(size * size * channels);
    for y in 0..size {
        let start = ((top + y) * rw + left) * channels;
        out.extend_from_slice(&r[start..start + size * channels]);
    }
    out
}

/// `ToTensor` and `Normalize` of a cropped 8-bit HWC image: CHW f32,
/// `(v / 255 − mean) / std` in f32 as torchvision computes it.
pub fn to_tensor_normalize(hwc: &[u8], channels: usize, mean: &[f32], std: &[f32]) -> Vec<f32> {
    let n = hwc.len() / channels.max(1);
    let mut out = vec![0f32; hwc.len()];
    for c in 0..channels {
        let (m, s) = (mean[c], std[c]);
        for (i, o) in out[c * n..(c + 1) * n].iter_mut().enumerate() {
            *o = (hwc[i * channels + c] as f32 / 255.0 - m) / s;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taps_sum_to_one_in_fixed_point() {
        for (i, o) in [(120, 224), (300, 262), (219, 225), (7, 3)] {
            for (xmin, k) in coeffs(i, o, Interpolation::Bicubic) {
                let s: i32 = k.iter().sum();
                assert!(
                    (s - (1 << PRECISION_BITS)).abs() <= k.len() as i32,
                    "{i}->{o}"
                );
                assert!(xmin + k.len() <= i);
            }
        }
    }

    #[test]
    fn constant_image_stays_constant() {
        let img = vec![77u8; 13 * 11 * 3];
        let out = resize_u8(&img, 3, (11, 13), (20, 24), Interpolation::Bicubic);
        assert_eq!(out.len(), 20 * 24 * 3);
        assert!(out.iter().all(|&v| v == 77));
    }
}

//! MS-CLIP image preprocessing, exactly as the reference (torchvision) computes it, on an f32
//! CHW array of *harmonised* L2A DN (reflectance × 10000, BOA offset removed):
//!
//! 1. band selection — by band name when every band is named, else by count
//!    (12-band L2A → drop B01, B09; 13-band L1C → drop B01, B09, B10; 10 → as is);
//! 2. resize of the shorter side to 224 with torchvision's antialiased resampling
//!    (`Resize(224, bicubic)`: PIL-style cubic a = −0.5, support widened by the scale when
//!    downsampling, taps renormalised at the borders; width pass first, then height;
//!    identity when the size already matches);
//! 3. centre crop (offset `round((W − 224)/2)` with Python's half-to-even rounding);
//! 4. `(x − mean_f32) / std_f32` per band.
//!
//! 8-bit RGB models (`PixelScale::Rgb8`: RemoteCLIP, RS-M-CLIP) take open_clip's PIL path
//! instead for steps 2–4 ([`crate::tasks::pil_resize`]): PIL's uint8 resampler, the same crop,
//! then `/255` and the OpenAI mean/std.
//!
//! Reading image files is the application's job (GDAL lives there); this module takes
//! [`RawImage`]s.

use std::path::{Path, PathBuf};

use crate::load::config::{Interpolation, PixelScale, PreprocessConfig};

/// Errors preparing an image for the model; each names the image.
#[derive(Debug, thiserror::Error)]
pub enum PreprocessError {
    #[error("image {path}: {reason}")]
    Bands { path: PathBuf, reason: String },
    #[error("image {path}: {reason}")]
    Shape { path: PathBuf, reason: String },
}

/// Pixels of one image as read: f32, CHW, with band names where the file gives them.
#[derive(Debug, Clone, PartialEq)]
pub struct RawImage {
    /// Where the image came from (for messages).
    pub source: PathBuf,
    /// `bands × height × width` values, band-major.
    pub data: Vec<f32>,
    /// Per-band description from the file (`None` when empty).
    pub bands: Vec<Option<String>>,
    pub width: usize,
    pub height: usize,
}

impl RawImage {
    pub fn band_count(&self) -> usize {
        self.bands.len()
    }

    /// Build from an HWC array (as numpy/tifffile hold it).
    pub fn from_hwc(source: &Path, hwc: &[f32], height: usize, width: usize, bands: usize) -> Self {
        let mut data = vec![0f32; hwc.len()];
        for y in 0..height {
            for x in 0..width {
                for c in 0..bands {
                    data[(c * height + y) * width + x] = hwc[(y * width + x) * bands + c];
                }
            }
        }
        Self {
            source: source.to_path_buf(),
            data,
            bands: vec![None; bands],
            width,
            height,
        }
    }

    fn plane(&self, c: usize) -> &[f32] {
        let n = self.width * self.height;
        &self.data[c * n..(c + 1) * n]
    }
}

/// Canonical Sentinel-2 band name (`B02`, `B8A`, `B12`) from a description such as `B2`,
/// `b8a` or `B04 (665 nm)`; `None` when it does not name one.
pub fn s2_band_name(desc: &str) -> Option<String> {
    let d = desc.trim().to_ascii_uppercase();
    let rest = d.strip_prefix('B')?;
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    let after = &rest[digits.len()..];
    let (name, after) = if digits == "8" && after.starts_with('A') {
        ("B8A".to_owned(), &after[1..])
    } else {
        let n: u32 = digits.parse().ok()?;
        if !(1..=12).contains(&n) {
            return None;
        }
        (format!("B{n:02}"), after)
    };
    if after
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
    {
        return None;
    }
    Some(name)
}

/// Pick the model's input bands from `img`.
pub fn select_bands(
    img: &RawImage,
    wanted: &[String],
    in_channels: usize,
) -> Result<RawImage, PreprocessError> {
    let n = img.band_count();
    let names: Option<Vec<String>> = img
        .bands
        .iter()
        .map(|b| b.as_deref().and_then(s2_band_name))
        .collect();
    let pick: Vec<usize> = match names {
        Some(names) if !wanted.is_empty() => wanted
            .iter()
            .map(|w| {
                names
                    .iter()
                    .position(|n| n == w)
                    .ok_or_else(|| PreprocessError::Bands {
                        path: img.source.clone(),
                        reason: format!(
                            "band {w} is missing (the image has {}); the model needs {}",
                            names.join(" "),
                            wanted.join(" ")
                        ),
                    })
            })
            .collect::<Result<_, _>>()?,
        _ => {
            let drop: &[usize] = match (in_channels, n) {
                (10, 12) => &[0, 9],
                (10, 13) => &[0, 9, 10],
                (c, n) if c == n => &[],
                _ => {
                    let need = if in_channels == 10 {
                        "MS-CLIP needs 10 bands (B02 B03 B04 B05 B06 B07 B08 B8A B11 B12), \
                         12 (L2A, with B01 and B09) or 13 (L1C)"
                            .to_owned()
                    } else {
                        format!("the model needs {in_channels}")
                    };
                    return Err(PreprocessError::Bands {
                        path: img.source.clone(),
                        reason: format!("image has {n} bands; {need}"),
                    });
                }
            };
            (0..n).filter(|i| !drop.contains(i)).collect()
        }
    };
    let mut data = Vec::with_capacity(pick.len() * img.width * img.height);
    for &c in &pick {
        data.extend_from_slice(img.plane(c));
    }
    Ok(RawImage {
        source: img.source.clone(),
        data,
        bands: pick.iter().map(|&c| img.bands[c].clone()).collect(),
        width: img.width,
        height: img.height,
    })
}

/// torchvision's output size for `Resize([size])`: the shorter side becomes `size`, the
/// longer `int(size · long / short)`. Returns `(height, width)`.
pub fn resized_size(height: usize, width: usize, size: usize) -> (usize, usize) {
    let (short, long) = if width <= height {
        (width, height)
    } else {
        (height, width)
    };
    let new_long = (size as f64 * long as f64 / short as f64) as usize;
    if width <= height {
        (new_long, size)
    } else {
        (size, new_long)
    }
}

/// PIL-style cubic (a = −0.5). torch's build contracts these polynomials into fused
/// multiply-adds, so they are written with `mul_add` to give the same weights bit for bit.
fn cubic_aa(x: f32) -> f32 {
    const A: f32 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0).mul_add(x, -(A + 3.0)) * x).mul_add(x, 1.0)
    } else if x < 2.0 {
        A.mul_add(x, -5.0 * A)
            .mul_add(x, 8.0 * A)
            .mul_add(x, -4.0 * A)
    } else {
        0.0
    }
}

fn linear_aa(x: f32) -> f32 {
    let x = x.abs();
    if x < 1.0 { 1.0 - x } else { 0.0 }
}

/// Per output index: first input index and normalised weights (torch's
/// `_compute_indices_min_size_weights_aa`, in f32 like torch for float images).
fn aa_weights(in_size: usize, out_size: usize, interp: Interpolation) -> Vec<(usize, Vec<f32>)> {
    let (interp_size, filter): (f64, fn(f32) -> f32) = match interp {
        Interpolation::Bicubic => (4.0, cubic_aa),
        Interpolation::Bilinear => (2.0, linear_aa),
    };
    let scale = in_size as f32 / out_size as f32;
    let support = if scale >= 1.0 {
        (interp_size * 0.5 * scale as f64) as f32
    } else {
        (interp_size * 0.5) as f32
    };
    let max_interp = (support as f64).ceil() as i64 * 2 + 1;
    let invscale = if scale >= 1.0 {
        (1.0 / scale as f64) as f32
    } else {
        1.0
    };
    (0..out_size)
        .map(|i| {
            let center = (scale as f64 * (i as f64 + 0.5)) as f32;
            let xmin = (((center - support) as f64 + 0.5) as i64).max(0);
            let xsize = ((((center + support) as f64 + 0.5) as i64).min(in_size as i64) - xmin)
                .clamp(0, max_interp);
            let mut w: Vec<f32> = (0..xsize)
                .map(|j| {
                    let arg =
                        ((((j + xmin) as f32 - center) as f64 + 0.5) * invscale as f64) as f32;
                    filter(arg)
                })
                .collect();
            let total: f32 = w.iter().fold(0.0, |a, b| a + b);
            if total != 0.0 {
                w.iter_mut().for_each(|v| *v /= total);
            }
            (xmin as usize, w)
        })
        .collect()
}

/// Antialiased resize of a CHW array to `out_h × out_w` (width pass, then height pass; a
/// dimension whose size does not change is left alone).
pub fn resize_aa(
    chw: &[f32],
    channels: usize,
    (h, w): (usize, usize),
    (out_h, out_w): (usize, usize),
    interp: Interpolation,
) -> Vec<f32> {
    let mut cur = chw.to_vec();
    let mut cur_w = w;
    if out_w != w {
        let taps = aa_weights(w, out_w, interp);
        let mut next = vec![0f32; channels * h * out_w];
        for (src, dst) in cur.chunks_exact(w).zip(next.chunks_exact_mut(out_w)) {
            for (d, (xmin, ws)) in dst.iter_mut().zip(&taps) {
                let mut acc = 0f32;
                for (j, wt) in ws.iter().enumerate() {
                    acc = if j == 0 {
                        src[*xmin] * wt
                    } else {
                        src[xmin + j].mul_add(*wt, acc)
                    };
                }
                *d = acc;
            }
        }
        cur = next;
        cur_w = out_w;
    }
    if out_h != h {
        let taps = aa_weights(h, out_h, interp);
        let mut next = vec![0f32; channels * out_h * cur_w];
        for c in 0..channels {
            let src = &cur[c * h * cur_w..(c + 1) * h * cur_w];
            let dst = &mut next[c * out_h * cur_w..(c + 1) * out_h * cur_w];
            for (y, (ymin, ws)) in taps.iter().enumerate() {
                let row = &mut dst[y * cur_w..(y + 1) * cur_w];
                for (j, wt) in ws.iter().enumerate() {
                    let s = &src[(ymin + j) * cur_w..(ymin + j + 1) * cur_w];
                    if j == 0 {
                        row.iter_mut().zip(s).for_each(|(r, v)| *r = v * wt);
                    } else {
                        row.iter_mut()
                            .zip(s)
                            .for_each(|(r, v)| *r = v.mul_add(*wt, *r));
                    }
                }
            }
        }
        cur = next;
    }
    cur
}

/// Python's `round()` of `x / 2` for a non-negative integer `x` (halves go to even).
fn half_round_even(x: usize) -> usize {
    let q = x / 2;
    if x % 2 == 1 && q % 2 == 1 { q + 1 } else { q }
}

/// Nodata (NaN: outside a scene, or DN 0 of a harmonised read; also ±inf, which no
/// measurement is and which would make the whole embedding NaN) carries no signal: a pixel
/// with nodata in any band gets every band's mean, which normalises to 0. `data` is
/// band-major with `plane` values per band. Raw GDAL reads and the oracle have no NaN.
pub fn fill_nodata(data: &mut [f32], plane: usize, means: &[f32]) {
    if plane == 0 || data.iter().all(|v| v.is_finite()) {
        return;
    }
    let bands = data.len() / plane;
    for i in 0..plane {
        if (0..bands).any(|b| !data[b * plane + i].is_finite()) {
            for (b, m) in means.iter().enumerate().take(bands) {
                data[b * plane + i] = *m;
            }
        }
    }
}

/// Run steps 2–4 on an image that already has the model's bands. Returns `C × S × S`.
pub fn resize_crop_normalize(
    img: &RawImage,
    cfg: &PreprocessConfig,
) -> Result<Vec<f32>, PreprocessError> {
    let c = img.band_count();
    if c != cfg.mean.len() {
        return Err(PreprocessError::Bands {
            path: img.source.clone(),
            reason: format!(
                "has {c} bands after selection, normalisation needs {}",
                cfg.mean.len()
            ),
        });
    }
    if img.data.len() != c * img.width * img.height || img.width == 0 || img.height == 0 {
        return Err(PreprocessError::Shape {
            path: img.source.clone(),
            reason: format!(
                "{} values do not make {c}x{}x{}",
                img.data.len(),
                img.height,
                img.width
            ),
        });
    }
    let s = cfg.image_size;
    let (rh, rw) = resized_size(img.height, img.width, s);
    if rh < s || rw < s {
        return Err(PreprocessError::Shape {
            path: img.source.clone(),
            reason: format!(
                "{}x{} pixels cannot be resized to cover {s}x{s}",
                img.width, img.height
            ),
        });
    }
    let top = half_round_even(rh - s);
    let left = half_round_even(rw - s);
    if cfg.pixels == PixelScale::Rgb8 {
        return Ok(rgb8_resize_crop_normalize(img, cfg, (rh, rw), (top, left)));
    }
    let mut data = img.data.clone();
    fill_nodata(&mut data, img.width * img.height, &cfg.mean);
    let resized = if (rh, rw) == (img.height, img.width) {
        data
    } else {
        resize_aa(
            &data,
            c,
            (img.height, img.width),
            (rh, rw),
            cfg.interpolation,
        )
    };
    let mut out = Vec::with_capacity(c * s * s);
    for ch in 0..c {
        let (m, sd) = (cfg.mean[ch], cfg.std[ch]);
        for y in 0..s {
            let row = &resized[(ch * rh + top + y) * rw + left..][..s];
            out.extend(row.iter().map(|v| (v - m) / sd));
        }
    }
    Ok(out)
}

/// An 8-bit image's bytes, HWC, as PIL holds them: values rounded and clamped to 0–255, and
/// nodata (non-finite) pixels set to the mean colour in every band.
pub fn rgb8_bytes(img: &RawImage, mean: &[f32]) -> Vec<u8> {
    let plane = img.width * img.height;
    let c = img.band_count();
    let mut data = img.data.clone();
    let means: Vec<f32> = mean.iter().map(|m| m * 255.0).collect();
    fill_nodata(&mut data, plane, &means);
    let mut hwc = vec![0u8; data.len()];
    for ch in 0..c {
        for (i, v) in data[ch * plane..(ch + 1) * plane].iter().enumerate() {
            hwc[i * c + ch] = v.round().clamp(0.0, 255.0) as u8;
        }
    }
    hwc
}

/// Steps 2–4 on the PIL path (sizes already checked).
fn rgb8_resize_crop_normalize(
    img: &RawImage,
    cfg: &PreprocessConfig,
    resized: (usize, usize),
    top_left: (usize, usize),
) -> Vec<f32> {
    let c = img.band_count();
    let hwc = rgb8_bytes(img, &cfg.mean);
    let cropped = crate::tasks::pil_resize::resize_crop_u8(
        &hwc,
        c,
        (img.height, img.width),
        resized,
        top_left,
        cfg.image_size,
        cfg.interpolation,
    );
    crate::tasks::pil_resize::to_tensor_normalize(&cropped, c, &cfg.mean, &cfg.std)
}

/// Full preprocessing of a raw image: band selection, resize, crop, normalisation.
pub fn preprocess(
    img: &RawImage,
    cfg: &PreprocessConfig,
    in_channels: usize,
) -> Result<Vec<f32>, PreprocessError> {
    let selected = select_bands(img, &cfg.bands, in_channels)?;
    resize_crop_normalize(&selected, cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodata_pixels_get_every_band_mean() {
        // 2 bands x 2 pixels; pixel 1 is nodata in band 0 only
        let mut d = vec![150.0, f32::NAN, 7.0, 9.0];
        fill_nodata(&mut d, 2, &[100.0, 5.0]);
        assert_eq!(d, vec![150.0, 100.0, 7.0, 5.0]);
        // ±inf is nodata too (it would make the embedding NaN)
        let mut d = vec![f32::INFINITY, 1.0, 7.0, 2.0, 3.0, f32::NEG_INFINITY];
        fill_nodata(&mut d, 3, &[100.0, 5.0]);
        assert_eq!(d, vec![100.0, 1.0, 100.0, 5.0, 3.0, 5.0]);
    }

    #[test]
    fn band_names_are_canonicalised() {
        assert_eq!(s2_band_name("B2").as_deref(), Some("B02"));
        assert_eq!(s2_band_name(" b8a ").as_deref(), Some("B8A"));
        assert_eq!(s2_band_name("B12").as_deref(), Some("B12"));
        assert_eq!(s2_band_name("B04 (665 nm)").as_deref(), Some("B04"));
        assert_eq!(s2_band_name("Blue"), None);
        assert_eq!(s2_band_name("B13"), None);
        assert_eq!(s2_band_name("B1x"), None);
    }

    #[test]
    fn output_sizes_follow_torchvision() {
        assert_eq!(resized_size(120, 120, 224), (224, 224));
        assert_eq!(resized_size(300, 256, 224), (262, 224));
        assert_eq!(resized_size(224, 300, 224), (224, 300));
        assert_eq!(half_round_even(76), 38);
        assert_eq!(half_round_even(1), 0); // round(0.5) == 0
        assert_eq!(half_round_even(3), 2); // round(1.5) == 2
        assert_eq!(half_round_even(5), 2); // round(2.5) == 2
    }

    #[test]
    fn weights_sum_to_one_and_widen_when_downsampling() {
        for (i, o) in [(120, 224), (300, 262), (256, 224), (7, 3)] {
            for (xmin, w) in aa_weights(i, o, Interpolation::Bicubic) {
                let s: f32 = w.iter().sum();
                assert!((s - 1.0).abs() < 1e-5, "{i}->{o}: {s}");
                assert!(xmin + w.len() <= i);
            }
        }
        assert!(aa_weights(300, 100, Interpolation::Bicubic)[50].1.len() > 4);
        assert_eq!(aa_weights(100, 300, Interpolation::Bicubic)[150].1.len(), 4);
    }

    #[test]
    fn constant_image_stays_constant_and_normalises() {
        let cfg = PreprocessConfig {
            bands: vec![],
            mean: vec![1.0, 2.0],
            std: vec![2.0, 4.0],
            image_size: 8,
            interpolation: Interpolation::Bicubic,
            pixels: PixelScale::Reflectance,
        };
        let img = RawImage {
            source: "c.tif".into(),
            data: [vec![5.0; 13 * 11], vec![10.0; 13 * 11]].concat(),
            bands: vec![None, None],
            width: 13,
            height: 11,
        };
        let out = resize_crop_normalize(&img, &cfg).unwrap();
        assert_eq!(out.len(), 2 * 8 * 8);
        assert!(out[..64].iter().all(|v| (v - 2.0).abs() < 1e-5));
        assert!(out[64..].iter().all(|v| (v - 2.0).abs() < 1e-5));
    }

    fn img(bands: Vec<Option<String>>) -> RawImage {
        let n = bands.len();
        RawImage {
            source: "x.tif".into(),
            data: (0..n).flat_map(|c| vec![c as f32; 4]).collect(),
            bands,
            width: 2,
            height: 2,
        }
    }

    #[test]
    fn band_selection_by_count_and_by_name() {
        let ten = [
            "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12",
        ]
        .map(String::from);
        let sel = select_bands(&img(vec![None; 12]), &ten, 10).unwrap();
        let firsts: Vec<f32> = sel.data.chunks(4).map(|c| c[0]).collect();
        assert_eq!(firsts, vec![1., 2., 3., 4., 5., 6., 7., 8., 10., 11.]);
        let sel = select_bands(&img(vec![None; 13]), &ten, 10).unwrap();
        let firsts: Vec<f32> = sel.data.chunks(4).map(|c| c[0]).collect();
        assert_eq!(firsts, vec![1., 2., 3., 4., 5., 6., 7., 8., 11., 12.]);
        // Named bands in a shuffled order are picked by name.
        let named = [
            "B12", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11",
        ]
        .map(|s| Some(s.to_owned()))
        .to_vec();
        let sel = select_bands(&img(named), &ten, 10).unwrap();
        let firsts: Vec<f32> = sel.data.chunks(4).map(|c| c[0]).collect();
        assert_eq!(firsts, vec![1., 2., 3., 4., 5., 6., 7., 8., 9., 0.]);
        let e = select_bands(&img(vec![None; 4]), &ten, 10)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("image has 4 bands; MS-CLIP needs 10 bands"),
            "{e}"
        );
        let mut named: Vec<Option<String>> = ten.iter().map(|s| Some(s.clone())).collect();
        named[7] = Some("B09".into());
        let e = select_bands(&img(named), &ten, 10).unwrap_err().to_string();
        assert!(e.contains("band B8A is missing"), "{e}");
    }
}

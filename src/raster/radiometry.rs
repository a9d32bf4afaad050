//! The radiometric decision for a scene: how raw values become harmonised L2A-style DN
//! (surface reflectance × 10000 with the baseline ≥ 04.00 offset removed), which is what
//! the viewer displays as reflectance and what Llama3-MS-CLIP was trained on.
//!
//! Evidence, strongest first:
//! 1. GDAL band scale/offset (e.g. Earth Search Collection-1 COGs: 0.0001 / −0.1);
//! 2. product metadata: `BOA_QUANTIFICATION_VALUE`, per-band `BOA_ADD_OFFSET` /
//!    `RADIO_ADD_OFFSET` (`MTD_MSIL*.xml`);
//! 3. the processing baseline of the product name (`N0509` ⇒ offset −1000, `N0208` ⇒ 0);
//! 4. when nothing says, the data themselves, from a small decimated sample:
//!    * **offset (dark-floor test)**: with the +1000 offset no valid pixel can sit below
//!      ≈1000 DN, so dark targets (water, shadow) pile up just above 1000 in every band.
//!      Detected when every spectral band's 0.2 % quantile is ≥ 900 and at least half of
//!      them lie below 1400. A scene without the offset nearly always has some band (SWIR
//!      over water, NIR in shadow) far below 900; a bright scene without the offset (desert,
//!      snow) has no common floor near 1000 because its band minima spread out.
//!    * **scale ×1000 (vegetation test)**: pixels with NDVI > 0.4 are vegetation, whose
//!      NIR reflectance is above ≈0.15; if their median NIR is below 1000 the data cannot
//!      be ×10000 and must be reflectance ×1000 (factor 10).
//!    * float data whose 99.5 % quantile is ≤ 2 are reflectance 0–1 (factor 10000).
//!
//! Pure logic on plain data; the sample is taken by the scene opener.

use serde::Serialize;

use super::bands::{BandRole, S2Band};

/// Where a radiometric fact came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Evidence {
    /// GDAL band scale/offset.
    GdalScaleOffset,
    /// `MTD_MSIL*.xml` or band metadata.
    Metadata,
    /// The processing baseline in a product name.
    ProductName,
    /// Detected from the pixel values.
    Detected,
    /// The Sentinel-2 default (×10000, no offset) with nothing against it.
    Default,
    /// Set by the user.
    User,
}

/// The scene-wide radiometric decision. Per band, Kestrel applies
/// `harmonised = raw × gain + offset` (see [`super::scene::BandInfo`]); for spectral bands
/// `gain = scale_to_10000` and `offset` below unless the metadata lists per-band offsets.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Radiometry {
    /// Factor that brings raw values to reflectance × 10000: 1 (L1C/L2A DN), 10
    /// (reflectance × 1000), 10000 (reflectance 0–1).
    pub scale_to_10000: f64,
    pub scale_evidence: Evidence,
    /// Added after scaling, in reflectance × 10000 units: −1000 removes the
    /// baseline ≥ 04.00 offset, 0 when there is none.
    pub offset: f64,
    pub offset_evidence: Evidence,
    /// DN 0 is NO_DATA (the ESA convention for integer products).
    pub zero_is_nodata: bool,
    /// One or two sentences: which correction is applied and why.
    pub reason: String,
}

impl Radiometry {
    /// An explicit decision by the user (e.g. after checking the source of the data).
    pub fn user(scale_to_10000: f64, offset: f64, zero_is_nodata: bool) -> Radiometry {
        Radiometry {
            scale_to_10000,
            scale_evidence: Evidence::User,
            offset,
            offset_evidence: Evidence::User,
            zero_is_nodata,
            reason: format!(
                "set by the user: raw × {scale_to_10000} {} {} = reflectance × 10000",
                if offset < 0.0 { "-" } else { "+" },
                offset.abs()
            ),
        }
    }
}

/// Raw sample values of the spectral bands of a scene, decimated over the whole scene,
/// co-registered (pixel `i` of every band is the same place). NaN = declared nodata.
#[derive(Debug, Clone, Default)]
pub struct SpectralSample {
    pub bands: Vec<(S2Band, Vec<f32>)>,
}

impl SpectralSample {
    fn band(&self, b: S2Band) -> Option<&[f32]> {
        self.bands
            .iter()
            .find(|(x, _)| *x == b)
            .map(|(_, v)| v.as_slice())
    }
}

/// Everything the decision looks at.
#[derive(Debug, Clone, Default)]
pub struct RadiometryInputs {
    /// GDAL scale/offset shared by the spectral bands, when set and not (1, 0).
    pub gdal_scale_offset: Option<(f64, f64)>,
    /// Quantification value from product metadata (10000 for ESA products).
    pub quantification: Option<f64>,
    /// Offset from product/band metadata (e.g. −1000), and where it was found.
    pub metadata_offset: Option<(f64, String)>,
    /// Processing baseline (`05.09`) and where it was found.
    pub baseline: Option<(String, String)>,
    /// Pixel type is integer (DN 0 is then NO_DATA by the ESA convention).
    pub integer_data: bool,
    /// Whole-scene sample of the spectral bands (raw values).
    pub sample: Option<SpectralSample>,
}

fn fmt_dn(v: f64) -> String {
    if v < 0.0 {
        format!("−{}", -v)
    } else {
        format!("{v}")
    }
}

/// Valid raw values of a band (NaN and, for integer data, 0 removed).
fn valid(values: &[f32], zero_is_nodata: bool) -> Vec<f32> {
    values
        .iter()
        .copied()
        .filter(|x| x.is_finite() && !(zero_is_nodata && *x == 0.0))
        .collect()
}

/// Quantile `q` of unsorted NaN-free values by selection (O(n); the nearest rank).
fn quantile(values: &mut [f32], q: f64) -> f32 {
    if values.is_empty() {
        return f32::NAN;
    }
    let k = ((values.len() - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize;
    *values.select_nth_unstable_by(k, f32::total_cmp).1
}

/// Result of the dark-floor test: `Some(reason)` when the +1000 offset is present.
fn dark_floor_offset(sample: &SpectralSample, zero_is_nodata: bool) -> Result<String, String> {
    let mut lows = Vec::new();
    for (band, values) in &sample.bands {
        let mut v = valid(values, zero_is_nodata);
        if v.len() >= 100 {
            lows.push((*band, quantile(&mut v, 0.002)));
        }
    }
    if lows.len() < 3 {
        return Err("too few valid spectral samples to test for the offset".into());
    }
    let (min_band, min_low) = lows
        .iter()
        .copied()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap_or((S2Band::B02, 0.0));
    let near_floor = lows
        .iter()
        .filter(|(_, l)| (900.0..1400.0).contains(l))
        .count();
    let floor_desc = format!(
        "darkest band {min_band} has its 0.2 % quantile at {min_low:.0} DN, {near_floor} of {} \
         bands between 900 and 1400",
        lows.len()
    );
    if min_low >= 900.0 && near_floor * 2 >= lows.len() {
        Ok(floor_desc)
    } else {
        Err(floor_desc)
    }
}

/// Result of the vegetation test: `Ok(reason)` when the data are reflectance × 1000.
fn vegetation_scale_1000(
    sample: &SpectralSample,
    offset: f64,
    zero_is_nodata: bool,
) -> Result<String, String> {
    let red = sample.band(S2Band::B04);
    let nir = sample
        .band(S2Band::B08)
        .or_else(|| sample.band(S2Band::B8A));
    let (Some(red), Some(nir)) = (red, nir) else {
        return Err("no red and NIR band to check the scale".into());
    };
    let mut veg_nir = Vec::new();
    let mut valid = 0usize;
    for (&r, &n) in red.iter().zip(nir) {
        if !r.is_finite() || !n.is_finite() || (zero_is_nodata && (r == 0.0 || n == 0.0)) {
            continue;
        }
        valid += 1;
        let (r, n) = (f64::from(r) + offset, f64::from(n) + offset);
        if n > 0.0 && r > -n && (n - r) / (n + r) > 0.4 {
            veg_nir.push(n as f32);
        }
    }
    if veg_nir.len() < 50 || veg_nir.len() * 20 < valid {
        return Err(format!(
            "too little vegetation to check the scale ({} of {valid} samples with NDVI > 0.4)",
            veg_nir.len()
        ));
    }
    let med = quantile(&mut veg_nir, 0.5);
    let desc = format!(
        "vegetation (NDVI > 0.4, {} of {valid} samples) has median NIR {med:.0}",
        veg_nir.len()
    );
    if med < 1000.0 { Ok(desc) } else { Err(desc) }
}

/// Decide the radiometry of a scene. Only called for scenes with spectral bands.
pub fn decide(inputs: &RadiometryInputs) -> Radiometry {
    let zero_is_nodata = inputs.integer_data;
    let mut reasons: Vec<String> = Vec::new();

    // 1. GDAL scale/offset: reflectance = raw·scale + offset.
    if let Some((scale, off)) = inputs.gdal_scale_offset {
        let r = Radiometry {
            scale_to_10000: scale * 10000.0,
            scale_evidence: Evidence::GdalScaleOffset,
            offset: off * 10000.0,
            offset_evidence: Evidence::GdalScaleOffset,
            zero_is_nodata,
            reason: format!(
                "the bands carry GDAL scale {scale} and offset {off}: reflectance = raw × {scale} \
                 {} {}, applied as given",
                if off < 0.0 { "−" } else { "+" },
                off.abs()
            ),
        };
        return r;
    }

    // 2./3. Offset from metadata or baseline.
    let quant = inputs.quantification;
    let mut scale = quant.map(|q| 10000.0 / q);
    let mut scale_evidence = Evidence::Metadata;
    let (mut offset, mut offset_evidence) = (None, Evidence::Default);
    if let Some((off, source)) = &inputs.metadata_offset {
        let factor = scale.unwrap_or(1.0);
        offset = Some(off * factor);
        offset_evidence = Evidence::Metadata;
        reasons.push(if *off != 0.0 {
            format!("BOA offset {} DN removed: {source} lists it", fmt_dn(*off))
        } else {
            format!("no offset: {source} lists an offset of 0")
        });
    } else if let Some((baseline, source)) = &inputs.baseline {
        match super::safe::baseline_has_offset(baseline) {
            Some(true) => {
                offset = Some(-1000.0);
                offset_evidence = Evidence::ProductName;
                reasons.push(format!(
                    "BOA offset −1000 DN removed: processing baseline {baseline} (from {source}) \
                     is ≥ 04.00, which adds +1000 to every band"
                ));
            }
            Some(false) => {
                offset = Some(0.0);
                offset_evidence = Evidence::ProductName;
                reasons.push(format!(
                    "no offset: processing baseline {baseline} (from {source}) is before 04.00"
                ));
            }
            None => {}
        }
    }

    // 4. From the data.
    let sample = inputs.sample.as_ref();
    let is_float = !inputs.integer_data;
    if scale.is_none()
        && is_float
        && let Some(s) = sample
    {
        let mut all: Vec<f32> = s
            .bands
            .iter()
            .flat_map(|(_, v)| v.iter().copied().filter(|x| x.is_finite()))
            .collect();
        let q995 = quantile(&mut all, 0.995);
        if q995 <= 2.0 {
            scale = Some(10000.0);
            scale_evidence = Evidence::Detected;
            offset.get_or_insert(0.0);
            reasons.push(format!(
                "values are reflectance 0–1 (float, 99.5 % quantile {q995:.3}): × 10000"
            ));
        }
    }
    if offset.is_none() {
        match sample.map(|s| dark_floor_offset(s, zero_is_nodata)) {
            Some(Ok(desc)) => {
                offset = Some(-1000.0);
                offset_evidence = Evidence::Detected;
                reasons.push(format!(
                    "BOA offset −1000 DN removed, detected: no metadata says, but no dark pixel \
                     lies below ≈1000 DN in any band ({desc}), the floor of the +1000 offset of \
                     processing baseline ≥ 04.00"
                ));
            }
            Some(Err(desc)) => {
                offset = Some(0.0);
                offset_evidence = Evidence::Detected;
                reasons.push(format!(
                    "no offset: no metadata says and the dark pixels show no +1000 floor ({desc})"
                ));
            }
            None => {
                offset = Some(0.0);
                reasons.push("no offset: no metadata and no sample to test".into());
            }
        }
    }
    let offset = offset.unwrap_or(0.0);
    if scale.is_none() {
        match sample.map(|s| vegetation_scale_1000(s, offset, zero_is_nodata)) {
            Some(Ok(desc)) => {
                scale = Some(10.0);
                scale_evidence = Evidence::Detected;
                reasons.push(format!(
                    "values are reflectance × 1000, multiplied by 10: {desc}, but vegetation \
                     reflects more than 15 % in the NIR (> 1500 at × 10000)"
                ));
            }
            Some(Err(desc)) => {
                scale_evidence = Evidence::Default;
                reasons.push(format!("scale × 10000 assumed (Sentinel-2 DN; {desc})"));
            }
            None => {
                scale_evidence = Evidence::Default;
                reasons.push("scale × 10000 assumed (Sentinel-2 DN)".into());
            }
        }
    } else if scale_evidence == Evidence::Metadata
        && let Some(q) = quant
    {
        reasons.push(format!("quantification value {q} from the metadata"));
    }
    if zero_is_nodata {
        reasons.push("DN 0 is nodata".into());
    } else {
        reasons.push("NaN is nodata".into());
    }
    Radiometry {
        scale_to_10000: scale.unwrap_or(1.0),
        scale_evidence,
        offset,
        offset_evidence,
        zero_is_nodata,
        reason: reasons.join("; "),
    }
}

/// Spectral bands of a role list, in order.
pub fn spectral_bands(roles: &[BandRole]) -> Vec<S2Band> {
    roles.iter().filter_map(|r| r.spectral()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn band(values: impl Iterator<Item = f32>) -> Vec<f32> {
        values.collect()
    }

    /// A synthetic scene: water (dark) in the first 20 % of pixels, vegetation elsewhere.
    fn scene(offset: f32, scale: f32) -> SpectralSample {
        let n = 2000;
        let px = |water: f32, veg: f32| {
            band((0..n).map(move |i| {
                let v = if i < n / 5 { water } else { veg } + (i % 7) as f32 * 3.0;
                v * scale + offset
            }))
        };
        SpectralSample {
            bands: vec![
                (S2Band::B02, px(300.0, 400.0)),
                (S2Band::B03, px(250.0, 700.0)),
                (S2Band::B04, px(150.0, 350.0)),
                (S2Band::B08, px(60.0, 3500.0)),
                (S2Band::B11, px(20.0, 1800.0)),
                (S2Band::B12, px(10.0, 900.0)),
            ],
        }
    }

    fn inputs(sample: SpectralSample, integer: bool) -> RadiometryInputs {
        RadiometryInputs {
            integer_data: integer,
            sample: Some(sample),
            ..Default::default()
        }
    }

    #[test]
    fn detects_offset_floor() {
        let r = decide(&inputs(scene(1000.0, 1.0), false));
        assert_eq!(r.offset, -1000.0);
        assert_eq!(r.offset_evidence, Evidence::Detected);
        assert_eq!(r.scale_to_10000, 1.0);
        assert!(r.reason.contains("detected"), "{}", r.reason);
        assert!(!r.zero_is_nodata);
    }

    #[test]
    fn no_offset_on_plain_l2a() {
        let r = decide(&inputs(scene(0.0, 1.0), true));
        assert_eq!(r.offset, 0.0);
        assert_eq!(r.scale_to_10000, 1.0);
        assert!(r.zero_is_nodata);
    }

    #[test]
    fn bright_scene_without_offset_is_not_taken_for_offset() {
        // Desert-like: every band ≥ 1000 but the minima spread from 1000 to 3500.
        let n = 500;
        let b = |lo: f32| band((0..n).map(move |i| lo + i as f32));
        let s = SpectralSample {
            bands: vec![
                (S2Band::B02, b(1000.0)),
                (S2Band::B03, b(1500.0)),
                (S2Band::B04, b(2200.0)),
                (S2Band::B08, b(2800.0)),
                (S2Band::B11, b(3500.0)),
                (S2Band::B12, b(3000.0)),
            ],
        };
        assert_eq!(decide(&inputs(s, true)).offset, 0.0);
    }

    #[test]
    fn detects_reflectance_1000() {
        let r = decide(&inputs(scene(0.0, 0.1), true));
        assert_eq!(r.scale_to_10000, 10.0);
        assert_eq!(r.scale_evidence, Evidence::Detected);
        assert_eq!(r.offset, 0.0);
    }

    #[test]
    fn detects_reflectance_0_1_floats() {
        let r = decide(&inputs(scene(0.0, 0.0001), false));
        assert_eq!(r.scale_to_10000, 10000.0);
        assert_eq!(r.offset, 0.0);
    }

    #[test]
    fn metadata_beats_data() {
        let mut i = inputs(scene(0.0, 1.0), true);
        i.metadata_offset = Some((-1000.0, "MTD_MSIL2A.xml".into()));
        i.quantification = Some(10000.0);
        let r = decide(&i);
        assert_eq!(r.offset, -1000.0);
        assert_eq!(r.offset_evidence, Evidence::Metadata);
        assert_eq!(r.scale_to_10000, 1.0);
        assert!(r.reason.contains("MTD_MSIL2A.xml"), "{}", r.reason);

        let mut i = inputs(scene(1000.0, 1.0), true);
        i.baseline = Some(("02.08".into(), "product name".into()));
        let r = decide(&i);
        assert_eq!(r.offset, 0.0);
        assert_eq!(r.offset_evidence, Evidence::ProductName);
    }

    #[test]
    fn gdal_scale_offset_is_applied_as_given() {
        let mut i = inputs(scene(0.0, 1.0), true);
        i.gdal_scale_offset = Some((0.0001, -0.1));
        let r = decide(&i);
        assert!((r.scale_to_10000 - 1.0).abs() < 1e-9);
        assert!((r.offset + 1000.0).abs() < 1e-9);
    }
}

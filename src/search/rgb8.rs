//! Sentinel-2 L2A reflectance → 8-bit true colour, for the RGB models (RemoteCLIP, RS-M-CLIP)
//! that saw 8-bit photos.
//!
//! One fixed mapping, the same for every scene, so tiles from different scenes and dates are
//! comparable (a per-scene stretch would make a dark scene's water look like a bright scene's
//! soil): Sentinel Hub's basic true colour, `[B04, B03, B02] × 2.5` clamped to `[0, 1]`
//! (`../shared/docs/sentinel2-and-msclip.md` §e; reflectance 0.4 and above is white), then
//! `round(255 · v)`. Input is Kestrel's harmonised reflectance × 10000 (the BOA offset already
//! removed). Nodata (NaN, ±inf) stays NaN so the model's preprocessing fills it as it does for
//! the multispectral model. The mapping is recorded in the index metadata
//! ([`MAPPING_ID`]) and shown in the UI.

use crate::raster::S2Band;

/// The bands, in the model's R, G, B order.
pub const RGB_BANDS: [S2Band; 3] = [S2Band::B04, S2Band::B03, S2Band::B02];

/// The gain on reflectance (Sentinel Hub's `true_color` script).
pub const GAIN: f32 = 2.5;

/// Names the mapping in index metadata and exports.
pub const MAPPING_ID: &str =
    "s2-true-colour-8bit: [B04,B03,B02] x 2.5 reflectance, clamp 0..1, round(255 v)";

/// A one-line description for the UI.
pub const DESCRIPTION: &str =
    "true colour B04/B03/B02, reflectance 0–0.4 scaled to 0–255 (fixed, the same for every scene)";

/// One harmonised DN (reflectance × 10000) to its 8-bit value (as f32), NaN for nodata.
#[inline]
pub fn dn_to_u8(dn: f32) -> f32 {
    if !dn.is_finite() {
        return f32::NAN;
    }
    // In f64, in the documented order (reflectance, gain, clamp, scale, round half away
    // from zero), so the half-way DNs (where 255 · 2.5 · DN / 10000 ends in .5, e.g. DN 400 or
    // 1200) round the same way in every implementation that follows the formula.
    let reflectance = f64::from(dn) / 10_000.0;
    let v = (f64::from(GAIN) * reflectance).clamp(0.0, 1.0);
    (255.0 * v).round() as f32
}

/// Map a band-major tile of the three [`RGB_BANDS`] in place.
pub fn map_tile(px: &mut [f32]) {
    for v in px {
        *v = dn_to_u8(*v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_range_and_nodata() {
        assert_eq!(dn_to_u8(0.0), 0.0);
        assert_eq!(dn_to_u8(-250.0), 0.0); // dark pixels below the BOA offset clamp to black
        assert_eq!(dn_to_u8(4000.0), 255.0); // reflectance 0.4 is white
        assert_eq!(dn_to_u8(12000.0), 255.0);
        // 0.1 reflectance: 0.25 * 255 = 63.75 -> 64
        assert_eq!(dn_to_u8(1000.0), 64.0);
        // 0.0502 reflectance: 0.1255 * 255 = 32.0025 -> 32
        assert_eq!(dn_to_u8(502.0), 32.0);
        // half-way values round away from zero: DN 400 -> 25.5 -> 26, DN 1200 -> 76.5 -> 77
        assert_eq!(dn_to_u8(400.0), 26.0);
        assert_eq!(dn_to_u8(1200.0), 77.0);
        assert!(dn_to_u8(f32::NAN).is_nan());
        assert!(dn_to_u8(f32::INFINITY).is_nan());
        let mut t = vec![1000.0, f32::NAN, 4000.0];
        map_tile(&mut t);
        assert_eq!(t[0], 64.0);
        assert!(t[1].is_nan());
        assert_eq!(t[2], 255.0);
    }
}

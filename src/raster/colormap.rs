//! Colour maps: piecewise-linear ramps ([`ColorRamp`]), the perceptual maps viridis and
//! magma (also for the search heatmap), the index ramps (NDVI, NDMI, NDWI, NDSI) and the
//! SCL class palette with class names. Pure data and functions, no GDAL.

use serde::Serialize;

/// A piecewise-linear colour ramp over value stops (ascending).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColorRamp {
    pub name: &'static str,
    /// `(value, [r, g, b])`, ascending by value.
    pub stops: Vec<(f32, [u8; 3])>,
}

fn hex(c: u32) -> [u8; 3] {
    [(c >> 16) as u8, (c >> 8) as u8, c as u8]
}

impl ColorRamp {
    fn from_hex(name: &'static str, stops: &[(f32, u32)]) -> ColorRamp {
        ColorRamp {
            name,
            stops: stops.iter().map(|(v, c)| (*v, hex(*c))).collect(),
        }
    }

    /// Evenly spaced colours over 0..1.
    fn uniform(name: &'static str, colors: &[u32]) -> ColorRamp {
        let n = colors.len().max(2) - 1;
        ColorRamp {
            name,
            stops: colors
                .iter()
                .enumerate()
                .map(|(i, c)| (i as f32 / n as f32, hex(*c)))
                .collect(),
        }
    }

    pub fn min(&self) -> f32 {
        self.stops.first().map_or(0.0, |s| s.0)
    }

    pub fn max(&self) -> f32 {
        self.stops.last().map_or(1.0, |s| s.0)
    }

    /// Colour of a value (clamped to the ramp's range); NaN → None.
    pub fn color(&self, v: f32) -> Option<[u8; 3]> {
        if !v.is_finite() || self.stops.is_empty() {
            return None;
        }
        let first = self.stops[0];
        if v <= first.0 {
            return Some(first.1);
        }
        for w in self.stops.windows(2) {
            let ((v0, c0), (v1, c1)) = (w[0], w[1]);
            if v <= v1 {
                let t = if v1 > v0 { (v - v0) / (v1 - v0) } else { 1.0 };
                let mix =
                    |a: u8, b: u8| (f32::from(a) + (f32::from(b) - f32::from(a)) * t).round() as u8;
                return Some([mix(c0[0], c1[0]), mix(c0[1], c1[1]), mix(c0[2], c1[2])]);
            }
        }
        self.stops.last().map(|s| s.1)
    }

    /// Colour of a value mapped linearly from `lo..hi` onto the ramp's own range (for
    /// the 0..1 perceptual maps applied to scores).
    pub fn color_scaled(&self, v: f32, lo: f32, hi: f32) -> Option<[u8; 3]> {
        if !v.is_finite() {
            return None;
        }
        let t = if hi > lo { (v - lo) / (hi - lo) } else { 0.0 };
        self.color(self.min() + t.clamp(0.0, 1.0) * (self.max() - self.min()))
    }

    /// `n` evenly spaced legend entries over the ramp's range.
    pub fn legend(&self, n: usize) -> Vec<(f32, [u8; 3])> {
        let n = n.max(2);
        (0..n)
            .map(|i| {
                let v = self.min() + (self.max() - self.min()) * i as f32 / (n - 1) as f32;
                (v, self.color(v).unwrap_or([0, 0, 0]))
            })
            .collect()
    }
}

/// Perceptually uniform viridis (matplotlib, CC0), 10 stops as in R viridisLite.
pub fn viridis() -> ColorRamp {
    ColorRamp::uniform(
        "viridis",
        &[
            0x440154, 0x482878, 0x3E4A89, 0x31688E, 0x26828E, 0x1F9E89, 0x35B779, 0x6DCD59,
            0xB4DE2C, 0xFDE725,
        ],
    )
}

/// Perceptually uniform magma (matplotlib, CC0), 10 stops as in R viridisLite.
pub fn magma() -> ColorRamp {
    ColorRamp::uniform(
        "magma",
        &[
            0x000004, 0x180F3E, 0x451077, 0x721F81, 0x9F2F7F, 0xCD4071, 0xF1605D, 0xFD9567,
            0xFEC98D, 0xFCFDBF,
        ],
    )
}

/// NDVI: the Sentinel Hub / Copernicus Browser NDVI ramp (−0.5 … 1).
pub fn ndvi_ramp() -> ColorRamp {
    ColorRamp::from_hex(
        "NDVI",
        &[
            (-0.5, 0x0c0c0c),
            (-0.2, 0xbfbfbf),
            (-0.1, 0xdbdbdb),
            (0.0, 0xeaeaea),
            (0.025, 0xfff9cc),
            (0.05, 0xede8b5),
            (0.075, 0xddd89b),
            (0.1, 0xccc682),
            (0.125, 0xbcb76b),
            (0.15, 0xafc160),
            (0.175, 0xa3cc59),
            (0.2, 0x91bf51),
            (0.25, 0x7fb247),
            (0.3, 0x70a33f),
            (0.35, 0x609635),
            (0.4, 0x4f892d),
            (0.45, 0x3f7c23),
            (0.5, 0x306d1c),
            (0.55, 0x216011),
            (0.6, 0x0f540a),
            (1.0, 0x004400),
        ],
    )
}

/// NDMI: the Sentinel Hub moisture-index ramp over −0.8 … 0.8 (dark red, red, yellow,
/// cyan, blue, navy at 0, 35, 48, 52, 65 and 100 % of the range).
pub fn ndmi_ramp() -> ColorRamp {
    let at = |f: f32| -0.8 + 1.6 * f;
    ColorRamp::from_hex(
        "NDMI",
        &[
            (at(0.0), 0x800000),
            (at(0.35), 0xff0000),
            (at(0.48), 0xffff00),
            (at(0.52), 0x00ffff),
            (at(0.65), 0x0000ff),
            (at(1.0), 0x000080),
        ],
    )
}

/// NDWI (McFeeters): green (land) through white to blue (open water above ≈0.2).
pub fn ndwi_ramp() -> ColorRamp {
    ColorRamp::from_hex(
        "NDWI",
        &[
            (-0.8, 0x006400),
            (-0.3, 0x8cc084),
            (0.0, 0xffffff),
            (0.2, 0x6fa8ff),
            (0.5, 0x1c50d8),
            (1.0, 0x00007f),
        ],
    )
}

/// NDSI: greys for snow-free ground, light to deep blue above the 0.42 snow threshold.
pub fn ndsi_ramp() -> ColorRamp {
    ColorRamp::from_hex(
        "NDSI",
        &[
            (-1.0, 0x202020),
            (0.0, 0x808080),
            (0.41, 0xd0d0d0),
            (0.42, 0x9fd0ff),
            (1.0, 0x0040ff),
        ],
    )
}

/// The 12 SCL classes: value, name, display colour (Sentinel Hub scene-classification).
pub const SCL_CLASSES: [(u8, &str, [u8; 3]); 12] = [
    (0, "no data", [0, 0, 0]),
    (1, "saturated or defective", [255, 0, 0]),
    (2, "dark area pixels", [47, 47, 47]),
    (3, "cloud shadows", [100, 50, 0]),
    (4, "vegetation", [0, 160, 0]),
    (5, "not vegetated", [255, 230, 90]),
    (6, "water", [0, 0, 255]),
    (7, "unclassified", [128, 128, 128]),
    (8, "cloud medium probability", [192, 192, 192]),
    (9, "cloud high probability", [255, 255, 255]),
    (10, "thin cirrus", [100, 200, 255]),
    (11, "snow or ice", [255, 150, 255]),
];

/// Name of an SCL class value.
pub fn scl_class_name(v: u8) -> Option<&'static str> {
    SCL_CLASSES.get(usize::from(v)).map(|c| c.1)
}

/// Display colour of an SCL value (class 0 "no data" is drawn transparent by the
/// renderer, see [`super::render::render_scl`]).
pub fn scl_color(v: u8) -> Option<[u8; 3]> {
    SCL_CLASSES.get(usize::from(v)).map(|c| c.2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ramps_interpolate_and_clamp() {
        let r = ndvi_ramp();
        assert_eq!(r.color(0.5), Some([0x30, 0x6d, 0x1c]));
        assert_eq!(r.color(2.0), Some([0x00, 0x44, 0x00]));
        assert_eq!(r.color(-3.0), Some([0x0c, 0x0c, 0x0c]));
        assert_eq!(r.color(f32::NAN), None);
        // halfway between 0.6 (0x0f540a) and 1.0 (0x004400)
        assert_eq!(r.color(0.8), Some([8, 76, 5]));
        let m = ndmi_ramp();
        assert_eq!(m.color(-0.8), Some([128, 0, 0]));
        assert_eq!(m.color(0.8), Some([0, 0, 128]));
        assert_eq!(m.color(m.stops[1].0), Some([255, 0, 0]));
        // between yellow (−0.032) and cyan (0.032): green, half red, half blue
        let mid = m.color(0.0).unwrap();
        assert_eq!(mid[1], 255);
        assert!(
            (127..=128).contains(&mid[0]) && (127..=128).contains(&mid[2]),
            "{mid:?}"
        );
    }

    #[test]
    fn perceptual_maps_have_known_ends() {
        let v = viridis();
        assert_eq!(v.color(0.0), Some([0x44, 0x01, 0x54]));
        assert_eq!(v.color(1.0), Some([0xfd, 0xe7, 0x25]));
        assert_eq!(v.color_scaled(5.0, 0.0, 10.0), v.color(0.5));
        let m = magma();
        assert_eq!(m.color(1.0), Some([0xfc, 0xfd, 0xbf]));
        assert_eq!(m.legend(3).len(), 3);
    }

    #[test]
    fn scl_palette() {
        assert_eq!(scl_class_name(6), Some("water"));
        assert_eq!(scl_color(4), Some([0, 160, 0]));
        assert_eq!(scl_class_name(12), None);
    }
}

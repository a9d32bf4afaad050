//! Rendering band values to RGBA8: the Sentinel Hub / Copernicus Browser band-combination
//! presets, custom R/G/B, the normalised-difference indices with their colour ramps, and
//! the SCL classified layer. Inputs are harmonised values (reflectance × 10000, NaN =
//! nodata) as produced by [`super::read`] and [`super::warp`]; nodata becomes fully
//! transparent. Pure functions, no GDAL.

use serde::{Deserialize, Serialize};

use super::bands::{BandRole, S2Band};
use super::colormap::{self, ColorRamp};
use super::read::BandStack;
use super::stretch::{ChannelStats, ChannelStretch, StretchMethod};

/// Why a composite cannot be shown for a scene, or rendered from a stack. Scene band
/// numbers in the messages are 1-based.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompositeError {
    #[error(
        "needs {} ({}), which the scene does not have",
        band_names(.bands),
        if_plural(.bands.len(), "band", "bands")
    )]
    MissingBands { bands: Vec<S2Band> },
    #[error("band {} does not exist (the scene has {count})", .band + 1)]
    NoSuchBand { band: usize, count: usize },
    #[error("the scene has no SCL layer")]
    NoScl,
    #[error("band {} is not in the sample", .band + 1)]
    NotInSample { band: usize },
    #[error("band {} was not read", .band + 1)]
    NotRead { band: usize },
    #[error("an RGB composite needs stretches")]
    NoStretches,
}

fn band_names(bands: &[S2Band]) -> String {
    bands
        .iter()
        .map(|b| b.name())
        .collect::<Vec<_>>()
        .join(", ")
}

fn if_plural(n: usize, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}

/// Band-combination presets (formulas in `../shared/docs/sentinel2-and-msclip.md` §e).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    /// B04, B03, B02.
    TrueColor,
    /// False colour (vegetation): B08, B04, B03.
    FalseColor,
    /// SWIR: B12, B8A, B04.
    Swir,
    /// Agriculture: B11, B08, B02.
    Agriculture,
    /// Geology: B12, B11, B02.
    Geology,
    /// False colour (urban): 2.5·B12, 2.5·B11, 2.5·B04.
    Urban,
    /// Bathymetric: B04, B03, B01.
    Bathymetric,
}

impl Preset {
    pub const ALL: [Preset; 7] = [
        Preset::TrueColor,
        Preset::FalseColor,
        Preset::Swir,
        Preset::Agriculture,
        Preset::Geology,
        Preset::Urban,
        Preset::Bathymetric,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Preset::TrueColor => "True colour",
            Preset::FalseColor => "False colour (NIR)",
            Preset::Swir => "SWIR",
            Preset::Agriculture => "Agriculture",
            Preset::Geology => "Geology",
            Preset::Urban => "False colour (urban)",
            Preset::Bathymetric => "Bathymetric",
        }
    }

    /// The bands shown as red, green and blue.
    pub fn bands(self) -> [S2Band; 3] {
        use S2Band::*;
        match self {
            Preset::TrueColor => [B04, B03, B02],
            Preset::FalseColor => [B08, B04, B03],
            Preset::Swir => [B12, B8A, B04],
            Preset::Agriculture => [B11, B08, B02],
            Preset::Geology => [B12, B11, B02],
            Preset::Urban => [B12, B11, B04],
            Preset::Bathymetric => [B04, B03, B01],
        }
    }

    /// Gain of the Sentinel Hub script on reflectance (true colour 2.5, urban 2.5, others
    /// 1): `StretchMethod::Fixed { min: 0, max: 10000 / gain }` reproduces it.
    pub fn gain(self) -> f32 {
        match self {
            Preset::TrueColor | Preset::Urban => 2.5,
            _ => 1.0,
        }
    }

    /// Scene band indices for R, G, B, or why the preset cannot be shown.
    pub fn available(self, roles: &[BandRole]) -> Result<[usize; 3], CompositeError> {
        find_bands(&self.bands(), roles).map(|v| [v[0], v[1], v[2]])
    }
}

/// Indices of `bands` among `roles`, or a reason naming the missing bands.
fn find_bands(bands: &[S2Band], roles: &[BandRole]) -> Result<Vec<usize>, CompositeError> {
    let mut idx = Vec::with_capacity(bands.len());
    let mut missing = Vec::new();
    for b in bands {
        match roles.iter().position(|r| *r == BandRole::Spectral(*b)) {
            Some(i) => idx.push(i),
            None => {
                if !missing.contains(b) {
                    missing.push(*b);
                }
            }
        }
    }
    if missing.is_empty() {
        Ok(idx)
    } else {
        Err(CompositeError::MissingBands { bands: missing })
    }
}

/// Normalised-difference indices `(a − b) / (a + b)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpectralIndex {
    /// Vegetation: (B08 − B04) / (B08 + B04).
    Ndvi,
    /// Water (McFeeters): (B03 − B08) / (B03 + B08).
    Ndwi,
    /// Moisture: (B8A − B11) / (B8A + B11).
    Ndmi,
    /// Snow: (B03 − B11) / (B03 + B11); snow is usually above 0.42.
    Ndsi,
}

impl SpectralIndex {
    pub const ALL: [SpectralIndex; 4] = [
        SpectralIndex::Ndvi,
        SpectralIndex::Ndwi,
        SpectralIndex::Ndmi,
        SpectralIndex::Ndsi,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SpectralIndex::Ndvi => "NDVI",
            SpectralIndex::Ndwi => "NDWI",
            SpectralIndex::Ndmi => "NDMI",
            SpectralIndex::Ndsi => "NDSI",
        }
    }

    /// The (a, b) bands of `(a − b) / (a + b)`.
    pub fn bands(self) -> [S2Band; 2] {
        match self {
            SpectralIndex::Ndvi => [S2Band::B08, S2Band::B04],
            SpectralIndex::Ndwi => [S2Band::B03, S2Band::B08],
            SpectralIndex::Ndmi => [S2Band::B8A, S2Band::B11],
            SpectralIndex::Ndsi => [S2Band::B03, S2Band::B11],
        }
    }

    pub fn formula(self) -> String {
        let [a, b] = self.bands();
        format!("({a} − {b}) / ({a} + {b})")
    }

    /// What high values mean, for the legend.
    pub fn legend_note(self) -> &'static str {
        match self {
            SpectralIndex::Ndvi => "green: dense vegetation; white/grey: bare soil, water",
            SpectralIndex::Ndwi => "blue: open water (above ≈0.2); green: vegetation",
            SpectralIndex::Ndmi => "blue: high canopy moisture; red: dry",
            SpectralIndex::Ndsi => "blue: snow (above 0.42)",
        }
    }

    pub fn ramp(self) -> ColorRamp {
        match self {
            SpectralIndex::Ndvi => colormap::ndvi_ramp(),
            SpectralIndex::Ndwi => colormap::ndwi_ramp(),
            SpectralIndex::Ndmi => colormap::ndmi_ramp(),
            SpectralIndex::Ndsi => colormap::ndsi_ramp(),
        }
    }

    /// Scene band indices of (a, b), or why the index cannot be computed.
    pub fn available(self, roles: &[BandRole]) -> Result<[usize; 2], CompositeError> {
        find_bands(&self.bands(), roles).map(|v| [v[0], v[1]])
    }

    /// The index per pixel; NaN where an input is nodata or `a + b` is not positive.
    pub fn compute(self, a: &[f32], b: &[f32]) -> Vec<f32> {
        a.iter()
            .zip(b)
            .map(|(&a, &b)| {
                let s = a + b;
                if a.is_finite() && b.is_finite() && s > 0.0 {
                    ((a - b) / s).clamp(-1.0, 1.0)
                } else {
                    f32::NAN
                }
            })
            .collect()
    }
}

/// What a layer shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Composite {
    Preset {
        preset: Preset,
    },
    /// Scene band indices for R, G, B.
    Custom {
        rgb: [usize; 3],
    },
    Index {
        index: SpectralIndex,
    },
    /// The scene classification layer.
    Scl,
}

impl Composite {
    /// Scene band indices this composite reads, or why it is not available.
    pub fn bands(&self, roles: &[BandRole]) -> Result<Vec<usize>, CompositeError> {
        match self {
            Composite::Preset { preset } => preset.available(roles).map(|b| b.to_vec()),
            Composite::Custom { rgb } => {
                if let Some(bad) = rgb.iter().find(|i| **i >= roles.len()) {
                    Err(CompositeError::NoSuchBand {
                        band: *bad,
                        count: roles.len(),
                    })
                } else {
                    Ok(rgb.to_vec())
                }
            }
            Composite::Index { index } => index.available(roles).map(|b| b.to_vec()),
            Composite::Scl => roles
                .iter()
                .position(|r| *r == BandRole::Scl)
                .map(|i| vec![i])
                .ok_or(CompositeError::NoScl),
        }
    }
}

/// An RGBA8 image, rows top to bottom.
#[derive(Debug, Clone, PartialEq)]
pub struct RgbaImage {
    pub width: usize,
    pub height: usize,
    pub rgba: Vec<u8>,
}

/// Colour three channels with their stretches; a pixel with any NaN channel is
/// transparent.
pub fn render_rgb(channels: [&[f32]; 3], stretches: &[ChannelStretch; 3]) -> Vec<u8> {
    let n = channels.iter().map(|c| c.len()).min().unwrap_or(0);
    let mut out = vec![0u8; n * 4];
    for (i, px) in out.chunks_exact_mut(4).enumerate() {
        let r = stretches[0].apply(channels[0][i]);
        let g = stretches[1].apply(channels[1][i]);
        let b = stretches[2].apply(channels[2][i]);
        if let (Some(r), Some(g), Some(b)) = (r, g, b) {
            px.copy_from_slice(&[r, g, b, 255]);
        }
    }
    out
}

/// Colour single-channel values with a ramp (values beyond the ramp are clamped to its
/// ends); NaN is transparent.
pub fn render_ramp(values: &[f32], ramp: &ColorRamp) -> Vec<u8> {
    let mut out = vec![0u8; values.len() * 4];
    for (px, v) in out.chunks_exact_mut(4).zip(values) {
        if let Some([r, g, b]) = ramp.color(*v) {
            px.copy_from_slice(&[r, g, b, 255]);
        }
    }
    out
}

/// Colour SCL class values; class 0 (no data), NaN and unknown values are transparent.
pub fn render_scl(values: &[f32]) -> Vec<u8> {
    let mut out = vec![0u8; values.len() * 4];
    for (px, v) in out.chunks_exact_mut(4).zip(values) {
        if !v.is_finite() || *v < 0.5 {
            continue;
        }
        if let Some([r, g, b]) = colormap::scl_color(v.round() as u8) {
            px.copy_from_slice(&[r, g, b, 255]);
        }
    }
    out
}

/// Stretches for the three display channels of a composite, computed on a sample
/// stack (e.g. [`super::read::BandStack`] from `Scene::sample`). Index and SCL layers use their fixed
/// ramps and return `None`.
pub fn auto_stretch(
    sample: &BandStack,
    composite: &Composite,
    method: StretchMethod,
    gamma: f32,
) -> Result<Option<[ChannelStretch; 3]>, CompositeError> {
    let bands = match composite {
        Composite::Preset { .. } | Composite::Custom { .. } => {
            composite.bands(&sample.scene_roles)?
        }
        Composite::Index { .. } | Composite::Scl => return Ok(None),
    };
    let mut out = [ChannelStretch {
        min: 0.0,
        max: 1.0,
        gamma,
    }; 3];
    for (c, &b) in bands.iter().enumerate().take(3) {
        let values = sample
            .band_of_scene_index(b)
            .ok_or(CompositeError::NotInSample { band: b })?;
        out[c] = ChannelStats::from_values(values).stretch(method, gamma);
    }
    Ok(Some(out))
}

/// Render a composite from a stack holding its bands (scene band indices are looked up
/// in `stack.scene_bands`). `stretches` is needed for presets and custom RGB.
pub fn render(
    stack: &BandStack,
    composite: &Composite,
    stretches: Option<&[ChannelStretch; 3]>,
) -> Result<RgbaImage, CompositeError> {
    let bands = composite.bands(&stack.scene_roles)?;
    let get = |b: usize| {
        stack
            .band_of_scene_index(b)
            .ok_or(CompositeError::NotRead { band: b })
    };
    let rgba = match composite {
        Composite::Preset { .. } | Composite::Custom { .. } => {
            let st = stretches.ok_or(CompositeError::NoStretches)?;
            render_rgb([get(bands[0])?, get(bands[1])?, get(bands[2])?], st)
        }
        Composite::Index { index } => {
            let v = index.compute(get(bands[0])?, get(bands[1])?);
            render_ramp(&v, &index.ramp())
        }
        Composite::Scl => render_scl(get(bands[0])?),
    };
    Ok(RgbaImage {
        width: stack.width,
        height: stack.height,
        rgba,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l2a_roles() -> Vec<BandRole> {
        S2Band::L2A_12
            .iter()
            .map(|b| BandRole::Spectral(*b))
            .collect()
    }

    #[test]
    fn presets_find_bands_or_say_why_not() {
        let roles = l2a_roles();
        assert_eq!(Preset::TrueColor.available(&roles), Ok([3, 2, 1]));
        assert_eq!(Preset::Swir.available(&roles), Ok([11, 8, 3]));
        assert_eq!(Preset::Bathymetric.available(&roles), Ok([3, 2, 0]));
        // Aberystwyth-like 10 bands: no B01 → no bathymetric.
        let ten: Vec<BandRole> = S2Band::MSCLIP_10
            .iter()
            .map(|b| BandRole::Spectral(*b))
            .collect();
        let err = Preset::Bathymetric.available(&ten).unwrap_err();
        assert!(err.to_string().contains("B01"), "{err}");
        assert_eq!(Preset::Geology.available(&ten), Ok([9, 8, 0]));
        assert_eq!(SpectralIndex::Ndmi.available(&ten), Ok([7, 8]));
        let rgb_only = vec![
            BandRole::Spectral(S2Band::B04),
            BandRole::Spectral(S2Band::B03),
        ];
        let err = Preset::TrueColor.available(&rgb_only).unwrap_err();
        assert_eq!(
            err.to_string(),
            "needs B02 (band), which the scene does not have"
        );
        assert!(Composite::Scl.bands(&ten).is_err());
    }

    #[test]
    fn indices_compute_and_mask() {
        let a = [3000.0, 1000.0, f32::NAN, 0.0];
        let b = [1000.0, 3000.0, 500.0, 0.0];
        let v = SpectralIndex::Ndvi.compute(&a, &b);
        assert_eq!(v[0], 0.5);
        assert_eq!(v[1], -0.5);
        assert!(v[2].is_nan() && v[3].is_nan());
    }

    #[test]
    fn rgb_render_makes_nodata_transparent() {
        let st = ChannelStretch {
            min: 0.0,
            max: 1000.0,
            gamma: 1.0,
        };
        let r = [0.0, 1000.0, 500.0];
        let g = [0.0, 1000.0, f32::NAN];
        let b = [0.0, 2000.0, 500.0];
        let px = render_rgb([&r, &g, &b], &[st; 3]);
        assert_eq!(&px[0..4], &[0, 0, 0, 255]);
        assert_eq!(&px[4..8], &[255, 255, 255, 255]);
        assert_eq!(&px[8..12], &[0, 0, 0, 0]);
    }

    #[test]
    fn scl_render() {
        let px = render_scl(&[0.0, 4.0, 6.0, f32::NAN, 42.0]);
        assert_eq!(&px[0..4], &[0, 0, 0, 0]);
        assert_eq!(&px[4..8], &[0, 160, 0, 255]);
        assert_eq!(&px[8..12], &[0, 0, 255, 255]);
        assert_eq!(&px[12..20], &[0; 8]);
    }
}

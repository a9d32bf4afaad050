//! Pixel inspector: for a position given as lon/lat, scene CRS coordinates or a
//! reference-grid pixel, every band's raw value and harmonised value / reflectance, SCL
//! class names, and the spectral profile (wavelength, reflectance) ready to plot.
//! Values are read at each band's native pixel (nearest), so a 20 m band reports the
//! 20 m pixel under the point.

use serde::Serialize;

use super::bands::BandRole;
use super::colormap::scl_class_name;
use super::error::RasterError;
use super::georef::{CrsTransformer, GeorefError};
use super::read::{Resampling, SceneReader, Window, harmonise};
use super::scene::Scene;
use crate::jobs::CancelToken;

/// Where to look.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum PixelQuery {
    LonLat {
        lon: f64,
        lat: f64,
    },
    /// Coordinates in the scene CRS.
    Crs {
        x: f64,
        y: f64,
    },
    /// Reference-grid pixel position (fractional; `(0.5, 0.5)` is the first centre).
    Pixel {
        col: f64,
        row: f64,
    },
}

/// One band at the inspected pixel.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PixelValue {
    pub band: usize,
    pub role: BandRole,
    pub name: String,
    /// The value stored in the file (None: nodata or outside the band).
    pub raw: Option<f64>,
    /// Harmonised value (reflectance × 10000 for spectral bands).
    pub value: Option<f64>,
    /// Surface (L2A) or top-of-atmosphere (L1C) reflectance, spectral bands only.
    pub reflectance: Option<f64>,
    /// SCL class name.
    pub class_name: Option<&'static str>,
}

/// Everything about one position.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PixelReport {
    pub lon: f64,
    pub lat: f64,
    /// Scene CRS coordinates.
    pub x: f64,
    pub y: f64,
    /// Reference-grid pixel (column, row) containing the point.
    pub col: i64,
    pub row: i64,
    /// The point lies inside the scene grid.
    pub inside: bool,
    pub values: Vec<PixelValue>,
    /// (wavelength nm, reflectance) of the spectral bands with data, by wavelength.
    pub profile: Vec<(f64, f64)>,
}

impl SceneReader<'_> {
    /// Inspect one position (see the module docs).
    pub fn pixel_values(
        &self,
        at: PixelQuery,
        cancel: &CancelToken,
    ) -> Result<PixelReport, RasterError> {
        let info = self.scene().info();
        let grid = &info.grid;
        let t = CrsTransformer::new(&info.crs.wkt).map_err(|e| RasterError::Warp {
            path: info.path.clone(),
            message: e.to_string(),
        })?;
        let conv = |r: Result<Vec<(f64, f64)>, GeorefError>| {
            r.ok()
                .and_then(|v| v.first().copied())
                .ok_or_else(|| RasterError::InvalidRequest(format!("cannot transform {at:?}")))
        };
        let (x, y, lon, lat) = match at {
            PixelQuery::LonLat { lon, lat } => {
                let (x, y) = conv(t.from_wgs84(&[(lon, lat)]))?;
                (x, y, lon, lat)
            }
            PixelQuery::Crs { x, y } => {
                let (lon, lat) = conv(t.to_wgs84(&[(x, y)]))?;
                (x, y, lon, lat)
            }
            PixelQuery::Pixel { col, row } => {
                let (x, y) = grid.pixel_to_crs(col, row);
                let (lon, lat) = conv(t.to_wgs84(&[(x, y)]))?;
                (x, y, lon, lat)
            }
        };
        drop(t);
        let (c, r) = grid.crs_to_pixel(x, y);
        let (col, row) = (c.floor() as i64, r.floor() as i64);
        let inside =
            col >= 0 && row >= 0 && (col as usize) < grid.width && (row as usize) < grid.height;
        let mut values = Vec::with_capacity(info.bands.len());
        let mut profile = Vec::new();
        for (i, band) in info.bands.iter().enumerate() {
            let raw = if inside {
                cancel.check()?;
                let mut notes = Vec::new();
                let v = self.read_raw(
                    i,
                    Window::new(col, row, 1, 1),
                    1,
                    1,
                    Resampling::Nearest,
                    cancel,
                    &mut notes,
                )?;
                v.first().copied().unwrap_or(f32::NAN)
            } else {
                f32::NAN
            };
            let mut h = [raw];
            harmonise(band, &mut h);
            let ok = |v: f32| v.is_finite().then_some(f64::from(v));
            let value = ok(h[0]);
            let reflectance = band.role.spectral().and(value).map(|v| v / 10000.0);
            if let (BandRole::Spectral(b), Some(refl)) = (band.role, reflectance) {
                profile.push((b.wavelength_nm(), refl));
            }
            values.push(PixelValue {
                band: i,
                role: band.role,
                name: band.display_name(),
                raw: ok(raw),
                value,
                reflectance,
                class_name: (band.role == BandRole::Scl)
                    .then(|| ok(raw).and_then(|v| scl_class_name(v as u8)))
                    .flatten(),
            });
        }
        profile.sort_by(|a, b| a.0.total_cmp(&b.0));
        Ok(PixelReport {
            lon,
            lat,
            x,
            y,
            col,
            row,
            inside,
            values,
            profile,
        })
    }
}

impl Scene {
    /// [`SceneReader::pixel_values`] with a reader for this call only.
    pub fn pixel_values(
        &self,
        at: PixelQuery,
        cancel: &CancelToken,
    ) -> Result<PixelReport, RasterError> {
        self.reader().pixel_values(at, cancel)
    }
}

//! A scene and what is known about it ([`SceneInfo`], [`BandInfo`]): the band roles the
//! user may reassign and the radiometric decision that follows them. Opening is in
//! `raster::open` ([`Scene::open`]), reads and the whole-scene sample in
//! [`super::read`] ([`Scene::reader`], [`Scene::read`], [`Scene::sample`]).
//!
//! A [`Scene`] is plain data (`Send + Sync + Clone`): band sources, grids, roles and the
//! radiometric decision. It holds no GDAL handle; reads open datasets on the calling
//! thread ([`Scene::reader`]).

use std::path::PathBuf;

use serde::Serialize;

use super::bands::{BandRole, S2Band};
use super::error::RasterError;
use super::georef::{Bounds, Grid, lonlat_to_web_mercator};
use super::radiometry::{self, Radiometry, RadiometryInputs, SpectralSample};
use super::safe::{ProcessingLevel, level_decision};

/// How the scene was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// One raster file holding the bands (GeoTIFF, COG, JP2, ...).
    File,
    /// A SAFE product read through GDAL's SENTINEL2 driver.
    Safe,
    /// A folder with one file per band.
    BandFolder,
    /// A STAC item (URL or local JSON) whose band assets are read in place.
    StacItem,
}

/// Coordinate reference system of the scene.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CrsInfo {
    pub epsg: Option<u32>,
    pub name: String,
    pub wkt: String,
}

/// One band of a scene.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BandInfo {
    pub role: BandRole,
    /// Why the band was given this role (description, file name, convention, user).
    pub identified_by: String,
    /// GDAL band description.
    pub description: String,
    /// GDAL dataset holding the band (a file path or a subdataset name; a path, so that a
    /// name that is not UTF-8 reaches GDAL intact).
    #[serde(serialize_with = "lossy_path")]
    pub source: PathBuf,
    /// 1-based band number in `source`.
    pub source_band: usize,
    /// The band's own pixel grid (same CRS as the scene).
    pub grid: Grid,
    /// Pixel size in metres (CRS units) of this band in its source.
    pub resolution_m: f64,
    /// GDAL data type name (`UInt16`, `Int16`, `Float32`).
    pub data_type: String,
    /// Nodata value declared in the file.
    pub nodata: Option<f64>,
    /// GDAL scale and offset declared in the file.
    pub gdal_scale: Option<f64>,
    pub gdal_offset: Option<f64>,
    /// What Kestrel applies: `harmonised = raw × gain + offset` (reflectance × 10000 for
    /// spectral bands; identity for other layers).
    pub gain: f64,
    pub offset: f64,
    /// Raw 0 is treated as nodata.
    pub zero_is_nodata: bool,
    /// Number of overview levels GDAL offers for the band.
    pub overviews: usize,
    /// The driver decodes at any reduced resolution (JPEG 2000).
    pub arbitrary_overviews: bool,
    /// The pixels are JPEG 2000 (a `.jp2` file, or a SAFE band behind the SENTINEL2
    /// driver): a nearest-neighbour decimated read decodes a reduced resolution level
    /// even when GDAL lists no overviews.
    pub jp2: bool,
}

impl BandInfo {
    /// Display name: `B02 (blue)`, `SCL`, or the description.
    pub fn display_name(&self) -> String {
        match self.role {
            BandRole::Spectral(b) => format!("{} ({})", b.name(), b.common_name()),
            BandRole::Other if !self.description.is_empty() => self.description.clone(),
            r => r.label().to_string(),
        }
    }
}

/// Everything known about a scene after opening it. Plain data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SceneInfo {
    /// The path the user gave.
    pub path: PathBuf,
    /// Product or file name.
    pub name: String,
    pub source_kind: SourceKind,
    /// GDAL driver that reads the imagery (`GTiff`, `SENTINEL2`, `JP2OpenJPEG`).
    pub driver: String,
    /// Reference grid: the finest resolution among the bands; windows are in its pixels.
    pub grid: Grid,
    pub crs: CrsInfo,
    /// Bounds in the scene CRS.
    pub bounds: Bounds,
    /// Bounds in WGS84 (lon/lat), edges densified.
    pub bounds_wgs84: Bounds,
    /// Bounds in Web Mercator (EPSG:3857).
    pub bounds_3857: Bounds,
    /// Footprint outline in lon/lat (densified, closed).
    pub footprint_wgs84: Vec<(f64, f64)>,
    pub level: ProcessingLevel,
    pub level_reason: String,
    /// Processing baseline (`05.09`) when known.
    pub baseline: Option<String>,
    pub sensing_time: Option<String>,
    /// The product (or STAC item) id when the source has one
    /// (`S2B_MSIL2A_20230823T095559_N0509_R122_T34UCF_20230823T124759`).
    pub product_id: Option<String>,
    /// The MGRS tile (`34UCF`) when the name or metadata gives it.
    pub mgrs_tile: Option<String>,
    pub bands: Vec<BandInfo>,
    /// False when the band roles are a guess (an unconfirmed convention) or unknown:
    /// the user should check or assign them ([`Scene::set_band_roles`]).
    pub bands_confirmed: bool,
    pub radiometry: Radiometry,
    /// Stable identity for caches: name plus a hash of sizes, times and content samples.
    pub identity: String,
    /// Pixels per band of the whole-scene sample read while opening (for the radiometry
    /// tests); `None` when the metadata settled everything and no pixel was read.
    pub open_sample_pixels: Option<usize>,
    /// Things the user should know (skipped layers, guesses, unusual files).
    pub notes: Vec<String>,
}

impl SceneInfo {
    /// The footprint in Web Mercator metres (closed ring), for drawing on the map.
    pub fn footprint_3857(&self) -> Vec<(f64, f64)> {
        self.footprint_wgs84
            .iter()
            .map(|&(lon, lat)| lonlat_to_web_mercator(lon, lat))
            .collect()
    }

    /// Roles of the bands, in order.
    pub fn roles(&self) -> Vec<BandRole> {
        self.bands.iter().map(|b| b.role).collect()
    }
}

/// An opened scene. Cheap to clone; see the module docs.
#[derive(Debug, Clone)]
pub struct Scene {
    pub(super) info: SceneInfo,
    /// Evidence for the radiometry, kept to re-decide when the user reassigns bands.
    pub(super) evidence: RadiometryInputs,
    /// Raw whole-scene sample of every band (same order as `info.bands`), if taken.
    pub(super) sample: Option<Vec<Vec<f32>>>,
    /// Offsets listed per band in the product metadata (already in × 10000 units).
    pub(super) band_offsets: Vec<(S2Band, f64)>,
}

impl Scene {
    pub fn info(&self) -> &SceneInfo {
        &self.info
    }

    pub fn bands(&self) -> &[BandInfo] {
        &self.info.bands
    }

    pub fn roles(&self) -> Vec<BandRole> {
        self.info.bands.iter().map(|b| b.role).collect()
    }

    /// Index of the first band with this role.
    pub fn band_index(&self, role: BandRole) -> Option<usize> {
        self.info.bands.iter().position(|b| b.role == role)
    }

    /// Indices of these Sentinel-2 bands, in the given order, or an error naming the
    /// missing ones (the model pipeline asks for the 10 MS-CLIP bands this way).
    pub fn require_bands(&self, bands: &[S2Band]) -> Result<Vec<usize>, RasterError> {
        let mut out = Vec::with_capacity(bands.len());
        let mut missing = Vec::new();
        for b in bands {
            match self.band_index(BandRole::Spectral(*b)) {
                Some(i) => out.push(i),
                None => missing.push(b.name()),
            }
        }
        if !missing.is_empty() {
            let detail = if self.radiometry_spectral_count() == 0 {
                format!(
                    "none of its {} bands is identified; assign them (needed: {})",
                    self.info.bands.len(),
                    missing.join(", ")
                )
            } else {
                format!("missing {}", missing.join(", "))
            };
            return Err(RasterError::UnknownBandOrder {
                path: self.info.path.clone(),
                detail,
            });
        }
        Ok(out)
    }

    pub(super) fn radiometry_spectral_count(&self) -> usize {
        self.info
            .bands
            .iter()
            .filter(|b| b.role.spectral().is_some())
            .count()
    }

    /// Let the user say what each band is (same length as the band list). The band
    /// roles become confirmed and the radiometry is decided again.
    pub fn set_band_roles(&mut self, roles: Vec<BandRole>) -> Result<(), RasterError> {
        if roles.len() != self.info.bands.len() {
            return Err(RasterError::InvalidRequest(format!(
                "{} roles given for {} bands",
                roles.len(),
                self.info.bands.len()
            )));
        }
        for (i, r) in roles.iter().enumerate() {
            if *r != BandRole::Other && roles[..i].contains(r) {
                return Err(RasterError::InvalidRequest(format!(
                    "{r} assigned to more than one band"
                )));
            }
        }
        for (b, r) in self.info.bands.iter_mut().zip(&roles) {
            if b.role != *r {
                b.role = *r;
                b.identified_by = "assigned by the user".into();
            }
        }
        self.info.bands_confirmed = true;
        self.info
            .notes
            .retain(|n| !n.starts_with("band order") && !n.starts_with("bands follow"));
        if self.info.level == ProcessingLevel::Unknown {
            let (l, why) = level_decision(&self.info.path, &roles, true);
            self.info.level = l;
            self.info.level_reason = why;
        }
        self.redecide_radiometry();
        Ok(())
    }

    /// Override the radiometric decision (e.g. [`Radiometry::user`]).
    pub fn set_radiometry(&mut self, r: Radiometry) {
        self.info.radiometry = r;
        self.apply_radiometry();
    }

    pub(super) fn redecide_radiometry(&mut self) {
        let mut inputs = self.evidence.clone();
        if let Some(sample) = &self.sample {
            inputs.sample = Some(SpectralSample {
                bands: self
                    .info
                    .bands
                    .iter()
                    .zip(sample)
                    .filter_map(|(b, v)| b.role.spectral().map(|s| (s, v.clone())))
                    .collect(),
            });
        }
        inputs.integer_data = self
            .info
            .bands
            .iter()
            .filter(|b| b.role.spectral().is_some())
            .all(|b| is_integer_type_name(&b.data_type));
        self.info.radiometry = radiometry::decide(&inputs);
        self.apply_radiometry();
    }

    pub(super) fn apply_radiometry(&mut self) {
        let r = &self.info.radiometry;
        for b in &mut self.info.bands {
            match b.role {
                BandRole::Spectral(s) => {
                    b.gain = r.scale_to_10000;
                    b.offset = self
                        .band_offsets
                        .iter()
                        .find(|(x, _)| *x == s)
                        .map_or(r.offset, |(_, o)| *o);
                    b.zero_is_nodata = r.zero_is_nodata;
                }
                _ => {
                    b.gain = 1.0;
                    b.offset = 0.0;
                    b.zero_is_nodata = false;
                }
            }
        }
    }
}

fn is_integer_type_name(name: &str) -> bool {
    !name.starts_with("Float") && name != "Unknown"
}

/// Serialise a path as text, replacing bytes that are not UTF-8 (JSON has no other way).
fn lossy_path<S: serde::Serializer>(p: &std::path::Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&p.to_string_lossy())
}

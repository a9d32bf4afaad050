//! A scene and what is known about it ([`SceneInfo`]): opening (dispatching to
//! `raster::open`) a multi-band raster file (GeoTIFF/COG/JP2 in any CRS), a `.SAFE`
//! product (folder, `MTD_MSIL2A.xml`/`MTD_MSIL1C.xml` or a SENTINEL2-readable zip) through
//! GDAL's SENTINEL2 driver, or a folder of per-band files (BigEarthNet patches, ESA
//! `IMG_DATA` band files). Opening reads metadata only, plus, when no metadata settles
//! the radiometry, one small decimated sample of the whole scene (at most 256 px on a
//! side, nearest neighbour, overviews where they exist) for the tests described in
//! [`super::radiometry`].
//!
//! A [`Scene`] is plain data (`Send + Sync + Clone`): band sources, grids, roles and the
//! radiometric decision. It holds no GDAL handle; reads open datasets on the calling
//! thread ([`Scene::reader`]).

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::bands::{BandRole, S2Band};
use super::error::RasterError;
use super::georef::{Bounds, Grid};
use super::open::{file_name, level_decision};
use super::radiometry::{self, ProcessingLevel, Radiometry, RadiometryInputs, SpectralSample};
use super::read::{ReadRequest, Resampling, SceneReader, Window};
use crate::jobs::CancelToken;

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
    /// GDAL dataset holding the band (a file path or a subdataset name).
    pub source: String,
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
            .map(|&(lon, lat)| super::georef::lonlat_to_web_mercator(lon, lat))
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
    /// Open a scene (see the module docs). Never panics on bad input; errors name the
    /// file and the problem.
    pub fn open(path: &Path, cancel: &CancelToken) -> Result<Scene, RasterError> {
        super::init_gdal();
        cancel.check()?;
        if !path.exists() {
            return Err(RasterError::NotFound {
                path: path.to_path_buf(),
            });
        }
        if path.is_dir() {
            for mtd in ["MTD_MSIL2A.xml", "MTD_MSIL1C.xml"] {
                let p = path.join(mtd);
                if p.is_file() {
                    return Self::open_safe(path, &p, cancel);
                }
            }
            return Self::open_band_folder(path, cancel);
        }
        let upper = file_name(path).to_ascii_uppercase();
        if upper.starts_with("MTD_MSIL") && upper.ends_with(".XML") {
            return Self::open_safe(path, path, cancel);
        }
        Self::open_file(path, cancel)
    }

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

    /// A reader for this scene on the current thread (keeps datasets open).
    pub fn reader(&self) -> SceneReader<'_> {
        SceneReader::new(self)
    }

    /// Read a window (opens the datasets for this call only; use [`Scene::reader`] for
    /// many reads).
    pub fn read(
        &self,
        req: &ReadRequest,
        cancel: &CancelToken,
    ) -> Result<super::read::BandStack, RasterError> {
        self.reader().read(req, cancel)
    }

    /// A sample of the whole scene for histograms and stretches, about `max_side` pixels
    /// on the long side, nearest neighbour (exact values): a decimated read when the bands
    /// have overviews, are JPEG 2000, or the scene is small; otherwise (a big file without overviews, where
    /// a decimated read would decode every block) a mosaic of 8 × 8 full-resolution
    /// patches spread over the scene, whose `geo_transform` is all zeros (not a map grid)
    /// and whose notes say so.
    pub fn sample(
        &self,
        bands: &[usize],
        max_side: usize,
        cancel: &CancelToken,
    ) -> Result<super::read::BandStack, RasterError> {
        let reader = self.reader();
        let raw = self.sample_raw(&reader, bands, max_side, cancel)?;
        let mut data = Vec::with_capacity(raw.width * raw.height * bands.len());
        for (&b, mut plane) in bands.iter().zip(raw.planes) {
            if let Some(band) = self.info.bands.get(b) {
                super::read::harmonise(band, &mut plane);
            }
            data.extend_from_slice(&plane);
        }
        let g = &self.info.grid.geo_transform;
        let geo_transform = if raw.mosaic {
            [0.0; 6]
        } else {
            [
                g[0],
                g[1] * self.info.grid.width as f64 / raw.width as f64,
                0.0,
                g[3],
                0.0,
                g[5] * self.info.grid.height as f64 / raw.height as f64,
            ]
        };
        Ok(super::read::BandStack {
            width: raw.width,
            height: raw.height,
            bands: bands.to_vec(),
            scene_roles: self.roles(),
            data,
            geo_transform,
            crs_wkt: if raw.mosaic {
                String::new()
            } else {
                self.info.crs.wkt.clone()
            },
            notes: raw.notes,
        })
    }

    /// Raw planes of a whole-scene sample (see [`Scene::sample`]).
    pub(super) fn sample_raw(
        &self,
        reader: &SceneReader<'_>,
        bands: &[usize],
        max_side: usize,
        cancel: &CancelToken,
    ) -> Result<RawSample, RasterError> {
        const PER_SIDE: usize = 8;
        let g = &self.info.grid;
        let with_overviews = bands.iter().all(|&b| {
            self.info
                .bands
                .get(b)
                .is_some_and(|x| x.overviews > 0 || x.arbitrary_overviews || x.jp2)
        });
        let patch = (max_side / PER_SIDE)
            .min(g.width / PER_SIDE)
            .min(g.height / PER_SIDE);
        let mut notes = Vec::new();
        if with_overviews || g.width.max(g.height) <= 4 * max_side || patch < 4 {
            let (w, h) = fit_size(g.width, g.height, max_side);
            let mut planes = Vec::with_capacity(bands.len());
            for &b in bands {
                cancel.check()?;
                planes.push(reader.read_raw(
                    b,
                    Window::new(0, 0, g.width, g.height),
                    w,
                    h,
                    Resampling::Nearest,
                    cancel,
                    &mut notes,
                )?);
            }
            return Ok(RawSample {
                width: w,
                height: h,
                planes,
                mosaic: false,
                notes,
            });
        }
        let side = PER_SIDE * patch;
        let (cell_w, cell_h) = (g.width / PER_SIDE, g.height / PER_SIDE);
        let mut planes = Vec::with_capacity(bands.len());
        for &b in bands {
            let mut plane = vec![f32::NAN; side * side];
            for j in 0..PER_SIDE {
                for i in 0..PER_SIDE {
                    cancel.check()?;
                    let x = i * cell_w + (cell_w - patch) / 2;
                    let y = j * cell_h + (cell_h - patch) / 2;
                    let v = reader.read_raw(
                        b,
                        Window::new(x as i64, y as i64, patch, patch),
                        patch,
                        patch,
                        Resampling::Nearest,
                        cancel,
                        &mut notes,
                    )?;
                    for r in 0..patch {
                        let dst = (j * patch + r) * side + i * patch;
                        plane[dst..dst + patch].copy_from_slice(&v[r * patch..(r + 1) * patch]);
                    }
                }
            }
            planes.push(plane);
        }
        notes.push(format!(
            "no overviews: sampled {} full-resolution patches of {patch} px instead of a \
             decimated read (which would decode the whole file)",
            PER_SIDE * PER_SIDE
        ));
        Ok(RawSample {
            width: side,
            height: side,
            planes,
            mosaic: true,
            notes,
        })
    }
}

/// Raw sample planes (see [`Scene::sample`]).
pub(super) struct RawSample {
    pub width: usize,
    pub height: usize,
    pub planes: Vec<Vec<f32>>,
    /// A mosaic of patches rather than a decimated grid.
    pub mosaic: bool,
    pub notes: Vec<String>,
}

fn is_integer_type_name(name: &str) -> bool {
    !name.starts_with("Float") && name != "Unknown"
}

/// Output size that fits `w × h` into `max_side` keeping the aspect (never upsampling).
pub fn fit_size(w: usize, h: usize, max_side: usize) -> (usize, usize) {
    let long = w.max(h).max(1);
    if long <= max_side {
        return (w.max(1), h.max(1));
    }
    let f = max_side as f64 / long as f64;
    (
        ((w as f64 * f).round() as usize).max(1),
        ((h as f64 * f).round() as usize).max(1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}

    #[test]
    fn results_are_plain_data() {
        send_sync::<Scene>();
        send_sync::<SceneInfo>();
        send_sync::<crate::raster::BandStack>();
        send_sync::<crate::raster::PixelReport>();
        send_sync::<crate::raster::RgbaImage>();
        send_sync::<RasterError>();
        send::<SceneReader<'static>>();
    }

    #[test]
    fn fit_size_keeps_aspect() {
        assert_eq!(fit_size(10980, 10980, 256), (256, 256));
        assert_eq!(fit_size(930, 947, 256), (251, 256));
        assert_eq!(fit_size(120, 120, 256), (120, 120));
    }
}

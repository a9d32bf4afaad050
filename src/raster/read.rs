//! Reads: a window of the scene's reference grid (finest resolution; it may extend past
//! the edges, which read as nodata) at an output size, for a set of bands, each resampled
//! from its native grid with GDAL's RasterIO (floating-point source windows, overviews
//! for decimated reads), returned as a [`BandStack`] of f32 values already harmonised:
//! spectral bands as reflectance × 10000 with the BOA offset removed, other layers (SCL,
//! probabilities) raw; NaN = nodata. Also the whole-scene sample for statistics
//! ([`Scene::sample`]), which never reads the scene in full.
//!
//! Threads: a [`SceneReader`] keeps GDAL datasets open between reads and is `Send` but
//! not `Sync`; create one per worker thread ([`Scene::reader`]). Everything returned is
//! plain data. Reads check the [`CancelToken`] between bands and inside GDAL's RasterIO.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void};
use std::path::PathBuf;

use gdal::Dataset;
use gdal::raster::GdalDataType;
use gdal_sys::{CPLErr, GDALDataType, GDALRIOResampleAlg, GDALRWFlag, GDALRasterIOExtraArg};
use serde::{Deserialize, Serialize};

use super::bands::BandRole;
use super::error::{RasterError, gdal_message};
use super::georef::Grid;
use super::scene::{BandInfo, Scene};
use crate::jobs::CancelToken;

/// Resampling of continuous bands (categorical layers such as SCL always use nearest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resampling {
    Nearest,
    #[default]
    Bilinear,
    Cubic,
    Average,
}

impl Resampling {
    pub(crate) fn gdal_rio(self) -> GDALRIOResampleAlg::Type {
        match self {
            Resampling::Nearest => GDALRIOResampleAlg::GRIORA_NearestNeighbour,
            Resampling::Bilinear => GDALRIOResampleAlg::GRIORA_Bilinear,
            Resampling::Cubic => GDALRIOResampleAlg::GRIORA_Cubic,
            Resampling::Average => GDALRIOResampleAlg::GRIORA_Average,
        }
    }

    /// The resampling used for a band of this role.
    pub fn for_role(self, role: BandRole) -> Resampling {
        if role.is_categorical() {
            Resampling::Nearest
        } else {
            self
        }
    }
}

/// A window of the reference grid in pixels; may extend past the grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub x: i64,
    pub y: i64,
    pub width: usize,
    pub height: usize,
}

impl Window {
    pub fn new(x: i64, y: i64, width: usize, height: usize) -> Window {
        Window {
            x,
            y,
            width,
            height,
        }
    }
}

/// What to read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadRequest {
    /// Scene band indices.
    pub bands: Vec<usize>,
    pub window: Window,
    /// Output size; equal to the window size for a read at reference resolution.
    pub out_width: usize,
    pub out_height: usize,
    pub resampling: Resampling,
}

impl ReadRequest {
    /// A read at the reference resolution (e.g. a 224×224 model tile at 10 m).
    pub fn full_resolution(bands: Vec<usize>, window: Window) -> ReadRequest {
        ReadRequest {
            bands,
            window,
            out_width: window.width,
            out_height: window.height,
            resampling: Resampling::default(),
        }
    }
}

/// Band planes on one output grid. Plain data, cheap to send to the UI thread.
#[derive(Debug, Clone, PartialEq)]
pub struct BandStack {
    pub width: usize,
    pub height: usize,
    /// Scene band index of each plane.
    pub bands: Vec<usize>,
    /// Roles of all the scene's bands (so composites can find theirs).
    pub scene_roles: Vec<BandRole>,
    /// Plane-major values: plane `i` is `data[i*w*h .. (i+1)*w*h]`, rows top to bottom.
    pub data: Vec<f32>,
    /// Geotransform of the output grid in `crs_wkt`.
    pub geo_transform: [f64; 6],
    pub crs_wkt: String,
    /// What the read had to do differently from what was asked (e.g. nearest instead
    /// of bilinear where no overviews exist), for the log or a tooltip.
    pub notes: Vec<String>,
}

impl BandStack {
    pub fn plane_len(&self) -> usize {
        self.width * self.height
    }

    /// Plane `i` (in request order).
    pub fn plane(&self, i: usize) -> &[f32] {
        let n = self.plane_len();
        self.data.get(i * n..(i + 1) * n).unwrap_or(&[])
    }

    /// Plane of scene band `b`, if it was read.
    pub fn band_of_scene_index(&self, b: usize) -> Option<&[f32]> {
        self.bands
            .iter()
            .position(|x| *x == b)
            .map(|i| self.plane(i))
    }

    /// Plane of the first band with this role, if it was read.
    pub fn band_of_role(&self, role: BandRole) -> Option<&[f32]> {
        self.bands
            .iter()
            .position(|b| self.scene_roles.get(*b) == Some(&role))
            .map(|i| self.plane(i))
    }

    /// Role of plane `i`.
    pub fn plane_role(&self, i: usize) -> BandRole {
        self.bands
            .get(i)
            .and_then(|b| self.scene_roles.get(*b))
            .copied()
            .unwrap_or(BandRole::Other)
    }

    /// Value of plane `i` at output pixel (x, y).
    pub fn value(&self, i: usize, x: usize, y: usize) -> f32 {
        if x >= self.width || y >= self.height {
            return f32::NAN;
        }
        self.plane(i)
            .get(y * self.width + x)
            .copied()
            .unwrap_or(f32::NAN)
    }

    /// Output grid as a [`Grid`].
    pub fn grid(&self) -> Grid {
        Grid {
            width: self.width,
            height: self.height,
            geo_transform: self.geo_transform,
        }
    }

    /// Fraction of pixels that are nodata in every plane.
    pub fn nodata_fraction(&self) -> f64 {
        let n = self.plane_len();
        if n == 0 {
            return 1.0;
        }
        let empty = (0..n)
            .filter(|&p| (0..self.bands.len()).all(|i| self.plane(i)[p].is_nan()))
            .count();
        empty as f64 / n as f64
    }
}

/// GDAL progress callback that aborts RasterIO/warp once the token is cancelled.
pub(crate) unsafe extern "C" fn cancel_progress(
    _complete: f64,
    _message: *const c_char,
    data: *mut c_void,
) -> c_int {
    if data.is_null() {
        return 1;
    }
    // SAFETY: `data` is the `&CancelToken` passed by the caller, alive for the call.
    let token = unsafe { &*(data as *const CancelToken) };
    c_int::from(!token.is_cancelled())
}

/// Error from the low-level read, turned into [`RasterError`] by the caller.
pub(crate) enum ReadFail {
    Cancelled,
    Gdal(String),
}

/// Read one band of `ds` for a window of the reference grid `reference` into an
/// `out_w × out_h` buffer of raw values (as f32), NaN outside the band's extent.
#[allow(clippy::too_many_arguments)]
pub(crate) fn read_band_raw(
    ds: &Dataset,
    band: &BandInfo,
    reference: &Grid,
    window: Window,
    out_w: usize,
    out_h: usize,
    resampling: Resampling,
    cancel: &CancelToken,
    notes: &mut Vec<String>,
) -> Result<Vec<f32>, ReadFail> {
    let mut out = vec![f32::NAN; out_w * out_h];
    if out_w == 0 || out_h == 0 || window.width == 0 || window.height == 0 {
        return Ok(out);
    }
    let rb = ds
        .rasterband(band.source_band)
        .map_err(|e| ReadFail::Gdal(gdal_message(&e)))?;
    let (bw, bh) = (band.grid.width as f64, band.grid.height as f64);
    // Window in the band's pixel space (grids are north-up).
    let (wx, wy) = reference.pixel_to_crs(window.x as f64, window.y as f64);
    let (x0, y0) = band.grid.crs_to_pixel(wx, wy);
    let sx = window.width as f64 * reference.geo_transform[1] / band.grid.geo_transform[1];
    let sy = window.height as f64 * reference.geo_transform[5] / band.grid.geo_transform[5];
    let (px, py) = (sx / out_w as f64, sy / out_h as f64); // band pixels per output pixel
    // Output pixels whose centres fall inside the band.
    let i0 = ((-x0 / px) - 0.5).ceil().max(0.0) as usize;
    let i1 = (((bw - x0) / px) - 0.5).ceil().clamp(0.0, out_w as f64) as usize;
    let j0 = ((-y0 / py) - 0.5).ceil().max(0.0) as usize;
    let j1 = (((bh - y0) / py) - 0.5).ceil().clamp(0.0, out_h as f64) as usize;
    if i0 >= i1 || j0 >= j1 {
        return Ok(out);
    }
    let (bufw, bufh) = (i1 - i0, j1 - j0);
    let fx = (x0 + i0 as f64 * px).max(0.0);
    let fy = (y0 + j0 as f64 * py).max(0.0);
    let fw = (x0 + i1 as f64 * px).min(bw) - fx;
    let fh = (y0 + j1 as f64 * py).min(bh) - fy;
    // Integer window as GDAL's VRT driver derives it: floor of the offset, rounded size
    // (GDAL wants `dfXOff - nXOff < 1` and `|nXSize - dfXSize| < 1`).
    let snap = |v: f64| {
        if (v - v.round()).abs() < 1e-6 {
            v.round()
        } else {
            v
        }
    };
    let (fx, fy, fw, fh) = (snap(fx), snap(fy), snap(fw), snap(fh));
    let nx = fx.floor() as isize;
    let ny = fy.floor() as isize;
    let nw = (fw.round() as isize)
        .min(band.grid.width as isize - nx)
        .max(1);
    let nh = (fh.round() as isize)
        .min(band.grid.height as isize - ny)
        .max(1);

    let decimating = fw / bufw as f64 > 1.5 || fh / bufh as f64 > 1.5;
    let mut alg = resampling.for_role(band.role);
    if decimating && alg != Resampling::Nearest && band.overviews == 0 && !band.arbitrary_overviews
    {
        // Without overviews an interpolating decimation reads every source pixel; nearest
        // reads only the sampled rows (a 10980² band must never be read in full for a preview).
        notes.push(format!(
            "{}: no overviews, decimated with nearest neighbour",
            band.role
        ));
        alg = Resampling::Nearest;
    }
    let mut extra = GDALRasterIOExtraArg {
        nVersion: 1,
        eResampleAlg: alg.gdal_rio(),
        pfnProgress: Some(cancel_progress),
        pProgressData: cancel as *const CancelToken as *mut c_void,
        bFloatingPointWindowValidity: 1,
        dfXOff: fx,
        dfYOff: fy,
        dfXSize: fw,
        dfYSize: fh,
    };
    let offset = j0 * out_w + i0;
    // SAFETY: the buffer holds out_w*out_h f32; writing bufw×bufh pixels with pixel
    // spacing 4 bytes and line spacing out_w*4 bytes from `offset` stays inside it.
    let rv = unsafe {
        gdal_sys::GDALRasterIOEx(
            rb.c_rasterband(),
            GDALRWFlag::GF_Read,
            nx as c_int,
            ny as c_int,
            nw as c_int,
            nh as c_int,
            out.as_mut_ptr().add(offset) as *mut c_void,
            bufw as c_int,
            bufh as c_int,
            GDALDataType::GDT_Float32,
            4,
            (out_w * 4) as gdal_sys::GSpacing,
            &mut extra,
        )
    };
    if cancel.is_cancelled() {
        return Err(ReadFail::Cancelled);
    }
    if rv != CPLErr::CE_None {
        return Err(ReadFail::Gdal(last_gdal_error()));
    }
    // Pixels outside the band (when only part of the output is covered) stay NaN; mark
    // the declared nodata value as NaN too.
    if let Some(nd) = band.nodata
        && !nd.is_nan()
    {
        let nd = nd as f32;
        for v in out.iter_mut() {
            if *v == nd {
                *v = f32::NAN;
            }
        }
    }
    Ok(out)
}

/// The last GDAL error message of this thread.
pub(crate) fn last_gdal_error() -> String {
    // SAFETY: CPLGetLastErrorMsg returns a pointer to a thread-local, NUL-terminated string.
    let msg = unsafe { std::ffi::CStr::from_ptr(gdal_sys::CPLGetLastErrorMsg()) };
    let s = msg.to_string_lossy().trim().to_string();
    if s.is_empty() {
        "GDAL reported an error without a message".to_string()
    } else {
        s
    }
}

/// Apply a band's radiometric transform in place: nodata → NaN, then `raw × gain + offset`.
pub(crate) fn harmonise(band: &BandInfo, values: &mut [f32]) {
    let (gain, offset) = (band.gain as f32, band.offset as f32);
    let identity = gain == 1.0 && offset == 0.0;
    for v in values.iter_mut() {
        if v.is_nan() {
            continue;
        }
        if band.zero_is_nodata && *v == 0.0 {
            *v = f32::NAN;
        } else if !identity {
            *v = *v * gain + offset;
        }
    }
}

/// An open band source, possibly wrapped in an in-memory VRT. The VRT refers to the
/// base dataset's bands, so it is declared (and dropped) first.
struct Opened {
    vrt: Option<Dataset>,
    base: Dataset,
}

/// Reads windows of one scene, keeping its GDAL datasets open. `Send`, not `Sync`.
pub struct SceneReader<'a> {
    scene: &'a Scene,
    /// By source and whether it is wrapped in a VRT declaring DN 0 nodata.
    datasets: RefCell<HashMap<(PathBuf, bool), Opened>>,
}

impl<'a> SceneReader<'a> {
    pub(crate) fn new(scene: &'a Scene) -> SceneReader<'a> {
        SceneReader {
            scene,
            datasets: RefCell::new(HashMap::new()),
        }
    }

    pub fn scene(&self) -> &Scene {
        self.scene
    }

    /// Read raw values (no harmonisation, declared nodata as NaN) of one band.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn read_raw(
        &self,
        band_index: usize,
        window: Window,
        out_w: usize,
        out_h: usize,
        resampling: Resampling,
        cancel: &CancelToken,
        notes: &mut Vec<String>,
    ) -> Result<Vec<f32>, RasterError> {
        let info = self.scene.info();
        let band = info.bands.get(band_index).ok_or_else(|| {
            RasterError::InvalidRequest(format!(
                "band {} does not exist ({} has {} bands)",
                band_index + 1,
                info.path.display(),
                info.bands.len()
            ))
        })?;
        // Interpolating a band whose nodata (DN 0) is not declared in the file would blend
        // 0 into valid pixels at nodata edges: read it through an in-memory VRT that
        // declares 0 as nodata, so GDAL's resampler masks it. Decimated reads skip this
        // (they rely on the source's overviews; at most a one-pixel fringe at the edge).
        let alg = resampling.for_role(band.role);
        let src_px_per_out = (window.width as f64 * info.grid.resolution())
            / (band.grid.resolution() * out_w.max(1) as f64);
        let wrap_nodata = band.zero_is_nodata
            && band.nodata.is_none()
            && alg != Resampling::Nearest
            && src_px_per_out <= 1.5;
        let key = (band.source.clone(), wrap_nodata);
        let mut cache = self.datasets.borrow_mut();
        if !cache.contains_key(&key) {
            let open_err = |e: gdal::errors::GdalError| RasterError::Open {
                path: band.source.clone(),
                message: gdal_message(&e),
            };
            let base = super::open::gdal_open(&band.source).map_err(open_err)?;
            let vrt = if wrap_nodata {
                let drv = gdal::DriverManager::get_driver_by_name("VRT").map_err(open_err)?;
                let vrt = base
                    .create_copy(&drv, "", &Default::default())
                    .map_err(open_err)?;
                for i in 1..=vrt.raster_count() {
                    vrt.rasterband(i)
                        .and_then(|mut rb| rb.set_no_data_value(Some(0.0)))
                        .map_err(open_err)?;
                }
                Some(vrt)
            } else {
                None
            };
            cache.insert(key.clone(), Opened { vrt, base });
        }
        let opened = cache.get(&key).ok_or_else(|| RasterError::Open {
            path: band.source.clone(),
            message: "dataset vanished from the cache".into(),
        })?;
        let ds = opened.vrt.as_ref().unwrap_or(&opened.base);
        let fail = |e: ReadFail| match e {
            ReadFail::Cancelled => RasterError::Cancelled(crate::jobs::Cancelled),
            ReadFail::Gdal(message) => RasterError::Read {
                path: band.source.clone(),
                band: band.role.label().to_string(),
                message,
            },
        };
        let mut values = read_band_raw(
            ds, band, &info.grid, window, out_w, out_h, resampling, cancel, notes,
        )
        .map_err(fail)?;
        if wrap_nodata {
            // The masked interpolation still extends valid values half a native pixel
            // into nodata areas; a pixel is nodata when the native pixel under its
            // centre is.
            let nearest = read_band_raw(
                &opened.base,
                band,
                &info.grid,
                window,
                out_w,
                out_h,
                Resampling::Nearest,
                cancel,
                notes,
            )
            .map_err(fail)?;
            for (v, n) in values.iter_mut().zip(&nearest) {
                if *n == 0.0 || n.is_nan() {
                    *v = f32::NAN;
                }
            }
        }
        Ok(values)
    }

    /// Read a window (see the module docs).
    pub fn read(&self, req: &ReadRequest, cancel: &CancelToken) -> Result<BandStack, RasterError> {
        let info = self.scene.info();
        if req.out_width == 0 || req.out_height == 0 {
            return Err(RasterError::InvalidRequest("output size is zero".into()));
        }
        if req.out_width.saturating_mul(req.out_height) > 64 * 1024 * 1024 {
            return Err(RasterError::InvalidRequest(format!(
                "output {}×{} is too large for one read",
                req.out_width, req.out_height
            )));
        }
        let n = req.out_width * req.out_height;
        let mut data = Vec::with_capacity(n * req.bands.len());
        let mut notes = Vec::new();
        for &b in &req.bands {
            cancel.check()?;
            let mut plane = self.read_raw(
                b,
                req.window,
                req.out_width,
                req.out_height,
                req.resampling,
                cancel,
                &mut notes,
            )?;
            if let Some(band) = info.bands.get(b) {
                harmonise(band, &mut plane);
            }
            data.extend_from_slice(&plane);
        }
        notes.dedup();
        let g = info.grid.geo_transform;
        let (ox, oy) = info
            .grid
            .pixel_to_crs(req.window.x as f64, req.window.y as f64);
        Ok(BandStack {
            width: req.out_width,
            height: req.out_height,
            bands: req.bands.clone(),
            scene_roles: info.bands.iter().map(|b| b.role).collect(),
            data,
            geo_transform: [
                ox,
                g[1] * req.window.width as f64 / req.out_width as f64,
                0.0,
                oy,
                0.0,
                g[5] * req.window.height as f64 / req.out_height as f64,
            ],
            crs_wkt: info.crs.wkt.clone(),
            notes,
        })
    }
}

/// True for GDAL integer pixel types.
pub(crate) fn is_integer_type(t: GdalDataType) -> bool {
    t.is_integer()
}

impl Scene {
    /// A reader for this scene on the current thread (keeps datasets open).
    pub fn reader(&self) -> SceneReader<'_> {
        SceneReader::new(self)
    }

    /// Read a window (opens the datasets for this call only; use [`Scene::reader`] for
    /// many reads).
    pub fn read(&self, req: &ReadRequest, cancel: &CancelToken) -> Result<BandStack, RasterError> {
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
    ) -> Result<BandStack, RasterError> {
        let reader = self.reader();
        let raw = self.sample_raw(&reader, bands, max_side, cancel)?;
        let mut data = Vec::with_capacity(raw.width * raw.height * bands.len());
        for (&b, mut plane) in bands.iter().zip(raw.planes) {
            if let Some(band) = self.info.bands.get(b) {
                harmonise(band, &mut plane);
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
        Ok(BandStack {
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

    #[test]
    fn fit_size_keeps_aspect() {
        assert_eq!(fit_size(10980, 10980, 256), (256, 256));
        assert_eq!(fit_size(930, 947, 256), (251, 256));
        assert_eq!(fit_size(120, 120, 256), (120, 120));
    }
}

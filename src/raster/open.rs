//! Opening a scene ([`Scene::open`]): a multi-band raster file (GeoTIFF/COG/JP2 in any
//! CRS), a `.SAFE` product (folder, `MTD_MSIL2A.xml`/`MTD_MSIL1C.xml` or a
//! SENTINEL2-readable zip) through GDAL's SENTINEL2 driver (plus the offsets GDAL 3.6
//! does not expose, from the MTD XML), or a folder of per-band files (BigEarthNet
//! patches, ESA `IMG_DATA` band files); then the common finish (footprint, level, the
//! small radiometry sample, the radiometric decision). Opening reads metadata only,
//! plus, when no metadata settles the radiometry, one small decimated sample of the
//! whole scene (at most 160 px on a side, nearest neighbour, overviews where they exist)
//! for the tests described in [`super::radiometry`]. Also the one-time GDAL
//! configuration ([`init_gdal`]).
//!
//! Runs on the calling thread; the datasets opened here are closed before returning.

use std::path::{Path, PathBuf};
use std::sync::Once;

use gdal::{Dataset, Metadata};
use sha2::{Digest, Sha256};

use super::bands::{BandRole, S2Band, convention_for_count, role_from_text};
use super::error::{RasterError, gdal_message};
use super::georef::{CrsTransformer, GeorefError, Grid};
use super::radiometry::{self, Radiometry, RadiometryInputs};
use super::read::is_integer_type;
use super::safe::{
    self, ProcessingLevel, ProductMetadata, baseline_hint, file_name, level_decision,
};
use super::scene::{BandInfo, CrsInfo, Scene, SceneInfo, SourceKind};
use crate::jobs::CancelToken;

static INIT: Once = Once::new();

/// Configure GDAL for Kestrel (idempotent, cheap after the first call).
pub fn init_gdal() {
    INIT.call_once(|| {
        gdal::config::set_error_handler(|class, code, msg| {
            log::debug!(target: "gdal", "{class:?} {code}: {msg}");
        });
        let set_default = |key: &str, value: &str| {
            if std::env::var_os(key).is_none()
                && let Err(e) = gdal::config::set_config_option(key, value)
            {
                log::warn!("cannot set GDAL option {key}: {e}");
            }
        };
        let threads = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(1, 4);
        set_default("GDAL_CACHEMAX", "256");
        // STAC assets read in place through /vsicurl/: no directory listing on open (and
        // no probing for side files, each a request), a block cache of fetched ranges,
        // parallel range requests with neighbours merged, and retries of transient HTTP
        // failures. Only for /vsicurl/: a local GeoTIFF's .ovr and .aux.xml and a PNG's
        // world file must still be found.
        if std::env::var_os("GDAL_DISABLE_READDIR_ON_OPEN").is_none() {
            set_path_option("/vsicurl/", "GDAL_DISABLE_READDIR_ON_OPEN", "EMPTY_DIR");
        }
        set_default(
            "CPL_VSIL_CURL_ALLOWED_EXTENSIONS",
            ".tif,.tiff,.TIF,.TIFF,.jp2,.JP2",
        );
        set_default("VSI_CACHE", "TRUE");
        set_default("VSI_CACHE_SIZE", "67108864");
        set_default("GDAL_HTTP_MULTIRANGE", "YES");
        set_default("GDAL_HTTP_MERGE_CONSECUTIVE_RANGES", "YES");
        set_default("GDAL_HTTP_MAX_RETRY", "3");
        set_default("GDAL_HTTP_RETRY_DELAY", "0.5");
        set_default("GDAL_HTTP_CONNECTTIMEOUT", "5");
        set_default("GDAL_HTTP_TIMEOUT", "60");
        set_default("GDAL_NUM_THREADS", &threads.to_string());
    });
}

/// A GDAL configuration option for paths under `prefix` only (VSISetPathSpecificOption).
fn set_path_option(prefix: &str, key: &str, value: &str) {
    let (Ok(p), Ok(k), Ok(v)) = (
        std::ffi::CString::new(prefix),
        std::ffi::CString::new(key),
        std::ffi::CString::new(value),
    ) else {
        return;
    };
    // SAFETY: three NUL-terminated strings that outlive the call; GDAL copies them.
    unsafe { gdal_sys::VSISetPathSpecificOption(p.as_ptr(), k.as_ptr(), v.as_ptr()) };
}

/// A band found while opening, before the radiometry is decided.
pub(super) struct Found {
    pub(super) role: BandRole,
    pub(super) identified_by: String,
    pub(super) description: String,
    pub(super) source: PathBuf,
    pub(super) source_band: usize,
    pub(super) grid: Grid,
    pub(super) data_type: GdalTypeInfo,
    pub(super) nodata: Option<f64>,
    pub(super) gdal_scale: Option<f64>,
    pub(super) gdal_offset: Option<f64>,
    pub(super) overviews: (usize, bool),
    pub(super) jp2: bool,
}

#[derive(Clone, Copy)]
pub(super) struct GdalTypeInfo {
    name: &'static str,
    integer: bool,
    byte: bool,
}

fn type_info(t: gdal::raster::GdalDataType) -> GdalTypeInfo {
    use gdal::raster::GdalDataType as T;
    let name = match t {
        T::UInt8 => "Byte",
        T::UInt16 => "UInt16",
        T::Int16 => "Int16",
        T::UInt32 => "UInt32",
        T::Int32 => "Int32",
        T::UInt64 => "UInt64",
        T::Int64 => "Int64",
        T::Float32 => "Float32",
        T::Float64 => "Float64",
        _ => "Unknown",
    };
    GdalTypeInfo {
        name,
        integer: is_integer_type(t),
        byte: matches!(t, T::UInt8),
    }
}

pub(super) fn open_dataset(path: &Path, source: &Path) -> Result<Dataset, RasterError> {
    gdal_open(source).map_err(|e| RasterError::Open {
        path: path.to_path_buf(),
        message: unreadable_reason(path).unwrap_or_else(|| gdal_message(&e)),
    })
}

/// `GDALOpenEx` on the bytes of `source`, as the `gdal` crate's `Dataset::open` does but
/// without its lossy UTF-8 conversion, so a file whose name is not UTF-8 (any bytes but
/// NUL are a valid Linux name) opens instead of GDAL looking for `chip_\u{fffd}.tif`.
pub(crate) fn gdal_open(source: &Path) -> gdal::errors::Result<Dataset> {
    #[cfg(unix)]
    let bytes = {
        use std::os::unix::ffi::OsStrExt as _;
        source.as_os_str().as_bytes().to_vec()
    };
    #[cfg(not(unix))]
    let bytes = source.to_string_lossy().into_owned().into_bytes();
    let c_source = std::ffi::CString::new(bytes)?;
    // what `Dataset::open` does first: register GDAL's drivers (once)
    static DRIVERS: Once = Once::new();
    DRIVERS.call_once(gdal::DriverManager::register_all);
    // SAFETY: a NUL-terminated name; NULL driver, option and sibling lists are allowed.
    let handle = unsafe {
        gdal_sys::GDALOpenEx(
            c_source.as_ptr(),
            gdal::GdalOpenFlags::GDAL_OF_READONLY.bits(),
            std::ptr::null(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    if handle.is_null() {
        return Err(gdal::errors::GdalError::NullPointer {
            method_name: "GDALOpenEx",
            msg: last_gdal_error(),
        });
    }
    // SAFETY: a dataset handle GDALOpenEx just returned, owned by the new `Dataset`.
    Ok(unsafe { Dataset::from_c_dataset(handle) })
}

/// The values of the `*_NAME` items of a dataset's `SUBDATASETS` metadata, byte for byte:
/// the `gdal` crate's `metadata_domain` converts them lossily, and a subdataset name
/// holds the product's path (`SENTINEL2_L2A:/data/café/…/MTD_MSIL2A.xml:10m:EPSG_32634`),
/// so a folder whose name is not UTF-8 would become one that does not exist.
pub(super) fn subdataset_names(ds: &Dataset) -> Vec<PathBuf> {
    let domain = c"SUBDATASETS";
    // SAFETY: a valid dataset handle and a NUL-terminated domain; GDALGetMetadata returns
    // NULL or a NULL-terminated list of NUL-terminated strings owned by the dataset, which
    // are copied here before the dataset can change.
    let items: Vec<Vec<u8>> = unsafe {
        let list = gdal_sys::GDALGetMetadata(ds.c_dataset(), domain.as_ptr());
        let mut items = Vec::new();
        if !list.is_null() {
            let mut i = 0;
            while !(*list.add(i)).is_null() {
                items.push(std::ffi::CStr::from_ptr(*list.add(i)).to_bytes().to_vec());
                i += 1;
            }
        }
        items
    };
    items
        .into_iter()
        .filter_map(|kv| {
            let eq = kv.iter().position(|&b| b == b'=')?;
            let (k, v) = (&kv[..eq], &kv[eq + 1..]);
            k.ends_with(b"_NAME")
                .then(|| crate::paths::path_from_bytes(v.to_vec()))
        })
        .collect()
}

/// GDAL's last error message (and reset it), as the `gdal` crate reports a NULL handle.
fn last_gdal_error() -> String {
    // SAFETY: CPLGetLastErrorMsg returns a pointer to a thread-local NUL-terminated string
    // (never NULL), valid until the next CPL call; it is copied before CPLErrorReset.
    unsafe {
        let msg = std::ffi::CStr::from_ptr(gdal_sys::CPLGetLastErrorMsg())
            .to_string_lossy()
            .into_owned();
        gdal_sys::CPLErrorReset();
        msg
    }
}

/// Why GDAL cannot open `path`, in plainer words than its own ("NULL pointer" for an empty
/// file or a text file named `.tif`): the file is empty, or named `.tif`/`.tiff` without a
/// TIFF header. `None` when neither applies (GDAL's message is then the one to show).
/// Only looks at the first bytes of a regular file.
pub fn unreadable_reason(path: &Path) -> Option<String> {
    use std::io::Read as _;
    let meta = std::fs::metadata(path).ok().filter(|m| m.is_file())?;
    if meta.len() == 0 {
        return Some("the file is empty (0 bytes)".into());
    }
    let tif = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("tif") || e.eq_ignore_ascii_case("tiff"));
    if tif {
        let mut head = Vec::with_capacity(4);
        std::fs::File::open(path)
            .ok()?
            .take(4)
            .read_to_end(&mut head)
            .ok()?;
        let is_tiff = matches!(&head[..], b"II*\0" | b"MM\0*" | b"II+\0" | b"MM\0+");
        if !is_tiff {
            return Some("it is not a TIFF file (it does not start with a TIFF header)".into());
        }
    }
    None
}

/// North-up grid of a dataset, or why it has none.
pub(super) fn dataset_grid(ds: &Dataset, path: &Path) -> Result<Grid, RasterError> {
    let (w, h) = ds.raster_size();
    let gt = ds.geo_transform().map_err(|_| RasterError::NoCrs {
        path: path.to_path_buf(),
        detail: "no geotransform".into(),
    })?;
    if gt[2] != 0.0 || gt[4] != 0.0 {
        return Err(RasterError::Unsupported {
            path: path.to_path_buf(),
            reason: "rotated or sheared geotransform (only north-up grids are supported)".into(),
        });
    }
    if gt[1] <= 0.0 || gt[5] >= 0.0 {
        return Err(RasterError::Unsupported {
            path: path.to_path_buf(),
            reason: format!(
                "unusual pixel size {} × {} (expected north-up)",
                gt[1], gt[5]
            ),
        });
    }
    Ok(Grid {
        width: w,
        height: h,
        geo_transform: gt,
    })
}

pub(super) fn crs_info(ds: &Dataset, path: &Path, what: &str) -> Result<CrsInfo, RasterError> {
    let wkt = ds.projection();
    if wkt.trim().is_empty() {
        return Err(RasterError::NoCrs {
            path: path.to_path_buf(),
            detail: what.to_string(),
        });
    }
    let srs = ds.spatial_ref().map_err(|e| RasterError::NoCrs {
        path: path.to_path_buf(),
        detail: gdal_message(&e),
    })?;
    let epsg = match srs.auth_name().as_deref() {
        Some("EPSG") => srs.auth_code().ok().and_then(|c| u32::try_from(c).ok()),
        _ => None,
    };
    Ok(CrsInfo {
        epsg,
        name: srs.name().unwrap_or_default(),
        wkt,
    })
}

pub(super) fn same_crs(a: &CrsInfo, b: &CrsInfo) -> bool {
    match (a.epsg, b.epsg) {
        (Some(x), Some(y)) => x == y,
        _ => a.wkt == b.wkt,
    }
}

/// Facts about band `i` (1-based) of `ds` (opened from `source`, on `grid`), with no
/// role yet.
pub(super) fn band_facts(
    ds: &Dataset,
    i: usize,
    path: &Path,
    source: &Path,
    grid: Grid,
) -> Result<Found, RasterError> {
    let rb = ds.rasterband(i).map_err(|e| RasterError::Open {
        path: path.to_path_buf(),
        message: gdal_message(&e),
    })?;
    let count = rb.overview_count().map_or(0, |c| c.max(0) as usize);
    // SAFETY: a valid band handle for the lifetime of `rb`.
    let arbitrary = unsafe { gdal_sys::GDALHasArbitraryOverviews(rb.c_rasterband()) } != 0;
    Ok(Found {
        role: BandRole::Other,
        identified_by: String::new(),
        description: rb.description().unwrap_or_default(),
        source: source.to_path_buf(),
        source_band: i,
        grid,
        data_type: type_info(rb.band_type()),
        nodata: rb.no_data_value(),
        gdal_scale: rb.scale().filter(|s| *s != 1.0),
        gdal_offset: rb.offset().filter(|o| *o != 0.0),
        overviews: (count, arbitrary),
        jp2: ds.driver().short_name() == "JP2OpenJPEG"
            || source
                .as_os_str()
                .as_encoded_bytes()
                .starts_with(b"SENTINEL2_"),
    })
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Stable identity: `<name>-<16 hex>` from sizes, mtimes and the first 64 KiB of files.
pub(super) fn identity(name: &str, files: &[PathBuf], extra: &[u8]) -> String {
    use std::io::Read as _;
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(extra);
    let mut files = files.to_vec();
    files.sort();
    for f in &files {
        h.update(file_name(f).as_bytes());
        if let Ok(md) = std::fs::metadata(f) {
            h.update(md.len().to_le_bytes());
            if let Ok(t) = md.modified()
                && let Ok(d) = t.duration_since(std::time::UNIX_EPOCH)
            {
                h.update(d.as_secs().to_le_bytes());
            }
        }
        if let Ok(file) = std::fs::File::open(f) {
            let mut buf = Vec::with_capacity(65536);
            if file.take(65536).read_to_end(&mut buf).is_ok() {
                h.update(&buf);
            }
        }
    }
    let digest = hex::encode(h.finalize());
    let short: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(60)
        .collect();
    format!("{short}-{}", &digest[..16])
}

impl Scene {
    /// Open a scene (see the module docs). Never panics on bad input; errors name the
    /// file and the problem.
    pub fn open(path: &Path, cancel: &CancelToken) -> Result<Scene, RasterError> {
        init_gdal();
        cancel.check()?;
        if crate::stac::is_item_source(path) {
            return Self::open_stac_item(path, cancel);
        }
        let meta = match std::fs::metadata(path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(RasterError::NotFound {
                    path: path.to_path_buf(),
                });
            }
            Err(e) => {
                return Err(RasterError::Inaccessible {
                    path: path.to_path_buf(),
                    detail: e.to_string(),
                });
            }
        };
        if !meta.is_file() && !meta.is_dir() {
            // a FIFO or a device would block GDAL forever
            return Err(RasterError::NotAFile {
                path: path.to_path_buf(),
                kind: crate::paths::file_kind(&meta),
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

    // ---------------------------------------------------------------- openers

    fn open_file(path: &Path, cancel: &CancelToken) -> Result<Scene, RasterError> {
        let src = path.to_path_buf();
        let ds = open_dataset(path, &src)?;
        let driver = ds.driver().short_name();
        if driver == "SENTINEL2" {
            drop(ds);
            return Self::open_safe(path, path, cancel);
        }
        let count = ds.raster_count();
        if count == 0 {
            return Err(RasterError::Unsupported {
                path: path.to_path_buf(),
                reason: format!("{driver} file with no raster bands"),
            });
        }
        // The grid is checked after the 8-bit test (a JPEG without georeferencing should
        // say it is a picture); bands get it below.
        let unset = Grid {
            width: 0,
            height: 0,
            geo_transform: [0.0; 6],
        };
        let mut facts = Vec::with_capacity(count);
        for i in 1..=count {
            facts.push(band_facts(&ds, i, path, &src, unset)?);
        }
        // Identify bands: descriptions, then (single band) the file name, then conventions.
        let by_desc: Vec<Option<(BandRole, String)>> = facts
            .iter()
            .map(|f| role_from_text(&f.description))
            .collect();
        let n_desc = by_desc.iter().flatten().count();
        let desc_roles: Vec<BandRole> = by_desc.iter().flatten().map(|r| r.0).collect();
        let desc_unique = desc_roles
            .iter()
            .enumerate()
            .all(|(i, r)| !desc_roles[..i].contains(r));
        let by_name = if count == 1 {
            role_from_text(&stem(path))
        } else {
            None
        };
        let all_byte = facts.iter().all(|f| f.data_type.byte);
        if all_byte && n_desc == 0 && by_name.is_none() {
            let georef = if ds.projection().trim().is_empty() {
                "without georeferencing"
            } else {
                "with georeferencing"
            };
            return Err(RasterError::Unsupported {
                path: path.to_path_buf(),
                reason: format!(
                    "a {count}-band 8-bit {driver} image {georef}: a rendered picture (preview, \
                     true-colour image), not Sentinel-2 reflectance bands"
                ),
            });
        }
        let crs = crs_info(
            &ds,
            path,
            &format!("{driver}, {count} band(s), no projection"),
        )?;
        let grid = dataset_grid(&ds, path)?;
        let mut notes = Vec::new();
        let mut confirmed = true;
        let mut roles_why: Vec<(BandRole, String)> = Vec::with_capacity(count);
        if n_desc > 0 && desc_unique {
            for (f, d) in facts.iter().zip(&by_desc) {
                roles_why.push(match d {
                    Some((r, _)) => (*r, format!("band description {:?}", f.description)),
                    None => (
                        BandRole::Other,
                        format!(
                            "band description {:?} names no Sentinel-2 band",
                            f.description
                        ),
                    ),
                });
            }
        } else if let Some((r, tok)) = by_name {
            roles_why.push((r, format!("file name token {tok:?}")));
        } else if let Some(conv) = convention_for_count(count) {
            confirmed = conv.confirmed;
            for r in conv.roles {
                roles_why.push((r, conv.reason.to_string()));
            }
            if !conv.confirmed {
                notes.push(format!(
                    "bands follow a guessed convention: {}",
                    conv.reason
                ));
            }
        } else {
            confirmed = false;
            for _ in 0..count {
                roles_why.push((BandRole::Other, "nothing names this band".into()));
            }
            notes.push(format!(
                "band order unknown: nothing names the {count} bands and no 10/12/13-band \
                 convention applies; assign them"
            ));
        }
        let found: Vec<Found> = facts
            .into_iter()
            .zip(roles_why)
            .map(|(f, (role, why))| Found {
                role,
                identified_by: why,
                grid,
                ..f
            })
            .collect();
        drop(ds);
        let name = file_name(path);
        let ident = identity(&name, &[path.to_path_buf()], b"");
        let evidence = RadiometryInputs {
            baseline: baseline_hint(path),
            ..Default::default()
        };
        Self::finish(FinishArgs {
            path,
            name,
            kind: SourceKind::File,
            driver,
            grid,
            crs,
            found,
            confirmed,
            md: None,
            evidence,
            identity: ident,
            notes,
            cancel,
        })
    }

    fn open_band_folder(dir: &Path, cancel: &CancelToken) -> Result<Scene, RasterError> {
        let mut files = Vec::new();
        collect_raster_files(dir, 2, &mut files);
        files.sort();
        if files.is_empty() {
            return Err(RasterError::EmptyFolder {
                path: dir.to_path_buf(),
                detail: "no .tif, .tiff or .jp2 files, and no MTD_MSIL2A.xml/MTD_MSIL1C.xml".into(),
            });
        }
        // Role per file from its name; keep the finest file per role.
        let skip = [
            "TCI", "PVI", "AOT", "WVP", "DETFOO", "QUALIT", "CLASSI", "DEFECT", "SATURA",
        ];
        let mut found: Vec<Found> = Vec::new();
        let mut crs: Option<CrsInfo> = None;
        let mut driver = String::new();
        let mut used = Vec::new();
        for f in &files {
            cancel.check()?;
            let s = stem(f);
            let upper = s.to_ascii_uppercase();
            if upper
                .split(|c: char| !c.is_ascii_alphanumeric())
                .any(|t| skip.contains(&t))
            {
                continue;
            }
            let Some((role, tok)) = role_from_text(&s) else {
                continue;
            };
            let src = f.clone();
            let ds = open_dataset(f, &src)?;
            let c = crs_info(&ds, f, "band file without projection")?;
            match &crs {
                None => crs = Some(c),
                Some(first) if !same_crs(first, &c) => {
                    return Err(RasterError::Unsupported {
                        path: f.clone(),
                        reason: format!(
                            "its CRS ({}) differs from the other band files ({})",
                            c.name, first.name
                        ),
                    });
                }
                Some(_) => {}
            }
            let grid = dataset_grid(&ds, f)?;
            if driver.is_empty() {
                driver = ds.driver().short_name();
            }
            let cand = Found {
                role,
                identified_by: format!("file name {:?} (token {tok:?})", file_name(f)),
                ..band_facts(&ds, 1, f, &src, grid)?
            };
            match found.iter().position(|x| x.role == role) {
                Some(i) if found[i].grid.resolution() > grid.resolution() => {
                    found[i] = cand;
                }
                Some(_) => {}
                None => found.push(cand),
            }
            used.push(f.clone());
        }
        let Some(crs) = crs else {
            return Err(RasterError::EmptyFolder {
                path: dir.to_path_buf(),
                detail: format!(
                    "{} raster file(s), but no file name names a Sentinel-2 band \
                     (like T33UUU_..._B02.jp2, ..._B8A.tif, ..._SCL_20m.jp2)",
                    files.len()
                ),
            });
        };
        found.sort_by_key(|f| role_order(f.role));
        // Reference grid: the finest band (ties: the first in band order).
        let grid = found
            .iter()
            .min_by(|a, b| a.grid.resolution().total_cmp(&b.grid.resolution()))
            .map(|f| f.grid)
            .ok_or_else(|| RasterError::EmptyFolder {
                path: dir.to_path_buf(),
                detail: "no band files".into(),
            })?;
        let mut notes = Vec::new();
        let rb = grid.bounds();
        for f in &found {
            let b = f.grid.bounds();
            let tol = f.grid.resolution();
            if b.min_x >= rb.max_x
                || b.max_x <= rb.min_x
                || b.min_y >= rb.max_y
                || b.max_y <= rb.min_y
            {
                // Not a band of this scene (another tile, another date): every read would be
                // nodata, which the user would only see as an empty search.
                return Err(RasterError::Unsupported {
                    path: f.source.clone(),
                    reason: format!(
                        "its {} extent (x {:.0} .. {:.0}, y {:.0} .. {:.0}) does not overlap \
                         the other band files (x {:.0} .. {:.0}, y {:.0} .. {:.0}): it belongs \
                         to another scene",
                        f.role,
                        b.min_x,
                        b.max_x,
                        b.min_y,
                        b.max_y,
                        rb.min_x,
                        rb.max_x,
                        rb.min_y,
                        rb.max_y
                    ),
                });
            }
            if (b.min_x - rb.min_x).abs() > tol
                || (b.max_x - rb.max_x).abs() > tol
                || (b.min_y - rb.min_y).abs() > tol
                || (b.max_y - rb.max_y).abs() > tol
            {
                notes.push(format!(
                    "{} covers a different extent than the reference grid; outside its extent it reads as nodata",
                    f.role
                ));
            }
        }
        let name = file_name(dir);
        let ident = identity(&name, &used, b"");
        let evidence = RadiometryInputs {
            baseline: baseline_hint(dir).or_else(|| {
                used.iter().find_map(|f| {
                    safe::baseline_from_name(&file_name(f))
                        .map(|b| (b, format!("the file name {}", file_name(f))))
                })
            }),
            ..Default::default()
        };
        Self::finish(FinishArgs {
            path: dir,
            name,
            kind: SourceKind::BandFolder,
            driver,
            grid,
            crs,
            found,
            confirmed: true,
            md: None,
            evidence,
            identity: ident,
            notes,
            cancel,
        })
    }

    fn open_safe(path: &Path, mtd: &Path, cancel: &CancelToken) -> Result<Scene, RasterError> {
        let main_src = mtd.to_path_buf();
        let ds = open_dataset(mtd, &main_src)?;
        // (name as text to match on, exact name to open)
        let subs: Vec<(String, PathBuf)> = subdataset_names(&ds)
            .into_iter()
            .map(|p| (p.to_string_lossy().into_owned(), p))
            .collect();
        let epsg_of = |s: &str| s.rsplit(':').next().unwrap_or("").to_string();
        let zone = subs
            .iter()
            .find(|(s, _)| s.contains(":10m:"))
            .or_else(|| subs.first())
            .map(|(s, _)| epsg_of(s))
            .ok_or_else(|| RasterError::Unsupported {
                path: path.to_path_buf(),
                reason: "the SENTINEL2 driver lists no subdatasets (no band files found)".into(),
            })?;
        let mut notes = Vec::new();
        let other_zones: Vec<String> = subs
            .iter()
            .map(|(s, _)| epsg_of(s))
            .filter(|z| *z != zone)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        if !other_zones.is_empty() {
            notes.push(format!(
                "the product spans several UTM zones; showing {zone}, not {}",
                other_zones.join(", ")
            ));
        }
        let mut found: Vec<Found> = Vec::new();
        let mut crs: Option<CrsInfo> = None;
        let mut skipped = Vec::new();
        // GDAL >= 3.7 exposes BOA_ADD_OFFSET / RADIO_ADD_OFFSET per band; 3.6 only the XML.
        let mut item_offsets: Vec<(S2Band, f64)> = Vec::new();
        for res in [":10m:", ":20m:", ":60m:"] {
            let Some((_, sub)) = subs
                .iter()
                .find(|(s, _)| s.contains(res) && epsg_of(s) == zone)
            else {
                continue;
            };
            cancel.check()?;
            let sds = open_dataset(path, sub)?;
            if crs.is_none() {
                crs = Some(crs_info(&sds, path, "subdataset without CRS")?);
            }
            let grid = dataset_grid(&sds, path)?;
            for i in 1..=sds.raster_count() {
                let facts = band_facts(&sds, i, path, sub, grid)?;
                let bandname = sds
                    .rasterband(i)
                    .ok()
                    .and_then(|b| b.metadata_item("BANDNAME", ""))
                    .unwrap_or_else(|| facts.description.clone());
                let Some((role, _)) = role_from_text(&bandname) else {
                    if !skipped.contains(&bandname) {
                        skipped.push(bandname);
                    }
                    continue;
                };
                if found.iter().any(|f| f.role == role) {
                    continue; // already at a finer resolution
                }
                if let BandRole::Spectral(b) = role
                    && let Ok(rb) = sds.rasterband(i)
                    && let Some(v) = rb
                        .metadata_item("BOA_ADD_OFFSET", "")
                        .or_else(|| rb.metadata_item("RADIO_ADD_OFFSET", ""))
                        .and_then(|v| v.parse::<f64>().ok())
                {
                    item_offsets.push((b, v));
                }
                found.push(Found {
                    role,
                    identified_by: format!(
                        "SENTINEL2 driver BANDNAME {bandname:?} ({} subdataset)",
                        res.trim_matches(':')
                    ),
                    ..facts
                });
            }
        }
        if !skipped.is_empty() {
            notes.push(format!(
                "auxiliary layers not loaded: {}",
                skipped.join(", ")
            ));
        }
        let crs = crs.ok_or_else(|| RasterError::Unsupported {
            path: path.to_path_buf(),
            reason: format!("no 10/20/60 m subdataset in zone {zone}"),
        })?;
        found.sort_by_key(|f| role_order(f.role));
        let grid = found
            .iter()
            .min_by(|a, b| a.grid.resolution().total_cmp(&b.grid.resolution()))
            .map(|f| f.grid)
            .ok_or_else(|| RasterError::Unsupported {
                path: path.to_path_buf(),
                reason: "no Sentinel-2 band in the product".into(),
            })?;

        // Metadata: GDAL's product metadata plus what GDAL 3.6 does not expose (offsets).
        let mtd_text = if mtd.is_file() {
            std::fs::read_to_string(mtd).ok()
        } else {
            None
        };
        let md: ProductMetadata = mtd_text
            .as_deref()
            .map(safe::parse_product_metadata)
            .unwrap_or_default();
        let gdal_item = |k: &str| ds.metadata_item(k, "");
        let product_name = md
            .product_uri
            .clone()
            .or_else(|| gdal_item("PRODUCT_URI"))
            .unwrap_or_else(|| file_name(path));
        let baseline = md
            .baseline
            .clone()
            .or_else(|| gdal_item("PROCESSING_BASELINE"))
            .or_else(|| safe::baseline_from_name(&product_name));
        let quant = md.quantification.or_else(|| {
            gdal_item("BOA_QUANTIFICATION_VALUE")
                .or_else(|| gdal_item("QUANTIFICATION_VALUE"))
                .and_then(|v| v.parse().ok())
        });
        let mtd_name = file_name(mtd);
        let mut evidence = RadiometryInputs {
            quantification: quant,
            baseline: baseline
                .clone()
                .map(|b| (b, format!("{mtd_name} PROCESSING_BASELINE"))),
            ..Default::default()
        };
        let level = md
            .level
            .or_else(|| {
                gdal_item("PROCESSING_LEVEL")
                    .and_then(|l| safe::level_from_name(&l.replace('-', "")))
            })
            .or_else(|| safe::level_from_name(&product_name));
        let off_tag = if level == Some(ProcessingLevel::L1C) {
            "RADIO_ADD_OFFSET"
        } else {
            "BOA_ADD_OFFSET"
        };
        let mut band_offsets = Vec::new();
        let factor = quant.map_or(1.0, |q| 10000.0 / q);
        for f in &found {
            if let BandRole::Spectral(b) = f.role {
                let from_item = item_offsets.iter().find(|(x, _)| *x == b).map(|(_, v)| *v);
                if let Some(o) = md.offset_for(b).or(from_item) {
                    band_offsets.push((b, o * factor));
                }
            }
        }
        if let Some((_, o)) = band_offsets.first() {
            evidence.metadata_offset = Some((*o / factor, format!("{mtd_name} {off_tag}")));
        }
        let (level, level_reason) = match level {
            Some(l) => (l, format!("{mtd_name} says {}", l.label())),
            None => level_decision(
                path,
                &found.iter().map(|f| f.role).collect::<Vec<_>>(),
                true,
            ),
        };
        drop(ds);
        let ident = identity(
            &product_name,
            &[],
            mtd_text.as_deref().unwrap_or_default().as_bytes(),
        );
        let mut scene = Self::finish(FinishArgs {
            path,
            name: product_name,
            kind: SourceKind::Safe,
            driver: "SENTINEL2".into(),
            grid,
            crs,
            found,
            confirmed: true,
            md: Some((level, level_reason, baseline, md.sensing_time.clone())),
            evidence,
            identity: ident,
            notes,
            cancel,
        })?;
        scene.band_offsets = band_offsets;
        scene.apply_radiometry();
        Ok(scene)
    }

    /// Common end of the openers: footprint, level, sample, radiometry.
    pub(super) fn finish(a: FinishArgs<'_>) -> Result<Scene, RasterError> {
        let FinishArgs {
            path,
            name,
            kind,
            driver,
            grid,
            crs,
            found,
            confirmed,
            md,
            mut evidence,
            identity,
            mut notes,
            cancel,
        } = a;
        let t = CrsTransformer::new(&crs.wkt).map_err(|e| RasterError::Unsupported {
            path: path.to_path_buf(),
            reason: format!("its CRS cannot be transformed to WGS84: {e}"),
        })?;
        let bounds = grid.bounds();
        let fail = |e: GeorefError| RasterError::Unsupported {
            path: path.to_path_buf(),
            reason: format!("its bounds cannot be transformed to WGS84: {e}"),
        };
        let bounds_wgs84 = t.bounds_to_wgs84(&bounds).map_err(fail)?;
        let bounds_3857 = t.bounds_to_web_mercator(&bounds).map_err(fail)?;
        let footprint_wgs84 = t.to_wgs84(&grid.outline(8)).map_err(fail)?;
        drop(t);

        let roles: Vec<BandRole> = found.iter().map(|f| f.role).collect();
        let (level, level_reason, baseline, sensing_time) = match md {
            Some(m) => m,
            None => {
                let (l, why) = level_decision(path, &roles, confirmed);
                (
                    l,
                    why,
                    evidence.baseline.as_ref().map(|b| b.0.clone()),
                    None,
                )
            }
        };
        let spectral: Vec<&Found> = found
            .iter()
            .filter(|f| f.role.spectral().is_some())
            .collect();
        evidence.integer_data =
            !spectral.is_empty() && spectral.iter().all(|f| f.data_type.integer);
        // GDAL scale/offset shared by all spectral bands.
        let so: Vec<(f64, f64)> = spectral
            .iter()
            .map(|f| (f.gdal_scale.unwrap_or(1.0), f.gdal_offset.unwrap_or(0.0)))
            .collect();
        if let Some(first) = so.first()
            && *first != (1.0, 0.0)
            && so.iter().all(|x| x == first)
        {
            evidence.gdal_scale_offset = Some(*first);
        }

        let bands: Vec<BandInfo> = found
            .into_iter()
            .map(|f| BandInfo {
                role: f.role,
                identified_by: f.identified_by,
                description: f.description,
                source: f.source,
                source_band: f.source_band,
                resolution_m: f.grid.resolution(),
                grid: f.grid,
                data_type: f.data_type.name.to_string(),
                nodata: f.nodata,
                gdal_scale: f.gdal_scale,
                gdal_offset: f.gdal_offset,
                gain: 1.0,
                offset: 0.0,
                zero_is_nodata: false,
                overviews: f.overviews.0,
                arbitrary_overviews: f.overviews.1,
                jp2: f.jp2,
            })
            .collect();
        let placeholder = Radiometry {
            scale_to_10000: 1.0,
            scale_evidence: radiometry::Evidence::Default,
            offset: 0.0,
            offset_evidence: radiometry::Evidence::Default,
            zero_is_nodata: false,
            reason: String::new(),
        };
        let (product_id, mgrs_tile) = safe::product_identity(&name);
        let mut scene = Scene {
            info: SceneInfo {
                path: path.to_path_buf(),
                name,
                source_kind: kind,
                driver,
                grid,
                crs,
                bounds,
                bounds_wgs84,
                bounds_3857,
                footprint_wgs84,
                level,
                level_reason,
                baseline,
                sensing_time,
                product_id,
                mgrs_tile,
                bands,
                bands_confirmed: confirmed,
                radiometry: placeholder,
                identity,
                open_sample_pixels: None,
                notes: Vec::new(),
            },
            evidence: evidence.clone(),
            sample: None,
            band_offsets: Vec::new(),
        };
        // The data sample, only when no metadata settles the radiometry (or a QA60 band
        // needs a look).
        let settled = evidence.gdal_scale_offset.is_some()
            || (evidence.quantification.is_some()
                && (evidence.metadata_offset.is_some() || evidence.baseline.is_some()));
        let has_qa60 = scene
            .info
            .bands
            .iter()
            .any(|b| b.role == BandRole::Other && b.description.eq_ignore_ascii_case("QA60"));
        if (!settled || has_qa60) && !scene.info.bands.is_empty() {
            let all: Vec<usize> = (0..scene.info.bands.len()).collect();
            let reader = scene.reader();
            let raw = scene.sample_raw(&reader, &all, OPEN_SAMPLE_SIDE, cancel)?;
            drop(reader);
            scene.info.open_sample_pixels = Some(raw.width * raw.height);
            scene.sample = Some(raw.planes);
        }
        if has_qa60 && let Some(sample) = &scene.sample {
            for (b, v) in scene.info.bands.iter_mut().zip(sample) {
                if b.role == BandRole::Other && b.description.eq_ignore_ascii_case("QA60") {
                    let max = v
                        .iter()
                        .copied()
                        .filter(|x| x.is_finite())
                        .fold(f32::MIN, f32::max);
                    if (0.0..=100.0).contains(&max) {
                        b.role = BandRole::CloudProb;
                        b.identified_by = format!(
                            "band description \"QA60\" with values 0–{max:.1}: a 0–100 cloud \
                             probability, not the QA60 bitmask (0/1024/2048) of Earth Engine"
                        );
                    } else {
                        b.identified_by = format!(
                            "band description \"QA60\" with values up to {max:.0}: the Earth \
                             Engine cloud bitmask"
                        );
                    }
                }
            }
        }
        if scene.radiometry_spectral_count() == 0 {
            scene.info.radiometry.reason =
                "no spectral band identified: values are shown raw".into();
            notes.push("no Sentinel-2 band identified".into());
        } else {
            scene.redecide_radiometry();
        }
        scene.info.notes = notes;
        Ok(scene)
    }
}

/// Long side of the whole-scene sample taken while opening (radiometry tests).
pub(super) const OPEN_SAMPLE_SIDE: usize = 160;

pub(super) struct FinishArgs<'a> {
    pub(super) path: &'a Path,
    pub(super) name: String,
    pub(super) kind: SourceKind,
    pub(super) driver: String,
    pub(super) grid: Grid,
    pub(super) crs: CrsInfo,
    pub(super) found: Vec<Found>,
    pub(super) confirmed: bool,
    pub(super) md: Option<(ProcessingLevel, String, Option<String>, Option<String>)>,
    pub(super) evidence: RadiometryInputs,
    pub(super) identity: String,
    pub(super) notes: Vec<String>,
    pub(super) cancel: &'a CancelToken,
}

/// Sort key: spectral bands in L1C order, then SCL, CLD, SNW, other.
pub(super) fn role_order(r: BandRole) -> usize {
    match r {
        BandRole::Spectral(b) => b.l1c_index(),
        BandRole::Scl => 20,
        BandRole::CloudProb => 21,
        BandRole::SnowProb => 22,
        BandRole::Other => 23,
    }
}

fn collect_raster_files(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            if depth > 0 {
                collect_raster_files(&p, depth - 1, out);
            }
        } else if let Some(ext) = p
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            && matches!(ext.as_str(), "tif" | "tiff" | "jp2")
        {
            out.push(p);
        }
    }
}

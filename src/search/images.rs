//! Image files as model input, read with GDAL: the stored values as they are
//! ([`read_image`], what upstream MS-CLIP inference and the oracle feed), or harmonised the
//! way the viewer shows them ([`read_harmonised`]: bands identified by the raster module,
//! reflectance × 10000 with the BOA offset removed, nodata as NaN, which preprocessing
//! fills with the band mean). `embed-images` and the tests use these.

use std::path::{Path, PathBuf};

use crate::jobs::CancelToken;
use crate::model::tasks::preprocess::RawImage;
use crate::raster::read::{ReadRequest, Resampling, Window};
use crate::raster::unreadable_reason;
use crate::raster::{RasterError, Scene};

/// Why an image could not be read as model input; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("cannot read image {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("cannot open {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: RasterError,
    },
    #[error("{path}: no Sentinel-2 band is identified (see `kestrel info`)")]
    NoBands { path: PathBuf },
}

/// Read every band of a raster with GDAL as f32 (no scaling, no harmonisation).
pub fn read_image(path: &Path) -> Result<RawImage, ImageError> {
    use gdal::Metadata as _;
    let err = |reason: String| ImageError::Read {
        path: path.to_path_buf(),
        reason,
    };
    if let Err(e) = crate::paths::check_regular_file(path) {
        return Err(err(if e.kind() == std::io::ErrorKind::NotFound {
            "no such file".into()
        } else {
            e.to_string()
        }));
    }
    crate::raster::init_gdal();
    let ds = gdal::Dataset::open(path)
        .map_err(|e| err(unreadable_reason(path).unwrap_or_else(|| e.to_string())))?;
    let (width, height) = ds.raster_size();
    let count = ds.raster_count();
    if count == 0 || width == 0 || height == 0 {
        return Err(err(format!(
            "it has {count} bands of {width}x{height} pixels"
        )));
    }
    let mut data = Vec::with_capacity(count * width * height);
    let mut bands = Vec::with_capacity(count);
    for i in 1..=count {
        let band = ds
            .rasterband(i)
            .map_err(|e| err(format!("band {i}: {e}")))?;
        let buf = band
            .read_as::<f32>((0, 0), (width, height), (width, height), None)
            .map_err(|e| err(format!("band {i}: {e}")))?;
        data.extend_from_slice(buf.data());
        let desc = band.description().unwrap_or_default();
        bands.push((!desc.trim().is_empty()).then(|| desc.trim().to_owned()));
    }
    Ok(RawImage {
        source: path.to_path_buf(),
        data,
        bands,
        width,
        height,
    })
}

/// What [`read_harmonised`] did besides reading.
#[derive(Debug, Clone, PartialEq)]
pub enum Harmonised {
    /// The raster module's radiometric decision, with its reason.
    Applied { reason: String },
    /// The file has no CRS, so no scene metadata to harmonise with: the stored values.
    StoredValues,
}

/// Read an image the way the viewer does (see the module docs). A chip without
/// georeferencing is still an image: its stored values are returned.
pub fn read_harmonised(path: &Path) -> Result<(RawImage, Harmonised), ImageError> {
    let cancel = CancelToken::new();
    let open_err = |source| ImageError::Open {
        path: path.to_path_buf(),
        source,
    };
    // (Scene::open refuses a FIFO, which would block GDAL forever)
    let scene = match Scene::open(path, &cancel) {
        Ok(s) => s,
        Err(RasterError::NoCrs { .. }) => return Ok((read_image(path)?, Harmonised::StoredValues)),
        Err(e) => {
            return Err(match unreadable_reason(path) {
                Some(reason) => ImageError::Read {
                    path: path.to_path_buf(),
                    reason,
                },
                None => open_err(e),
            });
        }
    };
    let info = scene.info();
    let spectral: Vec<usize> = (0..info.bands.len())
        .filter(|&b| info.bands[b].role.spectral().is_some())
        .collect();
    if spectral.is_empty() {
        return Err(ImageError::NoBands {
            path: path.to_path_buf(),
        });
    }
    let (w, h) = (info.grid.width, info.grid.height);
    let stack = scene
        .read(
            &ReadRequest {
                bands: spectral.clone(),
                window: Window::new(0, 0, w, h),
                out_width: w,
                out_height: h,
                resampling: Resampling::Bilinear,
            },
            &cancel,
        )
        .map_err(open_err)?;
    let image = RawImage {
        source: path.to_path_buf(),
        data: stack.data,
        bands: spectral
            .iter()
            .map(|&b| Some(info.bands[b].role.label().to_owned()))
            .collect(),
        width: w,
        height: h,
    };
    Ok((
        image,
        Harmonised::Applied {
            reason: info.radiometry.reason.clone(),
        },
    ))
}

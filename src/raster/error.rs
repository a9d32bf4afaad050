//! Errors of the raster core. Every variant names the file (or GDAL dataset) and the
//! problem in words a user can act on; GDAL's own message is appended where it helps.

use std::path::PathBuf;

use crate::jobs::Cancelled;

#[derive(Debug, thiserror::Error)]
pub enum RasterError {
    #[error("{}: no such file or folder", path.display())]
    NotFound { path: PathBuf },
    /// The path exists or may exist but cannot be looked at (a name component over 255
    /// bytes, a folder without search permission, a symlink loop).
    #[error("{}: cannot read it: {detail}", path.display())]
    Inaccessible { path: PathBuf, detail: String },
    #[error("{} is not a regular file (it is {kind})", path.display())]
    NotAFile { path: PathBuf, kind: &'static str },

    #[error("{}: folder holds no Sentinel-2 imagery ({detail})", path.display())]
    EmptyFolder { path: PathBuf, detail: String },

    #[error("{}: GDAL cannot open it: {message}", path.display())]
    Open { path: PathBuf, message: String },

    #[error(
        "{}: no coordinate reference system, so it cannot be placed on the map ({detail})",
        path.display()
    )]
    NoCrs { path: PathBuf, detail: String },

    #[error("{}: not usable as Sentinel-2 imagery: {reason}", path.display())]
    Unsupported { path: PathBuf, reason: String },

    #[error("{}: band order unknown: {detail}", path.display())]
    UnknownBandOrder { path: PathBuf, detail: String },

    #[error("{}: reading band {band} failed: {message}", path.display())]
    Read {
        path: PathBuf,
        band: String,
        message: String,
    },

    #[error("{}: reprojection failed: {message}", path.display())]
    Warp { path: PathBuf, message: String },

    /// A STAC item or asset: the source names the URL or file.
    #[error("{source}")]
    Stac {
        path: PathBuf,
        source: crate::stac::StacError,
    },

    #[error("invalid request: {0}")]
    InvalidRequest(String),

    #[error("cancelled")]
    Cancelled(#[from] Cancelled),
}

impl RasterError {
    pub fn is_cancelled(&self) -> bool {
        matches!(self, RasterError::Cancelled(_))
    }
}

/// GDAL's error as a short message (the CPL text, without the crate's wrapping).
pub(crate) fn gdal_message(e: &gdal::errors::GdalError) -> String {
    match e {
        gdal::errors::GdalError::CplError { msg, .. } if !msg.is_empty() => msg.clone(),
        gdal::errors::GdalError::NullPointer { method_name, msg } if !msg.is_empty() => {
            format!("{msg} ({method_name})")
        }
        other => other.to_string(),
    }
}

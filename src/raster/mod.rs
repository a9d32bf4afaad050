//! The raster core: opening Sentinel-2 imagery through GDAL, band identification, the
//! radiometric decision (scale, BOA offset, nodata) with its reason, windowed and
//! decimated reads harmonised to reflectance × 10000, reprojection to Web Mercator for
//! display, and the pure rendering helpers (band combinations, indices, stretches,
//! histograms, colour maps, SCL classes, pixel inspector values).
//!
//! Threads: every function that touches GDAL is a plain blocking call taking a
//! [`CancelToken`](crate::jobs::CancelToken); run it on a worker thread. [`Scene`] and
//! every result ([`SceneInfo`], [`BandStack`], [`PixelReport`], [`RgbaImage`]) is plain
//! `Send` data. GDAL datasets never cross threads: readers open them on the calling
//! thread ([`Scene::reader`]). No egui here.
//!
//! GDAL is configured once ([`init_gdal`], called by [`Scene::open`]): its error
//! messages go to the `log` crate (target `gdal`, level debug) instead of stderr and are
//! carried in [`RasterError`] texts; the block cache and decoder threads are capped
//! (`GDAL_CACHEMAX` 256 MB, `GDAL_NUM_THREADS` ≤ 4) unless the environment sets them,
//! since OpenJPEG may use hundreds of MB per decode.

pub mod bands;
pub mod colormap;
pub mod error;
pub mod georef;
mod open;
pub mod pixel;
pub mod radiometry;
pub mod read;
pub mod render;
pub mod safe;
pub mod scene;
pub mod stretch;
pub mod warp;

pub use bands::{BandRole, S2Band};
pub use error::RasterError;
pub use georef::{Bounds, CrsTransformer, Grid};
pub use pixel::{PixelQuery, PixelReport};
pub use radiometry::{ProcessingLevel, Radiometry};
pub use read::{BandStack, ReadRequest, Resampling, SceneReader, Window};
pub use render::{Composite, Preset, RgbaImage, SpectralIndex};
pub use scene::{BandInfo, Scene, SceneInfo, SourceKind};
pub use stretch::{ChannelStats, ChannelStretch, Histogram, StretchMethod};

use std::sync::Once;

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
        set_default("GDAL_NUM_THREADS", &threads.to_string());
    });
}

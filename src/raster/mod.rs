//! The raster core: opening Sentinel-2 imagery through GDAL, band identification, the
//! radiometric decision (scale, BOA offset, nodata) with its reason, windowed and
//! decimated reads harmonised to reflectance × 10000, reprojection to Web Mercator for
//! display, the pure rendering helpers (band combinations, indices, stretches,
//! histograms, colour maps, SCL classes, pixel inspector values), and the render
//! pipeline of a scene on the map ([`view`]).
//!
//! Modules, each using only those listed before it: `bands`, `colormap`, `stretch`,
//! `error` (leaves); `safe` (product metadata and names); `radiometry`; `georef`;
//! `scene` (what a scene is); `read` (reads and the whole-scene sample); `open` (the
//! openers); `pixel`, `warp` (the inspector, Web Mercator reads); `render` (colouring);
//! `view` (stretch, histograms and render of a layer).
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
mod open_item;
pub use open::unreadable_reason;
pub mod pixel;
pub mod radiometry;
pub mod read;
pub mod render;
pub mod safe;
pub mod scene;
pub mod stretch;
pub mod view;
pub mod warp;

pub use bands::{BandRole, S2Band};
pub use error::RasterError;
pub use georef::{Bounds, CrsTransformer, GeorefError, Grid};
pub use open::init_gdal;
pub use pixel::{PixelQuery, PixelReport};
pub use radiometry::Radiometry;
pub use read::{BandStack, ReadRequest, Resampling, SceneReader, Window};
pub use render::{Composite, CompositeError, Preset, RgbaImage, SpectralIndex};
pub use safe::ProcessingLevel;
pub use scene::{BandInfo, Scene, SceneInfo, SourceKind};
pub use stretch::{ChannelStats, ChannelStretch, Histogram, StretchMethod};

#[cfg(test)]
mod tests {
    use super::*;

    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}

    #[test]
    fn results_are_plain_data() {
        send_sync::<Scene>();
        send_sync::<SceneInfo>();
        send_sync::<BandStack>();
        send_sync::<PixelReport>();
        send_sync::<RgbaImage>();
        send_sync::<RasterError>();
        send::<SceneReader<'static>>();
    }
}

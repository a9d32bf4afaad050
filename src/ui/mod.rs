//! The eframe/egui application: a slippy map (walkers) with the opened scenes drawn in their
//! true place, side panels for layers, band combinations, stretch, the pixel inspector and
//! search, and a status bar with job progress.
//!
//! Threading: this module runs on the UI thread and never touches GDAL, the model or the
//! disk directly (apart from eframe's own settings storage); every such operation is a
//! [`task::Task`] polled once per frame. Panels change the app through [`command::Command`]s
//! applied at the end of the frame.

pub mod app;
pub mod basemap;
pub mod command;
pub mod find;
pub mod geo;
pub mod inspector;
pub mod layers_panel;
pub mod overlays;
pub mod scene_layer;
pub mod search;
pub mod swipe;
pub mod task;

use std::path::PathBuf;

pub use app::{AppOptions, KestrelApp};

/// A layer's identity for the whole session (positions in the layer list change when
/// layers close; ids do not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LayerId(pub u64);

/// Open the viewer window on the given files (may be empty).
pub fn run(files: Vec<PathBuf>) -> anyhow::Result<()> {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("Kestrel")
            .with_inner_size([1400.0, 900.0])
            .with_min_inner_size([800.0, 500.0])
            .with_drag_and_drop(true),
        ..Default::default()
    };
    eframe::run_native(
        "Kestrel",
        options,
        Box::new(move |cc| Ok(Box::new(KestrelApp::new(cc, AppOptions::default(), files)))),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))
}

//! What every Kestrel crate shares, and nothing else: [`jobs`] (worker threads, progress,
//! cooperative cancellation) and [`atomic`] (file writes that never leave a half-written
//! file) [`paths`] (the cache root) and [`report`]
//! (error messages on one line). No GDAL, no model, no egui.

pub mod atomic;
pub mod jobs;
pub mod paths;
pub mod report;

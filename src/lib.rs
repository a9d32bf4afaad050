//! Kestrel: a native desktop viewer for Sentinel-2 imagery with local multispectral CLIP search.
//!
//! # Architecture
//! A small workspace: this crate (library plus the `kestrel` binary, GUI and headless CLI in
//! one) over two leaf crates, `kestrel-model` (the candle port: no GDAL, no egui; the GPU
//! check and the model tests build it alone) and `kestrel-base` (jobs and atomic writes),
//! re-exported here as [`model`], [`jobs`] and [`atomic`]. Modules are split by domain;
//! everything except [`ui`] is free of egui and can be driven headless from the CLI and
//! from tests.
//!
//! - [`raster`]: opening Sentinel-2 inputs through GDAL, band identification, radiometric
//!   harmonisation, windowed/decimated reads, reprojection for display, stretches and
//!   band combinations.
//! - [`model`] (crate `kestrel-model`): the OpenCLIP-config-driven CLIP port in candle (tokenizer, preprocessing,
//!   image and text towers, checkpoint loading, zero-shot classifier, device choice,
//!   weight download).
//! - [`search`]: cutting a scene into model tiles, building and caching the embedding
//!   index (GeoParquet), scoring queries.
//! - [`stac`]: STAC API search and STAC items as scene inputs (bands read in place).
//! - [`export`]: CSV / GeoJSON / GeoPackage writers for ranked results.
//! - [`session_file`]: the viewer's session (layers, styles, view, query) saved and reopened.
//! - [`jobs`], [`atomic`] (crate `kestrel-base`): worker threads with progress and
//!   cancellation; atomic file writes.
//! - [`cli`]: headless subcommands; [`build_info`]: version, commit, features, CPU kernels, GDAL;
//!   [`bundle_data`]: GDAL/PROJ data inside a macOS or Windows bundle.
//! - [`ui`]: the eframe/egui application.
//!
//! # Threads
//! The UI thread never does GDAL I/O, weight loading or inference. Those run on named
//! worker threads ([`jobs`]) which report progress over channels and check a
//! [`jobs::CancelToken`] between units of work.
//!
//! # Failure handling
//! Core modules return `thiserror` enums that name the file and the problem; the CLI and
//! the UI wrap them with `anyhow` context and show them once (`{:#}`). Nothing in the
//! core panics on bad input. Files are written atomically ([`atomic`]).

pub use kestrel_base::{atomic, jobs, paths, report};
pub use kestrel_model as model;

pub mod build_info;
pub mod bundle_data;
pub mod cli;
pub mod export;
pub mod raster;
pub mod search;
pub mod session_file;
pub mod stac;
pub mod ui;

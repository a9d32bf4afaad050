//! Kestrel: a native desktop viewer for Sentinel-2 imagery with local multispectral CLIP search.
//!
//! # Architecture
//! The crate is one library plus the `kestrel` binary (GUI and headless CLI in one).
//! Modules are split by domain; everything except [`ui`] is free of egui and can be
//! driven headless from the CLI and from tests.
//!
//! - [`raster`]: opening Sentinel-2 inputs through GDAL, band identification, radiometric
//!   harmonisation, windowed/decimated reads, reprojection for display, stretches and
//!   band combinations.
//! - [`model`]: the OpenCLIP-config-driven CLIP port in candle (tokenizer, preprocessing,
//!   image and text towers, checkpoint loading, zero-shot classifier, device choice,
//!   weight download).
//! - [`search`]: cutting a scene into model tiles, building and caching the embedding
//!   index (GeoParquet), scoring queries.
//! - [`export`]: CSV / GeoJSON writers for ranked results.
//! - [`jobs`]: worker threads with progress and cancellation.
//! - [`cli`]: headless subcommands.
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

pub mod atomic;
pub mod cli;
pub mod export;
pub mod jobs;
pub mod model;
pub mod raster;
pub mod search;
pub mod ui;

//! Kestrel's integration tests, one binary (the UI tests are the other, `tests/ui`): the
//! raster core on the fixtures and `../shared/data`, search end to end with the tiny model,
//! GeoParquet and export round trips and interop, every command through the `kestrel`
//! binary, and the fuzz targets of the index and STAC readers. The model's own parity
//! tests live with it, in `crates/kestrel-model/tests`.

mod common;
#[path = "../common/stac_fixture.rs"]
mod stac_fixture;

mod bad_input;
mod bad_input_corpus;
mod cli_compare;
mod cli_index_jobs;
mod cli_info;
mod cli_probe;
mod cli_radiometry;
mod cli_render;
mod cli_search;
mod cluster;
mod crash_safety;
mod export_roundtrip;
mod fuzz;
mod geoparquet_interop;
mod geoparquet_roundtrip;
mod gpkg_export;
mod model_cli;
mod packaging;
mod raster_chips;
mod raster_errors;
mod raster_scenes;
mod rgb_index;
mod search_e2e;
mod stac_serve;

//! Scene search: the tile records shared by the indexer, the scorer and the exports, and
//! their on-disk form (GeoParquet tile indexes). Pure Rust, no GDAL and no egui: tile
//! coordinates arrive already transformed.

pub mod geoparquet;
pub mod record;

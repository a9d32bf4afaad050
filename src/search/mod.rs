//! Scene search: cutting a scene into model tiles ([`tiling`]), building and caching the
//! embedding index on worker threads ([`index`], [`cache`]), the tile records shared by the
//! indexer, the scorer and the exports ([`record`]), their on-disk form (GeoParquet tile
//! indexes, [`geoparquet`]) and scoring queries against them ([`query`]). No egui here.

pub mod cache;
pub mod geoparquet;
pub mod index;
pub mod query;
pub mod record;
pub mod tiling;

//! Scene search: cutting a scene into model tiles ([`tiling`]), building and caching the
//! embedding index on worker threads ([`index`], [`cache`]), the tile records shared by the
//! indexer, the scorer and the exports ([`record`]), their on-disk form (GeoParquet tile
//! indexes, [`geoparquet`]) the search workflow shared by the viewer and the commands ([`session`]: queries,
//! query by example, classification, export rows) and image files as model input ([`images`]).
//! No egui here.

pub mod cache;
pub mod geoparquet;
pub mod images;
pub mod index;
pub mod labels;
pub mod probe;
pub mod record;
pub mod session;
pub mod tiling;

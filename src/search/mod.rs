//! Scene search: cutting a scene into model tiles ([`tiling`]), building and caching the
//! embedding index on worker threads ([`index`], [`cache`]), the tile records shared by the
//! indexer, the scorer and the exports ([`record`]), their on-disk form (GeoParquet tile
//! indexes, [`geoparquet`]) the search workflow shared by the viewer and the commands ([`session`]: queries,
//! query by example, classification, export rows), image files as model input ([`images`]),
//! the fixed true-colour mapping for RGB models ([`rgb8`]), tile labels ([`labels`]) and the
//! linear probe trained on them ([`probe`]), how two rankings agree ([`agreement`]) and
//! the search of an archive of shards ([`archive`]).
//! No egui here.

pub mod agreement;
pub mod archive;
pub mod cache;
pub mod geoparquet;
pub mod images;
pub mod index;
pub mod labels;
pub mod probe;
pub mod record;
pub mod rgb8;
pub mod session;
pub mod tiling;

//! STAC: searching a STAC API for Sentinel-2 items ([`search`]) and opening an item as a
//! scene whose bands are read in place ([`item`]; `raster::Scene::open` takes an item URL or
//! a local item JSON wherever it takes a path). Built on the rustac project's `stac` crate
//! (its serde types for items, search bodies, item collections and conformance), with a
//! blocking reqwest client ([`http`]), and the thumbnails of search hits ([`thumbnail`]).
//! No egui, no GDAL here.

pub mod error;
pub mod http;
pub mod item;
pub mod search;
pub mod thumbnail;

pub use error::StacError;
pub use item::{ItemBand, ItemScene, is_item_source};
pub use search::{Hit, SearchOutcome, SearchParams, parse_bbox, parse_interval, search};

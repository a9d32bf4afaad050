//! The tile records of a scene index and the per-scene metadata that goes with them.
//!
//! These types are what the indexer produces, what the tile index file
//! ([`super::geoparquet`]) stores and what the scorer and the exports
//! ([`crate::export`]) consume. Plain data, no I/O.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Version of the tile index layout written by this build (schema + `kestrel` metadata).
/// Readers refuse files with a higher version. 2: `embedding` is a fixed-size list, `bbox`
/// covering column, `product_id`, `mgrs_tile`, `datetime` columns, precision recorded.
pub const INDEX_FORMAT_VERSION: u32 = 2;

/// What happened to a tile during indexing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TileStatus {
    /// Embedded by the model; the record carries its embedding.
    Embedded,
    /// Skipped: its nodata fraction is over the threshold.
    SkippedNodata,
    /// Skipped: its cloud fraction is over the threshold.
    SkippedCloud,
}

impl TileStatus {
    /// The stable name used in files: `embedded`, `skipped_nodata`, `skipped_cloud`.
    pub fn as_str(self) -> &'static str {
        match self {
            TileStatus::Embedded => "embedded",
            TileStatus::SkippedNodata => "skipped_nodata",
            TileStatus::SkippedCloud => "skipped_cloud",
        }
    }
}

impl fmt::Display for TileStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status name that is not one of [`TileStatus`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown tile status {0:?} (expected embedded, skipped_nodata or skipped_cloud)")]
pub struct UnknownTileStatus(pub String);

impl FromStr for TileStatus {
    type Err = UnknownTileStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "embedded" => Ok(TileStatus::Embedded),
            "skipped_nodata" => Ok(TileStatus::SkippedNodata),
            "skipped_cloud" => Ok(TileStatus::SkippedCloud),
            other => Err(UnknownTileStatus(other.to_owned())),
        }
    }
}

/// One model tile of a scene: where it is, how much of it is usable, and its embedding.
#[derive(Debug, Clone, PartialEq)]
pub struct TileRecord {
    /// [`IndexMeta::scene_identity`], repeated per row so multi-scene tables concatenate.
    pub scene_id: String,
    /// Tile grid position.
    pub row: u32,
    pub col: u32,
    /// Window on the scene's 10 m grid (may extend past the scene edge for edge tiles).
    pub px_x0: i64,
    pub px_y0: i64,
    pub px_width: u32,
    pub px_height: u32,
    /// minx, miny, maxx, maxy in the scene CRS.
    pub bounds_crs: [f64; 4],
    /// Closed ring (first point == last point), lon/lat: the tile corners, possibly densified.
    pub polygon_wgs84: Vec<[f64; 2]>,
    /// lon, lat.
    pub centre_lonlat: [f64; 2],
    pub nodata_fraction: f32,
    /// `None` where the scene has no cloud information.
    pub cloud_fraction: Option<f32>,
    pub status: TileStatus,
    /// L2-normalised image embedding; `Some` exactly when `status` is `Embedded`.
    pub embedding: Option<Vec<f32>>,
}

impl TileRecord {
    /// lon/lat bounding box of [`Self::polygon_wgs84`]: min lon, min lat, max lon, max lat.
    /// `None` for an empty ring.
    pub fn bounds_wgs84(&self) -> Option<[f64; 4]> {
        bbox_of(self.polygon_wgs84.iter())
    }
}

/// Bounding box (min x, min y, max x, max y) of a set of points; `None` when there are none.
pub fn bbox_of<'a>(points: impl IntoIterator<Item = &'a [f64; 2]>) -> Option<[f64; 4]> {
    points.into_iter().fold(None, |acc, p| {
        Some(match acc {
            None => [p[0], p[1], p[0], p[1]],
            Some([a, b, c, d]) => [a.min(p[0]), b.min(p[1]), c.max(p[0]), d.max(p[1])],
        })
    })
}

/// Per-scene metadata of a tile index: what was indexed, with which model and settings.
///
/// Stored as JSON in the index file's `kestrel` key. `scene_identity`,
/// `checkpoint_sha256` and `preprocess_version` together key the embedding cache.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexMeta {
    /// [`INDEX_FORMAT_VERSION`] of the writer.
    pub format_version: u32,
    pub kestrel_version: String,
    pub scene_path: String,
    pub scene_identity: String,
    pub scene_crs_wkt: String,
    pub scene_epsg: Option<u32>,
    pub model_name: String,
    pub checkpoint_sha256: String,
    pub preprocess_version: u32,
    /// Band names in model input order.
    pub bands: Vec<String>,
    pub harmonisation: String,
    pub tile_size: u32,
    pub stride: u32,
    pub embed_dim: u32,
    pub max_nodata_fraction: f32,
    pub max_cloud_fraction: Option<f32>,
    /// ISO 8601 UTC time the index was built.
    pub created_utc: String,
    /// The product (or STAC item) id of the scene, when known (format 2).
    #[serde(default)]
    pub product_id: Option<String>,
    /// The MGRS tile (`34UCF`), when known (format 2).
    #[serde(default)]
    pub mgrs_tile: Option<String>,
    /// Sensing start time as the scene metadata gives it (ISO 8601), when known (format 2).
    #[serde(default)]
    pub sensing_time: Option<String>,
    /// Compute precision of the model that made the embeddings: `f32`, `bf16` or `f16`
    /// (format 2; `None` in files written before it was recorded).
    #[serde(default)]
    pub precision: Option<String>,
}

impl IndexMeta {
    /// Why embeddings of `self` and `other` cannot be compared (different model,
    /// checkpoint, preprocessing, embedding size or bands), or `None` when they can.
    pub fn incompatibility(&self, other: &IndexMeta) -> Option<String> {
        if self.model_name != other.model_name {
            return Some(format!(
                "model {:?} vs {:?}",
                self.model_name, other.model_name
            ));
        }
        if self.checkpoint_sha256 != other.checkpoint_sha256 {
            return Some(format!(
                "checkpoint sha256 {} vs {}",
                self.checkpoint_sha256, other.checkpoint_sha256
            ));
        }
        if self.preprocess_version != other.preprocess_version {
            return Some(format!(
                "preprocess version {} vs {}",
                self.preprocess_version, other.preprocess_version
            ));
        }
        if self.embed_dim != other.embed_dim {
            return Some(format!(
                "embedding size {} vs {}",
                self.embed_dim, other.embed_dim
            ));
        }
        if self.bands != other.bands {
            return Some(format!("bands {:?} vs {:?}", self.bands, other.bands));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names_round_trip() {
        for s in [
            TileStatus::Embedded,
            TileStatus::SkippedNodata,
            TileStatus::SkippedCloud,
        ] {
            assert_eq!(s.as_str().parse::<TileStatus>(), Ok(s));
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        assert_eq!(
            "Embedded".parse::<TileStatus>(),
            Err(UnknownTileStatus("Embedded".into()))
        );
    }

    #[test]
    fn bbox_of_points() {
        let pts = [[3.0, -1.0], [1.0, 2.0], [2.5, 0.0]];
        assert_eq!(bbox_of(pts.iter()), Some([1.0, -1.0, 3.0, 2.0]));
        assert_eq!(bbox_of([].iter()), None);
    }
}

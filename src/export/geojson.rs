//! GeoJSON export (RFC 7946): a FeatureCollection of Polygon features in lon/lat with
//! counter-clockwise exterior rings, properties named and valued as the CSV columns
//! (numbers as JSON numbers, missing values as null). The query, model, checkpoint,
//! bands, scenes (and classes) are also foreign members of the collection. Scores and
//! probabilities are written with full f32 precision, coordinates with full f64.

use std::path::Path;

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::json;

use super::{Cell, ClassifiedTile, ExportContext, ExportError, RankedTile, Table};
use crate::search::record::bbox_of;

/// Write ranked search hits to `path` (atomically).
pub fn write_ranked_geojson(
    path: &Path,
    ctx: &ExportContext,
    hits: &[RankedTile<'_>],
) -> Result<(), ExportError> {
    let table = super::ranked_table(path, ctx, hits)?;
    write_collection(path, ctx, None, &table)
}

/// Write zero-shot classification results to `path` (atomically).
pub fn write_classes_geojson(
    path: &Path,
    ctx: &ExportContext,
    classes: &[String],
    rows: &[ClassifiedTile<'_>],
) -> Result<(), ExportError> {
    let table = super::classes_table(path, ctx, classes, rows)?;
    write_collection(path, ctx, Some(classes), &table)
}

impl Serialize for Cell {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Cell::Int(v) => s.serialize_i64(*v),
            // serde_json writes f32 in shortest form, and non-finite values as null.
            Cell::F32(v) => s.serialize_f32(*v),
            Cell::F64(v) => s.serialize_f64(*v),
            Cell::Str(v) => s.serialize_str(v),
            Cell::Null => s.serialize_none(),
        }
    }
}

struct Properties<'a> {
    columns: &'a [String],
    cells: &'a [Cell],
}

impl Serialize for Properties<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.columns.len()))?;
        for (k, v) in self.columns.iter().zip(self.cells) {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

struct Geometry<'a>(&'a [[f64; 2]]);

impl Serialize for Geometry<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("type", "Polygon")?;
        map.serialize_entry("coordinates", &[self.0])?;
        map.end()
    }
}

struct Features<'a>(&'a Table);

impl Serialize for Features<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.rows.len()))?;
        for row in &self.0.rows {
            seq.serialize_element(&Feature {
                geometry: Geometry(&row.ring),
                properties: Properties {
                    columns: &self.0.columns,
                    cells: &row.cells,
                },
            })?;
        }
        seq.end()
    }
}

struct Feature<'a> {
    geometry: Geometry<'a>,
    properties: Properties<'a>,
}

impl Serialize for Feature<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(3))?;
        map.serialize_entry("type", "Feature")?;
        map.serialize_entry("geometry", &self.geometry)?;
        map.serialize_entry("properties", &self.properties)?;
        map.end()
    }
}

fn write_collection(
    path: &Path,
    ctx: &ExportContext,
    classes: Option<&[String]>,
    table: &Table,
) -> Result<(), ExportError> {
    let scenes: Vec<_> = ctx
        .scenes
        .iter()
        .map(|s| {
            json!({
                "scene_id": s.scene_id,
                "scene_path": s.scene_path,
                "crs_epsg": s.epsg,
                "harmonisation": s.harmonisation,
            })
        })
        .collect();
    let mut head: Vec<(&str, serde_json::Value)> = vec![
        ("type", json!("FeatureCollection")),
        (
            "generator",
            json!(format!("kestrel {}", env!("CARGO_PKG_VERSION"))),
        ),
        ("query_text", json!(ctx.query_text)),
        ("query_examples", json!(ctx.query_examples)),
        ("model_name", json!(ctx.model_name)),
        ("checkpoint_sha256", json!(ctx.checkpoint_sha256)),
        ("bands", json!(ctx.bands)),
        ("scenes", json!(scenes)),
    ];
    if let Some(classes) = classes {
        head.push(("classes", json!(classes)));
    }
    if let Some(bbox) = bbox_of(table.rows.iter().flat_map(|r| &r.ring)) {
        head.insert(1, ("bbox", json!(bbox)));
    }
    // `features` last, streamed rather than built as one big value.
    struct Collection<'a> {
        head: Vec<(&'a str, serde_json::Value)>,
        features: Features<'a>,
    }
    impl Serialize for Collection<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut map = s.serialize_map(Some(self.head.len() + 1))?;
            for (k, v) in &self.head {
                map.serialize_entry(k, v)?;
            }
            map.serialize_entry("features", &self.features)?;
            map.end()
        }
    }
    let collection = Collection {
        head,
        features: Features(table),
    };
    super::write_file(path, |w| {
        serde_json::to_writer(&mut *w, &collection).map_err(std::io::Error::other)?;
        w.write_all(b"\n")
    })
}

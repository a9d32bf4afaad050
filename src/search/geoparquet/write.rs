//! Writing a tile index: validation, the Arrow schema and record batches (written by the
//! parquet crate's Arrow writer, which also stores the Arrow schema so that pyarrow and
//! LanceDB see `embedding` as `fixed_size_list<float>[N]`), the `geo` metadata with its
//! `bbox` covering, and the content digest.

use std::sync::Arc;

use arrow_array::builder::{FixedSizeListBuilder, Float32Builder};
use arrow_array::{
    ArrayRef, BinaryArray, Float32Array, Float64Array, Int32Array, Int64Array, RecordBatch,
    StringArray, StructArray, TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, Fields, Schema, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use sha2::{Digest, Sha256};

use super::wkb::polygon_wkb;
use super::{CHECKSUM_KEY, GEO_KEY, META_KEY, ROW_GROUP_ROWS};
use crate::search::record::{IndexMeta, TileRecord, bbox_of};

/// Name of the embedding list's child field (the Parquet LIST convention's `element`).
pub(super) const EMBEDDING_ITEM: &str = "element";

/// The Arrow schema of a format-2 tile index with `dim`-value embeddings.
pub fn arrow_schema(dim: usize) -> Schema {
    let f64_field = |n: &str| Field::new(n, DataType::Float64, false);
    let bbox = Fields::from(vec![
        f64_field("xmin"),
        f64_field("ymin"),
        f64_field("xmax"),
        f64_field("ymax"),
    ]);
    let item = Arc::new(Field::new(EMBEDDING_ITEM, DataType::Float32, false));
    Schema::new(vec![
        Field::new("geometry", DataType::Binary, false),
        Field::new("bbox", DataType::Struct(bbox), false),
        Field::new("scene_id", DataType::Utf8, false),
        Field::new("product_id", DataType::Utf8, true),
        Field::new("mgrs_tile", DataType::Utf8, true),
        Field::new(
            "datetime",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
        Field::new("tile_row", DataType::Int32, false),
        Field::new("tile_col", DataType::Int32, false),
        Field::new("px_x0", DataType::Int64, false),
        Field::new("px_y0", DataType::Int64, false),
        Field::new("px_width", DataType::Int32, false),
        Field::new("px_height", DataType::Int32, false),
        f64_field("crs_minx"),
        f64_field("crs_miny"),
        f64_field("crs_maxx"),
        f64_field("crs_maxy"),
        f64_field("centre_lon"),
        f64_field("centre_lat"),
        Field::new("nodata_fraction", DataType::Float32, false),
        Field::new("cloud_fraction", DataType::Float32, true),
        Field::new("status", DataType::Utf8, false),
        Field::new("embedding", DataType::FixedSizeList(item, dim as i32), true),
    ])
}

/// The GeoParquet 1.1.0 `geo` metadata for these tiles. No `crs` member: the GeoParquet
/// default, OGC:CRS84 (WGS 84 longitude/latitude), is what the WKB holds. The `bbox`
/// struct column is declared as the geometry's covering.
pub fn geo_metadata(tiles: &[TileRecord]) -> serde_json::Value {
    let mut column = serde_json::json!({
        "encoding": "WKB",
        "geometry_types": ["Polygon"],
        "covering": {"bbox": {
            "xmin": ["bbox", "xmin"],
            "ymin": ["bbox", "ymin"],
            "xmax": ["bbox", "xmax"],
            "ymax": ["bbox", "ymax"],
        }},
    });
    if let Some(bbox) = bbox_of(tiles.iter().flat_map(|t| &t.polygon_wgs84)) {
        column["bbox"] = serde_json::json!(bbox);
    }
    serde_json::json!({
        "version": "1.1.0",
        "primary_column": "geometry",
        "columns": { "geometry": column },
    })
}

/// The file's key-value metadata: `geo`, the digest, `kestrel`.
fn key_values(meta: &IndexMeta, tiles: &[TileRecord]) -> Result<Vec<KeyValue>, ParquetError> {
    let geo = geo_metadata(tiles);
    let meta_json = serde_json::to_string(meta).map_err(|e| ParquetError::External(Box::new(e)))?;
    Ok(vec![
        KeyValue::new(GEO_KEY.to_owned(), geo.to_string()),
        KeyValue::new(CHECKSUM_KEY.to_owned(), content_sha256(&meta_json, tiles)),
        KeyValue::new(META_KEY.to_owned(), meta_json),
    ])
}

fn writer_properties(kvs: Vec<KeyValue>) -> WriterProperties {
    let embedding = ColumnPath::new(vec![
        "embedding".into(),
        "list".into(),
        EMBEDDING_ITEM.into(),
    ]);
    let geometry = ColumnPath::from("geometry");
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        // Row-group min/max (what the `bbox` covering is for) but no page index: every
        // byte is then data the digest covers or footer the reader checks.
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_offset_index_disabled(true)
        // Floats and WKB blobs neither dictionary-encode nor give useful min/max.
        .set_column_dictionary_enabled(embedding.clone(), false)
        .set_column_statistics_enabled(embedding, EnabledStatistics::None)
        .set_column_dictionary_enabled(geometry.clone(), false)
        .set_column_statistics_enabled(geometry, EnabledStatistics::None)
        .set_created_by(format!(
            "{} {}",
            super::CREATED_BY,
            env!("CARGO_PKG_VERSION")
        ))
        .set_key_value_metadata(Some(kvs))
        .build()
}

/// The whole file, in memory.
pub(super) fn encode(meta: &IndexMeta, tiles: &[TileRecord]) -> Result<Vec<u8>, ParquetError> {
    let kvs = key_values(meta, tiles)?;
    // In the Parquet footer (DuckDB, GDAL, Kestrel read it there) and in the Arrow schema
    // stored beside it (pyarrow and GeoPandas take the schema metadata from that), as
    // pyarrow itself writes them.
    let schema_meta: std::collections::HashMap<String, String> = kvs
        .iter()
        .map(|kv| (kv.key.clone(), kv.value.clone().unwrap_or_default()))
        .collect();
    let schema = Arc::new(arrow_schema(meta.embed_dim as usize).with_metadata(schema_meta));
    let props = writer_properties(kvs);
    let datetime = meta.sensing_time.as_deref().and_then(|t| {
        let us = unix_micros(t);
        if us.is_none() {
            log::warn!("sensing time {t:?} is not ISO 8601; the datetime column stays null");
        }
        us
    });
    let mut writer = ArrowWriter::try_new(Vec::new(), schema.clone(), Some(props))?;
    for chunk in tiles.chunks(ROW_GROUP_ROWS) {
        let batch = record_batch(&schema, meta, datetime, chunk)?;
        writer.write(&batch)?;
        writer.flush()?; // one row group per chunk
    }
    writer.into_inner()
}

fn record_batch(
    schema: &Arc<Schema>,
    meta: &IndexMeta,
    datetime: Option<i64>,
    tiles: &[TileRecord],
) -> Result<RecordBatch, ParquetError> {
    let n = tiles.len();
    let dim = meta.embed_dim as usize;
    // Validation guarantees these fit.
    let i32_of = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
    let ints = |f: &dyn Fn(&TileRecord) -> u32| -> ArrayRef {
        Arc::new(Int32Array::from_iter_values(
            tiles.iter().map(|t| i32_of(f(t))),
        ))
    };
    let doubles = |f: &dyn Fn(&TileRecord) -> f64| -> ArrayRef {
        Arc::new(Float64Array::from_iter_values(tiles.iter().map(f)))
    };
    let repeated =
        |v: &Option<String>| -> ArrayRef { Arc::new(StringArray::from(vec![v.as_deref(); n])) };
    let bounds: Vec<[f64; 4]> = tiles
        .iter()
        .map(|t| t.bounds_wgs84().unwrap_or([f64::NAN; 4]))
        .collect();
    let bbox_fields = match schema.field_with_name("bbox")?.data_type() {
        DataType::Struct(f) => f.clone(),
        _ => return Err(ParquetError::General("bbox is not a struct".into())),
    };
    let bbox_arrays: Vec<ArrayRef> = (0..4)
        .map(|k| -> ArrayRef {
            Arc::new(Float64Array::from_iter_values(bounds.iter().map(|b| b[k])))
        })
        .collect();
    let bbox = StructArray::new(bbox_fields, bbox_arrays, None);

    let mut embedding =
        FixedSizeListBuilder::with_capacity(Float32Builder::with_capacity(n * dim), dim as i32, n)
            .with_field(Arc::new(Field::new(
                EMBEDDING_ITEM,
                DataType::Float32,
                false,
            )));
    for t in tiles {
        match &t.embedding {
            Some(e) => {
                embedding.values().append_slice(e);
                embedding.append(true);
            }
            None => {
                // a null row still holds `dim` child slots (masked by the null)
                embedding.values().append_slice(&vec![0.0; dim]);
                embedding.append(false);
            }
        }
    }

    let columns: Vec<ArrayRef> = vec![
        Arc::new(BinaryArray::from_iter_values(
            tiles.iter().map(|t| polygon_wkb(&t.polygon_wgs84)),
        )),
        Arc::new(bbox),
        Arc::new(StringArray::from_iter_values(
            tiles.iter().map(|t| t.scene_id.as_str()),
        )),
        repeated(&meta.product_id),
        repeated(&meta.mgrs_tile),
        Arc::new(TimestampMicrosecondArray::from(vec![datetime; n]).with_timezone("UTC")),
        ints(&|t| t.row),
        ints(&|t| t.col),
        Arc::new(Int64Array::from_iter_values(tiles.iter().map(|t| t.px_x0))),
        Arc::new(Int64Array::from_iter_values(tiles.iter().map(|t| t.px_y0))),
        ints(&|t| t.px_width),
        ints(&|t| t.px_height),
        doubles(&|t| t.bounds_crs[0]),
        doubles(&|t| t.bounds_crs[1]),
        doubles(&|t| t.bounds_crs[2]),
        doubles(&|t| t.bounds_crs[3]),
        doubles(&|t| t.centre_lonlat[0]),
        doubles(&|t| t.centre_lonlat[1]),
        Arc::new(Float32Array::from_iter_values(
            tiles.iter().map(|t| t.nodata_fraction),
        )),
        Arc::new(Float32Array::from(
            tiles.iter().map(|t| t.cloud_fraction).collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from_iter_values(
            tiles.iter().map(|t| t.status.as_str()),
        )),
        Arc::new(embedding.finish()),
    ];
    RecordBatch::try_new(schema.clone(), columns).map_err(ParquetError::from)
}

/// Microseconds since the Unix epoch of an ISO 8601 UTC time such as
/// `2023-08-23T09:55:59.024Z` (`Z` or no zone; fractions to any length). `None` otherwise.
pub fn unix_micros(s: &str) -> Option<i64> {
    let s = s.trim();
    let s = s.strip_suffix('Z').unwrap_or(s);
    let (date, time) = s.split_once(['T', ' '])?;
    let mut d = date.splitn(3, '-');
    let y: i64 = d.next()?.parse().ok()?;
    let m: i64 = d.next()?.parse().ok()?;
    let day: i64 = d.next()?.parse().ok()?;
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.splitn(3, ':');
    let hh: i64 = t.next()?.parse().ok()?;
    let mm: i64 = t.next()?.parse().ok()?;
    let ss: i64 = t.next().unwrap_or("0").parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    if !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let micros: i64 = format!("{:0<6}", &frac[..frac.len().min(6)]).parse().ok()?;
    // days from civil (Howard Hinnant)
    let yy = if m <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + hh * 3600 + mm * 60 + ss) * 1_000_000) + micros)
}

/// Hex sha256 over the `kestrel` metadata JSON and every field of every tile in a fixed
/// binary layout (lengths and presence flags included), stored at write time and
/// checked at read time. The derived columns (`bbox`, the per-scene `product_id`,
/// `mgrs_tile`, `datetime`) come from the tiles and the metadata, so this covers them.
pub fn content_sha256(meta_json: &str, tiles: &[TileRecord]) -> String {
    let mut h = Sha256::new();
    h.update((meta_json.len() as u64).to_le_bytes());
    h.update(meta_json.as_bytes());
    h.update((tiles.len() as u64).to_le_bytes());
    for t in tiles {
        h.update((t.scene_id.len() as u64).to_le_bytes());
        h.update(t.scene_id.as_bytes());
        h.update(t.row.to_le_bytes());
        h.update(t.col.to_le_bytes());
        h.update(t.px_x0.to_le_bytes());
        h.update(t.px_y0.to_le_bytes());
        h.update(t.px_width.to_le_bytes());
        h.update(t.px_height.to_le_bytes());
        for v in t.bounds_crs {
            h.update(v.to_le_bytes());
        }
        h.update((t.polygon_wgs84.len() as u64).to_le_bytes());
        for v in t.polygon_wgs84.iter().flatten().chain(&t.centre_lonlat) {
            h.update(v.to_le_bytes());
        }
        h.update(t.nodata_fraction.to_le_bytes());
        match t.cloud_fraction {
            Some(c) => {
                h.update([1u8]);
                h.update(c.to_le_bytes());
            }
            None => h.update([0u8]),
        }
        h.update(t.status.as_str().as_bytes());
        match &t.embedding {
            Some(e) => {
                h.update([1u8]);
                h.update((e.len() as u64).to_le_bytes());
                let mut buf = Vec::with_capacity(4 * e.len());
                for v in e {
                    buf.extend_from_slice(&v.to_le_bytes());
                }
                h.update(&buf);
            }
            None => h.update([0u8]),
        }
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_times_to_unix_micros() {
        // date -u -d 2023-08-23T09:55:59.024Z +%s%6N
        assert_eq!(
            unix_micros("2023-08-23T09:55:59.024Z"),
            Some(1_692_784_559_024_000)
        );
        assert_eq!(unix_micros("1970-01-01T00:00:00Z"), Some(0));
        // date -u -d 2000-02-29T12:00:00 +%s
        assert_eq!(
            unix_micros("2000-02-29T12:00:00"),
            Some(951_825_600_000_000)
        );
        assert_eq!(unix_micros("2023-13-01T00:00:00Z"), None);
        assert_eq!(unix_micros("yesterday"), None);
        assert_eq!(unix_micros("2023-08-23T09:55:59.0x"), None);
    }
}

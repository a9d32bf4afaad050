//! Tile index files: one GeoParquet 1.1 file per scene holding every tile's polygon,
//! grid position, quality fractions and embedding, readable by DuckDB, GeoPandas and GDAL.
//!
//! Layout (one row per tile, row groups of [`ROW_GROUP_ROWS`] rows, zstd):
//! `geometry` (WKB Polygon, lon/lat), `scene_id`, `tile_row`, `tile_col`, `px_x0`,
//! `px_y0`, `px_width`, `px_height`, `crs_minx/miny/maxx/maxy`, `centre_lon`,
//! `centre_lat`, `nodata_fraction`, `cloud_fraction` (nullable), `status`, `embedding`
//! (nullable `list<float>`, standard 3-level list).
//!
//! File key-value metadata: `geo` (GeoParquet 1.1.0; no `crs` member, which by the
//! GeoParquet spec means OGC:CRS84, i.e. WGS 84 in lon/lat order, matching the WKB),
//! `kestrel` ([`IndexMeta`] as JSON) and `kestrel_content_sha256`, a digest of that JSON
//! and of every decoded value so that a damaged file is detected on read rather than trusted
//! (Parquet pages carry no checksum here and incompressible float pages are stored raw).
//!
//! Writes go to memory then atomically to disk; reads run on the caller's thread
//! (a worker thread in the app).

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parquet::basic::{Compression, ZstdLevel};
use parquet::column::reader::get_typed_column_reader;
use parquet::data_type::{
    ByteArray, ByteArrayType, DataType, DoubleType, FloatType, Int32Type, Int64Type,
};
use parquet::errors::ParquetError;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::reader::{FileReader, RowGroupReader, SerializedFileReader};
use parquet::file::writer::{SerializedFileWriter, SerializedRowGroupWriter};
use parquet::schema::parser::parse_message_type;
use parquet::schema::types::{ColumnPath, SchemaDescriptor};
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use super::record::{INDEX_FORMAT_VERSION, IndexMeta, TileRecord, TileStatus, bbox_of};

/// Rows per row group: ~2 MB of 512-d embeddings, so a reader can stream a file.
pub const ROW_GROUP_ROWS: usize = 1024;

/// Key of the GeoParquet metadata.
pub const GEO_KEY: &str = "geo";
/// Key of the [`IndexMeta`] JSON.
pub const META_KEY: &str = "kestrel";
/// Key of the content digest (hex sha256, see [`content_sha256`]).
pub const CHECKSUM_KEY: &str = "kestrel_content_sha256";

const SCHEMA: &str = "
message kestrel_tile_index {
  REQUIRED BYTE_ARRAY geometry;
  REQUIRED BYTE_ARRAY scene_id (STRING);
  REQUIRED INT32 tile_row;
  REQUIRED INT32 tile_col;
  REQUIRED INT64 px_x0;
  REQUIRED INT64 px_y0;
  REQUIRED INT32 px_width;
  REQUIRED INT32 px_height;
  REQUIRED DOUBLE crs_minx;
  REQUIRED DOUBLE crs_miny;
  REQUIRED DOUBLE crs_maxx;
  REQUIRED DOUBLE crs_maxy;
  REQUIRED DOUBLE centre_lon;
  REQUIRED DOUBLE centre_lat;
  REQUIRED FLOAT nodata_fraction;
  OPTIONAL FLOAT cloud_fraction;
  REQUIRED BYTE_ARRAY status (STRING);
  OPTIONAL group embedding (LIST) {
    REPEATED group list {
      REQUIRED FLOAT element;
    }
  }
}";

/// Leaf columns in schema order (index = parquet leaf column index).
const COLUMNS: [&str; 18] = [
    "geometry",
    "scene_id",
    "tile_row",
    "tile_col",
    "px_x0",
    "px_y0",
    "px_width",
    "px_height",
    "crs_minx",
    "crs_miny",
    "crs_maxx",
    "crs_maxy",
    "centre_lon",
    "centre_lat",
    "nodata_fraction",
    "cloud_fraction",
    "status",
    "embedding.list.element",
];

/// Errors of reading or writing a tile index; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot read tile index {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write tile index {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} is not a Parquet file")]
    NotParquet { path: PathBuf },
    #[error("tile index {path} is truncated (its Parquet footer is missing)")]
    Truncated { path: PathBuf },
    #[error("{path} is a Parquet file but not a Kestrel tile index: {problem}")]
    Foreign { path: PathBuf, problem: String },
    #[error("tile index {path} is corrupt: {problem}")]
    Corrupt { path: PathBuf, problem: String },
    #[error(
        "tile index {path} has format version {found}, newer than this Kestrel reads ({supported})"
    )]
    UnsupportedVersion {
        path: PathBuf,
        found: u64,
        supported: u32,
    },
    #[error("cannot write tile index {path}: {problem}")]
    InvalidMeta { path: PathBuf, problem: String },
    #[error("cannot write tile index {path}: tile #{index} (row {row}, col {col}): {problem}")]
    InvalidTile {
        path: PathBuf,
        index: usize,
        row: u32,
        col: u32,
        problem: String,
    },
    #[error("tile indexes {first} and {second} cannot be searched together: {problem}")]
    Incompatible {
        first: PathBuf,
        second: PathBuf,
        problem: String,
    },
}

/// One scene's index as loaded from its file.
#[derive(Debug, Clone, PartialEq)]
pub struct SceneIndex {
    pub path: PathBuf,
    pub meta: IndexMeta,
    pub tiles: Vec<TileRecord>,
}

// ---------------------------------------------------------------------------------------
// Writing

/// Write a scene's tile index to `path` atomically (a previous file stays intact on error).
///
/// Every tile must belong to `meta.scene_identity`, have a closed lon/lat ring of at least
/// 4 finite points, and carry a finite embedding of `meta.embed_dim` values exactly when
/// its status is `Embedded`.
pub fn write_index(path: &Path, meta: &IndexMeta, tiles: &[TileRecord]) -> Result<(), StoreError> {
    validate(path, meta, tiles)?;
    let bytes = encode(meta, tiles).map_err(|e| StoreError::Write {
        path: path.to_path_buf(),
        source: io::Error::other(e),
    })?;
    crate::atomic::write_bytes_atomic(path, &bytes).map_err(|e| StoreError::Write {
        path: e.path,
        source: e.source,
    })
}

fn validate(path: &Path, meta: &IndexMeta, tiles: &[TileRecord]) -> Result<(), StoreError> {
    let bad_meta = |problem: String| StoreError::InvalidMeta {
        path: path.to_path_buf(),
        problem,
    };
    if meta.format_version != INDEX_FORMAT_VERSION {
        return Err(bad_meta(format!(
            "format_version is {}, this build writes {INDEX_FORMAT_VERSION}",
            meta.format_version
        )));
    }
    if meta.embed_dim == 0 {
        return Err(bad_meta("embed_dim is 0".into()));
    }
    for (index, t) in tiles.iter().enumerate() {
        let bad = |problem: String| StoreError::InvalidTile {
            path: path.to_path_buf(),
            index,
            row: t.row,
            col: t.col,
            problem,
        };
        if t.scene_id != meta.scene_identity {
            return Err(bad(format!(
                "scene_id {:?} is not the index's scene {:?}",
                t.scene_id, meta.scene_identity
            )));
        }
        for (name, v) in [
            ("row", t.row),
            ("col", t.col),
            ("px_width", t.px_width),
            ("px_height", t.px_height),
        ] {
            if i32::try_from(v).is_err() {
                return Err(bad(format!("{name} {v} does not fit a 32-bit column")));
            }
        }
        let ring = &t.polygon_wgs84;
        if ring.len() < 4 || ring.first() != ring.last() {
            return Err(bad(format!(
                "polygon must be a closed ring of at least 4 points, got {} points",
                ring.len()
            )));
        }
        let coords = ring.iter().flatten().chain(&t.centre_lonlat);
        if !coords.chain(&t.bounds_crs).all(|v| v.is_finite()) {
            return Err(bad("non-finite coordinate".into()));
        }
        match (&t.embedding, t.status) {
            (Some(e), TileStatus::Embedded) => {
                if e.len() != meta.embed_dim as usize {
                    return Err(bad(format!(
                        "embedding has {} values, index says {}",
                        e.len(),
                        meta.embed_dim
                    )));
                }
                if !e.iter().all(|v| v.is_finite()) {
                    return Err(bad("embedding has non-finite values".into()));
                }
            }
            (None, TileStatus::Embedded) => {
                return Err(bad("embedded tile without embedding".into()));
            }
            (Some(_), s) => return Err(bad(format!("{s} tile carries an embedding"))),
            (None, _) => {}
        }
    }
    Ok(())
}

fn writer_properties(
    meta: &IndexMeta,
    tiles: &[TileRecord],
) -> Result<WriterProperties, ParquetError> {
    let geo = geo_metadata(tiles);
    let meta_json = serde_json::to_string(meta).map_err(|e| ParquetError::External(Box::new(e)))?;
    let embedding = ColumnPath::new(vec!["embedding".into(), "list".into(), "element".into()]);
    let geometry = ColumnPath::from("geometry");
    Ok(WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        // Floats and WKB blobs neither dictionary-encode nor give useful min/max.
        .set_column_dictionary_enabled(embedding.clone(), false)
        .set_column_statistics_enabled(embedding, EnabledStatistics::None)
        .set_column_dictionary_enabled(geometry.clone(), false)
        .set_column_statistics_enabled(geometry, EnabledStatistics::None)
        .set_created_by(format!("kestrel {}", env!("CARGO_PKG_VERSION")))
        .set_key_value_metadata(Some(vec![
            KeyValue::new(GEO_KEY.to_owned(), geo.to_string()),
            KeyValue::new(CHECKSUM_KEY.to_owned(), content_sha256(&meta_json, tiles)),
            KeyValue::new(META_KEY.to_owned(), meta_json),
        ]))
        .build())
}

/// The GeoParquet 1.1.0 `geo` metadata for these tiles. No `crs` member: the GeoParquet
/// default, OGC:CRS84 (WGS 84 longitude/latitude), is what the WKB holds.
pub fn geo_metadata(tiles: &[TileRecord]) -> serde_json::Value {
    let mut column = serde_json::json!({
        "encoding": "WKB",
        "geometry_types": ["Polygon"],
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

fn encode(meta: &IndexMeta, tiles: &[TileRecord]) -> Result<Vec<u8>, ParquetError> {
    let schema = Arc::new(parse_message_type(SCHEMA)?);
    let props = Arc::new(writer_properties(meta, tiles)?);
    let mut writer = SerializedFileWriter::new(Vec::new(), schema, props)?;
    for chunk in tiles.chunks(ROW_GROUP_ROWS) {
        let mut rg = writer.next_row_group()?;
        write_row_group(&mut rg, chunk)?;
        rg.close()?;
    }
    writer.into_inner()
}

fn write_row_group(
    rg: &mut SerializedRowGroupWriter<'_, Vec<u8>>,
    tiles: &[TileRecord],
) -> Result<(), ParquetError> {
    fn put<T: DataType>(
        rg: &mut SerializedRowGroupWriter<'_, Vec<u8>>,
        values: &[T::T],
        def: Option<&[i16]>,
        rep: Option<&[i16]>,
    ) -> Result<(), ParquetError> {
        let mut col = rg
            .next_column()?
            .ok_or_else(|| ParquetError::General("schema has fewer columns than written".into()))?;
        col.typed::<T>().write_batch(values, def, rep)?;
        col.close()
    }
    // Validation guarantees these fit.
    let i32_of = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
    let bytes = |s: &str| ByteArray::from(s.as_bytes().to_vec());
    let ints =
        |f: &dyn Fn(&TileRecord) -> u32| tiles.iter().map(|t| i32_of(f(t))).collect::<Vec<_>>();
    let doubles = |f: &dyn Fn(&TileRecord) -> f64| tiles.iter().map(f).collect::<Vec<_>>();

    let wkb: Vec<ByteArray> = tiles
        .iter()
        .map(|t| ByteArray::from(polygon_wkb(&t.polygon_wgs84)))
        .collect();
    put::<ByteArrayType>(rg, &wkb, None, None)?;
    let ids: Vec<ByteArray> = tiles.iter().map(|t| bytes(&t.scene_id)).collect();
    put::<ByteArrayType>(rg, &ids, None, None)?;
    put::<Int32Type>(rg, &ints(&|t| t.row), None, None)?;
    put::<Int32Type>(rg, &ints(&|t| t.col), None, None)?;
    let x0: Vec<i64> = tiles.iter().map(|t| t.px_x0).collect();
    put::<Int64Type>(rg, &x0, None, None)?;
    let y0: Vec<i64> = tiles.iter().map(|t| t.px_y0).collect();
    put::<Int64Type>(rg, &y0, None, None)?;
    put::<Int32Type>(rg, &ints(&|t| t.px_width), None, None)?;
    put::<Int32Type>(rg, &ints(&|t| t.px_height), None, None)?;
    for i in 0..4 {
        put::<DoubleType>(rg, &doubles(&|t| t.bounds_crs[i]), None, None)?;
    }
    put::<DoubleType>(rg, &doubles(&|t| t.centre_lonlat[0]), None, None)?;
    put::<DoubleType>(rg, &doubles(&|t| t.centre_lonlat[1]), None, None)?;
    let nodata: Vec<f32> = tiles.iter().map(|t| t.nodata_fraction).collect();
    put::<FloatType>(rg, &nodata, None, None)?;

    let cloud: Vec<f32> = tiles.iter().filter_map(|t| t.cloud_fraction).collect();
    let cloud_def: Vec<i16> = tiles
        .iter()
        .map(|t| i16::from(t.cloud_fraction.is_some()))
        .collect();
    put::<FloatType>(rg, &cloud, Some(&cloud_def), None)?;

    let status: Vec<ByteArray> = tiles.iter().map(|t| bytes(t.status.as_str())).collect();
    put::<ByteArrayType>(rg, &status, None, None)?;

    // 3-level list: def 0 = null list, 1 = empty list, 2 = value; rep 0 starts a row.
    let mut values = Vec::new();
    let mut def = Vec::new();
    let mut rep = Vec::new();
    for t in tiles {
        match &t.embedding {
            None => {
                def.push(0);
                rep.push(0);
            }
            Some(e) if e.is_empty() => {
                def.push(1);
                rep.push(0);
            }
            Some(e) => {
                values.extend_from_slice(e);
                def.extend(std::iter::repeat_n(2, e.len()));
                rep.push(0);
                rep.extend(std::iter::repeat_n(1, e.len() - 1));
            }
        }
    }
    put::<FloatType>(rg, &values, Some(&def), Some(&rep))?;
    if rg.next_column()?.is_some() {
        return Err(ParquetError::General(
            "schema has more columns than written".into(),
        ));
    }
    Ok(())
}

/// Little-endian ISO WKB of a one-ring 2D polygon.
fn polygon_wkb(ring: &[[f64; 2]]) -> Vec<u8> {
    let mut b = Vec::with_capacity(13 + 16 * ring.len());
    b.push(1u8);
    b.extend_from_slice(&3u32.to_le_bytes());
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&(ring.len() as u32).to_le_bytes());
    for p in ring {
        b.extend_from_slice(&p[0].to_le_bytes());
        b.extend_from_slice(&p[1].to_le_bytes());
    }
    b
}

/// Parse a 2D WKB Polygon with one ring (either byte order).
fn parse_polygon_wkb(b: &[u8]) -> Result<Vec<[f64; 2]>, String> {
    let little = match b.first().copied() {
        Some(1) => true,
        Some(0) => false,
        _ => return Err("geometry is not WKB".into()),
    };
    let word = |at: usize| -> Result<[u8; 4], String> {
        b.get(at..at + 4)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| "geometry WKB is cut short".to_string())
    };
    let u32_at = |at: usize| -> Result<u32, String> {
        let w = word(at)?;
        Ok(if little {
            u32::from_le_bytes(w)
        } else {
            u32::from_be_bytes(w)
        })
    };
    let kind = u32_at(1)?;
    if kind != 3 {
        return Err(format!("geometry is WKB type {kind}, not a 2D Polygon (3)"));
    }
    let rings = u32_at(5)?;
    if rings != 1 {
        return Err(format!("polygon has {rings} rings, a tile has 1"));
    }
    let n = u32_at(9)? as usize;
    if b.len() != 13 + 16 * n {
        return Err(format!(
            "polygon WKB is {} bytes, {n} points need {}",
            b.len(),
            13 + 16 * n
        ));
    }
    let f64_at = |at: usize| -> f64 {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[at..at + 8]);
        if little {
            f64::from_le_bytes(w)
        } else {
            f64::from_be_bytes(w)
        }
    };
    Ok((0..n)
        .map(|i| [f64_at(13 + 16 * i), f64_at(21 + 16 * i)])
        .collect())
}

/// Hex sha256 over the `kestrel` metadata JSON and every field of every tile in a fixed
/// binary layout (lengths and presence flags included), stored at write time and
/// checked at read time.
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

// ---------------------------------------------------------------------------------------
// Reading

/// Read only the [`IndexMeta`] of an index file (its footer; cheap). Used to decide
/// whether a cached index is still valid. Also checks the file is a Kestrel index of a
/// version this build reads.
pub fn read_meta(path: &Path) -> Result<IndexMeta, StoreError> {
    open(path).map(|o| o.meta)
}

/// Read a whole index file, verifying its schema and content digest.
pub fn read_index(path: &Path) -> Result<(IndexMeta, Vec<TileRecord>), StoreError> {
    let opened = open(path)?;
    let corrupt = |problem: String| StoreError::Corrupt {
        path: path.to_path_buf(),
        problem,
    };
    let tiles = guarded(|| decode(&opened.reader)).map_err(corrupt)?;
    let digest = content_sha256(&opened.meta_json, &tiles);
    if digest != opened.checksum {
        return Err(corrupt(format!(
            "content digest {digest} does not match the recorded {}",
            opened.checksum
        )));
    }
    if let Some(t) = tiles
        .iter()
        .find(|t| t.scene_id != opened.meta.scene_identity)
    {
        return Err(corrupt(format!(
            "tile row {} col {} belongs to scene {:?}, the index is for {:?}",
            t.row, t.col, t.scene_id, opened.meta.scene_identity
        )));
    }
    Ok((opened.meta, tiles))
}

/// Read several scenes' index files (e.g. built as separate cluster jobs) for one joint
/// search. All must share model, checkpoint, preprocessing version, embedding size and
/// bands, and no scene may appear twice; otherwise the error names both files.
/// Footers are checked before any body is read; bodies are read in parallel.
pub fn read_indexes(paths: &[PathBuf]) -> Result<Vec<SceneIndex>, StoreError> {
    let metas = paths
        .iter()
        .map(|p| read_meta(p))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some((first, first_meta)) = paths.iter().zip(&metas).next() {
        for (path, meta) in paths.iter().zip(&metas).skip(1) {
            if let Some(problem) = first_meta.incompatibility(meta) {
                return Err(StoreError::Incompatible {
                    first: first.clone(),
                    second: path.clone(),
                    problem,
                });
            }
        }
    }
    let mut seen: HashMap<&str, &PathBuf> = HashMap::new();
    for (path, meta) in paths.iter().zip(&metas) {
        if let Some(earlier) = seen.insert(&meta.scene_identity, path) {
            return Err(StoreError::Incompatible {
                first: earlier.clone(),
                second: path.clone(),
                problem: format!("both hold scene {:?}", meta.scene_identity),
            });
        }
    }
    paths
        .par_iter()
        .map(|p| {
            read_index(p).map(|(meta, tiles)| SceneIndex {
                path: p.clone(),
                meta,
                tiles,
            })
        })
        .collect()
}

struct Opened {
    reader: SerializedFileReader<File>,
    meta: IndexMeta,
    meta_json: String,
    checksum: String,
}

fn open(path: &Path) -> Result<Opened, StoreError> {
    let p = || path.to_path_buf();
    let mut file = File::open(path).map_err(|source| StoreError::Read { path: p(), source })?;
    check_magic(&mut file).map_err(|e| match e {
        MagicError::Io(source) => StoreError::Read { path: p(), source },
        MagicError::NotParquet => StoreError::NotParquet { path: p() },
        MagicError::Truncated => StoreError::Truncated { path: p() },
    })?;
    let reader = guarded(|| {
        SerializedFileReader::new(file).map_err(|e| format!("unreadable Parquet footer: {e}"))
    })
    .map_err(|problem| StoreError::Corrupt { path: p(), problem })?;
    let file_meta = reader.metadata().file_metadata();
    let kv = |key: &str| {
        file_meta
            .key_value_metadata()
            .and_then(|kvs| kvs.iter().find(|kv| kv.key == key))
            .and_then(|kv| kv.value.clone())
    };
    let corrupt = |problem: String| StoreError::Corrupt { path: p(), problem };
    let meta_json = kv(META_KEY).ok_or_else(|| StoreError::Foreign {
        path: p(),
        problem: format!("no `{META_KEY}` metadata"),
    })?;
    let value: serde_json::Value = serde_json::from_str(&meta_json)
        .map_err(|e| corrupt(format!("`{META_KEY}` metadata is not JSON: {e}")))?;
    let found = value
        .get("format_version")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| corrupt(format!("`{META_KEY}` metadata has no format_version")))?;
    if found > u64::from(INDEX_FORMAT_VERSION) {
        return Err(StoreError::UnsupportedVersion {
            path: p(),
            found,
            supported: INDEX_FORMAT_VERSION,
        });
    }
    let meta: IndexMeta = serde_json::from_value(value)
        .map_err(|e| corrupt(format!("`{META_KEY}` metadata: {e}")))?;
    let checksum =
        kv(CHECKSUM_KEY).ok_or_else(|| corrupt(format!("no `{CHECKSUM_KEY}` metadata")))?;
    check_schema(file_meta.schema_descr()).map_err(corrupt)?;
    Ok(Opened {
        reader,
        meta,
        meta_json,
        checksum,
    })
}

/// Run a decoding step, turning a panic inside the parquet crate into an error: on some
/// damaged footers it panics instead of returning one (found by flipping every byte of
/// a small index; e.g. "column start and length should not be negative",
/// "Decoder for dict should have been set"). The default panic hook still prints it.
fn guarded<T>(step: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(step)).unwrap_or_else(|payload| {
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(format!("the Parquet decoder failed: {msg}"))
    })
}

enum MagicError {
    Io(io::Error),
    NotParquet,
    Truncated,
}

/// Tell a non-Parquet file from a truncated one before the parquet crate does.
fn check_magic(file: &mut File) -> Result<(), MagicError> {
    let len = file.metadata().map_err(MagicError::Io)?.len();
    let mut head = [0u8; 4];
    let n = file.read(&mut head).map_err(MagicError::Io)?;
    if n < 4 || &head != b"PAR1" {
        return Err(MagicError::NotParquet);
    }
    let mut tail = [0u8; 4];
    if len < 12 {
        return Err(MagicError::Truncated);
    }
    file.seek(SeekFrom::End(-4)).map_err(MagicError::Io)?;
    file.read_exact(&mut tail).map_err(MagicError::Io)?;
    if &tail != b"PAR1" {
        return Err(MagicError::Truncated);
    }
    file.seek(SeekFrom::Start(0)).map_err(MagicError::Io)?;
    Ok(())
}

fn check_schema(found: &SchemaDescriptor) -> Result<(), String> {
    let expected = parse_message_type(SCHEMA)
        .map(|t| SchemaDescriptor::new(Arc::new(t)))
        .map_err(|e| format!("internal schema: {e}"))?;
    if found.num_columns() != expected.num_columns() {
        return Err(format!(
            "{} columns, a tile index has {}",
            found.num_columns(),
            expected.num_columns()
        ));
    }
    for (i, name) in COLUMNS.iter().enumerate() {
        let (f, e) = (found.column(i), expected.column(i));
        let same = f.path().string() == *name
            && f.physical_type() == e.physical_type()
            && f.max_def_level() == e.max_def_level()
            && f.max_rep_level() == e.max_rep_level();
        if !same {
            return Err(format!(
                "column {i} is {} {:?}, expected {name} {:?}",
                f.path().string(),
                f.physical_type(),
                e.physical_type()
            ));
        }
    }
    Ok(())
}

/// A leaf column of one row group, decoded whole.
struct Leaf<T> {
    values: Vec<T>,
    def: Vec<i16>,
    rep: Vec<i16>,
}

fn read_leaf<T: DataType>(
    rg: &dyn RowGroupReader,
    i: usize,
    rows: usize,
    has_def: bool,
    has_rep: bool,
) -> Result<Leaf<T::T>, String> {
    let err = |e: ParquetError| format!("column {}: {e}", COLUMNS[i]);
    let mut reader = get_typed_column_reader::<T>(rg.get_column_reader(i).map_err(err)?);
    let mut leaf = Leaf {
        values: Vec::with_capacity(rows),
        def: Vec::new(),
        rep: Vec::new(),
    };
    let mut records = 0;
    loop {
        let def = has_def.then_some(&mut leaf.def);
        let rep = has_rep.then_some(&mut leaf.rep);
        let (n, _, _) = reader
            .read_records(
                rows.saturating_sub(records).max(1),
                def,
                rep,
                &mut leaf.values,
            )
            .map_err(err)?;
        if n == 0 {
            break;
        }
        records += n;
    }
    if records != rows {
        return Err(format!(
            "column {} has {records} rows, its row group {rows}",
            COLUMNS[i]
        ));
    }
    Ok(leaf)
}

fn decode(reader: &SerializedFileReader<File>) -> Result<Vec<TileRecord>, String> {
    let total = usize::try_from(reader.metadata().file_metadata().num_rows())
        .map_err(|_| "negative row count".to_string())?;
    let mut tiles = Vec::with_capacity(total);
    for g in 0..reader.num_row_groups() {
        let rg = reader.get_row_group(g).map_err(|e| e.to_string())?;
        let rows = usize::try_from(rg.metadata().num_rows())
            .map_err(|_| "negative row count".to_string())?;
        decode_row_group(rg.as_ref(), rows, &mut tiles)?;
    }
    if tiles.len() != total {
        return Err(format!(
            "row groups hold {} rows, the footer says {total}",
            tiles.len()
        ));
    }
    Ok(tiles)
}

fn decode_row_group(
    rg: &dyn RowGroupReader,
    rows: usize,
    out: &mut Vec<TileRecord>,
) -> Result<(), String> {
    let geometry = read_leaf::<ByteArrayType>(rg, 0, rows, false, false)?.values;
    let scene_id = read_leaf::<ByteArrayType>(rg, 1, rows, false, false)?.values;
    let tile_row = read_leaf::<Int32Type>(rg, 2, rows, false, false)?.values;
    let tile_col = read_leaf::<Int32Type>(rg, 3, rows, false, false)?.values;
    let px_x0 = read_leaf::<Int64Type>(rg, 4, rows, false, false)?.values;
    let px_y0 = read_leaf::<Int64Type>(rg, 5, rows, false, false)?.values;
    let px_width = read_leaf::<Int32Type>(rg, 6, rows, false, false)?.values;
    let px_height = read_leaf::<Int32Type>(rg, 7, rows, false, false)?.values;
    let mut doubles = Vec::with_capacity(6);
    for i in 8..14 {
        doubles.push(read_leaf::<DoubleType>(rg, i, rows, false, false)?.values);
    }
    let nodata = read_leaf::<FloatType>(rg, 14, rows, false, false)?.values;
    let cloud = read_leaf::<FloatType>(rg, 15, rows, true, false)?;
    let status = read_leaf::<ByteArrayType>(rg, 16, rows, false, false)?.values;
    let embedding = read_leaf::<FloatType>(rg, 17, rows, true, true)?;

    let lengths_ok = [
        geometry.len(),
        scene_id.len(),
        tile_row.len(),
        tile_col.len(),
        px_x0.len(),
        px_y0.len(),
        px_width.len(),
        px_height.len(),
        nodata.len(),
        status.len(),
        cloud.def.len(),
    ]
    .into_iter()
    .chain(doubles.iter().map(Vec::len))
    .all(|n| n == rows);
    if !lengths_ok {
        return Err("columns of a row group differ in length".into());
    }

    let clouds = optional_values(&cloud)?;
    let embeddings = list_values(&embedding, rows)?;
    let utf8 = |b: &ByteArray, what: &str| {
        std::str::from_utf8(b.data())
            .map(str::to_owned)
            .map_err(|_| format!("{what} is not UTF-8"))
    };
    let unsigned =
        |v: i32, what: &str| u32::try_from(v).map_err(|_| format!("{what} is negative ({v})"));
    for (i, (cloud_fraction, embedding)) in clouds.into_iter().zip(embeddings).enumerate() {
        let status = utf8(&status[i], "status")?
            .parse::<TileStatus>()
            .map_err(|e| e.to_string())?;
        let polygon_wgs84 = parse_polygon_wkb(geometry[i].data())?;
        out.push(TileRecord {
            scene_id: utf8(&scene_id[i], "scene_id")?,
            row: unsigned(tile_row[i], "tile_row")?,
            col: unsigned(tile_col[i], "tile_col")?,
            px_x0: px_x0[i],
            px_y0: px_y0[i],
            px_width: unsigned(px_width[i], "px_width")?,
            px_height: unsigned(px_height[i], "px_height")?,
            bounds_crs: [doubles[0][i], doubles[1][i], doubles[2][i], doubles[3][i]],
            polygon_wgs84,
            centre_lonlat: [doubles[4][i], doubles[5][i]],
            nodata_fraction: nodata[i],
            cloud_fraction,
            status,
            embedding,
        });
    }
    Ok(())
}

/// Values of a nullable flat column, one per row.
fn optional_values(leaf: &Leaf<f32>) -> Result<Vec<Option<f32>>, String> {
    let mut values = leaf.values.iter();
    leaf.def
        .iter()
        .map(|&d| match d {
            0 => Ok(None),
            _ => values
                .next()
                .map(|v| Some(*v))
                .ok_or_else(|| "cloud_fraction has fewer values than rows".to_string()),
        })
        .collect()
}

/// Rows of a nullable `list<float>` column from its definition and repetition levels.
fn list_values(leaf: &Leaf<f32>, rows: usize) -> Result<Vec<Option<Vec<f32>>>, String> {
    if leaf.def.len() != leaf.rep.len() {
        return Err("embedding levels differ in length".into());
    }
    let mut out: Vec<Option<Vec<f32>>> = Vec::with_capacity(rows);
    let mut values = leaf.values.iter();
    for (&d, &r) in leaf.def.iter().zip(&leaf.rep) {
        if r == 0 {
            out.push(match d {
                0 => None,
                _ => Some(Vec::new()),
            });
        }
        if d == 2 {
            let v = values
                .next()
                .ok_or_else(|| "embedding has fewer values than levels".to_string())?;
            match out.last_mut() {
                Some(Some(list)) => list.push(*v),
                _ => return Err("embedding value outside a list".into()),
            }
        }
    }
    if out.len() != rows {
        return Err(format!("embedding has {} rows, expected {rows}", out.len()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wkb_round_trip_and_big_endian() {
        let ring = vec![[1.5, 2.25], [3.0, 2.25], [3.0, 4.0], [1.5, 2.25]];
        let wkb = polygon_wkb(&ring);
        assert_eq!(wkb.len(), 13 + 16 * 4);
        assert_eq!(&wkb[..5], &[1, 3, 0, 0, 0]);
        assert_eq!(parse_polygon_wkb(&wkb).unwrap(), ring);

        let mut be = vec![0u8];
        be.extend_from_slice(&3u32.to_be_bytes());
        be.extend_from_slice(&1u32.to_be_bytes());
        be.extend_from_slice(&4u32.to_be_bytes());
        for p in &ring {
            be.extend_from_slice(&p[0].to_be_bytes());
            be.extend_from_slice(&p[1].to_be_bytes());
        }
        assert_eq!(parse_polygon_wkb(&be).unwrap(), ring);

        assert!(
            parse_polygon_wkb(&wkb[..wkb.len() - 1])
                .unwrap_err()
                .contains("bytes")
        );
        let mut point = wkb.clone();
        point[1] = 1;
        assert!(parse_polygon_wkb(&point).unwrap_err().contains("type 1"));
    }

    #[test]
    fn list_levels_decode() {
        // rows: [1,2], null, [], [3]
        let leaf = Leaf {
            values: vec![1.0, 2.0, 3.0],
            def: vec![2, 2, 0, 1, 2],
            rep: vec![0, 1, 0, 0, 0],
        };
        assert_eq!(
            list_values(&leaf, 4).unwrap(),
            vec![Some(vec![1.0, 2.0]), None, Some(vec![]), Some(vec![3.0])]
        );
        assert!(list_values(&leaf, 5).is_err());
    }
}

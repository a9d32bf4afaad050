//! Tile index files ("shards"): one GeoParquet 1.1 file per scene holding every tile's
//! polygon, grid position, quality fractions and embedding, readable by DuckDB, pyarrow,
//! GeoPandas, LanceDB and GDAL.
//!
//! Layout (format 2; one row per tile, row groups of [`ROW_GROUP_ROWS`] rows, zstd):
//! `geometry` (WKB Polygon, lon/lat), `bbox` (struct `xmin`/`ymin`/`xmax`/`ymax`, the
//! GeoParquet 1.1 covering of `geometry`), `scene_id`, `product_id`, `mgrs_tile`, `datetime`
//! (sensing time, UTC; these three null where unknown), `tile_row`, `tile_col`, `px_x0`,
//! `px_y0`, `px_width`, `px_height`, `crs_minx/miny/maxx/maxy`, `centre_lon`, `centre_lat`,
//! `nodata_fraction`, `cloud_fraction` (nullable), `status`, `embedding` (nullable Arrow
//! `fixed_size_list<float>[N]`, stored as a Parquet LIST with the Arrow schema beside it).
//! Written through the parquet crate's Arrow writer ([`write`]); read by column name through
//! its Arrow reader ([`read`]), so format-1 files (`list<float>` embedding, no `bbox`) and
//! files other tools rewrote still read.
//!
//! File key-value metadata: `geo` (GeoParquet 1.1.0; no `crs` member, which by the
//! GeoParquet spec means OGC:CRS84, i.e. WGS 84 in lon/lat order, matching the WKB),
//! `kestrel` ([`IndexMeta`] as JSON: model, checkpoint, preprocessing, tiling, precision)
//! and `kestrel_content_sha256`, a digest of that JSON and of every decoded value so that a
//! damaged file is detected on read rather than trusted (Parquet pages carry no checksum
//! here and incompressible float pages are stored raw).
//!
//! Files rewritten by another tool (a DuckDB `COPY`, a pyarrow filter) are searchable when
//! their columns and `kestrel` metadata are right: the digest is checked when present and
//! the file's writer (`created_by`) is Kestrel; a digest another writer carried over
//! describes the rows Kestrel wrote, not these, and is not checked.
//!
//! Writes go to memory then atomically to disk; reads run on the caller's thread
//! (a worker thread in the app).

mod read;
pub mod stream;
mod wkb;
mod write;

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use rayon::prelude::*;

pub use self::write::{arrow_schema, content_sha256, geo_metadata, unix_micros};
use super::record::{INDEX_FORMAT_VERSION, IndexMeta, TileRecord, TileStatus};

/// Rows per row group: ~2 MB of 512-d embeddings, so a reader can stream a file.
pub const ROW_GROUP_ROWS: usize = 1024;

/// Key of the GeoParquet metadata.
pub const GEO_KEY: &str = "geo";
/// Key of the [`IndexMeta`] JSON.
pub const META_KEY: &str = "kestrel";
/// Key of the content digest (hex sha256, see [`content_sha256`]).
pub const CHECKSUM_KEY: &str = "kestrel_content_sha256";
/// The first word of the Parquet `created_by` Kestrel writes (`kestrel 0.1.0`).
pub const CREATED_BY: &str = "kestrel";
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
    let bytes = write::encode(meta, tiles).map_err(|e| StoreError::Write {
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
// ---------------------------------------------------------------------------------------
// Reading

/// Read only the [`IndexMeta`] of an index file (its footer; cheap). Used to decide
/// whether a cached index is still valid. Also checks the file is a Kestrel index of a
/// version this build reads.
pub fn read_meta(path: &Path) -> Result<IndexMeta, StoreError> {
    open(path).map(|o| o.meta)
}

/// Read a whole index file, verifying its schema and (see the module docs) its content
/// digest.
pub fn read_index(path: &Path) -> Result<(IndexMeta, Vec<TileRecord>), StoreError> {
    let opened = open(path)?;
    let corrupt = |problem: String| StoreError::Corrupt {
        path: path.to_path_buf(),
        problem,
    };
    let tiles = guarded(|| decode(&opened, path)).map_err(corrupt)?;
    match (&opened.checksum, opened.by_kestrel) {
        (Some(recorded), true) => {
            let digest = content_sha256(&opened.meta_json, &tiles);
            if digest != *recorded {
                return Err(corrupt(format!(
                    "content digest {digest} does not match the recorded {recorded}"
                )));
            }
        }
        (None, true) => {
            return Err(corrupt(format!(
                "no `{CHECKSUM_KEY}` metadata, which Kestrel always writes"
            )));
        }
        (_, false) => log::info!(
            "{}: rewritten by {:?}, not Kestrel: no content digest to check",
            path.display(),
            opened.created_by
        ),
    }
    let dim = opened.meta.embed_dim as usize;
    for t in &tiles {
        if t.scene_id != opened.meta.scene_identity {
            return Err(corrupt(format!(
                "tile row {} col {} belongs to scene {:?}, the index is for {:?}",
                t.row, t.col, t.scene_id, opened.meta.scene_identity
            )));
        }
        match (&t.embedding, t.status) {
            (Some(e), TileStatus::Embedded) if e.len() == dim => {}
            (Some(e), TileStatus::Embedded) => {
                return Err(corrupt(format!(
                    "tile row {} col {} has {} embedding values, the index says {dim}",
                    t.row,
                    t.col,
                    e.len()
                )));
            }
            (None, TileStatus::Embedded) => {
                return Err(corrupt(format!(
                    "embedded tile row {} col {} has no embedding",
                    t.row, t.col
                )));
            }
            (Some(_), s) => {
                return Err(corrupt(format!(
                    "{s} tile row {} col {} carries an embedding",
                    t.row, t.col
                )));
            }
            (None, _) => {}
        }
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
    check_together(paths, &metas)?;
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
/// Whether the indexes of `paths` (their `metas`) can be searched together: same model,
/// checkpoint, preprocessing, embedding size and bands, no scene twice.
fn check_together(paths: &[PathBuf], metas: &[IndexMeta]) -> Result<(), StoreError> {
    if let Some((first, first_meta)) = paths.iter().zip(metas).next() {
        for (path, meta) in paths.iter().zip(metas).skip(1) {
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
    for (path, meta) in paths.iter().zip(metas) {
        if let Some(earlier) = seen.insert(&meta.scene_identity, path) {
            return Err(StoreError::Incompatible {
                first: earlier.clone(),
                second: path.clone(),
                problem: format!("both hold scene {:?}", meta.scene_identity),
            });
        }
    }
    Ok(())
}

pub(super) struct Opened {
    path: PathBuf,
    file: File,
    arrow: ArrowReaderMetadata,
    pub(super) meta: IndexMeta,
    meta_json: String,
    checksum: Option<String>,
    created_by: Option<String>,
    /// The Parquet writer was Kestrel (`created_by` starts with [`CREATED_BY`]).
    by_kestrel: bool,
}

impl Opened {
    /// A record batch reader over `columns` (all when `None`), one batch per row group.
    pub(super) fn batches(
        &self,
        columns: Option<&[&str]>,
    ) -> Result<parquet::arrow::arrow_reader::ParquetRecordBatchReader, String> {
        let file = self.file.try_clone().map_err(|e| e.to_string())?;
        let mut b = ParquetRecordBatchReaderBuilder::new_with_metadata(file, self.arrow.clone())
            .with_batch_size(ROW_GROUP_ROWS);
        if let Some(cols) = columns {
            let mask = ProjectionMask::columns(b.parquet_schema(), cols.iter().copied());
            b = b.with_projection(mask);
        }
        b.build().map_err(|e| e.to_string())
    }

    /// A record batch reader over all columns of the row groups `groups`.
    pub(super) fn batches_of_groups(
        &self,
        groups: Vec<usize>,
    ) -> Result<parquet::arrow::arrow_reader::ParquetRecordBatchReader, String> {
        let file = self.file.try_clone().map_err(|e| e.to_string())?;
        ParquetRecordBatchReaderBuilder::new_with_metadata(file, self.arrow.clone())
            .with_batch_size(ROW_GROUP_ROWS)
            .with_row_groups(groups)
            .build()
            .map_err(|e| e.to_string())
    }
}

pub(super) fn open(path: &Path) -> Result<Opened, StoreError> {
    let p = || path.to_path_buf();
    let mut file = File::open(path).map_err(|source| StoreError::Read { path: p(), source })?;
    check_magic(&mut file).map_err(|e| match e {
        MagicError::Io(source) => StoreError::Read { path: p(), source },
        MagicError::NotParquet => StoreError::NotParquet { path: p() },
        MagicError::Truncated => StoreError::Truncated { path: p() },
    })?;
    let corrupt = |problem: String| StoreError::Corrupt { path: p(), problem };
    let arrow = guarded(|| {
        ArrowReaderMetadata::load(&file, ArrowReaderOptions::new())
            .map_err(|e| format!("unreadable Parquet footer: {e}"))
    })
    .map_err(corrupt)?;
    let file_meta = arrow.metadata().file_metadata();
    let kv = |key: &str| {
        file_meta
            .key_value_metadata()
            .and_then(|kvs| kvs.iter().find(|kv| kv.key == key))
            .and_then(|kv| kv.value.clone())
    };
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
    let created_by = file_meta.created_by().map(str::to_owned);
    let by_kestrel = created_by
        .as_deref()
        .and_then(|c| c.split_whitespace().next())
        == Some(CREATED_BY);
    let checksum = kv(CHECKSUM_KEY);
    read::check_schema(arrow.schema()).map_err(corrupt)?;
    if by_kestrel && kv("ARROW:schema").is_some() {
        // Kestrel stores the metadata in the Arrow schema too (pyarrow reads it there); the
        // parquet crate ignores an undecodable one, so compare: damage there is damage.
        let inner = arrow.schema().metadata();
        for key in [GEO_KEY, META_KEY, CHECKSUM_KEY] {
            if inner.get(key) != kv(key).as_ref() {
                return Err(corrupt(format!(
                    "the `{key}` metadata of the stored Arrow schema differs from the file's \
                     (the Arrow schema is damaged)"
                )));
            }
        }
    }
    Ok(Opened {
        path: p(),
        file,
        arrow,
        meta,
        meta_json,
        checksum,
        created_by,
        by_kestrel,
    })
}

/// Every tile of an opened file, row group by row group.
fn decode(opened: &Opened, path: &Path) -> Result<Vec<TileRecord>, String> {
    let total = usize::try_from(opened.arrow.metadata().file_metadata().num_rows())
        .map_err(|_| "negative row count".to_string())?;
    let mut tiles = Vec::with_capacity(total);
    for batch in opened.batches(None)? {
        let batch = batch.map_err(|e| e.to_string())?;
        let first = tiles.len();
        read::decode_batch(&batch, &mut tiles)?;
        if opened.by_kestrel {
            read::check_derived(&batch, &tiles[first..], &opened.meta)?;
        }
    }
    if tiles.len() != total {
        return Err(format!(
            "row groups hold {} rows, the footer of {} says {total}",
            tiles.len(),
            path.display()
        ));
    }
    Ok(tiles)
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

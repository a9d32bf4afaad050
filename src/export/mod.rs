//! Exports of search results: ranked tiles and zero-shot classification results, to CSV
//! ([`csv`]), GeoJSON ([`geojson`]) and GeoPackage ([`gpkg`], through GDAL), written
//! atomically; and the rendered map view as a georeferenced picture ([`view_image`]).
//!
//! Both formats carry the same columns, built once here: a CSV row and a GeoJSON
//! feature's properties hold the same names and values (the CSV adds a `wkt` column,
//! the GeoJSON has the polygon as its geometry). Every row also repeats the provenance
//! (query, model, checkpoint sha256, bands, harmonisation, scene path) so a row is
//! self-describing when filtered or joined elsewhere. Pure Rust; runs on the caller's
//! thread.
//!
//! Columns, in order:
//! - ranked results: `rank`, `score`, then the tile columns, then the provenance columns;
//! - classification: the tile columns, `top_class`, `top_probability`, one `p_<class>`
//!   column per class ([`class_columns`]), then the provenance columns with `classes`
//!   (a JSON array of the original class names) after `query_examples`.
//!
//! Tile columns: `scene_id`, `tile_row`, `tile_col`, `px_x0`, `px_y0`, `px_width`,
//! `px_height`, `crs_epsg`, `crs_minx`, `crs_miny`, `crs_maxx`, `crs_maxy` (scene CRS),
//! `wgs84_min_lon`, `wgs84_min_lat`, `wgs84_max_lon`, `wgs84_max_lat` (of the lon/lat
//! polygon), `centre_lon`, `centre_lat`, `nodata_fraction`, `cloud_fraction` (empty /
//! null when unknown), `status`. Provenance columns: `query_text`, `query_examples`,
//! `model_name`, `checkpoint_sha256`, `bands` (comma-separated), `harmonisation`,
//! `precision` (`f32`/`bf16`/`f16`; empty / null when not recorded), `scene_path`.

pub mod csv;
pub mod geojson;
pub mod gpkg;
pub mod view_image;

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

pub use self::csv::{RankedCsv, read_ranked_csv, write_classes_csv, write_ranked_csv};
pub use self::geojson::{write_classes_geojson, write_ranked_geojson};
pub use self::gpkg::{write_classes_gpkg, write_ranked_gpkg};
use crate::search::record::{IndexMeta, TileRecord};

/// Errors of an export; each names the destination file.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot write {path}: the folder {dir} does not exist")]
    NoFolder { path: PathBuf, dir: PathBuf },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot export to {path}: {problem}")]
    Invalid { path: PathBuf, problem: String },
    #[error("cannot read {path}: {problem}")]
    BadInput { path: PathBuf, problem: String },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Where one scene of the results came from.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportScene {
    /// Matches [`TileRecord::scene_id`].
    pub scene_id: String,
    pub scene_path: String,
    /// EPSG code of the scene CRS (the CRS of `crs_*` bounds), if it has one.
    pub epsg: Option<u32>,
    pub harmonisation: String,
    /// Compute precision of the embeddings (`f32`, `bf16`, `f16`), when recorded.
    pub precision: Option<String>,
}

/// What produced the results: query, model and scenes. One context serves both
/// formats and both kinds of result.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportContext {
    /// The typed query (empty when searching by example only). For classification, a
    /// description of the prompt templates used.
    pub query_text: String,
    /// Description of example tiles used as query (e.g. `+ r3c4, r5c1; - r0c0`), or empty.
    pub query_examples: String,
    pub model_name: String,
    pub checkpoint_sha256: String,
    /// Band names in model input order.
    pub bands: Vec<String>,
    /// Every scene a row may come from (one for a single-scene search).
    pub scenes: Vec<ExportScene>,
}

impl ExportContext {
    /// Context for results over the scenes of these index metadata (model, checkpoint
    /// and bands are taken from the first), with an empty query.
    pub fn from_metas<'a>(metas: impl IntoIterator<Item = &'a IndexMeta>) -> Self {
        let mut ctx = ExportContext {
            query_text: String::new(),
            query_examples: String::new(),
            model_name: String::new(),
            checkpoint_sha256: String::new(),
            bands: Vec::new(),
            scenes: Vec::new(),
        };
        for m in metas {
            if ctx.scenes.is_empty() {
                ctx.model_name = m.model_name.clone();
                ctx.checkpoint_sha256 = m.checkpoint_sha256.clone();
                ctx.bands = m.bands.clone();
            }
            ctx.scenes.push(ExportScene {
                scene_id: m.scene_identity.clone(),
                scene_path: m.scene_path.clone(),
                epsg: m.scene_epsg,
                harmonisation: m.harmonisation.clone(),
                precision: m.precision.clone(),
            });
        }
        ctx
    }

    /// Set the query text and example description.
    pub fn with_query(mut self, text: impl Into<String>, examples: impl Into<String>) -> Self {
        self.query_text = text.into();
        self.query_examples = examples.into();
        self
    }
}

/// One search hit. `rank` is 1-based.
#[derive(Debug, Clone, Copy)]
pub struct RankedTile<'a> {
    pub rank: usize,
    pub score: f32,
    pub tile: &'a TileRecord,
}

/// One classified tile: a probability per class (same order as the class list) and
/// the index of the top class.
#[derive(Debug, Clone)]
pub struct ClassifiedTile<'a> {
    pub tile: &'a TileRecord,
    pub probs: Vec<f32>,
    pub top: usize,
}

/// A value of one column.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    Int(i64),
    F32(f32),
    F64(f64),
    Str(String),
    Null,
}

/// Rows ready for either format: column names, and per row the tile's lon/lat ring
/// (counter-clockwise) and its cells.
pub(crate) struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<TableRow>,
}

pub(crate) struct TableRow {
    pub ring: Vec<[f64; 2]>,
    pub cells: Vec<Cell>,
}

/// Columns describing the tile itself (after any leading rank/score columns).
const TILE_COLUMNS: [&str; 21] = [
    "scene_id",
    "tile_row",
    "tile_col",
    "px_x0",
    "px_y0",
    "px_width",
    "px_height",
    "crs_epsg",
    "crs_minx",
    "crs_miny",
    "crs_maxx",
    "crs_maxy",
    "wgs84_min_lon",
    "wgs84_min_lat",
    "wgs84_max_lon",
    "wgs84_max_lat",
    "centre_lon",
    "centre_lat",
    "nodata_fraction",
    "cloud_fraction",
    "status",
];

/// Trailing provenance columns; `classes` only for classification.
const PROVENANCE_COLUMNS: [&str; 8] = [
    "query_text",
    "query_examples",
    "model_name",
    "checkpoint_sha256",
    "bands",
    "harmonisation",
    "precision",
    "scene_path",
];

fn invalid(path: &Path, problem: String) -> ExportError {
    ExportError::Invalid {
        path: path.to_path_buf(),
        problem,
    }
}

/// The exterior ring in counter-clockwise order (RFC 7946), by the sign of its
/// shoelace area in lon/lat.
pub fn ccw_ring(ring: &[[f64; 2]]) -> Vec<[f64; 2]> {
    let twice_area: f64 = ring
        .windows(2)
        .map(|w| w[0][0] * w[1][1] - w[1][0] * w[0][1])
        .sum();
    let mut out = ring.to_vec();
    if twice_area < 0.0 {
        out.reverse();
    }
    out
}

/// Column names for class probabilities: `p_` + the class name lower-cased with every
/// run of characters other than ASCII letters and digits replaced by `_`; empty names
/// become `p_class<N>` and repeats get `_2`, `_3`, ... suffixes.
pub fn class_columns(classes: &[String]) -> Vec<String> {
    let mut used: HashMap<String, usize> = HashMap::new();
    classes
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let mut s = String::new();
            for c in name.chars() {
                if c.is_ascii_alphanumeric() {
                    s.push(c.to_ascii_lowercase());
                } else if !s.is_empty() && !s.ends_with('_') {
                    s.push('_');
                }
            }
            let s = s.trim_end_matches('_');
            let base = if s.is_empty() {
                format!("p_class{}", i + 1)
            } else {
                format!("p_{s}")
            };
            let n = used.entry(base.clone()).or_insert(0);
            *n += 1;
            if *n == 1 { base } else { format!("{base}_{n}") }
        })
        .collect()
}

fn lookup_scene<'a>(
    path: &Path,
    scenes: &HashMap<&str, &'a ExportScene>,
    tile: &TileRecord,
) -> Result<&'a ExportScene, ExportError> {
    scenes.get(tile.scene_id.as_str()).copied().ok_or_else(|| {
        invalid(
            path,
            format!(
                "tile row {} col {} is from scene {:?}, which the export context does not list",
                tile.row, tile.col, tile.scene_id
            ),
        )
    })
}

fn tile_cells(
    path: &Path,
    tile: &TileRecord,
    scene: &ExportScene,
) -> Result<Vec<Cell>, ExportError> {
    let [min_lon, min_lat, max_lon, max_lat] = tile.bounds_wgs84().ok_or_else(|| {
        invalid(
            path,
            format!("tile row {} col {} has no polygon", tile.row, tile.col),
        )
    })?;
    let b = tile.bounds_crs;
    Ok(vec![
        Cell::Str(tile.scene_id.clone()),
        Cell::Int(i64::from(tile.row)),
        Cell::Int(i64::from(tile.col)),
        Cell::Int(tile.px_x0),
        Cell::Int(tile.px_y0),
        Cell::Int(i64::from(tile.px_width)),
        Cell::Int(i64::from(tile.px_height)),
        scene.epsg.map_or(Cell::Null, |e| Cell::Int(i64::from(e))),
        Cell::F64(b[0]),
        Cell::F64(b[1]),
        Cell::F64(b[2]),
        Cell::F64(b[3]),
        Cell::F64(min_lon),
        Cell::F64(min_lat),
        Cell::F64(max_lon),
        Cell::F64(max_lat),
        Cell::F64(tile.centre_lonlat[0]),
        Cell::F64(tile.centre_lonlat[1]),
        Cell::F32(tile.nodata_fraction),
        tile.cloud_fraction.map_or(Cell::Null, Cell::F32),
        Cell::Str(tile.status.as_str().to_owned()),
    ])
}

fn provenance_cells(ctx: &ExportContext, scene: &ExportScene, classes: Option<&str>) -> Vec<Cell> {
    let mut cells = vec![
        Cell::Str(ctx.query_text.clone()),
        Cell::Str(ctx.query_examples.clone()),
    ];
    if let Some(c) = classes {
        cells.push(Cell::Str(c.to_owned()));
    }
    cells.extend([
        Cell::Str(ctx.model_name.clone()),
        Cell::Str(ctx.checkpoint_sha256.clone()),
        Cell::Str(ctx.bands.join(",")),
        Cell::Str(scene.harmonisation.clone()),
        scene.precision.clone().map_or(Cell::Null, Cell::Str),
        Cell::Str(scene.scene_path.clone()),
    ]);
    cells
}

fn provenance_columns(with_classes: bool) -> Vec<String> {
    let mut cols: Vec<String> = PROVENANCE_COLUMNS.iter().map(|c| (*c).to_owned()).collect();
    if with_classes {
        cols.insert(2, "classes".to_owned());
    }
    cols
}

fn scene_map(ctx: &ExportContext) -> HashMap<&str, &ExportScene> {
    ctx.scenes
        .iter()
        .map(|s| (s.scene_id.as_str(), s))
        .collect()
}

/// Columns: `rank`, `score`, the tile columns, then the provenance columns.
pub(crate) fn ranked_table(
    path: &Path,
    ctx: &ExportContext,
    hits: &[RankedTile<'_>],
) -> Result<Table, ExportError> {
    let scenes = scene_map(ctx);
    let mut columns = vec!["rank".to_owned(), "score".to_owned()];
    columns.extend(TILE_COLUMNS.iter().map(|c| (*c).to_owned()));
    columns.extend(provenance_columns(false));
    let rows = hits
        .iter()
        .map(|hit| -> Result<TableRow, ExportError> {
            let scene = lookup_scene(path, &scenes, hit.tile)?;
            let mut cells = vec![
                Cell::Int(i64::try_from(hit.rank).unwrap_or(i64::MAX)),
                Cell::F32(hit.score),
            ];
            cells.extend(tile_cells(path, hit.tile, scene)?);
            cells.extend(provenance_cells(ctx, scene, None));
            Ok(TableRow {
                ring: ccw_ring(&hit.tile.polygon_wgs84),
                cells,
            })
        })
        .collect::<Result<Vec<_>, ExportError>>()?;
    Ok(Table { columns, rows })
}

/// Class names as one cell: a JSON array, so names with commas survive.
pub(crate) fn classes_cell(classes: &[String]) -> String {
    serde_json::to_string(classes).unwrap_or_default()
}

/// Columns: the tile columns, `top_class`, `top_probability`, one `p_<class>` column
/// per class ([`class_columns`]), then the provenance columns with `classes`.
pub(crate) fn classes_table(
    path: &Path,
    ctx: &ExportContext,
    classes: &[String],
    rows: &[ClassifiedTile<'_>],
) -> Result<Table, ExportError> {
    if classes.is_empty() {
        return Err(invalid(path, "no classes".into()));
    }
    let scenes = scene_map(ctx);
    let mut columns: Vec<String> = TILE_COLUMNS.iter().map(|c| (*c).to_owned()).collect();
    columns.extend(["top_class".to_owned(), "top_probability".to_owned()]);
    columns.extend(class_columns(classes));
    columns.extend(provenance_columns(true));
    let all_classes = classes_cell(classes);
    let rows = rows
        .iter()
        .map(|r| -> Result<TableRow, ExportError> {
            let t = r.tile;
            if r.probs.len() != classes.len() {
                return Err(invalid(
                    path,
                    format!(
                        "tile row {} col {} has {} probabilities for {} classes",
                        t.row,
                        t.col,
                        r.probs.len(),
                        classes.len()
                    ),
                ));
            }
            let (Some(top_class), Some(top_prob)) = (classes.get(r.top), r.probs.get(r.top)) else {
                return Err(invalid(
                    path,
                    format!(
                        "tile row {} col {}: top class {} is not one of {} classes",
                        t.row,
                        t.col,
                        r.top,
                        classes.len()
                    ),
                ));
            };
            let scene = lookup_scene(path, &scenes, t)?;
            let mut cells = tile_cells(path, t, scene)?;
            cells.push(Cell::Str(top_class.clone()));
            cells.push(Cell::F32(*top_prob));
            cells.extend(r.probs.iter().map(|p| Cell::F32(*p)));
            cells.extend(provenance_cells(ctx, scene, Some(&all_classes)));
            Ok(TableRow {
                ring: ccw_ring(&t.polygon_wgs84),
                cells,
            })
        })
        .collect::<Result<Vec<_>, ExportError>>()?;
    Ok(Table { columns, rows })
}

/// The folder `path` goes into must exist (checked before any work is done).
pub(crate) fn check_folder(path: &Path) -> Result<(), ExportError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.is_dir()
    {
        return Err(ExportError::NoFolder {
            path: path.to_path_buf(),
            dir: dir.to_path_buf(),
        });
    }
    Ok(())
}

/// Check the destination folder exists, then write atomically.
pub(crate) fn write_file<F>(path: &Path, fill: F) -> Result<(), ExportError>
where
    F: FnOnce(&mut dyn io::Write) -> io::Result<()>,
{
    check_folder(path)?;
    crate::atomic::write_atomic(path, fill).map_err(|e| ExportError::Write {
        path: e.path,
        source: e.source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_column_names_are_sanitised_and_unique() {
        let classes: Vec<String> = ["Forest", "  Sea / Lake ", "forest", "", "Ünï", "a--b"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            class_columns(&classes),
            vec![
                "p_forest",
                "p_sea_lake",
                "p_forest_2",
                "p_class4",
                "p_n",
                "p_a_b"
            ]
        );
    }

    #[test]
    fn rings_become_counter_clockwise() {
        let cw = [[0.0, 0.0], [0.0, 1.0], [1.0, 1.0], [1.0, 0.0], [0.0, 0.0]];
        let ccw = ccw_ring(&cw);
        assert_eq!(
            ccw,
            vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]]
        );
        assert_eq!(ccw_ring(&ccw), ccw);
    }
}

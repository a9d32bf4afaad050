//! CSV export: one row per tile with the columns listed in [`super`], plus a last `wkt`
//! column holding the tile polygon in EPSG:4326
//! (lon lat order), which QGIS's "Delimited text" source loads as a polygon layer.
//! Quoting is the `csv` crate's (queries may hold commas, quotes and newlines).
//! Numbers are written in Rust's shortest round-trip form (full f32/f64 precision).
//! [`read_ranked_csv`] reads a ranked export back (any tool's rewrite of it that keeps the
//! columns), for `kestrel compare`.

use std::fmt::Write as _;
use std::io;
use std::path::Path;

use super::{Cell, ClassifiedTile, ExportContext, ExportError, RankedTile, Table};
use crate::search::agreement::{RankedKey, TileKey};

/// A ranked export read back: who ranked (model, query) and the tiles, best first.
#[derive(Debug, Clone, PartialEq)]
pub struct RankedCsv {
    pub model_name: String,
    pub query: String,
    pub tiles: Vec<RankedKey>,
}

/// Read a ranked CSV export (`kestrel search --csv`, the viewer's "Export CSV…"); rows are
/// ordered by their `rank` column.
pub fn read_ranked_csv(path: &Path) -> Result<RankedCsv, ExportError> {
    let invalid = |problem: String| ExportError::BadInput {
        path: path.to_path_buf(),
        problem,
    };
    let mut reader = ::csv::Reader::from_path(path).map_err(|e| match e.into_kind() {
        ::csv::ErrorKind::Io(source) => ExportError::Read {
            path: path.to_path_buf(),
            source,
        },
        other => invalid(format!("{other:?}")),
    })?;
    let header = reader
        .headers()
        .map_err(|e| invalid(format!("no CSV header: {e}")))?
        .clone();
    let col = |name: &str| {
        header.iter().position(|h| h == name).ok_or_else(|| {
            invalid(format!(
                "no `{name}` column: not a ranked export of Kestrel's (columns: {})",
                header.iter().collect::<Vec<_>>().join(", ")
            ))
        })
    };
    let [rank, score, scene, x0, y0, row, colm] = [
        "rank", "score", "scene_id", "px_x0", "px_y0", "tile_row", "tile_col",
    ]
    .map(col);
    let (rank, score, scene, x0, y0, row, colm) = (rank?, score?, scene?, x0?, y0?, row?, colm?);
    let model_col = header.iter().position(|h| h == "model_name");
    let query_col = header.iter().position(|h| h == "query_text");
    let mut out = RankedCsv {
        model_name: String::new(),
        query: String::new(),
        tiles: Vec::new(),
    };
    let mut ranked = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        let line = i + 2;
        let rec = rec.map_err(|e| invalid(format!("line {line}: {e}")))?;
        let field = |c: usize| rec.get(c).unwrap_or("");
        let num = |c: usize, what: &str| -> Result<f64, ExportError> {
            field(c).trim().parse::<f64>().map_err(|_| {
                invalid(format!(
                    "line {line}: {what} `{}` is not a number",
                    field(c)
                ))
            })
        };
        if i == 0 {
            out.model_name = model_col.map(|c| field(c).to_owned()).unwrap_or_default();
            out.query = query_col.map(|c| field(c).to_owned()).unwrap_or_default();
        }
        let key = RankedKey {
            key: TileKey {
                scene_id: field(scene).to_owned(),
                px_x0: num(x0, "px_x0")? as i64,
                px_y0: num(y0, "px_y0")? as i64,
            },
            label: format!("r{} c{}", field(row), field(colm)),
            score: num(score, "score")? as f32,
        };
        ranked.push((num(rank, "rank")?, key));
    }
    ranked.sort_by(|a, b| a.0.total_cmp(&b.0));
    out.tiles = ranked.into_iter().map(|(_, k)| k).collect();
    Ok(out)
}

/// Write ranked search hits to `path` (atomically).
pub fn write_ranked_csv(
    path: &Path,
    ctx: &ExportContext,
    hits: &[RankedTile<'_>],
) -> Result<(), ExportError> {
    let table = super::ranked_table(path, ctx, hits)?;
    write_table(path, &table)
}

/// Write zero-shot classification results to `path` (atomically): one probability
/// column per class, plus `top_class` and `top_probability`.
pub fn write_classes_csv(
    path: &Path,
    ctx: &ExportContext,
    classes: &[String],
    rows: &[ClassifiedTile<'_>],
) -> Result<(), ExportError> {
    let table = super::classes_table(path, ctx, classes, rows)?;
    write_table(path, &table)
}

/// `POLYGON ((lon lat, lon lat, ...))` with full-precision coordinates.
pub fn wkt_polygon(ring: &[[f64; 2]]) -> String {
    let mut s = String::from("POLYGON ((");
    for (i, p) in ring.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        let _ = write!(s, "{} {}", p[0], p[1]);
    }
    s.push_str("))");
    s
}

/// A cell as text (the CSV's form; also the GeoPackage's for text fields).
pub(super) fn cell_text(c: &Cell) -> String {
    match c {
        Cell::Int(v) => v.to_string(),
        Cell::F32(v) => v.to_string(),
        Cell::F64(v) => v.to_string(),
        Cell::Str(s) => s.clone(),
        Cell::Null => String::new(),
    }
}

fn write_table(path: &Path, table: &Table) -> Result<(), ExportError> {
    super::write_file(path, |w| {
        let mut out = ::csv::Writer::from_writer(w);
        let mut header: Vec<&str> = table.columns.iter().map(String::as_str).collect();
        header.push("wkt");
        out.write_record(&header).map_err(io::Error::other)?;
        for row in &table.rows {
            let mut record: Vec<String> = row.cells.iter().map(cell_text).collect();
            record.push(wkt_polygon(&row.ring));
            out.write_record(&record).map_err(io::Error::other)?;
        }
        out.flush()
    })
}

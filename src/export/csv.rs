//! CSV export: one row per tile with the columns listed in [`super`], plus a last `wkt`
//! column holding the tile polygon in EPSG:4326
//! (lon lat order), which QGIS's "Delimited text" source loads as a polygon layer.
//! Quoting is the `csv` crate's (queries may hold commas, quotes and newlines).
//! Numbers are written in Rust's shortest round-trip form (full f32/f64 precision).

use std::fmt::Write as _;
use std::io;
use std::path::Path;

use super::{Cell, ClassifiedTile, ExportContext, ExportError, RankedTile, Table};

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

fn cell_text(c: &Cell) -> String {
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

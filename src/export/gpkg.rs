//! GeoPackage export through GDAL/OGR: the same columns and values as the CSV and GeoJSON
//! exports (see [`super`]) in one layer, `results`, of EPSG:4326 tile polygons, for QGIS,
//! GeoPandas or DuckDB's spatial extension. A column's field type is that of its first
//! non-empty value (integer, real or text); empty cells are null. Written atomically
//! ([`atomic::write_atomic_via_path`]): `path` is either the old file or the whole new one.

use std::path::Path;

use gdal::spatial_ref::{AxisMappingStrategy, SpatialRef};
use gdal::vector::{
    Feature, Geometry, LayerAccess, LayerOptions, OGRFieldType, OGRwkbGeometryType,
};

use super::csv::{cell_text, wkt_polygon};
use super::{Cell, ClassifiedTile, ExportContext, ExportError, RankedTile, Table};
use crate::atomic;

/// Write ranked search hits to `path` (atomically).
pub fn write_ranked_gpkg(
    path: &Path,
    ctx: &ExportContext,
    hits: &[RankedTile<'_>],
) -> Result<(), ExportError> {
    let table = super::ranked_table(path, ctx, hits)?;
    write_table(path, &table)
}

/// Write zero-shot classification results to `path` (atomically).
pub fn write_classes_gpkg(
    path: &Path,
    ctx: &ExportContext,
    classes: &[String],
    rows: &[ClassifiedTile<'_>],
) -> Result<(), ExportError> {
    let table = super::classes_table(path, ctx, classes, rows)?;
    write_table(path, &table)
}

/// The OGR field type of column `c`: that of its first non-empty cell.
fn field_type(table: &Table, c: usize) -> OGRFieldType::Type {
    for row in &table.rows {
        match row.cells.get(c) {
            Some(Cell::Int(_)) => return OGRFieldType::OFTInteger64,
            Some(Cell::F32(_) | Cell::F64(_)) => return OGRFieldType::OFTReal,
            Some(Cell::Str(_)) => return OGRFieldType::OFTString,
            Some(Cell::Null) | None => {}
        }
    }
    OGRFieldType::OFTString
}

fn write_table(path: &Path, table: &Table) -> Result<(), ExportError> {
    super::check_folder(path)?;
    let write = |tmp: &Path| -> Result<(), gdal::errors::GdalError> {
        let driver = gdal::DriverManager::get_driver_by_name("GPKG")?;
        let mut ds = driver.create_vector_only(tmp)?;
        let mut srs = SpatialRef::from_epsg(4326)?;
        srs.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
        let layer = ds.create_layer(LayerOptions {
            name: "results",
            srs: Some(&srs),
            ty: OGRwkbGeometryType::wkbPolygon,
            options: None,
        })?;
        let fields: Vec<(&str, OGRFieldType::Type)> = table
            .columns
            .iter()
            .enumerate()
            .map(|(c, name)| (name.as_str(), field_type(table, c)))
            .collect();
        layer.create_defn_fields(&fields)?;
        // one transaction: a feature per statement would be slow for thousands of tiles
        let txn = ds.start_transaction()?;
        {
            let layer = txn.layer(0)?;
            for row in &table.rows {
                let mut f = Feature::new(layer.defn())?;
                for (c, cell) in row.cells.iter().enumerate() {
                    match (cell, fields[c].1) {
                        (Cell::Int(v), OGRFieldType::OFTInteger64) => {
                            f.set_field_integer64(c, *v)?
                        }
                        (Cell::Int(v), OGRFieldType::OFTReal) => {
                            f.set_field_double(c, *v as f64)?
                        }
                        (Cell::F32(v), OGRFieldType::OFTReal) => {
                            f.set_field_double(c, f64::from(*v))?
                        }
                        (Cell::F64(v), OGRFieldType::OFTReal) => f.set_field_double(c, *v)?,
                        (Cell::Null, _) => f.set_field_null(c)?,
                        (other, _) => f.set_field_string(c, &cell_text(other))?,
                    }
                }
                f.set_geometry(Geometry::from_wkt(&wkt_polygon(&row.ring))?)?;
                f.create(&layer)?;
            }
        }
        txn.commit()?;
        Ok(())
    };
    atomic::write_atomic_via_path(path, |tmp| write(tmp).map_err(std::io::Error::other)).map_err(
        |e| ExportError::Write {
            path: path.to_path_buf(),
            source: e.source,
        },
    )
}

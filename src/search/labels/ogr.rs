//! The labels' GDAL/OGR side: [`read_labels`] reads Kestrel's labels file or any vector
//! file of points / polygons with a `label` field (reprojected to lon/lat, each labelling
//! the tiles it touches), [`write_gpkg`] exports a GeoPackage QGIS opens.

use std::path::Path;

use gdal::spatial_ref::{AxisMappingStrategy, CoordTransform, SpatialRef};
use gdal::vector::{Geometry, LayerAccess, LayerOptions, OGRFieldType, OGRwkbGeometryType};

use super::{Label, LabelError, LabelSet, TileLabel};
use crate::export::ccw_ring;
use crate::export::csv::wkt_polygon;
use crate::search::record::TileRecord;

fn wgs84() -> Result<SpatialRef, gdal::errors::GdalError> {
    let mut srs = SpatialRef::from_epsg(4326)?;
    srs.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    Ok(srs)
}

/// Export labels as a GeoPackage (layer `labels`, EPSG:4326 polygons, the GeoJSON's
/// properties as fields) through GDAL, atomically ([`crate::atomic::write_atomic_via_path`]):
/// `path` is either the old file or the whole new one.
pub fn write_gpkg(path: &Path, labels: &LabelSet) -> Result<(), LabelError> {
    let fail = |reason: String| LabelError::Write {
        path: path.to_path_buf(),
        reason,
    };
    let write = |tmp: &Path| -> Result<(), gdal::errors::GdalError> {
        let driver = gdal::DriverManager::get_driver_by_name("GPKG")?;
        let mut ds = driver.create_vector_only(tmp)?;
        let srs = wgs84()?;
        let layer = ds.create_layer(LayerOptions {
            name: "labels",
            srs: Some(&srs),
            ty: OGRwkbGeometryType::wkbPolygon,
            options: None,
        })?;
        layer.create_defn_fields(&[
            ("scene_id", OGRFieldType::OFTString),
            ("tile_row", OGRFieldType::OFTInteger),
            ("tile_col", OGRFieldType::OFTInteger),
            ("label", OGRFieldType::OFTString),
            ("time_utc", OGRFieldType::OFTString),
        ])?;
        for l in labels.iter() {
            let defn = layer.defn();
            let mut f = gdal::vector::Feature::new(defn)?;
            f.set_field_string(0, &l.scene_id)?;
            f.set_field_integer(1, i32::try_from(l.row).unwrap_or(i32::MAX))?;
            f.set_field_integer(2, i32::try_from(l.col).unwrap_or(i32::MAX))?;
            f.set_field_string(3, l.label.as_str())?;
            f.set_field_string(4, &l.time_utc)?;
            f.set_geometry(Geometry::from_wkt(&wkt_polygon(&ccw_ring(
                &l.polygon_wgs84,
            )))?)?;
            f.create(&layer)?;
        }
        Ok(())
    };
    crate::atomic::write_atomic_via_path(path, |tmp| write(tmp).map_err(std::io::Error::other))
        .map_err(|e| fail(e.source.to_string()))
}

/// A field of an OGR feature as text (`None` when the layer has no such field or it is
/// null).
fn field_text(f: &gdal::vector::Feature<'_>, name: &str) -> Option<String> {
    let i = f.field_index(name).ok()?;
    f.field_as_string(i).ok().flatten()
}

/// A time field as ISO 8601 UTC text: GDAL's GeoJSON driver turns ISO date-time strings
/// into date-time fields, which it would print in its own format.
fn field_time(f: &gdal::vector::Feature<'_>, name: &str) -> Option<String> {
    let i = f.field_index(name).ok()?;
    match f.field(i).ok().flatten()? {
        gdal::vector::FieldValue::DateTimeValue(t) => {
            Some(t.naive_utc().format("%Y-%m-%dT%H:%M:%SZ").to_string())
        }
        _ => f.field_as_string(i).ok().flatten(),
    }
}

/// Read labels for `tiles` from a vector file (see the module docs). Features with
/// `scene_id`, `tile_row` and `tile_col` label that tile; other features label every tile
/// their geometry touches (a later feature's label replaces an earlier one's on the same
/// tile). Errors: no features, a feature without a label, a scene id not among `tiles`,
/// a tile the index does not have, a geometry that touches none of the tiles.
pub fn read_labels(path: &Path, tiles: &[TileRecord]) -> Result<LabelSet, LabelError> {
    let open_err = |reason: String| LabelError::Open {
        path: path.to_path_buf(),
        reason,
    };
    if !path.is_file() {
        return Err(open_err(if path.exists() {
            "not a regular file".into()
        } else {
            "no such file".into()
        }));
    }
    let ds = gdal::Dataset::open_ex(
        path,
        gdal::DatasetOptions {
            open_flags: gdal::GdalOpenFlags::GDAL_OF_VECTOR,
            ..Default::default()
        },
    )
    .map_err(|_| open_err("not a vector file GDAL can open (GeoJSON, GeoPackage, ...)".into()))?;
    let feat_err = |feature: usize, problem: String| LabelError::Feature {
        path: path.to_path_buf(),
        feature,
        problem,
    };
    let target = wgs84().map_err(|e| open_err(e.to_string()))?;
    let known_scenes: std::collections::BTreeSet<&str> =
        tiles.iter().map(|t| t.scene_id.as_str()).collect();
    let mut tile_geoms: Vec<Option<Geometry>> = Vec::new();
    let mut set = LabelSet::new();
    let mut n = 0usize;
    for mut layer in ds.layers() {
        let transform = match layer.spatial_ref() {
            Some(mut src) => {
                src.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
                Some(CoordTransform::new(&src, &target).map_err(|e| open_err(e.to_string()))?)
            }
            None => None,
        };
        for f in layer.features() {
            n += 1;
            let label = field_text(&f, "label")
                .as_deref()
                .and_then(Label::parse)
                .ok_or_else(|| {
                    feat_err(n, "no `label` (positive, negative or a class name)".into())
                })?;
            let time_utc = field_time(&f, "time_utc")
                .filter(|t| !t.trim().is_empty())
                .unwrap_or_else(crate::search::index::utc_now_iso8601);
            let scene_id = field_text(&f, "scene_id").filter(|s| !s.is_empty());
            if let Some(scene_id) = scene_id {
                let pos = |name: &str| -> Result<u32, LabelError> {
                    field_text(&f, name)
                        .and_then(|v| v.trim().parse::<u32>().ok())
                        .ok_or_else(|| {
                            feat_err(n, format!("has scene_id but no whole-number `{name}`"))
                        })
                };
                let (row, col) = (pos("tile_row")?, pos("tile_col")?);
                if !known_scenes.contains(scene_id.as_str()) {
                    return Err(LabelError::UnknownScene {
                        path: path.to_path_buf(),
                        feature: n,
                        known: known_scenes.iter().copied().collect::<Vec<_>>().join(", "),
                        scene_id,
                    });
                }
                let tile = tiles
                    .iter()
                    .find(|t| t.scene_id == scene_id && t.row == row && t.col == col)
                    .ok_or_else(|| {
                        feat_err(
                            n,
                            format!("scene {scene_id:?} has no tile row {row} col {col}"),
                        )
                    })?;
                set.insert(TileLabel {
                    time_utc,
                    ..TileLabel::now(tile, label)
                });
                continue;
            }
            let Some(geom) = f.geometry() else {
                return Err(feat_err(
                    n,
                    "neither scene_id/tile_row/tile_col nor a geometry".into(),
                ));
            };
            let geom = match &transform {
                Some(ct) => geom
                    .transform(ct)
                    .map_err(|e| feat_err(n, format!("cannot reproject to lon/lat: {e}")))?,
                None => geom.clone(),
            };
            if tile_geoms.is_empty() {
                tile_geoms = tiles
                    .iter()
                    .map(|t| Geometry::from_wkt(&wkt_polygon(&t.polygon_wgs84)).ok())
                    .collect();
            }
            let env = geom.envelope();
            let mut touched = 0;
            for (t, tg) in tiles.iter().zip(&tile_geoms) {
                let (Some(tg), Some(b)) = (tg, t.bounds_wgs84()) else {
                    continue;
                };
                if b[2] < env.MinX || b[0] > env.MaxX || b[3] < env.MinY || b[1] > env.MaxY {
                    continue;
                }
                if tg.intersects(&geom) {
                    touched += 1;
                    set.insert(TileLabel {
                        time_utc: time_utc.clone(),
                        ..TileLabel::now(t, label.clone())
                    });
                }
            }
            if touched == 0 {
                return Err(feat_err(
                    n,
                    "its geometry touches none of the searched tiles".into(),
                ));
            }
        }
    }
    if n == 0 {
        return Err(LabelError::NoFeatures {
            path: path.to_path_buf(),
        });
    }
    Ok(set)
}

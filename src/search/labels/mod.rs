//! Labels as data: positive, negative or named-class labels on tiles, the analyst's
//! ground truth for query by example and the linear probe ([`super::probe`]).
//!
//! A [`LabelSet`] holds at most one label per tile (scene id, row, col), with the tile's
//! lon/lat polygon and the time it was placed, so a labels file stands alone in QGIS.
//!
//! Files:
//! - Kestrel's own labels file is a GeoJSON FeatureCollection of tile polygons with the
//!   properties `scene_id`, `tile_row`, `tile_col`, `label` (`positive`, `negative` or a
//!   class name) and `time_utc` ([`write_geojson`]). The viewer keeps one next to each
//!   index, its name derived from the index file ([`sidecar_path`]), saved after every
//!   change and reloaded when the scene opens.
//! - [`read_labels`] reads that format and, through GDAL/OGR, any vector file (GeoJSON,
//!   GeoPackage, Shapefile, in any CRS) of plain points or polygons with a `label`
//!   field: each labels the tiles it touches.
//! - [`write_gpkg`] exports a GeoPackage (EPSG:4326) through GDAL, which QGIS opens.
//!
//! Every write is atomic; every error names the file. No egui here. The GDAL/OGR side
//! (reading vector files, the GeoPackage) is [`ogr`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::export::ccw_ring;
use crate::search::record::{TileRecord, bbox_of};

mod ogr;
pub use ogr::{read_labels, write_gpkg};

/// A tile's label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Label {
    Positive,
    Negative,
    /// A named class (anything other than `positive` / `negative`).
    Class(String),
}

impl Label {
    /// The name in files: `positive`, `negative` or the class name.
    pub fn as_str(&self) -> &str {
        match self {
            Label::Positive => "positive",
            Label::Negative => "negative",
            Label::Class(c) => c,
        }
    }

    /// `positive` / `negative` (any case, surrounding blanks ignored) or a class name;
    /// `None` for an empty name.
    pub fn parse(s: &str) -> Option<Label> {
        let s = s.trim();
        if s.is_empty() {
            None
        } else if s.eq_ignore_ascii_case("positive") {
            Some(Label::Positive)
        } else if s.eq_ignore_ascii_case("negative") {
            Some(Label::Negative)
        } else {
            Some(Label::Class(s.to_owned()))
        }
    }
}

/// One labelled tile.
#[derive(Debug, Clone, PartialEq)]
pub struct TileLabel {
    pub scene_id: String,
    pub row: u32,
    pub col: u32,
    /// Closed lon/lat ring of the tile.
    pub polygon_wgs84: Vec<[f64; 2]>,
    pub label: Label,
    /// ISO 8601 UTC time the label was placed.
    pub time_utc: String,
}

impl TileLabel {
    /// A label placed now on `tile`.
    pub fn now(tile: &TileRecord, label: Label) -> Self {
        Self {
            scene_id: tile.scene_id.clone(),
            row: tile.row,
            col: tile.col,
            polygon_wgs84: tile.polygon_wgs84.clone(),
            label,
            time_utc: crate::search::index::utc_now_iso8601(),
        }
    }

    fn is_on(&self, tile: &TileRecord) -> bool {
        self.scene_id == tile.scene_id && self.row == tile.row && self.col == tile.col
    }
}

/// How many labels of each kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelCounts {
    pub positive: usize,
    pub negative: usize,
    /// Per class name.
    pub classes: BTreeMap<String, usize>,
}

impl std::fmt::Display for LabelCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} positive, {} negative", self.positive, self.negative)?;
        for (c, n) in &self.classes {
            write!(f, ", {n} {c}")?;
        }
        Ok(())
    }
}

/// At most one label per tile, in the order they were placed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSet {
    labels: Vec<TileLabel>,
}

impl LabelSet {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &TileLabel> {
        self.labels.iter()
    }

    /// Put a label (replacing the tile's previous one, which moves to the end).
    pub fn insert(&mut self, label: TileLabel) {
        self.labels.retain(|l| {
            !(l.scene_id == label.scene_id && l.row == label.row && l.col == label.col)
        });
        self.labels.push(label);
    }

    /// Label `tile` now.
    pub fn set(&mut self, tile: &TileRecord, label: Label) {
        self.insert(TileLabel::now(tile, label));
    }

    /// Remove `tile`'s label; whether it had one.
    pub fn clear(&mut self, tile: &TileRecord) -> bool {
        let n = self.labels.len();
        self.labels.retain(|l| !l.is_on(tile));
        n != self.labels.len()
    }

    /// `tile`'s label.
    pub fn get(&self, tile: &TileRecord) -> Option<&Label> {
        self.labels.iter().find(|l| l.is_on(tile)).map(|l| &l.label)
    }

    pub fn counts(&self) -> LabelCounts {
        let mut c = LabelCounts::default();
        for l in &self.labels {
            match &l.label {
                Label::Positive => c.positive += 1,
                Label::Negative => c.negative += 1,
                Label::Class(name) => *c.classes.entry(name.clone()).or_insert(0) += 1,
            }
        }
        c
    }

    /// `(tile index, label)` of every label whose tile is in `tiles`, in tile order.
    pub fn on_tiles<'a>(&'a self, tiles: &[TileRecord]) -> Vec<(usize, &'a Label)> {
        let by_key: BTreeMap<(&str, u32, u32), &Label> = self
            .labels
            .iter()
            .map(|l| ((l.scene_id.as_str(), l.row, l.col), &l.label))
            .collect();
        tiles
            .iter()
            .enumerate()
            .filter_map(|(i, t)| Some((i, *by_key.get(&(t.scene_id.as_str(), t.row, t.col))?)))
            .collect()
    }

    /// Indices into `tiles` of the positive and of the negative labels (query by example).
    pub fn examples(&self, tiles: &[TileRecord]) -> (Vec<usize>, Vec<usize>) {
        let mut pos = Vec::new();
        let mut neg = Vec::new();
        for (i, l) in self.on_tiles(tiles) {
            match l {
                Label::Positive => pos.push(i),
                Label::Negative => neg.push(i),
                Label::Class(_) => {}
            }
        }
        (pos, neg)
    }
}

/// Why labels could not be read or written. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    #[error("cannot read the labels file {path}: {reason}")]
    Open { path: PathBuf, reason: String },
    #[error("the labels file {path} has no features")]
    NoFeatures { path: PathBuf },
    #[error("the labels file {path}, feature {feature}: {problem}")]
    Feature {
        path: PathBuf,
        /// 1-based, in file order.
        feature: usize,
        problem: String,
    },
    #[error(
        "the labels file {path}, feature {feature}: scene {scene_id:?} is not among the searched scenes ({known})"
    )]
    UnknownScene {
        path: PathBuf,
        feature: usize,
        scene_id: String,
        known: String,
    },
    #[error("cannot write the labels file {path}: {reason}")]
    Write { path: PathBuf, reason: String },
}

/// The labels file kept next to an index: `NAME.parquet` → `NAME.labels.geojson`.
pub fn sidecar_path(index_path: &Path) -> PathBuf {
    let stem = index_path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "index".into());
    index_path.with_file_name(format!("{stem}.labels.geojson"))
}

/// The labels kept next to `index_path` (none when there is no such file), on `tiles`.
pub fn load_sidecar(index_path: &Path, tiles: &[TileRecord]) -> Result<LabelSet, LabelError> {
    let path = sidecar_path(index_path);
    if !path.is_file() {
        return Ok(LabelSet::new());
    }
    match read_labels(&path, tiles) {
        // the viewer empties a sidecar by writing an empty collection
        Err(LabelError::NoFeatures { .. }) => Ok(LabelSet::new()),
        r => r,
    }
}

/// Save `labels` next to `index_path` (atomically).
pub fn save_sidecar(index_path: &Path, labels: &LabelSet) -> Result<PathBuf, LabelError> {
    let path = sidecar_path(index_path);
    write_geojson(&path, labels)?;
    Ok(path)
}

/// Write Kestrel's labels file: a GeoJSON FeatureCollection of tile polygons.
pub fn write_geojson(path: &Path, labels: &LabelSet) -> Result<(), LabelError> {
    let features: Vec<serde_json::Value> = labels
        .iter()
        .map(|l| {
            json!({
                "type": "Feature",
                "bbox": bbox_of(l.polygon_wgs84.iter()),
                "geometry": {"type": "Polygon", "coordinates": [ccw_ring(&l.polygon_wgs84)]},
                "properties": {
                    "scene_id": l.scene_id,
                    "tile_row": l.row,
                    "tile_col": l.col,
                    "label": l.label.as_str(),
                    "time_utc": l.time_utc,
                },
            })
        })
        .collect();
    let doc = json!({"type": "FeatureCollection", "name": "kestrel_labels", "features": features});
    crate::atomic::write_atomic(path, |w| {
        serde_json::to_writer_pretty(&mut *w, &doc)?;
        w.write_all(b"\n")
    })
    .map_err(|e| LabelError::Write {
        path: path.to_path_buf(),
        reason: e.source.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use gdal::vector::LayerAccess as _;

    use super::*;
    use crate::search::record::TileStatus;

    /// A 2×2 grid of 1°×1° tiles from (10, 50).
    fn tiles() -> Vec<TileRecord> {
        let mut out = Vec::new();
        for row in 0..2u32 {
            for col in 0..2u32 {
                let (x, y) = (10.0 + f64::from(col), 51.0 - f64::from(row));
                out.push(TileRecord {
                    scene_id: "S".into(),
                    row,
                    col,
                    px_x0: i64::from(col) * 224,
                    px_y0: i64::from(row) * 224,
                    px_width: 224,
                    px_height: 224,
                    bounds_crs: [0.0; 4],
                    polygon_wgs84: vec![
                        [x, y],
                        [x + 1.0, y],
                        [x + 1.0, y - 1.0],
                        [x, y - 1.0],
                        [x, y],
                    ],
                    centre_lonlat: [x + 0.5, y - 0.5],
                    nodata_fraction: 0.0,
                    cloud_fraction: None,
                    status: TileStatus::Embedded,
                    embedding: Some(vec![1.0]),
                });
            }
        }
        out
    }

    #[test]
    fn label_names() {
        assert_eq!(Label::parse(" Positive "), Some(Label::Positive));
        assert_eq!(Label::parse("negative"), Some(Label::Negative));
        assert_eq!(Label::parse("water"), Some(Label::Class("water".into())));
        assert_eq!(Label::parse("  "), None);
        assert_eq!(
            sidecar_path(Path::new("/x/a.b.parquet")),
            PathBuf::from("/x/a.b.labels.geojson")
        );
    }

    #[test]
    fn one_label_per_tile_and_geojson_round_trip() {
        let t = tiles();
        let mut set = LabelSet::new();
        set.set(&t[0], Label::Positive);
        set.set(&t[3], Label::Class("water".into()));
        set.set(&t[0], Label::Negative);
        assert_eq!(set.len(), 2);
        assert_eq!(set.get(&t[0]), Some(&Label::Negative));
        assert_eq!(set.counts().to_string(), "0 positive, 1 negative, 1 water");
        assert_eq!(set.examples(&t), (vec![], vec![0]));
        let dir = tempfile::tempdir().unwrap();
        let index = dir.path().join("scene.parquet");
        let saved = save_sidecar(&index, &set).unwrap();
        assert_eq!(saved, dir.path().join("scene.labels.geojson"));
        let back = load_sidecar(&index, &t).unwrap();
        // the same labels, polygons and times; order is file order
        let mut a: Vec<_> = set.iter().cloned().collect();
        let mut b: Vec<_> = back.iter().cloned().collect();
        for l in a.iter_mut().chain(b.iter_mut()) {
            l.polygon_wgs84 = ccw_ring(&l.polygon_wgs84);
        }
        a.sort_by_key(|l| (l.row, l.col));
        b.sort_by_key(|l| (l.row, l.col));
        assert_eq!(a, b);
        assert!(set.clear(&t[0]));
        assert!(!set.clear(&t[0]));
        // no sidecar: no labels
        assert!(
            load_sidecar(&dir.path().join("other.parquet"), &t)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn plain_points_and_polygons_label_the_tiles_they_touch() {
        let t = tiles();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("plain.geojson");
        std::fs::write(
            &p,
            r#"{"type":"FeatureCollection","features":[
              {"type":"Feature","properties":{"label":"positive"},
               "geometry":{"type":"Point","coordinates":[11.5,50.5]}},
              {"type":"Feature","properties":{"label":"forest"},
               "geometry":{"type":"Polygon","coordinates":[[[10.2,50.8],[10.4,50.8],[10.4,49.2],[10.2,49.2],[10.2,50.8]]]}}
            ]}"#,
        )
        .unwrap();
        let set = read_labels(&p, &t).unwrap();
        let got: Vec<(u32, u32, String)> = set
            .iter()
            .map(|l| (l.row, l.col, l.label.as_str().to_owned()))
            .collect();
        // the point is in r0c1; the strip crosses r0c0 and r1c0
        assert_eq!(
            got,
            vec![
                (0, 1, "positive".into()),
                (0, 0, "forest".into()),
                (1, 0, "forest".into())
            ]
        );
    }

    #[test]
    fn bad_files_name_the_file_and_problem() {
        let t = tiles();
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, body: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, body).unwrap();
            p
        };
        let err = |p: &Path| read_labels(p, &t).unwrap_err().to_string();
        let empty = write(
            "empty.geojson",
            r#"{"type":"FeatureCollection","features":[]}"#,
        );
        assert_eq!(
            err(&empty),
            format!("the labels file {} has no features", empty.display())
        );
        let unknown = write(
            "unknown.geojson",
            r#"{"type":"FeatureCollection","features":[{"type":"Feature","geometry":null,
               "properties":{"scene_id":"T","tile_row":0,"tile_col":0,"label":"positive"}}]}"#,
        );
        assert!(err(&unknown).contains("scene \"T\" is not among the searched scenes (S)"));
        assert!(err(&unknown).contains(&unknown.display().to_string()));
        let far = write(
            "far.geojson",
            r#"{"type":"FeatureCollection","features":[{"type":"Feature",
               "properties":{"label":"negative"},"geometry":{"type":"Point","coordinates":[0,0]}}]}"#,
        );
        assert!(err(&far).contains("feature 1: its geometry touches none"));
        let nolabel = write(
            "nolabel.geojson",
            r#"{"type":"FeatureCollection","features":[{"type":"Feature",
               "properties":{"name":"x"},"geometry":{"type":"Point","coordinates":[10.5,50.5]}}]}"#,
        );
        assert!(err(&nolabel).contains("feature 1: no `label`"));
        let junk = write("junk.geojson", "not json");
        assert!(err(&junk).starts_with(&format!("cannot read the labels file {}", junk.display())));
    }

    #[test]
    fn gpkg_export_reads_back_through_gdal() {
        let t = tiles();
        let mut set = LabelSet::new();
        set.set(&t[1], Label::Positive);
        set.set(&t[2], Label::Negative);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("labels.gpkg");
        write_gpkg(&p, &set).unwrap();
        // no temporary left behind
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let back = read_labels(&p, &t).unwrap();
        assert_eq!(back.get(&t[1]), Some(&Label::Positive));
        assert_eq!(back.get(&t[2]), Some(&Label::Negative));
        assert_eq!(back.len(), 2);
        let ds = gdal::Dataset::open(&p).unwrap();
        let layer = ds.layer_by_name("labels").unwrap();
        assert_eq!(layer.feature_count(), 2);
        let srs = layer.spatial_ref().unwrap();
        assert_eq!(srs.auth_code().unwrap(), 4326);
    }
}

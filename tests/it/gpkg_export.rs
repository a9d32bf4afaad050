//! GeoPackage exports through the binary: `kestrel search --gpkg` and `classify-scene --gpkg`
//! write one `results` layer of EPSG:4326 tile polygons whose fields hold what the CSV export
//! of the same run holds (read back with GDAL/OGR, value by value), and whose geometries are
//! the CSV's WKT polygons.

use std::path::Path;

use gdal::vector::LayerAccess as _;

use crate::common::{fixture, kestrel, ok, repo};

/// The CSV's rows as (header, records).
fn csv_rows(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(path).unwrap();
    let head = r.headers().unwrap().iter().map(String::from).collect();
    let rows = r
        .records()
        .map(|x| x.unwrap().iter().map(String::from).collect())
        .collect();
    (head, rows)
}

/// Every field of every feature equals the CSV's cell (numbers compared as numbers), and
/// the geometry's envelope that of the CSV's WKT.
fn same_as_csv(gpkg: &Path, csv: &Path) -> usize {
    let (head, rows) = csv_rows(csv);
    let ds = gdal::Dataset::open(gpkg).unwrap();
    let mut layer = ds.layer_by_name("results").unwrap();
    assert_eq!(
        layer.spatial_ref().unwrap().auth_code().unwrap(),
        4326,
        "EPSG:4326"
    );
    let feats: Vec<_> = layer.features().collect();
    assert_eq!(feats.len(), rows.len());
    for (f, row) in feats.iter().zip(&rows) {
        for (c, name) in head.iter().enumerate() {
            if name == "wkt" {
                let want = gdal::vector::Geometry::from_wkt(&row[c])
                    .unwrap()
                    .envelope();
                let got = f.geometry().unwrap().envelope();
                for (a, b) in [
                    (got.MinX, want.MinX),
                    (got.MaxX, want.MaxX),
                    (got.MinY, want.MinY),
                    (got.MaxY, want.MaxY),
                ] {
                    assert!((a - b).abs() < 1e-12, "{name}: {a} vs {b}");
                }
                continue;
            }
            let i = f.field_index(name).unwrap();
            let got = f.field_as_string(i).unwrap().unwrap_or_default();
            let want = &row[c];
            match (got.parse::<f64>(), want.parse::<f64>()) {
                (Ok(a), Ok(b)) => assert!(
                    (a - b).abs() <= 1e-6 * b.abs().max(1.0),
                    "{name}: {got} vs {want}"
                ),
                _ => assert_eq!(&got, want, "{name}"),
            }
        }
    }
    feats.len()
}

#[test]
fn search_and_classify_export_geopackages_that_match_the_csv() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let demo = repo()
        .join("assets/demo/T33UUU_20170216_L1C")
        .display()
        .to_string();
    let model = fixture("msclip_tiny/msclip_random.safetensors")
        .display()
        .to_string();
    let p = |n: &str| tmp.path().join(n).display().to_string();
    ok(&kestrel(
        &cache,
        &[
            "search",
            "--model",
            &model,
            "--query",
            "a river between fields",
            "--top",
            "21",
            "--csv",
            &p("hits.csv"),
            "--gpkg",
            &p("hits.gpkg"),
            &demo,
        ],
    ));
    assert_eq!(
        same_as_csv(Path::new(&p("hits.gpkg")), Path::new(&p("hits.csv"))),
        21
    );
    ok(&kestrel(
        &cache,
        &[
            "classify-scene",
            "--model",
            &model,
            "--classes",
            "water",
            "forest",
            "--csv",
            &p("classes.csv"),
            "--gpkg",
            &p("classes.gpkg"),
            &demo,
        ],
    ));
    assert!(same_as_csv(Path::new(&p("classes.gpkg")), Path::new(&p("classes.csv"))) > 0);
    // nothing temporary is left beside the files
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".kestrel-tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

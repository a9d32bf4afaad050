//! Ranked-result and classification exports: CSV parsed back with the `csv` crate and
//! GeoJSON with serde_json, checked row by row; unwritable destinations give errors
//! naming the path.

use std::fs;
use std::path::Path;

use kestrel::export::{
    self, ClassifiedTile, ExportContext, ExportError, RankedTile, csv::wkt_polygon,
};
use kestrel::search::record::{INDEX_FORMAT_VERSION, IndexMeta, TileRecord, TileStatus};

const QUERY: &str = "solar farm, \"large\"\nnear a river";

fn meta(scene: &str, epsg: u32) -> IndexMeta {
    IndexMeta {
        format_version: INDEX_FORMAT_VERSION,
        kestrel_version: "0.1.0".into(),
        scene_path: format!("/data/{scene}, copy/MTD_MSIL2A.xml"),
        scene_identity: scene.into(),
        scene_crs_wkt: String::new(),
        scene_epsg: Some(epsg),
        model_name: "Llama3-MS-CLIP-Base".into(),
        checkpoint_sha256: "0123456789abcdef".repeat(4),
        preprocess_version: 1,
        bands: vec!["B02".into(), "B03".into(), "B8A".into()],
        harmonisation: format!("{scene}: BOA offset -1000"),
        tile_size: 224,
        stride: 112,
        embed_dim: 4,
        max_nodata_fraction: 0.5,
        max_cloud_fraction: None,
        created_utc: "2026-01-01T00:00:00Z".into(),
        product_id: None,
        mgrs_tile: None,
        sensing_time: None,
        precision: Some("bf16".into()),
    }
}

/// Tiles with irrational-looking coordinates; odd tiles have a clockwise ring, which the
/// exports must turn counter-clockwise.
fn tiles(scene: &str, n: u32) -> Vec<TileRecord> {
    (0..n)
        .map(|i| {
            let lon0 = 14.123456789012345 + f64::from(i) * 0.031234567890123;
            let lat0 = 46.987654321098765 - f64::from(i % 3) * 0.020123456789012;
            let ccw = vec![
                [lon0, lat0],
                [lon0 + 0.03, lat0 + 0.0001],
                [lon0 + 0.0302, lat0 + 0.0201],
                [lon0 - 0.0001, lat0 + 0.02],
                [lon0, lat0],
            ];
            let ring = if i % 2 == 1 {
                ccw.iter().rev().copied().collect()
            } else {
                ccw
            };
            TileRecord {
                scene_id: scene.into(),
                row: i / 4,
                col: i % 4,
                px_x0: i64::from(i % 4) * 112 - 112,
                px_y0: i64::from(i / 4) * 112,
                px_width: 224,
                px_height: 224,
                bounds_crs: [
                    399960.0 + f64::from(i) * 1120.0,
                    5190220.0,
                    402200.0 + f64::from(i) * 1120.0,
                    5192460.0,
                ],
                polygon_wgs84: ring,
                centre_lonlat: [lon0 + 0.015, lat0 + 0.01],
                nodata_fraction: i as f32 / 7.0,
                cloud_fraction: (i % 3 != 0).then(|| 1.0 / (i as f32 + 3.0)),
                status: TileStatus::Embedded,
                embedding: Some(vec![0.5; 4]),
            }
        })
        .collect()
}

/// Equal, or 1 ulp apart: serde_json's default float parser is not always correctly
/// rounded (the written text is checked exactly where it matters).
fn same_f64(a: f64, b: f64) -> bool {
    a == b || (a.signum() == b.signum() && a.to_bits().abs_diff(b.to_bits()) <= 1)
}

fn signed_area(ring: &[[f64; 2]]) -> f64 {
    ring.windows(2)
        .map(|w| w[0][0] * w[1][1] - w[1][0] * w[0][1])
        .sum::<f64>()
        / 2.0
}

fn ccw(ring: &[[f64; 2]]) -> Vec<[f64; 2]> {
    if signed_area(ring) < 0.0 {
        ring.iter().rev().copied().collect()
    } else {
        ring.to_vec()
    }
}

fn parse_wkt_polygon(wkt: &str) -> Vec<[f64; 2]> {
    let inner = wkt
        .strip_prefix("POLYGON ((")
        .and_then(|s| s.strip_suffix("))"))
        .unwrap_or_else(|| panic!("not a WKT polygon: {wkt}"));
    inner
        .split(", ")
        .map(|p| {
            let v: Vec<f64> = p.split(' ').map(|x| x.parse().unwrap()).collect();
            assert_eq!(v.len(), 2, "{p}");
            [v[0], v[1]]
        })
        .collect()
}

fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header = r.headers().unwrap().iter().map(String::from).collect();
    let rows = r
        .records()
        .map(|rec| rec.unwrap().iter().map(String::from).collect())
        .collect();
    (header, rows)
}

const TILE_COLS: [&str; 21] = [
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

/// Check the tile columns of a CSV row (as a name -> text lookup) against the tile.
fn check_tile_fields(get: &dyn Fn(&str) -> String, t: &TileRecord, m: &IndexMeta) {
    assert_eq!(get("scene_id"), t.scene_id);
    assert_eq!(get("tile_row").parse::<u32>().unwrap(), t.row);
    assert_eq!(get("tile_col").parse::<u32>().unwrap(), t.col);
    assert_eq!(get("px_x0").parse::<i64>().unwrap(), t.px_x0);
    assert_eq!(get("px_y0").parse::<i64>().unwrap(), t.px_y0);
    assert_eq!(get("px_width").parse::<u32>().unwrap(), t.px_width);
    assert_eq!(get("px_height").parse::<u32>().unwrap(), t.px_height);
    assert_eq!(get("crs_epsg").parse::<u32>().ok(), m.scene_epsg);
    for (k, name) in ["crs_minx", "crs_miny", "crs_maxx", "crs_maxy"]
        .iter()
        .enumerate()
    {
        assert_eq!(get(name).parse::<f64>().unwrap(), t.bounds_crs[k], "{name}");
    }
    let lons = t.polygon_wgs84.iter().map(|p| p[0]);
    let lats = t.polygon_wgs84.iter().map(|p| p[1]);
    assert_eq!(
        get("wgs84_min_lon").parse::<f64>().unwrap(),
        lons.clone().fold(f64::INFINITY, f64::min)
    );
    assert_eq!(
        get("wgs84_max_lon").parse::<f64>().unwrap(),
        lons.fold(f64::NEG_INFINITY, f64::max)
    );
    assert_eq!(
        get("wgs84_min_lat").parse::<f64>().unwrap(),
        lats.clone().fold(f64::INFINITY, f64::min)
    );
    assert_eq!(
        get("wgs84_max_lat").parse::<f64>().unwrap(),
        lats.fold(f64::NEG_INFINITY, f64::max)
    );
    assert_eq!(
        get("centre_lon").parse::<f64>().unwrap(),
        t.centre_lonlat[0]
    );
    assert_eq!(
        get("centre_lat").parse::<f64>().unwrap(),
        t.centre_lonlat[1]
    );
    assert_eq!(
        get("nodata_fraction").parse::<f32>().unwrap(),
        t.nodata_fraction
    );
    assert_eq!(get("cloud_fraction").parse::<f32>().ok(), t.cloud_fraction);
    assert_eq!(get("status"), "embedded");
    assert_eq!(get("harmonisation"), m.harmonisation);
    assert_eq!(get("precision"), "bf16");
    assert_eq!(get("scene_path"), m.scene_path);
    assert_eq!(get("model_name"), m.model_name);
    assert_eq!(get("checkpoint_sha256"), m.checkpoint_sha256);
    assert_eq!(get("bands"), "B02,B03,B8A");
    let ring = parse_wkt_polygon(&get("wkt"));
    assert_eq!(ring, ccw(&t.polygon_wgs84));
    assert!(signed_area(&ring) > 0.0);
}

fn hits<'a>(tiles: &'a [TileRecord]) -> Vec<RankedTile<'a>> {
    // Best first: reverse tile order, scores with full f32 mantissas.
    tiles
        .iter()
        .rev()
        .enumerate()
        .map(|(i, t)| RankedTile {
            rank: i + 1,
            score: 0.3141592 - i as f32 * 0.0123457,
            tile: t,
        })
        .collect()
}

#[test]
fn ranked_csv_round_trips_row_by_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hits.csv");
    let m = meta("S2B_T33TVM", 32633);
    let ts = tiles(&m.scene_identity, 9);
    let ctx = ExportContext::from_metas([&m]).with_query(QUERY, "+ r0c1, r1c2; - r2c0");
    let hs = hits(&ts);
    export::write_ranked_csv(&path, &ctx, &hs).unwrap();

    let (header, rows) = read_csv(&path);
    let mut expect: Vec<&str> = vec!["rank", "score"];
    expect.extend(TILE_COLS);
    expect.extend([
        "query_text",
        "query_examples",
        "model_name",
        "checkpoint_sha256",
        "bands",
        "harmonisation",
        "precision",
        "scene_path",
        "wkt",
    ]);
    assert_eq!(header, expect);
    assert_eq!(rows.len(), hs.len());
    for (row, hit) in rows.iter().zip(&hs) {
        let get = |name: &str| row[header.iter().position(|h| h == name).unwrap()].clone();
        assert_eq!(get("rank").parse::<usize>().unwrap(), hit.rank);
        assert_eq!(get("score").parse::<f32>().unwrap(), hit.score);
        assert_eq!(get("query_text"), QUERY);
        assert_eq!(get("query_examples"), "+ r0c1, r1c2; - r2c0");
        check_tile_fields(&get, hit.tile, &m);
    }
    // The polygon text is what QGIS parses; coordinates keep full precision.
    assert!(
        rows[0].last().unwrap().starts_with("POLYGON ((14."),
        "{}",
        rows[0].last().unwrap()
    );
}

#[test]
fn ranked_geojson_matches_the_csv_columns() {
    let dir = tempfile::tempdir().unwrap();
    let csv_path = dir.path().join("hits.csv");
    let json_path = dir.path().join("hits.geojson");
    let m = meta("S2B_T33TVM", 32633);
    let ts = tiles(&m.scene_identity, 7);
    let ctx = ExportContext::from_metas([&m]).with_query(QUERY, "");
    let hs = hits(&ts);
    export::write_ranked_csv(&csv_path, &ctx, &hs).unwrap();
    export::write_ranked_geojson(&json_path, &ctx, &hs).unwrap();

    let json_text = fs::read_to_string(&json_path).unwrap();
    let fc: serde_json::Value = serde_json::from_str(&json_text).unwrap();
    assert_eq!(fc["type"], "FeatureCollection");
    assert_eq!(fc["query_text"], QUERY);
    assert_eq!(fc["model_name"], m.model_name);
    assert_eq!(fc["checkpoint_sha256"], m.checkpoint_sha256);
    assert_eq!(fc["bands"], serde_json::json!(["B02", "B03", "B8A"]));
    assert_eq!(fc["scenes"][0]["scene_path"], m.scene_path);
    assert_eq!(fc["scenes"][0]["crs_epsg"], 32633);
    let all: Vec<[f64; 2]> = ts.iter().flat_map(|t| t.polygon_wgs84.clone()).collect();
    let bbox: Vec<f64> = fc["bbox"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert!(same_f64(
        bbox[0],
        all.iter().map(|p| p[0]).fold(f64::INFINITY, f64::min)
    ));
    assert!(same_f64(
        bbox[3],
        all.iter().map(|p| p[1]).fold(f64::NEG_INFINITY, f64::max)
    ));

    let (header, rows) = read_csv(&csv_path);
    let features = fc["features"].as_array().unwrap();
    assert_eq!(features.len(), hs.len());
    for ((f, hit), row) in features.iter().zip(&hs).zip(&rows) {
        assert_eq!(f["type"], "Feature");
        assert_eq!(f["geometry"]["type"], "Polygon");
        let rings = f["geometry"]["coordinates"].as_array().unwrap();
        assert_eq!(rings.len(), 1);
        let ring: Vec<[f64; 2]> = rings[0]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| [p[0].as_f64().unwrap(), p[1].as_f64().unwrap()])
            .collect();
        let expect = ccw(&hit.tile.polygon_wgs84);
        assert_eq!(ring.len(), expect.len());
        for (p, q) in ring.iter().zip(&expect) {
            assert!(
                same_f64(p[0], q[0]) && same_f64(p[1], q[1]),
                "{p:?} vs {q:?}"
            );
        }
        // The written text is the exact (shortest round-trip) value of every coordinate.
        let text: Vec<String> = expect
            .iter()
            .map(|p| format!("[{},{}]", p[0], p[1]))
            .collect();
        let text = format!("\"coordinates\":[[{}]]", text.join(","));
        assert!(json_text.contains(&text), "{text} not in the file");
        assert!(signed_area(&ring) > 0.0, "exterior ring counter-clockwise");

        let props = f["properties"].as_object().unwrap();
        // Same names as the CSV, minus the geometry text.
        let names: Vec<&str> = props.keys().map(String::as_str).collect();
        let mut expect: Vec<&str> = header
            .iter()
            .map(String::as_str)
            .filter(|h| *h != "wkt")
            .collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        expect.sort_unstable();
        assert_eq!(sorted, expect);
        assert_eq!(props["rank"], hit.rank);
        assert_eq!(props["score"].as_f64().unwrap() as f32, hit.score);
        assert_eq!(props["tile_row"], hit.tile.row);
        assert!(same_f64(
            props["crs_minx"].as_f64().unwrap(),
            hit.tile.bounds_crs[0]
        ));
        assert!(same_f64(
            props["centre_lat"].as_f64().unwrap(),
            hit.tile.centre_lonlat[1]
        ));
        assert_eq!(
            props["cloud_fraction"].as_f64().map(|v| v as f32),
            hit.tile.cloud_fraction
        );
        // Every property equals the CSV cell of the same name.
        for (name, value) in props {
            let cell = &row[header.iter().position(|h| h == name).unwrap()];
            let same = match value {
                serde_json::Value::Null => cell.is_empty(),
                serde_json::Value::String(s) => s == cell,
                serde_json::Value::Number(n) => {
                    same_f64(n.as_f64().unwrap(), cell.parse::<f64>().unwrap())
                        || n.as_f64().unwrap() as f32 == cell.parse::<f32>().unwrap()
                }
                other => panic!("unexpected {other}"),
            };
            assert!(same, "{name}: json {value} vs csv {cell:?}");
        }
    }
}

#[test]
fn classification_exports_one_column_per_class() {
    let dir = tempfile::tempdir().unwrap();
    let m = meta("S2A_T32TQM", 32632);
    let ts = tiles(&m.scene_identity, 5);
    let classes: Vec<String> = ["Forest", "Sea, lake \"open\"", "forest", "Annual crop"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let rows: Vec<ClassifiedTile> = ts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut probs: Vec<f32> = (0..4).map(|k| ((i + k) % 4) as f32 + 0.25).collect();
            let sum: f32 = probs.iter().sum();
            probs.iter_mut().for_each(|p| *p /= sum);
            let top = (0..4)
                .max_by(|&a, &b| probs[a].total_cmp(&probs[b]))
                .unwrap();
            ClassifiedTile {
                tile: t,
                probs,
                top,
            }
        })
        .collect();
    let ctx = ExportContext::from_metas([&m]).with_query("templates: msclip (50)", "");
    let csv_path = dir.path().join("classes.csv");
    let json_path = dir.path().join("classes.json");
    export::write_classes_csv(&csv_path, &ctx, &classes, &rows).unwrap();
    export::write_classes_geojson(&json_path, &ctx, &classes, &rows).unwrap();

    let (header, lines) = read_csv(&csv_path);
    let p_cols = ["p_forest", "p_sea_lake_open", "p_forest_2", "p_annual_crop"];
    let mut expect: Vec<&str> = TILE_COLS.to_vec();
    expect.extend(["top_class", "top_probability"]);
    expect.extend(p_cols);
    expect.extend([
        "query_text",
        "query_examples",
        "classes",
        "model_name",
        "checkpoint_sha256",
        "bands",
        "harmonisation",
        "precision",
        "scene_path",
        "wkt",
    ]);
    assert_eq!(header, expect);
    let fc: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&json_path).unwrap()).unwrap();
    assert_eq!(fc["classes"], serde_json::json!(classes));
    let features = fc["features"].as_array().unwrap();
    assert_eq!((lines.len(), features.len()), (rows.len(), rows.len()));
    for ((line, f), r) in lines.iter().zip(features).zip(&rows) {
        let get = |name: &str| line[header.iter().position(|h| h == name).unwrap()].clone();
        check_tile_fields(&get, r.tile, &m);
        assert_eq!(get("top_class"), classes[r.top]);
        assert_eq!(
            get("top_probability").parse::<f32>().unwrap(),
            r.probs[r.top]
        );
        let props = &f["properties"];
        assert_eq!(props["top_class"], classes[r.top].as_str());
        for (k, col) in p_cols.iter().enumerate() {
            assert_eq!(get(col).parse::<f32>().unwrap(), r.probs[k], "{col}");
            assert_eq!(props[*col].as_f64().unwrap() as f32, r.probs[k], "{col}");
        }
        let listed: Vec<String> = serde_json::from_str(&get("classes")).unwrap();
        assert_eq!(listed, classes);
        assert_eq!(get("query_text"), "templates: msclip (50)");
    }
}

#[test]
fn multi_scene_rows_carry_their_own_scene() {
    let dir = tempfile::tempdir().unwrap();
    let (ma, mb) = (meta("A", 32633), meta("B", 32634));
    let (ta, tb) = (tiles("A", 2), tiles("B", 2));
    let ctx = ExportContext::from_metas([&ma, &mb]).with_query("quarry", "");
    let hs = vec![
        RankedTile {
            rank: 1,
            score: 0.9,
            tile: &tb[1],
        },
        RankedTile {
            rank: 2,
            score: 0.8,
            tile: &ta[0],
        },
    ];
    let path = dir.path().join("multi.csv");
    export::write_ranked_csv(&path, &ctx, &hs).unwrap();
    let (header, rows) = read_csv(&path);
    for (row, (hit, m)) in rows.iter().zip([(&hs[0], &mb), (&hs[1], &ma)]) {
        let get = |name: &str| row[header.iter().position(|h| h == name).unwrap()].clone();
        check_tile_fields(&get, hit.tile, m);
    }

    // A tile from a scene the context does not list is refused, naming the file.
    let tc = tiles("C", 1);
    let bad = [RankedTile {
        rank: 1,
        score: 0.5,
        tile: &tc[0],
    }];
    let e = export::write_ranked_csv(&path, &ctx, &bad).unwrap_err();
    assert!(matches!(e, ExportError::Invalid { .. }), "{e}");
    assert!(
        e.to_string().contains("multi.csv") && e.to_string().contains("\"C\""),
        "{e}"
    );
}

#[test]
fn unwritable_destinations_are_clear_errors_and_keep_old_files() {
    let dir = tempfile::tempdir().unwrap();
    let m = meta("S", 32633);
    let ts = tiles("S", 3);
    let ctx = ExportContext::from_metas([&m]).with_query("q", "");
    let hs = hits(&ts);

    let missing = dir.path().join("no-such-folder").join("out.csv");
    let e = export::write_ranked_csv(&missing, &ctx, &hs).unwrap_err();
    assert!(matches!(e, ExportError::NoFolder { .. }), "{e}");
    assert!(
        e.to_string().contains(&missing.display().to_string()),
        "{e}"
    );
    let e =
        export::write_ranked_geojson(&missing.with_extension("geojson"), &ctx, &hs).unwrap_err();
    assert!(matches!(e, ExportError::NoFolder { .. }), "{e}");

    // The destination is a folder.
    let folder = dir.path().join("a-folder");
    fs::create_dir(&folder).unwrap();
    let e = export::write_ranked_csv(&folder, &ctx, &hs).unwrap_err();
    assert!(matches!(e, ExportError::Write { .. }), "{e}");
    assert!(e.to_string().contains("a-folder"), "{e}");

    // Wrong number of probabilities: refused before touching the existing file.
    let out = dir.path().join("classes.csv");
    fs::write(&out, "previous export").unwrap();
    let classes = vec!["a".to_string(), "b".to_string()];
    let rows = [ClassifiedTile {
        tile: &ts[0],
        probs: vec![1.0],
        top: 0,
    }];
    let e = export::write_classes_csv(&out, &ctx, &classes, &rows).unwrap_err();
    assert!(
        e.to_string().contains("1 probabilities for 2 classes"),
        "{e}"
    );
    let rows = [ClassifiedTile {
        tile: &ts[0],
        probs: vec![0.5, 0.5],
        top: 2,
    }];
    let e = export::write_classes_geojson(&out, &ctx, &classes, &rows).unwrap_err();
    assert!(e.to_string().contains("top class 2"), "{e}");
    assert_eq!(fs::read_to_string(&out).unwrap(), "previous export");

    // A read-only folder (not enforceable for root, which can write anyway).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let ro = dir.path().join("read-only");
        fs::create_dir(&ro).unwrap();
        fs::set_permissions(&ro, fs::Permissions::from_mode(0o555)).unwrap();
        if tempfile::tempfile_in(&ro).is_ok() {
            // Root writes through 0555; /proc refuses new files to everyone.
            eprintln!(
                "read-only folder check: this user can write to a 0555 folder (root), using /proc"
            );
            let p = Path::new("/proc/kestrel-export-test.csv");
            if p.parent().is_some_and(Path::is_dir) {
                let e = export::write_ranked_csv(p, &ctx, &hs).unwrap_err();
                assert!(matches!(e, ExportError::Write { .. }), "{e}");
                assert!(
                    e.to_string().contains("/proc/kestrel-export-test.csv"),
                    "{e}"
                );
            }
        } else {
            let p = ro.join("hits.csv");
            let e = export::write_ranked_csv(&p, &ctx, &hs).unwrap_err();
            assert!(matches!(e, ExportError::Write { .. }), "{e}");
            assert!(e.to_string().contains(&p.display().to_string()), "{e}");
            assert!(!p.exists());
        }
        fs::set_permissions(&ro, fs::Permissions::from_mode(0o755)).unwrap();
    }
}

#[test]
fn wkt_is_lon_lat_with_full_precision() {
    let ring = [
        [-0.000001234, 51.123456789012],
        [1e-9, 51.2],
        [0.5, 51.2],
        [-0.000001234, 51.123456789012],
    ];
    let wkt = wkt_polygon(&ring);
    assert_eq!(
        wkt,
        "POLYGON ((-0.000001234 51.123456789012, 0.000000001 51.2, 0.5 51.2, -0.000001234 51.123456789012))"
    );
    assert_eq!(parse_wkt_polygon(&wkt), ring.to_vec());
}

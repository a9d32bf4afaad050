//! Interoperability: a tile index written by Kestrel is read by pyarrow, DuckDB (and,
//! where installed, DuckDB's spatial extension and GeoPandas) with the right geometry,
//! CRS and `list<float>` embeddings.
//!
//! Runs `$KESTREL_PYTHON` (default `python3`); skips with a message when
//! `import duckdb, pyarrow` fails there. `./packaging/test.sh` (what CI runs) points it at
//! the venv `packaging/setup-python.sh` makes (`.dev/venv`, DuckDB 2.0.1, pyarrow, GeoPandas).

use std::process::Command;

use kestrel::search::geoparquet::write_index;
use kestrel::search::record::{INDEX_FORMAT_VERSION, IndexMeta, TileRecord, TileStatus};

const DIM: usize = 16;

const CHECK_PY: &str = r#"
import json, struct, sys
path = sys.argv[1]
# Floats travel as bit patterns so the comparison in Rust is exact.
f32bits = lambda x: None if x is None else struct.unpack("<I", struct.pack("<f", x))[0]
f64bits = lambda x: struct.unpack("<Q", struct.pack("<d", x))[0]
out = {}
import pyarrow.parquet as pq
t = pq.read_table(path)
out["arrow_embedding_type"] = str(t.schema.field("embedding").type)
out["arrow_geometry_type"] = str(t.schema.field("geometry").type)
out["arrow_rows"] = t.num_rows
out["arrow_geo"] = json.loads(pq.read_schema(path).metadata[b"geo"])

import duckdb
con = duckdb.connect()
q = ("SELECT tile_row, tile_col, status, typeof(embedding), embedding, cloud_fraction "
     "FROM read_parquet(?) ORDER BY tile_row, tile_col")
out["duckdb_rows"] = [[r[0], r[1], r[2], r[3], None if r[4] is None else [f32bits(x) for x in r[4]],
                       f32bits(r[5])] for r in con.execute(q, [path]).fetchall()]

def load_spatial():
    try:
        con.execute("LOAD spatial")
        return "LOAD spatial"
    except Exception:
        import glob, os, duckdb_extension_spatial
        ext = glob.glob(os.path.join(os.path.dirname(duckdb_extension_spatial.__file__),
                                     "extensions", "*", "spatial.duckdb_extension"))[0]
        con.execute(f"LOAD '{ext}'")
        return ext
try:
    out["duckdb_spatial"] = load_spatial()
    kind = con.execute("SELECT typeof(geometry) FROM read_parquet(?) LIMIT 1", [path]).fetchone()[0]
    geom = "geometry" if kind.startswith("GEOMETRY") else "ST_GeomFromWKB(geometry)"
    out["duckdb_geometry_type"] = kind
    out["duckdb_wkt"] = [r[0] for r in con.execute(
        f"SELECT ST_AsText({geom}) FROM read_parquet(?) ORDER BY tile_row, tile_col", [path]).fetchall()]
except Exception as e:
    out["duckdb_spatial_skipped"] = repr(e)

try:
    import geopandas as gpd
    g = gpd.read_parquet(path).sort_values(["tile_row", "tile_col"])
    out["gpd_crs"] = g.crs.to_string()
    out["gpd_crs_is_lonlat"] = g.crs.equals("OGC:CRS84")
    out["gpd_rings"] = [[[f64bits(x), f64bits(y)] for x, y in p.exterior.coords] for p in g.geometry]
    out["gpd_embedding_lens"] = [None if e is None else len(e) for e in g["embedding"]]
except ImportError as e:
    out["gpd_skipped"] = repr(e)
print(json.dumps(out))
"#;

fn python() -> String {
    std::env::var("KESTREL_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn tiles() -> Vec<TileRecord> {
    (0..6u32)
        .map(|i| {
            let (row, col) = (i / 3, i % 3);
            let lon0 = 12.25 + f64::from(col) * 0.0312345678901;
            let lat0 = 45.75 - f64::from(row) * 0.0201234567891;
            let ring = vec![
                [lon0, lat0],
                [lon0, lat0 - 0.02],
                [lon0 + 0.03, lat0 - 0.02],
                [lon0 + 0.03, lat0],
                [lon0, lat0],
            ];
            let status = if i == 4 {
                TileStatus::SkippedCloud
            } else {
                TileStatus::Embedded
            };
            TileRecord {
                scene_id: "T33TUL".into(),
                row,
                col,
                px_x0: i64::from(col) * 224,
                px_y0: i64::from(row) * 224,
                px_width: 224,
                px_height: 224,
                bounds_crs: [
                    300000.0 + f64::from(col) * 2240.0,
                    5000000.0 - f64::from(row + 1) * 2240.0,
                    302240.0 + f64::from(col) * 2240.0,
                    5000000.0 - f64::from(row) * 2240.0,
                ],
                centre_lonlat: [lon0 + 0.015, lat0 - 0.01],
                polygon_wgs84: ring,
                nodata_fraction: 0.0,
                cloud_fraction: (i != 2).then_some(i as f32 * 0.1),
                status,
                embedding: (status == TileStatus::Embedded).then(|| {
                    (0..DIM)
                        .map(|k| ((i as f32 + 1.0) * 0.1234567 + k as f32 * 0.01).sin())
                        .collect()
                }),
            }
        })
        .collect()
}

fn meta() -> IndexMeta {
    IndexMeta {
        format_version: INDEX_FORMAT_VERSION,
        kestrel_version: "0.1.0".into(),
        scene_path: "/data/T33TUL.tif".into(),
        scene_identity: "T33TUL".into(),
        scene_crs_wkt: String::new(),
        scene_epsg: Some(32633),
        model_name: "tiny".into(),
        checkpoint_sha256: "00".repeat(32),
        preprocess_version: 1,
        bands: vec!["B02".into()],
        harmonisation: "none".into(),
        tile_size: 224,
        stride: 224,
        embed_dim: DIM as u32,
        max_nodata_fraction: 1.0,
        max_cloud_fraction: None,
        created_utc: "2026-01-01T00:00:00Z".into(),
    }
}

fn parse_wkt_polygon(wkt: &str) -> Vec<[f64; 2]> {
    let inner = wkt
        .trim()
        .strip_prefix("POLYGON")
        .unwrap()
        .trim()
        .trim_start_matches("((")
        .trim_end_matches("))");
    inner
        .split(',')
        .map(|p| {
            let v: Vec<f64> = p.split_whitespace().map(|x| x.parse().unwrap()).collect();
            [v[0], v[1]]
        })
        .collect()
}

#[test]
fn duckdb_pyarrow_and_geopandas_read_an_index() {
    let py = python();
    let probe = Command::new(&py)
        .args(["-c", "import duckdb, pyarrow"])
        .output();
    if !matches!(&probe, Ok(o) if o.status.success()) {
        eprintln!(
            "SKIP: `{py} -c 'import duckdb, pyarrow'` failed; set KESTREL_PYTHON to a Python with duckdb and pyarrow"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("interop.parquet");
    let ts = tiles();
    write_index(&path, &meta(), &ts).unwrap();

    let out = Command::new(&py)
        .args(["-c", CHECK_PY])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in [
        "arrow_embedding_type",
        "arrow_geometry_type",
        "duckdb_spatial",
        "duckdb_geometry_type",
        "gpd_crs",
    ] {
        println!("{key}: {}", v[key]);
    }
    println!("duckdb ST_AsText row 0: {}", v["duckdb_wkt"][0]);

    assert_eq!(v["arrow_rows"], 6);
    assert!(
        v["arrow_embedding_type"]
            .as_str()
            .unwrap()
            .starts_with("list<element: float"),
        "{}",
        v["arrow_embedding_type"]
    );
    assert_eq!(v["arrow_geometry_type"], "binary");
    assert_eq!(v["arrow_geo"]["version"], "1.1.0");

    let rows = v["duckdb_rows"].as_array().unwrap();
    assert_eq!(rows.len(), ts.len());
    for (r, t) in rows.iter().zip(&ts) {
        assert_eq!(r[0], t.row);
        assert_eq!(r[1], t.col);
        assert_eq!(r[2], t.status.as_str());
        assert_eq!(r[3], "FLOAT[]");
        match &t.embedding {
            Some(e) => {
                let got: Vec<f32> = r[4]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| f32::from_bits(x.as_u64().unwrap() as u32))
                    .collect();
                assert_eq!(&got, e);
            }
            None => assert!(r[4].is_null()),
        }
        assert_eq!(
            r[5].as_u64().map(|c| f32::from_bits(c as u32)),
            t.cloud_fraction
        );
    }

    match v.get("duckdb_wkt") {
        Some(wkts) => {
            for (w, t) in wkts.as_array().unwrap().iter().zip(&ts) {
                assert_eq!(parse_wkt_polygon(w.as_str().unwrap()), t.polygon_wgs84);
            }
        }
        None => eprintln!(
            "DuckDB spatial part skipped: {}",
            v["duckdb_spatial_skipped"]
        ),
    }
    match v.get("gpd_rings") {
        Some(rings) => {
            assert_eq!(v["gpd_crs_is_lonlat"], true, "crs {}", v["gpd_crs"]);
            for (ring, t) in rings.as_array().unwrap().iter().zip(&ts) {
                let got: Vec<[f64; 2]> = ring
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| {
                        let bits = |v: &serde_json::Value| f64::from_bits(v.as_u64().unwrap());
                        [bits(&p[0]), bits(&p[1])]
                    })
                    .collect();
                assert_eq!(got, t.polygon_wgs84);
            }
            let lens: Vec<Option<u64>> = v["gpd_embedding_lens"]
                .as_array()
                .unwrap()
                .iter()
                .map(serde_json::Value::as_u64)
                .collect();
            let expect: Vec<Option<u64>> = ts
                .iter()
                .map(|t| t.embedding.as_ref().map(|e| e.len() as u64))
                .collect();
            assert_eq!(lens, expect);
        }
        None => eprintln!("GeoPandas part skipped: {}", v["gpd_skipped"]),
    }
}

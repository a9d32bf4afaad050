//! Interoperability: a tile index written by Kestrel is read by pyarrow, DuckDB (and,
//! where installed, DuckDB's spatial extension and GeoPandas) with the right geometry,
//! CRS, `bbox` covering and `fixed_size_list<float>[N]` embeddings that DuckDB casts to
//! `FLOAT[N]` for `array_cosine_similarity`; a shard DuckDB rewrote with `COPY` is searched
//! by `kestrel search` exactly like the original.
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
out["arrow_bbox_type"] = str(t.schema.field("bbox").type)
out["arrow_datetime_type"] = str(t.schema.field("datetime").type)
out["arrow_datetime"] = [None if d is None else d.isoformat() for d in t.column("datetime").to_pylist()]
out["arrow_product_id"] = t.column("product_id").to_pylist()
out["arrow_mgrs_tile"] = t.column("mgrs_tile").to_pylist()
out["arrow_geo"] = json.loads(pq.read_schema(path).metadata[b"geo"])

import duckdb
con = duckdb.connect()
q = ("SELECT tile_row, tile_col, status, typeof(embedding), embedding, cloud_fraction "
     "FROM read_parquet(?) ORDER BY tile_row, tile_col")
out["duckdb_rows"] = [[r[0], r[1], r[2], r[3], None if r[4] is None else [f32bits(x) for x in r[4]],
                       f32bits(r[5])] for r in con.execute(q, [path]).fetchall()]

n = t.schema.field("embedding").type.list_size
q = [((k * 0.37) % 1.0) - 0.5 for k in range(n)]
out["duckdb_array"] = [[r[0], r[1], r[2], r[3]] for r in con.execute(
    f"SELECT tile_row, tile_col, typeof(embedding::FLOAT[{n}]), "
    f"array_cosine_similarity(embedding::FLOAT[{n}], $q::FLOAT[{n}]) "
    "FROM read_parquet($p) ORDER BY tile_row, tile_col", {"q": q, "p": path}).fetchall()]
out["query"] = q

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
    # GeoPandas hides the covering column it uses for filtering; the values via pyarrow
    out["gpd_bbox"] = [[f64bits(b[k]) for k in ("xmin", "ymin", "xmax", "ymax")]
                       for b in t.sort_by([("tile_row", "ascending"), ("tile_col", "ascending")])
                                 .column("bbox").to_pylist()]
    # the covering drives GeoPandas' bbox filter: only the tiles of the first column
    sub = gpd.read_parquet(path, bbox=(12.25, 45.0, 12.26, 46.0))
    out["gpd_bbox_filter"] = sorted([int(r), int(c)] for r, c in zip(sub["tile_row"], sub["tile_col"]))
except ImportError as e:
    out["gpd_skipped"] = repr(e)
print(json.dumps(out))
"#;

fn python() -> String {
    std::env::var("KESTREL_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn tiles() -> Vec<TileRecord> {
    tiles_of(DIM)
}

fn tiles_of(dim: usize) -> Vec<TileRecord> {
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
                    (0..dim)
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
        product_id: Some("S2B_MSIL2A_20230823T095559_N0509_R122_T33TUL_20230823T124759".into()),
        mgrs_tile: Some("33TUL".into()),
        sensing_time: Some("2023-08-23T09:55:59.024Z".into()),
        precision: Some("f32".into()),
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
    assert_eq!(
        v["arrow_embedding_type"],
        format!("fixed_size_list<element: float not null>[{DIM}]")
    );
    assert_eq!(
        v["arrow_bbox_type"],
        "struct<xmin: double not null, ymin: double not null, xmax: double not null, ymax: double not null>"
    );
    assert_eq!(v["arrow_datetime_type"], "timestamp[us, tz=UTC]");
    assert_eq!(
        v["arrow_datetime"],
        serde_json::json!(vec!["2023-08-23T09:55:59.024000+00:00"; 6])
    );
    assert_eq!(
        v["arrow_product_id"],
        serde_json::json!(vec![meta().product_id.unwrap(); 6])
    );
    assert_eq!(v["arrow_mgrs_tile"], serde_json::json!(vec!["33TUL"; 6]));
    // DuckDB: FLOAT[N] after the cast, and array_cosine_similarity as computed here
    let query: Vec<f64> = v["query"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| f64::from(x.as_f64().unwrap() as f32))
        .collect();
    let arr = v["duckdb_array"].as_array().unwrap();
    assert_eq!(arr.len(), ts.len());
    for (r, t) in arr.iter().zip(&ts) {
        assert_eq!(
            (r[0].as_u64(), r[1].as_u64()),
            (Some(t.row.into()), Some(t.col.into()))
        );
        match &t.embedding {
            Some(e) => {
                assert_eq!(r[2], format!("FLOAT[{DIM}]"));
                let dot: f64 = e.iter().zip(&query).map(|(a, b)| f64::from(*a) * b).sum();
                let na = e.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
                let nb = query.iter().map(|x| x * x).sum::<f64>().sqrt();
                let got = r[3].as_f64().unwrap();
                assert!(
                    (got - dot / (na * nb)).abs() < 1e-5,
                    "{got} vs {}",
                    dot / (na * nb)
                );
            }
            None => assert!(r[3].is_null(), "{r}"),
        }
    }
    assert_eq!(v["arrow_geometry_type"], "binary");
    assert_eq!(v["arrow_geo"]["version"], "1.1.0");

    let rows = v["duckdb_rows"].as_array().unwrap();
    assert_eq!(rows.len(), ts.len());
    for (r, t) in rows.iter().zip(&ts) {
        assert_eq!(r[0], t.row);
        assert_eq!(r[1], t.col);
        assert_eq!(r[2], t.status.as_str());
        // DuckDB 2.0 reads the Parquet LIST as a list (the Arrow schema's fixed size is for
        // Arrow readers); `::FLOAT[N]` above makes it an array
        assert!(
            r[3] == "FLOAT[]" || r[3] == format!("FLOAT[{DIM}]").as_str(),
            "{}",
            r[3]
        );
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
            for (b, t) in v["gpd_bbox"].as_array().unwrap().iter().zip(&ts) {
                let got: Vec<f64> = b
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| f64::from_bits(x.as_u64().unwrap()))
                    .collect();
                assert_eq!(got, t.bounds_wgs84().unwrap());
            }
            assert_eq!(v["gpd_bbox_filter"], serde_json::json!([[0, 0], [1, 0]]));
        }
        None => eprintln!("GeoPandas part skipped: {}", v["gpd_skipped"]),
    }
}

/// The code blocks of the README's "Tile indexes are GeoParquet" section, in order, with
/// their language.
fn readme_snippets() -> Vec<(String, String)> {
    let readme = std::fs::read_to_string(crate::common::repo().join("README.md")).unwrap();
    let start = readme
        .find("### Tile indexes are GeoParquet")
        .expect("the README has the GeoParquet section");
    let section = &readme[start..];
    let section = &section[..section[4..].find("\n## ").map_or(section.len(), |e| e + 4)];
    let mut out = Vec::new();
    let mut rest = section;
    while let Some(open) = rest.find("```") {
        let after = &rest[open + 3..];
        let lang_end = after.find('\n').unwrap();
        let body = &after[lang_end + 1..];
        let close = body.find("```").expect("closed code block");
        out.push((
            after[..lang_end].trim().to_owned(),
            body[..close].to_owned(),
        ));
        rest = &body[close + 3..];
    }
    out
}

const README_PY: &str = r#"
import json, os, sys
os.chdir(sys.argv[1])
sql, snippet, query = sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
import duckdb
con = duckdb.connect()
rows = con.execute(sql, {"query": query}).fetchall()
env = {}
exec(snippet, env)
tiles = env["tiles"]
print(json.dumps({
    "rows": [[r[0], r[1], r[2], r[3]] for r in rows],
    "gpd_rows": len(tiles), "gpd_crs": tiles.crs.to_string(),
}))
"#;

/// The README's DuckDB query and GeoPandas snippet run verbatim against index files Kestrel
/// wrote (two scenes), and DuckDB's ranking is the one computed here.
#[test]
fn readme_duckdb_and_geopandas_snippets_run_verbatim() {
    let py = python();
    let probe = Command::new(&py)
        .args(["-c", "import duckdb, geopandas"])
        .output();
    if !matches!(&probe, Ok(o) if o.status.success()) {
        eprintln!("SKIP: `{py} -c 'import duckdb, geopandas'` failed; set KESTREL_PYTHON");
        return;
    }
    let snippets = readme_snippets();
    let sql = &snippets
        .iter()
        .find(|(l, _)| l == "sql")
        .expect("an SQL block")
        .1;
    let snippet = &snippets
        .iter()
        .find(|(l, _)| l == "python")
        .expect("a Python block")
        .1;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("indexes")).unwrap();
    let mut all = Vec::new();
    // the README's SQL is for Llama3-MS-CLIP's 512-value embeddings
    let dim = 512;
    for (k, scene) in ["T33TUL", "T33TUM"].iter().enumerate() {
        let mut ts = tiles_of(dim);
        for t in &mut ts {
            t.scene_id = (*scene).into();
            if let Some(e) = &mut t.embedding {
                e.iter_mut().for_each(|x| *x += k as f32 * 0.05);
            }
        }
        let m = IndexMeta {
            scene_identity: (*scene).into(),
            embed_dim: dim as u32,
            ..meta()
        };
        write_index(
            &dir.path().join(format!("indexes/{scene}.parquet")),
            &m,
            &ts,
        )
        .unwrap();
        if k == 0 {
            write_index(&dir.path().join("scene.parquet"), &m, &ts).unwrap();
        }
        all.extend(ts);
    }
    let query: Vec<f32> = (0..dim).map(|k| (k as f32 * 0.37).cos()).collect();
    let out = Command::new(&py)
        .args(["-c", README_PY])
        .arg(dir.path())
        .arg(sql)
        .arg(snippet)
        .arg(serde_json::to_string(&query).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the README's snippets failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // the expected ranking, cosine in f64 over the embedded tiles of both scenes
    let cos = |e: &[f32]| {
        let dot: f64 = e
            .iter()
            .zip(&query)
            .map(|(a, b)| f64::from(*a) * f64::from(*b))
            .sum();
        let n = |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
        dot / (n(e) * n(&query))
    };
    let mut want: Vec<(String, u32, u32, f64)> = all
        .iter()
        .filter_map(|t| {
            Some((
                t.scene_id.clone(),
                t.row,
                t.col,
                cos(t.embedding.as_deref()?),
            ))
        })
        .collect();
    want.sort_by(|a, b| b.3.total_cmp(&a.3));
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), want.len().min(20), "{v}");
    for (r, w) in rows.iter().zip(&want) {
        assert_eq!(r[0], w.0.as_str(), "{v}");
        assert_eq!(
            (r[1].as_u64().unwrap(), r[2].as_u64().unwrap()),
            (u64::from(w.1), u64::from(w.2))
        );
        assert!((r[3].as_f64().unwrap() - w.3).abs() < 1e-5, "{r} vs {w:?}");
    }
    assert_eq!(v["gpd_rows"], 6);
    assert_eq!(v["gpd_crs"], "OGC:CRS84");
}

const COPY_PY: &str = r#"
import sys, duckdb, pyarrow.parquet as pq
src, dst = sys.argv[1], sys.argv[2]
meta = pq.read_schema(src).metadata[b"kestrel"].decode()
con = duckdb.connect()
lit = meta.replace("'", "''")
# compaction as users do it: all columns, the `kestrel` metadata carried over by hand
con.execute(f"COPY (SELECT * FROM read_parquet('{src}') ORDER BY tile_row DESC, tile_col) "
            f"TO '{dst}' (FORMAT parquet, KV_METADATA {{kestrel: '{lit}'}})")
md = pq.read_metadata(dst)
print(md.created_by)
print(sorted(k.decode() for k in md.metadata))
"#;

/// A shard Kestrel wrote, rewritten by DuckDB `COPY` (rows reordered, no content digest,
/// DuckDB's own types), is searched by `kestrel search` with the same top-k as the
/// original.
#[test]
fn duckdb_copied_shard_is_searched_like_the_original() {
    let py = python();
    let probe = Command::new(&py)
        .args(["-c", "import duckdb, pyarrow"])
        .output();
    if !matches!(&probe, Ok(o) if o.status.success()) {
        eprintln!("SKIP: `{py} -c 'import duckdb, pyarrow'` failed; set KESTREL_PYTHON");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = crate::common::repo();
    let model = repo.join("tests/fixtures/msclip_tiny/msclip_random.safetensors");
    let demo = repo.join("assets/demo/T33UUU_20170216_L1C");
    let src = tmp.path().join("demo.parquet");
    let dst = tmp.path().join("demo-copy.parquet");
    let kestrel = |args: &[&std::ffi::OsStr]| {
        let out = Command::new(env!("CARGO_BIN_EXE_kestrel"))
            .args(args)
            .env("KESTREL_CACHE_DIR", tmp.path().join("cache"))
            .env("HF_HUB_OFFLINE", "1")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    kestrel(&[
        "index".as_ref(),
        "--model".as_ref(),
        model.as_os_str(),
        "--out".as_ref(),
        src.as_os_str(),
        demo.as_os_str(),
    ]);
    let out = Command::new(&py)
        .args(["-c", COPY_PY])
        .arg(&src)
        .arg(&dst)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let info = String::from_utf8(out.stdout).unwrap();
    println!("rewritten: {info}");
    assert!(info.starts_with("DuckDB"), "{info}");
    assert!(!info.contains("kestrel_content_sha256"), "{info}");
    let search = |shard: &std::path::Path| -> Vec<serde_json::Value> {
        kestrel(&[
            "search".as_ref(),
            "--json".as_ref(),
            "--model".as_ref(),
            model.as_os_str(),
            "--query".as_ref(),
            "a river".as_ref(),
            "--top".as_ref(),
            "20".as_ref(),
            shard.as_os_str(),
        ])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
    };
    let original = search(&src);
    let copied = search(&dst);
    assert_eq!(original.len(), 20);
    assert_eq!(copied, original);
}

const TOP20_PY: &str = r#"
import glob, json, sys, duckdb
shards, query = sys.argv[1], json.loads(sys.argv[2])
n = len(query)
con = duckdb.connect()
rows = con.execute(
    f"SELECT scene_id, tile_row, tile_col, "
    f"array_cosine_similarity(embedding::FLOAT[{n}], $q::FLOAT[{n}]) AS score "
    "FROM read_parquet($p) WHERE status = 'embedded' ORDER BY score DESC LIMIT 20",
    {"q": query, "p": shards}).fetchall()
print(json.dumps([list(r) for r in rows]))
"#;

/// `kestrel search shards/*.parquet` (the streamed search) lists DuckDB's exact top-20 over
/// the same shards, in order, with the same scores.
#[test]
fn streamed_search_top20_equals_duckdb_exact() {
    let py = python();
    let probe = Command::new(&py).args(["-c", "import duckdb"]).output();
    if !matches!(&probe, Ok(o) if o.status.success()) {
        eprintln!("SKIP: `{py} -c 'import duckdb'` failed; set KESTREL_PYTHON");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = crate::common::repo();
    let model = repo
        .join("tests/fixtures/msclip_tiny/msclip_random.safetensors")
        .display()
        .to_string();
    let shards = tmp.path().join("shards");
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_kestrel"))
            .args(args)
            .env("KESTREL_CACHE_DIR", tmp.path().join("cache"))
            .env("HF_HUB_OFFLINE", "1")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let mut args = vec![
        "index".to_string(),
        "--model".into(),
        model.clone(),
        "--stride".into(),
        "112".into(),
        "--out-dir".into(),
        shards.display().to_string(),
        repo.join("assets/demo/T33UUU_20170216_L1C")
            .display()
            .to_string(),
    ];
    for c in ["282D_485L_3_3.tif", "38D_378R_2_3.tif", "637U_59R_1_3.tif"] {
        args.push(
            repo.join("tests/fixtures/chips")
                .join(c)
                .display()
                .to_string(),
        );
    }
    run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let mut files: Vec<String> = std::fs::read_dir(&shards)
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    files.sort();
    assert_eq!(files.len(), 4);
    let text = "a river";
    let q: serde_json::Value =
        serde_json::from_str(&run(&["embed-text", "--json", "--model", &model, text])).unwrap();
    let mut search: Vec<&str> = vec![
        "search",
        "--json",
        "--model",
        model.as_str(),
        "--query",
        text,
    ];
    search.extend(files.iter().map(String::as_str));
    let ours: Vec<serde_json::Value> = run(&search)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let glob = format!("{}/*.parquet", shards.display());
    let out = Command::new(&py)
        .args(["-c", TOP20_PY, &glob, &q["embedding"].to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let duck: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(ours.len(), 20);
    assert_eq!(duck.len(), 20);
    for (a, b) in ours.iter().zip(&duck) {
        assert_eq!(
            (&a["scene_id"], &a["row"], &a["col"]),
            (&b[0], &b[1], &b[2]),
            "ours {a} vs DuckDB {b}"
        );
        let (sa, sb) = (a["score"].as_f64().unwrap(), b[3].as_f64().unwrap());
        assert!((sa - sb).abs() < 1e-5, "{sa} vs {sb}");
    }
}

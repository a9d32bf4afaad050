//! The headless search commands through the binary: `index --out` writes a GeoParquet index,
//! `search` ranks the tiles of index files (the cluster workflow) and scenes, exports CSV and
//! GeoJSON, `classify-scene` writes per-class probabilities; bad input fails clearly.

use crate::common::{kestrel, ok};
use std::path::PathBuf;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tiny() -> String {
    repo()
        .join("tests/fixtures/msclip_tiny/msclip_random.safetensors")
        .display()
        .to_string()
}

#[test]
fn index_files_search_and_classify_through_the_binary() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let demo = repo()
        .join("assets/demo/T33UUU_20170216_L1C")
        .display()
        .to_string();
    let chip = repo()
        .join("tests/fixtures/chips/637U_59R_1_3.tif")
        .display()
        .to_string();
    let a = tmp.path().join("demo.parquet").display().to_string();
    let b = tmp.path().join("chip.parquet").display().to_string();
    let model = tiny();
    let s = ok(&kestrel(
        &cache,
        &["index", "--json", "--model", &model, "--out", &a, &demo],
    ));
    let summary: serde_json::Value = serde_json::from_str(s.trim()).unwrap();
    assert_eq!(summary["tiles"], 28);
    assert_eq!(summary["embedded"], 21);
    assert_eq!(summary["skipped_nodata"], 7);
    ok(&kestrel(
        &cache,
        &["index", "--model", &model, "--out", &b, &chip],
    ));
    // --out without --cache keeps the cache untouched
    assert!(
        !cache.join("index").exists()
            || std::fs::read_dir(cache.join("index")).unwrap().count() == 0
    );

    // the two indexes searched together: 21 + 1 embedded tiles ranked as one list
    let csv_path = tmp.path().join("hits.csv");
    let gj_path = tmp.path().join("hits.geojson");
    let out = ok(&kestrel(
        &cache,
        &[
            "search",
            "--json",
            "--model",
            &model,
            "--query",
            "coastline",
            "--top",
            "30",
            "--csv",
            &csv_path.display().to_string(),
            "--geojson",
            &gj_path.display().to_string(),
            &a,
            &b,
        ],
    ));
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 22);
    let scores: Vec<f64> = lines.iter().map(|l| l["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]));
    let scenes: std::collections::BTreeSet<&str> = lines
        .iter()
        .map(|l| l["scene_id"].as_str().unwrap())
        .collect();
    assert_eq!(scenes.len(), 2);
    let mut rdr = csv::Reader::from_path(&csv_path).unwrap();
    let headers = rdr.headers().unwrap().clone();
    let epsg = headers.iter().position(|h| h == "crs_epsg").unwrap();
    let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 22);
    // rows of each scene carry that scene's CRS: the demo is UTM 33N, the chip UTM 32N
    let epsgs: std::collections::BTreeSet<String> =
        rows.iter().map(|r| r[epsg].to_string()).collect();
    assert_eq!(
        epsgs,
        ["32632".to_string(), "32633".to_string()]
            .into_iter()
            .collect()
    );
    let gj: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&gj_path).unwrap()).unwrap();
    assert_eq!(gj["features"].as_array().unwrap().len(), 22);

    // a scene goes through the cache: first built, then reused
    let out = kestrel(
        &cache,
        &[
            "search", "--model", &model, "--query", "forest", "--top", "3", &demo,
        ],
    );
    ok(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("cached in"));
    let out = kestrel(
        &cache,
        &[
            "search", "--model", &model, "--query", "forest", "--top", "3", &demo,
        ],
    );
    ok(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("index from cache"));

    let classes_csv = tmp.path().join("classes.csv");
    let out = ok(&kestrel(
        &cache,
        &[
            "classify-scene",
            "--json",
            "--model",
            &model,
            "--classes",
            "forest",
            "water",
            "urban area",
            "--csv",
            &classes_csv.display().to_string(),
            &a,
        ],
    ));
    let counts: u64 = out
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["tiles"]
                .as_u64()
                .unwrap()
        })
        .sum();
    assert_eq!(counts, 21);
    let mut rdr = csv::Reader::from_path(&classes_csv).unwrap();
    let h = rdr.headers().unwrap().clone();
    let cols: Vec<usize> = ["p_forest", "p_water", "p_urban_area"]
        .iter()
        .map(|c| h.iter().position(|x| x == *c).unwrap())
        .collect();
    for r in rdr.records() {
        let r = r.unwrap();
        let sum: f64 = cols.iter().map(|&c| r[c].parse::<f64>().unwrap()).sum();
        assert!((sum - 1.0).abs() < 1e-5, "{sum}");
    }
}

#[test]
fn bad_input_fails_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny();
    let demo = repo()
        .join("assets/demo/T33UUU_20170216_L1C")
        .display()
        .to_string();
    let fail = |args: &[&str], needle: &str| {
        let out = kestrel(tmp.path(), args);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(err.contains(needle), "{needle:?} not in {err}");
    };
    fail(
        &["search", "--model", &model, "--query", "   ", &demo],
        "query is empty",
    );
    fail(
        &[
            "search",
            "--model",
            &model,
            "--query",
            "x",
            "/nonexistent/scene.tif",
        ],
        "/nonexistent/scene.tif",
    );
    let not_parquet = tmp.path().join("x.parquet");
    std::fs::write(&not_parquet, b"not a parquet file").unwrap();
    fail(
        &[
            "search",
            "--model",
            &model,
            "--query",
            "x",
            &not_parquet.display().to_string(),
        ],
        "x.parquet",
    );
    fail(
        &[
            "classify-scene",
            "--model",
            &model,
            "--classes",
            "one",
            &demo,
        ],
        "at least two",
    );
    fail(&["search", "--query", "x", &demo], "HF_HUB_OFFLINE");
}

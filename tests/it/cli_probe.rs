//! `kestrel probe` through the binary: a linear probe trained on a labels file over a real
//! scene's index, its scores checked against an independent fit made here (damped Newton's
//! method on the same strictly convex objective, from the stored embeddings and the
//! labels), search's CSV columns with the labels file and counts as provenance; bad labels
//! files fail clearly, naming the file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use kestrel::search::geoparquet;
use kestrel::search::record::TileRecord;

use crate::common::{fixture, repo};
use crate::common::{kestrel, ok};

fn tiny() -> String {
    fixture("msclip_tiny/msclip_random.safetensors")
        .display()
        .to_string()
}

/// Minimise 1/n Σ [log(1+e^z) − y z] + λ/2 ‖w‖² (bias unpenalised) by Newton's method
/// with backtracking; returns (w, b). (Dense linear algebra reads best with indices.)
#[allow(clippy::needless_range_loop)]
fn newton_logistic(x: &[Vec<f64>], y: &[f64], lambda: f64) -> (Vec<f64>, f64) {
    let n = x.len() as f64;
    let d = x[0].len();
    let m = d + 1;
    let aug = |xi: &Vec<f64>| -> Vec<f64> { xi.iter().copied().chain([1.0]).collect() };
    let xa: Vec<Vec<f64>> = x.iter().map(aug).collect();
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(p, q)| p * q).sum::<f64>();
    let objective = |p: &[f64]| -> f64 {
        let mut f = 0.0;
        for (xi, yi) in xa.iter().zip(y) {
            let z = dot(xi, p);
            f += z.max(0.0) + (-z.abs()).exp().ln_1p() - yi * z;
        }
        f / n + 0.5 * lambda * p[..d].iter().map(|v| v * v).sum::<f64>()
    };
    let mut p = vec![0.0; m];
    for _ in 0..100 {
        let mut g = vec![0.0; m];
        let mut h = vec![vec![0.0; m]; m];
        for (xi, yi) in xa.iter().zip(y) {
            let s = 1.0 / (1.0 + (-dot(xi, &p)).exp());
            for a in 0..m {
                g[a] += (s - yi) * xi[a] / n;
                for b in 0..m {
                    h[a][b] += s * (1.0 - s) * xi[a] * xi[b] / n;
                }
            }
        }
        for a in 0..d {
            g[a] += lambda * p[a];
            h[a][a] += lambda;
        }
        // solve h·step = g (Gaussian elimination, partial pivoting)
        let mut aug: Vec<Vec<f64>> = h
            .iter()
            .zip(&g)
            .map(|(r, gi)| r.iter().copied().chain([*gi]).collect())
            .collect();
        for c in 0..m {
            let piv = (c..m)
                .max_by(|&i, &j| aug[i][c].abs().total_cmp(&aug[j][c].abs()))
                .unwrap();
            aug.swap(c, piv);
            for r in 0..m {
                if r != c {
                    let k = aug[r][c] / aug[c][c];
                    for j in c..=m {
                        aug[r][j] -= k * aug[c][j];
                    }
                }
            }
        }
        let step: Vec<f64> = (0..m).map(|i| aug[i][m] / aug[i][i]).collect();
        let f0 = objective(&p);
        let mut t = 1.0;
        loop {
            let cand: Vec<f64> = p.iter().zip(&step).map(|(a, s)| a - t * s).collect();
            if objective(&cand) <= f0 || t < 1e-10 {
                p = cand;
                break;
            }
            t *= 0.5;
        }
        if step.iter().map(|v| v * v).sum::<f64>().sqrt() * t < 1e-13 {
            break;
        }
    }
    (p[..d].to_vec(), p[d])
}

fn label_feature(t: &TileRecord, label: &str) -> serde_json::Value {
    serde_json::json!({
        "type": "Feature",
        "geometry": null,
        "properties": {"scene_id": t.scene_id, "tile_row": t.row, "tile_col": t.col, "label": label},
    })
}

fn write_collection(path: &Path, features: Vec<serde_json::Value>) {
    let doc = serde_json::json!({"type": "FeatureCollection", "features": features});
    std::fs::write(path, doc.to_string()).unwrap();
}

#[test]
fn probe_scores_match_an_independent_newton_fit() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let demo = repo()
        .join("assets/demo/T33UUU_20170216_L1C")
        .display()
        .to_string();
    let model = tiny();
    let index = tmp.path().join("demo.parquet");
    let index_s = index.display().to_string();
    ok(&kestrel(
        &cache,
        &["index", "--model", &model, "--out", &index_s, &demo],
    ));
    let (_, tiles) = geoparquet::read_index(&index).unwrap();
    let embedded: Vec<&TileRecord> = tiles.iter().filter(|t| t.embedding.is_some()).collect();
    assert_eq!(embedded.len(), 21);

    // labels: the western tiles of the first two embedded rows positive, the eastern
    // negative (whatever the random model makes of them); eight unlabelled tiles remain;
    // one more positive comes as a plain point inside a tile, and one label sits on a
    // tile without embedding (counted, not used)
    let mut features = Vec::new();
    let mut want: HashMap<(u32, u32), f64> = HashMap::new();
    for t in embedded.iter().take(12) {
        let pos = t.col < 3;
        want.insert((t.row, t.col), if pos { 1.0 } else { 0.0 });
        features.push(label_feature(t, if pos { "positive" } else { "negative" }));
    }
    let extra = embedded[14];
    want.insert((extra.row, extra.col), 1.0);
    features.push(serde_json::json!({
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": extra.centre_lonlat},
        "properties": {"label": "positive"},
    }));
    let skipped = tiles.iter().find(|t| t.embedding.is_none()).unwrap();
    features.push(label_feature(skipped, "negative"));
    let labels = tmp.path().join("labels.geojson");
    write_collection(&labels, features);
    let positives = want.values().filter(|v| **v == 1.0).count();
    let negatives = want.len() - positives;
    assert!(positives >= 3 && negatives >= 3, "{positives} {negatives}");

    let csv_path = tmp.path().join("probe.csv");
    let out = kestrel(
        &cache,
        &[
            "probe",
            "--json",
            "--model",
            &model,
            "--labels",
            &labels.display().to_string(),
            "--csv",
            &csv_path.display().to_string(),
            &index_s,
        ],
    );
    let stdout = ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let counts =
        format!("{positives} positive, {negatives} negative, 1 on tiles without embedding");
    assert!(stderr.contains(&counts), "{stderr}");
    assert_eq!(stdout.lines().count(), 21);

    // the independent fit, λ = 0.01 (the default), on the stored embeddings
    let (x, y): (Vec<Vec<f64>>, Vec<f64>) = embedded
        .iter()
        .filter_map(|t| {
            let y = *want.get(&(t.row, t.col))?;
            let e = t.embedding.as_ref()?;
            Some((e.iter().map(|v| f64::from(*v)).collect(), y))
        })
        .unzip();
    let (w, b) = newton_logistic(&x, &y, 1e-2);
    let expect: HashMap<(u32, u32), f64> = embedded
        .iter()
        .map(|t| {
            let e = t.embedding.as_ref().unwrap();
            let z = b + w.iter().zip(e).map(|(w, e)| w * f64::from(*e)).sum::<f64>();
            ((t.row, t.col), 1.0 / (1.0 + (-z).exp()))
        })
        .collect();

    let mut rdr = csv::Reader::from_path(&csv_path).unwrap();
    let headers = rdr.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (score, row, tcol, qt, qe) = (
        col("score"),
        col("tile_row"),
        col("tile_col"),
        col("query_text"),
        col("query_examples"),
    );
    let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 21);
    let mut worst = 0.0f64;
    let mut prev = f64::INFINITY;
    for r in &rows {
        let s: f64 = r[score].parse().unwrap();
        assert!(s <= prev, "ranked best first");
        prev = s;
        let key: (u32, u32) = (r[row].parse().unwrap(), r[tcol].parse().unwrap());
        worst = worst.max((s - expect[&key]).abs());
        assert!(r[qt].contains(&labels.display().to_string()), "{}", &r[qt]);
        assert!(r[qe].contains(&counts), "{}", &r[qe]);
    }
    eprintln!("probe vs Newton: max abs difference {worst:e}");
    assert!(worst < 1e-4, "probe vs Newton: {worst}");
    // the probe does learn its labels: mean probability of the positives over negatives
    let mean = |v: f64| {
        let s: Vec<f64> = want
            .iter()
            .filter(|(_, y)| **y == v)
            .map(|(k, _)| expect[k])
            .collect();
        s.iter().sum::<f64>() / s.len() as f64
    };
    assert!(mean(1.0) > mean(0.0));

    // named classes: `--positive water` trains water against every other label, the
    // same partition as above, so the same probabilities
    let classes = tmp.path().join("classes.geojson");
    let text = std::fs::read_to_string(&labels)
        .unwrap()
        .replace("\"positive\"", "\"water\"")
        .replace("\"negative\"", "\"forest\"");
    std::fs::write(&classes, text).unwrap();
    let out = kestrel(
        &cache,
        &[
            "probe",
            "--json",
            "--model",
            &model,
            "--labels",
            &classes.display().to_string(),
            "--positive",
            "water",
            &index_s,
        ],
    );
    let mut worst_classes = 0.0f64;
    for line in ok(&out).lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let key = (
            v["row"].as_u64().unwrap() as u32,
            v["col"].as_u64().unwrap() as u32,
        );
        worst_classes = worst_classes.max((v["score"].as_f64().unwrap() - expect[&key]).abs());
    }
    assert!(
        worst_classes < 1e-4,
        "--positive water vs Newton: {worst_classes}"
    );

    // search's columns, in search's order
    let search_csv = tmp.path().join("search.csv");
    ok(&kestrel(
        &cache,
        &[
            "search",
            "--model",
            &model,
            "--query",
            "water",
            "--csv",
            &search_csv.display().to_string(),
            &index_s,
        ],
    ));
    let mut srd = csv::Reader::from_path(&search_csv).unwrap();
    assert_eq!(srd.headers().unwrap(), &headers);
}

#[test]
fn bad_labels_files_fail_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let chip = repo()
        .join("tests/fixtures/chips/637U_59R_1_3.tif")
        .display()
        .to_string();
    let model = tiny();
    let index = tmp.path().join("chip.parquet");
    let index_s = index.display().to_string();
    ok(&kestrel(
        &cache,
        &["index", "--model", &model, "--out", &index_s, &chip],
    ));
    let (_, tiles) = geoparquet::read_index(&index).unwrap();
    let t = &tiles[0];
    let fail = |name: &str, features: Vec<serde_json::Value>, needle: &str| {
        let p: PathBuf = tmp.path().join(name);
        write_collection(&p, features);
        let out = kestrel(
            &cache,
            &[
                "probe",
                "--model",
                &model,
                "--labels",
                &p.display().to_string(),
                &index_s,
            ],
        );
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(
            err.contains(&p.display().to_string()),
            "no file name: {err}"
        );
        assert!(err.contains(needle), "{needle:?} not in {err}");
    };
    fail("empty.geojson", vec![], "has no features");
    let mut other = label_feature(t, "positive");
    other["properties"]["scene_id"] = "S2B_elsewhere".into();
    fail(
        "unknown.geojson",
        vec![other],
        "scene \"S2B_elsewhere\" is not among the searched scenes",
    );
    fail(
        "one_class.geojson",
        vec![label_feature(t, "positive")],
        "labelled tiles of both classes, got 1 positive and 0 negative",
    );
    let mut no_label = label_feature(t, "positive");
    no_label["properties"]
        .as_object_mut()
        .unwrap()
        .remove("label");
    fail("no_label.geojson", vec![no_label], "feature 1: no `label`");
}

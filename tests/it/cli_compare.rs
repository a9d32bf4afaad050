//! `kestrel compare` through the binary: the demo scene searched for one query by two models
//! of different families (tiny seeded MS-CLIP, 10 bands; tiny seeded RS-M-CLIP, RGB through
//! the true-colour mapping), each exported as CSV; the agreement of their top-N equals the
//! overlap this test computes from the two CSVs itself; bad input names the file.

use crate::common::{kestrel, ok};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// (scene_id, px_x0, px_y0) of the CSV's rows in rank order, read with the csv crate.
fn ranked_keys(path: &Path) -> Vec<(String, i64, i64, f32)> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let h = r.headers().unwrap().clone();
    let c = |n: &str| h.iter().position(|x| x == n).unwrap();
    let (rank, score, scene, x0, y0) =
        (c("rank"), c("score"), c("scene_id"), c("px_x0"), c("px_y0"));
    let mut rows: Vec<(u32, (String, i64, i64, f32))> = r
        .records()
        .map(|rec| {
            let rec = rec.unwrap();
            (
                rec[rank].parse().unwrap(),
                (
                    rec[scene].to_owned(),
                    rec[x0].parse().unwrap(),
                    rec[y0].parse().unwrap(),
                    rec[score].parse().unwrap(),
                ),
            )
        })
        .collect();
    rows.sort_by_key(|r| r.0);
    rows.into_iter().map(|r| r.1).collect()
}

#[test]
fn two_models_one_query_compared_from_their_exports() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let demo = repo()
        .join("assets/demo/T33UUU_20170216_L1C")
        .display()
        .to_string();
    let fx = repo().join("tests/fixtures");
    let msclip = fx
        .join("msclip_tiny/msclip_random.safetensors")
        .display()
        .to_string();
    let rsm = fx
        .join("rsmclip_tiny/RSMCLIP-Tiny_random.safetensors")
        .display()
        .to_string();
    let tok = fx
        .join("rsmclip_tiny/xlmr-test-tokenizer.json")
        .display()
        .to_string();
    let a = tmp.path().join("msclip.csv");
    let b = tmp.path().join("rsmclip.csv");
    let query = "a river between fields";
    ok(&kestrel(
        &cache,
        &[
            "search",
            "--model",
            &msclip,
            "--query",
            query,
            "--top",
            "21",
            "--csv",
            a.to_str().unwrap(),
            &demo,
        ],
    ));
    ok(&kestrel(
        &cache,
        &[
            "search",
            "--model",
            &rsm,
            "--tokenizer",
            &tok,
            "--query",
            query,
            "--top",
            "21",
            "--csv",
            b.to_str().unwrap(),
            &demo,
        ],
    ));
    let ka = ranked_keys(&a);
    let kb = ranked_keys(&b);
    assert_eq!(
        (ka.len(), kb.len()),
        (21, 21),
        "every embedded tile of the demo is listed"
    );

    let n = 10;
    let out = ok(&kestrel(
        &cache,
        &[
            "compare",
            "--json",
            "--top",
            &n.to_string(),
            a.to_str().unwrap(),
            b.to_str().unwrap(),
        ],
    ));
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    // the overlap, computed here from the files
    let key = |k: &(String, i64, i64, f32)| (k.0.clone(), k.1, k.2);
    let top_b: Vec<_> = kb[..n].iter().map(key).collect();
    let expected: Vec<(i64, i64, usize, usize)> = ka[..n]
        .iter()
        .enumerate()
        .filter_map(|(i, k)| {
            top_b
                .iter()
                .position(|x| *x == key(k))
                .map(|j| (k.1, k.2, i + 1, j + 1))
        })
        .collect();
    let got: Vec<(i64, i64, usize, usize)> = v["shared"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["px_x0"].as_i64().unwrap(),
                s["px_y0"].as_i64().unwrap(),
                s["rank_a"].as_u64().unwrap() as usize,
                s["rank_b"].as_u64().unwrap() as usize,
            )
        })
        .collect();
    assert_eq!(got, expected);
    let union: HashSet<_> = ka[..n]
        .iter()
        .map(key)
        .chain(top_b.iter().cloned())
        .collect();
    let jaccard = expected.len() as f64 / union.len() as f64;
    assert!((v["jaccard"].as_f64().unwrap() - jaccard).abs() < 1e-12);
    assert_eq!(v["common"], 21);
    assert_eq!(v["a"]["query"], query);
    assert!(v["a"]["model_name"].as_str().unwrap() != v["b"]["model_name"].as_str().unwrap());
    // Spearman over the 21 common tiles, from the scores (no ties in these scores)
    let rank_of = |scores: &[f32]| -> Vec<f64> {
        scores
            .iter()
            .map(|s| scores.iter().filter(|x| *x < s).count() as f64 + 1.0)
            .collect()
    };
    let sa: Vec<f32> = ka.iter().map(|k| k.3).collect();
    let sb: Vec<f32> = ka
        .iter()
        .map(|k| kb.iter().find(|x| key(x) == key(k)).unwrap().3)
        .collect();
    let (ra, rb) = (rank_of(&sa), rank_of(&sb));
    let d2: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - y) * (x - y)).sum();
    let m = 21.0;
    let rho = 1.0 - 6.0 * d2 / (m * (m * m - 1.0));
    assert!((v["spearman"].as_f64().unwrap() - rho).abs() < 1e-9, "{v}");

    // the text form says the same
    let text = ok(&kestrel(
        &cache,
        &[
            "compare",
            "--top",
            "10",
            a.to_str().unwrap(),
            b.to_str().unwrap(),
        ],
    ));
    assert!(
        text.contains(&format!("top 10: {} shared", expected.len())),
        "{text}"
    );

    // a file that is not a ranked export: named, with what is missing
    let bad = tmp.path().join("classes.csv");
    std::fs::write(&bad, "tile_row,tile_col\n0,0\n").unwrap();
    let out = kestrel(
        &cache,
        &["compare", a.to_str().unwrap(), bad.to_str().unwrap()],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("classes.csv") && err.contains("no `rank` column"),
        "{err}"
    );
}

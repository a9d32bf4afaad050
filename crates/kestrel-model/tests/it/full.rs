//! Parity with the reference for the full-size seeded model (ViT-B/16, 10 bands, 604 MB per
//! layout). The checkpoints are generated, not stored: see `../shared/oracle/ORACLE.md`
//! ("Install", "Run"); the test looks in `$KESTREL_FULL_ORACLE_DIR` (default
//! `/tmp/oracle/seed0`) and skips when they are absent. Tolerance 1e-4 (f32).

use crate::common::*;

use std::path::{Path, PathBuf};

use candle_core::Tensor;
use kestrel_model::clip::{ClipModel, Kernels, normalize, normalized_rows};
use kestrel_model::load::config::ClipConfig;
use kestrel_model::tasks::preprocess;
use kestrel_model::tasks::retrieval::{rank, score};
use kestrel_model::tasks::zeroshot::{Classifier, class_vector};
use serde_json::Value;

const TOL: f32 = 1e-4;

/// The generated checkpoints' folder and the reference, or `None` (skip).
fn setup() -> Option<(PathBuf, Value)> {
    let dir = std::env::var_os("KESTREL_FULL_ORACLE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/oracle/seed0"));
    if !dir.join("msclip_random.safetensors").exists() {
        eprintln!(
            "skip: no full oracle checkpoint in {} (generate it as ../shared/oracle/ORACLE.md says)",
            dir.display()
        );
        return None;
    }
    let shared = repo().join("../shared/oracle/full/reference.json");
    let reference = if shared.exists() {
        shared
    } else {
        dir.join("reference.json")
    };
    let text = std::fs::read_to_string(&reference).ok()?;
    Some((dir, serde_json::from_str(&text).ok()?))
}

fn load(path: &Path, kernels: Kernels) -> ClipModel {
    model(&ClipConfig::llama3_ms_clip(), path, kernels)
}

fn chips(r: &Value) -> (Vec<String>, Vec<f32>) {
    let cfg = ClipConfig::llama3_ms_clip();
    let pp = cfg.preprocess.as_ref().unwrap();
    let names: Vec<String> = r["images"].as_object().unwrap().keys().cloned().collect();
    let mut px = Vec::new();
    for n in &names {
        let img = read_chip(&repo().join("tests/fixtures/chips").join(n));
        px.extend(preprocess::preprocess(&img, pp, 10).unwrap());
    }
    (names, px)
}

#[test]
fn full_model_matches_reference_from_both_layouts() {
    let Some((dir, r)) = setup() else { return };
    let (names, pixels) = chips(&r);
    for file in ["msclip_random.safetensors", "msclip_random.pt"] {
        let model = load(&dir.join(file), Kernels::Auto);
        assert!(model.uses_fused_kernels());

        let images = normalized_rows(&model.encode_images(&pixels, names.len()).unwrap()).unwrap();
        for (n, e) in names.iter().zip(&images) {
            let d = max_abs_diff(e, &f32s(&r["image_embeddings"][n]));
            eprintln!("{file} {n}: image embedding max abs diff {d:.2e}");
            assert!(d <= TOL, "{file} {n}: {d}");
        }

        let queries = r["queries"].as_array().unwrap();
        let mut qemb = Vec::new();
        for q in queries {
            let ids = u32s(&q["ids"]);
            let e = normalize(
                &model
                    .encode_token_ids(&[&ids])
                    .unwrap()
                    .to_vec2::<f32>()
                    .unwrap()[0],
            );
            let d = max_abs_diff(&e, &f32s(&q["embedding"]));
            eprintln!(
                "{file} {:?}: text embedding max abs diff {d:.2e}",
                q["text"]
            );
            assert!(d <= TOL);
            qemb.push(e);
        }

        let classes: Vec<String> = r["classes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect();
        let mut vectors = Vec::new();
        for c in &classes {
            let ids: Vec<Vec<u32>> = r["prompts"][c]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| u32s(&p["ids"]))
                .collect();
            let rows: Vec<&[u32]> = ids.iter().map(Vec::as_slice).collect();
            let v =
                class_vector(&normalized_rows(&model.encode_token_ids(&rows).unwrap()).unwrap());
            assert!(
                max_abs_diff(&v, &f32s(&r["zero_shot"]["classifier"][c])) <= TOL,
                "{c}"
            );
            vectors.push(v);
        }
        let clf = Classifier { classes, vectors };
        for (n, e) in names.iter().zip(&images) {
            let want = &r["zero_shot"]["per_image"][n];
            let d = max_abs_diff(&clf.probs(e), &f32s(&want["probs"]));
            eprintln!("{file} {n}: probability max abs diff {d:.2e}");
            assert!(d <= TOL, "{n}: {d}");
            assert_eq!(clf.top(e).unwrap().1, want["top_class"].as_str().unwrap());
        }
        for (q, e) in queries.iter().zip(&qemb) {
            let text = q["text"].as_str().unwrap();
            let ranked: Vec<&str> = rank(&score(images.iter().map(|v| Some(v.as_slice())), e))
                .iter()
                .map(|(i, _)| names[*i].as_str())
                .collect();
            let want: Vec<&str> = r["retrieval"]["rankings"][text]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x["image"].as_str().unwrap())
                .collect();
            assert_eq!(ranked, want, "{text}");
        }
    }
}

#[test]
fn full_model_intermediates_and_generic_path() {
    let Some((dir, r)) = setup() else { return };
    let (_, pixels) = chips(&r);
    let model = load(&dir.join("msclip_random.safetensors"), Kernels::Generic);
    assert!(!model.uses_fused_kernels());
    let inter = &r["intermediates"];
    let mut checked = 0;
    let mut tap = |name: &str, t: &Tensor| -> candle_core::Result<()> {
        let Some(want) = inter.get(name) else {
            return Ok(());
        };
        let flat = t.get(0)?.flatten_all()?.to_vec1::<f32>()?;
        let abs_max = want["abs_max"].as_f64().unwrap() as f32;
        let d = max_abs_diff(&flat[..8], &f32s(&want["first8"]));
        assert!(d <= 1e-4 * abs_max.max(1.0), "{name}: first8 off by {d}");
        let sum: f64 = flat.iter().map(|&v| v as f64).sum();
        let want_sum = want["sum"].as_f64().unwrap();
        let tol = 1e-4 * abs_max as f64 * (flat.len() as f64).sqrt();
        assert!(
            (sum - want_sum).abs() <= tol,
            "{name}: sum {sum} vs {want_sum}"
        );
        checked += 1;
        Ok(())
    };
    let img = model
        .encode_images_tap(&pixels[..model.image_len()], 1, &mut tap)
        .unwrap();
    let ids = u32s(&r["queries"][0]["ids"]);
    model
        .encode_token_ids_with(&[&ids], false, &mut tap)
        .unwrap();
    assert_eq!(checked, 2 * 12 + 4 + 3, "intermediates checked");
    let e = normalize(&img.to_vec2::<f32>().unwrap()[0]);
    let name = r["images"].as_object().unwrap().keys().next().unwrap();
    assert!(max_abs_diff(&e, &f32s(&r["image_embeddings"][name])) <= TOL);
}

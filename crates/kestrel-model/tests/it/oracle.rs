//! Parity of the candle port with the open_clip reference ("oracle") for the tiny seeded
//! MS-CLIP: loaded parameters, preprocessing, per-layer intermediates, embeddings, zero-shot
//! probabilities and retrieval rankings — from the safetensors fixture, from the `.pt` layout
//! in `../shared` (skipped when absent), with the fused CPU kernels and with plain candle ops.

use crate::common::*;

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use kestrel_base::jobs::{CancelToken, NoProgress};
use kestrel_model::clip::{ClipModel, Kernels, normalize, normalized_rows};
use kestrel_model::load::checkpoint::{Checkpoint, CheckpointFormat};
use kestrel_model::load::config::ClipConfig;
use kestrel_model::tasks::preprocess::{self, RawImage};
use kestrel_model::tasks::retrieval::{rank, score};
use kestrel_model::tasks::zeroshot::{Classifier, class_vector};
use serde_json::Value;

fn shared_tiny() -> Option<PathBuf> {
    let p = repo().join("../shared/oracle/tiny");
    if p.join("msclip_random.pt").exists() {
        Some(p)
    } else {
        eprintln!("skip: {} is absent", p.display());
        None
    }
}

fn config() -> ClipConfig {
    ClipConfig::from_file(&fixture("msclip_tiny/open_clip_config.json")).unwrap()
}

fn load_model(path: &Path, kernels: Kernels) -> ClipModel {
    model(&config(), path, kernels)
}

/// Checkpoints to test: the fixture, and the `.pt` layout when `../shared` is there.
fn checkpoints() -> Vec<PathBuf> {
    let mut v = vec![fixture("msclip_tiny/msclip_random.safetensors")];
    if let Some(d) = shared_tiny() {
        v.push(d.join("msclip_random.pt"));
    }
    v
}

/// Image names in the oracle's (sorted) order and their preprocessed pixels.
fn preprocessed_chips(cfg: &ClipConfig) -> (Vec<String>, Vec<f32>) {
    let r = reference();
    let names: Vec<String> = r["images"].as_object().unwrap().keys().cloned().collect();
    let pp = cfg.preprocess.as_ref().unwrap();
    let mut all = Vec::new();
    for n in &names {
        let img = read_chip(&fixture(&format!("chips/{n}")));
        all.extend(preprocess::preprocess(&img, pp, cfg.in_channels).unwrap());
    }
    (names, all)
}

#[test]
fn expected_keys_follow_the_reference_state_dict_order() {
    let r = reference();
    let want: Vec<String> = r["checkpoint"]["plain_keys_in_order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    let got: Vec<String> = kestrel_model::load::weights::expected_shapes(&config())
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(got, want);
}

#[test]
fn loaded_parameters_match_param_stats() {
    let r = reference();
    let stats = r["checkpoint"]["param_stats"].as_object().unwrap();
    for path in checkpoints() {
        let ck = Checkpoint::open(&path).unwrap();
        let layout = ck.validate(&config()).unwrap();
        if ck.format() == CheckpointFormat::TorchZip {
            assert_eq!(layout.prefix, "clip_base_model.model.");
            assert_eq!(ck.entries().count(), 187);
        } else {
            assert_eq!(layout.prefix, "");
        }
        let w = ck
            .load(
                &config(),
                &Device::Cpu,
                DType::F32,
                &NoProgress,
                &CancelToken::new(),
            )
            .unwrap();
        assert_eq!(w.len(), stats.len());
        for (name, s) in stats {
            let t = w.get(name).unwrap();
            let shape: Vec<usize> = s["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as usize)
                .collect();
            assert_eq!(t.dims(), shape.as_slice(), "{name}");
            let flat = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let sum: f64 = flat.iter().map(|&v| v as f64).sum();
            let want = s["sum"].as_f64().unwrap();
            assert!(
                (sum - want).abs() <= 1e-9 * want.abs().max(1.0),
                "{name}: sum {sum} vs {want}"
            );
            assert_eq!(
                &flat[..flat.len().min(4)],
                f32s(&s["first4"]).as_slice(),
                "{name}"
            );
        }
    }
}

#[test]
fn chip_preprocessing_matches_reference() {
    let r = reference();
    let cfg = config();
    let pp = cfg.preprocess.as_ref().unwrap();
    for (name, entry) in r["images"].as_object().unwrap() {
        let img = read_chip(&fixture(&format!("chips/{name}")));
        assert_eq!((img.band_count(), img.width, img.height), (12, 224, 224));
        let sel = preprocess::select_bands(&img, &pp.bands, 10).unwrap();
        let band_sums: Vec<i64> = sel
            .data
            .chunks(224 * 224)
            .map(|c| c.iter().map(|&v| v as i64).sum())
            .collect();
        let want_band_sums: Vec<i64> = entry["raw"]["band_sums_after_selection"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        assert_eq!(band_sums, want_band_sums, "{name}");
        let x = preprocess::preprocess(&img, pp, 10).unwrap();
        let p = &entry["preprocessed"];
        let sum: f64 = x.iter().map(|&v| v as f64).sum();
        let want = p["sum"].as_f64().unwrap();
        assert!(
            (sum - want).abs() < 1e-6 * want.abs().max(1.0),
            "{name}: {sum} vs {want}"
        );
        assert_eq!(&x[..8], f32s(&p["first8"]).as_slice(), "{name}");
        for (c, want) in f32s(&p["channel_sums"]).iter().enumerate() {
            let s: f64 = x[c * 224 * 224..(c + 1) * 224 * 224]
                .iter()
                .map(|&v| v as f64)
                .sum();
            assert!(
                (s - *want as f64).abs() < 1e-6 * (*want as f64).abs().max(1.0) + 1e-2,
                "{name} ch {c}"
            );
        }
    }
}

#[test]
fn resize_probes_match_reference() {
    let Some(dir) = shared_tiny() else { return };
    let r = reference();
    let cfg = config();
    let pp = cfg.preprocess.as_ref().unwrap();
    let inputs =
        candle_core::safetensors::load(dir.join("inputs.safetensors"), &Device::Cpu).unwrap();
    for (name, probe) in r["resize_probes"].as_object().unwrap() {
        let raw: &Tensor = &inputs[&format!("probe_{name}_raw_hwc")];
        let (h, w, c) = raw.dims3().unwrap();
        let hwc = raw.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let img = RawImage::from_hwc(Path::new(name), &hwc, h, w, c);
        let x = preprocess::preprocess(&img, pp, 10).unwrap();
        let out = &probe["output"];
        let sum: f64 = x.iter().map(|&v| v as f64).sum();
        let want = out["sum"].as_f64().unwrap();
        assert!(
            (sum - want).abs() < 1e-6 * want.abs(),
            "{name}: sum {sum} vs {want}"
        );
        let first8 = f32s(&probe["channel0_row0_first8"]);
        assert!(
            max_abs_diff(&x[..8], &first8) < 2e-6,
            "{name}: {:?} vs {first8:?}",
            &x[..8]
        );
        for (ch, want) in f32s(&probe["channel_sums"]).iter().enumerate() {
            let s: f64 = x[ch * 224 * 224..(ch + 1) * 224 * 224]
                .iter()
                .map(|&v| v as f64)
                .sum();
            assert!(
                (s - *want as f64).abs() < 1e-6 * (*want as f64).abs(),
                "{name} ch {ch}: {s} vs {want}"
            );
        }
        let mean = sum / x.len() as f64;
        let var = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / (x.len() - 1) as f64;
        let want_std = out["std_unbiased"].as_f64().unwrap();
        assert!(
            (var.sqrt() - want_std).abs() < 1e-6 * want_std,
            "{name}: std"
        );
    }
}

/// Summary statistics of a tap, compared with one `intermediates` entry.
fn check_summary(name: &str, t: &Tensor, want: &Value, tol: f32) {
    let shape: Vec<usize> = want["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    // Same values in the same order (the patch embedding is tapped as [width, grid²]).
    assert_eq!(
        t.elem_count(),
        shape.iter().product::<usize>(),
        "{name}: shape {:?} vs {shape:?}",
        t.dims()
    );
    let flat = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let sum: f64 = flat.iter().map(|&v| v as f64).sum();
    let want_sum = want["sum"].as_f64().unwrap();
    let abs_max = want["abs_max"].as_f64().unwrap();
    // A sum over n values each off by ~tol·abs_max.
    let sum_tol = tol as f64 * abs_max * (flat.len() as f64).sqrt();
    assert!(
        (sum - want_sum).abs() <= sum_tol,
        "{name}: sum {sum} vs {want_sum} (tol {sum_tol})"
    );
    let d = max_abs_diff(&flat[..8], &f32s(&want["first8"]));
    assert!(d <= tol * abs_max as f32, "{name}: first8 off by {d}");
    for key in ["token0_first8", "token1_first8"] {
        if let Some(w) = want.get(key) {
            let row = if key == "token0_first8" { 0 } else { 1 };
            let width = shape[1];
            let d = max_abs_diff(&flat[row * width..row * width + 8], &f32s(w));
            assert!(d <= tol * abs_max as f32, "{name}: {key} off by {d}");
        }
    }
}

#[test]
fn intermediates_match_for_image0_and_query0() {
    let r = reference();
    let inter = &r["intermediates"];
    let cfg = config();
    let (_, pixels) = preprocessed_chips(&cfg);
    let ids = u32s(&r["queries"][0]["ids"]);
    for path in checkpoints() {
        for kernels in [Kernels::Auto, Kernels::Generic] {
            let model = load_model(&path, kernels);
            let mut seen = Vec::new();
            let mut tap = |name: &str, t: &Tensor| -> candle_core::Result<()> {
                let t0 = t.get(0)?;
                if let Some(want) = inter.get(name) {
                    check_summary(
                        &format!("{name} ({kernels:?}, {})", path.display()),
                        &t0,
                        want,
                        2e-5,
                    );
                    seen.push(name.to_owned());
                }
                Ok(())
            };
            let img = model
                .encode_images_tap(&pixels[..model.image_len()], 1, &mut tap)
                .unwrap();
            model
                .encode_token_ids_with(&[&ids], false, &mut tap)
                .unwrap();
            let want_seen = inter
                .as_object()
                .unwrap()
                .keys()
                .filter(|k| !k.starts_with("encode_") && *k != "text.eot_index");
            for k in want_seen {
                assert!(seen.contains(k), "{k} was never tapped");
            }
            let img = img.to_vec2::<f32>().unwrap();
            let want = &inter["encode_image_unnormalized"];
            let norm = img[0]
                .iter()
                .map(|v| (*v as f64).powi(2))
                .sum::<f64>()
                .sqrt();
            assert!(
                (norm - want["norm"].as_f64().unwrap()).abs() < 1e-4,
                "image norm {norm}"
            );
            assert!(max_abs_diff(&img[0][..8], &f32s(&want["first8"])) < 1e-5);
        }
    }
}

#[test]
fn image_embeddings_match_within_1e5() {
    let r = reference();
    let cfg = config();
    let (names, pixels) = preprocessed_chips(&cfg);
    for path in checkpoints() {
        for kernels in [Kernels::Auto, Kernels::Generic] {
            let model = load_model(&path, kernels);
            let emb = normalized_rows(&model.encode_images(&pixels, names.len()).unwrap()).unwrap();
            for (n, e) in names.iter().zip(&emb) {
                let want = f32s(&r["image_embeddings"][n]);
                let d = max_abs_diff(e, &want);
                assert!(
                    d <= 1e-5,
                    "{n} ({kernels:?}, {}): max abs diff {d}",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn text_embeddings_match_and_truncation_changes_nothing() {
    let r = reference();
    for path in checkpoints() {
        for kernels in [Kernels::Auto, Kernels::Generic] {
            let model = load_model(&path, kernels);
            let queries = r["queries"].as_array().unwrap();
            let ids: Vec<Vec<u32>> = queries.iter().map(|q| u32s(&q["ids"])).collect();
            let rows: Vec<&[u32]> = ids.iter().map(Vec::as_slice).collect();
            let short = model.encode_token_ids(&rows).unwrap();
            let full = model
                .encode_token_ids_with(&rows, false, &mut kestrel_model::clip::no_tap)
                .unwrap();
            let (short, full) = (
                normalized_rows(&short).unwrap(),
                normalized_rows(&full).unwrap(),
            );
            for (i, q) in queries.iter().enumerate() {
                let want = f32s(&q["embedding"]);
                assert!(
                    max_abs_diff(&short[i], &want) <= 1e-5,
                    "query {i} ({kernels:?})"
                );
                assert!(
                    max_abs_diff(&short[i], &full[i]) <= 1e-6,
                    "query {i}: truncated != full"
                );
                // Alone, its own (shorter) truncation gives the same vector as in the batch.
                let alone = normalized_rows(&model.encode_token_ids(&[&ids[i]]).unwrap()).unwrap();
                assert!(max_abs_diff(&alone[0], &want) <= 1e-5);
            }
        }
    }
}

fn classifier_from_reference_prompts(model: &ClipModel, r: &Value) -> Classifier {
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
        let emb = normalized_rows(&model.encode_token_ids(&rows).unwrap()).unwrap();
        for (e, p) in emb.iter().zip(r["prompts"][c].as_array().unwrap()) {
            assert!(
                max_abs_diff(&e[..8], &f32s(&p["embedding_first8"])) <= 1e-5,
                "{c}: {}",
                p["text"]
            );
        }
        vectors.push(class_vector(&emb));
    }
    Classifier { classes, vectors }
}

#[test]
fn zero_shot_probabilities_and_retrieval_rankings() {
    let r = reference();
    let cfg = config();
    let (names, pixels) = preprocessed_chips(&cfg);
    for path in checkpoints() {
        let model = load_model(&path, Kernels::Auto);
        let clf = classifier_from_reference_prompts(&model, &r);
        for c in &clf.classes {
            let i = clf.classes.iter().position(|x| x == c).unwrap();
            let want = f32s(&r["zero_shot"]["classifier"][c]);
            assert!(
                max_abs_diff(&clf.vectors[i], &want) <= 1e-5,
                "classifier {c}"
            );
        }
        let images = normalized_rows(&model.encode_images(&pixels, names.len()).unwrap()).unwrap();
        for (n, e) in names.iter().zip(&images) {
            let want = &r["zero_shot"]["per_image"][n];
            let probs = clf.probs(e);
            let d = max_abs_diff(&probs, &f32s(&want["probs"]));
            assert!(d <= 1e-4, "{n}: probs off by {d}");
            assert_eq!(
                clf.top(e).unwrap().1,
                want["top_class"].as_str().unwrap(),
                "{n}"
            );
        }
        for q in r["queries"].as_array().unwrap() {
            let ids = u32s(&q["ids"]);
            let qe = normalize(
                &model
                    .encode_token_ids(&[&ids])
                    .unwrap()
                    .to_vec2::<f32>()
                    .unwrap()[0],
            );
            let ranked: Vec<&str> = rank(&score(images.iter().map(|v| Some(v.as_slice())), &qe))
                .iter()
                .map(|(i, _)| names[*i].as_str())
                .collect();
            let text = q["text"].as_str().unwrap();
            let want: Vec<&str> = r["retrieval"]["rankings"][text]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x["image"].as_str().unwrap())
                .collect();
            assert_eq!(ranked, want, "ranking for {text:?}");
        }
    }
}

//! Parity with open_clip 3.3.0 + transformers 5.23.0 for the tiny seeded RS-M-CLIP
//! (`xlm-roberta-base-ViT-B-32` shape: ViT image tower, XLM-RoBERTa text tower with mean
//! pooling and the MLP projection): the test tokenizer's ids for 17 probes, 12 multilingual
//! queries (an empty one, one cut to 77) and 10 prompts; every text intermediate; text and
//! image embeddings; zero-shot probabilities at the checkpoint's logit scale and at 100;
//! retrieval rankings. The `.safetensors` layout is vendored in
//! `tests/fixtures/rsmclip_tiny`; the `.pt` layout comes from `../shared` (skipped when absent).
//!
//! The same checks run on the full-size seeded RS-M-CLIP-ViT-B-32 (XLM-R-base, 1.46 GB per
//! layout: generated with the same test tokenizer, not stored) at the full-model tolerance
//! (1e-4), from `$KESTREL_FULL_RGB_ORACLE_DIR/RSMCLIP-ViT-B-32` (see `oracle_rgb`); skipped
//! when absent.

use crate::common::*;

use std::path::PathBuf;

use candle_core::{DType, Device, Tensor};
use kestrel_base::jobs::{CancelToken, NoProgress};
use kestrel_model::clip::{ClipModel, Kernels, normalized_rows};
use kestrel_model::load::checkpoint::Checkpoint;
use kestrel_model::load::config::ClipConfig;
use kestrel_model::load::hf_text::{HfPooler, HfProj};
use kestrel_model::tasks::retrieval::{rank, score};
use kestrel_model::tasks::zeroshot::{class_vector, softmax};
use kestrel_model::tokenize::hf::HfTokenizer;
use kestrel_model::{Embedder, ModelSpec};
use serde_json::Value;

fn dir() -> PathBuf {
    fixture("rsmclip_tiny")
}

fn tokenizer() -> HfTokenizer {
    HfTokenizer::from_file(&dir().join("xlmr-test-tokenizer.json"), 77).unwrap()
}

/// One RS-M-CLIP of the oracle: the tiny one (vendored) or the full-size one (generated).
struct Rsm {
    dir: PathBuf,
    checkpoints: Vec<PathBuf>,
    /// Embedding tolerance.
    tol: f32,
    /// Intermediate-summary tolerance, relative to each tensor's largest magnitude.
    tap_tol: f32,
}

impl Rsm {
    /// The vendored `.safetensors` and, when `../shared` has it, the `.pt` layout.
    fn tiny() -> Rsm {
        let mut checkpoints = vec![dir().join("RSMCLIP-Tiny_random.safetensors")];
        let pt = repo().join("../shared/oracle/rgb/RSMCLIP-Tiny/RSMCLIP-Tiny_random.pt");
        if pt.exists() {
            checkpoints.push(pt);
        } else {
            eprintln!("skip: {} is absent (.pt layout not tested)", pt.display());
        }
        Rsm {
            dir: dir(),
            checkpoints,
            tol: 1e-5,
            tap_tol: 2e-5,
        }
    }

    /// The generated full-size model in both layouts, or `None` (skip).
    fn full() -> Option<Rsm> {
        let d = super::oracle_rgb::full_oracle_dir().join("RSMCLIP-ViT-B-32");
        let checkpoints: Vec<PathBuf> = ["safetensors", "pt"]
            .iter()
            .map(|ext| d.join(format!("RSMCLIP-ViT-B-32_random.{ext}")))
            .filter(|p| p.exists())
            .collect();
        if checkpoints.is_empty() || !d.join("inputs.safetensors").exists() {
            eprintln!(
                "skip: {} is absent (packaging/oracle.sh makes it)",
                d.display()
            );
            return None;
        }
        Some(Rsm {
            dir: d,
            checkpoints,
            tol: 1e-4,
            tap_tol: 1e-4,
        })
    }

    fn reference(&self) -> Value {
        let text =
            std::fs::read_to_string(self.dir.join("reference.json")).expect("reference.json");
        serde_json::from_str(&text).expect("JSON")
    }

    fn config(&self) -> ClipConfig {
        ClipConfig::from_file(&self.dir.join("open_clip_config.json")).unwrap()
    }

    /// The model and `exp(logit_scale)` from a checkpoint.
    fn load(&self, path: &std::path::Path, kernels: Kernels) -> (ClipModel, f32) {
        let cfg = self.config();
        let w = Checkpoint::open(path)
            .unwrap()
            .load(
                &cfg,
                &Device::Cpu,
                DType::F32,
                &NoProgress,
                &CancelToken::new(),
            )
            .unwrap();
        let scale = w
            .get("logit_scale")
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
            .exp();
        (ClipModel::new(&cfg, &w, kernels).unwrap(), scale)
    }

    /// The 5 preprocessed images of `inputs.safetensors`, in the reference's (sorted) order.
    fn images(&self) -> (Vec<String>, Vec<f32>) {
        let t = candle_core::safetensors::load(self.dir.join("inputs.safetensors"), &Device::Cpu)
            .expect("inputs.safetensors");
        let img = &t["images"];
        assert_eq!(img.dims(), &[5, 3, 224, 224]);
        let names: Vec<String> = self.reference()["image_embeddings"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        (names, img.flatten_all().unwrap().to_vec1::<f32>().unwrap())
    }
}

fn queries(r: &Value) -> Vec<(String, Vec<u32>, Vec<f32>)> {
    r["queries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| {
            (
                q["label"].as_str().unwrap().to_owned(),
                u32s(&q["ids"]),
                f32s(&q["embedding"]),
            )
        })
        .collect()
}

#[test]
fn config_reads_the_hf_tower_and_its_transformers_config() {
    let cfg = Rsm::tiny().config();
    let h = cfg.hf_text().expect("an HF text tower");
    assert_eq!(h.pooler, HfPooler::Mean);
    // Not set in the config: open_clip's CLIPTextCfg default 'mlp' without bias.
    assert_eq!(h.proj, HfProj::Mlp { bias: false });
    assert_eq!(h.context_length, 77);
    assert_eq!(h.tokenizer_name.as_deref(), Some("xlm-roberta-base"));
    let e = h
        .encoder
        .as_ref()
        .expect("text_hf_config.json beside the config");
    assert_eq!(
        (e.hidden_size, e.num_hidden_layers, e.num_attention_heads),
        (64, 2, 2)
    );
    assert_eq!((e.vocab_size, e.max_position_embeddings), (1000, 514));
    assert_eq!((e.pad_token_id, e.layer_norm_eps), (1, 1e-5));
    // The released model's built-in shape (xlm-roberta-base's config.json).
    let j = r#"{"embed_dim": 512, "vision_cfg": {"image_size": 224, "layers": 12, "width": 768,
        "patch_size": 32}, "text_cfg": {"hf_model_name": "xlm-roberta-base",
        "hf_tokenizer_name": "xlm-roberta-base", "hf_pooler_type": "mean_pooler"}}"#;
    let full = ClipConfig::from_json_str(j, std::path::Path::new("rsm.json")).unwrap();
    let e = full.hf_text().unwrap().encoder.as_ref().unwrap();
    assert_eq!(
        (e.vocab_size, e.hidden_size, e.layer_norm_eps),
        (250_002, 768, 1e-5)
    );
    let n: usize = kestrel_model::load::weights::expected_shapes(&full)
        .unwrap()
        .iter()
        .map(|(_, s)| s.iter().product::<usize>())
        .sum();
    // 366,121,473 floats in the oracle's full RS-M-CLIP-ViT-B-32 checkpoint.
    assert_eq!(n, 366_121_473);
    // An unknown HF model without its config: the model build says what is missing.
    let j = j.replace(
        "\"hf_model_name\": \"xlm-roberta-base\"",
        "\"hf_model_name\": \"my-roberta\"",
    );
    let c = ClipConfig::from_json_str(&j, std::path::Path::new("rsm.json")).unwrap();
    let e = kestrel_model::load::weights::expected_shapes(&c)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("my-roberta") && e.contains("text_hf_config.json"),
        "{e}"
    );
}

#[test]
fn expected_keys_and_shapes_are_the_reference_state_dict() {
    let m = Rsm::tiny();
    check_expected_keys(&m);
    assert_eq!(
        kestrel_model::load::weights::expected_tensor_count(&m.config()).unwrap(),
        72
    );
}

fn check_expected_keys(m: &Rsm) {
    let r = m.reference();
    let want: Vec<String> = r["checkpoint"]["keys_in_order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    let got = kestrel_model::load::weights::expected_shapes(&m.config()).unwrap();
    let names: Vec<String> = got.iter().map(|(n, _)| n.clone()).collect();
    assert_eq!(names, want);
    for (name, shape) in &got {
        let s: Vec<usize> = r["checkpoint"]["param_stats"][name]["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(&s, shape, "{name}");
    }
    assert_eq!(
        kestrel_model::load::weights::expected_tensor_count(&m.config()).unwrap(),
        want.len()
    );
}

#[test]
fn tokenizer_ids_match_open_clip_hftokenizer() {
    check_tokenizer_ids(&Rsm::tiny());
}

fn check_tokenizer_ids(m: &Rsm) {
    let r = m.reference();
    let tok = tokenizer();
    let mut n = 0;
    for p in r["tokenizer"]["probes"].as_array().unwrap() {
        let text = p["text"].as_str().unwrap();
        let t = tok.encode(text).unwrap();
        assert_eq!(t.ids, u32s(&p["ids"]), "probe {text:?}");
        assert_eq!(tok.clean(text), p["cleaned"].as_str().unwrap(), "{text:?}");
        assert_eq!(t.truncated, p["truncated"].as_bool().unwrap(), "{text:?}");
        assert_eq!(t.pieces as u64, p["n_pieces"].as_u64().unwrap(), "{text:?}");
        n += 1;
    }
    assert_eq!(n, 17);
    let mut truncated = 0;
    for q in r["queries"].as_array().unwrap() {
        let text = q["label"].as_str().unwrap();
        let t = tok.encode(text).unwrap();
        assert_eq!(t.ids, u32s(&q["ids"]), "query {text:?}");
        assert_eq!(t.pieces as u64, q["n_pieces"].as_u64().unwrap(), "{text:?}");
        assert_eq!(t.truncated, q["truncated"].as_bool().unwrap(), "{text:?}");
        if t.truncated {
            truncated += 1;
            // First 75 pieces, then </s>: nothing padded.
            assert_eq!((t.pieces, t.kept), (204, 75));
            assert_eq!(t.ids[76], 2);
            assert!(t.warning().unwrap().contains("204 tokens"));
        }
        assert_eq!(t.empty, text.is_empty());
    }
    assert_eq!(truncated, 1);
    for c in r["prompts"].as_object().unwrap().values() {
        for p in c.as_object().unwrap().values() {
            let text = p["text"].as_str().unwrap();
            assert_eq!(tok.encode(text).unwrap().ids, u32s(&p["ids"]), "{text:?}");
        }
    }
}

/// Summary stats of a tapped tensor against the oracle's (`sum`, `first8`, token rows).
fn check_summary(name: &str, t: &Tensor, want: &Value, tol: f32) {
    let shape: Vec<usize> = want["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    assert_eq!(t.dims(), shape.as_slice(), "{name}");
    let flat = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let sum: f64 = flat.iter().map(|&v| v as f64).sum();
    let abs_max = want["abs_max"].as_f64().unwrap();
    let sum_tol = tol as f64 * abs_max * (flat.len() as f64).sqrt();
    let want_sum = want["sum"].as_f64().unwrap();
    assert!(
        (sum - want_sum).abs() <= sum_tol,
        "{name}: sum {sum} vs {want_sum}"
    );
    let got_max = flat.iter().fold(0f32, |m, v| m.max(v.abs())) as f64;
    assert!(
        (got_max - abs_max).abs() <= tol as f64 * abs_max,
        "{name}: abs_max"
    );
    let d = max_abs_diff(&flat[..8], &f32s(&want["first8"]));
    assert!(d <= tol * abs_max as f32, "{name}: first8 off by {d}");
}

#[test]
fn every_text_intermediate_matches_for_query0() {
    check_text_intermediates(&Rsm::tiny());
}

fn check_text_intermediates(m: &Rsm) {
    let r = m.reference();
    let inter = &r["intermediates"];
    let ids = u32s(&inter["text.input_ids"]);
    assert_eq!(ids, queries(&r)[0].1);
    let mask = u32s(&inter["text.attention_mask"]);
    assert_eq!(
        mask,
        ids.iter().map(|&i| (i != 1) as u32).collect::<Vec<_>>()
    );
    let text_keys: Vec<&String> = inter
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| k.starts_with("text.") && inter[k.as_str()].get("shape").is_some())
        .collect();
    // Embeddings, one per encoder layer, pooler, projection and its two linears.
    let cfg = m.config();
    let layers = cfg
        .hf_text()
        .unwrap()
        .encoder
        .as_ref()
        .unwrap()
        .num_hidden_layers;
    assert_eq!(text_keys.len(), layers + 5, "{text_keys:?}");
    for path in &m.checkpoints {
        for kernels in [Kernels::Auto, Kernels::Generic] {
            let (model, _) = m.load(path, kernels);
            let mut seen = Vec::new();
            let mut tap = |name: &str, t: &Tensor| -> candle_core::Result<()> {
                let want = &inter[name];
                // Sequences: the non-pad rows (pad rows are computed by torch but never used).
                let want = want.get("valid_rows_summary").unwrap_or(want);
                check_summary(
                    &format!("{name} ({kernels:?}, {})", path.display()),
                    &t.get(0)?,
                    want,
                    m.tap_tol,
                );
                seen.push(name.to_owned());
                Ok(())
            };
            let out = model
                .encode_token_ids_with(&[&ids], false, &mut tap)
                .unwrap();
            let mut want_seen: Vec<String> = text_keys.iter().map(|k| k.to_string()).collect();
            want_seen.sort();
            seen.sort();
            assert_eq!(seen, want_seen);
            let out = out.to_vec2::<f32>().unwrap();
            let want = &inter["encode_text_unnormalized"];
            let norm = out[0]
                .iter()
                .map(|v| (*v as f64).powi(2))
                .sum::<f64>()
                .sqrt();
            assert!((norm - want["norm"].as_f64().unwrap()).abs() < f64::from(m.tol));
        }
    }
}

#[test]
fn text_embeddings_match_within_1e5_batched_and_alone() {
    check_text_embeddings(&Rsm::tiny());
}

fn check_text_embeddings(m: &Rsm) {
    let r = m.reference();
    let qs = queries(&r);
    let rows: Vec<&[u32]> = qs.iter().map(|q| q.1.as_slice()).collect();
    for path in &m.checkpoints {
        for kernels in [Kernels::Auto, Kernels::Generic] {
            let (model, _) = m.load(path, kernels);
            // One batch of 12 rows of 9 different lengths.
            let batch = normalized_rows(&model.encode_token_ids(&rows).unwrap()).unwrap();
            for ((label, ids, want), got) in qs.iter().zip(&batch) {
                let d = max_abs_diff(got, want);
                assert!(d <= m.tol, "{label:?} ({kernels:?}): off by {d}");
                let alone = normalized_rows(&model.encode_token_ids(&[ids]).unwrap()).unwrap();
                assert!(max_abs_diff(&alone[0], want) <= m.tol, "{label:?} alone");
            }
            for c in r["prompts"].as_object().unwrap().values() {
                for p in c.as_object().unwrap().values() {
                    let ids = u32s(&p["ids"]);
                    let e = normalized_rows(&model.encode_token_ids(&[&ids]).unwrap()).unwrap();
                    let d = max_abs_diff(&e[0], &f32s(&p["embedding"]));
                    assert!(d <= m.tol, "{}: off by {d}", p["text"]);
                }
            }
        }
    }
}

#[test]
fn image_embeddings_zero_shot_and_rankings_match() {
    check_images_zero_shot_rankings(&Rsm::tiny());
}

fn check_images_zero_shot_rankings(m: &Rsm) {
    let r = m.reference();
    let (names, pixels) = m.images();
    let classes: Vec<String> = r["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    for path in &m.checkpoints {
        for kernels in [Kernels::Auto, Kernels::Generic] {
            let (model, scale) = m.load(path, kernels);
            let want_scale = r["checkpoint"]["logit_scale_exp"].as_f64().unwrap() as f32;
            assert!((scale - want_scale).abs() < 1e-5, "{scale}");
            let imgs =
                normalized_rows(&model.encode_images(&pixels, names.len()).unwrap()).unwrap();
            for (n, e) in names.iter().zip(&imgs) {
                let d = max_abs_diff(e, &f32s(&r["image_embeddings"][n]));
                assert!(d <= m.tol, "{n} ({kernels:?}): off by {d}");
            }
            // Prompt embeddings from the reference's ids, as the classifier builds them.
            let emb = |class: &str, variant: &str| -> Vec<f32> {
                let ids = u32s(&r["prompts"][class][variant]["ids"]);
                normalized_rows(&model.encode_token_ids(&[&ids]).unwrap())
                    .unwrap()
                    .remove(0)
            };
            for variant in ["template", "bare", "ensemble"] {
                let zs = &r["zero_shot"][variant];
                let vectors: Vec<Vec<f32>> = classes
                    .iter()
                    .map(|c| match variant {
                        "ensemble" => class_vector(&[emb(c, "template"), emb(c, "bare")]),
                        v => class_vector(&[emb(c, v)]),
                    })
                    .collect();
                for (c, v) in classes.iter().zip(&vectors) {
                    let d = max_abs_diff(v, &f32s(&zs["classifier"][c]));
                    assert!(d <= m.tol, "{variant} classifier {c}: off by {d}");
                }
                for (key, s) in [("scale100", 100.0f32), ("scale_exp_logit_scale", scale)] {
                    for (n, e) in names.iter().zip(&imgs) {
                        let want = &zs[key]["per_image"][n];
                        let logits: Vec<f32> = vectors
                            .iter()
                            .map(|v| s * kestrel_model::tasks::retrieval::dot(e, v))
                            .collect();
                        let probs = softmax(&logits);
                        let d = max_abs_diff(&probs, &f32s(&want["probs"]));
                        assert!(d <= 1e-4, "{variant} {key} {n}: probs off by {d}");
                        let top = kestrel_model::tasks::retrieval::argmax(&logits).unwrap();
                        assert_eq!(classes[top], want["top_class"].as_str().unwrap());
                    }
                }
            }
            for (label, ids, _) in queries(&r) {
                let q = normalized_rows(&model.encode_token_ids(&[&ids]).unwrap())
                    .unwrap()
                    .remove(0);
                let ranked: Vec<&str> = rank(&score(imgs.iter().map(|v| Some(v.as_slice())), &q))
                    .iter()
                    .map(|(i, _)| names[*i].as_str())
                    .collect();
                let want: Vec<&str> = r["retrieval"]["rankings"][&label]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x["image"].as_str().unwrap())
                    .collect();
                assert_eq!(ranked, want, "ranking for {label:?}");
            }
        }
    }
}

#[test]
fn embedder_tokenizes_with_the_hf_file_and_warns_on_empty_and_long_texts() {
    let r = Rsm::tiny().reference();
    let spec = ModelSpec {
        checkpoint: Some(dir().join("RSMCLIP-Tiny_random.safetensors")),
        tokenizer: Some(dir().join("xlmr-test-tokenizer.json")),
        ..ModelSpec::default()
    };
    let e = Embedder::load(&spec, &NoProgress, &CancelToken::new()).unwrap();
    let qs = queries(&r);
    let texts: Vec<&str> = qs.iter().map(|q| q.0.as_str()).collect();
    let got = e.embed_texts(&texts).unwrap();
    for ((label, ids, want), t) in qs.iter().zip(&got) {
        assert_eq!(&t.ids, ids, "{label:?}");
        assert!(max_abs_diff(&t.embedding, want) <= 1e-5, "{label:?}");
        match (label.is_empty(), ids[76] == 2) {
            (true, _) => assert!(t.warning.as_ref().unwrap().contains("empty")),
            (false, true) => assert!(t.warning.as_ref().unwrap().contains("too long")),
            _ => assert_eq!(t.warning, None, "{label:?}"),
        }
    }
    // Without a tokenizer the load says which one the model needs.
    let spec = ModelSpec {
        tokenizer: None,
        ..spec
    };
    let err = Embedder::load(&spec, &NoProgress, &CancelToken::new())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("xlm-roberta-base") && err.contains("--tokenizer"),
        "{err}"
    );
}

/// Not a test: the query latency of the full-size RS-M-CLIP text tower (XLM-R-base, random
/// weights) next to Llama3-MS-CLIP's in the same run. `cargo test -p kestrel-model --test it
/// rsmclip_query_latency -- --ignored --nocapture`.
#[test]
#[ignore = "benchmark: run by hand"]
fn rsmclip_query_latency() {
    use kestrel_model::tasks::bench::{BenchOptions, run};
    let opts = BenchOptions {
        batch: 1,
        iters: 5,
        images: false,
        full_context: true,
        kernels: Kernels::Auto,
    };
    let rsm =
        ClipConfig::from_file(&repo().join("packaging/bench/rsmclip_vit_b32_config.json")).unwrap();
    let a = run(&rsm, &Device::Cpu, DType::F32, &opts).unwrap();
    let b = run(
        &ClipConfig::llama3_ms_clip(),
        &Device::Cpu,
        DType::F32,
        &opts,
    )
    .unwrap();
    println!(
        "RS-M-CLIP XLM-R-base query ({} tokens): {:.1} ms median, {:.1} ms best; 77 real tokens {:.1} ms",
        a.text_query_tokens,
        a.text_query_ms,
        a.text_query_ms_best,
        a.text_full_context_ms.unwrap_or(f64::NAN)
    );
    println!(
        "Llama3-MS-CLIP text query ({} tokens): {:.1} ms median; ratio XLM-R / MS-CLIP {:.2}; {} threads, {}",
        b.text_query_tokens,
        b.text_query_ms,
        a.text_query_ms / b.text_query_ms,
        a.threads,
        a.matmul_kernel
    );
}

#[test]
fn hf_tower_config_errors_name_the_field() {
    let cfg = |text_cfg: &str, extra: &str| {
        format!(
            r#"{{"model_cfg": {{"embed_dim": 32, "vision_cfg": {{"image_size": 224, "layers": 2,
            "width": 64, "head_width": 32, "patch_size": 32}}, "text_cfg": {text_cfg}}}{extra}}}"#
        )
    };
    let err = |j: String| {
        ClipConfig::from_json_str(&j, std::path::Path::new("hf.json"))
            .unwrap_err()
            .to_string()
    };
    let hf = std::fs::read_to_string(dir().join("text_hf_config.json")).unwrap();
    let e = err(cfg(
        r#"{"hf_model_name": "m", "hf_pooler_type": "max_pooler"}"#,
        "",
    ));
    assert!(e.contains("hf.json") && e.contains("max_pooler"), "{e}");
    let e = err(cfg(r#"{"hf_model_name": "m", "hf_proj_type": "conv"}"#, ""));
    assert!(e.contains("hf_proj_type \"conv\""), "{e}");
    // No projection is only possible when the text width is embed_dim (64 vs 32 here).
    let e = err(cfg(
        r#"{"hf_model_name": "m", "hf_proj_type": null}"#,
        &format!(", \"text_hf_config\": {hf}"),
    ));
    assert!(
        e.contains("hf_proj_type is null") && e.contains("64"),
        "{e}"
    );
    let bad = hf.replace("\"gelu\"", "\"relu\"");
    let e = err(cfg(
        r#"{"hf_model_name": "m"}"#,
        &format!(", \"text_hf_config\": {bad}"),
    ));
    assert!(e.contains("hidden_act \"relu\""), "{e}");
    // Linear projection with bias: the expected keys follow.
    let j = cfg(
        r#"{"hf_model_name": "m", "hf_proj_type": "linear", "proj_bias": true}"#,
        &format!(", \"text_hf_config\": {hf}"),
    );
    let c = ClipConfig::from_json_str(&j, std::path::Path::new("hf.json")).unwrap();
    let keys = kestrel_model::load::weights::expected_shapes(&c).unwrap();
    let tail: Vec<_> = keys[keys.len() - 2..].to_vec();
    assert_eq!(
        tail,
        vec![
            ("text.proj.weight".to_owned(), vec![32, 64]),
            ("text.proj.bias".to_owned(), vec![32])
        ]
    );
    // A checkpoint without them is refused naming the key.
    let ck = Checkpoint::open(&dir().join("RSMCLIP-Tiny_random.safetensors")).unwrap();
    let e = ck.validate(&c).unwrap_err().to_string();
    assert!(e.contains("text.proj.weight"), "{e}");
}

#[test]
fn full_rsmclip_vit_b32_matches_the_reference() {
    let Some(m) = Rsm::full() else { return };
    check_expected_keys(&m);
    check_tokenizer_ids(&m);
    check_text_intermediates(&m);
    check_text_embeddings(&m);
    check_images_zero_shot_rankings(&m);
}

//! The model commands through the `kestrel` binary: JSON output against the tiny oracle,
//! config discovery next to the checkpoint, and clear errors (exit code 1, no panic) for bad
//! checkpoints, vocabularies, images and queries.

use crate::common::*;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn tiny() -> PathBuf {
    fixture("msclip_tiny/msclip_random.safetensors")
}

/// Run kestrel with an empty Hugging Face cache, offline.
fn kestrel(args: &[&str]) -> Output {
    let cache = std::env::temp_dir().join("kestrel-test-empty-hf-cache");
    Command::new(env!("CARGO_BIN_EXE_kestrel"))
        .args(args)
        .env("HF_HUB_CACHE", &cache)
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .unwrap()
}

fn json_lines(out: &Output) -> Vec<Value> {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The command failed with exit code 1 and a one-line error containing every `needle`.
fn assert_clean_failure(out: &Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert!(!err.contains("panicked"), "panic: {err}");
    for n in needles {
        assert!(err.contains(n), "{n:?} not in: {err}");
    }
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn embed_images_json_in_argument_order() {
    let r = reference();
    let names = ["637U_59R_1_3.tif", "282D_485L_3_3.tif", "433D_629L_3_1.tif"];
    let paths: Vec<String> = names
        .iter()
        .map(|n| s(&fixture(&format!("chips/{n}"))))
        .collect();
    let mut args = vec!["embed-images", "--json", "--radiometry", "raw", "--model"];
    let model = s(&tiny());
    args.push(&model);
    args.extend(paths.iter().map(String::as_str));
    let lines = json_lines(&kestrel(&args));
    assert_eq!(lines.len(), 3);
    for ((line, name), path) in lines.iter().zip(names).zip(&paths) {
        assert_eq!(line["path"].as_str().unwrap(), path);
        let e = f32s(&line["embedding"]);
        let norm: f32 = e.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5);
        let d = max_abs_diff(&e, &f32s(&r["image_embeddings"][name]));
        assert!(d <= 1e-5, "{name}: {d}");
    }
}

#[test]
fn embed_text_json_ids_and_embeddings() {
    let r = reference();
    let queries = r["queries"].as_array().unwrap();
    let texts: Vec<&str> = queries
        .iter()
        .map(|q| q["text"].as_str().unwrap())
        .collect();
    let model = s(&tiny());
    let mut args = vec!["embed-text", "--json", "--model", &model];
    args.extend(&texts);
    let lines = json_lines(&kestrel(&args));
    assert_eq!(lines.len(), texts.len());
    for (line, q) in lines.iter().zip(queries) {
        assert_eq!(line["text"], q["text"]);
        assert_eq!(line["ids"], q["ids"]);
        assert_eq!(line["ids"].as_array().unwrap().len(), 77);
        let d = max_abs_diff(&f32s(&line["embedding"]), &f32s(&q["embedding"]));
        assert!(d <= 1e-5, "{}: {d}", q["text"]);
    }
}

#[test]
fn classify_json_matches_zero_shot_reference() {
    let r = reference();
    let classes: Vec<&str> = r["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let names: Vec<String> = r["images"].as_object().unwrap().keys().cloned().collect();
    let paths: Vec<String> = names
        .iter()
        .map(|n| s(&fixture(&format!("chips/{n}"))))
        .collect();
    let model = s(&tiny());
    // The documented form: images right after the class names.
    let mut args = vec![
        "classify",
        "--json",
        "--radiometry",
        "raw",
        "--model",
        &model,
        "--classes",
    ];
    args.extend(&classes);
    args.extend(paths.iter().map(String::as_str));
    let lines = json_lines(&kestrel(&args));
    assert_eq!(lines.len(), names.len());
    for (line, name) in lines.iter().zip(&names) {
        let want = &r["zero_shot"]["per_image"][name];
        let probs: Vec<f32> = classes
            .iter()
            .map(|c| line["probs"][c].as_f64().unwrap() as f32)
            .collect();
        let d = max_abs_diff(&probs, &f32s(&want["probs"]));
        assert!(d <= 1e-4, "{name}: {d}");
        assert_eq!(line["top"], want["top_class"]);
    }

    // Other template sets give other, still normalised, probabilities.
    let mut args = vec![
        "classify",
        "--json",
        "--model",
        &model,
        "--templates",
        "none",
        "--classes",
    ];
    args.extend(&classes);
    args.push("--");
    args.push(&paths[0]);
    let bare = json_lines(&kestrel(&args));
    let probs: Vec<f32> = classes
        .iter()
        .map(|c| bare[0]["probs"][c].as_f64().unwrap() as f32)
        .collect();
    assert!((probs.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    let msclip = f32s(&r["zero_shot"]["per_image"][&names[0]]["probs"]);
    assert!(
        max_abs_diff(&probs, &msclip) > 1e-3,
        "bare names gave the msclip probabilities"
    );
}

#[test]
fn config_is_taken_from_beside_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("model.safetensors");
    std::fs::copy(tiny(), &ck).unwrap();
    let chip = s(&fixture("chips/38D_378R_2_3.tif"));
    // Without a config the built-in ViT-B/16 config is used: the first tensor does not fit.
    let out = kestrel(&["embed-images", "--model", &s(&ck), &chip]);
    assert_clean_failure(
        &out,
        &[
            "model.safetensors",
            "positional_embedding",
            "[77, 64]",
            "[77, 512]",
        ],
    );
    std::fs::copy(
        fixture("msclip_tiny/open_clip_config.json"),
        dir.path().join("open_clip_config.json"),
    )
    .unwrap();
    let lines = json_lines(&kestrel(&[
        "embed-images",
        "--json",
        "--model",
        &s(&ck),
        &chip,
    ]));
    let d = max_abs_diff(
        &f32s(&lines[0]["embedding"]),
        &f32s(&reference()["image_embeddings"]["38D_378R_2_3.tif"]),
    );
    assert!(d <= 1e-5);
}

#[test]
fn bad_checkpoints_fail_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let chip = s(&fixture("chips/38D_378R_2_3.tif"));
    let cfg = s(&fixture("msclip_tiny/open_clip_config.json"));
    let bytes = std::fs::read(tiny()).unwrap();

    let truncated = dir.path().join("truncated.safetensors");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let out = kestrel(&[
        "embed-images",
        "--model",
        &s(&truncated),
        "--config",
        &cfg,
        &chip,
    ]);
    assert_clean_failure(&out, &["truncated.safetensors", "damaged or truncated"]);

    let foreign = dir.path().join("notes.pt");
    std::fs::write(&foreign, "these are not weights\n").unwrap();
    let out = kestrel(&[
        "embed-images",
        "--model",
        &s(&foreign),
        "--config",
        &cfg,
        &chip,
    ]);
    assert_clean_failure(&out, &["notes.pt", "is not a model checkpoint"]);

    let missing = dir.path().join("missing.pt");
    let out = kestrel(&[
        "embed-images",
        "--model",
        &s(&missing),
        "--config",
        &cfg,
        &chip,
    ]);
    assert_clean_failure(&out, &["missing.pt"]);

    let shared_pt = repo().join("../shared/oracle/tiny/msclip_random.pt");
    if shared_pt.exists() {
        let pt = std::fs::read(&shared_pt).unwrap();
        let cut = dir.path().join("cut.pt");
        std::fs::write(&cut, &pt[..pt.len() - 4096]).unwrap();
        let out = kestrel(&["embed-images", "--model", &s(&cut), "--config", &cfg, &chip]);
        assert_clean_failure(&out, &["cut.pt", "damaged or truncated"]);
        // The released layout (three prefixes) loads and gives the same numbers.
        let lines = json_lines(&kestrel(&[
            "embed-images",
            "--json",
            "--model",
            &s(&shared_pt),
            "--config",
            &cfg,
            &chip,
        ]));
        let d = max_abs_diff(
            &f32s(&lines[0]["embedding"]),
            &f32s(&reference()["image_embeddings"]["38D_378R_2_3.tif"]),
        );
        assert!(d <= 1e-5);
    } else {
        eprintln!("skip: ../shared absent, no .pt checks");
    }
}

#[test]
fn bad_inputs_fail_clearly() {
    let model = s(&tiny());
    let out = kestrel(&["embed-text", "--model", &model, ""]);
    assert_clean_failure(&out, &["query is empty"]);
    let long = "satellite ".repeat(1000);
    let out = kestrel(&["embed-text", "--model", &model, &long]);
    assert_clean_failure(&out, &["too long", "1000 tokens", "75"]);
    let out = kestrel(&[
        "embed-text",
        "--model",
        &model,
        "--vocab",
        "/nonexistent/bpe.txt.gz",
        "river",
    ]);
    assert_clean_failure(&out, &["/nonexistent/bpe.txt.gz"]);

    let dir = tempfile::tempdir().unwrap();
    let three = dir.path().join("rgb.tif");
    {
        let drv = gdal::DriverManager::get_driver_by_name("GTiff").unwrap();
        let ds = drv
            .create_with_band_type::<i16, _>(&three, 32, 32, 3)
            .unwrap();
        for b in 1..=3 {
            let mut buf = gdal::raster::Buffer::new((32, 32), vec![b as i16 * 100; 32 * 32]);
            ds.rasterband(b)
                .unwrap()
                .write((0, 0), (32, 32), &mut buf)
                .unwrap();
        }
    }
    let out = kestrel(&[
        "embed-images",
        "--model",
        &model,
        "--config",
        &s(&fixture("msclip_tiny/open_clip_config.json")),
        &s(&three),
    ]);
    assert_clean_failure(
        &out,
        &["rgb.tif", "image has 3 bands; MS-CLIP needs 10 bands"],
    );
    let out = kestrel(&[
        "embed-images",
        "--model",
        &model,
        "--config",
        &s(&fixture("msclip_tiny/open_clip_config.json")),
        "/nonexistent/chip.tif",
    ]);
    assert_clean_failure(&out, &["/nonexistent/chip.tif"]);
    let out = kestrel(&[
        "classify",
        "--model",
        &model,
        "--classes",
        "forest",
        "forest",
        "--",
        &s(&fixture("chips/38D_378R_2_3.tif")),
    ]);
    assert_clean_failure(&out, &["given twice"]);
    let out = kestrel(&[
        "embed-images",
        "--model",
        &model,
        "--device",
        "cuda",
        &s(&fixture("chips/38D_378R_2_3.tif")),
    ]);
    if !cfg!(feature = "cuda") {
        assert_clean_failure(&out, &["--device cuda"]);
    }
    let on_cpu = |dtype: &str| {
        kestrel(&[
            "embed-images",
            "--model",
            &model,
            "--dtype",
            dtype,
            "--device",
            "cpu",
            &s(&fixture("chips/38D_378R_2_3.tif")),
        ])
    };
    assert_clean_failure(&on_cpu("f16"), &["only on a GPU"]);
    // bf16 runs on the CPU where it has AMX-BF16 or AVX512-BF16, else the error says what it
    // needs
    let out = on_cpu("bf16");
    if let Some(bf16) = kestrel::model::nn::isa::detected().bf16 {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "bf16 on a {} CPU failed: {err}",
            bf16.name()
        );
        assert!(
            err.contains(&format!("bf16 {}", bf16.name())),
            "the device line names the kernels: {err}"
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("38D_378R_2_3.tif\t32 dims"));
    } else {
        assert_clean_failure(&out, &["bf16 on the CPU needs AMX-BF16"]);
    }
}

#[test]
fn offline_without_model_says_how_to_pass_a_file() {
    let out = kestrel(&["embed-text", "river"]);
    assert_clean_failure(&out, &["HF_HUB_OFFLINE", "--model PATH"]);
}

#[test]
fn bench_model_prints_timings() {
    let cfg = s(&fixture("msclip_tiny/open_clip_config.json"));
    let lines = json_lines(&kestrel(&[
        "bench-model",
        "--json",
        "--config",
        &cfg,
        "--batch",
        "2",
        "--iters",
        "1",
        "--full-shape",
    ]));
    let r = &lines[0];
    assert!(r["image_img_per_s"].as_f64().unwrap() > 0.0);
    assert!(r["text_query_ms"].as_f64().unwrap() > 0.0);
    assert!(r["text_full_context_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(r["text_query_tokens"], 8);
    assert_eq!(r["batch"], 2);
    assert_eq!(r["device"], "cpu");
}

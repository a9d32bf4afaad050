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
    // Empty and over-long texts embed as open_clip embeds them, with a warning on stderr.
    let long = "satellite ".repeat(1000);
    let out = kestrel(&["embed-text", "--json", "--model", &model, "", &long]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("warning: text \"\": the text is empty"),
        "{err}"
    );
    assert!(
        err.contains("too long: it has 1000 tokens and only the first 75 are used"),
        "{err}"
    );
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 2);
    let ids = |v: &Value| -> Vec<u64> {
        v["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap())
            .collect()
    };
    assert_eq!(&ids(&lines[0])[..3], &[49406, 49407, 0]);
    let cut = ids(&lines[1]);
    assert_eq!((cut.len(), cut[76]), (77, 49407));
    let out = kestrel(&[
        "embed-text",
        "--model",
        &model,
        "--tokenizer",
        &s(&fixture("rsmclip_tiny/xlmr-test-tokenizer.json")),
        "river",
    ]);
    assert_clean_failure(&out, &["xlmr-test-tokenizer.json", "open_clip's BPE"]);
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

#[test]
fn models_lists_the_registry_and_what_is_cached() {
    let cache = tempfile::tempdir().unwrap();
    // Put one RemoteCLIP checkpoint into the hub cache layout: it is the only cached entry.
    let snap = cache
        .path()
        .join("models--chendelong--RemoteCLIP/snapshots/0123abc");
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::write(snap.join("RemoteCLIP-RN50.pt"), b"not read by `models`").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kestrel"))
        .args(["models", "--json"])
        .env("HF_HUB_CACHE", cache.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "llama3-ms-clip",
            "remoteclip-rn50",
            "remoteclip-vit-b-32",
            "remoteclip-vit-l-14",
            "rs-m-clip"
        ]
    );
    let cached: Vec<bool> = rows
        .iter()
        .map(|r| r["cached"].as_bool().unwrap())
        .collect();
    assert_eq!(cached, [false, true, false, false, false]);
    assert_eq!(
        rows[1]["checkpoint"].as_str().unwrap(),
        snap.join("RemoteCLIP-RN50.pt").display().to_string()
    );
    assert_eq!(
        rows[4]["missing"].as_str().unwrap(),
        "joaodaniel/RS-M-CLIP/open_clip_model.safetensors"
    );
    assert_eq!(rows[4]["languages"].as_array().unwrap().len(), 10);
}

#[test]
fn version_names_commit_features_kernels_and_gdal() {
    let out = kestrel(&["--version"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(concat!("kestrel ", env!("CARGO_PKG_VERSION")))
    );
    let keys: Vec<&str> = lines.filter_map(|l| l.split(':').next()).collect();
    assert_eq!(
        keys,
        ["git", "features", "cpu kernels", "gdal", "target"],
        "{text}"
    );
    assert!(text.contains("cpu kernels: f32 "), "{text}");
}

#[test]
fn embed_text_runs_rsmclip_with_a_local_hf_tokenizer() {
    let dir = fixture("rsmclip_tiny");
    let text = std::fs::read_to_string(dir.join("reference.json")).unwrap();
    let r: Value = serde_json::from_str(&text).unwrap();
    let queries = r["queries"].as_array().unwrap();
    let labels: Vec<&str> = queries
        .iter()
        .map(|q| q["label"].as_str().unwrap())
        .collect();
    let model = s(&dir.join("RSMCLIP-Tiny_random.safetensors"));
    let tok = s(&dir.join("xlmr-test-tokenizer.json"));
    let mut args = vec![
        "embed-text",
        "--json",
        "--model",
        &model,
        "--tokenizer",
        &tok,
    ];
    args.extend(&labels);
    let out = kestrel(&args);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    let lines = json_lines(&out);
    assert_eq!(lines.len(), queries.len());
    for (line, q) in lines.iter().zip(queries) {
        assert_eq!(line["ids"], q["ids"], "{}", q["label"]);
        assert!(
            max_abs_diff(&f32s(&line["embedding"]), &f32s(&q["embedding"])) <= 1e-5,
            "{}",
            q["label"]
        );
    }
    // The empty query and the 204-piece one are embedded as open_clip does, with warnings.
    assert!(err.contains("the text is empty"), "{err}");
    assert!(
        err.contains("it has 204 tokens and only the first 75"),
        "{err}"
    );
    // Without --tokenizer (none beside the checkpoint) the error names what is needed.
    let out = kestrel(&["embed-text", "--model", &model, "river"]);
    assert_clean_failure(&out, &["xlm-roberta-base", "--tokenizer"]);
}

#[test]
fn rgb_pictures_go_straight_into_an_rgb_model() {
    // RemoteCLIP-Tiny-RN's checkpoint and the oracle's 8-bit RGB chips live in ../shared.
    let shared = repo().join("../shared");
    let ckpt = shared.join("oracle/rgb/RemoteCLIP-Tiny-RN/RemoteCLIP-Tiny-RN_random.pt");
    let chips = shared.join("data/msclip-examples/rbg");
    if !ckpt.exists() || !chips.exists() {
        eprintln!("skip: {} or {} is absent", ckpt.display(), chips.display());
        return;
    }
    let reference: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("remoteclip_tiny_rn/reference.json")).unwrap(),
    )
    .unwrap();
    let config = s(&fixture("remoteclip_tiny_rn/open_clip_config.json"));
    let tif = chips.join("282D_485L_3_3.tif");
    // The same picture as a PNG (lossless), made with GDAL.
    let tmp = tempfile::tempdir().unwrap();
    let png = tmp.path().join("282D_485L_3_3.png");
    let made = Command::new("gdal_translate")
        .args(["-q", "-of", "PNG"])
        .arg(&tif)
        .arg(&png)
        .status()
        .unwrap();
    assert!(made.success());
    let out = kestrel(&[
        "embed-images",
        "--json",
        "--model",
        &s(&ckpt),
        "--config",
        &config,
        &s(&tif),
        &s(&png),
    ]);
    let lines = json_lines(&out);
    let want = f32s(&reference["image_embeddings"]["282D_485L_3_3.tif"]);
    assert_eq!(lines.len(), 2);
    for line in &lines {
        let got = f32s(&line["embedding"]);
        assert!(max_abs_diff(&got, &want) <= 1e-5, "{}", line["path"]);
    }
    // A multispectral file is refused with what to do instead.
    let out = kestrel(&[
        "embed-images",
        "--model",
        &s(&ckpt),
        "--config",
        &config,
        &s(&fixture("chips/637U_59R_1_3.tif")),
    ]);
    assert_clean_failure(&out, &["637U_59R_1_3.tif", "8-bit RGB", "kestrel index"]);
}

#[test]
fn bench_index_measures_each_precision_asked_for() {
    // the README's `kestrel bench-index SCENE [--rows N] [--dtype f32,bf16]`, with auto
    let demo = s(&repo().join("assets/demo/T33UUU_20170216_L1C"));
    let model = s(&tiny());
    let out = kestrel(&[
        "bench-index",
        "--model",
        &model,
        "--rows",
        "1",
        "--dtype",
        "f32,auto",
        "--json",
        &demo,
    ]);
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 2, "one report per precision");
    let (f32_run, auto_run) = (&lines[0], &lines[1]);
    assert_eq!(f32_run["precision"], "f32");
    assert!(f32_run["precision_choice"].is_null());
    assert_eq!(f32_run["tiles_per_s_vs_first_mode"], 1.0);
    // auto is bf16 where this CPU has a bf16 kernel, f32 elsewhere, and says which
    let want = if kestrel::model::nn::isa::detected().bf16.is_some() {
        "bf16"
    } else {
        "f32"
    };
    assert_eq!(auto_run["precision"], want);
    let why = auto_run["precision_choice"].as_str().unwrap();
    assert!(
        why.starts_with("auto precision: ") && why.contains(want),
        "{why}"
    );
    for r in &lines {
        // the demo scene is 7 tiles wide; the first row only
        assert_eq!(r["tiles"], 7, "{r}");
        assert!(r["tiles_per_s"].as_f64().unwrap() > 0.0);
        assert!(!r["cpu_kernels"].as_str().unwrap().is_empty());
    }
}

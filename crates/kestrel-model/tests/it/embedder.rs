//! The `Embedder` facade (what search and UI call): loading with a config found beside the
//! checkpoint, text and image embeddings, classifiers, errors, and the cached checkpoint
//! sha256.

use crate::common::*;

use std::path::{Path, PathBuf};

use kestrel_base::jobs::{CancelToken, NoProgress};
use kestrel_model::device::DevicePreference;
use kestrel_model::load::checkpoint::checkpoint_sha256_cached;
use kestrel_model::tasks::zeroshot::TemplateSet;
use kestrel_model::{Embedder, ModelSpec};
use serde_json::Value;

/// sha256 of the tiny safetensors fixture (ORACLE.md).
const TINY_SHA256: &str = "8b1c4aeb8669147bcabada668da34fe41d6bdbf188256343bbe7814e42a14356";

/// The tiny checkpoint copied into a fresh folder with its config beside it.
fn tiny_in_tempdir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().join("tiny.safetensors");
    std::fs::copy(fixture("msclip_tiny/msclip_random.safetensors"), &ck).unwrap();
    std::fs::copy(
        fixture("msclip_tiny/open_clip_config.json"),
        dir.path().join("open_clip_config.json"),
    )
    .unwrap();
    (dir, ck)
}

fn load(ck: &Path) -> Embedder {
    let spec = ModelSpec {
        checkpoint: Some(ck.to_path_buf()),
        device: DevicePreference::Cpu,
        ..Default::default()
    };
    Embedder::load(&spec, &NoProgress, &CancelToken::new()).unwrap()
}

#[test]
fn embedder_end_to_end_on_the_tiny_model() {
    let r = reference();
    let (_dir, ck) = tiny_in_tempdir();
    let e = load(&ck);
    assert_eq!(e.model_name(), "tiny");
    assert_eq!(e.embed_dim(), 32);
    assert_eq!(e.image_len(), 10 * 224 * 224);
    assert!(e.device_description().starts_with("CPU"));

    let texts: Vec<&str> = r["queries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["text"].as_str().unwrap())
        .collect();
    let out = e.embed_texts(&texts).unwrap();
    for (t, q) in out.iter().zip(r["queries"].as_array().unwrap()) {
        let want_ids: Vec<u32> = q["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(t.ids, want_ids);
        assert!(max_abs_diff(&t.embedding, &f32s(&q["embedding"])) <= 1e-5);
    }

    let names: Vec<String> = r["images"].as_object().unwrap().keys().cloned().collect();
    let mut batch = Vec::new();
    for n in &names {
        batch.extend(
            e.preprocess(&read_chip(&fixture(&format!("chips/{n}"))))
                .unwrap(),
        );
    }
    let images = e.embed_images(&batch, names.len()).unwrap();
    let classes: Vec<String> = r["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    let clf = e.classifier(&classes, TemplateSet::Msclip).unwrap();
    for (c, v) in clf.classes.iter().zip(&clf.vectors) {
        assert!(
            max_abs_diff(v, &f32s(&r["zero_shot"]["classifier"][c])) <= 1e-5,
            "{c}"
        );
    }
    for (n, img) in names.iter().zip(&images) {
        assert!(max_abs_diff(img, &f32s(&r["image_embeddings"][n])) <= 1e-5);
        let want = &r["zero_shot"]["per_image"][n];
        assert!(max_abs_diff(&clf.probs(img), &f32s(&want["probs"])) <= 1e-4);
        assert_eq!(clf.top(img).unwrap().1, want["top_class"].as_str().unwrap());
    }
}

#[test]
fn embedder_rejects_bad_requests() {
    let (_dir, ck) = tiny_in_tempdir();
    let e = load(&ck);
    // Empty and over-long texts embed as open_clip embeds them, with a warning.
    let long = "x ".repeat(200);
    let t = e.embed_texts(&["river", "   ", long.as_str()]).unwrap();
    assert_eq!(t[0].warning, None);
    assert!(t[1].warning.as_ref().unwrap().contains("empty"));
    assert_eq!(&t[1].ids[..3], &[49406, 49407, 0]);
    assert!(t[2].warning.as_ref().unwrap().contains("200 tokens"));
    assert_eq!(t[2].ids, e.tokenizer().as_clip().unwrap().encode(&long));
    let alone = e.embed_texts(&[long.as_str()]).unwrap();
    if cfg!(target_arch = "x86_64") {
        // Kestrel's packed kernels: a text's embedding does not depend on its batch
        assert_eq!(alone[0].embedding, t[2].embedding);
    } else {
        // candle's gemm elsewhere (aarch64 under qemu: differences of ~4e-8) blocks its
        // sums by the batch's shape
        let d = max_abs_diff(&alone[0].embedding, &t[2].embedding);
        assert!(d <= 1e-6, "batched vs alone: {d}");
    }
    let err = e
        .classifier(&[], TemplateSet::Msclip)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no class names"), "{err}");
    let err = e
        .classifier(&["forest".into(), "".into()], TemplateSet::None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("class name 2 is empty"), "{err}");
    let err = e.embed_images(&[0.0; 10], 1).unwrap_err().to_string();
    assert!(err.contains("image batch has 10 values"), "{err}");
}

#[test]
fn checkpoint_sha256_is_cached_by_size_and_mtime() {
    let (dir, ck) = tiny_in_tempdir();
    assert_eq!(load(&ck).checkpoint_sha256().unwrap(), TINY_SHA256);
    let root = dir.path().join("cache");
    let sha = |root: Option<&Path>| {
        checkpoint_sha256_cached(&ck, root, &NoProgress, &CancelToken::new()).unwrap()
    };
    assert_eq!(sha(Some(&root)), TINY_SHA256);
    // One record in the cache root, none next to the checkpoint.
    let records: Vec<PathBuf> = std::fs::read_dir(root.join("sha256"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(records.len(), 1);
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.contains("sha256")), "{names:?}");
    let mut record: Value =
        serde_json::from_str(&std::fs::read_to_string(&records[0]).unwrap()).unwrap();
    assert_eq!(record["sha256"], TINY_SHA256);
    assert_eq!(record["size"], std::fs::metadata(&ck).unwrap().len());

    // While size and mtime match, the record is trusted (proved with a planted value)...
    record["sha256"] = Value::String("ab".repeat(32));
    std::fs::write(&records[0], record.to_string()).unwrap();
    assert_eq!(sha(Some(&root)), "ab".repeat(32));
    assert_eq!(sha(None), TINY_SHA256);
    // ...and a changed modification time makes it recompute.
    let f = std::fs::File::options().write(true).open(&ck).unwrap();
    f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
        .unwrap();
    drop(f);
    assert_eq!(sha(Some(&root)), TINY_SHA256);
}

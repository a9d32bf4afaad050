//! Helpers shared by the integration tests: fixture paths, the tiny oracle's reference,
//! JSON number lists and tolerances. (Each test module uses a different subset.)

use std::path::PathBuf;

use serde_json::Value;

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A file under `tests/fixtures`.
pub fn fixture(p: &str) -> PathBuf {
    repo().join("tests/fixtures").join(p)
}

/// The tiny oracle's `reference.json`.
pub fn reference() -> Value {
    let text =
        std::fs::read_to_string(fixture("msclip_tiny/reference.json")).expect("reference.json");
    serde_json::from_str(&text).expect("reference.json is JSON")
}

pub fn f32s(v: &Value) -> Vec<f32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect()
}

/// Largest absolute difference of two equally long vectors.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Run the kestrel binary with `args`, its cache in `cache` and the hub offline.
pub fn kestrel(cache: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_kestrel"))
        .args(args)
        .env("KESTREL_CACHE_DIR", cache)
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .unwrap()
}

/// The stdout of a run that must have succeeded (else its stderr in the failure).
pub fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

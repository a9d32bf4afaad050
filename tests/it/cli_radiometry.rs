//! `embed-images` feeds the model what the viewer shows: with `--radiometry auto` (the
//! default) the raster module's harmonisation applies, with `raw` the stored DN (what
//! upstream MS-CLIP inference and the oracle use). The MS-CLIP example chip 433D_629L_3_1
//! carries the +1000 BOA offset (every band's floor sits near 1000 DN), the other four do not.

use std::path::PathBuf;
use std::process::Command;

use kestrel::jobs::{CancelToken, NoProgress};
use kestrel::model::device::DevicePreference;
use kestrel::model::{Embedder, ModelSpec};
use kestrel::search::images::read_image;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn embed_cli(chip: &str, radiometry: &str) -> Vec<f32> {
    let out = Command::new(env!("CARGO_BIN_EXE_kestrel"))
        .args([
            "embed-images",
            "--json",
            "--radiometry",
            radiometry,
            "--model",
        ])
        .arg(repo().join("tests/fixtures/msclip_tiny/msclip_random.safetensors"))
        .arg(repo().join("tests/fixtures/chips").join(chip))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["embedding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn max_abs(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn auto_radiometry_removes_the_offset_of_433d_and_leaves_the_others() {
    let model = Embedder::load(
        &ModelSpec {
            checkpoint: Some(repo().join("tests/fixtures/msclip_tiny/msclip_random.safetensors")),
            device: DevicePreference::Cpu,
            ..ModelSpec::default()
        },
        &NoProgress,
        &CancelToken::new(),
    )
    .unwrap();
    let chip = repo().join("tests/fixtures/chips/433D_629L_3_1.tif");
    let mut raw = read_image(&chip).unwrap();
    let raw_emb = model
        .embed_images(&model.preprocess(&raw).unwrap(), 1)
        .unwrap()
        .remove(0);
    // harmonised by hand: stored DN - 1000 (the chip has no DN 0)
    assert!(raw.data.iter().all(|v| *v != 0.0));
    raw.data.iter_mut().for_each(|v| *v -= 1000.0);
    let harmonised = model
        .embed_images(&model.preprocess(&raw).unwrap(), 1)
        .unwrap()
        .remove(0);

    let auto = embed_cli("433D_629L_3_1.tif", "auto");
    let stored = embed_cli("433D_629L_3_1.tif", "raw");
    assert!(max_abs(&stored, &raw_emb) <= 1e-5);
    assert!(
        max_abs(&auto, &harmonised) <= 1e-5,
        "{}",
        max_abs(&auto, &harmonised)
    );
    assert!(
        max_abs(&auto, &stored) > 1e-2,
        "the offset must change the embedding"
    );

    // a chip without the offset embeds the same either way
    let a = embed_cli("38D_378R_2_3.tif", "auto");
    let r = embed_cli("38D_378R_2_3.tif", "raw");
    assert!(max_abs(&a, &r) <= 1e-6, "{}", max_abs(&a, &r));
}

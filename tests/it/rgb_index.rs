//! An RGB model (RemoteCLIP's ModifiedResNet, tiny seeded weights) indexes a Sentinel-2 scene
//! through the fixed true-colour mapping: every embedded tile equals the embedding of the
//! tile's B04/B03/B02 mapped in this test by the documented formula
//! (`round(255 · clamp(2.5 · DN / 10000, 0, 1))`), and the shard records the mapping.

use std::path::PathBuf;
use std::process::Command;

use kestrel::jobs::{CancelToken, NoProgress};
use kestrel::model::tasks::embedder::{Embedder, ModelSpec};
use kestrel::model::tasks::preprocess::RawImage;
use kestrel::raster::read::{ReadRequest, Window};
use kestrel::raster::{S2Band, Scene};
use kestrel::search::geoparquet;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn rgb_model_indexes_true_colour_tiles() {
    let ckpt = repo().join("../shared/oracle/rgb/RemoteCLIP-Tiny-RN/RemoteCLIP-Tiny-RN_random.pt");
    if !ckpt.exists() {
        eprintln!(
            "skip: {} is absent (the RGB oracle lives in ../shared)",
            ckpt.display()
        );
        return;
    }
    let config = repo().join("tests/fixtures/remoteclip_tiny_rn/open_clip_config.json");
    let demo = repo().join("assets/demo/T33UUU_20170216_L1C");
    let tmp = tempfile::tempdir().unwrap();
    let shard = tmp.path().join("demo_rgb.parquet");
    let out = Command::new(env!("CARGO_BIN_EXE_kestrel"))
        .arg("index")
        .arg("--model")
        .arg(&ckpt)
        .arg("--config")
        .arg(&config)
        .arg("--out")
        .arg(&shard)
        .arg(&demo)
        .env("KESTREL_CACHE_DIR", tmp.path().join("cache"))
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (meta, tiles) = geoparquet::read_index(&shard).unwrap();
    assert_eq!(meta.bands, ["B04", "B03", "B02"]);
    assert!(
        meta.harmonisation
            .contains(kestrel::search::rgb8::MAPPING_ID),
        "{}",
        meta.harmonisation
    );

    let embedder = Embedder::load(
        &ModelSpec {
            checkpoint: Some(ckpt.clone()),
            config: Some(config.clone()),
            ..ModelSpec::default()
        },
        &NoProgress,
        &CancelToken::new(),
    )
    .unwrap();
    let scene = Scene::open(&demo, &CancelToken::new()).unwrap();
    let bands = scene
        .require_bands(&[S2Band::B04, S2Band::B03, S2Band::B02])
        .unwrap();
    let mut checked = 0;
    for t in tiles.iter().filter(|t| t.embedding.is_some()) {
        let window = Window::new(t.px_x0, t.px_y0, t.px_width as usize, t.px_height as usize);
        let read = scene
            .reader()
            .read(
                &ReadRequest::full_resolution(bands.clone(), window),
                &CancelToken::new(),
            )
            .unwrap();
        let data: Vec<f32> = read
            .data
            .iter()
            .map(|&dn| {
                if dn.is_finite() {
                    let reflectance = f64::from(dn) / 10_000.0;
                    (255.0 * (2.5 * reflectance).clamp(0.0, 1.0)).round() as f32
                } else {
                    f32::NAN
                }
            })
            .collect();
        let img = RawImage {
            source: demo.clone(),
            data,
            bands: vec![None; 3],
            width: t.px_width as usize,
            height: t.px_height as usize,
        };
        let x = embedder.preprocess(&img).unwrap();
        let want = &embedder.embed_images(&x, 1).unwrap()[0];
        let got = t.embedding.as_ref().unwrap();
        let diff = want
            .iter()
            .zip(got)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(diff <= 1e-5, "tile r{} c{}: {diff}", t.row, t.col);
        checked += 1;
    }
    assert!(checked >= 20, "{checked} tiles embedded");
}

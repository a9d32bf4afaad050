//! Headless UI test of the archive search (egui_kittest): two shards written by `kestrel
//! index --out-dir` (the demo scene and a MajorTOM chip, tiny seeded MS-CLIP) are searched
//! from the viewer with no scene open; the hits equal the exact ranking this test computes
//! from the shards read whole, and clicking the best hit opens its scene, selected.

use std::path::PathBuf;
use std::process::Command;

use super::{repo, step_until};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use kestrel::model::tasks::retrieval;
use kestrel::search::geoparquet;
use kestrel::ui::KestrelApp;
use kestrel::ui::app::Settings;
use kestrel::ui::basemap::BasemapChoice;

#[test]
fn search_a_folder_of_shards_and_open_the_best_hit() {
    let tmp = tempfile::tempdir().unwrap();
    let shards = tmp.path().join("shards");
    let model = "tests/fixtures/msclip_tiny/msclip_random.safetensors";
    let demo = repo().join("assets/demo/T33UUU_20170216_L1C");
    let chip = repo().join("tests/fixtures/chips/637U_59R_1_3.tif");
    let out = Command::new(env!("CARGO_BIN_EXE_kestrel"))
        .args(["index", "--model", model, "--out-dir"])
        .arg(&shards)
        .arg(&demo)
        .arg(&chip)
        .env("KESTREL_CACHE_DIR", tmp.path().join("cache"))
        .env("HF_HUB_OFFLINE", "1")
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(&shards)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2);

    let mut settings = Settings {
        basemap: BasemapChoice::Plain,
        ..Settings::default()
    };
    settings.search.checkpoint = model.into();
    settings.search.top_n = 8;
    let cache_root = tmp.path().join("cache");
    let mut h = Harness::builder()
        .with_size([1400.0, 900.0])
        .wgpu()
        .build_eframe(move |cc| {
            KestrelApp::with_settings(&cc.egui_ctx, settings, vec![])
                .with_cache_root(cache_root)
                .with_hub_cache(super::empty_hub_cache())
        });
    step_until(&mut h, "the picker", |a| a.search.models_checked());
    h.get_by_label("Load model").click();
    h.run_steps(2);
    step_until(&mut h, "the model", |a| {
        a.search.model().is_some() || !a.messages.is_empty()
    });

    h.get_by_label("Search an archive of shards").click();
    h.run_steps(2);
    let q = "a river between fields";
    h.state_mut().search.archive.folder = shards.display().to_string();
    h.state_mut().search.archive.query = q.into();
    h.run_steps(1);
    h.get_by_label("Search archive").click();
    h.run_steps(2);
    step_until(&mut h, "the archive search", |a| {
        a.search.archive.hits().is_some() || !a.messages.is_empty()
    });
    assert!(h.state().messages.is_empty(), "{:?}", h.state().messages);

    // the exact ranking over both shards read whole, in file order
    let mut tiles = Vec::new();
    for f in &files {
        tiles.extend(geoparquet::read_index(f).unwrap().1);
    }
    let embedder = h.state().search.model().unwrap().clone();
    let want = retrieval::rank(&retrieval::score(
        tiles.iter().map(|t| t.embedding.as_deref()),
        &embedder.embed_query(q).unwrap(),
    ));
    let hits = h.state().search.archive.hits().unwrap().clone();
    assert_eq!(hits.scored, 22, "21 embedded demo tiles + the chip");
    let got: Vec<(String, u32, u32, f32)> = hits
        .ranking
        .ranked
        .iter()
        .map(|&(i, s)| {
            let t = &hits.tiles[i];
            (t.scene_id.clone(), t.row, t.col, s)
        })
        .collect();
    let expected: Vec<(String, u32, u32, f32)> = want
        .iter()
        .take(8)
        .map(|&(i, s)| (tiles[i].scene_id.clone(), tiles[i].row, tiles[i].col, s))
        .collect();
    assert_eq!(got, expected);
    // the device line names the machine's threads, the folder is temporary: masked
    let device_line = h.get_by_label_contains("threads").rect();
    h.mask(device_line);
    let folder = h.get_by_label("Folder").rect();
    h.mask(egui::Rect::from_min_max(
        folder.min,
        egui::pos2(folder.max.x + 170.0, folder.max.y),
    ));
    h.snapshot("archive_search");

    // the best hit opens its scene
    let (best, _) = hits.ranking.ranked[0];
    let (_, scene) = hits.source_of(&hits.tiles[best]).unwrap();
    let scene = PathBuf::from(scene);
    h.get_by_label_contains("  1. ").click();
    h.run_steps(2);
    step_until(&mut h, "the hit's scene", |a| {
        a.layers.first().is_some_and(|l| l.scene.is_some())
    });
    let app = h.state();
    assert_eq!(app.layers.len(), 1);
    assert_eq!(
        std::fs::canonicalize(&app.layers[0].path).unwrap(),
        std::fs::canonicalize(&scene).unwrap()
    );
    assert_eq!(app.active, Some(app.layers[0].id));
}

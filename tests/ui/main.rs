//! Headless UI tests (egui_kittest, rendered through wgpu on lavapipe), one binary: the
//! viewer on the bundled demo scene, the swipe between layers, the model picker, the search,
//! labelling, two-model comparison and archive search with the tiny models, with snapshots
//! in `tests/snapshots`; the helpers they share are here.

mod across;
mod archive;
mod basemap;
mod compare;
mod find;
mod labels;
mod models;
mod search;
mod session;
mod swipe;
mod viewer;

#[path = "../common/stac_fixture.rs"]
mod stac_fixture;

/// A hub cache with nothing in it (never created), so the model picker shows "not
/// downloaded" whatever this machine has downloaded.
fn empty_hub_cache() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("empty-hub-cache")
}

/// The repository root.
fn repo() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The bundled demo scene.
fn demo() -> std::path::PathBuf {
    repo().join("assets/demo/T33UUU_20170216_L1C")
}

/// Step the UI until `done` holds (background jobs run on real threads); fails after 180 s
/// with the app's messages.
fn step_until(
    h: &mut egui_kittest::Harness<'_, kestrel::ui::KestrelApp>,
    what: &str,
    done: impl Fn(&kestrel::ui::KestrelApp) -> bool,
) {
    let t0 = std::time::Instant::now();
    while !done(h.state()) {
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(180),
            "timed out waiting for {what}; messages: {:?}",
            h.state().messages
        );
        h.step();
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    h.run_steps(3);
}

/// The tiny seeded RS-M-CLIP as a user keeps a downloaded model, in `dir/rsm`: config and
/// tokenizer beside the checkpoint. Returns the checkpoint.
fn rsm_tiny_in(dir: &std::path::Path) -> std::path::PathBuf {
    let fx = repo().join("tests/fixtures/rsmclip_tiny");
    let model_dir = dir.join("rsm");
    std::fs::create_dir_all(&model_dir).unwrap();
    for (from, to) in [
        (
            "RSMCLIP-Tiny_random.safetensors",
            "RSMCLIP-Tiny_random.safetensors",
        ),
        ("open_clip_config.json", "open_clip_config.json"),
        ("text_hf_config.json", "text_hf_config.json"),
        ("xlmr-test-tokenizer.json", "tokenizer.json"),
    ] {
        std::fs::copy(fx.join(from), model_dir.join(to)).unwrap();
    }
    model_dir.join("RSMCLIP-Tiny_random.safetensors")
}

/// The viewer on `files` with the offline basemap, no stored settings and an empty hub
/// cache.
fn harness(
    files: Vec<std::path::PathBuf>,
) -> egui_kittest::Harness<'static, kestrel::ui::KestrelApp> {
    egui_kittest::Harness::builder()
        .with_size([1280.0, 800.0])
        .wgpu()
        .build_eframe(move |cc| {
            kestrel::ui::KestrelApp::new(
                cc,
                kestrel::ui::AppOptions {
                    basemap: Some(kestrel::ui::basemap::BasemapChoice::Plain),
                    fresh_settings: true,
                },
                files,
            )
            .with_hub_cache(empty_hub_cache())
        })
}

/// Two layers open, each drawn in its current style, nothing rendering.
fn two_settled(app: &kestrel::ui::KestrelApp) -> bool {
    app.layers.len() == 2
        && app
            .layers
            .iter()
            .all(|l| !l.is_busy() && l.overview.as_ref().is_some_and(|t| t.style == l.style))
}

/// A primary-button drag from `from` to `to`, a frame for each event, then `settle` frames.
fn drag(
    h: &mut egui_kittest::Harness<'_, kestrel::ui::KestrelApp>,
    from: egui::Pos2,
    to: egui::Pos2,
    settle: usize,
) {
    h.hover_at(from);
    h.run_steps(1);
    h.drag_at(from);
    h.run_steps(1);
    h.hover_at(to);
    h.run_steps(1);
    h.drop_at(to);
    h.run_steps(settle);
}

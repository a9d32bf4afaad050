//! Headless UI test of searching all open scenes (egui_kittest): the demo scene and a
//! MajorTOM chip, both indexed with the tiny seeded MS-CLIP, searched as one: the one list
//! equals the core's ranking of the two indexes' tiles concatenated in layer order, each
//! scene's heatmap is its part of it, and a hit of the other scene selects that scene.

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use kestrel::model::tasks::retrieval;
use kestrel::ui::KestrelApp;
use kestrel::ui::app::Settings;
use kestrel::ui::basemap::BasemapChoice;

use super::{demo, repo, step_until};

#[test]
fn one_query_over_all_open_scenes() {
    let tmp = tempfile::tempdir().unwrap();
    let mut settings = Settings {
        basemap: BasemapChoice::Plain,
        ..Settings::default()
    };
    settings.search.checkpoint = "tests/fixtures/msclip_tiny/msclip_random.safetensors".into();
    let chip = repo().join("tests/fixtures/chips/637U_59R_1_3.tif");
    let cache_root = tmp.path().join("cache");
    let mut h = Harness::builder()
        .with_size([1400.0, 1000.0])
        .wgpu()
        .build_eframe(move |cc| {
            KestrelApp::with_settings(&cc.egui_ctx, settings, vec![demo(), chip])
                .with_cache_root(cache_root)
                .with_hub_cache(super::empty_hub_cache())
        });
    step_until(&mut h, "both scenes", |a| {
        a.layers.len() == 2
            && a.layers
                .iter()
                .all(|l| l.overview.is_some() && !l.is_busy())
            && a.search.models_checked()
    });
    let (demo_id, chip_id) = (h.state().layers[0].id, h.state().layers[1].id);
    h.get_by_label("Load model").click();
    h.run_steps(2);
    step_until(&mut h, "the model", |a| {
        a.search.model().is_some() || !a.messages.is_empty()
    });
    for id in [chip_id, demo_id] {
        h.state_mut().active = Some(id);
        h.run_steps(2);
        h.get_by_label("Index scene").click();
        h.run_steps(2);
        step_until(&mut h, "an index", move |a| a.search.index_of(id).is_some());
    }
    // Ctrl+F puts the cursor in the query box
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::F);
    h.run_steps(2);
    let query_box = kestrel::ui::search::query_box_id();
    assert!(h.ctx.memory(|m| m.has_focus(query_box)));
    h.key_press(egui::Key::Escape);
    h.run_steps(1);
    // the demo is selected; search both
    h.get_by_label("all open scenes").click();
    let q = "a river between fields";
    h.state_mut().search.query = q.into();
    h.get_by_label("Search tiles").click();
    h.run_steps(2);
    step_until(&mut h, "the query over both", |a| {
        a.search.across().is_some() || !a.messages.is_empty()
    });
    assert!(h.state().messages.is_empty(), "{:?}", h.state().messages);

    let app = h.state();
    let a = app.search.across().unwrap().clone();
    let ids: Vec<_> = a.layers.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, [demo_id, chip_id], "layer order");
    let demo_ix = app.search.index_of(demo_id).unwrap().clone();
    let chip_ix = app.search.index_of(chip_id).unwrap().clone();
    let tiles: Vec<_> = demo_ix.tiles.iter().chain(&chip_ix.tiles).collect();
    let model = app.search.model().unwrap().clone();
    let want = retrieval::rank(&retrieval::score(
        tiles.iter().map(|t| t.embedding.as_deref()),
        &model.embed_query(q).unwrap(),
    ));
    assert_eq!(a.ranking.all.ranked, want);
    assert_eq!(want.len(), 22, "21 demo tiles + the chip");
    // each scene's part: its own tiles, the same scores
    let n = demo_ix.tiles.len();
    let chip_part: Vec<(usize, f32)> = want
        .iter()
        .filter(|(i, _)| *i >= n)
        .map(|&(i, s)| (i - n, s))
        .collect();
    assert_eq!(a.part(chip_id).unwrap().ranked, chip_part);
    assert_eq!(a.part(demo_id).unwrap().ranked.len(), 21);
    assert_eq!(app.search.result_layers(), [demo_id, chip_id]);
    assert!(
        h.query_by_label("All 2 open scenes: 22 tiles ranked")
            .is_some()
    );
    let device_line = h.get_by_label_contains("threads").rect();
    h.mask(device_line);
    h.snapshot("search_all_scenes");

    // the export is the one list, with both scenes
    let csv_path = tmp.path().join("both.csv");
    let ctx = h.ctx.clone();
    assert!(h.state_mut().search.export_to(
        csv_path.clone(),
        kestrel::search::session::ExportFormat::Csv,
        &ctx
    ));
    step_until(&mut h, "the export", |a| !a.search.is_exporting());
    let mut r = csv::Reader::from_path(&csv_path).unwrap();
    let head = r.headers().unwrap().clone();
    let col = |n: &str| head.iter().position(|x| x == n).unwrap();
    let (score, scene) = (col("score"), col("scene_id"));
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 22);
    let scenes: std::collections::BTreeSet<&str> = rows.iter().map(|r| &r[scene]).collect();
    assert_eq!(scenes.len(), 2);
    assert_eq!(rows[0][score].parse::<f32>().unwrap(), want[0].1);

    // the chip's hit, wherever it ranks, selects the chip
    let chip_rank = want.iter().position(|(i, _)| *i >= n).unwrap() + 1;
    h.get_by_label_contains(&format!("{chip_rank:>3}. 637U_59R_1_3.tif r0 c0"))
        .click();
    h.run_steps(3);
    assert_eq!(h.state().active, Some(chip_id));
}

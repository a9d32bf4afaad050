//! Headless UI test of comparing two models (egui_kittest): the tiny seeded MS-CLIP (A, 10
//! bands) searches the demo scene for a text; the tiny seeded RS-M-CLIP (B, RGB through the
//! true-colour mapping) is loaded from a local file in the "Compare with another model"
//! section, indexes the scene and answers the same text. B's ranking equals the core's
//! ranking with B's own query embedding, the panel shows the core's agreement of the two
//! top-N lists, and both views (swipe on the map, side-by-side grids) are snapshot.

use super::{repo, step_until};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use kestrel::model::tasks::retrieval;
use kestrel::search::agreement::Agreement;
use kestrel::ui::KestrelApp;
use kestrel::ui::app::Settings;
use kestrel::ui::basemap::BasemapChoice;

#[test]
fn compare_two_models_on_one_query_swipe_and_side_by_side() {
    let tmp = tempfile::tempdir().unwrap();
    let checkpoint_b = super::rsm_tiny_in(tmp.path());
    let mut settings = Settings {
        basemap: BasemapChoice::Plain,
        ..Settings::default()
    };
    settings.search.checkpoint = "tests/fixtures/msclip_tiny/msclip_random.safetensors".into();
    // top 5 of the 21 embedded tiles: an agreement that can be partial
    settings.search.top_n = 5;
    let demo = repo().join("assets/demo/T33UUU_20170216_L1C");
    let cache_root = tmp.path().join("cache");
    let mut h = Harness::builder()
        .with_size([1400.0, 1300.0])
        .wgpu()
        .build_eframe(move |cc| {
            KestrelApp::with_settings(&cc.egui_ctx, settings, vec![demo])
                .with_cache_root(cache_root)
                .with_hub_cache(super::empty_hub_cache())
        });
    step_until(&mut h, "the scene", |a| {
        a.layers
            .first()
            .is_some_and(|l| l.overview.is_some() && !l.is_busy())
            && a.search.models_checked()
    });
    let layer = h.state().layers[0].id;

    // model A: index and search
    h.get_by_label("Load model").click();
    h.run_steps(2);
    step_until(&mut h, "model A", |a| {
        a.search.model().is_some() || !a.messages.is_empty()
    });
    h.get_by_label("Index scene").click();
    h.run_steps(2);
    step_until(&mut h, "A's index", move |a| {
        a.search.index_of(layer).is_some()
    });
    let q = "a river between fields";
    h.state_mut().search.query = q.into();
    h.get_by_label("Search tiles").click();
    h.run_steps(2);
    step_until(&mut h, "A's ranking", |a| a.search.result().is_some());

    // model B from a local file, in the comparison section
    h.get_by_label("Compare with another model").click();
    h.run_steps(2);
    assert_eq!(h.state().search.compare.model_id, "rs-m-clip");
    h.state_mut().search.compare.checkpoint = checkpoint_b.display().to_string();
    let load_b = h.get_by_label("Load model B").rect().center();
    h.get_by_label("Load model B").click();
    h.run_steps(2);
    step_until(&mut h, "B's ranking", move |a| {
        a.search.compared(layer).is_some() || !a.messages.is_empty()
    });
    assert!(h.state().messages.is_empty(), "{:?}", h.state().messages);

    let app = h.state();
    let c = app.search.compared(layer).unwrap();
    let b_model = app.search.compare.model().unwrap().clone();
    assert!(b_model.config().hf_text().is_some(), "B is RS-M-CLIP");
    assert_eq!(c.b_index.meta.embed_dim, 32);
    assert_eq!(c.b_index.tiles.len(), c.a_index.tiles.len());
    // B's ranking is the core's with B's own query embedding
    let want = retrieval::rank(&retrieval::score(
        c.b_index.tiles.iter().map(|t| t.embedding.as_deref()),
        &b_model.embed_query(q).unwrap(),
    ));
    assert_eq!(c.b.ranked, want);
    assert_ne!(c.a.ranked, c.b.ranked, "two different models");
    let top = app.search.settings.top_n;
    let g = Agreement::of_rankings(&c.a_index.tiles, c.a, &c.b_index.tiles, c.b, top);
    assert_eq!((g.common, g.n), (21, 5));
    let summary = g.summary();
    assert!(h.query_by_label(&summary).is_some(), "shows {summary}");

    // swipe: the divider dragged from the middle to 40 % of the map
    assert_eq!(h.state().search.compare.swipe, 0.5);
    let map = h.state().map_rect;
    let centre = h.state().view_centre();
    let y = map.center().y + 60.0;
    super::drag(
        &mut h,
        egui::pos2(map.center().x, y),
        egui::pos2(map.center().x - 0.1 * map.width(), y),
        2,
    );
    let at = h.state().search.compare.swipe;
    assert!((at - 0.4).abs() < 0.01, "divider at {at}");
    assert_eq!(h.state().view_centre(), centre, "the map did not pan");
    // the pointer back where the last click left it, for the snapshot
    h.hover_at(load_b);
    h.state_mut().search.compare.swipe = 0.4;
    h.run_steps(3);
    mask_machine_lines(&mut h);
    h.snapshot("compare_swipe");

    h.get_by_label("Side by side").click();
    h.run_steps(3);
    mask_machine_lines(&mut h);
    h.snapshot("compare_side_by_side");
}

/// Mask the device lines (the machine's thread count) and B's temporary checkpoint path.
fn mask_machine_lines(h: &mut Harness<'_, KestrelApp>) {
    let mut rects: Vec<egui::Rect> = h
        .query_all_by_label_contains("threads")
        .map(|n| n.rect())
        .collect();
    let r = h.get_by_label("Checkpoint B").rect();
    rects.push(egui::Rect::from_min_max(
        r.min,
        egui::pos2(1400.0, r.max.y + 2.0),
    ));
    for r in rects {
        h.mask(r);
    }
}

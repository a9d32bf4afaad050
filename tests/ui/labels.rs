//! Headless UI test of the analyst's loop (egui_kittest): label tiles with the panel's
//! buttons and keys, see the labels saved next to the index and reloaded when the scene is
//! indexed again in a new window, step through the top hits with the validation keys
//! (accept / reject / skip), and train the linear probe, whose probabilities become the
//! ranking (heatmap, gallery of hit chips, list). The model is the seeded random tiny MS-CLIP.

use std::path::Path;

use super::{repo, step_until};
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT as _, Queryable as _};
use kestrel::search::labels::{self, Label};
use kestrel::search::session::ProbeQuery;
use kestrel::ui::KestrelApp;
use kestrel::ui::app::Settings;
use kestrel::ui::basemap::BasemapChoice;

/// A window on the demo scene with the tiny model loaded and the scene indexed.
fn indexed_app(cache: &Path) -> Harness<'static, KestrelApp> {
    let mut settings = Settings {
        basemap: BasemapChoice::Plain,
        ..Settings::default()
    };
    settings.search.checkpoint = "tests/fixtures/msclip_tiny/msclip_random.safetensors".into();
    settings.search.top_n = 3;
    let demo = repo().join("assets/demo/T33UUU_20170216_L1C");
    let cache_root = cache.to_path_buf();
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
    h.get_by_label("Load model").click();
    h.run_steps(2);
    step_until(&mut h, "the model", |a| a.search.model().is_some());
    h.get_by_label("Index scene").click();
    h.run_steps(2);
    let layer = h.state().layers[0].id;
    step_until(&mut h, "the index", move |a| {
        a.search.labels_of(layer).is_some()
    });
    h
}

#[test]
fn label_validate_probe_and_reload() {
    let cache = tempfile::tempdir().unwrap();
    let mut h = indexed_app(cache.path());
    let layer = h.state().layers[0].id;
    let index = h.state().search.index_of(layer).unwrap().clone();
    let emb: Vec<usize> = (0..index.tiles.len())
        .filter(|&i| index.tiles[i].embedding.is_some())
        .collect();
    assert!(h.state().search.labels_of(layer).unwrap().is_empty());

    // a button and a key label the selected tile
    h.state_mut().search.select_tile(layer, emb[0]);
    h.run_steps(2);
    h.get_by_label("positive (P)").click();
    h.run_steps(2);
    h.state_mut().search.select_tile(layer, emb[1]);
    h.run_steps(2);
    h.key_press(egui::Key::N);
    h.run_steps(2);
    h.state_mut().search.select_tile(layer, emb[2]);
    h.run_steps(2);
    h.key_press(egui::Key::P);
    h.run_steps(2);
    let label_of = |h: &Harness<'_, KestrelApp>, i: usize| {
        h.state()
            .search
            .labels_of(layer)
            .unwrap()
            .get(&index.tiles[i])
            .cloned()
    };
    assert_eq!(label_of(&h, emb[0]), Some(Label::Positive));
    assert_eq!(label_of(&h, emb[1]), Some(Label::Negative));
    assert_eq!(label_of(&h, emb[2]), Some(Label::Positive));
    // the examples follow the labels
    assert_eq!(h.state().search.positives, vec![emb[0], emb[2]]);
    assert_eq!(h.state().search.negatives, vec![emb[1]]);
    assert!(
        h.query_by_label_contains("2 positive, 1 negative")
            .is_some()
    );

    // a query, then validation of its top 3 with A (accept), R (reject), S (skip)
    h.state_mut().search.query = "a river between fields".into();
    h.get_by_label("Search tiles").click();
    h.run_steps(2);
    step_until(&mut h, "the query", |a| a.search.result().is_some());
    let ranked: Vec<usize> = h.state().search.result().unwrap().result.ranked[..3]
        .iter()
        .map(|x| x.0)
        .collect();
    let skipped_before = label_of(&h, ranked[2]);
    h.get_by_label("Validate top 3").click();
    h.run_steps(2);
    assert!(h.state().search.validation.is_some());
    assert_eq!(h.state().search.selected, Some(ranked[0]));
    h.key_press(egui::Key::A);
    h.run_steps(2);
    assert_eq!(h.state().search.selected, Some(ranked[1]));
    h.key_press(egui::Key::R);
    h.run_steps(2);
    assert_eq!(h.state().search.selected, Some(ranked[2]));
    h.key_press(egui::Key::S);
    h.run_steps(2);
    assert!(h.state().search.validation.is_none());
    assert_eq!(label_of(&h, ranked[0]), Some(Label::Positive));
    assert_eq!(label_of(&h, ranked[1]), Some(Label::Negative));
    assert_eq!(label_of(&h, ranked[2]), skipped_before);

    // saved next to the index, as they are
    step_until(&mut h, "the labels save", |a| !a.search.is_saving_labels());
    let file = h.state().search.labels_file(layer).unwrap().to_path_buf();
    assert!(file.to_string_lossy().ends_with(".labels.geojson"));
    let on_disk = labels::read_labels(&file, &index.tiles).unwrap();
    let in_app = h.state().search.labels_of(layer).unwrap().clone();
    assert_eq!(on_disk.len(), in_app.len());
    for l in in_app.iter() {
        let t = index
            .tiles
            .iter()
            .find(|t| t.row == l.row && t.col == l.col)
            .unwrap();
        assert_eq!(on_disk.get(t), Some(&l.label));
    }

    // the probe: its probabilities are the ranking, the same as the core's
    h.get_by_label("Train probe").click();
    h.run_steps(2);
    step_until(&mut h, "the probe", |a| {
        a.search
            .result()
            .is_some_and(|r| r.result.text.starts_with("linear probe"))
    });
    let want = ProbeQuery::default()
        .train(&in_app, &index.tiles)
        .unwrap()
        .rank(&index.tiles, "x");
    let got = &h.state().search.result().unwrap().result;
    assert_eq!(got.scores, want.scores);
    assert_eq!(got.ranked, want.ranked);
    assert!(got.ranked.iter().all(|(_, p)| (0.0..=1.0).contains(p)));
    assert!(
        h.query_by_label_contains("probability").is_some(),
        "the legend says what the score is"
    );
    // the gallery: the best hit's chip, with its score; a click selects it
    let (best, p) = got.ranked[0];
    h.state_mut().search.selected = None;
    h.run_steps(2);
    h.get_by_label_contains(&format!("#1 {p:.3}")).click();
    h.run_steps(3);
    assert_eq!(h.state().search.selected, Some(best));
    // export as a GeoPackage (for QGIS), read back through GDAL
    let gpkg = cache.path().join("labels.gpkg");
    let ctx = h.ctx.clone();
    assert!(
        h.state_mut()
            .search
            .export_labels_to(layer, gpkg.clone(), &ctx)
    );
    step_until(&mut h, "the labels export", |a| {
        !a.search.is_moving_labels()
    });
    let back = labels::read_labels(&gpkg, &index.tiles).unwrap();
    assert_eq!(back.len(), in_app.len());
    for t in &index.tiles {
        assert_eq!(back.get(t), in_app.get(t));
    }
    h.state_mut().messages.clear(); // they hold temporary paths
    h.run_steps(2);
    let device_line = h.get_by_label_contains("threads").rect();
    h.mask(device_line);
    h.snapshot("search_probe");
    drop(h);

    // a new window: indexing the scene again (from the cache) brings the labels back
    let mut h2 = indexed_app(cache.path());
    let layer2 = h2.state().layers[0].id;
    assert_eq!(h2.state().search.labels_of(layer2).unwrap(), &in_app);

    // importing plain points adds labels on the tiles they fall in
    let free = *emb
        .iter()
        .find(|&&i| in_app.get(&index.tiles[i]).is_none())
        .unwrap();
    let points = cache.path().join("points.geojson");
    let c = index.tiles[free].centre_lonlat;
    std::fs::write(
        &points,
        format!(
            r#"{{"type":"FeatureCollection","features":[{{"type":"Feature","properties":{{"label":"negative"}},"geometry":{{"type":"Point","coordinates":[{},{}]}}}}]}}"#,
            c[0], c[1]
        ),
    )
    .unwrap();
    let ctx = h2.ctx.clone();
    h2.state_mut()
        .search
        .import_labels_from(layer2, points, &ctx);
    step_until(&mut h2, "the import", |a| !a.search.is_moving_labels());
    let now = h2.state().search.labels_of(layer2).unwrap();
    assert_eq!(now.len(), in_app.len() + 1);
    assert_eq!(now.get(&index.tiles[free]), Some(&Label::Negative));
    assert!(h2.state().search.negatives.contains(&free));
}

#[test]
fn class_labels_and_a_probe_for_one_class() {
    let cache = tempfile::tempdir().unwrap();
    let mut h = indexed_app(cache.path());
    let layer = h.state().layers[0].id;
    let index = h.state().search.index_of(layer).unwrap().clone();
    let emb: Vec<usize> = (0..index.tiles.len())
        .filter(|&i| index.tiles[i].embedding.is_some())
        .collect();
    // two tiles "water", two "forest", typed once each and applied with the button / Enter
    for (k, class) in [(0, "water"), (1, "water"), (2, "forest"), (3, "forest")] {
        h.state_mut().search.select_tile(layer, emb[k]);
        h.state_mut().search.label_class = class.into();
        h.run_steps(2);
        h.get_by_label("label as class").click();
        h.run_steps(2);
    }
    let set = h.state().search.labels_of(layer).unwrap().clone();
    for (k, class) in [(0, "water"), (1, "water"), (2, "forest"), (3, "forest")] {
        assert_eq!(
            set.get(&index.tiles[emb[k]]),
            Some(&Label::Class(class.into()))
        );
    }
    // class labels are not query examples
    assert!(h.state().search.positives.is_empty() && h.state().search.negatives.is_empty());
    // positive / negative is not a class name
    h.state_mut().search.label_class = "Positive".into();
    h.run_steps(2);
    assert!(
        h.get_by_label("label as class")
            .accesskit_node()
            .is_disabled()
    );

    // the probe learns "water" against the other labels
    h.get_by_value("positive vs negative").click();
    h.run_steps(2);
    h.get_by_label("water vs rest").click();
    h.run_steps(2);
    assert_eq!(h.state().search.probe_class.as_deref(), Some("water"));
    h.get_by_label("Train probe").click();
    h.run_steps(2);
    step_until(&mut h, "the probe", |a| {
        a.search
            .result()
            .is_some_and(|r| r.result.text.starts_with("linear probe"))
    });
    let want = ProbeQuery {
        positive: Label::Class("water".into()),
        ..ProbeQuery::default()
    }
    .train(&set, &index.tiles)
    .unwrap()
    .rank(&index.tiles, "x");
    let got = &h.state().search.result().unwrap().result;
    assert!(got.text.contains("water"), "{}", got.text);
    assert_eq!(got.scores, want.scores);
    assert_eq!(got.ranked, want.ranked);
}

#[test]
fn the_brush_labels_the_tiles_a_drag_crosses_instead_of_panning() {
    let cache = tempfile::tempdir().unwrap();
    let mut h = indexed_app(cache.path());
    let layer = h.state().layers[0].id;
    let index = h.state().search.index_of(layer).unwrap().clone();
    let map = h.state().map_rect;
    // a drag across the middle of the map (the scene is fitted in it), left to right
    let drag = |h: &mut Harness<'_, KestrelApp>| {
        let y = map.center().y;
        let (x0, x1) = (
            map.left() + map.width() * 0.3,
            map.left() + map.width() * 0.7,
        );
        let from = egui::pos2(x0, y);
        h.hover_at(from);
        h.run_steps(1);
        h.drag_at(from);
        h.run_steps(1);
        for k in 1..=20 {
            h.hover_at(egui::pos2(x0 + (x1 - x0) * k as f32 / 20.0, y));
            h.run_steps(1);
        }
        h.drop_at(egui::pos2(x1, y));
        h.run_steps(2);
    };
    // without the brush the drag pans the map and labels nothing
    let before = h.state().view_centre();
    drag(&mut h);
    assert!(h.state().search.labels_of(layer).unwrap().is_empty());
    let panned = h.state().view_centre();
    assert!(
        (panned.0 - before.0).abs() > 1e-3,
        "{before:?} -> {panned:?}"
    );

    // back, then the brush "positive": the same drag labels a run of tiles, the map stays
    h.get_by_label("zoom").click();
    h.run_steps(3);
    h.get_by_label("positive").click();
    h.run_steps(2);
    assert_eq!(h.state().search.brush, Some(Label::Positive));
    let before = h.state().view_centre();
    drag(&mut h);
    assert_eq!(h.state().view_centre(), before, "the brush does not pan");
    let set = h.state().search.labels_of(layer).unwrap().clone();
    let mut cols: Vec<(u32, u32)> = index
        .tiles
        .iter()
        .filter(|t| set.get(t) == Some(&Label::Positive))
        .map(|t| (t.row, t.col))
        .collect();
    cols.sort();
    assert!(cols.len() >= 3, "{cols:?}");
    // one row (the drag is horizontal), contiguous columns
    let rows: std::collections::BTreeSet<u32> = cols.iter().map(|t| t.0).collect();
    assert!(rows.len() <= 2, "{cols:?}");
    let in_first_row: Vec<u32> = cols
        .iter()
        .filter(|t| t.0 == cols[0].0)
        .map(|t| t.1)
        .collect();
    assert!(
        in_first_row.windows(2).all(|w| w[1] == w[0] + 1),
        "{cols:?}"
    );
    assert!(h.state().messages.is_empty(), "{:?}", h.state().messages);
}

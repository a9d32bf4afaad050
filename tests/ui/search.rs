//! Headless UI test of the search workflow (egui_kittest): load the tiny oracle model,
//! index the demo scene, run a query, see the heatmap and the ranked list, click a hit,
//! classify, and export. The model is the seeded random tiny MS-CLIP: the scores are real
//! computations of that network, not meaningful rankings.

use std::path::PathBuf;

use super::{repo, step_until};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use kestrel::model::tasks::retrieval;
use kestrel::search::session::ExportFormat;
use kestrel::ui::KestrelApp;
use kestrel::ui::app::Settings;
use kestrel::ui::basemap::BasemapChoice;
use kestrel::ui::search::Mode;

/// Snapshot with the machine-dependent line (device and thread count) masked.
fn snapshot(h: &mut Harness<'_, KestrelApp>, name: &str) {
    let device_line = h.get_by_label_contains("threads").rect();
    h.mask(device_line);
    h.snapshot(name);
}

#[test]
fn index_query_heatmap_list_classify_export() {
    let cache = tempfile::tempdir().unwrap();
    let mut settings = Settings {
        basemap: BasemapChoice::Plain,
        ..Settings::default()
    };
    // relative to the package root (cargo's working directory for tests), so the snapshot
    // does not depend on where the repository is checked out
    settings.search.checkpoint = "tests/fixtures/msclip_tiny/msclip_random.safetensors".into();
    let demo = repo().join("assets/demo/T33UUU_20170216_L1C");
    let cache_root = cache.path().to_path_buf();
    let mut h = Harness::builder()
        .with_size([1400.0, 900.0])
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
    let layer_id = h.state().layers[0].id;
    step_until(&mut h, "the index", move |a| {
        a.search.index_of(layer_id).is_some()
    });
    let index = h.state().search.index_of(layer_id).unwrap().clone();
    assert_eq!(index.tiles.len(), 28);
    assert_eq!(index.embedded_count(), 21);
    assert!(
        h.query_by_label_contains("28 tiles, 21 embedded, 7 skipped")
            .is_some()
    );

    h.state_mut().search.query = "a river between fields".into();
    h.get_by_label("Search tiles").click();
    h.run_steps(2);
    step_until(&mut h, "the query", |a| a.search.result().is_some());
    assert!(
        h.query_by_label_contains("note: ").is_none(),
        "a short query gets no truncation note"
    );
    // the list shows the tiles ranked by the cosine with the query embedding
    let q = h
        .state()
        .search
        .model()
        .unwrap()
        .embed_query("a river between fields")
        .unwrap();
    let scores = retrieval::score(index.tiles.iter().map(|t| t.embedding.as_deref()), &q);
    let expected = retrieval::rank(&scores);
    let res = &h.state().search.result().unwrap().result;
    assert_eq!(res.ranked, expected);
    let (best, _) = expected[0];
    let t = &index.tiles[best];
    let label = format!("  1. r{} c{}", t.row, t.col);
    assert!(h.query_by_label(&label).is_some(), "no list row {label:?}");
    snapshot(&mut h, "search_heatmap");

    // clicking a hit selects the tile (outlined on the map) and centres the map on it
    h.get_by_label(&label).click();
    h.run_steps(3);
    assert_eq!(h.state().search.selected, Some(best));

    // export what is shown
    let out = tempfile::tempdir().unwrap();
    let csv_path = out.path().join("hits.csv");
    let ctx = h.ctx.clone();
    assert!(
        h.state_mut()
            .search
            .export_to(csv_path.clone(), ExportFormat::Csv, &ctx)
    );
    step_until(&mut h, "the export", |a| !a.search.is_exporting());
    let mut rdr = csv::Reader::from_path(&csv_path).unwrap();
    let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 21);
    assert_eq!(&rows[0][3], t.row.to_string());
    assert_eq!(&rows[0][4], t.col.to_string());
    // an unwritable path is a clear message and the results stay
    let ctx = h.ctx.clone();
    assert!(h.state_mut().search.export_to(
        PathBuf::from("/nonexistent-dir/hits.csv"),
        ExportFormat::Csv,
        &ctx
    ));
    step_until(&mut h, "the failed export", |a| !a.search.is_exporting());
    h.run_steps(2);
    assert!(
        h.state()
            .messages
            .iter()
            .any(|m| m.error && m.text.contains("/nonexistent-dir/hits.csv")),
        "{:?}",
        h.state().messages
    );
    assert!(h.state().search.result().is_some());

    // zero-shot classification of every tile
    h.get_by_label("Classify").click();
    h.run_steps(2);
    assert_eq!(h.state().search.mode, Mode::Classify);
    h.get_by_label("Classify tiles").click();
    h.run_steps(2);
    step_until(&mut h, "the classification", |a| {
        a.search.classes_result().is_some()
    });
    let cr = &h.state().search.classes_result().unwrap().result;
    assert_eq!(
        cr.classes,
        [
            "forest",
            "water",
            "urban area",
            "agricultural land",
            "snow and ice"
        ]
    );
    let classifier = h
        .state()
        .search
        .model()
        .unwrap()
        .classifier(
            &cr.classes,
            kestrel::model::tasks::zeroshot::TemplateSet::Msclip,
        )
        .unwrap();
    for (t, p) in index.tiles.iter().zip(&cr.probs) {
        match (&t.embedding, p) {
            (Some(e), Some(p)) => {
                let want = classifier.probs(e);
                assert!(want.iter().zip(p).all(|(a, b)| (a - b).abs() < 1e-6));
            }
            (None, None) => {}
            _ => panic!("probabilities for a skipped tile or none for an embedded one"),
        }
    }
    h.state_mut().messages.clear(); // they hold temporary paths
    h.run_steps(2);
    snapshot(&mut h, "search_class_map");

    // A query past the 77-token context is truncated as open_clip does, with a note under
    // the query box (after the snapshots: the note is not in them).
    h.get_by_label("Search").click();
    h.run_steps(2);
    h.state_mut().search.query = "river ".repeat(100);
    h.get_by_label("Search tiles").click();
    h.run_steps(2);
    step_until(&mut h, "the long query", |a| {
        a.search
            .result()
            .is_some_and(|r| r.result.text.starts_with("river river"))
    });
    let warning = h.state().search.result().unwrap().result.warning.clone();
    let warning = warning.expect("the truncation is reported");
    assert!(warning.contains("100"), "{warning}");
    assert!(
        h.query_by_label(&format!("note: {warning}")).is_some(),
        "the note is shown under the query box"
    );
}

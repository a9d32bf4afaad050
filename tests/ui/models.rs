//! Headless UI test of the model picker (egui_kittest): the five released models are offered
//! with their cache state, picking RS-M-CLIP shows its licence, RGB input mapping and query
//! languages, and a local checkpoint of that family (the seeded random tiny RS-M-CLIP, with
//! its config and tokenizer beside it) loads offline, indexes the demo scene through the
//! true-colour mapping and answers a Portuguese query with the core's own ranking; after
//! switching to MS-CLIP (which indexes the scene itself) and back, RS-M-CLIP's index is there.

use super::{repo, step_until};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use kestrel::model::load::registry;
use kestrel::model::tasks::retrieval;
use kestrel::search::rgb8;
use kestrel::ui::KestrelApp;
use kestrel::ui::app::Settings;
use kestrel::ui::basemap::BasemapChoice;

#[test]
fn pick_rs_m_clip_load_index_query_in_portuguese_and_switch_back_to_its_index() {
    let tmp = tempfile::tempdir().unwrap();
    let checkpoint = super::rsm_tiny_in(tmp.path());

    let settings = Settings {
        basemap: BasemapChoice::Plain,
        ..Settings::default()
    };
    let demo = repo().join("assets/demo/T33UUU_20170216_L1C");
    let cache_root = tmp.path().join("cache");
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

    // the picker offers the five released models; Llama3-MS-CLIP is the default
    assert_eq!(h.state().search.settings.model_id, "llama3-ms-clip");
    assert!(
        h.query_by_label_contains("Built with Meta Llama 3")
            .is_some()
    );
    h.get_by_value("Llama3-MS-CLIP · ViT-B-16 (10 bands)")
        .click();
    h.run_steps(2);
    for e in registry::entries() {
        assert!(
            h.query_by_label_contains(&format!("{}  (", e.label()))
                .is_some(),
            "{} is not offered",
            e.id
        );
    }
    h.get_by_label_contains("RS-M-CLIP · xlm-roberta-base-ViT-B-32  (")
        .click();
    h.run_steps(3);
    assert_eq!(h.state().search.settings.model_id, "rs-m-clip");
    // its licence, the RGB mapping it is fed through and its query languages
    assert!(h.query_by_label_contains("MIT licence").is_some());
    assert!(h.query_by_label_contains(rgb8::DESCRIPTION).is_some());
    assert!(
        h.query_by_label_contains("Queries in en, zh, pt, es, fr, de, nl, it, ko, ru")
            .is_some()
    );
    assert!(
        h.query_by_label_contains("Built with Meta Llama 3")
            .is_none()
    );

    h.state_mut().search.settings.checkpoint = checkpoint.display().to_string();
    h.get_by_label("Load model").click();
    h.run_steps(2);
    step_until(&mut h, "the model", |a| {
        a.search.model().is_some() || !a.messages.is_empty()
    });
    assert!(h.state().messages.is_empty(), "{:?}", h.state().messages);
    let model = h.state().search.model().unwrap().clone();
    assert!(model.config().hf_text().is_some(), "the XLM-R text tower");
    assert!(h.query_by_label("loaded").is_some());

    h.get_by_label("Index scene").click();
    h.run_steps(2);
    let layer = h.state().layers[0].id;
    step_until(&mut h, "the index", move |a| {
        a.search.index_of(layer).is_some()
    });
    let index = h.state().search.index_of(layer).unwrap().clone();
    assert_eq!(index.tiles.len(), 28);
    assert!(index.embedded_count() > 0);
    assert!(
        index.meta.harmonisation.contains(rgb8::MAPPING_ID),
        "{}",
        index.meta.harmonisation
    );
    assert_eq!(index.meta.embed_dim, 32);

    let q = "um rio entre campos agrícolas";
    h.state_mut().search.query = q.into();
    h.get_by_label("Search tiles").click();
    h.run_steps(2);
    step_until(&mut h, "the query", |a| a.search.result().is_some());
    let want = retrieval::rank(&retrieval::score(
        index.tiles.iter().map(|t| t.embedding.as_deref()),
        &model.embed_query(q).unwrap(),
    ));
    assert_eq!(h.state().search.result().unwrap().result.ranked, want);

    // the checkpoint field holds a temporary path and the device line the machine's
    // threads: masked
    let r = h.get_by_label("Checkpoint").rect();
    h.mask(egui::Rect::from_min_max(
        r.min,
        egui::pos2(1400.0, r.max.y + 2.0),
    ));
    let device_line = h.get_by_label_contains("threads").rect();
    h.mask(device_line);
    h.snapshot("models_rs_m_clip");

    // switching models keeps every model's index: MS-CLIP indexes the scene, then
    // RS-M-CLIP, loaded again, finds its own index at once (the same one, not re-read)
    h.get_by_value("RS-M-CLIP · xlm-roberta-base-ViT-B-32")
        .click();
    h.run_steps(2);
    h.get_by_label_contains("Llama3-MS-CLIP · ViT-B-16 (10 bands)  (")
        .click();
    h.run_steps(2);
    assert_eq!(h.state().search.settings.model_id, "llama3-ms-clip");
    h.state_mut().search.settings.checkpoint = repo()
        .join("tests/fixtures/msclip_tiny/msclip_random.safetensors")
        .display()
        .to_string();
    h.get_by_label("Load model").click();
    h.run_steps(2);
    step_until(&mut h, "MS-CLIP", |a| {
        a.search
            .model()
            .is_some_and(|m| m.config().hf_text().is_none())
    });
    assert!(
        h.state().search.index_of(layer).is_none(),
        "MS-CLIP has no index yet"
    );
    h.get_by_label("Index scene").click();
    h.run_steps(2);
    step_until(&mut h, "MS-CLIP's index", move |a| {
        a.search.index_of(layer).is_some()
    });
    assert_eq!(
        h.state().search.index_of(layer).unwrap().meta.bands.len(),
        10
    );

    h.state_mut().search.settings.model_id = "rs-m-clip".into();
    h.state_mut().search.settings.checkpoint = checkpoint.display().to_string();
    let ctx = h.ctx.clone();
    h.state_mut().search.load_model(&ctx);
    step_until(&mut h, "RS-M-CLIP again", |a| {
        a.search
            .model()
            .is_some_and(|m| m.config().hf_text().is_some())
    });
    let again = h
        .state()
        .search
        .index_of(layer)
        .expect("RS-M-CLIP's index kept");
    assert!(std::sync::Arc::ptr_eq(again, &index));
}

#[test]
fn what_the_config_parser_assumed_shows_under_the_model() {
    // the tiny MS-CLIP with a config that has no preprocess_cfg: 10 bands fall back to the
    // Llama3-MS-CLIP constants, and the panel says so
    let tmp = tempfile::tempdir().unwrap();
    let fx = repo().join("tests/fixtures/msclip_tiny");
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fx.join("open_clip_config.json")).unwrap()).unwrap();
    assert!(
        cfg.as_object_mut()
            .unwrap()
            .remove("preprocess_cfg")
            .is_some()
    );
    std::fs::write(tmp.path().join("open_clip_config.json"), cfg.to_string()).unwrap();
    let checkpoint = tmp.path().join("msclip_random.safetensors");
    std::fs::copy(fx.join("msclip_random.safetensors"), &checkpoint).unwrap();
    let mut settings = Settings {
        basemap: BasemapChoice::Plain,
        ..Settings::default()
    };
    settings.search.checkpoint = checkpoint.display().to_string();
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
    assert!(
        h.query_by_label_contains("note: no preprocess_cfg")
            .is_none()
    );
    h.get_by_label("Load model").click();
    h.run_steps(2);
    step_until(&mut h, "the model", |a| {
        a.search.model().is_some() || !a.messages.is_empty()
    });
    assert!(h.state().messages.is_empty(), "{:?}", h.state().messages);
    h.run_steps(2);
    assert!(
        h.query_by_label_contains("note: no preprocess_cfg: using the Llama3-MS-CLIP band order")
            .is_some()
    );
}

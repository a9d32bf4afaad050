//! Headless UI test of the session file (egui_kittest): the demo scene opened twice, the
//! second shown as NDVI, the first at 40 % opacity, the two side by side, a query typed
//! and the map moved; saved, then opened in a fresh viewer the way a user opens it (as a
//! file given on the command line). The layers come back in order with their styles,
//! opacity and selection, the comparison, the view (not refitted to the scenes) and the
//! query. A damaged session file is an error naming the file.

use std::path::PathBuf;

use egui_kittest::kittest::Queryable as _;
use kestrel::ui::swipe::{CompareMode, LayerSwipe};

use super::{demo, harness, step_until, two_settled};

#[test]
fn a_saved_session_reopens_layers_styles_comparison_view_and_query() {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ui-session");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let file = tmp.join("two looks.kestrel");

    let mut h = harness(vec![demo(), demo()]);
    step_until(&mut h, "both layers", two_settled);
    h.get_by_label("NDVI").click();
    h.run_steps(2);
    step_until(&mut h, "the NDVI render", two_settled);
    let (first, second) = (h.state().layers[0].id, h.state().layers[1].id);
    h.state_mut().layers[0].opacity = 0.4;
    h.state_mut().active = Some(first);
    h.state_mut().layer_swipe = Some(LayerSwipe {
        left: second,
        right: first,
        at: 0.3,
        mode: CompareMode::SideBySide,
    });
    h.state_mut().search.query = "a river between fields".into();
    // move the map away from the fit, so a refit on reopening would show
    h.key_press(egui::Key::Plus);
    h.run_steps(4);
    let styles: Vec<_> = h.state().layers.iter().map(|l| l.style.clone()).collect();
    assert_ne!(styles[0], styles[1]);
    let (centre, zoom) = (h.state().view_centre(), h.state().view_zoom());
    let ctx = h.ctx.clone();
    h.state_mut().save_session_to(file.clone(), &ctx);
    step_until(&mut h, "the session written", |app| !app.session_busy());
    assert!(
        h.state()
            .messages
            .iter()
            .any(|m| !m.error && m.text.contains("session saved")),
        "{:?}",
        h.state().messages
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(json["layers"].as_array().unwrap().len(), 2);
    assert_eq!(json["compare"]["left"], 1);
    assert_eq!(json["query"], "a river between fields");

    // reopened in a fresh viewer, as a file on the command line
    let mut h = harness(vec![file.clone()]);
    step_until(&mut h, "the session's layers", two_settled);
    let app = h.state();
    let got: Vec<_> = app.layers.iter().map(|l| l.style.clone()).collect();
    assert_eq!(got, styles, "styles, in order");
    assert_eq!(app.layers[0].opacity, 0.4);
    assert_eq!(app.layers[1].opacity, 1.0);
    assert!(app.layers.iter().all(|l| l.path == demo()));
    let (a, b) = (app.layers[0].id, app.layers[1].id);
    assert_eq!(app.active, Some(a));
    assert_eq!(
        app.layer_swipe,
        Some(LayerSwipe {
            left: b,
            right: a,
            at: 0.3,
            mode: CompareMode::SideBySide,
        })
    );
    assert_eq!(app.search.query, "a river between fields");
    let (c2, z2) = (app.view_centre(), app.view_zoom());
    assert!(
        (c2.0 - centre.0).abs() < 1e-9
            && (c2.1 - centre.1).abs() < 1e-9
            && (z2 - zoom).abs() < 1e-9,
        "the saved view {centre:?} z{zoom}, not a refit: {c2:?} z{z2}"
    );

    // a damaged session names the file
    let bad = tmp.join("damaged.kestrel");
    std::fs::write(&bad, "{\"kestrel_session\": 1, \"view\": ").unwrap();
    h.state_mut().open_paths([bad]);
    h.run_steps(2);
    step_until(&mut h, "the error", |app| !app.session_busy());
    let errors: Vec<_> = h.state().messages.iter().filter(|m| m.error).collect();
    assert!(
        errors
            .iter()
            .any(|m| m.text.contains("damaged.kestrel") && m.text.contains("not a Kestrel session")),
        "{errors:?}"
    );
    assert_eq!(h.state().layers.len(), 2, "the open layers stay");
}

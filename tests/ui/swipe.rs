//! Headless UI test of the swipe between two layers (egui_kittest): the demo scene opened
//! twice, the second shown as NDVI; with the swipe on, every map pixel left of the divider
//! is what the first layer alone shows and every pixel right of it what the NDVI layer
//! alone shows (renders compared pixel by pixel); dragging the divider moves it. Without the
//! swipe the later layer draws on top, and moving a layer up in the list reverses that.

use super::{demo, step_until};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use kestrel::ui::basemap::BasemapChoice;
use kestrel::ui::{AppOptions, KestrelApp};

/// Every layer drawn in its current style, nothing rendering.
fn settled(app: &KestrelApp) -> bool {
    app.layers.len() == 2
        && app
            .layers
            .iter()
            .all(|l| !l.is_busy() && l.overview.as_ref().is_some_and(|t| t.style == l.style))
}

/// A render: RGBA bytes, row by row, and its width.
type Render = (Vec<u8>, u32);

fn render(h: &mut Harness<'_, KestrelApp>) -> Render {
    let img = h.render().unwrap();
    (img.as_raw().clone(), img.width())
}

/// The share of pixels in `cols` × `rows` where `a` and `b` differ by more than 2 levels.
fn mismatch(a: &Render, b: &Render, cols: std::ops::Range<u32>, rows: std::ops::Range<u32>) -> f64 {
    let (mut n, mut bad) = (0u64, 0u64);
    for y in rows {
        for x in cols.clone() {
            n += 1;
            let i = ((y * a.1 + x) * 4) as usize;
            if a.0[i..i + 3]
                .iter()
                .zip(&b.0[i..i + 3])
                .any(|(u, v)| u.abs_diff(*v) > 2)
            {
                bad += 1;
            }
        }
    }
    bad as f64 / n.max(1) as f64
}

#[test]
fn swipe_between_two_layers_shows_each_on_its_side() {
    let mut h = Harness::builder()
        .with_size([1280.0, 800.0])
        .wgpu()
        .build_eframe(|cc| {
            KestrelApp::new(
                cc,
                AppOptions {
                    basemap: Some(BasemapChoice::Plain),
                    fresh_settings: true,
                },
                vec![demo(), demo()],
            )
            .with_hub_cache(super::empty_hub_cache())
        });
    step_until(&mut h, "both layers", settled);
    // the second layer (selected: opened last) as NDVI
    assert_eq!(h.state().active, Some(h.state().layers[1].id));
    h.get_by_label("NDVI").click();
    h.run_steps(2);
    step_until(&mut h, "the NDVI render", settled);

    // references: each layer alone
    h.state_mut().layers[0].visible = false;
    h.run_steps(3);
    step_until(&mut h, "the NDVI layer alone", settled);
    let second = render(&mut h);
    h.state_mut().layers[0].visible = true;
    h.state_mut().layers[1].visible = false;
    h.run_steps(3);
    step_until(&mut h, "the first layer alone", settled);
    let first = render(&mut h);
    h.state_mut().layers[1].visible = true;
    h.run_steps(3);

    h.get_by_label("Swipe between two layers").click();
    h.run_steps(3);
    let s = h.state().layer_swipe.expect("swipe on");
    let (l0, l1) = (h.state().layers[0].id, h.state().layers[1].id);
    assert_eq!((s.left, s.right, s.at), (l0, l1, 0.5));
    step_until(&mut h, "the swipe", settled);
    let swiped = render(&mut h);

    let map = h.state().map_rect;
    let x = s.x(map).round() as u32;
    // the map, without the divider's band, its labels (bottom) and the scale bar
    let rows = map.top() as u32 + 4..map.bottom() as u32 - 60;
    let rows_all = rows.clone();
    let left = map.left() as u32 + 2..x - 8;
    let right = x + 8..map.right() as u32 - 2;
    // the two references differ on both sides (so the comparison below can fail) ...
    assert!(mismatch(&second, &first, left.clone(), rows.clone()) > 0.05);
    assert!(mismatch(&second, &first, right.clone(), rows.clone()) > 0.05);
    // ... and the swipe shows the first layer on the left, the NDVI layer on the right
    let l = mismatch(&swiped, &first, left, rows.clone());
    let r = mismatch(&swiped, &second, right, rows);
    let rows = rows_all;
    assert!(l < 0.002 && r < 0.002, "left {l}, right {r}");

    // dragging the divider 100 points to the right moves it by 100 / map width
    let y = map.center().y;
    let centre = h.state().view_centre();
    let from = egui::pos2(s.x(map), y);
    let to = egui::pos2(s.x(map) + 100.0, y);
    h.hover_at(from);
    h.run_steps(1);
    h.drag_at(from);
    h.run_steps(1);
    h.hover_at(to);
    h.run_steps(1);
    h.drop_at(to);
    h.run_steps(2);
    let moved = h.state().layer_swipe.unwrap().at;
    assert_eq!(
        h.state().view_centre(),
        centre,
        "dragging the divider does not pan the map"
    );
    assert!(
        (moved - (0.5 + 100.0 / map.width())).abs() < 0.01,
        "divider at {moved}"
    );
    h.snapshot("layers_swipe");

    // without the swipe the later layer draws on top: the NDVI layer everywhere; moved up
    // (before the first), the first layer is on top
    h.get_by_label("Swipe between two layers").click();
    h.run_steps(3);
    assert!(h.state().layer_swipe.is_none());
    step_until(&mut h, "no swipe", settled);
    let whole = map.left() as u32 + 2..map.right() as u32 - 2;
    let stacked = render(&mut h);
    // (both footprints are outlined here, one in the references: under 1 % of the pixels)
    let m = mismatch(&stacked, &second, whole.clone(), rows.clone());
    assert!(m < 0.01, "{m}");
    let ups: Vec<_> = h.get_all_by_label("up").collect();
    assert_eq!(ups.len(), 2);
    ups[1].click();
    h.run_steps(3);
    let order: Vec<_> = h.state().layers.iter().map(|l| l.id).collect();
    assert_eq!(order, [l1, l0]);
    step_until(&mut h, "the new order", settled);
    let reordered = render(&mut h);
    let m = mismatch(&reordered, &first, whole, rows);
    assert!(m < 0.01, "{m}");
}

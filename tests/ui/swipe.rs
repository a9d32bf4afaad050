//! Headless UI test of the swipe between two layers (egui_kittest): the demo scene opened
//! twice, the second shown as NDVI; with the swipe on, every map pixel left of the divider
//! is what the first layer alone shows and every pixel right of it what the NDVI layer
//! alone shows (renders compared pixel by pixel); dragging the divider moves it. Side by
//! side, the left map shows the first layer and the right map the NDVI layer, each as the
//! full map showed it around its centre, and dragging the right map pans the left one.
//! Without a comparison the later layer draws on top, and moving a layer up reverses that.

use super::{demo, step_until, two_settled};
use egui_kittest::kittest::Queryable as _;
use kestrel::ui::KestrelApp;

/// A render: RGBA bytes, row by row, and its width.
type Render = (Vec<u8>, u32);

fn render(h: &mut egui_kittest::Harness<'_, KestrelApp>) -> Render {
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

/// The mean absolute difference (levels, over R, G, B) between `a` in `cols` × `rows` and
/// `b` `dx` pixels to the right.
fn mean_diff_shifted(
    a: &Render,
    b: &Render,
    dx: i64,
    cols: std::ops::Range<u32>,
    rows: std::ops::Range<u32>,
) -> f64 {
    let (mut n, mut sum) = (0u64, 0u64);
    for y in rows {
        for x in cols.clone() {
            let xb = x as i64 + dx;
            if xb < 0 || xb >= i64::from(b.1) {
                continue;
            }
            let i = ((y * a.1 + x) * 4) as usize;
            let j = ((y * b.1 + xb as u32) * 4) as usize;
            for c in 0..3 {
                n += 1;
                sum += u64::from(a.0[i + c].abs_diff(b.0[j + c]));
            }
        }
    }
    sum as f64 / n.max(1) as f64
}

#[test]
fn swipe_between_two_layers_shows_each_on_its_side() {
    let mut h = super::harness(vec![demo(), demo()]);
    step_until(&mut h, "both layers", two_settled);
    // the second layer (selected: opened last) as NDVI
    assert_eq!(h.state().active, Some(h.state().layers[1].id));
    h.get_by_label("NDVI").click();
    h.run_steps(2);
    step_until(&mut h, "the NDVI render", two_settled);

    // references: each layer alone
    h.state_mut().layers[0].visible = false;
    h.run_steps(3);
    step_until(&mut h, "the NDVI layer alone", two_settled);
    let second = render(&mut h);
    h.state_mut().layers[0].visible = true;
    h.state_mut().layers[1].visible = false;
    h.run_steps(3);
    step_until(&mut h, "the first layer alone", two_settled);
    let first = render(&mut h);
    h.state_mut().layers[1].visible = true;
    h.run_steps(3);

    h.get_by_label("Compare two layers").click();
    h.run_steps(3);
    let s = h.state().layer_swipe.expect("swipe on");
    let (l0, l1) = (h.state().layers[0].id, h.state().layers[1].id);
    assert_eq!((s.left, s.right, s.at), (l0, l1, 0.5));
    step_until(&mut h, "the swipe", two_settled);
    let swiped = render(&mut h);

    let map = h.state().map_rect;
    let x = s.x(map).round() as u32;
    // the map, without the divider's band, its labels (above the scale bar) and the scale
    // bar
    let rows = map.top() as u32 + 4..map.bottom() as u32 - 90;
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
    super::drag(&mut h, from, to, 2);
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

    // side by side: two maps of the same centre and zoom, half as wide, the first layer in
    // the left one and the NDVI layer in the right one; each shows what the full map
    // showed around its centre
    h.get_by_label("side by side").click();
    h.run_steps(3);
    step_until(&mut h, "side by side", two_settled);
    let split = render(&mut h);
    let half = (map.width() / 2.0).floor();
    let (lw, rw) = (half - 1.0, map.width() - half - 1.0);
    let (lc, rc) = (map.left() + lw / 2.0, map.left() + half + 1.0 + rw / 2.0);
    let dx_left = (map.center().x - lc).round() as i64;
    let dx_right = (map.center().x - rc).round() as i64;
    let top = map.top() as u32 + 40..map.bottom() as u32 - 60; // below the maps' titles
    // (the halves sample the layers' renders half a pixel apart from the full map: compare
    // mean differences, not pixel for pixel)
    let left_cols = map.left() as u32 + 2..(map.left() + lw) as u32 - 2;
    let right_cols = (map.left() + half + 3.0) as u32..map.right() as u32 - 2;
    let l = mean_diff_shifted(&split, &first, dx_left, left_cols.clone(), top.clone());
    let r = mean_diff_shifted(&split, &second, dx_right, right_cols, top.clone());
    let cross = mean_diff_shifted(&split, &second, dx_left, left_cols, top);
    assert!(cross > 20.0, "the references differ there: {cross}");
    assert!(l < 6.0 && r < 6.0, "left {l}, right {r} levels");
    h.snapshot("layers_side_by_side");
    // back to the swipe, then off
    h.get_by_label("swipe").click();
    h.run_steps(2);

    // without the swipe the later layer draws on top: the NDVI layer everywhere; moved up
    // (before the first), the first layer is on top
    h.get_by_label("Compare two layers").click();
    h.run_steps(3);
    assert!(h.state().layer_swipe.is_none());
    step_until(&mut h, "no swipe", two_settled);
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
    step_until(&mut h, "the new order", two_settled);
    let reordered = render(&mut h);
    let m = mismatch(&reordered, &first, whole, rows);
    assert!(m < 0.01, "{m}");

    h.get_by_label("Compare two layers").click();
    h.run_steps(2);
    h.get_by_label("side by side").click();
    h.run_steps(3);
    // dragging the right map pans the left one too
    let centre = h.state().view_centre();
    let from = egui::pos2(map.right() - 100.0, map.center().y);
    let to = from + egui::vec2(-80.0, 0.0);
    super::drag(&mut h, from, to, 3);
    let moved = h.state().view_centre();
    assert!(
        moved.0 > centre.0 && (moved.1 - centre.1).abs() < 1e-3,
        "{centre:?} -> {moved:?}"
    );
}

//! Headless UI tests of the viewer (egui_kittest, rendered through wgpu on lavapipe):
//! open the bundled demo scene, wait for the workers, switch band combinations, read the
//! histogram the panel shows, and compare snapshots.

use std::path::PathBuf;

use super::{demo, harness, step_until};
use egui_kittest::kittest::{NodeT as _, Queryable as _};
use kestrel::raster::render::{Composite, Preset, SpectralIndex};
use kestrel::ui::KestrelApp;

fn overview_ready(app: &KestrelApp) -> bool {
    app.layers
        .first()
        .is_some_and(|l| !l.is_busy() && l.overview.as_ref().is_some_and(|t| t.style == l.style))
        && app.search.models_checked()
}

#[test]
fn demo_scene_opens_renders_and_switches_presets() {
    let mut h = harness(vec![demo()]);
    step_until(&mut h, "the demo scene to render", overview_ready);
    {
        let app = h.state();
        let layer = &app.layers[0];
        let scene = layer.scene.as_ref().expect("scene");
        assert_eq!(scene.info().grid.width, 1536);
        assert_eq!(scene.info().grid.height, 768);
        assert_eq!(
            layer.style.composite,
            Composite::Preset {
                preset: Preset::TrueColor
            }
        );
        // the histogram shows the three channels of true colour, B04 B03 B02, with cut lines
        let labels: Vec<&str> = layer.histograms.iter().map(|h| h.label.as_str()).collect();
        assert_eq!(labels.len(), 3, "{labels:?}");
        assert!(
            labels[0].starts_with("B04")
                && labels[1].starts_with("B03")
                && labels[2].starts_with("B02"),
            "{labels:?}"
        );
        for ch in &layer.histograms {
            let s = ch.stretch.expect("RGB channels have a stretch");
            // L1C TOA DN of a winter scene: cuts inside the plausible DN range
            assert!(
                s.min > 300.0 && s.max < 4000.0 && s.min < s.max,
                "{}: {s:?}",
                ch.label
            );
            assert!(
                ch.histogram.counts.iter().sum::<u64>() > 100_000,
                "{}",
                ch.label
            );
        }
        let img = layer.overview.as_ref().expect("overview");
        // drawn in Web Mercator at the scene's place (west of Berlin, ~12.6 E 52.5 N)
        let (lon, lat) = kestrel::raster::georef::web_mercator_to_lonlat(
            (img.bounds.min_x + img.bounds.max_x) / 2.0,
            (img.bounds.min_y + img.bounds.max_y) / 2.0,
        );
        assert!(
            (lon - 12.61).abs() < 0.05 && (lat - 52.49).abs() < 0.05,
            "{lon} {lat}"
        );
    }
    h.snapshot("viewer_true_colour");

    h.get_by_label("False colour (NIR)").click();
    h.run_steps(2);
    step_until(&mut h, "the false-colour render", overview_ready);
    {
        let layer = &h.state().layers[0];
        assert_eq!(
            layer.style.composite,
            Composite::Preset {
                preset: Preset::FalseColor
            }
        );
        let labels: Vec<&str> = layer.histograms.iter().map(|h| h.label.as_str()).collect();
        assert!(labels[0].starts_with("B08"), "{labels:?}");
    }

    h.get_by_label("NDVI").click();
    h.run_steps(2);
    step_until(&mut h, "the NDVI render", overview_ready);
    {
        let layer = &h.state().layers[0];
        assert_eq!(
            layer.style.composite,
            Composite::Index {
                index: SpectralIndex::Ndvi
            }
        );
        assert_eq!(layer.histograms.len(), 1);
        assert_eq!(layer.histograms[0].label, "NDVI");
    }
    h.snapshot("viewer_ndvi");
}

#[test]
fn a_missing_file_is_a_clear_error_not_a_panic() {
    let missing = PathBuf::from("/nonexistent/scene.tif");
    let mut h = harness(vec![missing]);
    step_until(&mut h, "the open to fail", |app| !app.messages.is_empty());
    let msg = &h.state().messages[0];
    assert!(msg.error);
    assert!(msg.text.contains("/nonexistent/scene.tif"), "{}", msg.text);
}

#[test]
fn status_bar_coordinates_and_keyboard_shortcuts() {
    let mut h = harness(vec![demo()]);
    step_until(&mut h, "the demo scene to render", overview_ready);
    // the pointer over the map: its lon/lat in the status bar
    let map = h.state().map_rect;
    h.hover_at(map.center());
    h.run_steps(3);
    let (lon, lat) = h
        .state()
        .pointer_lonlat
        .expect("the pointer is over the map");
    assert!(
        (lon - 12.6).abs() < 0.3 && (lat - 52.5).abs() < 0.3,
        "{lon} {lat}"
    );
    // (the label is drawn before the map, from the frame before: compare to 3 decimals)
    let shown = h
        .query_all_by_label_contains("° N, ")
        .filter_map(|n| {
            let node = n.accesskit_node();
            node.label().or_else(|| node.value())
        })
        .next()
        .expect("a coordinate in the status bar");
    let nums: Vec<f64> = shown
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter_map(|t| t.parse().ok())
        .collect();
    assert!(
        (nums[0] - lat).abs() < 1e-3 && (nums[1] - lon).abs() < 1e-3 && shown.contains("° E"),
        "{shown} vs {lat} {lon}"
    );

    // and in the scene's CRS (UTM 33N), as GDAL transforms the same point
    let shown = h
        .query_all_by_label_contains("EPSG:32633")
        .filter_map(|n| {
            let node = n.accesskit_node();
            node.label().or_else(|| node.value())
        })
        .next()
        .expect("scene coordinates in the status bar");
    let mut utm = gdal::spatial_ref::SpatialRef::from_epsg(32633).unwrap();
    let mut ll = gdal::spatial_ref::SpatialRef::from_epsg(4326).unwrap();
    ll.set_axis_mapping_strategy(gdal::spatial_ref::AxisMappingStrategy::TraditionalGisOrder);
    utm.set_axis_mapping_strategy(gdal::spatial_ref::AxisMappingStrategy::TraditionalGisOrder);
    let t = gdal::spatial_ref::CoordTransform::new(&ll, &utm).unwrap();
    // (the status bar's own lon/lat, printed to 1e-5 degrees: about a metre)
    let (mut xs, mut ys) = ([nums[1]], [nums[0]]);
    t.transform_coords(&mut xs, &mut ys, &mut []).unwrap();
    let xy: Vec<f64> = shown
        .split_whitespace()
        .filter_map(|t| t.parse().ok())
        .collect();
    assert!(
        (xy[0] - xs[0]).abs() < 2.0 && (xy[1] - ys[0]).abs() < 2.0,
        "{shown} vs {} {}",
        xs[0],
        ys[0]
    );

    // stretch to view: the statistics come from the part of the scene on the map
    h.get_by_label("stretch to view").click();
    h.run_steps(2);
    let layer = &h.state().layers[0];
    let scene_b = layer.scene.as_ref().unwrap().info().bounds_3857;
    let visible = h.state().view_bounds_3857.unwrap();
    assert_eq!(layer.style.stretch_area, visible.intersection(&scene_b));
    h.get_by_label("whole scene").click();
    h.run_steps(2);
    assert_eq!(h.state().layers[0].style.stretch_area, None);

    // H hides and shows the heatmap, + zooms in, Ctrl+W closes the selected scene
    h.key_press(egui::Key::H);
    h.run_steps(2);
    assert!(h.state().search.heat_hidden);
    h.key_press(egui::Key::H);
    h.run_steps(2);
    assert!(!h.state().search.heat_hidden);
    let z0 = h.state().view_zoom();
    h.key_press(egui::Key::Plus);
    h.run_steps(3);
    assert!(
        h.state().view_zoom() > z0 + 0.5,
        "{z0} -> {}",
        h.state().view_zoom()
    );
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::W);
    h.run_steps(3);
    assert!(h.state().layers.is_empty());
}

#[test]
fn export_map_view_writes_the_map_as_drawn_georeferenced() {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ui-export-view");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let mut h = harness(vec![demo()]);
    step_until(&mut h, "the demo scene to render", overview_ready);
    h.run_steps(5);
    let ctx = h.ctx.clone();
    let tif = tmp.join("view.tif");
    // the map as it is now (a message in the status bar afterwards makes it shorter)
    let map = h.state().map_rect;
    let bounds = h.state().view_bounds_3857.unwrap();
    h.state_mut().export_view_to(tif.clone(), &ctx);
    h.run_steps(1);
    let screen = h.render().unwrap();
    step_until(&mut h, "the map view written", |app| {
        !app.view_export_busy()
    });
    assert!(
        h.state()
            .messages
            .iter()
            .any(|m| m.text.contains("map view saved")),
        "{:?}",
        h.state().messages
    );
    let ppp = ctx.pixels_per_point();
    let ds = gdal::Dataset::open(&tif).unwrap();
    let (w, h_px) = ds.raster_size();
    assert_eq!(
        (w, h_px),
        (
            (map.width() * ppp).round() as usize,
            (map.height() * ppp).round() as usize
        )
    );
    let gt = ds.geo_transform().unwrap();
    assert!(
        (gt[0] - bounds.min_x).abs() < 1e-6 && (gt[3] - bounds.max_y).abs() < 1e-6,
        "{gt:?}"
    );
    assert!((gt[1] * w as f64 - bounds.width()).abs() < 1e-6, "{gt:?}");
    assert_eq!(ds.spatial_ref().unwrap().auth_code().unwrap(), 3857);
    // its pixels are the map's on screen
    let bands: Vec<Vec<u8>> = (1..=3)
        .map(|b| {
            ds.rasterband(b)
                .unwrap()
                .read_as::<u8>((0, 0), (w, h_px), (w, h_px), None)
                .unwrap()
                .data()
                .to_vec()
        })
        .collect();
    let (x0, y0) = (
        (map.left() * ppp).round() as u32,
        (map.top() * ppp).round() as u32,
    );
    let mut bad = 0usize;
    for y in 0..h_px {
        for x in 0..w {
            let p = screen.get_pixel(x0 + x as u32, y0 + y as u32).0;
            if (0..3).any(|c| p[c].abs_diff(bands[c][y * w + x]) > 2) {
                bad += 1;
            }
        }
    }
    assert!(bad * 1000 < w * h_px, "{bad} of {} pixels differ", w * h_px);

    // a PNG gets a world file; another extension is refused naming the file
    let png = tmp.join("view.png");
    h.state_mut().export_view_to(png.clone(), &ctx);
    h.run_steps(1);
    step_until(&mut h, "the PNG written", |app| !app.view_export_busy());
    assert!(png.is_file() && tmp.join("view.wld").is_file());
    h.state_mut().export_view_to(tmp.join("view.jpg"), &ctx);
    assert!(
        h.state()
            .messages
            .iter()
            .any(|m| m.error && m.text.contains("view.jpg")),
        "{:?}",
        h.state().messages
    );
}

#[test]
fn dragging_a_histogram_line_sets_a_fixed_stretch() {
    use kestrel::raster::stretch::StretchMethod;
    let mut h = harness(vec![demo()]);
    // Tall enough for the whole scene panel, histogram included.
    h.set_size(egui::vec2(1280.0, 1100.0));
    step_until(&mut h, "the demo scene to render", overview_ready);
    let before = h
        .state()
        .histogram_handles
        .expect("handles on the histogram");
    // The handles sit on the widest cut the render applied (2–98 % by default).
    let (lo, hi) = h.state().layers[0]
        .histograms
        .iter()
        .filter_map(|c| c.stretch)
        .fold((f32::MAX, f32::MIN), |a, s| {
            (a.0.min(s.min), a.1.max(s.max))
        });
    assert!(
        before.low_x < before.high_x && lo < hi,
        "{before:?} {lo} {hi}"
    );
    // Drag the low line a third of the way towards the high one.
    let y = before.rect.center().y;
    let dx = (before.high_x - before.low_x) / 3.0;
    super::drag(
        &mut h,
        egui::pos2(before.low_x + 1.0, y),
        egui::pos2(before.low_x + 1.0 + dx, y),
        3,
    );
    let StretchMethod::Fixed { min, max } = h.state().layers[0].style.method else {
        panic!("{:?}", h.state().layers[0].style.method)
    };
    // The plot's x axis is linear: a third of the way in points is a third in band units.
    let want = lo + (hi - lo) * (1.0 + dx) / (before.high_x - before.low_x);
    assert!(
        (min - want).abs() <= (hi - lo) * 0.02,
        "min {min}, expected about {want} ({lo}..{hi})"
    );
    assert_eq!(max, hi);
    // The render applies it to every channel, and the handles follow.
    step_until(&mut h, "the fixed-stretch render", overview_ready);
    for c in &h.state().layers[0].histograms {
        let s = c.stretch.unwrap();
        assert_eq!((s.min, s.max), (min, max), "{}", c.label);
    }
    let after = h.state().histogram_handles.unwrap();
    assert!(
        after.low_x > before.low_x + dx * 0.5,
        "{before:?} -> {after:?}"
    );
    // A press away from the lines moves nothing.
    let far = egui::pos2((after.low_x + after.high_x) / 2.0, y);
    super::drag(&mut h, far, far + egui::vec2(20.0, 0.0), 3);
    assert_eq!(
        h.state().layers[0].style.method,
        StretchMethod::Fixed { min, max }
    );
}

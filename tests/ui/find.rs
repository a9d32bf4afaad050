//! Headless UI test of the Find-scenes panel (egui_kittest) against a real STAC API on
//! loopback (`rustac serve`; skipped with a message without it) and a Range-honouring file
//! server holding per-band COGs cut from the vendored MajorTOM chip and a PNG thumbnail.
//! A box is drawn on the map (a drag that does not pan). Five items: two in the box, the
//! dates and the cloud limit; one too cloudy (the
//! client drops it: rustac serve has no query extension), one outside the view, one after
//! the end date. The panel lists the two in date order with their thumbnails (pixels equal
//! to the PNG's), draws their footprints, and *Open selected* opens both items as layers
//! whose bands are read over HTTP.

use std::path::{Path, PathBuf};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use kestrel::jobs::CancelToken;
use kestrel::raster::Scene;
use kestrel::ui::KestrelApp;
use kestrel::ui::app::Settings;
use kestrel::ui::basemap::BasemapChoice;
use kestrel::ui::find::FindSettings;
use serde_json::Value;

use super::stac_fixture::{RangeServer, earth_search_item, gdal, make_chip_cogs, rustac_serve};
use super::{repo, step_until};

const KEPT: [&str; 2] = ["S2A_32VNJ_20171025_0_L2A", "S2B_32VNJ_20171030_0_L2A"];

fn item(base: &str, id: &str, dt: &str, bounds: [f64; 4], cloud: f64) -> Value {
    let mut v = earth_search_item(id, base, "chip", bounds, dt);
    v["properties"]["eo:cloud_cover"] = cloud.into();
    v
}

/// The PNG thumbnail's pixels as RGBA, read with GDAL (not the decoder the app uses).
fn png_rgba(path: &Path) -> (u32, u32, Vec<u8>) {
    let ds = gdal::Dataset::open(path).unwrap();
    let (w, h) = ds.raster_size();
    let bands: Vec<Vec<u8>> = (1..=3)
        .map(|b| {
            ds.rasterband(b)
                .unwrap()
                .read_as::<u8>((0, 0), (w, h), (w, h), None)
                .unwrap()
                .data()
                .to_vec()
        })
        .collect();
    let rgba = (0..w * h)
        .flat_map(|i| [bands[0][i], bands[1][i], bands[2][i], 255])
        .collect();
    (w as u32, h as u32, rgba)
}

#[test]
fn find_scenes_lists_thumbnails_and_opens_items() {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ui-find");
    let _ = std::fs::remove_dir_all(&tmp);
    let www = tmp.join("www");
    let chip = repo().join("tests/fixtures/chips/637U_59R_1_3.tif");
    assert!(make_chip_cogs(&chip, &www.join("chip")));
    let thumb = www.join("chip/thumb.png");
    gdal(&[
        "-q",
        "-of",
        "PNG",
        "-ot",
        "Byte",
        "-b",
        "4",
        "-b",
        "3",
        "-b",
        "2",
        "-scale",
        "0",
        "3000",
        "0",
        "255",
        "-outsize",
        "48",
        "48",
        &chip.to_string_lossy(),
        &thumb.to_string_lossy(),
    ]);
    let server = RangeServer::start(www.clone(), u64::MAX);
    let local = Scene::open(&www.join("chip"), &CancelToken::new()).unwrap();
    let b = local.info().bounds_wgs84;
    let here = [b.min_x, b.min_y, b.max_x, b.max_y];
    let east = [b.min_x + 1.0, b.min_y, b.max_x + 1.0, b.max_y];
    let items = vec![
        item(&server.base, KEPT[1], "2017-10-30T10:32:09Z", here, 12.5),
        item(
            &server.base,
            "S2A_32VNJ_20171028_0_L2A",
            "2017-10-28T10:40:00Z",
            here,
            80.0,
        ),
        item(
            &server.base,
            "S2B_32VNK_20171027_0_L2A",
            "2017-10-27T10:40:00Z",
            east,
            1.0,
        ),
        item(&server.base, KEPT[0], "2017-10-25T10:40:00Z", here, 30.0),
        item(
            &server.base,
            "S2A_32VNJ_20171104_0_L2A",
            "2017-11-04T10:40:00Z",
            here,
            2.0,
        ),
    ];
    for it in &items {
        let id = it["id"].as_str().unwrap();
        std::fs::write(www.join(format!("{id}.json")), it.to_string()).unwrap();
    }
    let api_dir = tmp.join("api");
    std::fs::create_dir_all(&api_dir).unwrap();
    let Some(api) = rustac_serve(&api_dir, &items) else {
        return;
    };

    let (lon, lat) = ((b.min_x + b.max_x) / 2.0, (b.min_y + b.max_y) / 2.0);
    let settings = Settings {
        basemap: BasemapChoice::Plain,
        view: kestrel::ui::app::ViewState {
            lon,
            lat,
            zoom: 11.0,
        },
        find: FindSettings {
            api: api.url.clone(),
            collection: "sentinel-2-l2a".into(),
            start: "2017-10-01".into(),
            end: "2017-10-31".into(),
            max_cloud: 50.0,
            limit: 50,
        },
        ..Settings::default()
    };
    let mut h = Harness::builder()
        .with_size([1280.0, 900.0])
        .wgpu()
        .build_eframe(|cc| {
            KestrelApp::with_settings(&cc.egui_ctx, settings, vec![])
                .with_hub_cache(super::empty_hub_cache())
        });
    h.run_steps(3);
    h.get_by_label("Find scenes").click();
    h.run_steps(2);
    // the map view (about 30 km around the chip) is the area
    let [w, s, e, n] = h.state().view_lonlat.expect("the map's box");
    assert!(
        w < b.min_x && e > b.max_x && s < b.min_y && n > b.max_y,
        "{w} {s} {e} {n}"
    );
    assert!(
        e < b.min_x + 1.0,
        "the eastern item's tile is outside the view: {e}"
    );
    // draw the search box on the map: 240 x 180 points around the centre
    h.get_by_label("drawn box").click();
    h.run_steps(1);
    h.get_by_label("draw").click();
    h.run_steps(1);
    assert!(h.state().find.is_drawing());
    let map = h.state().map_rect;
    let centre = h.state().view_centre();
    let (from, to) = (
        map.center() - egui::vec2(120.0, 90.0),
        map.center() + egui::vec2(120.0, 90.0),
    );
    super::drag(&mut h, from, to, 2);
    assert!(!h.state().find.is_drawing(), "drawing ends with the drag");
    assert_eq!(
        h.state().view_centre(),
        centre,
        "drawing does not pan the map"
    );
    let [w, s, e, n] = h.state().find.drawn_box().expect("a drawn box");
    // 240 points at zoom 11 span 240 * 360 / (256 * 2^11) degrees of longitude
    let span = 240.0 * 360.0 / (256.0 * 2f64.powi(11));
    assert!(((e - w) - span).abs() < 1e-3, "{} vs {span}", e - w);
    assert!(
        w < b.min_x && e > b.max_x && s < b.min_y && n > b.max_y,
        "{w} {s} {e} {n}"
    );
    h.get_by_label("Search").click();
    h.run_steps(1);
    step_until(&mut h, "the search and the thumbnails", |app| {
        !app.find.is_busy() && app.find.hits().count() > 0 || app.find.error().is_some()
    });
    assert_eq!(h.state().find.error(), None);
    let ids: Vec<String> = h.state().find.hits().map(|h| h.id.clone()).collect();
    assert_eq!(
        ids, KEPT,
        "date order; the cloudy, eastern and late items are not listed"
    );
    let notes = h.state().find.notes().join("\n");
    assert!(notes.contains("cloud cover"), "{notes}");
    // the thumbnails are the PNG's pixels
    let (tw, th, rgba) = png_rgba(&thumb);
    for i in 0..2 {
        let t = h.state().find.thumbnail(i).expect("a thumbnail");
        assert_eq!((t.width, t.height), (tw, th));
        assert!(t.rgba == rgba, "thumbnail {i} differs from the PNG");
    }
    // rustac serve filters the box and the dates, not the cloud cover
    h.get_by_label("2 scene(s); the server returned 3 in 1 page(s)");
    // the server's port changes from run to run: show a fixed address in the snapshot
    h.state_mut().find.settings.api = "http://127.0.0.1:8080".into();
    h.run_steps(1);
    h.snapshot("find_results");

    // tick both, open them
    for id in KEPT {
        h.get_by_label(id).click();
        h.run_steps(2);
    }
    h.get_by_label("Open selected (2)").click();
    h.run_steps(2);
    step_until(&mut h, "both items open", |app| {
        app.layers.len() == 2 && app.layers.iter().all(|l| l.scene.is_some() && !l.is_busy())
    });
    for (layer, id) in h.state().layers.iter().zip(KEPT) {
        assert_eq!(
            layer.path,
            PathBuf::from(format!("{}/{id}.json", server.base))
        );
        let scene = layer.scene.as_ref().unwrap();
        // the ten bands of the chip, read in place over HTTP
        assert_eq!(scene.info().bands.len(), 11, "{:?}", scene.info().bands);
    }
    assert!(server.bytes() > 0);
}

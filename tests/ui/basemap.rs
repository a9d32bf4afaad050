//! Headless UI test of a custom XYZ basemap (egui_kittest): a loopback tile server holding
//! solid-colour 256 px PNG tiles at zoom 4 is set as the basemap's URL template; the map
//! then shows those tiles (the colour fills the map, the offline outlines are gone), and a
//! template without `{y}` is refused with a message, keeping the basemap.

use std::path::PathBuf;

use egui_kittest::Harness;
use kestrel::ui::KestrelApp;
use kestrel::ui::app::{Settings, ViewState};
use kestrel::ui::basemap::{BasemapChoice, BasemapHealth};

use super::stac_fixture::RangeServer;
use super::step_until;

const TILE: [u8; 3] = [200, 60, 160];

#[test]
fn a_custom_xyz_url_is_the_basemap() {
    let www = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ui-xyz");
    let _ = std::fs::remove_dir_all(&www);
    let tile = image::RgbImage::from_pixel(256, 256, image::Rgb(TILE));
    for x in 0..16 {
        let dir = www.join(format!("tiles/4/{x}"));
        std::fs::create_dir_all(&dir).unwrap();
        for y in 0..16 {
            tile.save(dir.join(format!("{y}.png"))).unwrap();
        }
    }
    let server = RangeServer::start(www.clone(), u64::MAX);
    let url = format!("{}/tiles/{{z}}/{{x}}/{{y}}.png", server.base);
    let settings = Settings {
        basemap: BasemapChoice::Custom,
        basemap_url: url.clone(),
        view: ViewState {
            lon: 10.0,
            lat: 50.0,
            zoom: 4.0,
        },
        ..Settings::default()
    };
    let mut h = Harness::builder()
        .with_size([1280.0, 800.0])
        .wgpu()
        .build_eframe(|cc| {
            KestrelApp::with_settings(&cc.egui_ctx, settings, vec![])
                .with_hub_cache(super::empty_hub_cache())
        });
    step_until(&mut h, "the tiles", |app| {
        app.basemap_health() == BasemapHealth::Online
    });
    h.run_steps(10);
    let img = h.render().unwrap();
    let map = h.state().map_rect;
    let (mut n, mut tiled) = (0usize, 0usize);
    for y in (map.top() as u32 + 10..map.bottom() as u32 - 40).step_by(7) {
        for x in (map.left() as u32 + 10..map.right() as u32 - 10).step_by(7) {
            n += 1;
            let p = img.get_pixel(x, y).0;
            if (0..3).all(|c| p[c].abs_diff(TILE[c]) <= 2) {
                tiled += 1;
            }
        }
    }
    assert!(
        tiled * 100 > n * 95,
        "{tiled} of {n} map pixels are the tiles' colour"
    );
    assert!(server.requests() >= 4);

    let ctx = h.ctx.clone();
    h.state_mut().set_basemap(
        BasemapChoice::Custom,
        Some("https://tiles.example/{z}/{x}.png".into()),
        &ctx,
    );
    assert!(
        h.state()
            .messages
            .iter()
            .any(|m| m.error && m.text.contains("{y}")),
        "{:?}",
        h.state().messages
    );
    assert_eq!(
        h.state().settings().basemap_url,
        url,
        "the working URL stays"
    );
}

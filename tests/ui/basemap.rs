//! Headless UI tests of the basemaps (egui_kittest): a loopback tile server holding
//! solid-colour 256 px PNG tiles at zoom 4 is set as the basemap's URL template and the map
//! then shows those tiles (a template without `{y}` is refused with a message, keeping the
//! basemap); an MBTiles file written here (rows through GDAL's SQLite driver) and a PMTiles
//! file written by the PyPI `pmtiles` package (tests/fixtures/basemap) fill the map with
//! their tiles' colour, and a file that is no tile archive, or holds vector tiles, is
//! refused naming the file, and one of WebP tiles shows them; a WMTS GetCapabilities URL
//! (served with its tiles on loopback) becomes the basemap, its layers can be switched and
//! come back after a restart, and a document that is not WMTS is refused naming its URL;
//! the bundled Natural Earth basemap at a regional zoom is snapshot, with its per-frame
//! drawing time printed.

use std::path::{Path, PathBuf};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
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
    // the first tile makes the basemap online; the others follow
    wait_for_colour(&mut h, TILE, "the XYZ tiles");
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

/// How many of the sampled map pixels are `colour` (within 2), and how many were sampled.
fn map_pixels_of(h: &mut Harness<'_, KestrelApp>, colour: [u8; 3]) -> (usize, usize) {
    let img = h.render().unwrap();
    let map = h.state().map_rect;
    let (mut n, mut hits) = (0usize, 0usize);
    for y in (map.top() as u32 + 10..map.bottom() as u32 - 40).step_by(7) {
        for x in (map.left() as u32 + 10..map.right() as u32 - 10).step_by(7) {
            n += 1;
            let p = img.get_pixel(x, y).0;
            if (0..3).all(|c| p[c].abs_diff(colour[c]) <= 2) {
                hits += 1;
            }
        }
    }
    (hits, n)
}

/// Step until at least 95% of the sampled map pixels are `colour` (tiles arrive one by
/// one from their worker), failing after 20 s.
fn wait_for_colour(h: &mut Harness<'_, KestrelApp>, colour: [u8; 3], what: &str) {
    let t0 = std::time::Instant::now();
    loop {
        h.run_steps(5);
        let (hits, n) = map_pixels_of(h, colour);
        if hits * 100 > n * 95 {
            return;
        }
        assert!(
            t0.elapsed().as_secs() < 20,
            "{hits} of {n} map pixels are {what}'s colour"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn app_with(settings: Settings) -> Harness<'static, KestrelApp> {
    Harness::builder()
        .with_size([1280.0, 800.0])
        .wgpu()
        .build_eframe(move |cc| {
            KestrelApp::with_settings(&cc.egui_ctx, settings, vec![])
                .with_hub_cache(super::empty_hub_cache())
        })
}

fn png_of(rgb: [u8; 3]) -> Vec<u8> {
    encoded(rgb, image::ImageFormat::Png)
}

/// A solid 256 px tile of `rgb` in `format`.
fn encoded(rgb: [u8; 3], format: image::ImageFormat) -> Vec<u8> {
    let tile = image::RgbImage::from_pixel(256, 256, image::Rgb(rgb));
    let mut out = std::io::Cursor::new(Vec::new());
    tile.write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// An MBTiles file of `tile` at every tile of zooms 0-3, its metadata saying `format`,
/// written row by row through GDAL's SQLite driver (no SQLite library of our own).
fn write_mbtiles(path: &Path, format: &str, tile: &[u8]) {
    let _ = std::fs::remove_file(path);
    let driver = gdal::DriverManager::get_driver_by_name("SQLite").unwrap();
    let ds = driver.create_vector_only(path).unwrap();
    let sql = |q: &str| {
        ds.execute_sql(q, None, gdal::vector::sql::Dialect::DEFAULT)
            .unwrap();
    };
    sql("CREATE TABLE metadata (name text, value text)");
    sql(
        "CREATE TABLE tiles (zoom_level integer, tile_column integer, tile_row integer, tile_data blob)",
    );
    for (k, v) in [
        ("name", "test"),
        ("format", format),
        ("minzoom", "0"),
        ("maxzoom", "3"),
    ] {
        sql(&format!("INSERT INTO metadata VALUES ('{k}', '{v}')"));
    }
    let hex: String = tile.iter().map(|b| format!("{b:02X}")).collect();
    for z in 0..4u32 {
        for x in 0..1u32 << z {
            for y in 0..1u32 << z {
                sql(&format!(
                    "INSERT INTO tiles VALUES ({z}, {x}, {y}, X'{hex}')"
                ));
            }
        }
    }
}

fn europe(zoom: f64) -> Settings {
    Settings {
        basemap: BasemapChoice::Plain,
        view: ViewState {
            lon: 10.0,
            lat: 50.0,
            zoom,
        },
        ..Settings::default()
    }
}

const MBTILES_TILE: [u8; 3] = [230, 140, 30];
const PMTILES_TILE: [u8; 3] = [40, 170, 90];

#[test]
fn a_local_mbtiles_or_pmtiles_file_is_the_basemap() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ui-tile-files");
    std::fs::create_dir_all(&dir).unwrap();
    let mb = dir.join("solid.mbtiles");
    write_mbtiles(&mb, "png", &png_of(MBTILES_TILE));
    // zoom 5 over the archives' deepest level 3: their tiles enlarged
    let mut h = app_with(europe(5.0));
    let ctx = h.ctx.clone();
    h.state_mut().set_basemap_file(mb.clone(), &ctx);
    step_until(&mut h, "the MBTiles tiles", |app| {
        app.basemap_health() == BasemapHealth::Online
    });
    wait_for_colour(&mut h, MBTILES_TILE, "the MBTiles tiles");
    assert_eq!(h.state().settings().basemap, BasemapChoice::LocalFile);
    assert_eq!(
        h.state().settings().basemap_file.as_deref(),
        Some(mb.as_path())
    );

    // what is not a raster tile archive is refused, naming the file; the basemap stays
    let junk = dir.join("notes.mbtiles");
    std::fs::write(&junk, "not tiles at all").unwrap();
    let vector = dir.join("vector.mbtiles");
    write_mbtiles(&vector, "pbf", b"\x1a\x03abc");
    for (bad, why) in [(&junk, "not a tile archive"), (&vector, "vector tiles")] {
        h.state_mut().set_basemap_file(bad.clone(), &ctx);
        step_until(&mut h, "the refusal", |app| !app.tile_file_opening());
        let name = bad.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            h.state()
                .messages
                .iter()
                .any(|m| m.error && m.text.contains(&name) && m.text.contains(why)),
            "{:?}",
            h.state().messages
        );
        assert_eq!(
            h.state().basemap_file(),
            Some(mb.as_path()),
            "the MBTiles stays"
        );
    }
    wait_for_colour(&mut h, MBTILES_TILE, "the MBTiles that stays");

    // a PMTiles v3 archive made by another implementation (gzip'd directories, one run of
    // 85 identical tiles)
    let pm = super::repo().join("tests/fixtures/basemap/solid.pmtiles");
    h.state_mut().set_basemap_file(pm.clone(), &ctx);
    step_until(&mut h, "the PMTiles tiles", |app| {
        app.basemap_file() == Some(pm.as_path())
    });
    step_until(&mut h, "the PMTiles tiles", |app| {
        app.basemap_health() == BasemapHealth::Online
    });
    wait_for_colour(&mut h, PMTILES_TILE, "the PMTiles tiles");

    // WebP tiles (lossless, as the image crate encodes them) decode too
    let webp = dir.join("photo.mbtiles");
    write_mbtiles(&webp, "webp", &encoded(WEBP_TILE, image::ImageFormat::WebP));
    h.state_mut().set_basemap_file(webp.clone(), &ctx);
    step_until(&mut h, "the WebP tiles", |app| {
        app.basemap_file() == Some(webp.as_path())
    });
    wait_for_colour(&mut h, WEBP_TILE, "the WebP tiles");
}

const WEBP_TILE: [u8; 3] = [20, 90, 210];
const WMTS_A: [u8; 3] = [180, 30, 40];
const WMTS_B: [u8; 3] = [30, 160, 170];

/// A WMTS capabilities document with two REST layers `a` and `b` on the Google tiling
/// (matrices `g:0`..`g:6`) and one in UTM only, served with its tiles.
fn wmts_capabilities(base: &str) -> String {
    let matrices: String = (0..=6u32)
        .map(|z| {
            format!(
                "<TileMatrix><ows:Identifier>g:{z}</ows:Identifier>\
                 <ScaleDenominator>{}</ScaleDenominator>\
                 <TopLeftCorner>-20037508.3427892 20037508.3427892</TopLeftCorner>\
                 <TileWidth>256</TileWidth><TileHeight>256</TileHeight>\
                 <MatrixWidth>{n}</MatrixWidth><MatrixHeight>{n}</MatrixHeight></TileMatrix>",
                559_082_264.028_717_8 / f64::from(1u32 << z),
                n = 1u32 << z
            )
        })
        .collect();
    let layer = |id: &str, title: &str, set: &str| {
        format!(
            "<Layer><ows:Title>{title}</ows:Title><ows:Identifier>{id}</ows:Identifier>\
             <Style isDefault=\"true\"><ows:Identifier>default</ows:Identifier></Style>\
             <Format>image/png</Format><TileMatrixSetLink><TileMatrixSet>{set}</TileMatrixSet>\
             </TileMatrixSetLink><ResourceURL format=\"image/png\" resourceType=\"tile\" \
             template=\"{base}/wmts/{id}/{{Style}}/{{TileMatrixSet}}/{{TileMatrix}}/{{TileRow}}/{{TileCol}}.png\"/>\
             </Layer>"
        )
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <Capabilities xmlns=\"http://www.opengis.net/wmts/1.0\" \
         xmlns:ows=\"http://www.opengis.net/ows/1.1\" version=\"1.0.0\"><Contents>{}{}{}\
         <TileMatrixSet><ows:Identifier>google</ows:Identifier>\
         <ows:SupportedCRS>urn:ogc:def:crs:EPSG::3857</ows:SupportedCRS>{matrices}</TileMatrixSet>\
         <TileMatrixSet><ows:Identifier>utm</ows:Identifier>\
         <ows:SupportedCRS>urn:ogc:def:crs:EPSG::25832</ows:SupportedCRS></TileMatrixSet>\
         </Contents></Capabilities>",
        layer("a", "Layer A", "google"),
        layer("b", "Layer B", "google"),
        layer("u", "UTM only", "utm"),
    )
}

#[test]
fn a_wmts_capabilities_url_is_the_basemap_with_a_choice_of_layers() {
    let www = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ui-wmts");
    let _ = std::fs::remove_dir_all(&www);
    // zoom 4 tiles of both layers (rows and columns 0..16), matrix g:4
    for (id, colour) in [("a", WMTS_A), ("b", WMTS_B)] {
        let png = encoded(colour, image::ImageFormat::Png);
        for row in 0..16 {
            let dir = www.join(format!("wmts/{id}/default/google/g:4/{row}"));
            std::fs::create_dir_all(&dir).unwrap();
            for col in 0..16 {
                std::fs::write(dir.join(format!("{col}.png")), &png).unwrap();
            }
        }
    }
    let server = RangeServer::start(www.clone(), u64::MAX);
    std::fs::write(
        www.join("WMTSCapabilities.xml"),
        wmts_capabilities(&server.base),
    )
    .unwrap();
    std::fs::write(www.join("not-wmts.xml"), "<html><body>hello</body></html>").unwrap();
    let url = format!("{}/WMTSCapabilities.xml", server.base);

    let mut h = app_with(europe(4.0));
    let ctx = h.ctx.clone();
    // as a user does it: View, a click into the URL field (which must not close the menu,
    // as egui's menus do on any click by default), the URL typed, "use"
    h.get_by_label("View").click();
    h.run_steps(2);
    h.get_by_label("XYZ or WMTS tiles (URL)").click();
    h.run_steps(2);
    h.get_by_label("XYZ or WMTS tiles (URL)").type_text(&url);
    h.run_steps(2);
    h.get_by_label("use").click();
    h.run_steps(2);
    step_until(&mut h, "the capabilities", |app| {
        !app.wmts_fetching() && !app.wmts_layers().is_empty()
    });
    assert_eq!(
        h.state().wmts_layers(),
        ["a", "b"],
        "the UTM layer is left out"
    );
    wait_for_colour(&mut h, WMTS_A, "WMTS layer a");
    let s = h.state().settings();
    assert_eq!(
        (s.basemap, s.basemap_url.as_str()),
        (BasemapChoice::Custom, url.as_str())
    );
    assert_eq!(s.basemap_layer.as_deref(), Some("a"));

    // the other layer, picked in the menu
    h.get_by_label("View").click();
    h.run_steps(2);
    h.get_by_label("Layer B").click();
    h.run_steps(2);
    wait_for_colour(&mut h, WMTS_B, "WMTS layer b");
    assert_eq!(h.state().settings().basemap_layer.as_deref(), Some("b"));

    // reopened with those settings: the capabilities are read again, layer b drawn
    let mut again = app_with(h.state().settings());
    step_until(&mut again, "the capabilities again", |app| {
        app.wmts_layers().len() == 2
    });
    wait_for_colour(&mut again, WMTS_B, "WMTS layer b after a restart");

    // a document that is not WMTS capabilities is refused, naming the URL; the map stays
    let bad = format!("{}/not-wmts.xml", server.base);
    h.state_mut()
        .set_basemap(BasemapChoice::Custom, Some(bad.clone()), &ctx);
    step_until(&mut h, "the refusal", |app| !app.wmts_fetching());
    assert!(
        h.state()
            .messages
            .iter()
            .any(|m| m.error && m.text.contains(&bad) && m.text.contains("not WMTS")),
        "{:?}",
        h.state().messages
    );
    assert_eq!(h.state().settings().basemap_url, url, "the WMTS stays");
    wait_for_colour(&mut h, WMTS_B, "the WMTS that stays");
}

#[test]
fn the_offline_basemap_shows_coasts_borders_and_places_at_regional_zoom() {
    // north-eastern Germany and western Poland: the Baltic coast, the Oder border, Berlin,
    // Szczecin
    let settings = Settings {
        basemap: BasemapChoice::NaturalEarth,
        view: ViewState {
            lon: 14.0,
            lat: 53.3,
            zoom: 7.0,
        },
        ..Settings::default()
    };
    let mut h = app_with(settings);
    step_until(&mut h, "the Natural Earth basemap", |app| {
        app.natural_earth_ready()
    });
    h.run_steps(5);
    let mut times = Vec::new();
    for _ in 0..30 {
        h.step();
        times.push(h.state().offline_draw.unwrap().time);
    }
    times.sort();
    let stats = h.state().offline_draw.unwrap();
    eprintln!(
        "Natural Earth basemap at zoom 7: level {}, {} line pieces, {} labels; draw per frame: median {:?}, max {:?} (this build's profile)",
        stats.level,
        stats.pieces,
        stats.labels,
        times[times.len() / 2],
        times[times.len() - 1]
    );
    assert_eq!(stats.level, 2, "1:10m at zoom 7");
    assert!(stats.labels >= 10, "{stats:?}");
    h.snapshot("basemap_natural_earth");
    // the coast's colour is on the map
    let (coast, _) = map_pixels_of(&mut h, [70, 110, 160]);
    assert!(coast > 5, "{coast} coast pixels");
}

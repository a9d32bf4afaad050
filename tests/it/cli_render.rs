//! `kestrel render` through the binary: the demo scene drawn into a GeoTIFF whose
//! georeferencing is the scene's Web Mercator extent and whose pixels are the library's
//! render of the same style, byte for byte (transparent outside the footprint); a lon/lat
//! box places the picture there; a PNG gets its world file; a wrong extension is refused
//! naming the file.

use kestrel::jobs::CancelToken;
use kestrel::raster::Scene;
use kestrel::raster::georef::lonlat_to_web_mercator;
use kestrel::raster::view::{self, LayerStyle};

use super::common::{kestrel, ok, repo};

fn read_rgba(path: &std::path::Path) -> (usize, usize, [f64; 6], Vec<u8>) {
    let ds = gdal::Dataset::open(path).unwrap();
    let (w, h) = ds.raster_size();
    let bands: Vec<Vec<u8>> = (1..=4)
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
        .flat_map(|i| [bands[0][i], bands[1][i], bands[2][i], bands[3][i]])
        .collect();
    (w, h, ds.geo_transform().unwrap(), rgba)
}

#[test]
fn render_writes_the_viewers_picture_georeferenced() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let demo = repo().join("assets/demo/T33UUU_20170216_L1C");
    let tif = tmp.path().join("demo.tif");
    ok(&kestrel(
        &cache,
        &[
            "render",
            &demo.to_string_lossy(),
            "--out",
            &tif.to_string_lossy(),
            "--width",
            "400",
        ],
    ));
    let (w, h, gt, rgba) = read_rgba(&tif);
    let scene = Scene::open(&demo, &CancelToken::new()).unwrap();
    let b = scene.info().bounds_3857;
    assert_eq!(w, 400);
    assert_eq!(h, (b.height() / b.width() * 400.0).round() as usize);
    assert!(
        (gt[0] - b.min_x).abs() < 1e-6 && (gt[3] - b.max_y).abs() < 1e-6,
        "{gt:?}"
    );
    assert!((gt[1] * 400.0 - b.width()).abs() < 1e-6, "{gt:?}");
    // the library's render of the same style, pixel for pixel
    let sample = view::sample(&scene, &CancelToken::new()).unwrap();
    let out = view::render(
        &scene,
        &sample,
        &LayerStyle::default(),
        &[(b, w, h)],
        false,
        &CancelToken::new(),
    )
    .unwrap();
    assert!(
        out.images[0].1.rgba == rgba,
        "the GeoTIFF is not the render"
    );
    // the UTM scene is tilted in Web Mercator: a corner is outside it, the centre inside
    assert_eq!(rgba[3], 0);
    assert_eq!(rgba[((h / 2) * w + w / 2) * 4 + 3], 255);

    // a box: the picture starts at its north-west corner
    let png = tmp.path().join("part.png");
    let out = kestrel(
        &cache,
        &[
            "render",
            &demo.to_string_lossy(),
            "--out",
            &png.to_string_lossy(),
            "--composite",
            "ndvi",
            "--bbox",
            "12.55,52.46,12.65,52.52",
            "--width",
            "200",
        ],
    );
    ok(&out);
    // (read in this process after Scene::open set GDAL up: the world file must be found,
    // which a global GDAL_DISABLE_READDIR_ON_OPEN=EMPTY_DIR prevented)
    let (w, _, gt, _) = read_rgba(&png);
    let (x0, y1) = lonlat_to_web_mercator(12.55, 52.52);
    let (x1, _) = lonlat_to_web_mercator(12.65, 52.46);
    assert_eq!(w, 200);
    assert!(
        (gt[0] - x0).abs() < 1e-6 && (gt[3] - y1).abs() < 1e-6,
        "{gt:?}"
    );
    assert!((gt[1] * 200.0 - (x1 - x0)).abs() < 1e-6, "{gt:?}");
    assert!(tmp.path().join("part.wld").is_file());

    let out = kestrel(
        &cache,
        &["render", &demo.to_string_lossy(), "--out", "view.jpg"],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("view.jpg") && err.contains(".tif"), "{err}");
}

//! Bad and awkward input, crafted with GDAL in a temporary folder: a truncated TIFF, a
//! TIFF without CRS, a one-band JPEG, an unknown band order, a missing file, empty and
//! unrelated folders, band files in different CRSs. Each gives a clear error naming the
//! file and the problem (or, for the band order, an openable scene that asks the user),
//! never a panic. Also: nodata-aware upsampling and cancellation.

use std::path::{Path, PathBuf};

use gdal::raster::Buffer;
use gdal::spatial_ref::SpatialRef;
use gdal::{Dataset, DriverManager, Metadata as _};
use kestrel::jobs::CancelToken;
use kestrel::raster::{
    BandRole, Preset, RasterError, ReadRequest, Resampling, S2Band, Scene, Window,
};

/// Write a north-up UInt16 GeoTIFF (`epsg` None: no CRS) with `bands` planes whose
/// values come from `value(band, x, y)`.
fn write_tif(
    path: &Path,
    w: usize,
    h: usize,
    bands: usize,
    epsg: Option<u32>,
    res: f64,
    value: impl Fn(usize, usize, usize) -> u16,
) {
    let drv = DriverManager::get_driver_by_name("GTiff").unwrap();
    let mut ds = drv
        .create_with_band_type::<u16, _>(path, w, h, bands)
        .unwrap();
    ds.set_geo_transform(&[500000.0, res, 0.0, 6000000.0, 0.0, -res])
        .unwrap();
    if let Some(e) = epsg {
        ds.set_spatial_ref(&SpatialRef::from_epsg(e).unwrap())
            .unwrap();
    }
    for b in 0..bands {
        let data: Vec<u16> = (0..w * h).map(|i| value(b, i % w, i / w)).collect();
        let mut buf = Buffer::new((w, h), data);
        ds.rasterband(b + 1)
            .unwrap()
            .write((0, 0), (w, h), &mut buf)
            .unwrap();
    }
}

fn open(p: &Path) -> Result<Scene, RasterError> {
    Scene::open(p, &CancelToken::new())
}

fn assert_names(e: &RasterError, p: &Path) {
    let msg = e.to_string();
    assert!(msg.contains(&p.display().to_string()), "{msg}");
}

#[test]
fn missing_file() {
    let p = PathBuf::from("/nonexistent/scene_B02.tif");
    let e = open(&p).unwrap_err();
    assert!(matches!(e, RasterError::NotFound { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        "/nonexistent/scene_B02.tif: no such file or folder"
    );
}

#[test]
fn truncated_tiff() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full.tif");
    write_tif(&full, 256, 256, 12, Some(32633), 10.0, |b, x, y| {
        (1000 + b * 100 + x + y) as u16
    });
    let bytes = std::fs::read(&full).unwrap();
    for (name, len) in [("head.tif", 200), ("half.tif", bytes.len() / 2)] {
        let p = dir.path().join(name);
        std::fs::write(&p, &bytes[..len]).unwrap();
        let e = open(&p).unwrap_err();
        assert_names(&e, &p);
        assert!(
            matches!(e, RasterError::Open { .. } | RasterError::Read { .. }),
            "{name}: {e}"
        );
    }
}

#[test]
fn tiff_without_crs() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("nocrs.tif");
    write_tif(&p, 16, 16, 4, None, 10.0, |_, _, _| 500);
    let e = open(&p).unwrap_err();
    assert!(matches!(e, RasterError::NoCrs { .. }), "{e}");
    assert_names(&e, &p);
    assert!(
        e.to_string().contains("no coordinate reference system"),
        "{e}"
    );
}

#[test]
fn one_band_jpeg() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("photo.jpg");
    let mem = DriverManager::get_driver_by_name("MEM").unwrap();
    let ds = mem.create_with_band_type::<u8, _>("", 32, 32, 1).unwrap();
    let mut buf = Buffer::new((32, 32), (0..1024).map(|i| (i % 251) as u8).collect());
    ds.rasterband(1)
        .unwrap()
        .write((0, 0), (32, 32), &mut buf)
        .unwrap();
    let jpeg = DriverManager::get_driver_by_name("JPEG").unwrap();
    ds.create_copy(&jpeg, &p, &Default::default()).unwrap();
    let e = open(&p).unwrap_err();
    assert!(matches!(e, RasterError::Unsupported { .. }), "{e}");
    assert_names(&e, &p);
    let msg = e.to_string();
    assert!(
        msg.contains("1-band 8-bit JPEG image without georeferencing"),
        "{msg}"
    );
}

#[test]
fn not_a_raster() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("notes_B02.tif");
    std::fs::write(&p, "this is not a TIFF").unwrap();
    let e = open(&p).unwrap_err();
    assert!(matches!(e, RasterError::Open { .. }), "{e}");
    assert_names(&e, &p);
}

#[test]
fn unknown_band_order_opens_and_asks_for_bands() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("stack5.tif");
    write_tif(&p, 16, 16, 5, Some(32633), 10.0, |b, _, _| {
        (800 + 100 * b) as u16
    });
    let mut scene = open(&p).unwrap();
    let info = scene.info();
    assert!(!info.bands_confirmed);
    assert!(info.bands.iter().all(|b| b.role == BandRole::Other));
    assert!(
        info.notes.iter().any(|n| n.contains("band order unknown")),
        "{:?}",
        info.notes
    );
    let e = scene.require_bands(&S2Band::MSCLIP_10).unwrap_err();
    assert!(matches!(e, RasterError::UnknownBandOrder { .. }), "{e}");
    assert_names(&e, &p);
    assert!(
        e.to_string().contains("none of its 5 bands is identified"),
        "{e}"
    );
    let why = Preset::TrueColor.available(&scene.roles()).unwrap_err();
    assert!(why.to_string().contains("B04, B03, B02"), "{why}");
    // Raw values are still readable.
    let s = scene
        .read(
            &ReadRequest::full_resolution(vec![4], Window::new(0, 0, 2, 2)),
            &CancelToken::new(),
        )
        .unwrap();
    assert_eq!(s.data, vec![1200.0; 4]);
    // The user assigns the bands: B02 B03 B04 B08 and SCL.
    scene
        .set_band_roles(vec![
            BandRole::Spectral(S2Band::B02),
            BandRole::Spectral(S2Band::B03),
            BandRole::Spectral(S2Band::B04),
            BandRole::Spectral(S2Band::B08),
            BandRole::Scl,
        ])
        .unwrap();
    assert_eq!(Preset::TrueColor.available(&scene.roles()), Ok([2, 1, 0]));
    assert!(scene.info().bands_confirmed);
    assert_eq!(scene.info().bands[0].identified_by, "assigned by the user");
    assert_eq!(scene.info().bands[0].gain, 1.0);
    assert!(scene.info().bands[0].zero_is_nodata);
}

#[test]
fn empty_and_unrelated_folders() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(dir.path()).unwrap_err();
    assert!(matches!(e, RasterError::EmptyFolder { .. }), "{e}");
    assert_names(&e, dir.path());
    std::fs::write(dir.path().join("labels.json"), "{}").unwrap();
    write_tif(
        &dir.path().join("elevation.tif"),
        4,
        4,
        1,
        Some(32633),
        10.0,
        |_, _, _| 1,
    );
    let e = open(dir.path()).unwrap_err();
    assert!(matches!(e, RasterError::EmptyFolder { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("no file name names a Sentinel-2 band"),
        "{e}"
    );
}

#[test]
fn band_files_in_different_crs() {
    let dir = tempfile::tempdir().unwrap();
    write_tif(
        &dir.path().join("x_B02.tif"),
        4,
        4,
        1,
        Some(32633),
        10.0,
        |_, _, _| 1,
    );
    let odd = dir.path().join("x_B03.tif");
    write_tif(&odd, 4, 4, 1, Some(32634), 10.0, |_, _, _| 1);
    let e = open(dir.path()).unwrap_err();
    assert!(matches!(e, RasterError::Unsupported { .. }), "{e}");
    assert_names(&e, &odd);
}

/// A folder with a 10 m B02 and a 20 m B05 whose left half is DN 0 (nodata): a 10 m
/// bilinear read must not blend the nodata into valid pixels.
#[test]
fn upsampling_does_not_blend_nodata() {
    let dir = tempfile::tempdir().unwrap();
    write_tif(
        &dir.path().join("T_B02.tif"),
        20,
        20,
        1,
        Some(32633),
        10.0,
        |_, _, _| 1500,
    );
    write_tif(
        &dir.path().join("T_B05.tif"),
        10,
        10,
        1,
        Some(32633),
        20.0,
        |_, x, _| {
            if x < 5 { 0 } else { 2000 + 100 * x as u16 }
        },
    );
    let scene = open(dir.path()).unwrap();
    assert_eq!(scene.roles()[1], BandRole::Spectral(S2Band::B05));
    let req = ReadRequest {
        resampling: Resampling::Bilinear,
        ..ReadRequest::full_resolution(vec![1], Window::new(0, 0, 20, 20))
    };
    let s = scene.read(&req, &CancelToken::new()).unwrap();
    for y in 0..20 {
        for x in 0..20 {
            let v = s.value(0, x, y);
            if x < 10 {
                assert!(v.is_nan(), "({x}, {y}) = {v}: nodata side");
            } else {
                assert!(
                    (2500.0..=2900.0).contains(&v),
                    "({x}, {y}) = {v}: blended with nodata"
                );
            }
        }
    }
    // Interpolation between valid 20 m pixels 6 (2600) and 7 (2700): 10 m pixel 14 has
    // its centre at 20 m coordinate 7.25, a quarter of the way from centre 6.5 to 7.5.
    assert_eq!(s.value(0, 14, 3), 2675.0);
}

#[test]
fn cancelled_reads_stop() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("S2_stack.tif");
    write_tif(&p, 64, 64, 12, Some(32633), 10.0, |b, _, _| {
        (500 + b) as u16
    });
    let scene = open(&p).unwrap();
    let c = CancelToken::new();
    c.cancel();
    let e = scene
        .read(
            &ReadRequest::full_resolution(vec![1, 2, 3], Window::new(0, 0, 64, 64)),
            &c,
        )
        .unwrap_err();
    assert!(e.is_cancelled(), "{e}");
    assert!(Scene::open(&p, &c).unwrap_err().is_cancelled());
}

#[test]
fn descriptions_and_gdal_scale_offset_are_honoured() {
    // A COG-like stack as Earth Search writes it: named bands, scale 0.0001, offset −0.1.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c1.tif");
    write_tif(&p, 8, 8, 3, Some(32633), 10.0, |b, _, _| {
        (1500 + 100 * b) as u16
    });
    {
        let ds = Dataset::open_ex(
            &p,
            gdal::DatasetOptions {
                open_flags: gdal::GdalOpenFlags::GDAL_OF_UPDATE,
                ..Default::default()
            },
        )
        .unwrap();
        for (i, name) in ["red", "green", "blue"].iter().enumerate() {
            let mut rb = ds.rasterband(i + 1).unwrap();
            let band = ["B04", "B03", "B02"][i];
            rb.set_description(&format!("{band} ({name})")).unwrap();
            rb.set_scale(0.0001).unwrap();
            rb.set_offset(-0.1).unwrap();
        }
    }
    let scene = open(&p).unwrap();
    assert_eq!(
        scene.roles(),
        vec![
            BandRole::Spectral(S2Band::B04),
            BandRole::Spectral(S2Band::B03),
            BandRole::Spectral(S2Band::B02)
        ]
    );
    let r = &scene.info().radiometry;
    assert!((r.scale_to_10000 - 1.0).abs() < 1e-9);
    assert!((r.offset + 1000.0).abs() < 1e-6);
    assert!(r.reason.contains("GDAL scale"), "{}", r.reason);
    assert_eq!(scene.info().open_sample_pixels, None);
    let s = scene
        .read(
            &ReadRequest::full_resolution(vec![0, 2], Window::new(0, 0, 1, 1)),
            &CancelToken::new(),
        )
        .unwrap();
    assert!(
        (s.data[0] - 500.0).abs() < 1e-3 && (s.data[1] - 700.0).abs() < 1e-3,
        "{:?}",
        s.data
    );
}

/// SCL is categorical: reads and reprojections with bilinear resampling must keep class
/// values (nearest), while reflectance bands are interpolated.
#[test]
fn scl_stays_categorical_when_resampled_and_warped() {
    let dir = tempfile::tempdir().unwrap();
    write_tif(
        &dir.path().join("T_B02_10m.tif"),
        40,
        40,
        1,
        Some(32633),
        10.0,
        |_, x, _| 1000 + 10 * x as u16,
    );
    // 20 m SCL: vertical stripes of classes 4, 6, 9, 5 (5 px each).
    write_tif(
        &dir.path().join("T_SCL_20m.tif"),
        20,
        20,
        1,
        Some(32633),
        20.0,
        |_, x, _| [4, 6, 9, 5][x / 5],
    );
    let scene = open(dir.path()).unwrap();
    assert_eq!(
        scene.roles(),
        vec![BandRole::Spectral(S2Band::B02), BandRole::Scl]
    );
    assert_eq!(scene.info().bands[1].resolution_m, 20.0);
    let c = CancelToken::new();
    let s = scene
        .read(
            &ReadRequest {
                resampling: Resampling::Cubic,
                ..ReadRequest::full_resolution(vec![0, 1], Window::new(0, 0, 40, 40))
            },
            &c,
        )
        .unwrap();
    let classes = [4.0, 5.0, 6.0, 9.0];
    assert!(
        s.plane(1).iter().all(|v| classes.contains(v)),
        "{:?}",
        &s.plane(1)[..40]
    );
    // 10 m column 10 lies in 20 m column 5: class 6; SCL is not harmonised.
    assert_eq!(s.value(1, 10, 3), 6.0);
    assert_eq!(s.value(0, 10, 3), 1100.0);
    // Reprojected to Web Mercator with bilinear: classes survive, B02 interpolates.
    let m = scene.info().bounds_3857;
    let w = scene
        .read_web_mercator(&[0, 1], m, 64, 64, Resampling::Bilinear, &c)
        .unwrap();
    let scl: Vec<f32> = w.plane(1).iter().copied().filter(|v| !v.is_nan()).collect();
    assert!(scl.len() > 64 * 64 / 2, "{}", scl.len());
    assert!(scl.iter().all(|v| classes.contains(v)));
    let b02: Vec<f32> = w.plane(0).iter().copied().filter(|v| !v.is_nan()).collect();
    assert!(
        b02.iter().any(|v| v.fract() != 0.0),
        "bilinear values between columns"
    );
    assert!(b02.iter().all(|v| (1000.0..=1390.0).contains(v)));
}

/// The UI pattern: open and read on a worker thread, hand plain data back.
#[test]
fn open_and_read_on_a_worker_thread() {
    use kestrel::jobs::JobHandle;
    use std::sync::Arc;
    let chip = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/chips/38D_378R_2_3.tif");
    let job = JobHandle::spawn("open", Arc::new(|| {}), move |ctx| {
        let scene = Scene::open(&chip, &ctx.cancel)?;
        let stack = scene.sample(&[3, 2, 1], 64, &ctx.cancel)?;
        Ok::<_, RasterError>((scene, stack))
    });
    let (scene, stack) = job.join().unwrap().unwrap();
    assert_eq!((stack.width, stack.height), (64, 64));
    // Another thread reads from the same (shared) scene description.
    let scene = Arc::new(scene);
    let s2 = Arc::clone(&scene);
    let v = std::thread::spawn(move || {
        s2.read(
            &ReadRequest::full_resolution(vec![1], Window::new(100, 120, 1, 1)),
            &CancelToken::new(),
        )
        .unwrap()
        .data[0]
    })
    .join()
    .unwrap();
    assert_eq!(v, 730.0); // gdallocationinfo 38D_378R_2_3.tif 100 120, band 2
}

/// A big file without overviews is sampled with full-resolution patches (a decimated
/// read would decode every block); with overviews, by a decimated read.
#[test]
fn samples_without_overviews_use_patches() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("big_B04.tif");
    write_tif(&p, 700, 600, 1, Some(32633), 10.0, |_, x, y| {
        (x + 1000 * (y % 7)) as u16
    });
    let scene = open(&p).unwrap();
    assert_eq!(scene.info().bands[0].overviews, 0);
    // Opening took 64 patches of 20 px for the radiometry tests.
    assert_eq!(scene.info().open_sample_pixels, Some(160 * 160));
    let s = scene.sample(&[0], 64, &CancelToken::new()).unwrap();
    assert_eq!((s.width, s.height), (64, 64));
    assert_eq!(s.geo_transform, [0.0; 6], "a mosaic is not a map grid");
    assert!(
        s.notes[0].contains("64 full-resolution patches of 8 px"),
        "{:?}",
        s.notes
    );
    // Patch (i, j) starts at (i·87 + 39, j·75 + 33): cells of 700/8 and 600/8 px.
    for (i, j, dx, dy) in [(0, 0, 0, 0), (3, 5, 2, 7), (7, 7, 7, 7)] {
        let (x, y) = (i * 87 + 39 + dx, j * 75 + 33 + dy);
        let want = (x + 1000 * (y % 7)) as f32;
        assert_eq!(s.value(0, i * 8 + dx, j * 8 + dy), want, "patch ({i}, {j})");
    }
    // Small scenes (≤ 4 × max_side) are read decimated, with a map grid.
    let s = scene.sample(&[0], 256, &CancelToken::new()).unwrap();
    assert_eq!((s.width, s.height), (256, 219));
    assert_eq!(s.geo_transform[1], 10.0 * 700.0 / 256.0);
}

/// What the viewer meets too (the CLI adds its own "cannot open PATH" on top): a FIFO is
/// refused before GDAL could block on it, and an empty `.tif` gets a plain reason instead of
/// GDAL's "NULL pointer".
#[test]
fn fifo_and_empty_tif_at_the_raster_layer() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("scene.tif");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if matches!(made, Ok(s) if s.success()) {
        let e = open(&fifo).unwrap_err();
        assert!(matches!(e, RasterError::NotAFile { .. }), "{e}");
        assert_eq!(
            e.to_string(),
            format!(
                "{} is not a regular file (it is a FIFO (named pipe))",
                fifo.display()
            )
        );
    } else {
        eprintln!("skip: mkfifo failed");
    }
    let empty = dir.path().join("empty_B02.tif");
    std::fs::write(&empty, b"").unwrap();
    let e = open(&empty).unwrap_err();
    assert!(matches!(e, RasterError::Open { .. }), "{e}");
    assert_names(&e, &empty);
    assert!(
        e.to_string().ends_with("the file is empty (0 bytes)"),
        "{e}"
    );
}

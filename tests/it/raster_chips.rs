//! The five Llama3-MS-CLIP example chips (tests/fixtures/chips): band identification by
//! the 12-band convention, the per-chip offset decision, pixel values (from
//! `gdallocationinfo`), and rendering (presets, indices, stretches, histogram) on real
//! values. Needs only the repository's fixtures.

use std::path::{Path, PathBuf};

use kestrel::jobs::CancelToken;
use kestrel::raster::radiometry::Evidence;
use kestrel::raster::render::{self, auto_stretch};
use kestrel::raster::{
    BandRole, ChannelStats, ChannelStretch, Composite, Histogram, Preset, ProcessingLevel,
    ReadRequest, S2Band, Scene, SpectralIndex, StretchMethod, Window,
};

fn chip(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/chips")
        .join(format!("{name}.tif"))
}

fn open(name: &str) -> Scene {
    Scene::open(&chip(name), &CancelToken::new()).unwrap_or_else(|e| panic!("{e}"))
}

/// `gdallocationinfo -valonly CHIP.tif 100 120` for every chip.
const AT_100_120: [(&str, [f32; 12]); 5] = [
    (
        "282D_485L_3_3",
        [
            760., 805., 1148., 1296., 1499., 1521., 1590., 1744., 1715., 2001., 1505., 889.,
        ],
    ),
    (
        "38D_378R_2_3",
        [
            582., 730., 1012., 1372., 1810., 2240., 2490., 2576., 2883., 2796., 3448., 2600.,
        ],
    ),
    (
        "433D_629L_3_1",
        [
            1323., 1310., 1399., 1378., 1853., 2425., 2638., 2829., 2871., 3048., 2580., 2011.,
        ],
    ),
    (
        "609U_541L_3_0",
        [
            7590., 7388., 6260., 6172., 6337., 6041., 6025., 5948., 5886., 6593., 1032., 1102.,
        ],
    ),
    (
        "637U_59R_1_3",
        [
            97., 27., 177., 312., 451., 545., 697., 885., 1001., 1023., 1124., 678.,
        ],
    ),
];

#[test]
fn chips_follow_the_12_band_convention() {
    for (name, raw) in AT_100_120 {
        let scene = open(name);
        let info = scene.info();
        let roles: Vec<BandRole> = S2Band::L2A_12
            .iter()
            .map(|b| BandRole::Spectral(*b))
            .collect();
        assert_eq!(scene.roles(), roles, "{name}");
        assert!(
            info.bands[0]
                .identified_by
                .starts_with("12-band convention"),
            "{name}"
        );
        assert!(info.bands_confirmed, "{name}");
        assert_eq!(info.level, ProcessingLevel::L2A, "{name}");
        assert!(info.bands.iter().all(|b| b.data_type == "Int16"), "{name}");
        assert_eq!(info.radiometry.scale_to_10000, 1.0, "{name}");
        assert_eq!(
            info.radiometry.offset_evidence,
            Evidence::Detected,
            "{name}"
        );
        // 433D (2020, Chile) carries the +1000 offset: every band's darkest pixels sit
        // at ≈1000 (minima 969..1767, B02 1056). The other chips have dark pixels far
        // below 1000 (B02 minima 28, 257, 915 with SWIR 108, 1).
        let offset = if name == "433D_629L_3_1" {
            -1000.0
        } else {
            0.0
        };
        assert_eq!(
            info.radiometry.offset, offset,
            "{name}: {}",
            info.radiometry.reason
        );
        let all: Vec<usize> = (0..12).collect();
        let s = scene
            .read(
                &ReadRequest::full_resolution(all, Window::new(100, 120, 1, 1)),
                &CancelToken::new(),
            )
            .unwrap();
        let want: Vec<f32> = raw.iter().map(|v| v + offset as f32).collect();
        assert_eq!(s.data, want, "{name}");
        // The MS-CLIP input bands are all there.
        let idx = scene.require_bands(&S2Band::MSCLIP_10).unwrap();
        assert_eq!(idx, vec![1, 2, 3, 4, 5, 6, 7, 8, 10, 11], "{name}");
    }
}

#[test]
fn chips_read_raw_when_the_user_says_so() {
    // The MS-CLIP reference feeds the chips unchanged; the user can switch the
    // harmonisation off.
    let mut scene = open("433D_629L_3_1");
    scene.set_radiometry(kestrel::raster::Radiometry::user(1.0, 0.0, true));
    assert_eq!(scene.info().bands[1].offset, 0.0);
    assert!(
        scene
            .info()
            .radiometry
            .reason
            .starts_with("set by the user")
    );
    let s = scene
        .read(
            &ReadRequest::full_resolution(vec![1], Window::new(100, 120, 1, 1)),
            &CancelToken::new(),
        )
        .unwrap();
    assert_eq!(s.data, vec![1310.0]);
}

#[test]
fn percentile_stretch_and_histogram_of_a_chip() {
    let c = CancelToken::new();
    // p2/p98 of B02 over all 224×224 pixels (numpy-style linear interpolation of the
    // sorted raw values, from a gdal_translate -of ENVI dump): 637U 1/622, 433D 1154/1854.
    for (name, lo, hi) in [
        ("637U_59R_1_3", 1.0, 622.0),
        ("433D_629L_3_1", 154.0, 854.0),
    ] {
        let scene = open(name);
        let s = scene.sample(&[3, 2, 1], 256, &c).unwrap();
        assert_eq!((s.width, s.height), (224, 224));
        let stats = ChannelStats::from_values(s.band_of_scene_index(1).unwrap());
        assert_eq!(stats.count, 50176);
        let st = stats.stretch(StretchMethod::default(), 1.0);
        assert_eq!((st.min, st.max), (lo, hi), "{name}");
        let composite = Composite::Preset {
            preset: Preset::TrueColor,
        };
        let auto = auto_stretch(&s, &composite, StretchMethod::default(), 1.0)
            .unwrap()
            .unwrap();
        assert_eq!(auto[2], st, "blue channel is B02");
        let h = Histogram::compute(s.band_of_scene_index(1).unwrap(), 64, Some((lo, hi)));
        assert_eq!(h.nodata, 0);
        let inside: u64 = h.counts.iter().sum();
        // 2–98 %: about 96 % of the pixels inside the cut (ties at the cut values count in).
        assert!(
            (inside + h.outside) == 50176 && inside >= 48_000,
            "{name}: {inside} inside, {} outside",
            h.outside
        );
    }
}

#[test]
fn render_presets_and_indices_on_real_values() {
    let scene = open("637U_59R_1_3");
    let roles = scene.roles();
    let c = CancelToken::new();
    let window = Window::new(100, 120, 2, 1);
    let all: Vec<usize> = (0..12).collect();
    let s = scene
        .read(&ReadRequest::full_resolution(all, window), &c)
        .unwrap();
    // Fixed 0–3000 stretch: pixel (100, 120) has B04 312, B03 177, B02 27.
    let fixed = ChannelStretch {
        min: 0.0,
        max: 3000.0,
        gamma: 1.0,
    };
    let img = render::render(
        &s,
        &Composite::Preset {
            preset: Preset::TrueColor,
        },
        Some(&[fixed; 3]),
    )
    .unwrap();
    assert_eq!((img.width, img.height), (2, 1));
    assert_eq!(&img.rgba[0..4], &[27, 15, 2, 255]);
    // False colour NIR: B08 885, B04 312, B03 177.
    let img = render::render(
        &s,
        &Composite::Preset {
            preset: Preset::FalseColor,
        },
        Some(&[fixed; 3]),
    )
    .unwrap();
    assert_eq!(&img.rgba[0..4], &[75, 27, 15, 255]);
    // NDVI = (885 − 312) / (885 + 312) = 0.4787: between the 0.45 and 0.5 ramp stops.
    let ndvi = SpectralIndex::Ndvi.compute(
        s.band_of_role(BandRole::Spectral(S2Band::B08)).unwrap(),
        s.band_of_role(BandRole::Spectral(S2Band::B04)).unwrap(),
    );
    assert!((ndvi[0] - 0.478_696_7).abs() < 1e-6, "{}", ndvi[0]);
    let img = render::render(
        &s,
        &Composite::Index {
            index: SpectralIndex::Ndvi,
        },
        None,
    )
    .unwrap();
    assert_eq!(&img.rgba[0..4], &[54, 115, 31, 255]);
    // Every preset is available on a 12-band L2A chip; SCL is not.
    for p in Preset::ALL {
        assert!(p.available(&roles).is_ok(), "{p:?}");
    }
    assert!(Composite::Scl.bands(&roles).is_err());
}

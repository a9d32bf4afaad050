//! The bad-input corpus (issue 14), second half, through the binary: rasters with 2, 4
//! and 13 unnamed bands, no CRS, NaN nodata, all-zero and all-nodata scenes, a sparse
//! 100 000² GeoTIFF, RGB PNG/JPEG pictures, a SAFE whose `MTD_MSIL2A.xml` is cut in half,
//! band folders with a missing band or a band file of another scene, 255-byte and
//! non-UTF-8 file names, a `.SAFE` and a local STAC item (relative and percent-encoded
//! `file://` hrefs) inside folders whose names are not UTF-8, safetensors whose header lies, corrupt cache entries and index
//! files, empty / control-character / 1 MB queries, and zero, duplicate and 1 000
//! classes. Each case asserts the exit code and that stderr names the file and the
//! problem (and never "panicked"), or the correct result.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use gdal::raster::{Buffer, RasterCreationOptions};
use gdal::spatial_ref::SpatialRef;
use gdal::{Dataset, DriverManager};
use kestrel::jobs::{CancelToken, NoProgress};
use kestrel::model::device::{DevicePreference, Precision};
use kestrel::model::{Embedder, ModelSpec};
use kestrel::search::geoparquet;
use kestrel::search::session::Query;

use super::bad_input::{chip, fails, kestrel, ok, s, stderr, tiny};
use super::common::{fixture, repo};

/// A north-up UInt16 GeoTIFF in EPSG:32633 (`crs` false: none), 10 m pixels from
/// (500000, 6000000) shifted by `dx` metres, every pixel of band `b` = `value(b)`.
fn tif(path: &Path, size: usize, bands: usize, crs: bool, dx: f64, value: impl Fn(usize) -> u16) {
    let drv = DriverManager::get_driver_by_name("GTiff").unwrap();
    let mut ds = drv
        .create_with_band_type::<u16, _>(path, size, size, bands)
        .unwrap();
    ds.set_geo_transform(&[500000.0 + dx, 10.0, 0.0, 6000000.0, 0.0, -10.0])
        .unwrap();
    if crs {
        ds.set_spatial_ref(&SpatialRef::from_epsg(32633).unwrap())
            .unwrap();
    }
    for b in 0..bands {
        let mut buf = Buffer::new((size, size), vec![value(b); size * size]);
        ds.rasterband(b + 1)
            .unwrap()
            .write((0, 0), (size, size), &mut buf)
            .unwrap();
    }
}

fn search_args<'a>(model: &'a str, input: &'a str) -> Vec<&'a str> {
    vec!["search", "--model", model, "--query", "fields", input]
}

#[test]
fn two_and_four_unnamed_bands_ask_for_an_assignment() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny();
    for n in [2, 4] {
        let p = tmp.path().join(format!("stack{n}.tif"));
        tif(&p, 240, n, true, 0.0, |b| 1000 + b as u16);
        let f = s(&p);
        let info = ok(&kestrel(tmp.path(), &["info", &f]));
        assert!(
            info.contains(&format!("Bands ({n}, NOT CONFIRMED")),
            "{info}"
        );
        fails(
            &kestrel(tmp.path(), &search_args(&model, &f)),
            1,
            &[&format!(
                "{f}: band order unknown: none of its {n} bands is identified; assign them \
                 (needed: B02, B03"
            )],
        );
    }
}

#[test]
fn thirteen_unnamed_bands_follow_the_l1c_convention() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("stack13.tif");
    tif(&p, 240, 13, true, 0.0, |b| 1200 + 10 * b as u16);
    let f = s(&p);
    let info = ok(&kestrel(tmp.path(), &["info", &f]));
    assert!(
        info.contains("Level:      L1C (it has B10 (cirrus)")
            && info.contains("13-band convention: the L1C order B01-B12 with B8A and B10"),
        "{info}"
    );
    let hits = ok(&kestrel(tmp.path(), &search_args(&tiny(), &f)));
    assert_eq!(hits.lines().count(), 1, "{hits}");
}

#[test]
fn a_tiff_without_crs_says_so_at_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("nocrs.tif");
    tif(&p, 64, 12, false, 0.0, |_| 1000);
    let f = s(&p);
    let want = format!("{f}: no coordinate reference system, so it cannot be placed on the map");
    fails(&kestrel(tmp.path(), &["info", &f]), 1, &[&want]);
    fails(&kestrel(tmp.path(), &search_args(&tiny(), &f)), 1, &[&want]);
}

#[test]
fn nan_nodata_is_masked_and_the_tile_still_embeds() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("nan.tif");
    let src = Dataset::open(fixture("chips/637U_59R_1_3.tif")).unwrap();
    let (w, h) = src.raster_size();
    let drv = DriverManager::get_driver_by_name("GTiff").unwrap();
    let mut dst = drv
        .create_with_band_type::<f32, _>(&p, w, h, src.raster_count())
        .unwrap();
    dst.set_geo_transform(&src.geo_transform().unwrap())
        .unwrap();
    dst.set_projection(&src.projection()).unwrap();
    for b in 1..=src.raster_count() {
        let mut buf = src
            .rasterband(b)
            .unwrap()
            .read_as::<f32>((0, 0), (w, h), (w, h), None)
            .unwrap();
        // a NaN stripe across the top rows of every band
        buf.data_mut()[..3 * w].fill(f32::NAN);
        let mut rb = dst.rasterband(b).unwrap();
        rb.set_no_data_value(Some(f64::NAN)).unwrap();
        rb.write((0, 0), (w, h), &mut buf).unwrap();
    }
    drop(dst);
    let f = s(&p);
    let info = ok(&kestrel(tmp.path(), &["info", &f]));
    assert!(info.contains("NaN is nodata"), "{info}");
    let hits = ok(&kestrel(
        tmp.path(),
        &["search", "--model", &tiny(), "--query", "x", "--json", &f],
    ));
    let hit: serde_json::Value = serde_json::from_str(hits.lines().next().unwrap()).unwrap();
    assert!(hit["score"].as_f64().unwrap().is_finite(), "{hits}");
}

#[test]
fn all_zero_and_all_nodata_scenes_say_why_nothing_is_ranked() {
    let tmp = tempfile::tempdir().unwrap();
    let zero = tmp.path().join("zero.tif");
    tif(&zero, 264, 12, true, 0.0, |_| 0);
    let nodata = tmp.path().join("nodata.tif");
    tif(&nodata, 264, 12, true, 0.0, |_| 65535);
    {
        let ds = Dataset::open_ex(
            &nodata,
            gdal::DatasetOptions {
                open_flags: gdal::GdalOpenFlags::GDAL_OF_UPDATE,
                ..Default::default()
            },
        )
        .unwrap();
        for b in 1..=12 {
            ds.rasterband(b)
                .unwrap()
                .set_no_data_value(Some(65535.0))
                .unwrap();
        }
    }
    let why = "no results: none of the 4 tiles has an embedding (4 skipped for nodata over \
               --max-nodata, 0 for cloud over --max-cloud)";
    for p in [&zero, &nodata] {
        let f = s(p);
        let out = kestrel(tmp.path(), &search_args(&tiny(), &f));
        assert_eq!(ok(&out), "", "no hits to print");
        assert!(stderr(&out).contains(why), "{}", stderr(&out));
        let out = kestrel(
            tmp.path(),
            &[
                "classify-scene",
                "--model",
                &tiny(),
                "--classes",
                "water",
                "forest",
                "--",
                &f,
            ],
        );
        assert_eq!(ok(&out), "water: 0 tiles\nforest: 0 tiles\n");
        assert!(stderr(&out).contains(why), "{}", stderr(&out));
    }
}

#[test]
fn a_sparse_100000_pixel_square_geotiff_is_described_without_reading_it() {
    // 12 bands of 100 000² UInt16 (240 GB of pixels) in a file of a few MB: no tile is
    // written. `info` reads the metadata and one small decimated sample; a full read would
    // run into the 60 s guard of `kestrel` (and the memory of the machine).
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("huge.tif");
    {
        let drv = DriverManager::get_driver_by_name("GTiff").unwrap();
        let opts = RasterCreationOptions::from_iter(["SPARSE_OK=TRUE", "TILED=YES", "BIGTIFF=YES"]);
        let mut ds = drv
            .create_with_band_type_with_options::<u16, _>(&p, 100_000, 100_000, 12, &opts)
            .unwrap();
        ds.set_geo_transform(&[300000.0, 10.0, 0.0, 6000000.0, 0.0, -10.0])
            .unwrap();
        ds.set_spatial_ref(&SpatialRef::from_epsg(32633).unwrap())
            .unwrap();
    }
    assert!(std::fs::metadata(&p).unwrap().len() < 64 << 20);
    let info = ok(&kestrel(tmp.path(), &["info", &s(&p)]));
    assert!(
        info.contains("Size:       100000 x 100000 px at 10 m") && info.contains("Bands (12):"),
        "{info}"
    );
}

#[test]
fn rgb_png_and_jpeg_pictures_are_not_sentinel2() {
    let tmp = tempfile::tempdir().unwrap();
    let mem = DriverManager::get_driver_by_name("MEM").unwrap();
    let ds = mem.create_with_band_type::<u8, _>("", 64, 64, 3).unwrap();
    for b in 1..=3 {
        let mut buf = Buffer::new((64, 64), (0..4096).map(|i| (i * b % 251) as u8).collect());
        ds.rasterband(b)
            .unwrap()
            .write((0, 0), (64, 64), &mut buf)
            .unwrap();
    }
    for (driver, name) in [("PNG", "photo.png"), ("JPEG", "photo.jpg")] {
        let p = tmp.path().join(name);
        let drv = DriverManager::get_driver_by_name(driver).unwrap();
        ds.create_copy(&drv, &p, &Default::default()).unwrap();
        let f = s(&p);
        let want = format!(
            "{f}: not usable as Sentinel-2 imagery: a 3-band 8-bit {driver} image without \
             georeferencing: a rendered picture"
        );
        fails(&kestrel(tmp.path(), &["info", &f]), 1, &[&want]);
        fails(&kestrel(tmp.path(), &search_args(&tiny(), &f)), 1, &[&want]);
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), dst).unwrap();
        }
    }
}

#[test]
fn a_safe_whose_metadata_is_cut_in_half_names_the_xml() {
    let src = repo().join(
        "../shared/data/gdal-sentinel2-synthetic-safe/fake_l2a_processing_baseline_5_09/\
         S2B_MSIL2A_20230823T095559_N0509_R122_T34UCF_20230823T124759.SAFE",
    );
    if !src.is_dir() {
        eprintln!("skipped: {} is absent (../shared/data)", src.display());
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let safe = tmp.path().join(src.file_name().unwrap());
    copy_dir(&src, &safe);
    let mtd = safe.join("MTD_MSIL2A.xml");
    let bytes = std::fs::read(&mtd).unwrap();
    std::fs::write(&mtd, &bytes[..bytes.len() / 2]).unwrap();
    let m = s(&mtd);
    for input in [s(&safe), m.clone()] {
        fails(
            &kestrel(tmp.path(), &["info", &input]),
            1,
            &[&format!("{m}: GDAL cannot open it: Parse error at EOF")],
        );
    }
}

/// A folder of 240² band files `T_B02.tif` … of one scene, without `missing`.
fn band_folder(dir: &Path, missing: &str) {
    std::fs::create_dir_all(dir).unwrap();
    for b in [
        "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12",
    ] {
        if b != missing {
            tif(&dir.join(format!("T_{b}.tif")), 240, 1, true, 0.0, |_| 1500);
        }
    }
}

#[test]
fn a_band_folder_missing_a_band_names_the_band() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bands");
    band_folder(&dir, "B12");
    let d = s(&dir);
    fails(
        &kestrel(tmp.path(), &search_args(&tiny(), &d)),
        1,
        &[&format!("{d}: band order unknown: missing B12")],
    );
}

#[test]
fn a_band_file_of_another_scene_is_refused_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bands");
    band_folder(&dir, "B12");
    // B12 on the same CRS but 10 km east: it shares no pixel with the other bands
    let odd = dir.join("T_B12.tif");
    tif(&odd, 240, 1, true, 10_000.0, |_| 1500);
    let o = s(&odd);
    let want = format!(
        "{o}: not usable as Sentinel-2 imagery: its B12 extent (x 510000 .. 512400, y 5997600 \
         .. 6000000) does not overlap the other band files (x 500000 .. 502400"
    );
    fails(&kestrel(tmp.path(), &["info", &s(&dir)]), 1, &[&want]);
    fails(
        &kestrel(tmp.path(), &search_args(&tiny(), &s(&dir))),
        1,
        &[&want],
    );
    // a band on another grid that still overlaps opens, with a note
    tif(&odd, 100, 1, true, 500.0, |_| 1500);
    let info = ok(&kestrel(tmp.path(), &["info", &s(&dir)]));
    assert!(
        info.contains("B12 covers a different extent than the reference grid"),
        "{info}"
    );
}

#[test]
fn a_255_byte_file_name_works_and_a_256_byte_one_says_too_long() {
    let tmp = tempfile::tempdir().unwrap();
    let long = tmp.path().join(format!("{}.tif", "a".repeat(251)));
    assert_eq!(long.file_name().unwrap().len(), 255);
    std::fs::copy(chip(), &long).unwrap();
    let l = s(&long);
    let info = ok(&kestrel(tmp.path(), &["info", &l]));
    assert!(
        info.contains(&format!("Name:       {}.tif", "a".repeat(251))),
        "{info}"
    );
    // the cache file name is derived from the scene name: it must still fit
    let hits = ok(&kestrel(tmp.path(), &search_args(&tiny(), &l)));
    assert_eq!(hits.lines().count(), 1, "{hits}");
    let too_long = s(&tmp.path().join(format!("{}.tif", "b".repeat(252))));
    fails(
        &kestrel(tmp.path(), &["info", &too_long]),
        1,
        &[&format!("{too_long}: cannot read it: File name too long")],
    );
}

#[cfg(unix)]
#[test]
fn a_file_name_that_is_not_utf8_opens_and_searches() {
    use std::os::unix::ffi::OsStrExt as _;
    let tmp = tempfile::tempdir().unwrap();
    let odd = tmp.path().join(OsStr::from_bytes(b"chip_\xff\xfe.tif"));
    std::fs::copy(chip(), &odd).unwrap();
    let info = ok(&kestrel(tmp.path(), &[OsStr::new("info"), odd.as_os_str()]));
    assert!(
        info.contains("Name:       chip_\u{fffd}\u{fffd}.tif"),
        "{info}"
    );
    assert!(info.contains("Bands (12):"), "{info}");
    let model = tiny();
    let mut args: Vec<&OsStr> = ["search", "--model", model.as_str(), "--query", "x"]
        .into_iter()
        .map(OsStr::new)
        .collect();
    args.push(odd.as_os_str());
    let hits = ok(&kestrel(tmp.path(), &args));
    assert_eq!(hits.lines().count(), 1, "{hits}");
}

/// The tiny checkpoint's safetensors header (JSON) and data.
fn tiny_safetensors() -> (serde_json::Value, Vec<u8>) {
    let bytes = std::fs::read(tiny()).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    (header, bytes[8 + n..].to_vec())
}

fn write_safetensors(path: &Path, header: &serde_json::Value, data: &[u8], claimed: Option<u64>) {
    let h = serde_json::to_vec(header).unwrap();
    let mut out = claimed.unwrap_or(h.len() as u64).to_le_bytes().to_vec();
    out.extend(h);
    out.extend(data);
    std::fs::write(path, out).unwrap();
}

#[test]
fn a_safetensors_checkpoint_whose_header_lies_names_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture("msclip_tiny/open_clip_config.json"),
        tmp.path().join("open_clip_config.json"),
    )
    .unwrap();
    let chip = chip();
    let (header, data) = tiny_safetensors();
    let run = |name: &str, header: &serde_json::Value, data: &[u8], claimed: Option<u64>| {
        let p = tmp.path().join(name);
        write_safetensors(&p, header, data, claimed);
        let f = s(&p);
        (kestrel(tmp.path(), &search_args(&f, &chip)), f)
    };
    // a header length far past the end of the file
    let (out, f) = run("long.safetensors", &header, &data, Some(1 << 40));
    fails(
        &out,
        1,
        &[&format!(
            "checkpoint {f} is damaged or truncated: safetensors header claims 1099511627776 \
             bytes but the file has"
        )],
    );
    // a tensor whose data offsets run past the end of the file
    let mut past = header.clone();
    let key = "logit_scale";
    past[key]["data_offsets"][1] = serde_json::json!(data.len() as u64 + 4096);
    let (out, f) = run("past.safetensors", &past, &data, None);
    fails(
        &out,
        1,
        &[&format!("checkpoint {f} is damaged or truncated:")],
    );
    // a tensor whose shape disagrees with the config
    let mut shape = header.clone();
    let name = "visual.class_embedding";
    let old = shape[name]["shape"].clone();
    let n = old[0].as_u64().unwrap();
    shape[name]["shape"] = serde_json::json!([n / 2, 2]);
    let (out, f) = run("shape.safetensors", &shape, &data, None);
    fails(
        &out,
        1,
        &[&format!(
            "checkpoint {f} does not fit the model config: tensor {name} has shape [{}, 2], \
             expected [{n}]",
            n / 2
        )],
    );
}

/// The cache file of `kestrel search` on the chip in `cache`.
fn cache_file(cache: &Path) -> PathBuf {
    let files: Vec<PathBuf> = std::fs::read_dir(cache.join("index"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files.into_iter().next().unwrap()
}

#[test]
fn corrupt_cache_entries_are_rebuilt_saying_why() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny();
    let chip = chip();
    let first = ok(&kestrel(tmp.path(), &search_args(&model, &chip)));
    let entry = cache_file(tmp.path());
    let bytes = std::fs::read(&entry).unwrap();
    let e = s(&entry);
    let cases: [(&[u8], String); 3] = [
        (
            &bytes[..bytes.len() / 2],
            format!("tile index {e} is truncated"),
        ),
        (b"not parquet at all", format!("{e} is not a Parquet file")),
        (b"", format!("{e} is not a Parquet file")),
    ];
    for (content, why) in cases {
        std::fs::write(&entry, content).unwrap();
        let out = kestrel(tmp.path(), &search_args(&model, &chip));
        assert_eq!(ok(&out), first, "the rebuilt index ranks as before");
        let err = stderr(&out);
        assert!(
            err.contains(&format!("indexed (cached index unreadable ({why}")),
            "{err}"
        );
        geoparquet::read_index(&entry).expect("the cache entry was rewritten");
    }
}

#[test]
fn corrupt_index_files_name_the_file_and_the_damage() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny();
    let idx = tmp.path().join("idx.parquet");
    ok(&kestrel(
        tmp.path(),
        &["index", "--model", &model, "--out", &s(&idx), &chip()],
    ));
    let bytes = std::fs::read(&idx).unwrap();
    let mut flipped = bytes.clone();
    // inside the footer's key-value metadata (the `kestrel` JSON sits near the end)
    let at = bytes.len() - 600;
    flipped[at] ^= 0xff;
    let cases: [(&str, Vec<u8>, &str); 4] = [
        (
            "cut.parquet",
            bytes[..bytes.len() - 100].to_vec(),
            "is truncated (its Parquet footer is missing)",
        ),
        (
            "text.parquet",
            b"id,score\n1,0.5\n".to_vec(),
            "is not a Parquet file",
        ),
        ("empty.parquet", Vec::new(), "is not a Parquet file"),
        ("flipped.parquet", flipped, "is corrupt"),
    ];
    for (name, content, why) in cases {
        let p = tmp.path().join(name);
        std::fs::write(&p, content).unwrap();
        let f = s(&p);
        fails(
            &kestrel(tmp.path(), &search_args(&model, &f)),
            1,
            &[&f, why],
        );
    }
}

#[test]
fn empty_blank_and_control_character_queries() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny();
    let chip = chip();
    for q in ["", "   \t\n"] {
        fails(
            &kestrel(
                tmp.path(),
                &["search", "--model", &model, "--query", q, &chip],
            ),
            1,
            &["the query is empty: say what to look for"],
        );
    }
    let hits = ok(&kestrel(
        tmp.path(),
        &[
            "search",
            "--model",
            &model,
            "--query",
            "\u{1}\u{1b}[31mred roofs\u{7f}\u{0b}\u{200b}",
            &chip,
        ],
    ));
    assert_eq!(hits.lines().count(), 1, "{hits}");
}

#[test]
fn a_one_megabyte_query_is_truncated_with_a_warning() {
    // 1 MB does not fit one command-line argument (Linux allows 128 KiB): through the API
    let spec = ModelSpec {
        checkpoint: Some(fixture("msclip_tiny/msclip_random.safetensors")),
        device: DevicePreference::Cpu,
        precision: Precision::F32,
        ..ModelSpec::default()
    };
    let model = Embedder::load(&spec, &NoProgress, &CancelToken::new()).unwrap();
    let text = "flooded fields near a river ".repeat(1 << 20 >> 5);
    assert!(text.len() > 900_000);
    let q = Query::text(text)
        .prepare(&model)
        .expect("a long query is usable");
    let w = q.warning().expect("a warning");
    assert!(
        w.contains("the text is too long") && w.contains("only the first 75 are used"),
        "{w}"
    );
}

#[test]
fn zero_duplicate_and_a_thousand_classes() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny();
    let chip = chip();
    for cmd in ["classify-scene", "classify"] {
        fails(
            &kestrel(tmp.path(), &[cmd, "--model", &model, "--classes"]),
            2,
            &["a value is required for '--classes <CLASSES>...'"],
        );
        fails(
            &kestrel(
                tmp.path(),
                &[
                    cmd,
                    "--model",
                    &model,
                    "--classes",
                    "water",
                    "forest",
                    "water",
                    "--",
                    &chip,
                ],
            ),
            1,
            &["class \"water\" is given twice"],
        );
    }
    fails(
        &kestrel(
            tmp.path(),
            &[
                "classify-scene",
                "--model",
                &model,
                "--classes",
                "water",
                "--",
                &chip,
            ],
        ),
        1,
        &["give at least two --classes"],
    );
    let classes: Vec<String> = (0..1000).map(|i| format!("class {i}")).collect();
    let mut args = vec![
        "classify-scene",
        "--model",
        &model,
        "--templates",
        "none",
        "--classes",
    ];
    args.extend(classes.iter().map(String::as_str));
    args.extend(["--", &chip]);
    let out = ok(&kestrel(tmp.path(), &args));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1000, "{out}");
    assert_eq!(lines[999], "class 999: 0 tiles");
    let total: usize = lines
        .iter()
        .map(|l| {
            l.rsplit(": ")
                .next()
                .unwrap()
                .trim_end_matches(" tiles")
                .parse::<usize>()
                .unwrap()
        })
        .sum();
    assert_eq!(total, 1, "the chip's one tile is in exactly one class");
}

/// `bytes` as a path (unix: any bytes but NUL).
#[cfg(unix)]
fn odd_path(bytes: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt as _;
    PathBuf::from(OsStr::from_bytes(bytes))
}

#[cfg(unix)]
#[test]
fn a_safe_in_a_folder_whose_name_is_not_utf8_opens_and_reads() {
    let src = repo().join(
        "../shared/data/gdal-sentinel2-synthetic-safe/fake_l2a_processing_baseline_5_09/\
         S2B_MSIL2A_20230823T095559_N0509_R122_T34UCF_20230823T124759.SAFE",
    );
    if !src.is_dir() {
        eprintln!("skipped: {} is absent (../shared/data)", src.display());
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // the parent folder and the .SAFE itself (GDAL joins the band paths to both)
    let parent = tmp.path().join(odd_path(b"caf\xe9"));
    let safe = parent.join(odd_path(
        b"S2B_MSIL2A_20230823T095559_N0509_R122_T34UCF_20230823T124759_\xff.SAFE",
    ));
    copy_dir(&src, &safe);
    for input in [safe.clone(), safe.join("MTD_MSIL2A.xml")] {
        let info = ok(&kestrel(
            tmp.path(),
            &[OsStr::new("info"), input.as_os_str()],
        ));
        assert!(info.contains("Source:     SAFE product"), "{info}");
        assert!(info.contains("Bands (15):"), "{info}");
        assert!(info.contains("Baseline:   05.09"), "{info}");
        assert!(info.contains("EPSG:32634"), "{info}");
    }
    // pixels are read from the band files inside (all-zero placeholders: nodata)
    let cancel = CancelToken::new();
    let scene = kestrel::raster::Scene::open(&safe, &cancel).unwrap();
    assert_eq!(scene.info().bands.len(), 15);
    let sample = scene.sample(&[3, 2, 1, 12], 64, &cancel).unwrap();
    assert_eq!((sample.width, sample.height), (64, 64));
    assert!(sample.data[..3 * 64 * 64].iter().all(|v| v.is_nan()));
    assert!(sample.plane(3).iter().all(|v| *v == 0.0), "SCL class 0");
}

/// `%XX` for every byte of `bytes` outside the unreserved set and `/`.
fn percent_encode_path(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(unix)]
#[test]
fn a_stac_item_in_a_folder_whose_name_is_not_utf8_finds_its_assets() {
    use crate::stac_fixture::{earth_search_item, make_chip_cogs};
    use std::os::unix::ffi::OsStrExt as _;
    let tmp = tempfile::tempdir().unwrap();
    // the COGs are made in a UTF-8 folder (gdal_translate is given text), then moved
    let made = tmp.path().join("made");
    assert!(make_chip_cogs(
        &fixture("chips/637U_59R_1_3.tif"),
        &made.join("chip")
    ));
    let dir = tmp.path().join(odd_path(b"caf\xe9"));
    std::fs::rename(&made, &dir).unwrap();
    let bounds = [9.826, 57.217, 9.864, 57.237];
    // relative hrefs (`./chip/B04.tif`), resolved against the item's folder byte for byte
    let relative = earth_search_item("S2B_REL", ".", "chip", bounds, "2017-10-30T10:32:09Z");
    let rel_item = dir.join("relative.json");
    std::fs::write(&rel_item, relative.to_string()).unwrap();
    // absolute file:// hrefs, the folder percent-encoded (`file:///…/caf%E9/chip`)
    let base = format!("file://{}", percent_encode_path(dir.as_os_str().as_bytes()));
    let absolute = earth_search_item("S2B_ABS", &base, "chip", bounds, "2017-10-30T10:32:09Z");
    assert!(absolute.to_string().contains("caf%E9/chip/B04.tif"));
    let abs_item = dir.join("absolute.json");
    std::fs::write(&abs_item, absolute.to_string()).unwrap();
    let model = tiny();
    for (item, id) in [(&rel_item, "S2B_REL"), (&abs_item, "S2B_ABS")] {
        let info = ok(&kestrel(
            tmp.path(),
            &[OsStr::new("info"), item.as_os_str()],
        ));
        assert!(info.contains(&format!("Name:       {id}")), "{info}");
        assert!(info.contains("Source:     STAC item"), "{info}");
        assert!(info.contains("Bands (11):"), "{info}");
        let mut args: Vec<&OsStr> = ["search", "--model", model.as_str(), "--query", "x"]
            .into_iter()
            .map(OsStr::new)
            .collect();
        args.push(item.as_os_str());
        let hits = ok(&kestrel(tmp.path(), &args));
        assert_eq!(hits.lines().count(), 1, "{hits}");
    }
    // a missing asset is named exactly (lossily shown), not as another file
    std::fs::remove_file(dir.join("chip/B11.tif")).unwrap();
    let out = kestrel(tmp.path(), &[OsStr::new("info"), rel_item.as_os_str()]);
    fails(&out, 1, &["B11.tif"]);
    assert!(
        stderr(&out).contains("caf\u{fffd}/chip/B11.tif"),
        "{}",
        stderr(&out)
    );
}

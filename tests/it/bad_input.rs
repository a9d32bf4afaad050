//! The bad-input corpus (issue 14), through the binary where a user would meet it: absurd
//! flags, FIFOs, outputs that are inputs, outputs into missing folders, export modes, an
//! index searched with another checkpoint, empty and text files named `.tif`, stale
//! temporary files in the cache, `KESTREL_CACHE_DIR=""`, and ±inf pixels. Each case
//! asserts the error names the file and the problem, or the correct behaviour.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use kestrel::jobs::{CancelToken, NoProgress};
use kestrel::model::device::{DevicePreference, Precision};
use kestrel::model::{Embedder, ModelSpec};
use kestrel::raster::Scene;
use kestrel::search::cache;
use kestrel::search::index::{IndexOptions, build_index};
use kestrel::search::record::TileStatus;

use super::common::{fixture, repo};

pub(super) fn s(p: &Path) -> String {
    p.display().to_string()
}

pub(super) fn tiny() -> String {
    s(&fixture("msclip_tiny/msclip_random.safetensors"))
}

pub(super) fn chip() -> String {
    s(&fixture("chips/637U_59R_1_3.tif"))
}

/// Run the binary with `cache` as `KESTREL_CACHE_DIR`; killed (and the test failed) after
/// 60 s, so an input that blocks fails instead of hanging the suite.
pub(super) fn kestrel_in<A: AsRef<std::ffi::OsStr> + std::fmt::Debug>(
    cache: &Path,
    cwd: Option<&Path>,
    env: &[(&str, &str)],
    args: &[A],
) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kestrel"));
    cmd.args(args)
        .env("KESTREL_CACHE_DIR", cache)
        .env("HF_HUB_OFFLINE", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    if let Some(d) = cwd {
        cmd.current_dir(d);
    }
    let mut child = cmd.spawn().unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("kestrel {args:?} still running after 60 s (blocked?)");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

pub(super) fn kestrel<A: AsRef<std::ffi::OsStr> + std::fmt::Debug>(
    cache: &Path,
    args: &[A],
) -> Output {
    kestrel_in(cache, None, &[], args)
}

pub(super) fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Exit code `code`, no panic, and every needle in stderr.
pub(super) fn fails(out: &Output, code: i32, needles: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    for n in needles {
        assert!(err.contains(n), "{n:?} not in: {err}");
    }
}

pub(super) fn ok(out: &Output) -> String {
    assert!(out.status.success(), "stderr: {}", stderr(out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn absurd_flags_are_refused_when_parsing() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny();
    let chip = chip();
    let search = |extra: &[&str]| {
        let mut a = vec!["search", "--model", &model, "--query", "x"];
        a.extend_from_slice(extra);
        a.push(&chip);
        kestrel(tmp.path(), &a)
    };
    let cases: [(&[&str], &str); 8] = [
        (&["--stride", "0"], "'0' for '--stride <STRIDE>'"),
        (&["--top", "0"], "'0' for '--top <TOP>': must be at least 1"),
        (
            &["--max-cloud", "2"],
            "'2' for '--max-cloud <MAX_CLOUD>': must be a fraction from 0 to 1, got 2",
        ),
        (
            &["--max-nodata=-1"],
            "'-1' for '--max-nodata <MAX_NODATA>': must be a fraction from 0 to 1, got -1",
        ),
        (&["--max-cloud", "NaN"], "must be a fraction from 0 to 1"),
        (
            &["--batch", "0"],
            "'0' for '--batch <BATCH>': must be at least 1",
        ),
        (&["--batch", "100000"], "must be at most 4096, got 100000"),
        (
            &["--readers", "0"],
            "'0' for '--readers <READERS>': must be at least 1",
        ),
    ];
    for (flags, needle) in cases {
        fails(&search(flags), 2, &["invalid value", needle]);
    }
    fails(
        &kestrel(tmp.path(), &["bench-model", "--iters", "0"]),
        2,
        &["'0' for '--iters <ITERS>': must be at least 1"],
    );
    // a stride larger than the model's tiles would leave gaps
    fails(
        &search(&["--stride", "500"]),
        1,
        &["--stride 500 is larger than the model's tile size 224"],
    );
}

fn mkfifo(path: &Path) {
    let st = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(st.success());
}

#[test]
fn fifos_are_refused_not_waited_on() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("scene.tif");
    mkfifo(&fifo);
    let f = s(&fifo);
    let model = tiny();
    let not_regular = format!("{f} is not a regular file (it is a FIFO (named pipe))");
    fails(&kestrel(tmp.path(), &["info", &f]), 1, &[&not_regular]);
    fails(
        &kestrel(tmp.path(), &["index", "--model", &model, &f]),
        2, // index: bad input, do not retry
        &[&not_regular],
    );
    fails(
        &kestrel(
            tmp.path(),
            &["search", "--model", &model, "--query", "x", &f],
        ),
        1,
        &[&not_regular],
    );
    fails(
        &kestrel(tmp.path(), &["embed-images", "--model", &model, &f]),
        1,
        &[&f, "is not a regular file"],
    );
    // the model files
    let chip = chip();
    for flag in ["--model", "--config", "--vocab"] {
        let mut args = vec!["search", "--query", "x"];
        if flag != "--model" {
            args.extend(["--model", &model]);
        }
        args.extend([flag, &f, &chip]);
        fails(
            &kestrel(tmp.path(), &args),
            1,
            &[&f, "is not a regular file"],
        );
    }
}

#[test]
fn outputs_that_are_inputs_are_refused_and_the_input_survives() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let model = tiny();
    let chip = chip();
    let idx = tmp.path().join("idx.parquet");
    let i = s(&idx);
    ok(&kestrel(
        &cache,
        &["index", "--model", &model, "--out", &i, &chip],
    ));
    let before = std::fs::read(&idx).unwrap();
    // the same file by another spelling
    let other_spelling = format!("{}/./idx.parquet", tmp.path().display());
    for flag in ["--csv", "--geojson"] {
        fails(
            &kestrel(
                &cache,
                &[
                    "search",
                    "--model",
                    &model,
                    "--query",
                    "x",
                    flag,
                    &other_spelling,
                    &i,
                ],
            ),
            1,
            &[&format!(
                "{flag} {other_spelling} is the input {i}: writing it would destroy the input"
            )],
        );
    }
    fails(
        &kestrel(
            &cache,
            &[
                "classify-scene",
                "--model",
                &model,
                "--classes",
                "a",
                "b",
                "--csv",
                &i,
                "--",
                &i,
            ],
        ),
        1,
        &["--csv", "is the input"],
    );
    assert_eq!(
        std::fs::read(&idx).unwrap(),
        before,
        "the index was changed"
    );
    // index --out onto the scene itself
    let scene_copy = tmp.path().join("scene.tif");
    std::fs::copy(&chip, &scene_copy).unwrap();
    let sc = s(&scene_copy);
    fails(
        &kestrel(&cache, &["index", "--model", &model, "--out", &sc, &sc]),
        2,
        &[&format!("--out {sc} is the input {sc}")],
    );
    // --csv and --geojson onto one file
    let both = s(&tmp.path().join("hits.out"));
    fails(
        &kestrel(
            &cache,
            &[
                "search",
                "--model",
                &model,
                "--query",
                "x",
                "--csv",
                &both,
                "--geojson",
                &both,
                &i,
            ],
        ),
        1,
        &[&format!("--geojson and --csv both name {both}")],
    );
}

#[test]
fn index_out_into_a_missing_folder_fails_before_indexing() {
    let tmp = tempfile::tempdir().unwrap();
    let out_path = tmp.path().join("no/such/folder/x.parquet");
    let o = s(&out_path);
    let out = kestrel(
        tmp.path(),
        &["index", "--model", &tiny(), "--out", &o, &chip()],
    );
    fails(
        &out,
        2,
        &[&format!(
            "cannot write --out {o}: the folder {} does not exist",
            s(out_path.parent().unwrap())
        )],
    );
    let err = stderr(&out);
    assert!(!err.contains(".kestrel-tmp"), "{err}");
    // nothing was loaded or indexed
    assert!(!err.contains("indexing"), "{err}");
    assert!(!err.contains("msclip_random"), "{err}");
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

#[cfg(unix)]
#[test]
fn exports_keep_the_mode_of_the_file_they_replace() {
    use std::os::unix::fs::PermissionsExt as _;
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let probe = tmp.path().join("probe");
    std::fs::File::create(&probe).unwrap();
    let default = mode(&probe);
    let csv = tmp.path().join("hits.csv");
    std::fs::write(&csv, b"old").unwrap();
    std::fs::set_permissions(&csv, std::fs::Permissions::from_mode(0o644)).unwrap();
    let gj = tmp.path().join("hits.geojson");
    ok(&kestrel(
        &cache,
        &[
            "search",
            "--model",
            &tiny(),
            "--query",
            "x",
            "--csv",
            &s(&csv),
            "--geojson",
            &s(&gj),
            &chip(),
        ],
    ));
    assert_ne!(std::fs::read(&csv).unwrap(), b"old");
    assert_eq!(mode(&csv), 0o644);
    assert_eq!(mode(&gj), default);
    assert_ne!(default, 0o600, "the test needs a umask other than 077");
}

#[test]
fn an_index_searched_with_another_checkpoint_names_the_index_file() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let idx = s(&tmp.path().join("idx.parquet"));
    ok(&kestrel(
        &cache,
        &["index", "--model", &tiny(), "--out", &idx, &chip()],
    ));
    // another checkpoint: the tiny one with its last weight byte changed
    let other = tmp.path().join("other.safetensors");
    let mut bytes = std::fs::read(tiny()).unwrap();
    *bytes.last_mut().unwrap() ^= 1;
    std::fs::write(&other, bytes).unwrap();
    std::fs::copy(
        fixture("msclip_tiny/open_clip_config.json"),
        tmp.path().join("open_clip_config.json"),
    )
    .unwrap();
    fails(
        &kestrel(
            &cache,
            &["search", "--model", &s(&other), "--query", "x", &idx],
        ),
        1,
        &[&format!("the index {idx} was built with checkpoint")],
    );
}

#[test]
fn empty_and_text_files_named_tif_say_so() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty.tif");
    std::fs::write(&empty, b"").unwrap();
    let text = tmp.path().join("notes.tif");
    std::fs::write(&text, b"just some text, not a raster\n").unwrap();
    let (e, t) = (s(&empty), s(&text));
    fails(
        &kestrel(tmp.path(), &["info", &e]),
        1,
        &[&format!("cannot open {e}: the file is empty (0 bytes)")],
    );
    let not_tiff = format!("cannot open {t}: it is not a TIFF file");
    fails(&kestrel(tmp.path(), &["info", &t]), 1, &[&not_tiff]);
    fails(
        &kestrel(
            tmp.path(),
            &["search", "--model", &tiny(), "--query", "x", &t],
        ),
        1,
        &[&not_tiff],
    );
    fails(
        &kestrel(tmp.path(), &["embed-images", "--model", &tiny(), &e]),
        1,
        &[&e, "the file is empty (0 bytes)"],
    );
    let err = stderr(&kestrel(tmp.path(), &["info", &t]));
    assert!(!err.contains("NULL pointer"), "{err}");
}

#[test]
fn stale_temp_files_in_the_cache_are_removed_when_it_is_opened() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let dir = cache.join("index");
    std::fs::create_dir_all(&dir).unwrap();
    let stale = dir.join(".kestrel-tmp-4242-0-0");
    let f = std::fs::File::create(&stale).unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(2 * 3600))
        .unwrap();
    let fresh = dir.join(".kestrel-tmp-4243-0-0");
    std::fs::File::create(&fresh).unwrap();
    ok(&kestrel(
        &cache,
        &["search", "--model", &tiny(), "--query", "x", &chip()],
    ));
    assert!(!stale.exists(), "the stale temp file is still there");
    assert!(
        fresh.exists(),
        "a fresh temp file (a live write) was removed"
    );
}

#[test]
fn an_empty_kestrel_cache_dir_means_the_platform_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path().join("work");
    let xdg = tmp.path().join("xdg");
    std::fs::create_dir_all(&cwd).unwrap();
    let xdg_s = s(&xdg);
    ok(&kestrel_in(
        Path::new(""),
        Some(&cwd),
        &[("XDG_CACHE_HOME", &xdg_s)],
        &["search", "--model", &tiny(), "--query", "x", &chip()],
    ));
    assert!(!cwd.join("index").exists(), "the cache went to ./index");
    let cached: Vec<PathBuf> = std::fs::read_dir(xdg.join("kestrel/index"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    assert!(cached[0].extension().is_some_and(|e| e == "parquet"));
}

/// The chip as Float32 with a few +inf and -inf pixels.
fn chip_with_infinities(path: &Path) -> usize {
    let src = gdal::Dataset::open(fixture("chips/637U_59R_1_3.tif")).unwrap();
    let (w, h) = src.raster_size();
    let drv = gdal::DriverManager::get_driver_by_name("GTiff").unwrap();
    let mut dst = drv
        .create_with_band_type::<f32, _>(path, w, h, src.raster_count())
        .unwrap();
    dst.set_geo_transform(&src.geo_transform().unwrap())
        .unwrap();
    dst.set_projection(&src.projection()).unwrap();
    let bad = [
        (3usize, 10usize, 20usize),
        (3, 11, 20),
        (5, 100, 7),
        (9, 200, 200),
    ];
    for b in 1..=src.raster_count() {
        let mut buf = src
            .rasterband(b)
            .unwrap()
            .read_as::<f32>((0, 0), (w, h), (w, h), None)
            .unwrap();
        for (k, &(band, x, y)) in bad.iter().enumerate() {
            if band == b {
                buf.data_mut()[y * w + x] = if k % 2 == 0 {
                    f32::INFINITY
                } else {
                    f32::NEG_INFINITY
                };
            }
        }
        dst.rasterband(b)
            .unwrap()
            .write((0, 0), (w, h), &mut buf)
            .unwrap();
    }
    bad.len()
}

#[test]
fn infinite_pixels_are_nodata_and_the_index_stays_cacheable() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("inf.tif");
    let n_bad = chip_with_infinities(&path);
    let scene = Scene::open(&path, &CancelToken::new()).unwrap();
    let spec = ModelSpec {
        checkpoint: Some(repo().join("tests/fixtures/msclip_tiny/msclip_random.safetensors")),
        device: DevicePreference::Cpu,
        precision: Precision::F32,
        ..ModelSpec::default()
    };
    let model = Embedder::load(&spec, &NoProgress, &CancelToken::new()).unwrap();
    let index = build_index(
        &scene,
        &model,
        &IndexOptions::default(),
        &NoProgress,
        &CancelToken::new(),
    )
    .unwrap();
    assert_eq!(index.tiles.len(), 1);
    let t = &index.tiles[0];
    assert_eq!(t.status, TileStatus::Embedded);
    // the bands with infinities are model bands (B03 B05 B8A: bands 3, 5, 9 of 12)
    let expected = n_bad as f32 / (224.0 * 224.0);
    assert!(
        (t.nodata_fraction - expected).abs() < 1e-6,
        "{} vs {expected}",
        t.nodata_fraction
    );
    let e = t.embedding.as_ref().unwrap();
    assert!(e.iter().all(|v| v.is_finite()));
    cache::save(&tmp.path().join("cache/inf.parquet"), &index).expect("cacheable");
}

//! Crash safety (issue 14), with real processes killed by SIGKILL: during `index --out`,
//! during a cache write and during a CSV/GeoJSON or GeoPackage export the target is afterwards either
//! byte-identical to the old file or a complete new one (read back with the library),
//! and the next run succeeds; the temporary files of killed writes are removed by a
//! later run, never those of a live write; two processes indexing one scene into one
//! cache at once both finish with the same result and a readable entry.
//!
//! Each case measures one uninterrupted run, then kills runs at 8 delays from 0 to 1.1×
//! that time. `KESTREL_TEST_WRITE_PAUSE_MS` makes every atomic write stop halfway through
//! its temporary file, so a good share of the kills land mid-write (a temporary file of
//! the killed pid is left); each case prints how many kills landed mid-run and mid-write.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use kestrel::atomic::{PAUSE_ENV, TEMP_GRACE, TEMP_PREFIX};
use kestrel::search::cache::STALE_TEMP_AGE;
use kestrel::search::geoparquet;

use super::bad_input::{chip, kestrel_in, ok, s, stderr, tiny};

/// The pause inside each atomic write of a killed run.
const PAUSE_MS: &str = "400";
/// Kill points per case.
const KILLS: u32 = 8;

fn spawn(cache: &Path, env: &[(&str, &str)], args: &[&str]) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kestrel"));
    cmd.args(args)
        .env("KESTREL_CACHE_DIR", cache)
        .env("HF_HUB_OFFLINE", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

/// What a killed run did.
struct Killed {
    /// Still running when the kill came (else it had exited by itself, with 0).
    mid_run: bool,
    pid: u32,
}

/// Run `args` with the write pause and SIGKILL it `delay` after the start.
fn run_and_kill(cache: &Path, args: &[&str], delay: Duration) -> Killed {
    let start = Instant::now();
    let mut child = spawn(cache, &[(PAUSE_ENV, PAUSE_MS)], args);
    let pid = child.id();
    // wait for the kill point (or for the process to end first)
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break Some(st);
        }
        let left = delay.saturating_sub(start.elapsed());
        if left.is_zero() {
            break None;
        }
        std::thread::sleep(left.min(Duration::from_millis(5)));
    };
    match status {
        Some(st) => {
            assert!(st.success(), "the run exited by itself with {st}");
            Killed {
                mid_run: false,
                pid,
            }
        }
        None => {
            child.kill().unwrap(); // SIGKILL on unix
            let st = child.wait().unwrap();
            Killed {
                // it may have exited just before the kill
                mid_run: !st.success(),
                pid,
            }
        }
    }
}

/// How long an uninterrupted, paused run of `args` takes: the shorter of two (on a busy
/// machine one can be much slower), `before` run before each.
fn measure(cache: &Path, args: &[&str], before: impl Fn()) -> Duration {
    (0..2)
        .map(|_| {
            before();
            let start = Instant::now();
            ok(&kestrel_in(cache, None, &[(PAUSE_ENV, PAUSE_MS)], args));
            start.elapsed()
        })
        .min()
        .unwrap()
}

/// The kill delays: `KILLS` points from 0 to 1.1 × `run`.
fn delays(run: Duration) -> impl Iterator<Item = Duration> {
    (0..KILLS).map(move |i| run.mul_f64(1.1 * f64::from(i) / f64::from(KILLS - 1)))
}

/// The temporary files and folders in `dir`.
fn temps(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    rd.map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().starts_with(TEMP_PREFIX))
        .map(|e| e.path())
        .collect()
}

/// Whether `dir` holds a temporary file of process `pid` (it was killed mid-write).
fn temp_of(dir: &Path, pid: u32) -> bool {
    let mine = format!("{TEMP_PREFIX}{pid}-");
    temps(dir)
        .iter()
        .any(|p| p.file_name().unwrap().to_string_lossy().starts_with(&mine))
}

/// Make files look older than the grace during which a fresh temporary file is left
/// alone (it may be about to be locked): what a later run would see a few seconds on.
fn backdate(paths: &[PathBuf]) {
    backdate_by(paths, TEMP_GRACE + Duration::from_secs(5));
}

fn backdate_by(paths: &[PathBuf], age: Duration) {
    let t = SystemTime::now() - age;
    for p in paths {
        std::fs::File::open(p).unwrap().set_modified(t).unwrap();
    }
}

/// The killed runs' temporary files in `dir`, aged past the grace, are gone after one
/// more uninterrupted run.
fn next_run_cleans(cache: &Path, dir: &Path, args: &[&str]) {
    backdate(&temps(dir));
    ok(&kestrel_in(cache, None, &[], args));
    assert_eq!(temps(dir), Vec::<PathBuf>::new());
}

/// Counts for the report line.
#[derive(Default)]
struct Tally {
    mid_run: u32,
    mid_write: u32,
    old: u32,
    new: u32,
}

impl Tally {
    fn print(&self, case: &str, run: Duration) {
        eprintln!(
            "crash safety, {case}: one run {:.2} s; {KILLS} kills, {} mid-run, {} mid-write \
             (a temporary file left); target afterwards old {} times, complete new {} times",
            run.as_secs_f64(),
            self.mid_run,
            self.mid_write,
            self.old,
            self.new
        );
    }
}

/// `path` is a complete index of the chip built with `stride`.
fn complete_index(path: &Path, stride: u32) -> bool {
    match geoparquet::read_index(path) {
        Ok((meta, tiles)) => {
            assert_eq!(meta.stride, stride, "{}", path.display());
            assert_eq!(tiles.len(), 1);
            assert_eq!(
                tiles[0].embedding.as_ref().map(Vec::len),
                Some(meta.embed_dim as usize)
            );
            true
        }
        Err(e) => panic!("{} is neither old nor complete: {e}", path.display()),
    }
}

#[test]
fn kill_during_index_out_leaves_the_old_or_the_complete_new_index() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let target = out.join("idx.parquet");
    let (model, chip, t) = (tiny(), chip(), s(&target));
    // the old index: another stride, so old and new differ
    ok(&kestrel_in(
        &cache,
        None,
        &[],
        &[
            "index", "--model", &model, "--stride", "112", "--out", &t, &chip,
        ],
    ));
    let old = std::fs::read(&target).unwrap();
    assert!(complete_index(&target, 112));
    let args = ["index", "--model", &model, "--out", &t, &chip];
    let run = measure(&cache, &args, || {});
    assert_ne!(std::fs::read(&target).unwrap(), old);
    let mut tally = Tally::default();
    for delay in delays(run) {
        std::fs::write(&target, &old).unwrap();
        let k = run_and_kill(&cache, &args, delay);
        tally.mid_run += u32::from(k.mid_run);
        tally.mid_write += u32::from(temp_of(&out, k.pid));
        if std::fs::read(&target).unwrap() == old {
            tally.old += 1;
        } else {
            assert!(complete_index(&target, 224));
            tally.new += 1;
        }
        // the next run succeeds, and its index is complete
        ok(&kestrel_in(&cache, None, &[], &args));
        assert!(complete_index(&target, 224));
    }
    tally.print("index --out", run);
    assert!(tally.mid_run >= 3, "too few kills landed mid-run");
    // a later run removes what the killed writes left next to the user's file
    next_run_cleans(&cache, &out, &args);
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 1);
}

#[test]
fn kill_during_a_cache_write_leaves_no_entry_or_a_complete_one() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let dir = cache.join("index");
    let (model, chip) = (tiny(), chip());
    let args = ["index", "--model", &model, &chip];
    let entries = || -> Vec<PathBuf> {
        std::fs::read_dir(&dir)
            .map(|rd| {
                rd.map(|e| e.unwrap().path())
                    .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
                    .collect()
            })
            .unwrap_or_default()
    };
    // a first run also caches the checkpoint's hash: measure runs like the killed ones
    ok(&kestrel_in(&cache, None, &[], &args));
    let run = measure(&cache, &args, || {
        for e in entries() {
            std::fs::remove_file(e).unwrap();
        }
    });
    assert_eq!(entries().len(), 1);
    let mut tally = Tally::default();
    for delay in delays(run) {
        for e in entries() {
            std::fs::remove_file(e).unwrap();
        }
        let k = run_and_kill(&cache, &args, delay);
        tally.mid_run += u32::from(k.mid_run);
        tally.mid_write += u32::from(temp_of(&dir, k.pid));
        let after = entries();
        match after.as_slice() {
            [] => tally.old += 1,
            [e] => {
                assert!(complete_index(e, 224));
                tally.new += 1;
            }
            more => panic!("several entries: {more:?}"),
        }
        // the next run uses the complete entry, or builds one; never an error
        let out = kestrel_in(&cache, None, &[], &args);
        ok(&out);
        let err = stderr(&out);
        if after.is_empty() {
            assert!(
                err.contains("indexed (no cached index), cached in"),
                "{err}"
            );
        } else {
            assert!(err.contains("index from cache"), "{err}");
        }
        assert!(
            !err.contains("damaged") && !err.contains("unreadable"),
            "{err}"
        );
        assert_eq!(entries().len(), 1);
        assert!(complete_index(&entries()[0], 224));
    }
    tally.print("cache write", run);
    assert!(tally.mid_run >= 3, "too few kills landed mid-run");
    // opening the cache removes the killed writes' temporary files (also those of the
    // checkpoint-hash sidecars, written while the model loads)
    let sha_dir = cache.join("sha256");
    backdate(&temps(&dir));
    backdate(&temps(&sha_dir));
    let err = stderr(&kestrel_in(&cache, None, &[], &args));
    assert!(err.contains("index from cache"), "{err}");
    assert_eq!(temps(&dir), Vec::<PathBuf>::new());
    assert_eq!(temps(&sha_dir), Vec::<PathBuf>::new());
}

/// `path` holds the complete CSV export of one hit for `query`.
fn complete_csv(path: &Path, query: &str) {
    let mut r = csv::Reader::from_path(path).unwrap();
    let headers = r.headers().unwrap().clone();
    let q = headers.iter().position(|h| h == "query_text").unwrap();
    let rows: Vec<csv::StringRecord> = r.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 1, "{}", path.display());
    assert_eq!(rows[0].len(), headers.len());
    assert_eq!(&rows[0][q], query);
    assert!(std::fs::read(path).unwrap().ends_with(b"\n"));
}

/// `path` holds the complete GeoJSON export of one hit for `query`.
fn complete_geojson(path: &Path, query: &str) {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path).unwrap()).expect("complete GeoJSON");
    assert_eq!(v["type"], "FeatureCollection");
    assert_eq!(v["query_text"], query);
    assert_eq!(v["features"].as_array().unwrap().len(), 1);
}

fn complete_export(csv_path: &Path, geojson: &Path, query: &str) {
    complete_csv(csv_path, query);
    complete_geojson(geojson, query);
}

#[test]
fn kill_during_an_export_leaves_the_old_or_the_complete_new_files() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let (csv_path, gj) = (out.join("hits.csv"), out.join("hits.geojson"));
    let (model, chip, c, g) = (tiny(), chip(), s(&csv_path), s(&gj));
    let search = |query: &'static str| -> Vec<String> {
        [
            "search",
            "--model",
            &model,
            "--query",
            query,
            "--csv",
            &c,
            "--geojson",
            &g,
            &chip,
        ]
        .map(String::from)
        .to_vec()
    };
    // the old exports (another query), which also fills the cache
    let old_args = search("water");
    ok(&kestrel_in(&cache, None, &[], &old_args));
    complete_export(&csv_path, &gj, "water");
    let (old_csv, old_gj) = (
        std::fs::read(&csv_path).unwrap(),
        std::fs::read(&gj).unwrap(),
    );
    let new_args = search("field");
    let args: Vec<&str> = new_args.iter().map(String::as_str).collect();
    let run = measure(&cache, &args, || {});
    complete_export(&csv_path, &gj, "field");
    let mut tally = Tally::default();
    for delay in delays(run) {
        std::fs::write(&csv_path, &old_csv).unwrap();
        std::fs::write(&gj, &old_gj).unwrap();
        let k = run_and_kill(&cache, &args, delay);
        tally.mid_run += u32::from(k.mid_run);
        tally.mid_write += u32::from(temp_of(&out, k.pid));
        // each file on its own: the CSV is written first
        let csv_old = std::fs::read(&csv_path).unwrap() == old_csv;
        let gj_old = std::fs::read(&gj).unwrap() == old_gj;
        if !csv_old {
            complete_csv(&csv_path, "field");
        }
        if !gj_old {
            complete_geojson(&gj, "field");
        }
        if csv_old && gj_old {
            tally.old += 1;
        } else {
            tally.new += 1;
        }
        ok(&kestrel_in(&cache, None, &[], &args));
        complete_export(&csv_path, &gj, "field");
    }
    tally.print("export", run);
    assert!(tally.mid_run >= 3, "too few kills landed mid-run");
    next_run_cleans(&cache, &out, &args);
}

/// `path` is a complete GeoPackage of one hit for `query`.
fn complete_gpkg(path: &Path, query: &str) {
    use gdal::vector::LayerAccess as _;
    let ds = gdal::Dataset::open(path).expect("a complete GeoPackage");
    let mut layer = ds.layer_by_name("results").unwrap();
    let feats: Vec<_> = layer.features().collect();
    assert_eq!(feats.len(), 1, "{}", path.display());
    let i = feats[0].field_index("query_text").unwrap();
    assert_eq!(feats[0].field_as_string(i).unwrap().as_deref(), Some(query));
}

#[test]
fn kill_during_a_geopackage_export_leaves_the_old_or_the_complete_new_file() {
    // GDAL writes it into a temporary folder, renamed onto the target at the end
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let target = out.join("hits.gpkg");
    let (model, chip, t) = (tiny(), chip(), s(&target));
    let search = |query: &'static str| {
        [
            "search", "--model", &model, "--query", query, "--gpkg", &t, &chip,
        ]
        .map(String::from)
    };
    ok(&kestrel_in(&cache, None, &[], &search("water")));
    complete_gpkg(&target, "water");
    let old = std::fs::read(&target).unwrap();
    let new_args = search("field");
    let args: Vec<&str> = new_args.iter().map(String::as_str).collect();
    let run = measure(&cache, &args, || {});
    complete_gpkg(&target, "field");
    let mut tally = Tally::default();
    for delay in delays(run) {
        std::fs::write(&target, &old).unwrap();
        let k = run_and_kill(&cache, &args, delay);
        tally.mid_run += u32::from(k.mid_run);
        tally.mid_write += u32::from(temp_of(&out, k.pid));
        if std::fs::read(&target).unwrap() == old {
            tally.old += 1;
        } else {
            complete_gpkg(&target, "field");
            tally.new += 1;
        }
        ok(&kestrel_in(&cache, None, &[], &args));
        complete_gpkg(&target, "field");
    }
    tally.print("GeoPackage export", run);
    assert!(tally.mid_run >= 3, "too few kills landed mid-run");
    // the killed writes' temporary folders go with the next run's clean-up
    next_run_cleans(&cache, &out, &args);
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 1);
}

#[test]
fn two_processes_indexing_one_scene_into_one_cache_both_finish() {
    let tmp = tempfile::tempdir().unwrap();
    let (model, chip) = (tiny(), chip());
    let args = ["index", "--model", &model, "--json", &chip];
    for round in 0..3 {
        let cache = tmp.path().join(format!("cache{round}"));
        // both are paused inside their cache write, so the writes overlap
        let run = |_| {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_kestrel"));
            cmd.args(args)
                .env("KESTREL_CACHE_DIR", &cache)
                .env("HF_HUB_OFFLINE", "1")
                .env(PAUSE_ENV, "300")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            cmd.spawn().unwrap()
        };
        let children: Vec<Child> = (0..2).map(run).collect();
        let outs: Vec<_> = children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect();
        let lines: Vec<serde_json::Value> = outs
            .iter()
            .map(|o| serde_json::from_str(ok(o).trim()).unwrap())
            .collect();
        for l in &lines {
            assert_eq!(l["status"], "indexed");
            assert_eq!(l["embedded"], 1);
        }
        assert_eq!(lines[0]["scene_id"], lines[1]["scene_id"]);
        assert_eq!(lines[0]["checkpoint_sha256"], lines[1]["checkpoint_sha256"]);
        let dir = cache.join("index");
        let entries: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(
            entries.len(),
            1,
            "one entry, no temporary file: {entries:?}"
        );
        assert!(complete_index(&entries[0], 224));
        // a third run uses it
        let err = stderr(&kestrel_in(&cache, None, &[], &args));
        assert!(err.contains("index from cache"), "{err}");
    }
}

#[test]
fn a_live_writes_temporary_file_is_never_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let (model, chip) = (tiny(), chip());
    let (a, b) = (s(&out.join("a.csv")), s(&out.join("b.csv")));
    let search = |csv: &str| {
        [
            "search", "--model", &model, "--query", "x", "--csv", csv, &chip,
        ]
        .map(String::from)
    };
    ok(&kestrel_in(&cache, None, &[], &search(&b))); // fills the cache
    // A stops halfway through writing its CSV for 5 s
    let a_args = search(&a);
    let mut writer = Command::new(env!("CARGO_BIN_EXE_kestrel"))
        .args(&a_args)
        .env("KESTREL_CACHE_DIR", &cache)
        .env("HF_HUB_OFFLINE", "1")
        .env(PAUSE_ENV, "5000")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let temp = loop {
        if let [t] = temps(&out).as_slice() {
            break t.clone();
        }
        assert!(writer.try_wait().unwrap().is_none(), "A ended early");
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no temporary file"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    // two hours old, older than any age rule, but locked: B's clean-up of the folder
    // (before its own export) keeps it
    backdate_by(std::slice::from_ref(&temp), 2 * STALE_TEMP_AGE);
    ok(&kestrel_in(&cache, None, &[], &search(&b)));
    assert!(
        writer.try_wait().unwrap().is_none(),
        "A finished before B's clean-up: nothing was tested"
    );
    assert!(temp.exists(), "B removed A's live temporary file");
    let a_out = writer.wait_with_output().unwrap();
    ok(&a_out);
    complete_csv(&out.join("a.csv"), "x");
    assert_eq!(temps(&out), Vec::<PathBuf>::new());
}

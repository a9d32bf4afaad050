//! Kestrel past one machine, proved on one: the reference Ray driver
//! (`packaging/cluster/ray_index.py`) indexes 13 scenes made from `../shared/data` on a local
//! Ray (`num_cpus=2`) with the tiny model, retries a scene that failed once with exit code 75
//! (a wrapper around `kestrel` in the test's folder injects it), never leaves a partial
//! shard, and a rerun does nothing; a scene that is bad input is not retried. The one-line-
//! per-index job step (`index_one.sh`, for Kubernetes Indexed Jobs and AWS Batch arrays)
//! picks its manifest line, and the Job manifest parses. LanceDB
//! (`packaging/cluster/lancedb_ingest.py`): shards padded to 50 000 rows, IVF_PQ cosine,
//! recall@10 against numpy's exact top-10, with a query vector from `kestrel embed-text`.
//!
//! Runs `$KESTREL_PYTHON` (default `python3`; `./packaging/test.sh` points it at the venv of
//! `packaging/setup-python.sh`); each test skips with a message when that Python lacks the
//! module it needs (ray, lancedb, yaml), and the Ray test also without `../shared`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use crate::common::kestrel;
use kestrel::search::geoparquet::read_index;
use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tiny() -> String {
    s(&repo().join("tests/fixtures/msclip_tiny/msclip_random.safetensors"))
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// `$KESTREL_PYTHON` when it can import `module`; else None after a SKIP message.
fn python_with(module: &str) -> Option<String> {
    let py = std::env::var("KESTREL_PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = Command::new(&py)
        .args(["-c", &format!("import {module}")])
        .output();
    if matches!(&probe, Ok(o) if o.status.success()) {
        Some(py)
    } else {
        eprintln!(
            "SKIP: `{py} -c 'import {module}'` failed; set KESTREL_PYTHON to a Python with \
             packaging/requirements-cluster.txt installed (packaging/setup-python.sh)"
        );
        None
    }
}

fn json_lines(out: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(out)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn check(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every file of a folder with its mtime and bytes, sorted by name.
fn snapshot(dir: &Path) -> Vec<(String, std::time::SystemTime, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            let m = std::fs::metadata(&p).unwrap().modified().unwrap();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                m,
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// 13 scenes of distinct identities and places in `dir`: eight 448 x 224 windows of the
/// Aberystwyth mosaic that do not overlap (2 tiles each) and the five MajorTOM chips (UTM
/// zones 16 to 36, one tile each). The scene's file name and its tile count; None (skip)
/// without `../shared`.
fn make_scenes(dir: &Path) -> Option<Vec<(String, u64)>> {
    let data = repo().join("../shared/data");
    let mosaic = data.join("rsgislib-aberystwyth/sen2_20210527_aber_mosaic.tif");
    let chips = data.join("msclip-examples");
    if !mosaic.is_file() || !chips.is_dir() {
        eprintln!("SKIP: {} is absent (needs ../shared)", mosaic.display());
        return None;
    }
    std::fs::create_dir_all(dir).unwrap();
    let mut scenes = Vec::new();
    for (i, (x, y)) in [0, 448]
        .into_iter()
        .flat_map(|x| [0, 224, 448, 672].map(|y| (x, y)))
        .enumerate()
    {
        let name = format!("aber_{i}_x{x}_y{y}.tif");
        let (xs, ys) = (x.to_string(), y.to_string());
        let dst = s(&dir.join(&name));
        let out = Command::new("gdal_translate")
            .args(["-q", "-srcwin", &xs, &ys, "448", "224", &s(&mosaic), &dst])
            .output()
            .expect("gdal_translate");
        check(&out, "gdal_translate");
        scenes.push((name, 2));
    }
    for chip in [
        "282D_485L_3_3.tif",
        "38D_378R_2_3.tif",
        "433D_629L_3_1.tif",
        "609U_541L_3_0.tif",
        "637U_59R_1_3.tif",
    ] {
        std::fs::copy(chips.join(chip), dir.join(chip)).unwrap();
        scenes.push((chip.to_string(), 1));
    }
    Some(scenes)
}

/// A `kestrel` wrapper that fails the first run naming `flaky` with exit code 75 (what
/// kestrel says for a transient I/O error) and logs every call's arguments.
fn flaky_wrapper(dir: &Path, flaky: &str) -> (PathBuf, PathBuf) {
    let wrapper = dir.join("kestrel-flaky.sh");
    let log = dir.join("calls.log");
    let marker = dir.join("failed-once");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\n\
             # the test's kestrel: {flaky} fails once as a transient I/O error would\n\
             echo \"$*\" >> '{log}'\n\
             for a in \"$@\"; do\n\
             case $a in */{flaky})\n\
             if [ ! -e '{marker}' ]; then : > '{marker}'; echo 'injected: EIO' >&2; exit 75; fi;;\n\
             esac\n\
             done\n\
             exec '{bin}' \"$@\"\n",
            log = log.display(),
            marker = marker.display(),
            bin = env!("CARGO_BIN_EXE_kestrel"),
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    (wrapper, log)
}

/// `ray_index.py` with a local Ray of 2 CPUs, its temp files under `tmp`.
fn ray_index(py: &str, tmp: &Path, args: &[&str]) -> (Output, f64) {
    let started = Instant::now();
    let out = Command::new(py)
        .arg(repo().join("packaging/cluster/ray_index.py"))
        .args(["--num-cpus", "2", "--model", &tiny()])
        .args(args)
        .env("KESTREL_CACHE_DIR", tmp.join("cache"))
        .env("HF_HUB_OFFLINE", "1")
        .env("RAY_TMPDIR", tmp.join("ray"))
        .env("RAY_USAGE_STATS_ENABLED", "0")
        .output()
        .unwrap();
    (out, started.elapsed().as_secs_f64())
}

#[test]
fn ray_indexes_scenes_retries_a_transient_failure_and_reruns_as_a_noop() {
    let Some(py) = python_with("ray") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let scene_dir = tmp.path().join("archive");
    let Some(scenes) = make_scenes(&scene_dir) else {
        return;
    };
    // the manifest names the scenes relatively, as a job's manifest beside them would
    let manifest = scene_dir.join("scenes.txt");
    let mut text = String::from("# the archive\n");
    for (name, _) in &scenes {
        text.push_str(&format!("{name}\n\n"));
    }
    std::fs::write(&manifest, text).unwrap();
    let flaky = "aber_5_x448_y224.tif";
    let (wrapper, calls) = flaky_wrapper(tmp.path(), flaky);
    let out_dir = tmp.path().join("shards");
    let (m, o, w) = (s(&manifest), s(&out_dir), s(&wrapper));

    let (out, secs) = ray_index(
        &py,
        tmp.path(),
        &["--manifest", &m, "--out-dir", &o, "--kestrel", &w],
    );
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    eprintln!("ray_index: first run {secs:.1} s");
    assert!(out.status.success(), "{err}");
    let lines = json_lines(&out.stdout);
    assert_eq!(lines.len(), scenes.len() + 1, "{lines:?}");
    let summary = &lines[scenes.len()];
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["scenes"], 13);
    assert_eq!(summary["indexed"], 13);
    assert_eq!(summary["skipped"], 0);
    assert_eq!(summary["failed"], 0);
    assert_eq!(summary["retried"], 1);
    assert_eq!(summary["tiles"], 8 * 2 + 5);
    assert_eq!(summary["exit_code"], 0);
    assert!(
        err.contains(&format!(
            "{flaky}: attempt 1 failed with exit code 75; retrying"
        )),
        "{err}"
    );

    let mut ids = BTreeSet::new();
    for ((name, tiles), line) in scenes.iter().zip(&lines) {
        assert_eq!(line["scene"], s(&scene_dir.join(name)), "{line}");
        assert_eq!(line["status"], "indexed", "{line}");
        assert_eq!(line["tiles"], *tiles, "{line}");
        let attempts = if name == flaky { 2 } else { 1 };
        assert_eq!(line["attempts"], attempts, "{line}");
        let id = line["scene_id"].as_str().unwrap();
        assert!(id.starts_with(&name.replace('.', "_")), "{id}");
        assert!(ids.insert(id.to_string()), "{id} twice");
        let shard = PathBuf::from(line["shard"].as_str().unwrap());
        assert_eq!(shard, out_dir.join(format!("{id}.parquet")));
        let (meta, records) = read_index(&shard).unwrap();
        assert_eq!(meta.scene_identity, id);
        assert_eq!(records.len() as u64, *tiles);
        let embedded = records.iter().filter(|r| r.embedding.is_some()).count();
        assert_eq!(
            embedded as u64,
            line["embedded"].as_u64().unwrap(),
            "{line}"
        );
    }
    // the wrapper ran the flaky scene twice (failed, then indexed), every other once
    let log = std::fs::read_to_string(&calls).unwrap();
    for (name, _) in &scenes {
        let runs = log
            .lines()
            .filter(|l| l.ends_with(&format!("/{name}")))
            .count();
        assert_eq!(runs, if name == flaky { 2 } else { 1 }, "{name}: {log}");
    }
    // no partial shard, nothing but the 13 shards
    let files: Vec<String> = snapshot(&out_dir).into_iter().map(|f| f.0).collect();
    assert_eq!(files.len(), 13, "{files:?}");
    assert!(
        files
            .iter()
            .all(|f| f.ends_with(".parquet") && !f.starts_with('.')),
        "{files:?}"
    );

    // the rerun (a retry of the finished job, in batches of 4 this time) does nothing
    let before = snapshot(&out_dir);
    let (out, secs) = ray_index(
        &py,
        tmp.path(),
        &[
            "--manifest",
            &m,
            "--out-dir",
            &o,
            "--kestrel",
            env!("CARGO_BIN_EXE_kestrel"),
            "--batch",
            "4",
        ],
    );
    eprintln!("ray_index: rerun {secs:.1} s");
    check(&out, "ray_index rerun");
    let again = json_lines(&out.stdout);
    assert_eq!(again.len(), 14);
    for (line, first) in again.iter().zip(&lines).take(13) {
        assert_eq!(line["status"], "skipped", "{line}");
        assert_eq!(line["attempts"], 1, "{line}");
        assert_eq!(line["shard"], first["shard"]);
    }
    assert_eq!(again[13]["skipped"], 13);
    assert_eq!(again[13]["indexed"], 0);
    assert_eq!(again[13]["tiles"], 0);
    assert_eq!(snapshot(&out_dir), before, "shards untouched by the rerun");

    // bad input is not retried: exit 2, one attempt; the good scene is still done
    let bad_manifest = tmp.path().join("bad.txt");
    std::fs::write(
        &bad_manifest,
        format!("archive/gone.tif\narchive/{}\n", scenes[0].0),
    )
    .unwrap();
    let (out, secs) = ray_index(
        &py,
        tmp.path(),
        &[
            "--manifest",
            &s(&bad_manifest),
            "--out-dir",
            &o,
            "--kestrel",
            &w,
        ],
    );
    eprintln!("ray_index: bad input {secs:.1} s");
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bad = json_lines(&out.stdout);
    assert_eq!(bad.len(), 3, "{bad:?}");
    assert_eq!(bad[0]["status"], "failed");
    assert_eq!(bad[0]["exit_code"], 2);
    assert_eq!(bad[0]["attempts"], 1);
    assert!(bad[0]["error"].as_str().unwrap().contains("gone.tif"));
    assert_eq!(bad[1]["status"], "skipped");
    assert_eq!(bad[2]["failed"], 1);
    assert_eq!(bad[2]["exit_code"], 2);
    let log = std::fs::read_to_string(&calls).unwrap();
    assert_eq!(
        log.lines().filter(|l| l.contains("gone.tif")).count(),
        1,
        "gone.tif is bad input, run once: {log}"
    );
    assert_eq!(snapshot(&out_dir), before);
}

/// `index_one.sh` (the Kubernetes Indexed Job's and AWS Batch's step) picks manifest line
/// `$JOB_COMPLETION_INDEX` / `$AWS_BATCH_JOB_ARRAY_INDEX`, passes kestrel's exit code on,
/// and k8s-index-job.yaml is a valid Indexed Job with the exit-code policy.
#[test]
fn index_one_picks_its_manifest_line_and_the_job_manifest_parses() {
    let tmp = tempfile::tempdir().unwrap();
    let jobs = tmp.path().join("job");
    std::fs::create_dir(&jobs).unwrap();
    let chips = repo().join("tests/fixtures/chips");
    let names = ["282D_485L_3_3.tif", "38D_378R_2_3.tif"];
    for c in names {
        std::fs::copy(chips.join(c), jobs.join(c)).unwrap();
    }
    let manifest = jobs.join("scenes.txt");
    std::fs::write(
        &manifest,
        format!("# two chips\n{}\n\n  {}  \n", names[0], names[1]),
    )
    .unwrap();
    let out_dir = tmp.path().join("shards");
    let step = |var: &str, index: &str| {
        Command::new(repo().join("packaging/cluster/index_one.sh"))
            .env_remove("JOB_COMPLETION_INDEX")
            .env_remove("AWS_BATCH_JOB_ARRAY_INDEX")
            .env(var, index)
            .env("KESTREL_MANIFEST", &manifest)
            .env("KESTREL_OUT_DIR", &out_dir)
            .env("KESTREL_MODEL", tiny())
            .env("KESTREL_BIN", env!("CARGO_BIN_EXE_kestrel"))
            .env("KESTREL_CACHE_DIR", tmp.path().join("cache"))
            .env("HF_HUB_OFFLINE", "1")
            .output()
            .unwrap()
    };
    let out = step("JOB_COMPLETION_INDEX", "1");
    check(&out, "index_one.sh 1");
    let l = json_lines(&out.stdout);
    assert_eq!(l.len(), 1);
    assert_eq!(l[0]["scene"], s(&jobs.join(names[1])));
    assert_eq!(l[0]["status"], "indexed");
    assert_eq!(l[0]["tiles"], 1);
    // AWS Batch's index, the same contract; then a retry of index 1 is a no-op
    let out = step("AWS_BATCH_JOB_ARRAY_INDEX", "0");
    check(&out, "index_one.sh 0");
    assert_eq!(json_lines(&out.stdout)[0]["scene"], s(&jobs.join(names[0])));
    let out = step("JOB_COMPLETION_INDEX", "1");
    check(&out, "index_one.sh 1 again");
    assert_eq!(json_lines(&out.stdout)[0]["status"], "skipped");
    assert_eq!(std::fs::read_dir(&out_dir).unwrap().count(), 2);
    // past the manifest's end, or no index: bad input (exit 2, FailIndex)
    let out = step("JOB_COMPLETION_INDEX", "2");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no scene line 2"));
    let out = step("UNRELATED", "0");
    assert_eq!(out.status.code(), Some(2));

    let Some(py) = python_with("yaml") else {
        return;
    };
    let out = Command::new(&py)
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        ])
        .arg(repo().join("packaging/cluster/k8s-index-job.yaml"))
        .output()
        .unwrap();
    check(&out, "yaml");
    let job: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(job["kind"], "Job");
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"], "Indexed");
    assert!(spec["backoffLimitPerIndex"].as_u64().unwrap() >= 1);
    let rules = spec["podFailurePolicy"]["rules"].as_array().unwrap();
    let action_of = |code: u64| {
        rules
            .iter()
            .find(|r| {
                r["onExitCodes"]["values"]
                    .as_array()
                    .is_some_and(|v| v.iter().any(|c| c == code))
            })
            .map(|r| r["action"].as_str().unwrap().to_string())
    };
    assert_eq!(action_of(2).as_deref(), Some("FailIndex"));
    assert_eq!(action_of(75).as_deref(), Some("Count"));
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    assert_eq!(
        pod["containers"][0]["command"][0],
        "/opt/kestrel/index_one.sh"
    );
}

/// Writes 50 000 padding rows (seeded random unit vectors, the shards' schema) and the
/// query vectors: 9 random, 9 near a row, one exactly a real tile's embedding, and the
/// `kestrel embed-text` line; prints the real tile the exact query is.
const PAD_PY: &str = r#"
import glob, json, sys
import numpy as np, pyarrow as pa, pyarrow.compute as pc, pyarrow.parquet as pq
shards, out, text_line = sys.argv[1], sys.argv[2], sys.argv[3]
real = pa.concat_tables([pq.read_table(p).replace_schema_metadata(None)
                         for p in sorted(glob.glob(shards + "/*.parquet"))])
real = real.filter(pc.is_valid(real.column("embedding")))
etype = real.schema.field("embedding").type
dim = etype.list_size
n = 50000
rng = np.random.default_rng(12)
v = rng.standard_normal((n, dim)).astype(np.float32)
v /= np.linalg.norm(v, axis=1, keepdims=True)
pad = real.take(pa.array(rng.integers(0, real.num_rows, n)))
def put(t, name, arr):
    i = t.schema.get_field_index(name)
    return t.set_column(i, t.schema.field(name), arr)
pad = put(pad, "scene_id", pa.array([f"pad-{k // 1000:03d}" for k in range(n)]))
pad = put(pad, "tile_row", pa.array((np.arange(n) % 1000 // 40).astype(np.int32)))
pad = put(pad, "tile_col", pa.array((np.arange(n) % 40).astype(np.int32)))
pad = put(pad, "embedding", pa.FixedSizeListArray.from_arrays(pa.array(v.ravel()), type=etype))
pq.write_table(pad, out + "/pad.parquet")
emb = real.column("embedding").combine_chunks().flatten().to_numpy().reshape(-1, dim)
queries = [rng.standard_normal(dim) for _ in range(9)]
queries += [v[rng.integers(0, n)] + 0.05 * rng.standard_normal(dim) for _ in range(9)]
k = int(rng.integers(0, real.num_rows))
queries.append(emb[k])
with open(out + "/queries.jsonl", "w") as f:
    for q in queries:
        f.write(json.dumps([float(x) for x in q]) + "\n")
    f.write(text_line.strip() + "\n")
print(json.dumps({"real_rows": real.num_rows, "dim": dim, "exact_tile":
    [real.column("scene_id")[k].as_py(), real.column("tile_row")[k].as_py(),
     real.column("tile_col")[k].as_py()]}))
"#;

/// numpy's exact cosine top-10 of every query over the shards and the padding.
const EXACT_PY: &str = r#"
import glob, json, sys
import numpy as np, pyarrow as pa, pyarrow.compute as pc, pyarrow.parquet as pq
files, queries = sys.argv[1].split(","), sys.argv[2]
t = pa.concat_tables([pq.read_table(p, columns=["scene_id", "tile_row", "tile_col", "embedding"])
                      .replace_schema_metadata(None) for p in files])
t = t.filter(pc.is_valid(t.column("embedding")))
e = t.column("embedding").combine_chunks().flatten().to_numpy().reshape(t.num_rows, -1)
e = e.astype(np.float64)
e /= np.linalg.norm(e, axis=1, keepdims=True)
ids, rows, cols = (t.column(c).to_pylist() for c in ("scene_id", "tile_row", "tile_col"))
out = []
for line in open(queries):
    q = json.loads(line)
    q = np.asarray(q["embedding"] if isinstance(q, dict) else q, dtype=np.float64)
    top = np.argsort(-(e @ (q / np.linalg.norm(q))), kind="stable")[:10]
    out.append([[ids[j], rows[j], cols[j]] for j in top])
print(json.dumps({"rows": t.num_rows, "top": out}))
"#;

fn ingest_script(py: &str, args: &[&str]) -> Output {
    Command::new(py)
        .arg(repo().join("packaging/cluster/lancedb_ingest.py"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn lancedb_ivf_pq_recall_at_10_on_50k_rows() {
    let Some(py) = python_with("lancedb") else {
        return;
    };
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let shards = tmp.path().join("shards");
    let model = tiny();
    // real shards: the demo scene (28 tiles, 21 embedded) and three chips
    let demo = s(&repo().join("assets/demo/T33UUU_20170216_L1C"));
    let chips = repo().join("tests/fixtures/chips");
    let mut args = vec![
        "index".to_string(),
        "--json".into(),
        "--model".into(),
        model.clone(),
        "--out-dir".into(),
        s(&shards),
        demo,
    ];
    for c in ["282D_485L_3_3.tif", "38D_378R_2_3.tif", "433D_629L_3_1.tif"] {
        args.push(s(&chips.join(c)));
    }
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = kestrel(&cache, &argv);
    check(&out, "kestrel index");
    let indexed = json_lines(&out.stdout);
    let real_rows: u64 = indexed
        .iter()
        .map(|l| l["embedded"].as_u64().unwrap())
        .sum();
    assert_eq!(real_rows, 21 + 3);
    let out = kestrel(
        &cache,
        &["embed-text", "--json", "--model", &model, "a river"],
    );
    check(&out, "embed-text");
    let text_line = String::from_utf8_lossy(&out.stdout).to_string();

    let work = tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let out = Command::new(&py)
        .args(["-c", PAD_PY, &s(&shards), &s(&work), &text_line])
        .output()
        .unwrap();
    check(&out, "padding");
    let pad: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(pad["real_rows"], real_rows);
    assert_eq!(pad["dim"], 32);

    // ingest the shards and the padding, IVF_PQ cosine (tuned for uniform random padding,
    // the worst case for IVF: 64 partitions, 2 dimensions per PQ sub-vector)
    let db = s(&tmp.path().join("archive.lance"));
    let mut files: Vec<String> = std::fs::read_dir(&shards)
        .unwrap()
        .map(|e| s(&e.unwrap().path()))
        .collect();
    files.sort();
    files.push(s(&work.join("pad.parquet")));
    let mut ingest = vec![
        "--db",
        &db,
        "--table",
        "tiles",
        "--partitions",
        "64",
        "--sub-vectors",
        "16",
    ];
    ingest.extend(files.iter().map(String::as_str));
    let t = Instant::now();
    let out = ingest_script(&py, &ingest);
    check(&out, "lancedb_ingest");
    eprintln!("lancedb ingest + index {:.1} s", t.elapsed().as_secs_f64());
    let events = json_lines(&out.stdout);
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0]["event"], "ingested");
    assert_eq!(events[0]["rows"], 50_000 + real_rows);
    assert_eq!(events[0]["dim"], 32);
    assert_eq!(events[1]["event"], "indexed");
    assert_eq!(events[1]["index"], "IVF_PQ");
    assert_eq!(events[1]["metric"], "cosine");

    // re-ingesting a shard replaces its scene's rows: no duplicates
    let out = ingest_script(&py, &["--db", &db, "--no-index", &files[0]]);
    check(&out, "re-ingest");
    assert_eq!(json_lines(&out.stdout)[0]["rows"], 50_000 + real_rows);

    let t = Instant::now();
    let queries = s(&work.join("queries.jsonl"));
    let out = ingest_script(
        &py,
        &[
            "--db",
            &db,
            "--query-vector-json",
            &queries,
            "--k",
            "10",
            "--nprobes",
            "32",
            "--refine-factor",
            "20",
        ],
    );
    check(&out, "lancedb search");
    eprintln!("lancedb 20 searches {:.1} s", t.elapsed().as_secs_f64());
    let mut got: BTreeMap<u64, Vec<Value>> = BTreeMap::new();
    for r in json_lines(&out.stdout) {
        got.entry(r["query"].as_u64().unwrap()).or_default().push(r);
    }
    assert_eq!(got.len(), 20);
    let out = Command::new(&py)
        .args(["-c", EXACT_PY, &files.join(","), &queries])
        .output()
        .unwrap();
    check(&out, "exact");
    let exact: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(exact["rows"], 50_000 + real_rows);
    let key = |r: &Value| {
        (
            r["scene_id"].as_str().unwrap().to_string(),
            r["tile_row"].as_i64().unwrap(),
            r["tile_col"].as_i64().unwrap(),
        )
    };
    let mut recalls = Vec::new();
    for (q, top) in exact["top"].as_array().unwrap().iter().enumerate() {
        let want: BTreeSet<_> = top
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t[0].as_str().unwrap().to_string(),
                    t[1].as_i64().unwrap(),
                    t[2].as_i64().unwrap(),
                )
            })
            .collect();
        let results = &got[&(q as u64)];
        assert_eq!(results.len(), 10);
        for (rank, r) in results.iter().enumerate() {
            assert_eq!(r["rank"], rank);
            let (d, sc) = (
                r["distance"].as_f64().unwrap(),
                r["score"].as_f64().unwrap(),
            );
            assert!((d + sc - 1.0).abs() < 1e-9, "{r}");
        }
        let have: BTreeSet<_> = results.iter().map(key).collect();
        recalls.push(want.intersection(&have).count() as f64 / 10.0);
    }
    let recall = recalls.iter().sum::<f64>() / recalls.len() as f64;
    eprintln!("lancedb recall@10 {recall:.3} per query {recalls:?}");
    assert!(recall >= 0.9, "recall@10 {recall} < 0.9: {recalls:?}");
    // the query that is a real tile's embedding finds that tile first, at distance ~0
    let first = &got[&18][0];
    let tile = &pad["exact_tile"];
    assert_eq!(
        key(first),
        (
            tile[0].as_str().unwrap().to_string(),
            tile[1].as_i64().unwrap(),
            tile[2].as_i64().unwrap()
        )
    );
    assert!(first["distance"].as_f64().unwrap() < 1e-3, "{first}");
    // the text query's lines carry its text
    assert!(got[&19].iter().all(|r| r["text"] == "a river"));

    // filtered first (the real tiles only: fewer than the probed partitions hold), the
    // text query's top-10 is numpy's exact top-10 over the shards
    let text_query = work.join("text.jsonl");
    std::fs::write(&text_query, &text_line).unwrap();
    let out = ingest_script(
        &py,
        &[
            "--db",
            &db,
            "--query-vector-json",
            &s(&text_query),
            "--where",
            "scene_id NOT LIKE 'pad-%'",
        ],
    );
    check(&out, "lancedb filtered search");
    let filtered: Vec<_> = json_lines(&out.stdout).iter().map(key).collect();
    let real_files = files[..files.len() - 1].join(",");
    let out = Command::new(&py)
        .args(["-c", EXACT_PY, &real_files, &s(&text_query)])
        .output()
        .unwrap();
    check(&out, "exact over the shards");
    let exact: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(exact["rows"], real_rows);
    let want: Vec<_> = exact["top"][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t[0].as_str().unwrap().to_string(),
                t[1].as_i64().unwrap(),
                t[2].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(filtered.len(), 10);
    assert_eq!(
        filtered.iter().collect::<BTreeSet<_>>(),
        want.iter().collect::<BTreeSet<_>>()
    );
    eprintln!("lancedb test {:.1} s", started.elapsed().as_secs_f64());
}

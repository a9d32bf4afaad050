//! `kestrel index` as a cluster job: many scenes per process (arguments and a manifest),
//! one shard per scene named by its id in `--out-dir`, `--skip-existing` making a retry a
//! no-op (and rebuilding a shard made with other settings), exit codes that tell bad input
//! from what may succeed on a retry, JSON summaries and log-friendly progress.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kestrel::search::geoparquet::read_index;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tiny() -> String {
    repo()
        .join("tests/fixtures/msclip_tiny/msclip_random.safetensors")
        .display()
        .to_string()
}

fn kestrel(cache: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kestrel"))
        .args(args)
        .env("KESTREL_CACHE_DIR", cache)
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .unwrap()
}

fn lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn mtimes(dir: &Path) -> Vec<(PathBuf, std::time::SystemTime, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            let m = std::fs::metadata(&p).unwrap().modified().unwrap();
            let bytes = std::fs::read(&p).unwrap();
            (p, m, bytes)
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn many_scenes_one_process_shards_skip_and_exit_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let out_dir = tmp.path().join("shards");
    let demo = repo().join("assets/demo/T33UUU_20170216_L1C");
    let chips = repo().join("tests/fixtures/chips");
    // a manifest beside two chips it names relatively (as a job's manifest would)
    let jobs = tmp.path().join("job");
    std::fs::create_dir(&jobs).unwrap();
    for c in ["282D_485L_3_3.tif", "38D_378R_2_3.tif"] {
        std::fs::copy(chips.join(c), jobs.join(c)).unwrap();
    }
    let manifest = jobs.join("scenes.txt");
    std::fs::write(
        &manifest,
        "# scenes of this job\n282D_485L_3_3.tif\n\n38D_378R_2_3.tif\n",
    )
    .unwrap();
    let model = tiny();
    let (d, o, m) = (
        demo.display().to_string(),
        out_dir.display().to_string(),
        manifest.display().to_string(),
    );
    let args: Vec<&str> = vec![
        "index",
        "--json",
        "--progress",
        "json",
        "--model",
        model.as_str(),
        "--out-dir",
        o.as_str(),
        "--manifest",
        m.as_str(),
        d.as_str(),
    ];
    let out = kestrel(&cache, &args);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{err}");
    let summaries = lines(&out);
    assert_eq!(summaries.len(), 3, "{summaries:?}");
    assert_eq!(summaries[0]["scene"], d);
    assert_eq!(summaries[0]["tiles"], 28);
    assert_eq!(summaries[0]["embedded"], 21);
    assert_eq!(summaries[0]["precision"], "f32");
    for s in &summaries {
        assert_eq!(s["status"], "indexed", "{s}");
        let shard = PathBuf::from(s["shard"].as_str().unwrap());
        let id = s["scene_id"].as_str().unwrap();
        assert_eq!(shard, out_dir.join(format!("{id}.parquet")));
        let (meta, tiles) = read_index(&shard).unwrap();
        assert_eq!(meta.scene_identity, id);
        assert_eq!(meta.precision.as_deref(), Some("f32"));
        assert_eq!(tiles.len() as u64, s["tiles"].as_u64().unwrap());
    }
    // --progress json: JSON lines on stderr, never a carriage return
    assert!(!err.contains('\r'), "{err}");
    let progress: Vec<serde_json::Value> = err
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(
        progress
            .iter()
            .any(|p| p["event"] == "progress" && p["done"] == 28 && p["total"] == 28),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(&out_dir).unwrap().count(),
        3,
        "no temp files left"
    );

    // the retry of a finished job does nothing
    let before = mtimes(&out_dir);
    let mut retry = args.to_vec();
    retry.push("--skip-existing");
    let out = kestrel(&cache, &retry);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = lines(&out);
    assert_eq!(again.len(), 3);
    for (a, b) in again.iter().zip(&summaries) {
        assert_eq!(a["status"], "skipped", "{a}");
        assert_eq!(a["shard"], b["shard"]);
    }
    assert_eq!(mtimes(&out_dir), before, "shards untouched");

    // other tiling: the demo shard no longer matches and is rebuilt
    let mut other = retry.clone();
    other.extend(["--stride", "112"]);
    other.retain(|a| *a != m.as_str() && *a != "--manifest");
    let out = kestrel(&cache, &other);
    assert!(out.status.success());
    let rebuilt = lines(&out);
    assert_eq!(rebuilt.len(), 1);
    assert_eq!(rebuilt[0]["status"], "indexed");
    assert!(rebuilt[0]["tiles"].as_u64().unwrap() > 28);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("rebuilding, different tiling"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // a missing scene among good ones: the others still indexed, exit 2 (do not retry)
    let missing = tmp.path().join("gone.tif").display().to_string();
    let out = kestrel(
        &cache,
        &[
            "index",
            "--json",
            "--model",
            &model,
            "--out-dir",
            &o,
            &missing,
            &d,
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "{err}");
    let s = lines(&out);
    assert_eq!(s.len(), 2);
    assert_eq!(s[0]["status"], "failed");
    assert_eq!(s[0]["exit_code"], 2);
    assert_eq!(s[0]["retry"], false);
    assert!(
        s[0]["error"].as_str().unwrap().contains("gone.tif"),
        "{}",
        s[0]
    );
    assert_eq!(s[1]["status"], "indexed");
    assert!(err.contains("1 of 2 scenes failed"), "{err}");

    // bad options are bad input too
    let out = kestrel(
        &cache,
        &["index", "--model", &model, "--out", "x.parquet", &d, &d],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("use --out-dir"));
    let out = kestrel(&cache, &["index", "--model", &model, "--skip-existing", &d]);
    assert_eq!(out.status.code(), Some(2));
    let out = kestrel(&cache, &["index", "--model", &model]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no scene given"));
    let nomanifest = tmp.path().join("none.txt").display().to_string();
    let out = kestrel(
        &cache,
        &["index", "--model", &model, "--manifest", &nomanifest],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("none.txt"));

    // the codes are documented in --help
    let help = kestrel(&cache, &["index", "--help"]);
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("75  transient I/O error"), "{text}");
    assert!(text.contains("2   bad input"), "{text}");
}

/// Without a terminal the progress is a plain line (no `\r`), the default.
#[test]
fn progress_is_plain_lines_off_a_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let demo = repo().join("assets/demo/T33UUU_20170216_L1C");
    let out = kestrel(
        tmp.path(),
        &["index", "--model", &tiny(), &demo.display().to_string()],
    );
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{err}");
    assert!(!err.contains('\r'), "{err:?}");
    assert!(
        err.contains("kestrel: indexing T33UUU_20170216_L1C: 28/28"),
        "{err}"
    );
}

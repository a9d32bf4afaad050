//! `kestrel index`: index scenes into the cache or into GeoParquet shards, as a job a
//! cluster engine (Ray, a Kubernetes Indexed Job, AWS Batch) can run and retry safely.
//!
//! Many scenes per process (arguments and/or `--manifest`), the model loaded once; with
//! `--out-dir` one shard per scene named by its id; `--skip-existing` leaves shards whose
//! metadata matches this run (so a retry of a finished job does nothing); writes are atomic,
//! so a killed job leaves no partial shard. Every scene gets one summary line on stdout
//! (JSON with `--json`); a failing scene does not stop the others, and the exit code says
//! what an engine should do ([`EXIT_CODES_HELP`]).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context as _, anyhow};
use serde_json::json;

use super::IndexCmdArgs;
use super::common::{StderrProgress, check_input, check_outputs};
use crate::jobs::CancelToken;
use crate::model::Embedder;
use crate::raster::RasterError;
use crate::search::cache::{self, CacheKey, CacheOutcome};
use crate::search::geoparquet::{self, StoreError};
use crate::search::index::{IndexError, IndexOptions, TileIndex, build_index};
use crate::search::record::TileStatus;

/// Some scene failed for a reason not classified below (a model failure, a bug).
pub const EXIT_FAILED: u8 = 1;
/// Bad input: a scene, manifest, model or option is wrong. Retrying will not help.
pub const EXIT_BAD_INPUT: u8 = 2;
/// A transient I/O failure (reading a scene, writing a shard, a network file system):
/// retrying may succeed (`EX_TEMPFAIL`).
pub const EXIT_RETRY: u8 = 75;

/// The exit codes, as `kestrel index --help` prints them.
pub const EXIT_CODES_HELP: &str = "\
Exit codes (for job engines):
  0   every scene indexed, or skipped with --skip-existing
  2   bad input (a scene, the manifest, the model or an option is wrong): do not retry
  75  transient I/O error (reading a scene, writing a shard): retry (with --skip-existing)
  1   another failure
With several scenes, every scene is tried; the code is 75 if any scene may succeed on a
retry, else 2 or 1.";

/// An error that carries its process exit code (`main` uses it).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Exit {
    pub code: u8,
    /// Printed as `kestrel: error: …`; empty when the failures were already reported.
    pub message: String,
}

fn exit(code: u8, e: &anyhow::Error) -> anyhow::Error {
    Exit {
        code,
        message: crate::report::error_line(e.as_ref()),
    }
    .into()
}

fn io_code(e: &std::io::Error) -> u8 {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::NotFound
        | K::PermissionDenied
        | K::InvalidInput
        | K::InvalidData
        | K::IsADirectory
        | K::NotADirectory
        | K::Unsupported
        | K::AlreadyExists => EXIT_BAD_INPUT,
        _ => EXIT_RETRY,
    }
}

fn raster_code(e: &RasterError) -> u8 {
    match e {
        RasterError::Read { .. } | RasterError::Warp { .. } => EXIT_RETRY,
        RasterError::Cancelled(_) | RasterError::InvalidRequest(_) => EXIT_FAILED,
        _ => EXIT_BAD_INPUT,
    }
}

/// The exit code of a failure, from the first typed error in its chain; `default` when
/// none says.
fn classify(e: &anyhow::Error, default: u8) -> u8 {
    for cause in e.chain() {
        if let Some(r) = cause.downcast_ref::<RasterError>() {
            return raster_code(r);
        }
        if let Some(ix) = cause.downcast_ref::<IndexError>() {
            match ix {
                IndexError::Raster(r) => return raster_code(r),
                IndexError::Unsupported { .. }
                | IndexError::Georef { .. }
                | IndexError::Preprocess { .. } => return EXIT_BAD_INPUT,
                IndexError::Model { .. } | IndexError::Cancelled => return EXIT_FAILED,
                IndexError::Checkpoint { .. } => {} // the io::Error below says
            }
        }
        if let Some(s) = cause.downcast_ref::<StoreError>() {
            return match s {
                StoreError::Read { source, .. } | StoreError::Write { source, .. } => {
                    io_code(source)
                }
                _ => EXIT_BAD_INPUT,
            };
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return io_code(io);
        }
    }
    default
}

/// The shard file name of a scene: its id with characters other than ASCII letters,
/// digits, `-`, `_` and `.` replaced by `_`, plus `.parquet`.
pub fn shard_name(scene_id: &str) -> String {
    let stem: String = scene_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{}.parquet", stem.trim_start_matches('.'))
}

/// Scene paths from a manifest: one a line, blank lines and `#` comments skipped, relative
/// paths taken from the manifest's folder.
fn read_manifest(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    check_input(path, false)?;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the manifest {}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new(""));
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| base.join(l))
        .collect())
}

/// Where a run writes.
enum Target<'a> {
    Cache,
    File(&'a Path),
    Dir(&'a Path),
}

struct Run<'a> {
    args: &'a IndexCmdArgs,
    model: &'a Embedder,
    opts: IndexOptions,
    target: Target<'a>,
    progress: StderrProgress,
    cancel: CancelToken,
}

/// One scene: skip, or index and write. The summary line, or the failure's exit code.
fn one_scene(run: &Run<'_>, path: &Path) -> Result<serde_json::Value, (u8, anyhow::Error)> {
    let started = Instant::now();
    let bad = |e: anyhow::Error| (classify(&e, EXIT_BAD_INPUT), e);
    check_input(path, true).map_err(bad)?;
    let scene = super::common::open_scene(path, &run.cancel, true).map_err(bad)?;
    let info = scene.info();
    let dest: Option<PathBuf> = match run.target {
        Target::Cache => None,
        Target::File(p) => Some(p.to_path_buf()),
        Target::Dir(d) => Some(d.join(shard_name(&info.identity))),
    };
    let base = json!({
        "scene": path.display().to_string(),
        "scene_id": info.identity,
        "shard": dest.as_ref().map(|d| d.display().to_string()),
    });
    if let (true, Some(d)) = (run.args.skip_existing, &dest)
        && d.exists()
    {
        let key =
            CacheKey::new(&scene, run.model, &run.opts).map_err(|e| bad(anyhow::Error::new(e)))?;
        match geoparquet::read_meta(d) {
            Ok(meta) => match key.mismatch(&meta) {
                None => {
                    let mut s = base;
                    s["status"] = "skipped".into();
                    s["reason"] = "the shard exists and its metadata matches".into();
                    return Ok(s);
                }
                Some(why) => eprintln!("kestrel: {}: rebuilding, {why}", d.display()),
            },
            Err(e) => eprintln!("kestrel: {}: rebuilding, unreadable: {e}", d.display()),
        }
    }
    let index = build(run, &scene).map_err(|e| (classify(&e, EXIT_FAILED), e))?;
    if let Some(d) = &dest {
        geoparquet::write_index(d, &index.meta, &index.tiles)
            .with_context(|| format!("cannot write {}", d.display()))
            .map_err(|e| (classify(&e, EXIT_RETRY), e))?;
    }
    let embedded = index.embedded_count();
    let cloud = index
        .tiles
        .iter()
        .filter(|t| t.status == TileStatus::SkippedCloud)
        .count();
    let mut s = base;
    for (k, v) in [
        ("status", json!("indexed")),
        ("tiles", json!(index.tiles.len())),
        ("embedded", json!(embedded)),
        (
            "skipped_nodata",
            json!(index.tiles.len() - embedded - cloud),
        ),
        ("skipped_cloud", json!(cloud)),
        ("model", json!(index.meta.model_name)),
        ("checkpoint_sha256", json!(index.meta.checkpoint_sha256)),
        ("precision", json!(index.meta.precision)),
        ("device", json!(run.model.device_description())),
        (
            "seconds",
            json!((started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0),
        ),
    ] {
        s[k] = v;
    }
    Ok(s)
}

/// Index a scene, through the cache unless writing shards only.
fn build(run: &Run<'_>, scene: &crate::raster::Scene) -> anyhow::Result<TileIndex> {
    let path = &scene.info().path;
    let use_cache = matches!(run.target, Target::Cache) || run.args.cache;
    let index = if use_cache {
        let (index, outcome) = cache::open_or_build(
            &cache::cache_dir(),
            scene,
            run.model,
            &run.opts,
            &run.progress,
            &run.cancel,
        )?;
        run.progress.finish();
        match outcome {
            CacheOutcome::Hit(p) => eprintln!(
                "kestrel: {}: index from cache {}",
                path.display(),
                p.display()
            ),
            CacheOutcome::Built {
                path: p,
                reason,
                saved,
            } => match saved {
                Ok(()) => eprintln!(
                    "kestrel: {}: indexed ({reason}), cached in {}",
                    path.display(),
                    p.display()
                ),
                Err(e) => eprintln!(
                    "kestrel: {}: indexed ({reason}), not cached: {e}",
                    path.display()
                ),
            },
        }
        index
    } else {
        let index = build_index(scene, run.model, &run.opts, &run.progress, &run.cancel)?;
        run.progress.finish();
        index
    };
    Ok(index)
}

fn print_summary(json_lines: bool, s: &serde_json::Value) {
    if json_lines {
        println!("{s}");
        return;
    }
    let scene = s["scene"].as_str().unwrap_or_default();
    match s["status"].as_str() {
        Some("indexed") => println!(
            "{scene}: {} tiles, {} embedded, {} skipped for nodata, {} for cloud",
            s["tiles"], s["embedded"], s["skipped_nodata"], s["skipped_cloud"]
        ),
        Some("skipped") => println!(
            "{scene}: skipped, {} is up to date",
            s["shard"].as_str().unwrap_or_default()
        ),
        _ => println!(
            "{scene}: failed (exit code {}): {}",
            s["exit_code"],
            s["error"].as_str().unwrap_or_default()
        ),
    }
}

pub fn run(args: &IndexCmdArgs) -> anyhow::Result<()> {
    let usage = |e: anyhow::Error| exit(EXIT_BAD_INPUT, &e);
    let mut scenes = args.scenes.clone();
    if let Some(m) = &args.manifest {
        scenes.extend(read_manifest(m).map_err(|e| exit(classify(&e, EXIT_BAD_INPUT), &e))?);
    }
    if scenes.is_empty() {
        return Err(usage(anyhow!(
            "no scene given: list scenes as arguments or in --manifest FILE"
        )));
    }
    if args.out.is_some() && scenes.len() > 1 {
        return Err(usage(anyhow!(
            "--out names one file but {} scenes were given; use --out-dir DIR",
            scenes.len()
        )));
    }
    if args.skip_existing && args.out.is_none() && args.out_dir.is_none() {
        return Err(usage(anyhow!(
            "--skip-existing needs --out or --out-dir (the cache is always reused)"
        )));
    }
    // Before the model loads and every tile is embedded.
    let inputs: Vec<&Path> = scenes.iter().map(PathBuf::as_path).collect();
    check_outputs(args.out.as_deref().map(|o| ("--out", o)), &inputs).map_err(usage)?;
    if let Some(d) = &args.out_dir {
        std::fs::create_dir_all(d)
            .with_context(|| format!("cannot make the --out-dir folder {}", d.display()))
            .map_err(|e| exit(classify(&e, EXIT_BAD_INPUT), &e))?;
        let probe = d.join("probe.parquet");
        check_outputs([("--out-dir", probe.as_path())], &inputs).map_err(usage)?;
    }
    let model = super::model_cmds::load_embedder(&args.index.model)
        .map_err(|e| exit(classify(&e, EXIT_BAD_INPUT), &e))?;
    let opts = args.index.options(&model).map_err(usage)?;
    let target = match (&args.out, &args.out_dir) {
        (Some(f), _) => Target::File(f),
        (None, Some(d)) => Target::Dir(d),
        (None, None) => Target::Cache,
    };
    let run = Run {
        args,
        model: &model,
        opts,
        target,
        progress: StderrProgress::with_mode(args.progress),
        cancel: CancelToken::new(),
    };
    let mut worst: Option<u8> = None;
    let mut failed = Vec::new();
    for path in &scenes {
        let summary = match one_scene(&run, path) {
            Ok(s) => s,
            Err((code, e)) => {
                run.progress.finish();
                let line = crate::report::error_line(e.as_ref());
                eprintln!("kestrel: error: {line}");
                // retry wins: a retry can make progress even if other scenes are bad
                worst = Some(match worst {
                    Some(w) if w == EXIT_RETRY || code == EXIT_RETRY => EXIT_RETRY,
                    Some(w) => w.min(code),
                    None => code,
                });
                failed.push(path.display().to_string());
                json!({
                    "scene": path.display().to_string(),
                    "status": "failed",
                    "exit_code": code,
                    "retry": code == EXIT_RETRY,
                    "error": line,
                })
            }
        };
        print_summary(args.json, &summary);
    }
    match worst {
        None => Ok(()),
        Some(code) if scenes.len() == 1 => Err(Exit {
            code,
            message: String::new(),
        }
        .into()),
        Some(code) => Err(Exit {
            code,
            message: format!(
                "{} of {} scenes failed: {}",
                failed.len(),
                scenes.len(),
                failed.join(", ")
            ),
        }
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_names_are_file_safe() {
        assert_eq!(
            shard_name("T33UUU_20170216_L1C-0123456789abcdef"),
            "T33UUU_20170216_L1C-0123456789abcdef.parquet"
        );
        assert_eq!(shard_name("a/b c:d"), "a_b_c_d.parquet");
        assert_eq!(shard_name("../x"), "_x.parquet");
    }

    #[test]
    fn failures_are_classified() {
        let io = |k| anyhow::Error::new(std::io::Error::from(k));
        assert_eq!(classify(&io(std::io::ErrorKind::TimedOut), 1), EXIT_RETRY);
        assert_eq!(
            classify(&io(std::io::ErrorKind::NotFound), 1),
            EXIT_BAD_INPUT
        );
        let write = anyhow::Error::new(StoreError::Write {
            path: "x".into(),
            source: std::io::Error::from(std::io::ErrorKind::StorageFull),
        })
        .context("cannot write x");
        assert_eq!(classify(&write, 1), EXIT_RETRY);
        let read = anyhow::Error::new(RasterError::Read {
            path: "s.tif".into(),
            band: "B04".into(),
            message: "EIO".into(),
        });
        assert_eq!(classify(&read, 1), EXIT_RETRY);
        let nf = anyhow::Error::new(RasterError::NotFound {
            path: "s.tif".into(),
        });
        assert_eq!(classify(&nf, 1), EXIT_BAD_INPUT);
        assert_eq!(classify(&anyhow!("plain"), EXIT_FAILED), EXIT_FAILED);
    }
}

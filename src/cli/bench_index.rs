//! `kestrel bench-index SCENE`: how indexing a whole scene behaves — tiles/s, how much of
//! the wall time is the model and how much is outside it (reading, resampling,
//! preprocessing, writing that the reader thread did not hide), and the process's peak
//! memory. Without `--model` the network is Llama3-MS-CLIP's full ViT-B/16 shape with
//! seeded random weights: the timing and memory are those of the real model, the
//! embeddings are meaningless (and nothing is cached).
//!
//! `--dtype f32,bf16` (or `auto`) indexes the scene once per precision in the same process,
//! each after its own model load, and prints each mode's figures with its tiles/s relative
//! to the first mode's.
//!
//! `packaging/bench/big_scene_vrt.py` writes a 10980 × 10980 px, 12-band VRT (the five
//! MS-CLIP chips tiled 49 × 49 times, plus the 4 px edge) to try the full-tile case.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use clap::Args;
use serde_json::json;

use super::common::StderrProgress;
use super::{DeviceArg, DtypeArg};
use crate::jobs::CancelToken;
use crate::model::ModelError;
use crate::model::clip::{ClipModel, Kernels, normalized_rows};
use crate::model::device::{check_precision, select_device};
use crate::model::load::config::{ClipConfig, PreprocessConfig};
use crate::model::load::weights::Weights;
use crate::search::index::{IndexOptions, TileEmbedder, build_index};

#[derive(Debug, Args)]
pub struct BenchIndexArgs {
    /// Checkpoint; without it, random weights of the Llama3-MS-CLIP shape.
    #[arg(long)]
    pub model: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    pub device: DeviceArg,
    /// Precisions to measure, each in turn (`f32,bf16`); `auto` is the one the commands'
    /// `--dtype auto` picks here.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [DtypeArg::F32])]
    pub dtype: Vec<DtypeArg>,
    #[arg(long, default_value_t = 8, value_parser = |s: &str| super::count(s, super::MAX_BATCH))]
    pub batch: usize,
    /// Index only the first N tile rows (the full tile is 50 rows).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub rows: Option<u32>,
    /// Reader threads.
    #[arg(long, default_value_t = 1, value_parser = |s: &str| super::count(s, super::MAX_READERS))]
    pub readers: usize,
    #[arg(long)]
    pub json: bool,
    pub scene: PathBuf,
}

/// A model wrapper that counts the time spent in the network.
struct Timed {
    model: ClipModel,
    config: ClipConfig,
    name: String,
    sha: String,
    precision: &'static str,
    model_ns: AtomicU64,
}

impl TileEmbedder for Timed {
    fn preprocess_config(&self) -> Option<&PreprocessConfig> {
        self.config.preprocess.as_ref()
    }
    fn embed_tiles(&self, pixels: &[f32], n: usize) -> Result<Vec<Vec<f32>>, ModelError> {
        let t = Instant::now();
        let out = self
            .model
            .encode_images(pixels, n)
            .and_then(|e| normalized_rows(&e));
        self.model_ns
            .fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
        out
    }
    fn model_name(&self) -> String {
        self.name.clone()
    }
    fn checkpoint_sha256(&self) -> Result<String, ModelError> {
        Ok(self.sha.clone())
    }
    fn embed_dim(&self) -> usize {
        self.config.embed_dim
    }
    fn precision(&self) -> &'static str {
        self.precision
    }
}

/// Peak resident memory of this process (Linux `VmHWM`), in MB.
fn peak_rss_mb() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

pub fn run(args: &BenchIndexArgs) -> anyhow::Result<()> {
    let (device, why) = select_device(super::model_cmds::device_pref(args.device))?;
    let cancel = CancelToken::new();
    let t_open = Instant::now();
    let scene = super::common::open_scene(&args.scene, &cancel, true)?;
    let open_s = t_open.elapsed().as_secs_f64();
    let mut first_rate: Option<f64> = None;
    for &mode in &args.dtype {
        let (precision, auto) = super::model_cmds::precision(mode).resolve(&device);
        let dtype = check_precision(&device, precision)?;
        let timed = load(args, &device, dtype, precision.name())?;
        eprintln!(
            "kestrel: bench-index with {} in {} on {why}",
            timed.name,
            precision.name()
        );
        if let Some(a) = &auto {
            eprintln!("kestrel: {a}");
        }
        let progress = StderrProgress::new();
        let opts = IndexOptions {
            batch_size: args.batch,
            max_rows: args.rows,
            readers: args.readers,
            ..IndexOptions::default()
        };
        let t0 = Instant::now();
        let index = build_index(&scene, &timed, &opts, &progress, &cancel)?;
        progress.finish();
        let wall = t0.elapsed().as_secs_f64();
        let model_s = timed.model_ns.load(Ordering::Relaxed) as f64 * 1e-9;
        let embedded = index.embedded_count();
        let rate = index.tiles.len() as f64 / wall;
        let vs_first = rate / *first_rate.get_or_insert(rate);
        let report = json!({
            "scene": args.scene.display().to_string(),
            "grid": [scene.info().grid.width, scene.info().grid.height],
            "precision": precision.name(),
            "precision_choice": auto,
            "tiles": index.tiles.len(),
            "embedded": embedded,
            "open_s": open_s,
            "wall_s": wall,
            "model_s": model_s,
            "outside_model_s": wall - model_s,
            "outside_model_fraction": (wall - model_s) / wall,
            "tiles_per_s": rate,
            "tiles_per_s_vs_first_mode": vs_first,
            "embedded_per_s": embedded as f64 / wall,
            "peak_rss_mb": peak_rss_mb(),
            "batch": args.batch,
            "device": why,
            "cpu_kernels": crate::model::nn::isa::detected().to_string(),
        });
        if args.json {
            println!("{report}");
        } else if let Some(o) = report.as_object() {
            for (k, v) in o {
                println!("{}\t{k}\t{v}", precision.name());
            }
        }
    }
    Ok(())
}

/// The model of `args` (a checkpoint, or the Llama3-MS-CLIP shape with seeded random
/// weights) in `dtype`, wrapped to time its calls.
fn load(
    args: &BenchIndexArgs,
    device: &crate::model::Device,
    dtype: crate::model::DType,
    precision: &'static str,
) -> anyhow::Result<Timed> {
    let progress = StderrProgress::new();
    let cancel = CancelToken::new();
    let (config, weights, name, sha) = match &args.model {
        Some(p) => {
            let config = crate::model::tasks::embedder::config_for(p, None)?;
            let ck = crate::model::load::checkpoint::Checkpoint::open(p)?;
            let w = ck.load(&config, device, dtype, &progress, &cancel)?;
            let sha = crate::model::load::checkpoint::checkpoint_sha256(p, &progress, &cancel)?;
            (config, w, p.display().to_string(), sha)
        }
        None => {
            let config = ClipConfig::llama3_ms_clip();
            let w = Weights::random(&config, 0, device, dtype)?;
            (
                config,
                w,
                "Llama3-MS-CLIP shape, random weights".to_string(),
                "random".to_string(),
            )
        }
    };
    progress.finish();
    let model = ClipModel::new(&config, &weights, Kernels::Auto)?;
    Ok(Timed {
        model,
        config,
        name,
        sha,
        precision,
        model_ns: AtomicU64::new(0),
    })
}

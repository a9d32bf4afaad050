//! Headless command-line interface. `kestrel [FILE]` opens the viewer; subcommands run
//! without a window and print results on stdout (JSON lines with `--json`), progress and
//! diagnostics on stderr.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

mod bench_index;
mod common;
mod compare_cmd;
mod index_cmd;
pub mod info;
pub mod model_cmds;
mod models_cmd;
mod probe_cmd;
mod render_cmd;
mod search_cmds;
pub mod stac_cmd;
mod tokenize;
pub use common::ProgressMode;
pub use index_cmd::{EXIT_BAD_INPUT, EXIT_FAILED, EXIT_RETRY, Exit};
pub use tokenize::TokenizeArgs;

/// Kestrel: Sentinel-2 viewer with local multispectral CLIP search.
#[derive(Debug, Parser)]
#[command(name = "kestrel", version, about, long_about = None)]
pub struct Cli {
    /// Scene to open in the viewer (GeoTIFF, .SAFE folder, MTD_MSIL2A.xml, a folder of band
    /// files, or a STAC item: its URL or a local item JSON).
    pub files: Vec<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the released models Kestrel knows (ids for `--model-id`) and what is cached.
    Models(ModelsArgs),
    /// Describe a scene: driver, size, CRS, bounds, bands and the radiometric correction Kestrel applies.
    Info(InfoArgs),
    /// Embed images (L2-normalised image embeddings), one output line per image.
    EmbedImages(EmbedImagesArgs),
    /// Embed texts (token ids and L2-normalised text embeddings), one output line per text.
    EmbedText(EmbedTextArgs),
    /// Zero-shot classify images against class names.
    Classify(ClassifyArgs),
    /// Show the token ids open_clip's tokenizer gives texts (`--bench N` times it).
    Tokenize(TokenizeArgs),
    /// Cut scenes into 224 px tiles and embed them (cached; `--out`/`--out-dir` write
    /// GeoParquet shards).
    #[command(after_help = index_cmd::EXIT_CODES_HELP)]
    Index(IndexCmdArgs),
    /// Rank every tile of scenes (or index files) by a text query; export CSV / GeoJSON.
    Search(SearchArgs),
    /// Zero-shot classify every tile of scenes (or index files); export CSV / GeoJSON.
    ClassifyScene(ClassifySceneArgs),
    /// Train a linear probe (logistic regression) on labelled tiles and score every tile.
    Probe(probe_cmd::ProbeArgs),
    /// How two rankings of a scene agree (e.g. two models, one query): shared top-N tiles,
    /// Jaccard, Spearman.
    Compare(compare_cmd::CompareArgs),
    /// Search a STAC API for Sentinel-2 items (`kestrel stac search --api URL --bbox ...`).
    Stac(stac_cmd::StacArgs),
    /// Draw a scene as the viewer does (band combination, stretch) into a georeferenced
    /// GeoTIFF or PNG (Web Mercator).
    Render(render_cmd::RenderArgs),
    /// Time the model towers with random weights (image throughput, text latency).
    BenchModel(model_cmds::BenchModelArgs),
    /// Time indexing a scene: tiles/s, model vs outside-the-model time, peak memory.
    BenchIndex(bench_index::BenchIndexArgs),
}

/// Most tiles per model call (`--batch`): more only holds more tiles in memory.
pub const MAX_BATCH: usize = 4096;
/// Most reader threads (`--readers`).
pub const MAX_READERS: usize = 256;

/// A fraction from 0 to 1 (`--max-cloud`, `--max-nodata`).
fn fraction(s: &str) -> Result<f32, String> {
    let v: f32 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("must be a fraction from 0 to 1, got {s}"))
    }
}

/// A count from 1 to `max` (`--top`, `--batch`, `--readers`, `--iters`).
pub(crate) fn count(s: &str, max: usize) -> Result<usize, String> {
    let v: usize = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a whole number"))?;
    if v == 0 {
        Err("must be at least 1".into())
    } else if v > max {
        Err(format!("must be at most {max}, got {v}"))
    } else {
        Ok(v)
    }
}

/// Model and tiling options shared by the scene commands.
#[derive(Debug, Args)]
pub struct IndexArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Tile stride in pixels (default: the tile size, 224; 112 = 50 % overlap).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub stride: Option<u32>,
    /// Skip tiles with more cloud than this fraction (where SCL or cloud probability exists).
    #[arg(long, default_value_t = 0.5, value_parser = fraction)]
    pub max_cloud: f32,
    /// Skip tiles with more nodata than this fraction.
    #[arg(long, default_value_t = 0.5, value_parser = fraction)]
    pub max_nodata: f32,
    /// Tiles per model call.
    #[arg(long, default_value_t = 8, value_parser = |s: &str| count(s, MAX_BATCH))]
    pub batch: usize,
    /// Reader threads (default: 1 when the model runs on the CPU, 2 on a GPU).
    #[arg(long, value_parser = |s: &str| count(s, MAX_READERS))]
    pub readers: Option<usize>,
}

#[derive(Debug, Args)]
pub struct IndexCmdArgs {
    #[command(flatten)]
    pub index: IndexArgs,
    /// Write the index of the (one) scene to this GeoParquet file.
    #[arg(long, conflicts_with = "out_dir")]
    pub out: Option<PathBuf>,
    /// Write one shard per scene into this folder (made if missing), named by the scene id:
    /// `<scene_id>.parquet`. The model loads once for all scenes.
    #[arg(long)]
    pub out_dir: Option<PathBuf>,
    /// Read scene paths from this file, one a line (blank lines and `#` comments skipped;
    /// relative paths are relative to the file's folder), after those given as arguments.
    #[arg(long)]
    pub manifest: Option<PathBuf>,
    /// With --out or --out-dir: leave a shard that exists and was made with the same
    /// checkpoint (sha256), preprocessing, tiling, skip thresholds and precision (its scene
    /// is "skipped"; a retry of a finished job does nothing).
    #[arg(long)]
    pub skip_existing: bool,
    /// With --out or --out-dir, also keep the indexes in the cache.
    #[arg(long)]
    pub cache: bool,
    /// Print one JSON summary line per scene on stdout.
    #[arg(long)]
    pub json: bool,
    /// Progress on stderr: `auto` = a `\r` line on a terminal, else a plain line every few
    /// seconds; `json` = a JSON line every few seconds.
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,
    /// Scenes (GeoTIFF, .SAFE folder, MTD_MSIL2A.xml, or a folder of band files).
    pub scenes: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    #[command(flatten)]
    pub index: IndexArgs,
    /// What to look for, e.g. "flooded fields".
    #[arg(long)]
    pub query: String,
    /// How many tiles to list and export.
    #[arg(long, default_value_t = 20, value_parser = |s: &str| count(s, usize::MAX))]
    pub top: usize,
    /// Write the results as CSV (with a WKT polygon column in EPSG:4326).
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Write the results as a GeoJSON FeatureCollection.
    #[arg(long)]
    pub geojson: Option<PathBuf>,
    /// Write the results as a GeoPackage (layer `results`, EPSG:4326 tile polygons).
    #[arg(long)]
    pub gpkg: Option<PathBuf>,
    /// Print JSON lines on stdout.
    #[arg(long)]
    pub json: bool,
    /// Scenes, or tile index files (.parquet) from `kestrel index --out`.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ClassifySceneArgs {
    #[command(flatten)]
    pub index: IndexArgs,
    #[arg(long, required = true, num_args = 1..)]
    pub classes: Vec<String>,
    #[arg(long, value_enum, default_value_t = TemplatesArg::Msclip)]
    pub templates: TemplatesArg,
    /// Write the results as CSV (with a WKT polygon column in EPSG:4326).
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Write the results as a GeoJSON FeatureCollection.
    #[arg(long)]
    pub geojson: Option<PathBuf>,
    /// Write the results as a GeoPackage (layer `results`, EPSG:4326 tile polygons).
    #[arg(long)]
    pub gpkg: Option<PathBuf>,
    /// Print JSON lines on stdout.
    #[arg(long)]
    pub json: bool,
    /// Scenes, or tile index files (.parquet). May also follow the class names:
    /// trailing values that are existing files or folders are taken as inputs.
    pub inputs: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    pub file: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Also time opening, a whole-scene 1024 px Web Mercator preview, a histogram sample
    /// and a 224 px model tile (printed on stderr).
    #[arg(long)]
    pub bench: bool,
}

#[derive(Debug, Args)]
pub struct ModelsArgs {
    /// One JSON object per model.
    #[arg(long)]
    pub json: bool,
}

/// Where the model comes from and where it runs.
#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// Checkpoint (.pt as released, or open_clip .safetensors). Without it (and without
    /// `--model-id`), the Llama3-MS-CLIP weights are taken from (or downloaded into) the
    /// Hugging Face cache.
    #[arg(long, conflicts_with = "model_id")]
    pub model: Option<PathBuf>,
    /// A released model by name (`kestrel models` lists them): its files come from the
    /// Hugging Face cache, downloaded with progress when missing.
    #[arg(long)]
    pub model_id: Option<String>,
    /// open_clip model config JSON. Default: `open_clip_config.json` next to the
    /// checkpoint, else the Llama3-MS-CLIP (ViT-B/16, 10 bands) config.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Compute device.
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    pub device: DeviceArg,
    /// Compute precision (f16 only on GPUs; bf16 on GPUs and CPUs with AMX-BF16 or
    /// AVX512-BF16; auto: the fastest exact-enough one here).
    #[arg(long, value_enum, default_value_t = DtypeArg::F32)]
    pub dtype: DtypeArg,
    /// BPE vocabulary (open_clip's `bpe_simple_vocab_16e6.txt.gz`). Default: the built-in copy.
    #[arg(long)]
    pub vocab: Option<PathBuf>,
    /// Hugging Face `tokenizer.json` for a model with a Hugging Face text tower (RS-M-CLIP:
    /// `xlm-roberta-base`'s). Default: `tokenizer.json` next to the checkpoint.
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeviceArg {
    Auto,
    Cpu,
    Cuda,
    Metal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DtypeArg {
    F32,
    F16,
    Bf16,
    /// The fastest precision measured exact enough on this device (bf16 on CPUs with
    /// AMX-BF16 or AVX512-BF16 and on CUDA, else f32); the choice is printed and recorded as
    /// what it resolved to.
    Auto,
}

#[derive(Debug, Args)]
pub struct EmbedImagesArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Print JSON lines.
    #[arg(long)]
    pub json: bool,
    /// `auto`: harmonise as the viewer decides (BOA offset removed, ×1000 data scaled,
    /// nodata filled); `raw`: feed the stored DN as upstream MS-CLIP inference does.
    #[arg(long, value_enum, default_value_t = RadiometryArg::Auto)]
    pub radiometry: RadiometryArg,
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct EmbedTextArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[arg(long)]
    pub json: bool,
    #[arg(required = true)]
    pub texts: Vec<String>,
}

/// How image values are brought to the model's input scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RadiometryArg {
    /// Kestrel's per-scene decision (see `kestrel info`).
    Auto,
    /// The values stored in the file.
    Raw,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TemplatesArg {
    /// The 50 MS-CLIP templates.
    Msclip,
    /// The 3 "a centered satellite photo of ..." templates.
    Clip,
    /// Bare class names.
    None,
}

impl From<TemplatesArg> for crate::model::tasks::zeroshot::TemplateSet {
    fn from(t: TemplatesArg) -> Self {
        match t {
            TemplatesArg::Msclip => Self::Msclip,
            TemplatesArg::Clip => Self::Clip,
            TemplatesArg::None => Self::None,
        }
    }
}

#[derive(Debug, Args)]
pub struct ClassifyArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[arg(long)]
    pub json: bool,
    /// See `embed-images --radiometry`.
    #[arg(long, value_enum, default_value_t = RadiometryArg::Auto)]
    pub radiometry: RadiometryArg,
    /// Class names.
    #[arg(long, required = true, num_args = 1..)]
    pub classes: Vec<String>,
    #[arg(long, value_enum, default_value_t = TemplatesArg::Msclip)]
    pub templates: TemplatesArg,
    /// Images. After `--classes C1 C2 …`, trailing values that are existing files are taken
    /// as images (or separate them with `--`).
    pub images: Vec<PathBuf>,
}

/// Run a headless command.
pub fn run(cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::Info(args) => info::run(&args),
        Command::Models(args) => models_cmd::run(&args),
        Command::Tokenize(args) => tokenize::run(&args),
        Command::Index(args) => index_cmd::run(&args),
        Command::Search(args) => search_cmds::run_search(&args),
        Command::ClassifyScene(args) => search_cmds::run_classify_scene(&args),
        Command::Probe(args) => probe_cmd::run(&args),
        Command::Compare(args) => compare_cmd::run(&args),
        Command::EmbedImages(a) => model_cmds::embed_images(a),
        Command::EmbedText(a) => model_cmds::embed_text(a),
        Command::Classify(a) => model_cmds::classify(a),
        Command::BenchModel(a) => model_cmds::bench_model(a),
        Command::BenchIndex(a) => bench_index::run(&a),
        Command::Stac(a) => stac_cmd::run(&a),
        Command::Render(a) => render_cmd::run(&a),
    }
}

//! Headless command-line interface. `kestrel [FILE]` opens the viewer; subcommands run
//! without a window and print results on stdout (JSON lines with `--json`), progress and
//! diagnostics on stderr.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub mod info;

/// Kestrel: Sentinel-2 viewer with local multispectral CLIP search.
#[derive(Debug, Parser)]
#[command(name = "kestrel", version, about, long_about = None)]
pub struct Cli {
    /// Scene to open in the viewer (GeoTIFF, .SAFE folder, MTD_MSIL2A.xml, or a folder of band files).
    pub files: Vec<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Describe a scene: driver, size, CRS, bounds, bands and the radiometric correction Kestrel applies.
    Info(InfoArgs),
    /// Embed images (L2-normalised image embeddings), one output line per image.
    EmbedImages(EmbedImagesArgs),
    /// Embed texts (token ids and L2-normalised text embeddings), one output line per text.
    EmbedText(EmbedTextArgs),
    /// Zero-shot classify images against class names.
    Classify(ClassifyArgs),
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

/// Where the model comes from and where it runs.
#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// Checkpoint (.pt as released, or open_clip .safetensors). Without it, the
    /// Llama3-MS-CLIP weights are taken from (or downloaded into) the Hugging Face cache.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// open_clip model config JSON. Default: `open_clip_config.json` next to the
    /// checkpoint, else the Llama3-MS-CLIP (ViT-B/16, 10 bands) config.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Compute device.
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    pub device: DeviceArg,
    /// Compute precision (f16/bf16 only on GPUs).
    #[arg(long, value_enum, default_value_t = DtypeArg::F32)]
    pub dtype: DtypeArg,
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
}

#[derive(Debug, Args)]
pub struct EmbedImagesArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Print JSON lines.
    #[arg(long)]
    pub json: bool,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TemplatesArg {
    /// The 50 MS-CLIP templates.
    Msclip,
    /// The 3 "a centered satellite photo of ..." templates.
    Clip,
    /// Bare class names.
    None,
}

#[derive(Debug, Args)]
pub struct ClassifyArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[arg(long)]
    pub json: bool,
    /// Class names.
    #[arg(long, required = true, num_args = 1..)]
    pub classes: Vec<String>,
    #[arg(long, value_enum, default_value_t = TemplatesArg::Msclip)]
    pub templates: TemplatesArg,
    #[arg(required = true, last = false)]
    pub images: Vec<PathBuf>,
}

/// Run a headless command.
pub fn run(cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::Info(args) => info::run(&args),
        Command::EmbedImages(_) | Command::EmbedText(_) | Command::Classify(_) => {
            anyhow::bail!("this command is not built yet")
        }
    }
}

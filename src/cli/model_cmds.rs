//! Headless model commands: `embed-images`, `embed-text`, `classify` (JSON lines on stdout
//! with `--json`, a readable table without) and `bench-model` (image-tower throughput and
//! text-tower latency with random weights). Progress, the chosen device and the licence
//! notice go to stderr.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;

use super::common::StderrProgress;
use super::{
    ClassifyArgs, DeviceArg, DtypeArg, EmbedImagesArgs, EmbedTextArgs, ModelArgs, RadiometryArg,
};
use crate::jobs::CancelToken;
use crate::model::clip::Kernels;
use crate::model::device::{
    DevicePreference, Precision, check_precision, device_name, select_device,
};
use crate::model::load::config::{ClipConfig, PixelScale};
use crate::model::load::hub::{LICENSE_NOTICE, LICENSE_SUMMARY};
use crate::model::tasks::bench::{self, BenchOptions};
use crate::model::tasks::embedder::{Embedder, ModelSpec};
use crate::model::tasks::preprocess::RawImage;
use crate::model::tasks::zeroshot::TemplateSet;
use crate::search::images::{self, Harmonised, read_image};

/// Images embedded per forward pass by the CLI.
const CLI_IMAGE_BATCH: usize = 8;

#[derive(Debug, Args)]
pub struct BenchModelArgs {
    /// Images per batch for the image tower.
    #[arg(long, default_value_t = 8, value_parser = |s: &str| super::count(s, super::MAX_BATCH))]
    pub batch: usize,
    /// Timed iterations (after one warm-up); the median is reported.
    #[arg(long, default_value_t = 3, value_parser = |s: &str| super::count(s, 10_000))]
    pub iters: usize,
    /// Also time the text tower over the whole 77-token context (no end-of-text
    /// truncation), which is what PyTorch/open_clip computes.
    #[arg(long)]
    pub full_shape: bool,
    /// open_clip config to benchmark (default: Llama3-MS-CLIP, ViT-B/16 with 10 bands).
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    pub device: DeviceArg,
    #[arg(long, value_enum, default_value_t = DtypeArg::F32)]
    pub dtype: DtypeArg,
    /// Use plain candle ops instead of the fused CPU kernels.
    #[arg(long)]
    pub generic: bool,
    /// Skip the image tower (text latency only).
    #[arg(long)]
    pub text_only: bool,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

pub(super) fn device_pref(d: DeviceArg) -> DevicePreference {
    match d {
        DeviceArg::Auto => DevicePreference::Auto,
        DeviceArg::Cpu => DevicePreference::Cpu,
        DeviceArg::Cuda => DevicePreference::Cuda,
        DeviceArg::Metal => DevicePreference::Metal,
    }
}

pub(super) fn precision(d: DtypeArg) -> Precision {
    match d {
        DtypeArg::F32 => Precision::F32,
        DtypeArg::F16 => Precision::F16,
        DtypeArg::Bf16 => Precision::Bf16,
        DtypeArg::Auto => Precision::Auto,
    }
}

/// The checkpoint, config and tokenizer of `--model-id NAME`: the registry entry's files from the hub
/// cache (downloaded when missing), its built-in config written once under Kestrel's cache.
fn registry_files(
    id: &str,
    explicit_config: Option<&std::path::Path>,
) -> anyhow::Result<(PathBuf, Option<PathBuf>, Option<PathBuf>)> {
    use crate::model::load::hub::HubOptions;
    use crate::model::load::registry;
    let entry = registry::find(id)?;
    eprintln!(
        "kestrel: model {} ({}): {}",
        entry.id, entry.repo, entry.licence
    );
    let base = HubOptions::llama3_ms_clip()?;
    let progress = StderrProgress::new();
    let files = entry
        .files(
            None,
            &base,
            &registry::config_dir(&crate::paths::cache_root()),
            &progress,
            &CancelToken::new(),
        )
        .with_context(|| format!("cannot get the files of model {}", entry.id))?;
    progress.finish();
    let config = explicit_config
        .map(std::path::Path::to_path_buf)
        .or(files.config);
    Ok((files.checkpoint, config, files.tokenizer))
}

pub(super) fn load_embedder(args: &ModelArgs) -> anyhow::Result<Embedder> {
    let (checkpoint, config, tokenizer) = match &args.model_id {
        Some(id) => {
            let (c, cfg, tok) = registry_files(id, args.config.as_deref())?;
            (Some(c), cfg, args.tokenizer.clone().or(tok))
        }
        None => (
            args.model.clone(),
            args.config.clone(),
            args.tokenizer.clone(),
        ),
    };
    let spec = ModelSpec {
        checkpoint,
        config,
        device: device_pref(args.device),
        precision: precision(args.dtype),
        hub: None,
        kernels: Kernels::Auto,
        vocab: args.vocab.clone(),
        tokenizer,
        cache_root: None,
    };
    if spec.checkpoint.is_none() && args.model_id.is_none() {
        eprintln!("kestrel: model: Llama3-MS-CLIP from the Hugging Face cache. {LICENSE_NOTICE}.");
        eprintln!("kestrel: {LICENSE_SUMMARY}");
    }
    let progress = StderrProgress::new();
    let e =
        Embedder::load(&spec, &progress, &CancelToken::new()).context("cannot load the model")?;
    progress.finish();
    eprintln!(
        "kestrel: {} ({}) on {}",
        e.model_name(),
        e.checkpoint_path().display(),
        e.device_description()
    );
    Ok(e)
}

/// At most 60 characters of `s`, for error messages.
fn truncate_for_message(s: &str) -> String {
    match s.char_indices().nth(60) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

fn json_str(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

fn json_floats(v: &[f32]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

fn preview(v: &[f32]) -> String {
    let head: Vec<String> = v.iter().take(4).map(|x| format!("{x:+.4}")).collect();
    format!("[{}, …]", head.join(", "))
}

/// Preprocess and embed images in batches, calling `emit` with each image's embedding in order.
fn embed_image_files(
    e: &Embedder,
    paths: &[PathBuf],
    radiometry: RadiometryArg,
    mut emit: impl FnMut(&PathBuf, &[f32]) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let rgb_model = e
        .config()
        .preprocess
        .as_ref()
        .is_some_and(|p| p.pixels == PixelScale::Rgb8);
    for chunk in paths.chunks(CLI_IMAGE_BATCH) {
        let mut batch = Vec::with_capacity(chunk.len() * e.image_len());
        for p in chunk {
            let img = match radiometry {
                RadiometryArg::Raw => read_image(p)?,
                RadiometryArg::Auto if rgb_model => read_rgb_picture(p)?,
                RadiometryArg::Auto => read_harmonised(p)?,
            };
            batch.extend(e.preprocess(&img)?);
        }
        let emb = e.embed_images(&batch, chunk.len())?;
        for (p, v) in chunk.iter().zip(&emb) {
            emit(p, v)?;
        }
    }
    Ok(())
}

/// An 8-bit RGB picture (GeoTIFF, PNG, JPEG) for an RGB model, as it is stored: three bands of
/// whole values in 0..=255. Anything else is refused with what to do instead (a Sentinel-2
/// scene goes through `index`/`search`, which apply the fixed true-colour mapping).
fn read_rgb_picture(path: &std::path::Path) -> anyhow::Result<RawImage> {
    let img = read_image(path)?;
    let eight_bit = img
        .data
        .iter()
        .all(|v| (0.0..=255.0).contains(v) && v.fract() == 0.0);
    if img.band_count() != 3 || !eight_bit {
        anyhow::bail!(
            "{}: this model takes 8-bit RGB pictures, and the file has {} band(s){}; \
             for a Sentinel-2 scene use `kestrel index`/`search`, which map its B04/B03/B02 \
             reflectance to true colour, or pass --radiometry raw to feed the stored values",
            path.display(),
            img.band_count(),
            if eight_bit {
                ""
            } else {
                " with values outside whole 0..255"
            }
        );
    }
    Ok(img)
}

/// Read an image the way the viewer does, saying on stderr what was applied.
fn read_harmonised(path: &std::path::Path) -> anyhow::Result<RawImage> {
    let (image, how) = images::read_harmonised(path)?;
    match how {
        Harmonised::Applied { reason } => eprintln!("kestrel: {}: {reason}", path.display()),
        Harmonised::StoredValues => eprintln!(
            "kestrel: {}: no CRS, so no scene metadata to harmonise with; using the stored values",
            path.display()
        ),
    }
    Ok(image)
}

pub fn embed_images(args: EmbedImagesArgs) -> anyhow::Result<()> {
    let e = load_embedder(&args.model)?;
    embed_image_files(&e, &args.images, args.radiometry, |p, v| {
        if args.json {
            println!(
                "{{\"path\":{},\"embedding\":{}}}",
                json_str(&p.display().to_string()),
                json_floats(v)
            );
        } else {
            println!("{}\t{} dims\t{}", p.display(), v.len(), preview(v));
        }
        Ok(())
    })
}

pub fn embed_text(args: EmbedTextArgs) -> anyhow::Result<()> {
    let e = load_embedder(&args.model)?;
    let texts: Vec<&str> = args.texts.iter().map(String::as_str).collect();
    for t in e.embed_texts(&texts)? {
        // Empty and over-long texts embed as open_clip embeds them; say so.
        if let Some(w) = &t.warning {
            eprintln!(
                "kestrel: warning: text {:?}: {w}",
                truncate_for_message(&t.text)
            );
        }
        if args.json {
            println!(
                "{{\"text\":{},\"ids\":{},\"embedding\":{}}}",
                json_str(&t.text),
                serde_json::to_string(&t.ids)?,
                json_floats(&t.embedding)
            );
        } else {
            let n = e.tokenizer().framed_len(&t.ids);
            println!("{:?}\t{n} tokens\t{}", t.text, preview(&t.embedding));
        }
    }
    Ok(())
}

/// `--classes C1 C2 IMG…` parses the images as classes: move the trailing values that are
/// existing files to the images (a class name is not a file next to you).
pub(super) fn split_classes_and_images(
    mut classes: Vec<String>,
    mut images: Vec<PathBuf>,
) -> (Vec<String>, Vec<PathBuf>) {
    if images.is_empty() {
        let first_file = classes
            .iter()
            .rposition(|c| !std::path::Path::new(c).exists())
            .map_or(0, |i| i + 1);
        images = classes
            .split_off(first_file)
            .into_iter()
            .map(PathBuf::from)
            .collect();
    }
    (classes, images)
}

pub fn classify(args: ClassifyArgs) -> anyhow::Result<()> {
    let (classes, images) = split_classes_and_images(args.classes, args.images);
    if classes.is_empty() {
        anyhow::bail!("no class names given (--classes C1 C2 …)");
    }
    if images.is_empty() {
        anyhow::bail!("no images given: list image files after the class names (or after --)");
    }
    let templates: TemplateSet = args.templates.into();
    let e = load_embedder(&args.model)?;
    let clf = e.classifier(&classes, templates)?;
    if !args.json {
        let mut header = vec!["image".to_owned()];
        header.extend(clf.classes.iter().cloned());
        header.push("top".into());
        println!("{}", header.join("\t"));
    }
    embed_image_files(&e, &images, args.radiometry, |p, v| {
        let probs = clf.probs(v);
        let top = clf.top(v).map(|(_, c)| c.to_owned()).unwrap_or_default();
        if args.json {
            let pairs: Vec<String> = clf
                .classes
                .iter()
                .zip(&probs)
                .map(|(c, p)| {
                    format!(
                        "{}:{}",
                        json_str(c),
                        serde_json::to_string(p).unwrap_or_default()
                    )
                })
                .collect();
            println!(
                "{{\"path\":{},\"probs\":{{{}}},\"top\":{}}}",
                json_str(&p.display().to_string()),
                pairs.join(","),
                json_str(&top)
            );
        } else {
            let cells: Vec<String> = probs.iter().map(|p| format!("{p:.3}")).collect();
            println!("{}\t{}\t{top}", p.display(), cells.join("\t"));
        }
        Ok(())
    })
}

pub fn bench_model(args: BenchModelArgs) -> anyhow::Result<()> {
    let cfg = match &args.config {
        Some(p) => ClipConfig::from_file(p)?,
        None => ClipConfig::llama3_ms_clip(),
    };
    let (device, why) = select_device(device_pref(args.device))?;
    let (resolved, auto) = precision(args.dtype).resolve(&device);
    let dtype = check_precision(&device, resolved)?;
    eprintln!("kestrel: bench {} on {why}", cfg.name);
    if let Some(a) = &auto {
        eprintln!("kestrel: {a}");
    }
    let opts = BenchOptions {
        batch: args.batch.max(1),
        iters: args.iters.max(1),
        images: !args.text_only,
        full_context: args.full_shape,
        kernels: if args.generic {
            Kernels::Generic
        } else {
            Kernels::Auto
        },
    };
    let report = bench::run(&cfg, &device, dtype, &opts)?;
    let mut v = serde_json::to_value(&report)?;
    if let Some(obj) = v.as_object_mut() {
        obj.insert("device".into(), device_name(&device).into());
        obj.insert("dtype".into(), format!("{dtype:?}").to_lowercase().into());
        if let Some(a) = auto {
            obj.insert("precision_choice".into(), a.into());
        }
    }
    if args.json {
        println!("{v}");
    } else if let Some(obj) = v.as_object() {
        for (k, v) in obj {
            println!("{k}\t{v}");
        }
    }
    Ok(())
}

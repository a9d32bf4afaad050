//! `kestrel bench-model` without the GUI binary (no GDAL, no egui): random full-size
//! weights (Llama3-MS-CLIP by default), image throughput and text latency, one JSON object
//! on stdout (the same fields as `kestrel bench-model --json`, so
//! `packaging/bench/torch_msclip.py --kestrel-example` can run it).
//!
//! `cargo run --release -p kestrel-model --example bench -- [--batch 8] [--iters 3]
//!  [--dtype f32|bf16] [--full-shape] [--generic] [--text-only]
//!  [--arch RN50|ViT-B-32|ViT-L-14 | --config open_clip_config.json|reference.json]`
//!
//! `--arch` takes open_clip's own RN50 / ViT-B-32 / ViT-L-14 configs (RemoteCLIP's architectures);
//! `--config` any open_clip config, or an oracle `reference.json` (its `arch_config`).

use kestrel_model::clip::Kernels;
use kestrel_model::device::{DevicePreference, Precision, check_precision, select_device};
use std::path::Path;

use kestrel_model::load::config::ClipConfig;
use kestrel_model::tasks::bench::{self, BenchOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let flag = |name: &str| args.iter().any(|a| a == name);
    let precision = match value("--dtype").as_deref() {
        None | Some("f32") => Precision::F32,
        Some("bf16") => Precision::Bf16,
        Some("f16") => Precision::F16,
        Some(other) => return Err(format!("--dtype {other}: expected f32, bf16 or f16").into()),
    };
    let cfg = match (value("--arch").as_deref(), value("--config")) {
        (Some("RN50"), _) => ClipConfig::from_json_str(RN50, Path::new("RN50.json"))?,
        (Some("ViT-B-32"), _) => ClipConfig::from_json_str(VIT_B_32, Path::new("ViT-B-32.json"))?,
        (Some("ViT-L-14"), _) => ClipConfig::from_json_str(VIT_L_14, Path::new("ViT-L-14.json"))?,
        (Some(other), _) => {
            return Err(format!("--arch {other}: expected RN50, ViT-B-32 or ViT-L-14").into());
        }
        (None, Some(path)) => config_file(Path::new(&path))?,
        (None, None) => ClipConfig::llama3_ms_clip(),
    };
    let (device, why) = select_device(DevicePreference::Cpu)?;
    let dtype = check_precision(&device, precision)?;
    eprintln!(
        "bench {} on {why}; CPU kernels: {}",
        cfg.name,
        kestrel_model::nn::isa::detected()
    );
    let opts = BenchOptions {
        batch: value("--batch").map_or(Ok(8), |v| v.parse())?,
        iters: value("--iters").map_or(Ok(3), |v| v.parse())?,
        images: !flag("--text-only"),
        full_context: flag("--full-shape"),
        kernels: if flag("--generic") {
            Kernels::Generic
        } else {
            Kernels::Auto
        },
    };
    let report = bench::run(&cfg, &device, dtype, &opts)?;
    let mut v = serde_json::to_value(&report)?;
    if let Some(obj) = v.as_object_mut() {
        obj.insert("device".into(), "cpu".into());
        obj.insert("dtype".into(), format!("{dtype:?}").to_lowercase().into());
    }
    println!("{v}");
    Ok(())
}

/// open_clip 3.3.0 `model_configs/RN50.json`.
const RN50: &str = r#"{"embed_dim": 1024,
  "vision_cfg": {"image_size": 224, "layers": [3, 4, 6, 3], "width": 64, "patch_size": null},
  "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 512, "heads": 8, "layers": 12}}"#;

/// open_clip 3.3.0 `model_configs/ViT-B-32.json`.
const VIT_B_32: &str = r#"{"embed_dim": 512,
  "vision_cfg": {"image_size": 224, "layers": 12, "width": 768, "patch_size": 32},
  "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 512, "heads": 8, "layers": 12}}"#;

/// open_clip 3.3.0 `model_configs/ViT-L-14.json`.
const VIT_L_14: &str = r#"{"embed_dim": 768,
  "vision_cfg": {"image_size": 224, "layers": 24, "width": 1024, "patch_size": 14},
  "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 768, "heads": 12, "layers": 12}}"#;

/// A config file, or an oracle reference whose `arch_config` is the config.
fn config_file(path: &Path) -> Result<ClipConfig, Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text)?;
    let mut cfg = match v.get("arch_config") {
        Some(a) => ClipConfig::from_json_str(&a.to_string(), path)?,
        None => ClipConfig::from_json_str(&text, path)?,
    };
    if let Some(name) = v.get("name").and_then(|n| n.as_str()) {
        cfg.name = name.to_owned();
    }
    Ok(cfg)
}

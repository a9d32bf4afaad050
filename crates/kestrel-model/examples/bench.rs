//! `kestrel bench-model` without the GUI binary (no GDAL, no egui): random full-size
//! Llama3-MS-CLIP weights, image throughput and text latency, one JSON object on stdout
//! (the same fields as `kestrel bench-model --json`, so `packaging/bench/torch_msclip.py
//! --kestrel-example` can run it).
//!
//! `cargo run --release -p kestrel-model --example bench -- [--batch 8] [--iters 3]
//!  [--dtype f32|bf16] [--full-shape] [--generic] [--text-only]`

use kestrel_model::clip::Kernels;
use kestrel_model::device::{DevicePreference, Precision, check_precision, select_device};
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
    let cfg = ClipConfig::llama3_ms_clip();
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

//! GPU check for Kestrel's candle port of Llama3-MS-CLIP: parity with the tiny oracle on
//! CUDA in f32/bf16/f16 (inputs: `inputs.safetensors` from `../shared/oracle/tiny/`, passed as
//! the first argument; fixtures read from `tests/fixtures/msclip_tiny/` under the current
//! directory), then `kestrel_model::tasks::bench` for the full ViT-B/16 shape. Prints JSON lines.

use std::path::Path;

use candle_core::{DType, Device};
use kestrel_base::jobs::{CancelToken, NoProgress};
use kestrel_model::tasks::bench::{self, BenchOptions};
use kestrel_model::load::checkpoint::Checkpoint;
use kestrel_model::clip::{ClipModel, Kernels, normalized_rows};
use kestrel_model::load::config::ClipConfig;

fn floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array().map_or_else(Vec::new, |a| {
        a.iter()
            .filter_map(|x| x.as_f64())
            .map(|x| x as f32)
            .collect()
    })
}

fn max_abs(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let inputs = std::env::args()
        .nth(1)
        .ok_or("usage: kestrel-gpu-check INPUTS.safetensors")?;
    let dev = Device::new_cuda(0)?;
    let fx = Path::new("tests/fixtures/msclip_tiny");
    let cfg = ClipConfig::from_file(&fx.join("open_clip_config.json"))?;
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fx.join("reference.json"))?)?;
    let images = &candle_core::safetensors::load(&inputs, &Device::Cpu)?["images"];
    let px = images.flatten_all()?.to_vec1::<f32>()?;
    let names: Vec<String> = r["images"]
        .as_object()
        .ok_or("reference.json: no images")?
        .keys()
        .cloned()
        .collect();
    for dtype in [DType::F32, DType::BF16, DType::F16] {
        let w = Checkpoint::open(&fx.join("msclip_random.safetensors"))?.load(
            &cfg,
            &dev,
            dtype,
            &NoProgress,
            &CancelToken::new(),
        )?;
        let m = ClipModel::new(&cfg, &w, Kernels::Auto)?;
        let emb = normalized_rows(&m.encode_images(&px, names.len())?)?;
        let image = names
            .iter()
            .zip(&emb)
            .map(|(n, e)| max_abs(e, &floats(&r["image_embeddings"][n])))
            .fold(0.0, f32::max);
        let mut text = 0f32;
        for q in r["queries"]
            .as_array()
            .ok_or("reference.json: no queries")?
        {
            let ids: Vec<u32> = q["ids"]
                .as_array()
                .ok_or("no ids")?
                .iter()
                .filter_map(|x| x.as_u64())
                .map(|x| x as u32)
                .collect();
            let e = &normalized_rows(&m.encode_token_ids(&[&ids])?)?[0];
            text = text.max(max_abs(e, &floats(&q["embedding"])));
        }
        println!(
            "{{\"parity\":\"tiny\",\"dtype\":\"{dtype:?}\",\"image_max_abs\":{image},\"text_max_abs\":{text}}}"
        );
    }
    let full = ClipConfig::llama3_ms_clip();
    for (dtype, batch) in [
        (DType::F32, 64),
        (DType::BF16, 64),
        (DType::F16, 64),
        (DType::BF16, 256),
    ] {
        let opts = BenchOptions {
            batch,
            iters: 10,
            images: true,
            full_context: true,
            kernels: Kernels::Auto,
        };
        let mut v = serde_json::to_value(bench::run(&full, &dev, dtype, &opts)?)?;
        v["dtype"] = format!("{dtype:?}").into();
        println!("{v}");
    }
    Ok(())
}

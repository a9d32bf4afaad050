//! bf16 on the CPU, per residual block (the random-weight models are chaotic under bf16, so
//! whole-model outputs say nothing): each block of the tiny MS-CLIP gets the f32 model's own
//! input activation, and its bf16 output's relative L2 error against the f32 output must be at
//! most 1.5× PyTorch bf16's error on the same block (`tests/fixtures/bf16_blocks/`, made by
//! `packaging/bench/bf16_blocks.py`). The f32 fused blocks must match the f32 outputs.

use crate::common::*;

use candle_core::{DType, Device, Tensor};
use kestrel_model::clip::{ClipModel, Kernels};
use kestrel_model::load::config::ClipConfig;
use kestrel_model::nn::layers::Exec;
use serde_json::Value;

fn crate_fixture(name: &str) -> std::path::PathBuf {
    crate::common::fixture("bf16_blocks").join(name)
}

fn load(dtype: DType) -> ClipModel {
    let cfg = ClipConfig::from_file(&fixture("msclip_tiny/open_clip_config.json")).unwrap();
    let w = weights(
        &cfg,
        &fixture("msclip_tiny/msclip_random.safetensors"),
        dtype,
    );
    ClipModel::new(&cfg, &w, Kernels::Auto).unwrap()
}

fn rel_l2(got: &Tensor, want: &Tensor) -> f64 {
    let g = got.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let w = want.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(g.len(), w.len());
    let num: f64 = g
        .iter()
        .zip(&w)
        .map(|(a, b)| ((a - b) as f64).powi(2))
        .sum();
    let den: f64 = w.iter().map(|b| (*b as f64).powi(2)).sum();
    (num / den).sqrt()
}

#[test]
fn bf16_blocks_within_1_5x_of_pytorch_bf16() {
    if !kestrel_model::nn::matmul_bf16::available() {
        eprintln!(
            "skip: no bf16 kernel on this CPU ({})",
            kestrel_model::nn::isa::detected()
        );
        return;
    }
    let tensors =
        candle_core::safetensors::load(crate_fixture("bf16_blocks.safetensors"), &Device::Cpu)
            .unwrap();
    let reference: Value =
        serde_json::from_str(&std::fs::read_to_string(crate_fixture("bf16_blocks.json")).unwrap())
            .unwrap();
    let bf16 = load(DType::BF16);
    assert_eq!(bf16.exec(), Exec::FusedBf16);
    let f32m = load(DType::F32);
    for (tower, causal) in [("visual", false), ("text", true)] {
        let (b16, b32) = if tower == "visual" {
            (
                bf16.vision().vit().unwrap().transformer(),
                f32m.vision().vit().unwrap().transformer(),
            )
        } else {
            (
                bf16.text().as_clip().unwrap().transformer(),
                f32m.text().as_clip().unwrap().transformer(),
            )
        };
        for (i, (blk16, blk32)) in b16.blocks().iter().zip(b32.blocks()).enumerate() {
            let key = format!("{tower}.{i}");
            let x = &tensors[&format!("{key}.input")];
            let y = &tensors[&format!("{key}.output")];
            let e32 = rel_l2(&blk32.forward(x, causal).unwrap(), y);
            let e16 = rel_l2(&blk16.forward(x, causal).unwrap(), y);
            let torch = reference["torch_bf16"][&key].as_f64().unwrap();
            eprintln!(
                "{key}: kestrel bf16 {e16:.2e} ({}), pytorch bf16 {torch:.2e}, ratio {:.2}; f32 {e32:.1e}",
                bf16.matmul_kernel(),
                e16 / torch
            );
            assert!(e32 < 1e-5, "{key}: f32 block error {e32}");
            assert!(
                e16 <= 1.5 * torch,
                "{key}: bf16 error {e16} > 1.5 × PyTorch's {torch}"
            );
        }
    }
}

//! The named parameter tensors of a model (open_clip state-dict names, no prefix), the list
//! of names and shapes a configuration expects, and seeded random weights for benchmarks.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};

use crate::ModelError;
use crate::load::config::{ClipConfig, VisionTowerConfig};
use crate::load::hf_text::{HfPooler, HfProj, HfTextConfig};

/// Parameters by open_clip name, all on one device in one dtype.
#[derive(Debug, Clone)]
pub struct Weights {
    tensors: HashMap<String, Tensor>,
    device: Device,
    dtype: DType,
}

impl Weights {
    pub fn new(tensors: HashMap<String, Tensor>, device: Device, dtype: DType) -> Self {
        Self {
            tensors,
            device,
            dtype,
        }
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// All tensors converted to `dtype`.
    pub fn to_dtype(&self, dtype: DType) -> Result<Self, ModelError> {
        let tensors = self
            .tensors
            .iter()
            .map(|(k, t)| Ok((k.clone(), t.to_dtype(dtype)?)))
            .collect::<Result<_, candle_core::Error>>()?;
        Ok(Self::new(tensors, self.device.clone(), dtype))
    }

    /// The tensor called `name` (cheap: tensors are reference counted).
    pub fn get(&self, name: &str) -> Result<Tensor, ModelError> {
        self.tensors
            .get(name)
            .cloned()
            .ok_or_else(|| ModelError::Internal(format!("weight {name} was not loaded")))
    }

    /// Random weights with the shapes `cfg` expects, with magnitudes like the oracle's
    /// (fan-in scaled), for benchmarks. Deterministic for a seed on the CPU.
    pub fn random(
        cfg: &ClipConfig,
        seed: u64,
        device: &Device,
        dtype: DType,
    ) -> Result<Self, ModelError> {
        let mut rng = SplitMix64(seed);
        let mut tensors = HashMap::new();
        for (name, shape) in expected_shapes(cfg)? {
            let n: usize = shape.iter().product();
            let scale = init_scale(&name, &shape);
            // Uniform noise with the wanted standard deviation (cheaper than normal samples
            // for 150 M parameters; the shape of the distribution does not matter here).
            let half_width = scale.1 * 3f32.sqrt();
            let data: Vec<f32> = (0..n)
                .map(|_| scale.0 + half_width * (2.0 * rng.uniform() as f32 - 1.0))
                .collect();
            let t = Tensor::from_vec(data, shape.as_slice(), &Device::Cpu)?
                .to_dtype(dtype)?
                .to_device(device)?;
            tensors.insert(name, t);
        }
        Ok(Self::new(tensors, device.clone(), dtype))
    }
}

/// (offset, std) for the random initialisation of a parameter, after the oracle's rules.
fn init_scale(name: &str, shape: &[usize]) -> (f32, f32) {
    let is_ln = name.contains(".ln_")
        || name.starts_with("ln_")
        || name.contains("ln_final")
        || name.contains("LayerNorm");
    if name == "logit_scale" {
        ((1.0f32 / 0.07).ln(), 0.0)
    } else if (is_ln || shape.len() == 1) && name.ends_with(".weight") {
        // LayerNorm and BatchNorm scales.
        (1.0, 0.02)
    } else if name.ends_with(".running_var") {
        (1.0, 0.0)
    } else if name.ends_with(".running_mean") {
        (0.0, 0.0)
    } else if name.ends_with("weight") && shape.len() >= 2 && !name.starts_with("token_embedding") {
        let fan_in: usize = shape[1..].iter().product();
        (0.0, 1.0 / (fan_in as f32).sqrt())
    } else if name == "visual.proj" || name == "text_projection" {
        (0.0, 1.0 / (shape[0] as f32).sqrt())
    } else {
        (0.0, 0.02)
    }
}

/// Small deterministic generator (SplitMix64) for benchmark weights.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in (0, 1).
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
}

/// Tensors in a residual block (see [`expected_shapes`]).
const BLOCK_TENSORS: usize = 12;
/// Tensors outside the residual blocks: 6 of the text tower, 8 of a ViT.
const TEXT_OTHER_TENSORS: usize = 6;
const VIT_OTHER_TENSORS: usize = 8;

/// How many tensors [`expected_shapes`] lists for `cfg`, without building the list
/// (saturating: a config with absurd layer counts gives a number no file can meet).
pub fn expected_tensor_count(cfg: &ClipConfig) -> Result<usize, ModelError> {
    if let Some(h) = cfg.hf_text() {
        let enc = h.encoder().map_err(ModelError::Unsupported)?;
        let proj = match h.proj {
            HfProj::Identity => 0,
            HfProj::Linear { bias } => 1 + bias as usize,
            HfProj::Mlp { bias } => 2 + 2 * bias as usize,
        };
        let pooler = if h.pooler == HfPooler::Cls { 2 } else { 0 };
        // Text: the HF encoder, its embeddings, its pooler, the projection, and
        // `logit_scale` (the one tensor of the CLIP text tower's others that an HF model
        // keeps).
        let text = enc
            .num_hidden_layers
            .saturating_mul(HF_LAYER_TENSORS)
            .saturating_add(TEXT_OTHER_TENSORS - 5 + HF_EMBEDDING_TENSORS + pooler + proj);
        return Ok(text.saturating_add(vision_tensor_count(cfg)?));
    }
    let t = cfg.text_transformer()?;
    let text = t
        .layers
        .saturating_mul(BLOCK_TENSORS)
        .saturating_add(TEXT_OTHER_TENSORS);
    Ok(text.saturating_add(vision_tensor_count(cfg)?))
}

/// How many tensors the image tower needs.
fn vision_tensor_count(cfg: &ClipConfig) -> Result<usize, ModelError> {
    Ok(match &cfg.vision {
        VisionTowerConfig::ModifiedResNet(r) => crate::clip::resnet::expected_tensor_count(r),
        _ => cfg
            .vit()?
            .layers
            .saturating_mul(BLOCK_TENSORS)
            .saturating_add(VIT_OTHER_TENSORS),
    })
}

/// Tensors in one Hugging Face encoder layer.
const HF_LAYER_TENSORS: usize = 16;
/// Tensors of the Hugging Face embeddings (word, token type, LayerNorm ×2, position).
const HF_EMBEDDING_TENSORS: usize = 5;

/// The Hugging Face text tower's tensors (`text.transformer.*`, `text.proj*`) in the order
/// of open_clip's `CustomTextCLIP` state dict.
pub fn hf_text_shapes(
    h: &HfTextConfig,
    embed_dim: usize,
) -> Result<Vec<(String, Vec<usize>)>, ModelError> {
    let enc = h.encoder().map_err(ModelError::Unsupported)?;
    let d = enc.hidden_size;
    let mut out: Vec<(String, Vec<usize>)> = Vec::new();
    let mut push = |name: String, shape: &[usize]| out.push((name, shape.to_vec()));
    let e = "text.transformer.embeddings";
    push(format!("{e}.word_embeddings.weight"), &[enc.vocab_size, d]);
    push(
        format!("{e}.token_type_embeddings.weight"),
        &[enc.type_vocab_size, d],
    );
    push(format!("{e}.LayerNorm.weight"), &[d]);
    push(format!("{e}.LayerNorm.bias"), &[d]);
    push(
        format!("{e}.position_embeddings.weight"),
        &[enc.max_position_embeddings, d],
    );
    for i in 0..enc.num_hidden_layers {
        let l = format!("text.transformer.encoder.layer.{i}");
        for part in ["query", "key", "value"] {
            push(format!("{l}.attention.self.{part}.weight"), &[d, d]);
            push(format!("{l}.attention.self.{part}.bias"), &[d]);
        }
        push(format!("{l}.attention.output.dense.weight"), &[d, d]);
        push(format!("{l}.attention.output.dense.bias"), &[d]);
        push(format!("{l}.attention.output.LayerNorm.weight"), &[d]);
        push(format!("{l}.attention.output.LayerNorm.bias"), &[d]);
        let m = enc.intermediate_size;
        push(format!("{l}.intermediate.dense.weight"), &[m, d]);
        push(format!("{l}.intermediate.dense.bias"), &[m]);
        push(format!("{l}.output.dense.weight"), &[d, m]);
        push(format!("{l}.output.dense.bias"), &[d]);
        push(format!("{l}.output.LayerNorm.weight"), &[d]);
        push(format!("{l}.output.LayerNorm.bias"), &[d]);
    }
    if h.pooler == HfPooler::Cls {
        push("text.transformer.pooler.dense.weight".into(), &[d, d]);
        push("text.transformer.pooler.dense.bias".into(), &[d]);
    }
    match h.proj {
        HfProj::Identity => {}
        HfProj::Linear { bias } => {
            push("text.proj.weight".into(), &[embed_dim, d]);
            if bias {
                push("text.proj.bias".into(), &[embed_dim]);
            }
        }
        HfProj::Mlp { bias } => {
            let hidden = HfTextConfig::mlp_hidden(d, embed_dim);
            push("text.proj.0.weight".into(), &[hidden, d]);
            if bias {
                push("text.proj.0.bias".into(), &[hidden]);
            }
            push("text.proj.2.weight".into(), &[embed_dim, hidden]);
            if bias {
                push("text.proj.2.bias".into(), &[embed_dim]);
            }
        }
    }
    Ok(out)
}

/// Every parameter the model built from `cfg` needs, with its shape, in open_clip's
/// state-dict order.
pub fn expected_shapes(cfg: &ClipConfig) -> Result<Vec<(String, Vec<usize>)>, ModelError> {
    let hf = cfg.hf_text();
    let t = match hf {
        Some(_) => None,
        None => Some(cfg.text_transformer()?),
    };
    let mut out: Vec<(String, Vec<usize>)> = Vec::new();
    let mut push = |name: String, shape: &[usize]| out.push((name, shape.to_vec()));
    if let Some(t) = t {
        push("positional_embedding".into(), &[t.context_length, t.width]);
        push("text_projection".into(), &[t.width, cfg.embed_dim]);
    }
    push("logit_scale".into(), &[]);
    vision_shapes(cfg, &mut push)?;
    let Some(t) = t else {
        if let Some(h) = hf {
            out.extend(hf_text_shapes(h, cfg.embed_dim)?);
        }
        return Ok(out);
    };
    for i in 0..t.layers {
        block_shapes(
            &format!("transformer.resblocks.{i}"),
            t.width,
            t.mlp_width,
            &mut push,
        );
    }
    push("token_embedding.weight".into(), &[t.vocab_size, t.width]);
    push("ln_final.weight".into(), &[t.width]);
    push("ln_final.bias".into(), &[t.width]);
    Ok(out)
}

/// One residual attention block's parameters.
fn block_shapes(prefix: &str, width: usize, mlp: usize, push: &mut dyn FnMut(String, &[usize])) {
    push(format!("{prefix}.ln_1.weight"), &[width]);
    push(format!("{prefix}.ln_1.bias"), &[width]);
    push(format!("{prefix}.attn.in_proj_weight"), &[3 * width, width]);
    push(format!("{prefix}.attn.in_proj_bias"), &[3 * width]);
    push(format!("{prefix}.attn.out_proj.weight"), &[width, width]);
    push(format!("{prefix}.attn.out_proj.bias"), &[width]);
    push(format!("{prefix}.ln_2.weight"), &[width]);
    push(format!("{prefix}.ln_2.bias"), &[width]);
    push(format!("{prefix}.mlp.c_fc.weight"), &[mlp, width]);
    push(format!("{prefix}.mlp.c_fc.bias"), &[mlp]);
    push(format!("{prefix}.mlp.c_proj.weight"), &[width, mlp]);
    push(format!("{prefix}.mlp.c_proj.bias"), &[width]);
}

/// The image tower's parameters (ViT or ModifiedResNet), in state-dict order.
fn vision_shapes(
    cfg: &ClipConfig,
    push: &mut dyn FnMut(String, &[usize]),
) -> Result<(), ModelError> {
    if let VisionTowerConfig::ModifiedResNet(r) = &cfg.vision {
        crate::clip::resnet::expected_shapes(cfg, r, push);
        return Ok(());
    }
    let v = cfg.vit()?;
    push("visual.class_embedding".into(), &[v.width]);
    push("visual.positional_embedding".into(), &[v.tokens(), v.width]);
    push("visual.proj".into(), &[v.width, cfg.embed_dim]);
    push(
        "visual.conv1.weight".into(),
        &[v.width, cfg.in_channels, v.patch_size, v.patch_size],
    );
    push("visual.ln_pre.weight".into(), &[v.width]);
    push("visual.ln_pre.bias".into(), &[v.width]);
    for i in 0..v.layers {
        block_shapes(
            &format!("visual.transformer.resblocks.{i}"),
            v.width,
            v.mlp_width,
            push,
        );
    }
    push("visual.ln_post.weight".into(), &[v.width]);
    push("visual.ln_post.bias".into(), &[v.width]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_config_expects_302_tensors_of_150m_params() {
        let shapes = expected_shapes(&ClipConfig::llama3_ms_clip()).unwrap();
        assert_eq!(shapes.len(), 302);
        assert_eq!(
            expected_tensor_count(&ClipConfig::llama3_ms_clip()).unwrap(),
            302
        );
        let params: usize = shapes
            .iter()
            .map(|(_, s)| s.iter().product::<usize>())
            .sum();
        assert_eq!(params, 150_996_993);
        assert_eq!(
            shapes[6],
            ("visual.conv1.weight".to_owned(), vec![768, 10, 16, 16])
        );
    }

    #[test]
    fn random_weights_are_deterministic_and_scaled() {
        let cfg = ClipConfig::from_json_str(
            r#"{"model_cfg": {"embed_dim": 8, "vision_cfg": {"image_size": 32, "layers": 1, "width": 16,
               "head_width": 8, "patch_size": 16}, "text_cfg": {"context_length": 8, "vocab_size": 50,
               "width": 16, "heads": 2, "layers": 1}}, "in_channels": 2}"#,
            std::path::Path::new("t.json"),
        )
        .unwrap();
        let a = Weights::random(&cfg, 7, &Device::Cpu, DType::F32).unwrap();
        let b = Weights::random(&cfg, 7, &Device::Cpu, DType::F32).unwrap();
        let ta = a
            .get("visual.conv1.weight")
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let tb = b
            .get("visual.conv1.weight")
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(ta, tb);
        let std = (ta.iter().map(|v| v * v).sum::<f32>() / ta.len() as f32).sqrt();
        assert!((std - 1.0 / (512f32).sqrt()).abs() < 0.01, "{std}");
        let ln = a.get("ln_final.weight").unwrap().to_vec1::<f32>().unwrap();
        assert!(ln.iter().all(|v| (v - 1.0).abs() < 0.2));
    }
}

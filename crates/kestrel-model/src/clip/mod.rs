//! A CLIP model built from a [`ClipConfig`] and [`Weights`]: both towers (the image tower a
//! ViT or a ModifiedResNet, [`VisionTower`]), and batch encoders returning unnormalised f32
//! embeddings (normalisation is the caller's choice).

use candle_core::{DType, Device, Tensor};

use crate::ModelError;
use crate::load::config::{ClipConfig, VisionTowerConfig};
use crate::load::weights::Weights;
use crate::nn::layers::{Exec, Tap, fused_available};

pub mod resnet;
pub mod text;
pub mod vision;
pub mod xlmr;

use resnet::ModifiedResNet;
use text::TextTransformer;
use vision::VisionTransformer;
use xlmr::XlmRobertaText;

/// The text tower a config describes.
#[derive(Debug, Clone)]
pub enum TextTower {
    /// open_clip's causal text transformer (CLIP, MS-CLIP, RemoteCLIP).
    Clip(TextTransformer),
    /// open_clip's `HFTextEncoder` over XLM-RoBERTa (RS-M-CLIP).
    Hf(Box<XlmRobertaText>),
}

impl TextTower {
    /// The CLIP text transformer, when that is the tower.
    pub fn as_clip(&self) -> Option<&TextTransformer> {
        match self {
            Self::Clip(t) => Some(t),
            Self::Hf(_) => None,
        }
    }

    /// The Hugging Face tower, when that is the tower.
    pub fn as_hf(&self) -> Option<&XlmRobertaText> {
        match self {
            Self::Hf(t) => Some(t.as_ref()),
            Self::Clip(_) => None,
        }
    }

    /// Ids per row (the tokenizer's context length).
    pub fn context_length(&self) -> usize {
        match self {
            Self::Clip(t) => t.config().context_length,
            Self::Hf(t) => t.config().context_length,
        }
    }

    pub fn check_ids(&self, rows: &[&[u32]]) -> Result<(), ModelError> {
        match self {
            Self::Clip(t) => t.check_ids(rows),
            Self::Hf(t) => t.check_ids(rows),
        }
    }

    /// Unnormalised embeddings; `truncate` only matters for the causal tower (the HF tower
    /// always skips padding, see [`xlmr`]).
    fn forward(&self, rows: &[&[u32]], truncate: bool, tap: Tap) -> candle_core::Result<Tensor> {
        match self {
            Self::Clip(t) => t.forward(rows, truncate, tap),
            Self::Hf(t) => t.forward(rows, tap),
        }
    }
}

/// The image tower a config describes.
#[derive(Debug, Clone)]
pub enum VisionTower {
    Vit(VisionTransformer),
    ResNet(Box<ModifiedResNet>),
}

impl VisionTower {
    /// The ViT, when the tower is one.
    pub fn vit(&self) -> Option<&VisionTransformer> {
        match self {
            Self::Vit(v) => Some(v),
            Self::ResNet(_) => None,
        }
    }

    /// Input side in pixels.
    pub fn image_size(&self) -> usize {
        match self {
            Self::Vit(v) => v.config().image_size,
            Self::ResNet(r) => r.config().image_size,
        }
    }

    pub fn in_channels(&self) -> usize {
        match self {
            Self::Vit(v) => v.in_channels(),
            Self::ResNet(r) => r.in_channels(),
        }
    }

    /// `[batch, channels, size, size]` → unnormalised embeddings `[batch, embed_dim]`.
    pub fn forward(&self, x: &Tensor, tap: Tap) -> candle_core::Result<Tensor> {
        match self {
            Self::Vit(v) => v.forward(x, tap),
            Self::ResNet(r) => r.forward(x, tap),
        }
    }
}

/// Which implementation of the layers to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kernels {
    /// Fused CPU kernels when the model is f32 on the CPU, candle ops otherwise.
    #[default]
    Auto,
    /// Plain candle ops everywhere (reference path).
    Generic,
}

#[derive(Debug, Clone)]
pub struct ClipModel {
    config: ClipConfig,
    vision: VisionTower,
    text: TextTower,
    device: Device,
    dtype: DType,
    exec: Exec,
}

/// A tap that ignores everything.
pub fn no_tap(_: &str, _: &Tensor) -> candle_core::Result<()> {
    Ok(())
}

impl ClipModel {
    pub fn new(
        config: &ClipConfig,
        weights: &Weights,
        kernels: Kernels,
    ) -> Result<Self, ModelError> {
        let fused = kernels == Kernels::Auto && fused_available(weights.device(), weights.dtype());
        // bf16 weights on the CPU: the model runs in f32 with the linear layers' products in
        // bf16 (the weights are rounded to bf16 once more when packed, which is exact).
        let bf16_cpu = fused && weights.dtype() == DType::BF16;
        let (exec, f32_weights) = match (fused, bf16_cpu) {
            (false, _) => (Exec::Generic, None),
            (true, false) => (Exec::Fused, None),
            (true, true) => (Exec::FusedBf16, Some(weights.to_dtype(DType::F32)?)),
        };
        if exec.fused() {
            crate::nn::alloc_tune::tune_for_fused_cpu();
        }
        let w = f32_weights.as_ref().unwrap_or(weights);
        let text = match config.hf_text() {
            Some(h) => TextTower::Hf(Box::new(XlmRobertaText::load(w, h, exec)?)),
            None => TextTower::Clip(TextTransformer::load(
                w,
                config.text_transformer()?,
                config.activation,
                exec,
            )?),
        };
        Ok(Self {
            config: config.clone(),
            vision: match &config.vision {
                VisionTowerConfig::ModifiedResNet(r) => VisionTower::ResNet(Box::new(
                    ModifiedResNet::load(w, r, config.in_channels, exec)?,
                )),
                _ => VisionTower::Vit(VisionTransformer::load(
                    w,
                    config.vit()?,
                    config.in_channels,
                    config.activation,
                    exec,
                )?),
            },
            text,
            device: w.device().clone(),
            dtype: w.dtype(),
            exec,
        })
    }

    pub fn config(&self) -> &ClipConfig {
        &self.config
    }
    pub fn device(&self) -> &Device {
        &self.device
    }
    pub fn dtype(&self) -> DType {
        self.dtype
    }
    /// Whether the fused CPU kernels are in use.
    pub fn uses_fused_kernels(&self) -> bool {
        self.exec.fused()
    }

    /// How the layers run.
    pub fn exec(&self) -> Exec {
        self.exec
    }

    /// The matrix-product kernel in use, e.g. "cpu f32 avx512f", "cpu bf16 amx-bf16",
    /// "candle bf16".
    pub fn matmul_kernel(&self) -> String {
        let k = crate::nn::isa::detected();
        match self.exec {
            Exec::Generic => format!("candle {:?}", self.dtype).to_lowercase(),
            Exec::Fused => format!("cpu f32 {}", k.f32.name()),
            Exec::FusedBf16 => format!("cpu bf16 {}", k.bf16.map_or("none", |b| b.name())),
        }
    }
    pub fn vision(&self) -> &VisionTower {
        &self.vision
    }
    pub fn text(&self) -> &TextTower {
        &self.text
    }

    /// Number of f32 values one preprocessed image has (`C·S·S`).
    pub fn image_len(&self) -> usize {
        let s = self.vision.image_size();
        self.config.in_channels * s * s
    }

    /// Unnormalised image embeddings `[n, embed_dim]` (f32, on the CPU) for `n` preprocessed
    /// images packed in `pixels` (`n·C·S·S` values, CHW each).
    pub fn encode_images(&self, pixels: &[f32], n: usize) -> Result<Tensor, ModelError> {
        self.encode_images_tap(pixels, n, &mut no_tap)
    }

    /// [`Self::encode_images`] with a tap on the intermediates.
    pub fn encode_images_tap(
        &self,
        pixels: &[f32],
        n: usize,
        tap: Tap,
    ) -> Result<Tensor, ModelError> {
        if n == 0 || pixels.len() != n * self.image_len() {
            return Err(ModelError::Input(format!(
                "image batch has {} values, {n} images need {}",
                pixels.len(),
                n * self.image_len()
            )));
        }
        let s = self.vision.image_size();
        // Straight from the slice to the device (one copy), converted there.
        let x = Tensor::from_slice(pixels, (n, self.config.in_channels, s, s), &self.device)?
            .to_dtype(self.dtype)?;
        self.encode_image_tensor(&x, tap)
    }

    /// Unnormalised image embeddings `[n, embed_dim]` (f32, on the CPU) for a preprocessed
    /// batch already on the model's device (in any float dtype).
    pub fn encode_image_tensor(&self, x: &Tensor, tap: Tap) -> Result<Tensor, ModelError> {
        let x = x.to_device(&self.device)?.to_dtype(self.dtype)?;
        let out = self.vision.forward(&x, tap)?;
        Ok(out.to_dtype(DType::F32)?.to_device(&Device::Cpu)?)
    }

    /// Unnormalised text embeddings `[rows, embed_dim]` for token id rows (each of the
    /// context length), encoding only the positions that can change the result (up to the
    /// last end-of-text for the causal tower, the non-pad tokens for the HF tower).
    pub fn encode_token_ids(&self, rows: &[&[u32]]) -> Result<Tensor, ModelError> {
        self.encode_token_ids_with(rows, true, &mut no_tap)
    }

    /// As [`Self::encode_token_ids`]; `truncate = false` runs the whole context (causal
    /// tower only).
    pub fn encode_token_ids_with(
        &self,
        rows: &[&[u32]],
        truncate: bool,
        tap: Tap,
    ) -> Result<Tensor, ModelError> {
        self.text.check_ids(rows)?;
        let out = self.text.forward(rows, truncate, tap)?;
        Ok(out.to_dtype(DType::F32)?.to_device(&Device::Cpu)?)
    }
}

/// L2-normalise each row of a `[n, d]` f32 tensor into vectors.
pub fn normalized_rows(t: &Tensor) -> Result<Vec<Vec<f32>>, ModelError> {
    let rows = t.to_dtype(DType::F32)?.to_vec2::<f32>()?;
    Ok(rows.into_iter().map(|r| normalize(&r)).collect())
}

/// `v / ‖v‖` (zero stays zero).
pub fn normalize(v: &[f32]) -> Vec<f32> {
    let norm = v
        .iter()
        .map(|x| (*x as f64) * (*x as f64))
        .sum::<f64>()
        .sqrt();
    if norm == 0.0 {
        return v.to_vec();
    }
    v.iter().map(|x| (*x as f64 / norm) as f32).collect()
}

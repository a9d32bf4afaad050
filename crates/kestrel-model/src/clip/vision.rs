//! The ViT image tower (open_clip `VisionTransformer`): patch embedding (a bias-free conv
//! with stride = kernel, computed as one matrix product over unfolded patches), class token,
//! positional embedding, `ln_pre`, the residual blocks, `ln_post`, class-token pooling and
//! `x @ proj`.

use candle_core::{D, IndexOp, Tensor};

use crate::ModelError;
use crate::load::config::{Activation, VitConfig};
use crate::load::weights::Weights;
use crate::nn::layers::{Exec, LayerNorm, Linear, Tap, Transformer};

type CResult<T> = candle_core::Result<T>;

#[derive(Debug, Clone)]
pub struct VisionTransformer {
    cfg: VitConfig,
    in_channels: usize,
    patch_embed: Linear,
    class_embedding: Tensor,
    positional_embedding: Tensor,
    ln_pre: LayerNorm,
    transformer: Transformer,
    ln_post: LayerNorm,
    proj: Tensor,
}

impl VisionTransformer {
    pub fn load(
        w: &Weights,
        cfg: &VitConfig,
        in_channels: usize,
        act: Activation,
        exec: Exec,
    ) -> Result<Self, ModelError> {
        let conv = w.get("visual.conv1.weight")?;
        let patch_embed = Linear::from_tensors(
            conv.reshape((cfg.width, in_channels * cfg.patch_size * cfg.patch_size))?,
            None,
            exec,
        )?;
        Ok(Self {
            cfg: cfg.clone(),
            in_channels,
            patch_embed,
            class_embedding: w.get("visual.class_embedding")?,
            positional_embedding: w.get("visual.positional_embedding")?,
            ln_pre: LayerNorm::load(w, "visual.ln_pre", exec)?,
            transformer: Transformer::load(
                w,
                "visual.transformer",
                cfg.layers,
                cfg.heads,
                act,
                exec,
            )?,
            ln_post: LayerNorm::load(w, "visual.ln_post", exec)?,
            proj: w.get("visual.proj")?,
        })
    }

    pub fn config(&self) -> &VitConfig {
        &self.cfg
    }

    /// The residual blocks (tests run them one by one).
    pub fn transformer(&self) -> &Transformer {
        &self.transformer
    }

    pub fn in_channels(&self) -> usize {
        self.in_channels
    }

    /// `[batch, channels, size, size]` → unnormalised embeddings `[batch, embed_dim]`.
    /// `tap` sees the oracle's intermediates (`visual.conv1` as `[batch, width, grid²]`).
    pub fn forward(&self, x: &Tensor, tap: Tap) -> CResult<Tensor> {
        let (b, c, h, w) = x.dims4()?;
        let (p, g) = (self.cfg.patch_size, self.cfg.grid());
        if c != self.in_channels || h != self.cfg.image_size || w != self.cfg.image_size {
            candle_core::bail!(
                "image batch has shape [{b}, {c}, {h}, {w}], the model takes [N, {}, {}, {}]",
                self.in_channels,
                self.cfg.image_size,
                self.cfg.image_size
            );
        }
        // Unfold 16×16 patches: [b, c, g, p, g, p] → [b, g, g, c, p, p] → [b, g², c·p·p].
        let patches = x
            .reshape((b, c, g, p, g, p))?
            .permute((0, 2, 4, 1, 3, 5))?
            .contiguous()?
            .reshape((b, g * g, c * p * p))?;
        let tokens = self.patch_embed.forward(&patches, None, None)?;
        tap("visual.conv1", &tokens.transpose(1, 2)?)?;
        let width = self.cfg.width;
        let cls = self
            .class_embedding
            .reshape((1, 1, width))?
            .broadcast_as((b, 1, width))?
            .contiguous()?;
        let x = Tensor::cat(&[&cls, &tokens], 1)?.broadcast_add(&self.positional_embedding)?;
        let x = self.ln_pre.forward(&x)?;
        tap("visual.ln_pre", &x)?;
        let x = self
            .transformer
            .forward(&x, false, "visual.transformer", tap)?;
        let x = self.ln_post.forward(&x)?;
        tap("visual.ln_post", &x)?;
        let pooled = x.i((.., 0, ..))?.contiguous()?;
        tap("visual.pooled_before_proj", &pooled)?;
        let out = pooled.matmul(&self.proj)?;
        debug_assert_eq!(out.dim(D::Minus1)?, self.proj.dim(1)?);
        Ok(out)
    }
}

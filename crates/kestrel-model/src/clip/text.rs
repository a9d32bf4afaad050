//! The text tower (open_clip's causal text transformer): token + positional embedding, the
//! residual blocks under a causal mask, `ln_final`, pooling at the first end-of-text token
//! (`argmax(ids)`, as open_clip) and `x @ text_projection`.
//!
//! Because the mask is causal and pooling reads the end-of-text position, tokens after it
//! cannot change the result: by default a batch is encoded only up to its longest
//! end-of-text position + 1 (typically 8–20 of the 77 positions).

use candle_core::{Device, Tensor};

use crate::ModelError;
use crate::load::config::{Activation, TextConfig};
use crate::load::weights::Weights;
use crate::nn::layers::{Exec, LayerNorm, Tap, Transformer};

type CResult<T> = candle_core::Result<T>;

#[derive(Debug, Clone)]
pub struct TextTransformer {
    cfg: TextConfig,
    token_embedding: Tensor,
    positional_embedding: Tensor,
    transformer: Transformer,
    ln_final: LayerNorm,
    text_projection: Tensor,
}

/// Index of the pooled token: the first position holding the largest id (open_clip's
/// `text.argmax(dim=-1)`; with the CLIP vocabulary that is the first end-of-text token).
pub fn pool_index(ids: &[u32]) -> usize {
    let mut best = 0;
    for (i, &v) in ids.iter().enumerate() {
        if v > ids[best] {
            best = i;
        }
    }
    best
}

impl TextTransformer {
    pub fn load(
        w: &Weights,
        cfg: &TextConfig,
        act: Activation,
        exec: Exec,
    ) -> Result<Self, ModelError> {
        Ok(Self {
            cfg: cfg.clone(),
            token_embedding: w.get("token_embedding.weight")?,
            positional_embedding: w.get("positional_embedding")?,
            transformer: Transformer::load(w, "transformer", cfg.layers, cfg.heads, act, exec)?,
            ln_final: LayerNorm::load(w, "ln_final", exec)?,
            text_projection: w.get("text_projection")?,
        })
    }

    pub fn config(&self) -> &TextConfig {
        &self.cfg
    }

    /// The residual blocks (tests run them one by one).
    pub fn transformer(&self) -> &Transformer {
        &self.transformer
    }

    /// Check a batch of id rows (each `context_length` long, ids inside the vocabulary).
    pub fn check_ids(&self, rows: &[&[u32]]) -> Result<(), ModelError> {
        if rows.is_empty() {
            return Err(ModelError::Input("no texts to encode".into()));
        }
        for (i, r) in rows.iter().enumerate() {
            if r.len() != self.cfg.context_length {
                return Err(ModelError::Input(format!(
                    "token row {i} has {} ids, the model's context is {}",
                    r.len(),
                    self.cfg.context_length
                )));
            }
            if let Some(bad) = r.iter().find(|&&id| id as usize >= self.cfg.vocab_size) {
                return Err(ModelError::Input(format!(
                    "token row {i} holds id {bad}, outside the vocabulary of {}",
                    self.cfg.vocab_size
                )));
            }
        }
        Ok(())
    }

    /// Unnormalised text embeddings `[rows, embed_dim]`. With `truncate`, only positions up to
    /// the batch's last pooled index are computed (same result, less work); without it the
    /// whole context is (what the oracle's intermediates describe). Rows must pass
    /// [`Self::check_ids`].
    pub fn forward(&self, rows: &[&[u32]], truncate: bool, tap: Tap) -> CResult<Tensor> {
        let device: &Device = self.token_embedding.device();
        let pools: Vec<usize> = rows.iter().map(|r| pool_index(r)).collect();
        let len = if truncate {
            pools.iter().max().map_or(1, |m| m + 1)
        } else {
            self.cfg.context_length
        };
        let b = rows.len();
        let flat: Vec<u32> = rows.iter().flat_map(|r| r[..len].iter().copied()).collect();
        let ids = Tensor::from_vec(flat, b * len, device)?;
        let width = self.cfg.width;
        let tok = self
            .token_embedding
            .index_select(&ids, 0)?
            .reshape((b, len, width))?;
        tap("token_embedding", &tok)?;
        let x = tok.broadcast_add(&self.positional_embedding.narrow(0, 0, len)?)?;
        let x = self.transformer.forward(&x, true, "transformer", tap)?;
        let x = self.ln_final.forward(&x)?;
        tap("ln_final", &x)?;
        let gather: Vec<u32> = pools
            .iter()
            .enumerate()
            .map(|(i, &p)| (i * len + p) as u32)
            .collect();
        let gather = Tensor::from_vec(gather, b, device)?;
        let pooled = x.reshape((b * len, width))?.index_select(&gather, 0)?;
        tap("text.pooled_before_proj", &pooled)?;
        pooled.matmul(&self.text_projection)
    }
}

#[cfg(test)]
mod tests {
    use super::pool_index;

    #[test]
    fn pools_at_first_end_of_text() {
        assert_eq!(pool_index(&[49406, 320, 49407, 0, 0]), 2);
        assert_eq!(pool_index(&[49406, 49407, 5, 49407, 0]), 1);
        assert_eq!(pool_index(&[3, 9, 9, 1]), 1);
    }
}

//! open_clip's `HFTextEncoder` over an XLM-RoBERTa (or RoBERTa) encoder, as RS-M-CLIP uses
//! it: embeddings `LN(word[id] + token_type[0] + position[p])` with RoBERTa's positions
//! (`p = cumsum(ids != pad)·(ids != pad) + pad`, so real tokens count from `pad + 1`), post-LN
//! BERT layers (`h = LN(h + O·attn(h))`, `h = LN(h + W2·gelu(W1·h))`, separate q/k/v with
//! bias, scale `1/√head_dim`, pad keys masked), open_clip's pooler (`mean_pooler`: the mean
//! over non-pad tokens, `<s>` and `</s>` included; `cls_last_hidden_state_pooler`: the first
//! token; `cls_pooler`: the encoder's pooler, `tanh(dense(h₀))`) and projection
//! (`mlp`: Linear, GELU, Linear; `linear`; or none).
//!
//! Written with the crate's own layers rather than `candle_transformers::models::xlm_roberta`
//! so the query path gets the fused CPU kernels (packed f32/bf16 products with bias, GELU and
//! residual fused) like the other towers.
//!
//! Pad tokens are dropped before the encoder instead of masked: masked keys receive exactly
//! zero attention weight, pad rows are never pooled, and the positions of the kept tokens are
//! `pad+1 ..= pad+n` either way, so the result is the same function with less work (a query
//! is typically 10–20 of the 77 positions). A `<pad>` id inside a row (a literal `<pad>` in
//! the text) is dropped too, as masking ignores it. Rows of equal length share a batch.

use std::collections::BTreeMap;

use candle_core::{Device, IndexOp, Tensor};

use crate::ModelError;
use crate::load::config::Activation;
use crate::load::hf_text::{HfPooler, HfProj, HfTextConfig, RobertaConfig};
use crate::load::weights::Weights;
use crate::nn::layers::{Attention, Exec, LayerNorm, Linear, Tap};

type CResult<T> = candle_core::Result<T>;

/// Prefix of the encoder's tensors in an open_clip state dict.
pub const PREFIX: &str = "text.transformer";

/// One post-LN encoder layer.
#[derive(Debug, Clone)]
struct EncoderLayer {
    attn: Attention,
    attn_ln: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_ln: LayerNorm,
}

impl EncoderLayer {
    fn load(
        w: &Weights,
        prefix: &str,
        enc: &RobertaConfig,
        exec: Exec,
    ) -> Result<Self, ModelError> {
        let eps = enc.layer_norm_eps as f32;
        let part =
            |name: &str, what: &str| w.get(&format!("{prefix}.attention.self.{name}.{what}"));
        let qkv_w = Tensor::cat(
            &[
                &part("query", "weight")?,
                &part("key", "weight")?,
                &part("value", "weight")?,
            ],
            0,
        )?;
        let qkv_b = Tensor::cat(
            &[
                &part("query", "bias")?,
                &part("key", "bias")?,
                &part("value", "bias")?,
            ],
            0,
        )?;
        let in_proj = Linear::from_tensors(qkv_w, Some(qkv_b), exec)?;
        let out_proj = Linear::load(w, &format!("{prefix}.attention.output.dense"), true, exec)?;
        Ok(Self {
            attn: Attention::from_linears(in_proj, out_proj, enc.num_attention_heads, exec),
            attn_ln: LayerNorm::load_eps(
                w,
                &format!("{prefix}.attention.output.LayerNorm"),
                eps,
                exec,
            )?,
            intermediate: Linear::load(w, &format!("{prefix}.intermediate.dense"), true, exec)?,
            output: Linear::load(w, &format!("{prefix}.output.dense"), true, exec)?,
            output_ln: LayerNorm::load_eps(w, &format!("{prefix}.output.LayerNorm"), eps, exec)?,
        })
    }

    fn forward(&self, x: &Tensor) -> CResult<Tensor> {
        let a = self.attn_ln.forward(&self.attn.forward(x, x, false)?)?;
        let h = self
            .intermediate
            .forward(&a, None, Some(Activation::Gelu))?;
        self.output_ln
            .forward(&self.output.forward(&h, Some(&a), None)?)
    }
}

#[derive(Debug, Clone)]
enum Projection {
    Identity,
    Linear(Linear),
    Mlp(Linear, Linear),
}

/// The XLM-RoBERTa text tower with open_clip's pooling and projection.
#[derive(Debug, Clone)]
pub struct XlmRobertaText {
    cfg: HfTextConfig,
    enc: RobertaConfig,
    word_embeddings: Tensor,
    position_embeddings: Tensor,
    token_type0: Tensor,
    embeddings_ln: LayerNorm,
    layers: Vec<EncoderLayer>,
    /// `text.transformer.pooler.dense` of [`HfPooler::Cls`].
    pooler_dense: Option<Linear>,
    proj: Projection,
}

impl XlmRobertaText {
    pub fn load(w: &Weights, cfg: &HfTextConfig, exec: Exec) -> Result<Self, ModelError> {
        let enc = cfg.encoder().map_err(ModelError::Unsupported)?.clone();
        let e = format!("{PREFIX}.embeddings");
        let layers = (0..enc.num_hidden_layers)
            .map(|i| EncoderLayer::load(w, &format!("{PREFIX}.encoder.layer.{i}"), &enc, exec))
            .collect::<Result<_, _>>()?;
        let proj = match cfg.proj {
            HfProj::Identity => Projection::Identity,
            HfProj::Linear { bias } => {
                Projection::Linear(Linear::load(w, "text.proj", bias, exec)?)
            }
            HfProj::Mlp { bias } => Projection::Mlp(
                Linear::load(w, "text.proj.0", bias, exec)?,
                Linear::load(w, "text.proj.2", bias, exec)?,
            ),
        };
        Ok(Self {
            word_embeddings: w.get(&format!("{e}.word_embeddings.weight"))?,
            position_embeddings: w.get(&format!("{e}.position_embeddings.weight"))?,
            token_type0: w
                .get(&format!("{e}.token_type_embeddings.weight"))?
                .get(0)?,
            embeddings_ln: LayerNorm::load_eps(
                w,
                &format!("{e}.LayerNorm"),
                enc.layer_norm_eps as f32,
                exec,
            )?,
            layers,
            pooler_dense: match cfg.pooler {
                HfPooler::Cls => Some(Linear::load(
                    w,
                    &format!("{PREFIX}.pooler.dense"),
                    true,
                    exec,
                )?),
                HfPooler::Mean | HfPooler::ClsLastHiddenState => None,
            },
            proj,
            cfg: cfg.clone(),
            enc,
        })
    }

    pub fn config(&self) -> &HfTextConfig {
        &self.cfg
    }

    pub fn encoder_config(&self) -> &RobertaConfig {
        &self.enc
    }

    /// The pad id (what the tokenizer pads with; never a real token for the encoder).
    pub fn pad_id(&self) -> u32 {
        self.enc.pad_token_id
    }

    /// Check a batch of id rows: each `context_length` long, ids inside the vocabulary, at
    /// least one non-pad id, and no more non-pad ids than the position table holds.
    pub fn check_ids(&self, rows: &[&[u32]]) -> Result<(), ModelError> {
        if rows.is_empty() {
            return Err(ModelError::Input("no texts to encode".into()));
        }
        let pad = self.enc.pad_token_id;
        let max_tokens = self
            .enc
            .max_position_embeddings
            .saturating_sub(pad as usize + 1);
        for (i, r) in rows.iter().enumerate() {
            if r.len() != self.cfg.context_length {
                return Err(ModelError::Input(format!(
                    "token row {i} has {} ids, the model's context is {}",
                    r.len(),
                    self.cfg.context_length
                )));
            }
            if let Some(bad) = r.iter().find(|&&id| id as usize >= self.enc.vocab_size) {
                return Err(ModelError::Input(format!(
                    "token row {i} holds id {bad}, outside the vocabulary of {}",
                    self.enc.vocab_size
                )));
            }
            let n = r.iter().filter(|&&id| id != pad).count();
            if n == 0 {
                return Err(ModelError::Input(format!(
                    "token row {i} holds only padding (id {pad})"
                )));
            }
            if n > max_tokens {
                return Err(ModelError::Input(format!(
                    "token row {i} has {n} tokens, the position table holds {max_tokens}"
                )));
            }
        }
        Ok(())
    }

    /// Unnormalised text embeddings `[rows, embed_dim]`; rows must pass
    /// [`Self::check_ids`]. `tap` sees, per length group, `text.transformer.embeddings`, each
    /// `text.transformer.encoder.layer.{i}` (`[g, n, hidden]`, the non-pad rows only),
    /// `text.pooler`, `text.proj.0`, `text.proj.1` and `text.proj` (`[g, width]`).
    pub fn forward(&self, rows: &[&[u32]], tap: Tap) -> CResult<Tensor> {
        let pad = self.enc.pad_token_id;
        let kept: Vec<Vec<u32>> = rows
            .iter()
            .map(|r| r.iter().copied().filter(|&id| id != pad).collect())
            .collect();
        let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for (i, k) in kept.iter().enumerate() {
            groups.entry(k.len()).or_default().push(i);
        }
        // Groups in order of first appearance, so the single-group case (every query, and
        // the oracle's tap on row 0) needs no reordering.
        let mut order: Vec<(usize, Vec<usize>)> = groups.into_iter().collect();
        order.sort_by_key(|(_, members)| members[0]);
        let mut outs = Vec::with_capacity(order.len());
        let mut placed = Vec::with_capacity(rows.len());
        for (n, members) in &order {
            let flat: Vec<u32> = members.iter().flat_map(|&i| kept[i].clone()).collect();
            outs.push(self.forward_group(&flat, members.len(), *n, tap)?);
            placed.extend(members.iter().copied());
        }
        let out = if outs.len() == 1 {
            outs.pop().unwrap_or_else(|| unreachable!())
        } else {
            Tensor::cat(&outs, 0)?
        };
        if placed.iter().enumerate().all(|(i, &p)| i == p) {
            return Ok(out);
        }
        // Row `placed[j]` is at `j`; gather back into the input order.
        let mut inverse = vec![0u32; placed.len()];
        for (j, &p) in placed.iter().enumerate() {
            inverse[p] = j as u32;
        }
        let idx = Tensor::from_vec(inverse, rows.len(), out.device())?;
        out.index_select(&idx, 0)
    }

    /// `g` rows of `n` non-pad ids each (`ids` is `g·n` long).
    fn forward_group(&self, ids: &[u32], g: usize, n: usize, tap: Tap) -> CResult<Tensor> {
        let device: &Device = self.word_embeddings.device();
        let hidden = self.enc.hidden_size;
        let idx = Tensor::from_slice(ids, g * n, device)?;
        let words = self
            .word_embeddings
            .index_select(&idx, 0)?
            .reshape((g, n, hidden))?;
        let first_pos = self.enc.pad_token_id as usize + 1;
        let pos = self.position_embeddings.narrow(0, first_pos, n)?;
        let x = words
            .broadcast_add(&self.token_type0)?
            .broadcast_add(&pos)?;
        let mut x = self.embeddings_ln.forward(&x)?;
        tap("text.transformer.embeddings", &x)?;
        for (i, layer) in self.layers.iter().enumerate() {
            x = layer.forward(&x)?;
            tap(&format!("text.transformer.encoder.layer.{i}"), &x)?;
        }
        let pooled = match self.cfg.pooler {
            HfPooler::Mean => x.mean(1)?,
            HfPooler::ClsLastHiddenState => x.i((.., 0, ..))?.contiguous()?,
            HfPooler::Cls => {
                let first = x.i((.., 0, ..))?.contiguous()?;
                match &self.pooler_dense {
                    Some(dense) => dense.forward(&first, None, None)?.tanh()?,
                    None => candle_core::bail!("cls_pooler without its dense layer"),
                }
            }
        };
        tap("text.pooler", &pooled)?;
        match &self.proj {
            Projection::Identity => {
                tap("text.proj", &pooled)?;
                Ok(pooled)
            }
            Projection::Linear(l) => {
                let out = l.forward(&pooled, None, None)?;
                tap("text.proj", &out)?;
                Ok(out)
            }
            Projection::Mlp(l0, l2) => {
                let h = l0.forward(&pooled, None, None)?;
                tap("text.proj.0", &h)?;
                // Exact GELU as a separate op, so the tap sees the pre-activation too.
                let h = h.gelu_erf()?;
                tap("text.proj.1", &h)?;
                let out = l2.forward(&h, None, None)?;
                tap("text.proj", &out)?;
                Ok(out)
            }
        }
    }
}

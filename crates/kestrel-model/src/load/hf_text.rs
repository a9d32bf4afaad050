//! The Hugging Face text tower of an open_clip config (`text_cfg.hf_model_name`, RS-M-CLIP's
//! XLM-RoBERTa): open_clip's settings for it (`hf_pooler_type`, `hf_proj_type`, `proj_bias`,
//! `hf_tokenizer_name`, the tokenizer's context length) and the encoder's own shape, which
//! the open_clip config does not carry.
//!
//! Where the encoder shape comes from, first match wins:
//! - a `text_hf_config` object in the wrapped config JSON, or a `text_hf_config.json` file
//!   beside the config file (the transformers `config.json` of the model);
//! - the built-in restatement for `xlm-roberta-base` and `xlm-roberta-large` (the values of
//!   their hub `config.json`; transformers' `XLMRobertaConfig()` defaults differ: eps 1e-12,
//!   vocab 30522, 512 positions, 2 token types).
//!
//! Without either, the config still parses, and building the model says what is missing.

use serde::Deserialize;

/// open_clip's `DEFAULT_CONTEXT_LENGTH`: what `HFTokenizer` pads and truncates to when the
/// text config gives no `context_length`.
pub const HF_DEFAULT_CONTEXT_LENGTH: usize = 77;

/// How open_clip pools the encoder's last hidden states (`hf_pooler_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HfPooler {
    /// `mean_pooler`: the mean over non-pad tokens (`<s>` and `</s>` included).
    Mean,
    /// `cls_last_hidden_state_pooler`: the hidden state of the first token.
    ClsLastHiddenState,
    /// `cls_pooler`: the encoder's own pooler on the first token, `tanh(W·h₀ + b)`
    /// (`text.transformer.pooler.dense`; open_clip builds the encoder with
    /// `add_pooling_layer=True` for this pooler only).
    Cls,
}

/// open_clip's projection after pooling (`hf_proj_type`, `proj_bias`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HfProj {
    /// `None` with `d_model == embed_dim`: `nn.Identity`.
    Identity,
    /// `linear`: `text.proj` `[embed_dim, d_model]`.
    Linear { bias: bool },
    /// `mlp` (open_clip's default): `text.proj.0` `[(d+e)/2, d]`, GELU, `text.proj.2`
    /// `[e, (d+e)/2]`.
    Mlp { bias: bool },
}

/// A (XLM-)RoBERTa encoder's shape: the transformers `config.json` fields the port uses.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RobertaConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    pub layer_norm_eps: f64,
    pub pad_token_id: u32,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    #[serde(default = "default_position_type")]
    pub position_embedding_type: String,
    #[serde(default)]
    pub model_type: String,
}

fn default_act() -> String {
    "gelu".into()
}
fn default_position_type() -> String {
    "absolute".into()
}

impl RobertaConfig {
    /// The hub `config.json` values of `xlm-roberta-base` / `xlm-roberta-large`.
    pub fn builtin(model_name: &str) -> Option<Self> {
        let (hidden, layers, heads, inter) = match model_name {
            "xlm-roberta-base" | "FacebookAI/xlm-roberta-base" => (768, 12, 12, 3072),
            "xlm-roberta-large" | "FacebookAI/xlm-roberta-large" => (1024, 24, 16, 4096),
            _ => return None,
        };
        Some(Self {
            vocab_size: 250_002,
            hidden_size: hidden,
            num_hidden_layers: layers,
            num_attention_heads: heads,
            intermediate_size: inter,
            max_position_embeddings: 514,
            type_vocab_size: 1,
            layer_norm_eps: 1e-5,
            pad_token_id: 1,
            hidden_act: "gelu".into(),
            position_embedding_type: "absolute".into(),
            model_type: "xlm-roberta".into(),
        })
    }

    /// Parse a transformers `config.json` (as JSON text) and check what the port can run.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, String> {
        let c: Self = serde_json::from_value(value.clone())
            .map_err(|e| format!("text_hf_config is not a RoBERTa-style config: {e}"))?;
        c.validate()?;
        Ok(c)
    }

    fn validate(&self) -> Result<(), String> {
        if !matches!(self.model_type.as_str(), "xlm-roberta" | "roberta" | "") {
            return Err(format!(
                "text_hf_config.model_type {:?} is not supported; only (XLM-)RoBERTa encoders are",
                self.model_type
            ));
        }
        if self.hidden_act != "gelu" {
            return Err(format!(
                "text_hf_config.hidden_act {:?} is not supported; only \"gelu\" is",
                self.hidden_act
            ));
        }
        if self.position_embedding_type != "absolute" {
            return Err(format!(
                "text_hf_config.position_embedding_type {:?} is not supported; only \"absolute\" is",
                self.position_embedding_type
            ));
        }
        let h = self.hidden_size;
        if h == 0
            || self.num_attention_heads == 0
            || !h.is_multiple_of(self.num_attention_heads)
            || self.num_hidden_layers == 0
            || self.intermediate_size == 0
            || self.type_vocab_size == 0
            || self.vocab_size == 0
        {
            return Err(format!(
                "text_hf_config needs positive sizes with hidden_size ({h}) a multiple of \
                 num_attention_heads ({})",
                self.num_attention_heads
            ));
        }
        let big = |what: &str, v: usize, max: usize| {
            if v > max {
                Err(format!(
                    "text_hf_config.{what} {v} is absurd (at most {max})"
                ))
            } else {
                Ok(())
            }
        };
        big("hidden_size", h, 1 << 16)?;
        big("intermediate_size", self.intermediate_size, 1 << 18)?;
        big("num_hidden_layers", self.num_hidden_layers, 1024)?;
        big("vocab_size", self.vocab_size, 1 << 24)?;
        big(
            "max_position_embeddings",
            self.max_position_embeddings,
            1 << 16,
        )?;
        big("type_vocab_size", self.type_vocab_size, 1 << 10)?;
        if (self.pad_token_id as usize) >= self.vocab_size {
            return Err(format!(
                "text_hf_config.pad_token_id {} is outside the vocabulary of {}",
                self.pad_token_id, self.vocab_size
            ));
        }
        if !(self.layer_norm_eps > 0.0 && self.layer_norm_eps < 1.0) {
            return Err(format!(
                "text_hf_config.layer_norm_eps {} is not a small positive number",
                self.layer_norm_eps
            ));
        }
        Ok(())
    }
}

/// open_clip's `HFTextEncoder` settings plus the encoder shape.
#[derive(Debug, Clone, PartialEq)]
pub struct HfTextConfig {
    pub model_name: String,
    /// `hf_tokenizer_name` (a hub name; Kestrel reads a local `tokenizer.json` instead).
    pub tokenizer_name: Option<String>,
    pub pooler: HfPooler,
    pub proj: HfProj,
    /// What the tokenizer pads and truncates to (`context_length`, else 77).
    pub context_length: usize,
    /// The encoder's shape; `None` when neither the config nor the built-in table knows it.
    pub encoder: Option<RobertaConfig>,
}

/// The raw `text_cfg` fields of a Hugging Face tower.
pub(crate) struct RawHfText {
    pub model_name: String,
    pub tokenizer_name: Option<String>,
    pub pooler_type: Option<String>,
    /// `None` = JSON `null`; absent = open_clip's default `"mlp"`.
    pub proj_type: Option<String>,
    pub proj_bias: bool,
    pub context_length: Option<usize>,
}

impl HfTextConfig {
    pub(crate) fn from_raw(raw: RawHfText) -> Result<Self, String> {
        let pooler = match raw.pooler_type.as_deref() {
            Some("mean_pooler") => HfPooler::Mean,
            Some("cls_last_hidden_state_pooler") => HfPooler::ClsLastHiddenState,
            Some("cls_pooler") => HfPooler::Cls,
            // open_clip's CLIPTextCfg default.
            None => HfPooler::Mean,
            // open_clip 3.3.0's MaxPooler hands `masked_fill` the int64 attention mask, which
            // torch refuses, so no open_clip model can have run (or been trained) with it;
            // guessing the intended function would make up results.
            Some("max_pooler") => {
                return Err("text_cfg.hf_pooler_type \"max_pooler\" is not supported: \
                     open_clip's MaxPooler cannot run (it passes an int64 mask to masked_fill, \
                     which torch refuses), so there is no reference to match; mean_pooler, \
                     cls_pooler and cls_last_hidden_state_pooler are"
                    .into());
            }
            Some(other) => {
                return Err(format!(
                    "text_cfg.hf_pooler_type {other:?} is not supported; \
                     mean_pooler, cls_pooler and cls_last_hidden_state_pooler are"
                ));
            }
        };
        let bias = raw.proj_bias;
        let proj = match raw.proj_type.as_deref() {
            Some("mlp") => HfProj::Mlp { bias },
            Some("linear") => HfProj::Linear { bias },
            None => HfProj::Identity,
            Some(other) => {
                return Err(format!(
                    "text_cfg.hf_proj_type {other:?} is not supported; mlp, linear and null are"
                ));
            }
        };
        let context_length = raw.context_length.unwrap_or(HF_DEFAULT_CONTEXT_LENGTH);
        if !(2..=8192).contains(&context_length) {
            return Err(format!(
                "text_cfg.context_length {context_length} must be between 2 and 8192"
            ));
        }
        Ok(Self {
            encoder: RobertaConfig::builtin(&raw.model_name),
            model_name: raw.model_name,
            tokenizer_name: raw.tokenizer_name,
            pooler,
            proj,
            context_length,
        })
    }

    /// The encoder shape or an error saying how to provide it.
    pub fn encoder(&self) -> Result<&RobertaConfig, String> {
        self.encoder.as_ref().ok_or_else(|| {
            format!(
                "the Hugging Face text model {:?} has no known shape: put its transformers \
                 config.json as text_hf_config.json beside the open_clip config",
                self.model_name
            )
        })
    }

    /// Hidden width of the MLP projection (open_clip: `(d_model + embed_dim) // 2`).
    pub fn mlp_hidden(d_model: usize, embed_dim: usize) -> usize {
        (d_model + embed_dim) / 2
    }
}

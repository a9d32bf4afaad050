//! open_clip model configurations: parsing (serde), validation into a typed [`ClipConfig`],
//! and the built-in Llama3-MS-CLIP default.
//!
//! Two JSON shapes are accepted:
//! - the wrapped form written next to MS-CLIP checkpoints,
//!   `{"model_cfg": {...}, "in_channels": 10, "preprocess_cfg": {...}}`;
//! - a plain open_clip model config (`model_configs/*.json`),
//!   `{"embed_dim", "vision_cfg", "text_cfg", "quick_gelu"?}`.
//!
//! Towers that open_clip can build but this port cannot yet (the ModifiedResNet vision tower
//! of RN50-style configs, timm towers, Hugging Face text towers) parse into their own enum
//! variants, so a config for them is recognised and rejected with a clear message when a
//! model is built, instead of being misread as a ViT.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::load::hf_text::{HfTextConfig, RawHfText, RobertaConfig};

/// The transformers `config.json` of a Hugging Face text tower, looked for beside the
/// open_clip config (see [`crate::load::hf_text`]).
pub const TEXT_HF_CONFIG_FILE: &str = "text_hf_config.json";

/// The Llama3-MS-CLIP configuration (= `../shared/oracle/full/open_clip_config.json`).
pub const LLAMA3_MS_CLIP_CONFIG_JSON: &str = r#"{
  "model_cfg": {
    "embed_dim": 512,
    "vision_cfg": {"image_size": 224, "layers": 12, "width": 768, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 512, "heads": 8, "layers": 12}
  },
  "in_channels": 10,
  "preprocess_cfg": {
    "bands": ["B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12"],
    "mean": [925.161, 1183.128, 1338.041, 1667.254, 2233.633, 2460.96, 2555.569, 2619.542, 2406.497, 1841.645],
    "std": [1205.586, 1223.713, 1399.638, 1403.298, 1378.513, 1434.924, 1491.141, 1454.089, 1473.248, 1365.08],
    "image_size": 224,
    "interpolation": "bicubic",
    "resize_mode": "shortest"
  }
}"#;

/// Name shown for the built-in default model.
pub const LLAMA3_MS_CLIP_NAME: &str = "Llama3-MS-CLIP-Base";

/// Errors reading or interpreting a model configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read model config {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("model config {path} is not valid JSON for an open_clip config: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("model config {path}: {problem}")]
    Invalid { path: PathBuf, problem: String },
}

/// A tower the config describes that Kestrel cannot run yet.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UnsupportedTower {
    #[error(
        "the ModifiedResNet (RN50-style, layers {layers:?}, width {width}) vision tower has no ViT shape"
    )]
    ModifiedResNet { layers: Vec<usize>, width: usize },
    #[error("the vision tower is a ViT, not a ModifiedResNet")]
    NotResNet,
    #[error("timm vision towers ({0}) are not supported; only open_clip ViTs are")]
    Timm(String),
    #[error(
        "Hugging Face text towers ({0}) are not supported yet; only open_clip's causal text transformer is"
    )]
    HuggingFace(String),
}

/// Activation used in the MLP of every residual block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// Exact GELU, `0.5·x·(1 + erf(x/√2))` (open_clip's default).
    Gelu,
    /// `x·sigmoid(1.702·x)` (OpenAI CLIP weights, RemoteCLIP); `"quick_gelu": true`.
    QuickGelu,
}

/// Vision tower variants open_clip configs can describe.
#[derive(Debug, Clone, PartialEq)]
pub enum VisionTowerConfig {
    /// Pre-LN ViT with class token.
    Vit(VitConfig),
    /// OpenAI's ModifiedResNet with attention pooling (RN50 and friends: `layers` is a list).
    ModifiedResNet(ResNetConfig),
    /// A timm backbone (`timm_model_name`).
    Timm { model_name: String },
}

/// Text tower variants open_clip configs can describe.
#[derive(Debug, Clone, PartialEq)]
pub enum TextTowerConfig {
    /// open_clip's causal text transformer (the only one implemented).
    Transformer(TextConfig),
    /// A Hugging Face encoder (`hf_model_name`, e.g. XLM-RoBERTa in RS-M-CLIP).
    HuggingFace(HfTextConfig),
}

/// Shape of a ViT image tower.
#[derive(Debug, Clone, PartialEq)]
pub struct VitConfig {
    pub image_size: usize,
    pub patch_size: usize,
    pub width: usize,
    pub layers: usize,
    pub heads: usize,
    pub mlp_width: usize,
}

impl VitConfig {
    /// Patches per side.
    pub fn grid(&self) -> usize {
        self.image_size / self.patch_size
    }
    /// Tokens per image (patches plus the class token).
    pub fn tokens(&self) -> usize {
        self.grid() * self.grid() + 1
    }
}

/// Shape of a ModifiedResNet image tower (open_clip `ModifiedResNet`): a 3-conv stem of
/// `width/2, width/2, width` channels, four stages of Bottleneck blocks (`layers[i]` each, with
/// `width·2^i` planes, expansion 4), and attention pooling over the `image_size/32` grid.
#[derive(Debug, Clone, PartialEq)]
pub struct ResNetConfig {
    pub image_size: usize,
    /// Blocks per stage (4 stages).
    pub layers: Vec<usize>,
    /// Stem width (64 for RN50).
    pub width: usize,
    /// Attention-pool heads: `width·32 / head_width` as open_clip computes them.
    pub heads: usize,
}

impl ResNetConfig {
    /// Channels of the last stage = the attention pool's width (`width·32`).
    pub fn feature_dim(&self) -> usize {
        self.width * 32
    }
    /// Side of the final feature grid (`image_size / 32`).
    pub fn grid(&self) -> usize {
        self.image_size / 32
    }
}

/// Shape of the causal text transformer.
#[derive(Debug, Clone, PartialEq)]
pub struct TextConfig {
    pub context_length: usize,
    pub vocab_size: usize,
    pub width: usize,
    pub heads: usize,
    pub layers: usize,
    pub mlp_width: usize,
}

/// How image pixels become the model's input tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct PreprocessConfig {
    /// Band names in model input order (e.g. `B02`…`B12`); empty when the config gives none.
    pub bands: Vec<String>,
    /// Per-band mean, rounded to f32 as torchvision does.
    pub mean: Vec<f32>,
    /// Per-band standard deviation, rounded to f32.
    pub std: Vec<f32>,
    pub image_size: usize,
    pub interpolation: Interpolation,
    /// What the pixel values are.
    pub pixels: PixelScale,
}

/// What a model's input pixels are, which decides the resampler and the scaling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelScale {
    /// Physical values (MS-CLIP: harmonised L2A DN), resampled in f32 as torchvision does on
    /// tensors and normalised as they are.
    Reflectance,
    /// 8-bit RGB (open_clip's PIL path: PIL's uint8 resampler, then `/255`, then mean/std);
    /// `preprocess_cfg.mode "RGB"`, or 3 channels without band names.
    Rgb8,
}

/// Resize kernel (always antialiased, as torchvision's `Resize(antialias=True)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interpolation {
    Bicubic,
    Bilinear,
}

/// A validated model configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipConfig {
    /// Display name (file stem of the config, or the built-in name).
    pub name: String,
    pub embed_dim: usize,
    pub in_channels: usize,
    pub activation: Activation,
    pub vision: VisionTowerConfig,
    pub text: TextTowerConfig,
    /// How images become the input; a config without `preprocess_cfg` gets open_clip's RGB
    /// default (3 channels) or the Llama3-MS-CLIP constants (10 channels), with a note.
    /// `None` for other channel counts, which no default fits.
    pub preprocess: Option<PreprocessConfig>,
    /// What the parser filled in or assumed (also logged as warnings), for the caller to show.
    pub notes: Vec<String>,
}

impl ClipConfig {
    /// The built-in Llama3-MS-CLIP (ViT-B/16, 10 bands) configuration.
    pub fn llama3_ms_clip() -> Self {
        // The constant is covered by a unit test; parsing it cannot fail at run time.
        match Self::from_json_str(LLAMA3_MS_CLIP_CONFIG_JSON, Path::new("<built-in>")) {
            Ok(mut c) => {
                c.name = LLAMA3_MS_CLIP_NAME.to_owned();
                c
            }
            Err(e) => unreachable!("built-in config is invalid: {e}"),
        }
    }

    /// Read and validate a config file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let io = |source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        };
        // Reading a FIFO would block until someone writes to it.
        kestrel_base::paths::check_regular_file(path).map_err(io)?;
        let text = std::fs::read_to_string(path).map_err(io)?;
        let mut cfg = Self::from_json_str(&text, path)?;
        let beside = path.with_file_name(TEXT_HF_CONFIG_FILE);
        if cfg.hf_text().is_some() && beside.is_file() {
            let hf_io = |source| ConfigError::Io {
                path: beside.clone(),
                source,
            };
            kestrel_base::paths::check_regular_file(&beside).map_err(hf_io)?;
            let text = std::fs::read_to_string(&beside).map_err(hf_io)?;
            let value: Value = serde_json::from_str(&text).map_err(|source| ConfigError::Json {
                path: beside.clone(),
                source,
            })?;
            cfg.set_text_hf_config(&value)
                .map_err(|problem| ConfigError::Invalid {
                    path: beside.clone(),
                    problem,
                })?;
        }
        if let Some(stem) = path.file_stem().and_then(|s| s.to_str())
            && stem != "open_clip_config"
        {
            cfg.name = stem.to_owned();
        }
        Ok(cfg)
    }

    /// Parse and validate config JSON; `path` is only used in messages.
    pub fn from_json_str(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let root: Value = serde_json::from_str(text).map_err(|source| ConfigError::Json {
            path: path.to_path_buf(),
            source,
        })?;
        let invalid = |problem: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            problem,
        };
        let json_err = |source| ConfigError::Json {
            path: path.to_path_buf(),
            source,
        };
        let (model_value, in_channels, preprocess_value) = match root.get("model_cfg") {
            Some(m) => (
                m.clone(),
                root.get("in_channels").cloned(),
                root.get("preprocess_cfg").cloned(),
            ),
            None => (root.clone(), root.get("in_channels").cloned(), None),
        };
        let raw: RawModelCfg = serde_json::from_value(model_value).map_err(json_err)?;
        let in_channels = match in_channels {
            None | Some(Value::Null) => 3,
            Some(v) => v.as_u64().filter(|&n| n > 0).ok_or_else(|| {
                invalid(format!("in_channels must be a positive integer, got {v}"))
            })? as usize,
        };
        let activation = if raw.quick_gelu {
            Activation::QuickGelu
        } else {
            Activation::Gelu
        };
        if raw.embed_dim == 0 {
            return Err(invalid("embed_dim must be positive".into()));
        }
        within("embed_dim", raw.embed_dim, MAX_WIDTH).map_err(invalid)?;
        within("in_channels", in_channels, MAX_CHANNELS).map_err(invalid)?;
        let vision = raw.vision_cfg.into_tower().map_err(invalid)?;
        let mut text = raw.text_cfg.into_tower().map_err(invalid)?;
        if let TextTowerConfig::HuggingFace(h) = &mut text {
            if let Some(v) = root.get("text_hf_config").filter(|v| !v.is_null()) {
                h.encoder = Some(RobertaConfig::from_json(v).map_err(invalid)?);
            }
            if let Some(enc) = &h.encoder {
                check_hf_proj(h, enc, raw.embed_dim).map_err(invalid)?;
            }
        }
        let preprocess = match preprocess_value {
            None | Some(Value::Null) => None,
            Some(v) => {
                let raw: RawPreprocessCfg = serde_json::from_value(v).map_err(json_err)?;
                Some(raw.validate(in_channels).map_err(invalid)?)
            }
        };
        let tower_size = match &vision {
            VisionTowerConfig::Vit(v) => Some(v.image_size),
            VisionTowerConfig::ModifiedResNet(r) => Some(r.image_size),
            VisionTowerConfig::Timm { .. } => None,
        };
        let mut notes = Vec::new();
        let preprocess = match (preprocess, tower_size) {
            (Some(p), _) => Some(p),
            (None, Some(size)) => default_preprocess(in_channels, size, &mut notes),
            (None, None) => None,
        };
        if let (Some(p), Some(size)) = (&preprocess, tower_size)
            && p.image_size != size
        {
            return Err(invalid(format!(
                "preprocess_cfg.image_size {} is not the vision tower's input size \
                 (vision_cfg.image_size {size})",
                p.image_size
            )));
        }
        for n in &notes {
            log::warn!("model config {}: {n}", path.display());
        }
        Ok(Self {
            name: "open_clip model".to_owned(),
            embed_dim: raw.embed_dim,
            in_channels,
            activation,
            vision,
            text,
            preprocess,
            notes,
        })
    }

    /// The ViT shape, or an error naming the unsupported tower.
    pub fn vit(&self) -> Result<&VitConfig, UnsupportedTower> {
        match &self.vision {
            VisionTowerConfig::Vit(v) => Ok(v),
            VisionTowerConfig::ModifiedResNet(r) => Err(UnsupportedTower::ModifiedResNet {
                layers: r.layers.clone(),
                width: r.width,
            }),
            VisionTowerConfig::Timm { model_name } => {
                Err(UnsupportedTower::Timm(model_name.clone()))
            }
        }
    }

    /// The ModifiedResNet shape, or an error naming the tower it is instead.
    pub fn resnet(&self) -> Result<&ResNetConfig, UnsupportedTower> {
        match &self.vision {
            VisionTowerConfig::ModifiedResNet(r) => Ok(r),
            VisionTowerConfig::Vit(_) => Err(UnsupportedTower::NotResNet),
            VisionTowerConfig::Timm { model_name } => {
                Err(UnsupportedTower::Timm(model_name.clone()))
            }
        }
    }

    /// The image tower's input side in pixels (`None` for timm towers).
    pub fn image_size(&self) -> Option<usize> {
        match &self.vision {
            VisionTowerConfig::Vit(v) => Some(v.image_size),
            VisionTowerConfig::ModifiedResNet(r) => Some(r.image_size),
            VisionTowerConfig::Timm { .. } => None,
        }
    }

    /// The text transformer shape, or an error naming the unsupported tower.
    pub fn text_transformer(&self) -> Result<&TextConfig, UnsupportedTower> {
        match &self.text {
            TextTowerConfig::Transformer(t) => Ok(t),
            TextTowerConfig::HuggingFace(h) => {
                Err(UnsupportedTower::HuggingFace(h.model_name.clone()))
            }
        }
    }

    /// The Hugging Face text tower's settings, when the config has one.
    pub fn hf_text(&self) -> Option<&HfTextConfig> {
        match &self.text {
            TextTowerConfig::HuggingFace(h) => Some(h),
            TextTowerConfig::Transformer(_) => None,
        }
    }

    /// Give the Hugging Face text tower its encoder shape from a transformers `config.json`
    /// value (no-op for a CLIP text transformer).
    pub fn set_text_hf_config(&mut self, value: &Value) -> Result<(), String> {
        if let TextTowerConfig::HuggingFace(h) = &mut self.text {
            let enc = RobertaConfig::from_json(value)?;
            check_hf_proj(h, &enc, self.embed_dim)?;
            h.encoder = Some(enc);
        }
        Ok(())
    }
}

/// Bounds no open_clip model comes near; past them a config is a mistake or an attack, and
/// building its tensor list or random weights would exhaust memory.
const MAX_LAYERS: usize = 1024;
const MAX_WIDTH: usize = 1 << 16;
const MAX_IMAGE_SIZE: usize = 4096;
const MAX_CHANNELS: usize = 1024;
const MAX_CONTEXT: usize = 8192;
const MAX_VOCAB: usize = 1 << 24;

/// `Err` naming the field when `value` is over `max`.
fn within(what: &str, value: usize, max: usize) -> Result<(), String> {
    if value > max {
        Err(format!("{what} {value} is absurd (at most {max})"))
    } else {
        Ok(())
    }
}

#[derive(Debug, Deserialize)]
struct RawModelCfg {
    embed_dim: usize,
    vision_cfg: RawVisionCfg,
    text_cfg: RawTextCfg,
    #[serde(default)]
    quick_gelu: bool,
}

/// An int or a pair of equal ints (`image_size`, `patch_size` may be tuples in open_clip).
fn square_size(v: &Value, what: &str) -> Result<usize, String> {
    match v {
        Value::Number(n) => n
            .as_u64()
            .filter(|&n| n > 0)
            .map(|n| n as usize)
            .ok_or_else(|| format!("{what} must be a positive integer, got {v}")),
        Value::Array(a) if a.len() == 2 && a[0] == a[1] => square_size(&a[0], what),
        _ => Err(format!(
            "{what} {v} is not supported (only square sizes are)"
        )),
    }
}

#[derive(Debug, Deserialize)]
struct RawVisionCfg {
    layers: Value,
    width: usize,
    #[serde(default = "default_head_width")]
    head_width: usize,
    #[serde(default = "default_mlp_ratio")]
    mlp_ratio: f64,
    #[serde(default = "default_patch_size")]
    patch_size: Value,
    #[serde(default = "default_image_size")]
    image_size: Value,
    #[serde(default)]
    ls_init_value: Option<f64>,
    #[serde(default)]
    attentional_pool: bool,
    #[serde(default)]
    pool_type: Option<String>,
    #[serde(default)]
    final_ln_after_pool: bool,
    #[serde(default)]
    no_ln_pre: bool,
    #[serde(default)]
    timm_model_name: Option<String>,
}

fn default_head_width() -> usize {
    64
}
fn default_mlp_ratio() -> f64 {
    4.0
}
fn default_patch_size() -> Value {
    Value::from(16)
}
fn default_image_size() -> Value {
    Value::from(224)
}
fn default_hf_proj_type() -> Option<String> {
    Some("mlp".to_owned())
}

/// open_clip builds no projection only when `d_model == embed_dim`.
fn check_hf_proj(h: &HfTextConfig, enc: &RobertaConfig, embed_dim: usize) -> Result<(), String> {
    if h.proj == crate::load::hf_text::HfProj::Identity && enc.hidden_size != embed_dim {
        return Err(format!(
            "text_cfg.hf_proj_type is null but the text width {} is not embed_dim {embed_dim}",
            enc.hidden_size
        ));
    }
    Ok(())
}

fn default_context_length() -> usize {
    77
}
fn default_vocab_size() -> usize {
    49408
}
fn default_text_width() -> usize {
    512
}
fn default_text_heads() -> usize {
    8
}
fn default_text_layers() -> usize {
    12
}

impl RawVisionCfg {
    fn into_tower(self) -> Result<VisionTowerConfig, String> {
        if let Some(model_name) = self.timm_model_name {
            return Ok(VisionTowerConfig::Timm { model_name });
        }
        let layers =
            match &self.layers {
                Value::Array(list) => {
                    let layers = list
                        .iter()
                        .map(|v| v.as_u64().map(|n| n as usize))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| {
                            format!("vision_cfg.layers {} is not a list of ints", self.layers)
                        })?;
                    return self.into_resnet(layers);
                }
                v => v.as_u64().filter(|&n| n > 0).ok_or_else(|| {
                    format!("vision_cfg.layers must be a positive integer, got {v}")
                })? as usize,
            };
        let unsupported =
            |what: &str| Err(format!("vision_cfg.{what} is not supported by this port"));
        if self.ls_init_value.is_some() {
            return unsupported("ls_init_value (layer scale)");
        }
        if self.attentional_pool {
            return unsupported("attentional_pool");
        }
        if self.pool_type.as_deref().is_some_and(|p| p != "tok") {
            return unsupported("pool_type other than \"tok\"");
        }
        if self.final_ln_after_pool {
            return unsupported("final_ln_after_pool");
        }
        if self.no_ln_pre {
            return unsupported("no_ln_pre");
        }
        within("vision_cfg.layers", layers, MAX_LAYERS)?;
        within("vision_cfg.width", self.width, MAX_WIDTH)?;
        let image_size = square_size(&self.image_size, "vision_cfg.image_size")?;
        within("vision_cfg.image_size", image_size, MAX_IMAGE_SIZE)?;
        let patch_size = square_size(&self.patch_size, "vision_cfg.patch_size")?;
        if image_size % patch_size != 0 {
            return Err(format!(
                "vision_cfg.image_size {image_size} is not a multiple of patch_size {patch_size}"
            ));
        }
        if self.width == 0 || self.head_width == 0 || !self.width.is_multiple_of(self.head_width) {
            return Err(format!(
                "vision_cfg.width {} is not a positive multiple of head_width {}",
                self.width, self.head_width
            ));
        }
        Ok(VisionTowerConfig::Vit(VitConfig {
            image_size,
            patch_size,
            width: self.width,
            layers,
            heads: self.width / self.head_width,
            mlp_width: mlp_width(self.width, self.mlp_ratio, "vision_cfg")?,
        }))
    }
}

impl RawVisionCfg {
    /// open_clip's `_build_vision_tower` for a list of layers: `ModifiedResNet` with
    /// `heads = width·32 // head_width`.
    fn into_resnet(self, layers: Vec<usize>) -> Result<VisionTowerConfig, String> {
        if layers.len() != 4 || layers.contains(&0) {
            return Err(format!(
                "vision_cfg.layers {layers:?} must list 4 positive block counts (ModifiedResNet)"
            ));
        }
        for l in &layers {
            within("vision_cfg.layers[i]", *l, MAX_LAYERS)?;
        }
        within("vision_cfg.width", self.width, MAX_WIDTH / 32)?;
        if self.width < 2 || !self.width.is_multiple_of(2) {
            return Err(format!(
                "vision_cfg.width {} must be even and at least 2 (ModifiedResNet stem)",
                self.width
            ));
        }
        let image_size = square_size(&self.image_size, "vision_cfg.image_size")?;
        within("vision_cfg.image_size", image_size, MAX_IMAGE_SIZE)?;
        if !image_size.is_multiple_of(32) {
            return Err(format!(
                "vision_cfg.image_size {image_size} is not a multiple of 32 (ModifiedResNet)"
            ));
        }
        let features = self.width * 32;
        if self.head_width == 0 || !features.is_multiple_of(self.head_width) {
            return Err(format!(
                "vision_cfg.head_width {} does not divide the attention pool width {features}",
                self.head_width
            ));
        }
        Ok(VisionTowerConfig::ModifiedResNet(ResNetConfig {
            image_size,
            layers,
            width: self.width,
            heads: features / self.head_width,
        }))
    }
}

/// open_clip's default image preprocessing when a config has no `preprocess_cfg`: OpenAI
/// mean/std on 8-bit RGB for 3 channels; for 10 channels the Llama3-MS-CLIP constants (the
/// only 10-band family). Each fallback leaves a note.
fn default_preprocess(
    in_channels: usize,
    image_size: usize,
    notes: &mut Vec<String>,
) -> Option<PreprocessConfig> {
    match in_channels {
        3 => Some(PreprocessConfig {
            bands: Vec::new(),
            mean: OPENAI_MEAN.iter().map(|&m| m as f32).collect(),
            std: OPENAI_STD.iter().map(|&s| s as f32).collect(),
            image_size,
            interpolation: Interpolation::Bicubic,
            pixels: PixelScale::Rgb8,
        }),
        10 => {
            let mut p = ClipConfig::llama3_ms_clip().preprocess?;
            p.image_size = image_size;
            notes.push(
                "no preprocess_cfg: using the Llama3-MS-CLIP band order, mean and std for the \
                 10 input bands"
                    .to_owned(),
            );
            Some(p)
        }
        _ => None,
    }
}

/// OpenAI CLIP's RGB mean (open_clip `OPENAI_DATASET_MEAN`, as written there).
pub const OPENAI_MEAN: [f64; 3] = [0.48145466, 0.4578275, 0.40821073];
/// OpenAI CLIP's RGB std (open_clip `OPENAI_DATASET_STD`).
pub const OPENAI_STD: [f64; 3] = [0.26862954, 0.26130258, 0.27577711];

fn mlp_width(width: usize, ratio: f64, section: &str) -> Result<usize, String> {
    let w = width as f64 * ratio;
    if !(w >= 1.0 && w.is_finite() && w <= (4 * MAX_WIDTH) as f64) {
        return Err(format!("{section}.mlp_ratio {ratio} is not usable"));
    }
    Ok(w as usize)
}

#[derive(Debug, Deserialize)]
struct RawTextCfg {
    #[serde(default = "default_context_length")]
    context_length: usize,
    #[serde(default = "default_vocab_size")]
    vocab_size: usize,
    #[serde(default = "default_text_width")]
    width: usize,
    #[serde(default = "default_text_heads")]
    heads: usize,
    #[serde(default = "default_text_layers")]
    layers: usize,
    #[serde(default = "default_mlp_ratio")]
    mlp_ratio: f64,
    #[serde(default)]
    hf_model_name: Option<String>,
    #[serde(default)]
    hf_tokenizer_name: Option<String>,
    #[serde(default)]
    hf_pooler_type: Option<String>,
    /// Absent = open_clip's default `"mlp"`; `null` = no projection.
    #[serde(default = "default_hf_proj_type")]
    hf_proj_type: Option<String>,
    #[serde(default)]
    ls_init_value: Option<f64>,
    #[serde(default)]
    embed_cls: bool,
    #[serde(default)]
    no_causal_mask: bool,
    #[serde(default)]
    pool_type: Option<String>,
    #[serde(default)]
    proj_bias: bool,
    #[serde(default)]
    final_ln_after_pool: bool,
}

impl RawTextCfg {
    fn into_tower(self) -> Result<TextTowerConfig, String> {
        if let Some(model_name) = self.hf_model_name {
            return Ok(TextTowerConfig::HuggingFace(HfTextConfig::from_raw(
                RawHfText {
                    model_name,
                    tokenizer_name: self.hf_tokenizer_name,
                    pooler_type: self.hf_pooler_type,
                    proj_type: self.hf_proj_type,
                    proj_bias: self.proj_bias,
                    context_length: Some(self.context_length),
                },
            )?));
        }
        let unsupported =
            |what: &str| Err(format!("text_cfg.{what} is not supported by this port"));
        if self.ls_init_value.is_some() {
            return unsupported("ls_init_value (layer scale)");
        }
        if self.embed_cls {
            return unsupported("embed_cls");
        }
        if self.no_causal_mask {
            return unsupported("no_causal_mask");
        }
        if self.pool_type.as_deref().is_some_and(|p| p != "argmax") {
            return unsupported("pool_type other than \"argmax\"");
        }
        if self.proj_bias {
            return unsupported("proj_bias");
        }
        if self.final_ln_after_pool {
            return unsupported("final_ln_after_pool");
        }
        if self.width == 0 || self.heads == 0 || !self.width.is_multiple_of(self.heads) {
            return Err(format!(
                "text_cfg.width {} is not a positive multiple of heads {}",
                self.width, self.heads
            ));
        }
        if self.context_length < 2 || self.vocab_size == 0 || self.layers == 0 {
            return Err("text_cfg needs context_length >= 2, vocab_size > 0 and layers > 0".into());
        }
        within("text_cfg.layers", self.layers, MAX_LAYERS)?;
        within("text_cfg.width", self.width, MAX_WIDTH)?;
        within("text_cfg.context_length", self.context_length, MAX_CONTEXT)?;
        within("text_cfg.vocab_size", self.vocab_size, MAX_VOCAB)?;
        Ok(TextTowerConfig::Transformer(TextConfig {
            context_length: self.context_length,
            vocab_size: self.vocab_size,
            width: self.width,
            heads: self.heads,
            layers: self.layers,
            mlp_width: mlp_width(self.width, self.mlp_ratio, "text_cfg")?,
        }))
    }
}

#[derive(Debug, Deserialize)]
struct RawPreprocessCfg {
    #[serde(default)]
    bands: Vec<String>,
    mean: Vec<f64>,
    std: Vec<f64>,
    #[serde(default)]
    image_size: Option<usize>,
    /// open_clip's own key (`size`: an int or `[h, w]`).
    #[serde(default)]
    size: Option<Value>,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default = "default_interpolation")]
    interpolation: String,
    #[serde(default = "default_resize_mode")]
    resize_mode: String,
}

fn default_interpolation() -> String {
    "bicubic".into()
}
fn default_resize_mode() -> String {
    "shortest".into()
}

impl RawPreprocessCfg {
    fn validate(self, in_channels: usize) -> Result<PreprocessConfig, String> {
        if self.mean.len() != in_channels || self.std.len() != in_channels {
            return Err(format!(
                "preprocess_cfg has {} means and {} stds but the model takes {in_channels} channels",
                self.mean.len(),
                self.std.len()
            ));
        }
        if !self.bands.is_empty() && self.bands.len() != in_channels {
            return Err(format!(
                "preprocess_cfg names {} bands but the model takes {in_channels} channels",
                self.bands.len()
            ));
        }
        if self.std.iter().any(|&s| s == 0.0 || !s.is_finite()) {
            return Err("preprocess_cfg.std must be finite and non-zero".into());
        }
        let interpolation = match self.interpolation.as_str() {
            "bicubic" => Interpolation::Bicubic,
            "bilinear" => Interpolation::Bilinear,
            other => {
                return Err(format!(
                    "preprocess_cfg.interpolation {other:?} is not supported (bicubic, bilinear)"
                ));
            }
        };
        if self.resize_mode != "shortest" {
            return Err(format!(
                "preprocess_cfg.resize_mode {:?} is not supported (only \"shortest\")",
                self.resize_mode
            ));
        }
        let image_size = match (self.image_size, &self.size) {
            (Some(s), _) => s,
            (None, Some(v)) => square_size(v, "preprocess_cfg.size")?,
            (None, None) => 224,
        };
        if image_size == 0 {
            return Err("preprocess_cfg.image_size must be positive".into());
        }
        within("preprocess_cfg.image_size", image_size, MAX_IMAGE_SIZE)?;
        let pixels = match self.mode.as_deref() {
            Some("RGB") => PixelScale::Rgb8,
            Some(other) => {
                return Err(format!(
                    "preprocess_cfg.mode {other:?} is not supported (only \"RGB\")"
                ));
            }
            None if in_channels == 3 && self.bands.is_empty() => PixelScale::Rgb8,
            None => PixelScale::Reflectance,
        };
        if self.mean.iter().any(|m| !m.is_finite()) {
            return Err("preprocess_cfg.mean must be finite".into());
        }
        Ok(PreprocessConfig {
            bands: self.bands.iter().map(|b| b.trim().to_uppercase()).collect(),
            mean: self.mean.iter().map(|&m| m as f32).collect(),
            std: self.std.iter().map(|&s| s as f32).collect(),
            image_size,
            interpolation,
            pixels,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_is_vit_b16_with_ten_bands() {
        let c = ClipConfig::llama3_ms_clip();
        assert_eq!(c.embed_dim, 512);
        assert_eq!(c.in_channels, 10);
        assert_eq!(c.activation, Activation::Gelu);
        let v = c.vit().unwrap();
        assert_eq!(
            (v.width, v.layers, v.heads, v.mlp_width),
            (768, 12, 12, 3072)
        );
        assert_eq!((v.grid(), v.tokens()), (14, 197));
        let t = c.text_transformer().unwrap();
        assert_eq!(
            (t.width, t.heads, t.layers, t.mlp_width),
            (512, 8, 12, 2048)
        );
        let p = c.preprocess.as_ref().unwrap();
        assert_eq!(p.bands[7], "B8A");
        assert_eq!(p.mean[0], 925.161_f32);
        assert_eq!(p.std[9], 1365.08_f32);
    }

    #[test]
    fn builtin_equals_shared_full_config() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/oracle/full/open_clip_config.json");
        if !p.exists() {
            eprintln!("skip: {} absent", p.display());
            return;
        }
        let mut c = ClipConfig::from_file(&p).unwrap();
        c.name = LLAMA3_MS_CLIP_NAME.into();
        assert_eq!(c, ClipConfig::llama3_ms_clip());
    }

    #[test]
    fn plain_open_clip_config_with_quick_gelu() {
        let j = r#"{"embed_dim": 512, "quick_gelu": true,
            "vision_cfg": {"image_size": 224, "layers": 12, "width": 768, "patch_size": 32},
            "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 512, "heads": 8, "layers": 12}}"#;
        let c = ClipConfig::from_json_str(j, Path::new("ViT-B-32-quickgelu.json")).unwrap();
        assert_eq!(c.activation, Activation::QuickGelu);
        assert_eq!(c.in_channels, 3);
        assert_eq!(c.vit().unwrap().tokens(), 50);
        // open_clip's default RGB preprocessing (OpenAI mean/std on 8-bit RGB).
        let p = c.preprocess.as_ref().unwrap();
        assert_eq!(p.pixels, PixelScale::Rgb8);
        assert_eq!(p.std, OPENAI_STD.map(|s| s as f32).to_vec());
    }

    #[test]
    fn tiny_head_width_gives_two_heads() {
        let j = r#"{"model_cfg": {"embed_dim": 32,
            "vision_cfg": {"image_size": 224, "layers": 2, "width": 64, "head_width": 32, "patch_size": 16},
            "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2}},
            "in_channels": 10}"#;
        let c = ClipConfig::from_json_str(j, Path::new("t.json")).unwrap();
        assert_eq!(c.vit().unwrap().heads, 2);
        assert_eq!(c.vit().unwrap().mlp_width, 256);
    }

    #[test]
    fn resnet_parses_and_hf_towers_are_rejected_clearly() {
        let j = r#"{"embed_dim": 1024, "quick_gelu": true,
            "vision_cfg": {"image_size": 224, "layers": [3, 4, 6, 3], "width": 64},
            "text_cfg": {"hf_model_name": "xlm-roberta-base", "hf_tokenizer_name": "xlm-roberta-base"}}"#;
        let c = ClipConfig::from_json_str(j, Path::new("RN50.json")).unwrap();
        let e = c.vit().unwrap_err().to_string();
        assert!(e.contains("ModifiedResNet"), "{e}");
        let r = c.resnet().unwrap();
        assert_eq!((r.heads, r.feature_dim(), r.grid()), (32, 2048, 7));
        let e = c.text_transformer().unwrap_err().to_string();
        assert!(e.contains("xlm-roberta-base"), "{e}");
    }

    #[test]
    fn bad_resnet_configs_name_the_field() {
        let cfg = |vision: &str| {
            format!(
                r#"{{"embed_dim": 32, "vision_cfg": {vision},
                "text_cfg": {{"width": 64, "heads": 2, "layers": 2}}}}"#
            )
        };
        let err = |v: &str| {
            ClipConfig::from_json_str(&cfg(v), Path::new("rn.json"))
                .unwrap_err()
                .to_string()
        };
        let e = err(r#"{"layers": [3, 4, 6], "width": 64}"#);
        assert!(e.contains("rn.json") && e.contains("must list 4"), "{e}");
        let e = err(r#"{"layers": [3, 4, 6, 3], "width": 64, "image_size": 200}"#);
        assert!(e.contains("not a multiple of 32"), "{e}");
        let e = err(r#"{"layers": [3, 4, 6, 3], "width": 64, "head_width": 48}"#);
        assert!(e.contains("head_width 48"), "{e}");
        let e = err(r#"{"layers": [3, 4, 6, 3], "width": 7}"#);
        assert!(e.contains("must be even"), "{e}");
    }

    #[test]
    fn bad_configs_name_the_file_and_problem() {
        let e = ClipConfig::from_json_str("{", Path::new("broken.json")).unwrap_err();
        assert!(e.to_string().contains("broken.json"), "{e}");
        let j = r#"{"model_cfg": {"embed_dim": 32,
            "vision_cfg": {"layers": 2, "width": 64, "head_width": 48},
            "text_cfg": {}}, "in_channels": 10}"#;
        let e = ClipConfig::from_json_str(j, Path::new("odd.json")).unwrap_err();
        assert!(e.to_string().contains("head_width 48"), "{e}");
        let j = r#"{"model_cfg": {"embed_dim": 32, "vision_cfg": {"layers": 2, "width": 64},
            "text_cfg": {}}, "in_channels": 4, "preprocess_cfg": {"mean": [1, 2], "std": [1, 2]}}"#;
        let e = ClipConfig::from_json_str(j, Path::new("pp.json")).unwrap_err();
        assert!(e.to_string().contains("4 channels"), "{e}");
    }

    #[test]
    fn absurd_sizes_are_refused_naming_the_field() {
        let cfg = |vision: &str, pre_size: &str| {
            format!(
                r#"{{"model_cfg": {{"embed_dim": 32, "vision_cfg": {vision},
                "text_cfg": {{"width": 64, "heads": 2, "layers": 2}}}}, "in_channels": 1,
                "preprocess_cfg": {{"mean": [1], "std": [2], "image_size": {pre_size}}}}}"#
            )
        };
        let err = |j: String| {
            ClipConfig::from_json_str(&j, Path::new("absurd.json"))
                .unwrap_err()
                .to_string()
        };
        let e = err(cfg(r#"{"layers": 1000000000, "width": 64}"#, "224"));
        assert_eq!(
            e,
            "model config absurd.json: vision_cfg.layers 1000000000 is absurd (at most 1024)"
        );
        let e = err(cfg(r#"{"layers": 2, "width": 64}"#, "1000000"));
        assert_eq!(
            e,
            "model config absurd.json: preprocess_cfg.image_size 1000000 is absurd (at most 4096)"
        );
        let e = err(cfg(r#"{"layers": 2, "width": 64}"#, "448"));
        assert!(
            e.starts_with("model config absurd.json: preprocess_cfg.image_size 448 is not")
                && e.contains("vision_cfg.image_size 224"),
            "{e}"
        );
        let ok = ClipConfig::from_json_str(
            &cfg(r#"{"layers": 2, "width": 64}"#, "224"),
            Path::new("ok.json"),
        );
        assert!(ok.is_ok(), "{ok:?}");
    }
}

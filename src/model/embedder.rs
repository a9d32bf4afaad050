//! The facade the CLI, the search pipeline and the UI use: a loaded model with its
//! tokenizer, config, device and checkpoint hash, answering "embed these tiles", "embed
//! this query", "build a zero-shot classifier".
//!
//! Loading (find or download the weights, hash, read and validate the checkpoint) and
//! inference are blocking; call them on worker threads. An `Embedder` is `Send + Sync` and
//! is shared behind an `Arc`.

use std::path::{Path, PathBuf};

use super::ModelError;
use super::checkpoint::{self, Checkpoint};
use super::clip::{ClipModel, Kernels, normalized_rows};
use super::config::{ClipConfig, PreprocessConfig};
use super::device::{self, DevicePreference, Precision};
use super::hub;
use super::tokenizer::ClipTokenizer;
use super::zeroshot::{Classifier, TemplateSet, class_vector, prompts_for};
use crate::jobs::{CancelToken, ProgressSink};

/// Which model to load and where to run it.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSpec {
    /// A local checkpoint; `None` = the Llama3-MS-CLIP weights from the Hugging Face cache,
    /// downloaded when missing.
    pub checkpoint: Option<PathBuf>,
    /// open_clip config; `None` = `open_clip_config.json` next to the checkpoint, else the
    /// built-in Llama3-MS-CLIP config.
    pub config: Option<PathBuf>,
    pub device: DevicePreference,
    pub precision: Precision,
}

impl Default for ModelSpec {
    fn default() -> Self {
        Self {
            checkpoint: None,
            config: None,
            device: DevicePreference::Auto,
            precision: Precision::F32,
        }
    }
}

/// A ready model.
pub struct Embedder {
    model: ClipModel,
    tokenizer: ClipTokenizer,
    config: ClipConfig,
    preprocess: PreprocessConfig,
    checkpoint_path: PathBuf,
    checkpoint_sha256: String,
    device_reason: String,
}

/// The config for a checkpoint: explicit, next to it, or the built-in default.
pub fn resolve_config(
    checkpoint: &Path,
    explicit: Option<&Path>,
) -> Result<ClipConfig, ModelError> {
    if let Some(p) = explicit {
        return Ok(ClipConfig::from_file(p)?);
    }
    if let Some(dir) = checkpoint.parent() {
        let beside = dir.join("open_clip_config.json");
        if beside.is_file() {
            return Ok(ClipConfig::from_file(&beside)?);
        }
    }
    Ok(ClipConfig::llama3_ms_clip())
}

impl Embedder {
    /// Find (or download), hash, validate and load the model.
    pub fn load(
        spec: &ModelSpec,
        progress: &dyn ProgressSink,
        cancel: &CancelToken,
    ) -> Result<Self, ModelError> {
        let path = match &spec.checkpoint {
            Some(p) => p.clone(),
            None => {
                hub::resolve_or_download(&hub::HubOptions::llama3_ms_clip()?, progress, cancel)?
            }
        };
        let config = resolve_config(&path, spec.config.as_deref())?;
        let preprocess = config.preprocess.clone().ok_or_else(|| {
            ModelError::Unsupported(format!(
                "the config of {} does not say which bands and normalisation the model takes (preprocess_cfg)",
                path.display()
            ))
        })?;
        let (device, device_reason) = device::select_device(spec.device)?;
        let dtype = device::check_precision(&device, spec.precision)?;
        let checkpoint_sha256 = checkpoint::checkpoint_sha256(&path, progress, cancel)?;
        let ck = Checkpoint::open(&path)?;
        let weights = ck.load(&config, &device, dtype, progress, cancel)?;
        let model = ClipModel::new(&config, &weights, Kernels::Auto)?;
        let tokenizer = ClipTokenizer::new()
            .and_then(|t| {
                t.with_context_length(
                    config
                        .text_transformer()
                        .map(|t| t.context_length)
                        .unwrap_or(77),
                )
            })
            .map_err(|e| ModelError::Internal(format!("tokenizer: {e}")))?;
        Ok(Self {
            model,
            tokenizer,
            config,
            preprocess,
            checkpoint_path: path,
            checkpoint_sha256,
            device_reason,
        })
    }

    pub fn config(&self) -> &ClipConfig {
        &self.config
    }

    pub fn preprocess(&self) -> &PreprocessConfig {
        &self.preprocess
    }

    pub fn tokenizer(&self) -> &ClipTokenizer {
        &self.tokenizer
    }

    pub fn clip(&self) -> &ClipModel {
        &self.model
    }

    /// Name shown to users and written into exports: the config name and the checkpoint file.
    pub fn model_name(&self) -> String {
        let file = self
            .checkpoint_path
            .file_name()
            .map_or_else(String::new, |f| f.to_string_lossy().into_owned());
        format!("{} ({file})", self.config.name)
    }

    pub fn checkpoint_path(&self) -> &Path {
        &self.checkpoint_path
    }

    pub fn checkpoint_sha256(&self) -> &str {
        &self.checkpoint_sha256
    }

    /// Which device runs the model and why it was chosen.
    pub fn device_description(&self) -> &str {
        &self.device_reason
    }

    pub fn embed_dim(&self) -> usize {
        self.config.embed_dim
    }

    /// L2-normalised embeddings of `n` preprocessed images (`n × C × S × S`).
    pub fn embed_images(&self, pixels: &[f32], n: usize) -> Result<Vec<Vec<f32>>, ModelError> {
        normalized_rows(&self.model.encode_images(pixels, n)?)
    }

    /// Token ids and L2-normalised embeddings of texts (templates, class prompts: long texts
    /// are truncated as open_clip does).
    pub fn embed_texts(&self, texts: &[&str]) -> Result<Vec<(Vec<u32>, Vec<f32>)>, ModelError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let ids = self.tokenizer.encode_batch(texts);
        let rows: Vec<&[u32]> = ids.iter().map(Vec::as_slice).collect();
        let emb = normalized_rows(&self.model.encode_token_ids(&rows)?)?;
        Ok(ids.into_iter().zip(emb).collect())
    }

    /// A user's search query: refused when empty or longer than the model reads, never
    /// silently truncated. Returns the L2-normalised embedding.
    pub fn embed_query(&self, text: &str) -> Result<Vec<f32>, ModelError> {
        let ids = self
            .tokenizer
            .encode_query(text)
            .map_err(|e| ModelError::Input(e.to_string()))?;
        let emb = normalized_rows(&self.model.encode_token_ids(&[&ids])?)?;
        emb.into_iter()
            .next()
            .ok_or_else(|| ModelError::Internal("no text embedding".into()))
    }

    /// The zero-shot classifier of `classes` with a template set (mean of normalised
    /// prompt embeddings, renormalised).
    pub fn classifier(
        &self,
        classes: &[String],
        templates: TemplateSet,
    ) -> Result<Classifier, ModelError> {
        if classes.is_empty() {
            return Err(ModelError::Input("no class names given".into()));
        }
        let mut vectors = Vec::with_capacity(classes.len());
        for c in classes {
            if c.trim().is_empty() {
                return Err(ModelError::Input("a class name is empty".into()));
            }
            let prompts = prompts_for(c, templates.templates());
            let refs: Vec<&str> = prompts.iter().map(String::as_str).collect();
            let emb: Vec<Vec<f32>> = self
                .embed_texts(&refs)?
                .into_iter()
                .map(|(_, e)| e)
                .collect();
            vectors.push(class_vector(&emb));
        }
        Ok(Classifier {
            classes: classes.to_vec(),
            vectors,
        })
    }
}

impl crate::search::index::TileEmbedder for Embedder {
    fn preprocess_config(&self) -> &PreprocessConfig {
        &self.preprocess
    }
    fn embed_tiles(&self, pixels: &[f32], n: usize) -> Result<Vec<Vec<f32>>, String> {
        self.embed_images(pixels, n).map_err(|e| e.to_string())
    }
    fn model_name(&self) -> String {
        Embedder::model_name(self)
    }
    fn checkpoint_sha256(&self) -> String {
        self.checkpoint_sha256.clone()
    }
    fn embed_dim(&self) -> usize {
        self.config.embed_dim
    }
}

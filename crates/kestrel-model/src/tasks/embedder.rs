//! The facade the search and UI code use: [`Embedder`] owns the model, tokenizer, config and
//! device, and turns preprocessed image batches and texts into L2-normalised embeddings and
//! class names into zero-shot classifiers.
//!
//! Thread ownership: an `Embedder` is built and used on one long-lived inference worker
//! (loading takes seconds and inference is CPU/GPU bound); it is `Send` so the worker can own it.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::ModelError;
use crate::clip::{ClipModel, Kernels, normalized_rows};
use crate::device::{DevicePreference, Precision, check_precision, select_device};
use crate::load::checkpoint::{Checkpoint, checkpoint_sha256, checkpoint_sha256_cached};
use crate::load::config::{ClipConfig, LLAMA3_MS_CLIP_NAME};
use crate::load::hub::{HubOptions, LLAMA3_MS_CLIP_FILE, resolve_or_download};
use crate::tasks::preprocess::{self, RawImage};
use crate::tasks::zeroshot::{Classifier, TemplateSet, class_vector, prompts_for};
use crate::tokenize::TextTokenizer;
use crate::tokenize::bpe::ClipTokenizer;
use crate::tokenize::hf::HfTokenizer;
use kestrel_base::jobs::{CancelToken, NoProgress, ProgressSink};

/// Texts are encoded in batches of this many (each batch is cut at its longest prompt).
const TEXT_BATCH: usize = 64;

/// What to load and where to run it.
#[derive(Debug, Clone, Default)]
pub struct ModelSpec {
    /// Checkpoint file; `None` = the Llama3-MS-CLIP weights from the Hugging Face cache
    /// (downloaded when missing).
    pub checkpoint: Option<PathBuf>,
    /// open_clip config; `None` = `open_clip_config.json` next to the checkpoint, else the
    /// built-in Llama3-MS-CLIP config.
    pub config: Option<PathBuf>,
    pub device: DevicePreference,
    pub precision: Precision,
    /// Hub location; `None` = from the environment.
    pub hub: Option<HubOptions>,
    pub kernels: Kernels,
    /// BPE vocabulary file; `None` = the copy compiled into Kestrel.
    pub vocab: Option<PathBuf>,
    /// Hugging Face `tokenizer.json` for a model with a Hugging Face text tower
    /// (`hf_tokenizer_name`, e.g. `xlm-roberta-base`'s file for RS-M-CLIP); `None` =
    /// `tokenizer.json` beside the checkpoint.
    pub tokenizer: Option<PathBuf>,
    /// Where the checkpoint's sha256 is remembered; `None` = Kestrel's cache root.
    pub cache_root: Option<PathBuf>,
}

/// A text with its token ids and normalised embedding.
#[derive(Debug, Clone, PartialEq)]
pub struct TextEmbedding {
    pub text: String,
    /// The context-length id row (start, token ids, end, padding).
    pub ids: Vec<u32>,
    pub embedding: Vec<f32>,
    /// Set when the text was empty or truncated (see [`crate::tokenize::Tokenized::warning`]).
    pub warning: Option<String>,
}

pub struct Embedder {
    model: ClipModel,
    tokenizer: TextTokenizer,
    checkpoint: PathBuf,
    name: String,
    device_note: String,
    from_hub: bool,
    sha256: OnceLock<String>,
    cache_root: Option<PathBuf>,
    precision: Precision,
}

/// The config to use with a checkpoint when none is given.
pub fn config_for(checkpoint: &Path, explicit: Option<&Path>) -> Result<ClipConfig, ModelError> {
    if let Some(p) = explicit {
        return Ok(ClipConfig::from_file(p)?);
    }
    let beside = checkpoint.with_file_name("open_clip_config.json");
    if beside.is_file() {
        return Ok(ClipConfig::from_file(&beside)?);
    }
    Ok(ClipConfig::llama3_ms_clip())
}

/// The tokenizer `config` asks for: open_clip's BPE (`spec.vocab` or the built-in
/// vocabulary) for the CLIP text transformer, a Hugging Face `tokenizer.json`
/// (`spec.tokenizer`, else `tokenizer.json` beside the checkpoint) for a Hugging Face tower.
pub fn tokenizer_for(
    config: &ClipConfig,
    spec: &ModelSpec,
    checkpoint: &Path,
) -> Result<TextTokenizer, ModelError> {
    let input = |e: crate::tokenize::bpe::TokenizerError| ModelError::Input(e.to_string());
    let Some(hf) = config.hf_text() else {
        if let Some(p) = &spec.tokenizer {
            return Err(ModelError::Input(format!(
                "the tokenizer {} is for models with a Hugging Face text tower; this model \
                 uses open_clip's BPE tokenizer (give its vocabulary with --vocab)",
                p.display()
            )));
        }
        let t = match &spec.vocab {
            Some(p) => ClipTokenizer::from_vocab_gz(p),
            None => ClipTokenizer::new(),
        }
        .map_err(input)?;
        return Ok(TextTokenizer::Clip(Box::new(t)));
    };
    let path = match &spec.tokenizer {
        Some(p) => p.clone(),
        None => {
            let beside = checkpoint.with_file_name("tokenizer.json");
            if !beside.is_file() {
                return Err(ModelError::Input(format!(
                    "the model's text tower uses the Hugging Face tokenizer {}: give its \
                     tokenizer.json with --tokenizer (none is beside {})",
                    hf.tokenizer_name.as_deref().unwrap_or(&hf.model_name),
                    checkpoint.display()
                )));
            }
            beside
        }
    };
    let t = HfTokenizer::from_file(&path, hf.context_length).map_err(input)?;
    if let Some(enc) = &hf.encoder {
        if t.pad_id() != enc.pad_token_id {
            return Err(ModelError::Input(format!(
                "the tokenizer {} pads with id {}, the text model with {}: it is not this \
                 model's tokenizer",
                path.display(),
                t.pad_id(),
                enc.pad_token_id
            )));
        }
        if t.vocab_size() > enc.vocab_size {
            return Err(ModelError::Input(format!(
                "the tokenizer {} has {} ids, the text model only {}: it is not this \
                 model's tokenizer",
                path.display(),
                t.vocab_size(),
                enc.vocab_size
            )));
        }
    }
    Ok(TextTokenizer::Hf(Box::new(t)))
}

impl Embedder {
    /// Resolve the checkpoint (downloading it if needed), pick the device, validate and load.
    pub fn load(
        spec: &ModelSpec,
        progress: &dyn ProgressSink,
        cancel: &CancelToken,
    ) -> Result<Self, ModelError> {
        let (checkpoint, from_hub) = match &spec.checkpoint {
            Some(p) => (p.clone(), false),
            None => {
                let opts = match &spec.hub {
                    Some(o) => o.clone(),
                    None => HubOptions::llama3_ms_clip()?,
                };
                (resolve_or_download(&opts, progress, cancel)?, true)
            }
        };
        let config = config_for(&checkpoint, spec.config.as_deref())?;
        let tokenizer = tokenizer_for(&config, spec, &checkpoint)?;
        let (device, mut device_note) = select_device(spec.device)?;
        if device.is_cpu() {
            device_note.push_str(&format!("; CPU kernels: {}", crate::nn::isa::detected()));
        }
        let (precision, auto_note) = spec.precision.resolve(&device);
        if let Some(n) = auto_note {
            device_note.push_str(&format!("; {n}"));
        }
        let dtype = check_precision(&device, precision)?;
        let ck = Checkpoint::open(&checkpoint)?;
        let weights = ck.load(&config, &device, dtype, progress, cancel)?;
        let model = ClipModel::new(&config, &weights, spec.kernels)?;
        let name = if from_hub
            || checkpoint.file_name().and_then(|n| n.to_str()) == Some(LLAMA3_MS_CLIP_FILE)
        {
            LLAMA3_MS_CLIP_NAME.to_owned()
        } else {
            checkpoint
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| config.name.clone())
        };
        Ok(Self {
            model,
            tokenizer,
            checkpoint,
            name,
            device_note,
            from_hub,
            sha256: OnceLock::new(),
            cache_root: spec.cache_root.clone(),
            precision,
        })
    }

    pub fn model(&self) -> &ClipModel {
        &self.model
    }
    pub fn config(&self) -> &ClipConfig {
        self.model.config()
    }
    pub fn model_name(&self) -> &str {
        &self.name
    }
    /// The precision the towers compute in (what `spec.precision` asked for, `auto`
    /// resolved).
    pub fn precision(&self) -> Precision {
        self.precision
    }

    pub fn embed_dim(&self) -> usize {
        self.model.config().embed_dim
    }
    pub fn checkpoint_path(&self) -> &Path {
        &self.checkpoint
    }
    /// Whether the weights came from the Hugging Face cache (show the licence notice then).
    pub fn from_hub(&self) -> bool {
        self.from_hub
    }
    /// Whether the model runs on a GPU (then indexing wants more reader threads).
    pub fn on_gpu(&self) -> bool {
        !self.model.device().is_cpu()
    }
    /// Which device runs the model and why it was chosen.
    pub fn device_description(&self) -> &str {
        &self.device_note
    }
    pub fn tokenizer(&self) -> &TextTokenizer {
        &self.tokenizer
    }

    /// sha256 of the checkpoint file (computed once, cached beside it).
    pub fn checkpoint_sha256(&self) -> Result<String, ModelError> {
        if let Some(s) = self.sha256.get() {
            return Ok(s.clone());
        }
        let s = match &self.cache_root {
            Some(root) => checkpoint_sha256_cached(
                &self.checkpoint,
                Some(root),
                &NoProgress,
                &CancelToken::new(),
            )?,
            None => checkpoint_sha256(&self.checkpoint, &NoProgress, &CancelToken::new())?,
        };
        Ok(self.sha256.get_or_init(|| s).clone())
    }

    /// Preprocess a raw image for this model (band selection, resize, crop, normalisation).
    pub fn preprocess(&self, img: &RawImage) -> Result<Vec<f32>, ModelError> {
        let cfg = self.config();
        let pp = cfg.preprocess.as_ref().ok_or_else(|| {
            ModelError::Unsupported(
                "the model config has no preprocess_cfg (band list, mean, std)".into(),
            )
        })?;
        Ok(preprocess::preprocess(img, pp, cfg.in_channels)?)
    }

    /// Values one preprocessed image has (`C·S·S`).
    pub fn image_len(&self) -> usize {
        self.model.image_len()
    }

    /// L2-normalised embeddings of `n` preprocessed images packed in `batch`.
    pub fn embed_images(&self, batch: &[f32], n: usize) -> Result<Vec<Vec<f32>>, ModelError> {
        normalized_rows(&self.model.encode_images(batch, n)?)
    }

    /// Token ids and normalised embeddings of user queries, tokenized as open_clip does:
    /// an over-long text is truncated and an empty one embedded as it is, each with a
    /// [`TextEmbedding::warning`].
    pub fn embed_texts(&self, texts: &[&str]) -> Result<Vec<TextEmbedding>, ModelError> {
        let tokens = texts
            .iter()
            .map(|t| {
                self.tokenizer
                    .tokenize(t)
                    .map_err(|e| ModelError::Input(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let ids: Vec<Vec<u32>> = tokens.iter().map(|t| t.ids.clone()).collect();
        let emb = self.embed_id_rows(&ids)?;
        Ok(texts
            .iter()
            .zip(tokens)
            .zip(emb)
            .map(|((t, tok), embedding)| TextEmbedding {
                text: (*t).to_owned(),
                warning: tok.warning(),
                ids: tok.ids,
                embedding,
            })
            .collect())
    }

    /// The L2-normalised embedding of one user query (see [`Self::embed_texts`]).
    pub fn embed_query(&self, text: &str) -> Result<Vec<f32>, ModelError> {
        self.embed_texts(&[text])?
            .pop()
            .map(|t| t.embedding)
            .ok_or_else(|| ModelError::Internal("no embedding for the query".into()))
    }

    /// Normalised embeddings of id rows, in batches.
    pub fn embed_id_rows(&self, ids: &[Vec<u32>]) -> Result<Vec<Vec<f32>>, ModelError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(TEXT_BATCH) {
            let rows: Vec<&[u32]> = chunk.iter().map(Vec::as_slice).collect();
            out.extend(normalized_rows(&self.model.encode_token_ids(&rows)?)?);
        }
        Ok(out)
    }

    /// Zero-shot classifier for `classes` with the given templates (prompts are tokenized
    /// like open_clip's templates: cut to the context if too long).
    pub fn classifier(
        &self,
        classes: &[String],
        templates: TemplateSet,
    ) -> Result<Classifier, ModelError> {
        if classes.is_empty() {
            return Err(ModelError::Input("no class names given".into()));
        }
        let mut vectors = Vec::with_capacity(classes.len());
        for (i, c) in classes.iter().enumerate() {
            if c.trim().is_empty() {
                return Err(ModelError::Input(format!("class name {} is empty", i + 1)));
            }
            if classes[..i].contains(c) {
                return Err(ModelError::Input(format!("class {c:?} is given twice")));
            }
            let ids: Vec<Vec<u32>> = prompts_for(c, templates.templates())
                .iter()
                .map(|p| {
                    self.tokenizer
                        .tokenize(p)
                        .map(|t| t.ids)
                        .map_err(|e| ModelError::Input(e.to_string()))
                })
                .collect::<Result<_, _>>()?;
            vectors.push(class_vector(&self.embed_id_rows(&ids)?));
        }
        Ok(Classifier {
            classes: classes.to_vec(),
            vectors,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedder_can_move_to_and_be_shared_by_workers() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Embedder>();
        send_sync::<Classifier>();
    }

    #[test]
    fn config_comes_from_beside_the_checkpoint_else_builtin() {
        let dir = tempfile::tempdir().unwrap();
        let ck = dir.path().join("w.safetensors");
        assert_eq!(config_for(&ck, None).unwrap(), ClipConfig::llama3_ms_clip());
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/msclip_tiny/open_clip_config.json");
        std::fs::copy(&fixture, dir.path().join("open_clip_config.json")).unwrap();
        assert_eq!(config_for(&ck, None).unwrap().embed_dim, 32);
        let err = config_for(&ck, Some(&dir.path().join("nope.json")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("nope.json"), "{err}");
    }
}

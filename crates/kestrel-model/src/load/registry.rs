//! The released models Kestrel knows by name: where their files live on the Hugging Face hub,
//! which open_clip config and tokenizer they need, what input they take, their licence and
//! default prompt templates. A registry entry resolves to local files (downloaded on demand
//! through [`super::hub`], or already cached); a local checkpoint with `--config` /
//! `--tokenizer` never needs the registry.

use std::path::{Path, PathBuf};

use kestrel_base::atomic::{self, AtomicWriteError};
use kestrel_base::jobs::{CancelToken, ProgressSink};

use super::hub::{self, HubError, HubOptions};
use crate::tasks::zeroshot::TemplateSet;

/// What a model's image tower takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageInput {
    /// The 10 MS-CLIP Sentinel-2 bands (B02 B03 B04 B05 B06 B07 B08 B8A B11 B12), harmonised
    /// L2A reflectance × 10000, normalised with the config's per-band mean/std.
    Sentinel2TenBands,
    /// 8-bit RGB, as the photos RemoteCLIP and RS-M-CLIP were trained on (a Sentinel-2 scene
    /// goes through Kestrel's fixed true-colour mapping first).
    Rgb8,
}

impl ImageInput {
    pub fn describe(self) -> &'static str {
        match self {
            Self::Sentinel2TenBands => "10 Sentinel-2 bands (reflectance)",
            Self::Rgb8 => "8-bit RGB (true colour)",
        }
    }
}

/// Which tokenizer the text tower was trained with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenizerSource {
    /// open_clip's SimpleTokenizer with the BPE vocabulary compiled into Kestrel.
    OpenClipBpe,
    /// A Hugging Face `tokenizer.json` from a hub repository.
    HuggingFace {
        repo: &'static str,
        file: &'static str,
    },
}

/// Where the open_clip config comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// The config is compiled in (the repository has none, or it is a plain state dict).
    Builtin(&'static str),
    /// `open_clip_config.json` in the same hub repository as the checkpoint.
    HubFile(&'static str),
}

/// One released model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryEntry {
    /// The name used by `--model-id` and shown in the model picker.
    pub id: &'static str,
    pub family: &'static str,
    /// open_clip architecture name.
    pub arch: &'static str,
    pub repo: &'static str,
    /// Checkpoint file names to try, in order (the first that the hub has is used).
    pub checkpoint_files: &'static [&'static str],
    pub config: ConfigSource,
    pub tokenizer: TokenizerSource,
    pub input: ImageInput,
    pub licence: &'static str,
    pub templates: TemplateSet,
    /// Languages the text tower was trained on.
    pub languages: &'static [&'static str],
    /// Approximate checkpoint size, for the picker's "not downloaded" state.
    pub approx_bytes: u64,
}

/// RemoteCLIP was fine-tuned from OpenAI CLIP weights, which use QuickGELU; open_clip's plain
/// `RN50` / `ViT-B-32` / `ViT-L-14` configs (what the RemoteCLIP README builds) say GELU, the
/// mismatch open_clip issue 771 describes. The registry configs say `quick_gelu: true`.
const REMOTECLIP_RN50: &str = concat!(
    r#"{"model_cfg": {"embed_dim": 1024, "quick_gelu": true,
      "vision_cfg": {"image_size": 224, "layers": [3, 4, 6, 3], "width": 64, "patch_size": null},
      "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 512, "heads": 8, "layers": 12}},"#,
    r#""preprocess_cfg": {
    "mean": [0.48145466, 0.4578275, 0.40821073],
    "std": [0.26862954, 0.26130258, 0.27577711],
    "interpolation": "bicubic", "resize_mode": "shortest", "image_size": 224}}"#
);
const REMOTECLIP_VIT_B_32: &str = concat!(
    r#"{"model_cfg": {"embed_dim": 512, "quick_gelu": true,
      "vision_cfg": {"image_size": 224, "layers": 12, "width": 768, "patch_size": 32},
      "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 512, "heads": 8, "layers": 12}},"#,
    r#""preprocess_cfg": {
    "mean": [0.48145466, 0.4578275, 0.40821073],
    "std": [0.26862954, 0.26130258, 0.27577711],
    "interpolation": "bicubic", "resize_mode": "shortest", "image_size": 224}}"#
);
const REMOTECLIP_VIT_L_14: &str = concat!(
    r#"{"model_cfg": {"embed_dim": 768, "quick_gelu": true,
      "vision_cfg": {"image_size": 224, "layers": 24, "width": 1024, "patch_size": 14},
      "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 768, "heads": 12, "layers": 12}},"#,
    r#""preprocess_cfg": {
    "mean": [0.48145466, 0.4578275, 0.40821073],
    "std": [0.26862954, 0.26130258, 0.27577711],
    "interpolation": "bicubic", "resize_mode": "shortest", "image_size": 224}}"#
);

const REMOTECLIP_LICENCE: &str = "RemoteCLIP (Liu, Chen et al., IEEE TGRS 2024): the README states no \
licence; see the model card at huggingface.co/chendelong/RemoteCLIP before redistributing.";
const RSMCLIP_LICENCE: &str = "RS-M-CLIP (Silva, Magalhães, Tuia, Martins 2024): MIT licence \
(model card). Its text tower is XLM-RoBERTa-base (MIT).";

const ALL_LANGUAGES: &[&str] = &["en", "zh", "pt", "es", "fr", "de", "nl", "it", "ko", "ru"];

/// The five released models.
pub fn entries() -> &'static [RegistryEntry] {
    static ENTRIES: std::sync::OnceLock<Vec<RegistryEntry>> = std::sync::OnceLock::new();
    ENTRIES.get_or_init(|| {
        let remoteclip = |id, arch, file, config, bytes| RegistryEntry {
            id,
            family: "RemoteCLIP",
            arch,
            repo: "chendelong/RemoteCLIP",
            checkpoint_files: file,
            config: ConfigSource::Builtin(config),
            tokenizer: TokenizerSource::OpenClipBpe,
            input: ImageInput::Rgb8,
            licence: REMOTECLIP_LICENCE,
            templates: TemplateSet::Clip,
            languages: &["en"],
            approx_bytes: bytes,
        };
        vec![
            RegistryEntry {
                id: "llama3-ms-clip",
                family: "Llama3-MS-CLIP",
                arch: "ViT-B-16 (10 bands)",
                repo: hub::LLAMA3_MS_CLIP_REPO,
                checkpoint_files: &[hub::LLAMA3_MS_CLIP_FILE],
                config: ConfigSource::Builtin(""),
                tokenizer: TokenizerSource::OpenClipBpe,
                input: ImageInput::Sentinel2TenBands,
                licence: hub::LICENSE_SUMMARY,
                templates: TemplateSet::Msclip,
                languages: &["en"],
                approx_bytes: 604_000_000,
            },
            remoteclip(
                "remoteclip-rn50",
                "RN50",
                &["RemoteCLIP-RN50.pt"],
                REMOTECLIP_RN50,
                408_000_000,
            ),
            remoteclip(
                "remoteclip-vit-b-32",
                "ViT-B-32",
                &["RemoteCLIP-ViT-B-32.pt"],
                REMOTECLIP_VIT_B_32,
                605_000_000,
            ),
            remoteclip(
                "remoteclip-vit-l-14",
                "ViT-L-14",
                &["RemoteCLIP-ViT-L-14.pt"],
                REMOTECLIP_VIT_L_14,
                1_710_000_000,
            ),
            RegistryEntry {
                id: "rs-m-clip",
                family: "RS-M-CLIP",
                arch: "xlm-roberta-base-ViT-B-32",
                repo: "joaodaniel/RS-M-CLIP",
                checkpoint_files: &["open_clip_model.safetensors", "open_clip_pytorch_model.bin"],
                config: ConfigSource::HubFile("open_clip_config.json"),
                tokenizer: TokenizerSource::HuggingFace {
                    repo: "FacebookAI/xlm-roberta-base",
                    file: "tokenizer.json",
                },
                input: ImageInput::Rgb8,
                licence: RSMCLIP_LICENCE,
                templates: TemplateSet::Clip,
                languages: ALL_LANGUAGES,
                approx_bytes: 1_465_000_000,
            },
        ]
    })
}

/// Where the compiled-in configs are written for loading ([`RegistryEntry::files`]):
/// `configs/` under Kestrel's cache root.
pub fn config_dir(cache_root: &Path) -> PathBuf {
    cache_root.join("configs")
}

/// The entry with this id (case-insensitive; `_` and `-` are the same).
pub fn find(id: &str) -> Result<&'static RegistryEntry, RegistryError> {
    let norm = |s: &str| s.trim().to_ascii_lowercase().replace('_', "-");
    let want = norm(id);
    entries()
        .iter()
        .find(|e| norm(e.id) == want)
        .ok_or_else(|| RegistryError::Unknown {
            id: id.to_owned(),
            known: entries()
                .iter()
                .map(|e| e.id)
                .collect::<Vec<_>>()
                .join(", "),
        })
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("unknown model id {id:?} (known: {known}; `kestrel models` lists them)")]
    Unknown { id: String, known: String },
    #[error(transparent)]
    Hub(#[from] HubError),
    #[error("cannot write the built-in config of {id}")]
    Config {
        id: String,
        #[source]
        source: AtomicWriteError,
    },
}

/// Whether an entry's files are in the hub cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheState {
    /// Every file it needs is cached; the checkpoint's path.
    Cached(PathBuf),
    /// Some file is missing (the first missing one is named).
    NotDownloaded { missing: String },
}

/// The files an entry resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedModel {
    pub checkpoint: PathBuf,
    /// `None`: the built-in config of the entry ([`RegistryEntry::builtin_config_json`]).
    pub config: Option<PathBuf>,
    /// `None`: open_clip's BPE tokenizer built into Kestrel.
    pub tokenizer: Option<PathBuf>,
}

impl RegistryEntry {
    /// The name shown in the model picker: family and architecture.
    pub fn label(&self) -> String {
        format!("{} · {}", self.family, self.arch)
    }

    /// The compiled-in open_clip config JSON (`{"model_cfg", "preprocess_cfg"}`), when the
    /// entry has one; `Some("")` for Llama3-MS-CLIP means [`super::config::ClipConfig::llama3_ms_clip`].
    pub fn builtin_config_json(&self) -> Option<&'static str> {
        match self.config {
            ConfigSource::Builtin(s) => Some(s),
            ConfigSource::HubFile(_) => None,
        }
    }

    fn hub_file(&self, base: &HubOptions, repo: &str, file: &str) -> HubOptions {
        HubOptions {
            repo: repo.to_owned(),
            filename: file.to_owned(),
            ..base.clone()
        }
    }

    /// Every (repo, file) the entry needs besides the checkpoint.
    fn side_files(&self) -> Vec<(&'static str, &'static str)> {
        let mut v = Vec::new();
        if let ConfigSource::HubFile(f) = self.config {
            v.push((self.repo, f));
        }
        if let TokenizerSource::HuggingFace { repo, file } = self.tokenizer {
            v.push((repo, file));
        }
        v
    }

    /// What the hub cache holds of this entry (no network).
    pub fn cache_state(&self, base: &HubOptions) -> CacheState {
        let checkpoint = self
            .checkpoint_files
            .iter()
            .find_map(|f| self.hub_file(base, self.repo, f).cached());
        let Some(checkpoint) = checkpoint else {
            return CacheState::NotDownloaded {
                missing: format!("{}/{}", self.repo, self.checkpoint_files[0]),
            };
        };
        for (repo, file) in self.side_files() {
            if self.hub_file(base, repo, file).cached().is_none() {
                return CacheState::NotDownloaded {
                    missing: format!("{repo}/{file}"),
                };
            }
        }
        CacheState::Cached(checkpoint)
    }

    /// The files to load this entry from, for the viewer and every CLI command alike.
    ///
    /// With `local`, that checkpoint file (never downloaded); its config and tokenizer are
    /// the `open_clip_config.json` / `tokenizer.json` beside it when there are, else the
    /// entry's own (from the hub cache, downloaded if missing);
    /// else the hub cache, downloading what is missing ([`Self::resolve`]). A compiled-in
    /// config is written once to `config_dir/ID.json` (atomically; rewritten only when it
    /// changed) so it is loaded like any other config file.
    pub fn files(
        &self,
        local: Option<&Path>,
        base: &HubOptions,
        config_dir: &Path,
        progress: &dyn ProgressSink,
        cancel: &CancelToken,
    ) -> Result<ResolvedModel, RegistryError> {
        let mut files = match local {
            None => self.resolve(base, progress, cancel)?,
            Some(ck) => {
                let beside = |name: &str| {
                    let p = ck.with_file_name(name);
                    p.is_file().then_some(p)
                };
                let config = match self.config {
                    ConfigSource::HubFile(f) => match beside(f) {
                        Some(p) => Some(p),
                        None => Some(hub::resolve_or_download(
                            &self.hub_file(base, self.repo, f),
                            progress,
                            cancel,
                        )?),
                    },
                    ConfigSource::Builtin(_) => beside("open_clip_config.json"),
                };
                let tokenizer = match self.tokenizer {
                    TokenizerSource::OpenClipBpe => None,
                    TokenizerSource::HuggingFace { repo, file } => match beside("tokenizer.json") {
                        Some(p) => Some(p),
                        None => Some(hub::resolve_or_download(
                            &self.hub_file(base, repo, file),
                            progress,
                            cancel,
                        )?),
                    },
                };
                ResolvedModel {
                    checkpoint: ck.to_path_buf(),
                    config,
                    tokenizer,
                }
            }
        };
        if files.config.is_none()
            && let Some(json) = self.builtin_config_json().filter(|j| !j.is_empty())
        {
            let path = config_dir.join(format!("{}.json", self.id));
            if std::fs::read_to_string(&path).ok().as_deref() != Some(json) {
                let fail = |source| RegistryError::Config {
                    id: self.id.to_owned(),
                    source,
                };
                std::fs::create_dir_all(config_dir).map_err(|e| {
                    fail(AtomicWriteError {
                        path: config_dir.to_path_buf(),
                        source: e,
                    })
                })?;
                atomic::write_bytes_atomic(&path, json.as_bytes()).map_err(fail)?;
            }
            files.config = Some(path);
        }
        Ok(files)
    }

    /// The entry's files from the cache, downloading what is missing (progress per file,
    /// cancellable). Checkpoint candidates are tried in order; a 404 moves to the next.
    pub fn resolve(
        &self,
        base: &HubOptions,
        progress: &dyn ProgressSink,
        cancel: &CancelToken,
    ) -> Result<ResolvedModel, RegistryError> {
        // A cached candidate wins over downloading the first one.
        let mut checkpoint = self
            .checkpoint_files
            .iter()
            .find_map(|f| self.hub_file(base, self.repo, f).cached());
        let mut last_err = None;
        for f in self.checkpoint_files {
            if checkpoint.is_some() {
                break;
            }
            match hub::resolve_or_download(&self.hub_file(base, self.repo, f), progress, cancel) {
                Ok(p) => checkpoint = Some(p),
                // Not on the server (or not reachable): the next candidate name.
                Err(e @ HubError::Unreachable { .. }) if self.checkpoint_files.len() > 1 => {
                    last_err = Some(e)
                }
                Err(e) => return Err(e.into()),
            }
        }
        let checkpoint = match (checkpoint, last_err) {
            (Some(p), _) => p,
            (None, Some(e)) => return Err(e.into()),
            (None, None) => unreachable!("every entry names a checkpoint file"),
        };
        let mut config = None;
        if let ConfigSource::HubFile(f) = self.config {
            config = Some(hub::resolve_or_download(
                &self.hub_file(base, self.repo, f),
                progress,
                cancel,
            )?);
        }
        let mut tokenizer = None;
        if let TokenizerSource::HuggingFace { repo, file } = self.tokenizer {
            tokenizer = Some(hub::resolve_or_download(
                &self.hub_file(base, repo, file),
                progress,
                cancel,
            )?);
        }
        Ok(ResolvedModel {
            checkpoint,
            config,
            tokenizer,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::config::ClipConfig;
    use std::path::Path;

    #[test]
    fn five_models_with_distinct_ids() {
        let e = entries();
        assert_eq!(e.len(), 5);
        let mut ids: Vec<_> = e.iter().map(|e| e.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 5);
        assert_eq!(find("RemoteCLIP_ViT-B-32").unwrap().arch, "ViT-B-32");
        let err = find("clip").unwrap_err().to_string();
        assert!(
            err.contains("rs-m-clip") && err.contains("\"clip\""),
            "{err}"
        );
    }

    #[test]
    fn builtin_configs_parse_with_quick_gelu_and_clip_preprocessing() {
        for e in entries() {
            let Some(json) = e.builtin_config_json().filter(|j| !j.is_empty()) else {
                continue;
            };
            let c = ClipConfig::from_json_str(json, Path::new(e.id))
                .unwrap_or_else(|err| panic!("{}: {err}", e.id));
            assert_eq!(c.in_channels, 3, "{}", e.id);
            assert_eq!(
                c.activation,
                crate::load::config::Activation::QuickGelu,
                "{}",
                e.id
            );
            assert_eq!(c.preprocess.as_ref().map(|p| p.mean.len()), Some(3));
        }
    }

    #[test]
    fn hub_files_map_to_the_cache_layout() {
        let tmp = std::env::temp_dir().join(format!("kestrel-registry-{}", std::process::id()));
        let base = HubOptions {
            cache_dir: tmp.clone(),
            endpoint: "http://127.0.0.1:9".into(),
            offline: true,
            repo: String::new(),
            filename: String::new(),
            revision: "main".into(),
            token: None,
        };
        let rsm = find("rs-m-clip").unwrap();
        assert_eq!(
            rsm.cache_state(&base),
            CacheState::NotDownloaded {
                missing: "joaodaniel/RS-M-CLIP/open_clip_model.safetensors".into()
            }
        );
        // The second checkpoint name cached, the tokenizer not: the tokenizer is missing.
        let snap = tmp.join("models--joaodaniel--RS-M-CLIP/snapshots/abc");
        std::fs::create_dir_all(&snap).unwrap();
        std::fs::write(snap.join("open_clip_pytorch_model.bin"), b"x").unwrap();
        std::fs::write(snap.join("open_clip_config.json"), b"{}").unwrap();
        assert_eq!(
            rsm.cache_state(&base),
            CacheState::NotDownloaded {
                missing: "FacebookAI/xlm-roberta-base/tokenizer.json".into()
            }
        );
        let tok = tmp.join("models--FacebookAI--xlm-roberta-base/snapshots/def");
        std::fs::create_dir_all(&tok).unwrap();
        std::fs::write(tok.join("tokenizer.json"), b"{}").unwrap();
        assert_eq!(
            rsm.cache_state(&base),
            CacheState::Cached(snap.join("open_clip_pytorch_model.bin"))
        );
        let got = rsm
            .resolve(&base, &kestrel_base::jobs::NoProgress, &CancelToken::new())
            .unwrap();
        assert_eq!(got.config, Some(snap.join("open_clip_config.json")));
        assert_eq!(got.tokenizer, Some(tok.join("tokenizer.json")));
        // Offline and not cached: the hub's offline error, naming the file.
        let rn = find("remoteclip-rn50").unwrap();
        let err = rn
            .resolve(&base, &kestrel_base::jobs::NoProgress, &CancelToken::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("RemoteCLIP-RN50.pt"), "{err}");
        std::fs::remove_dir_all(&tmp).ok();
    }

    #[test]
    fn files_of_a_local_checkpoint_need_no_network() {
        let tmp = tempfile::tempdir().unwrap();
        let base = HubOptions {
            cache_dir: tmp.path().join("hub"),
            endpoint: "http://127.0.0.1:9".into(),
            offline: true,
            repo: String::new(),
            filename: String::new(),
            revision: "main".into(),
            token: None,
        };
        let configs = tmp.path().join("configs");
        let files = |id: &str, ck: &Path| {
            find(id).unwrap().files(
                Some(ck),
                &base,
                &configs,
                &kestrel_base::jobs::NoProgress,
                &CancelToken::new(),
            )
        };
        // RemoteCLIP: the built-in config (QuickGELU) is written once and used
        let ck = tmp.path().join("RemoteCLIP-ViT-B-32.pt");
        std::fs::write(&ck, b"x").unwrap();
        let got = files("remoteclip-vit-b-32", &ck).unwrap();
        let written = configs.join("remoteclip-vit-b-32.json");
        assert_eq!(got.checkpoint, ck);
        assert_eq!(got.config.as_deref(), Some(written.as_path()));
        assert_eq!(got.tokenizer, None);
        assert_eq!(
            std::fs::read_to_string(&written).unwrap(),
            REMOTECLIP_VIT_B_32
        );
        // a config beside the checkpoint wins
        std::fs::write(tmp.path().join("open_clip_config.json"), b"{}").unwrap();
        let got = files("remoteclip-vit-b-32", &ck).unwrap();
        assert_eq!(got.config, Some(tmp.path().join("open_clip_config.json")));
        // Llama3-MS-CLIP: no config file (the loader's built-in one, or the one beside)
        let alone = tempfile::tempdir().unwrap();
        let ms = alone.path().join("w.pt");
        std::fs::write(&ms, b"x").unwrap();
        assert_eq!(files("llama3-ms-clip", &ms).unwrap().config, None);
        // RS-M-CLIP: config and tokenizer beside it; without the tokenizer, offline, the
        // error names the hub file that is missing
        let rsm = tmp.path().join("rsm.safetensors");
        std::fs::write(&rsm, b"x").unwrap();
        let err = files("rs-m-clip", &rsm).unwrap_err().to_string();
        assert!(err.contains("tokenizer.json"), "{err}");
        std::fs::write(tmp.path().join("tokenizer.json"), b"{}").unwrap();
        let got = files("rs-m-clip", &rsm).unwrap();
        assert_eq!(got.tokenizer, Some(tmp.path().join("tokenizer.json")));
        assert_eq!(got.config, Some(tmp.path().join("open_clip_config.json")));
    }
}

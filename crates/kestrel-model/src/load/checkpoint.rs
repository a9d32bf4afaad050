//! Reading checkpoints into [`Weights`]: the released Llama3-MS-CLIP `.pt` (a torch zip whose
//! top folder is the file stem, holding `temperature` plus the CLIP tensors under three
//! prefixes that share storage) and plain open_clip `.safetensors` (memory-mapped).
//!
//! The tensor list is read first, one prefix is picked and stripped, and every tensor the
//! configuration needs is checked for presence and shape *before* anything is loaded, so a
//! wrong or foreign file fails fast with the first bad key and both shapes. Before candle
//! reads a `.pt`'s pickle, a scan of its opcodes bounds how deep and how many objects it
//! builds (candle builds and drops them recursively), and every tensor's stored bytes are
//! checked against its shape.
//!
//! Also the checkpoint's sha256 (the search index keys on it), streamed and cached in a small
//! sidecar keyed by file size and modification time.
//!
//! Runs on whichever thread loads the model (a worker, never the UI thread).

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use candle_core::{DType, Device};
use sha2::{Digest, Sha256};

use crate::ModelError;
use crate::load::config::{ClipConfig, TextTowerConfig, VisionTowerConfig};
use crate::load::weights::{Weights, expected_shapes, expected_tensor_count};
use kestrel_base::jobs::{CancelToken, Progress, ProgressSink};

/// Prefixes under which checkpoints store the open_clip tensors, most specific first.
/// `""` is a plain open_clip state dict; the next three are MS-CLIP's Lightning module
/// (`CLIPDualEncoderModel`), whose three prefixes hold the same tensors.
pub const KNOWN_PREFIXES: [&str; 6] = [
    "",
    "clip_base_model.model.",
    "image_encoder.model.",
    "text_encoder.model.",
    "model.",
    "module.",
];

/// Errors reading a checkpoint. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("cannot read checkpoint {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a model checkpoint: {reason}")]
    Foreign { path: PathBuf, reason: String },
    #[error("checkpoint {path} is damaged or truncated: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error(
        "checkpoint {path} does not fit the model config: tensor {key} is missing \
         ({found} of {expected} expected tensors present{prefix})"
    )]
    MissingKey {
        path: PathBuf,
        key: String,
        found: usize,
        expected: usize,
        prefix: String,
    },
    #[error(
        "checkpoint {path} does not fit the model config: the config needs {expected} tensors \
         (vision_cfg.layers {vision_layers}, text_cfg.layers {text_layers}) but the file holds \
         only {found}"
    )]
    TooFewTensors {
        path: PathBuf,
        expected: usize,
        found: usize,
        vision_layers: usize,
        text_layers: usize,
    },
    #[error(
        "checkpoint {path} does not fit the model config: tensor {key} has shape {found:?}, \
         expected {expected:?} (is the config the one the checkpoint was trained with?)"
    )]
    ShapeMismatch {
        path: PathBuf,
        key: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    #[error("checkpoint {path}: tensor {key} has dtype {dtype}, expected a float type")]
    Dtype {
        path: PathBuf,
        key: String,
        dtype: String,
    },
    #[error("cannot load tensor {key} from checkpoint {path}: {source}")]
    Load {
        path: PathBuf,
        key: String,
        #[source]
        source: Box<candle_core::Error>,
    },
}

/// On-disk layout of a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointFormat {
    /// `torch.save` zip archive (`.pt`, `.pth`, `.bin`, `.ckpt`).
    TorchZip,
    /// safetensors.
    Safetensors,
}

/// A checkpoint whose tensor list has been read (nothing loaded yet).
pub struct Checkpoint {
    path: PathBuf,
    format: CheckpointFormat,
    /// Tensor name → (shape, dtype).
    entries: HashMap<String, (Vec<usize>, DType)>,
    source: Source,
}

enum Source {
    Torch(candle_core::pickle::PthTensors),
    Safetensors(candle_core::safetensors::MmapedSafetensors),
}

/// What [`Checkpoint::validate`] found: the prefix to strip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub prefix: String,
    pub tensors: usize,
}

impl Checkpoint {
    /// Identify the file's format and read its tensor list.
    pub fn open(path: &Path) -> Result<Self, CheckpointError> {
        let format = sniff_format(path)?;
        let (entries, source) = match format {
            CheckpointFormat::TorchZip => open_torch(path)?,
            CheckpointFormat::Safetensors => open_safetensors(path)?,
        };
        Ok(Self {
            path: path.to_path_buf(),
            format,
            entries,
            source,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn format(&self) -> CheckpointFormat {
        self.format
    }

    /// Names and shapes of every tensor in the file.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &[usize])> {
        self.entries
            .iter()
            .map(|(k, (s, _))| (k.as_str(), s.as_slice()))
    }

    /// Pick the prefix holding the most expected tensors, then check every expected tensor
    /// is there with the right shape; the first problem is the error.
    pub fn validate(&self, cfg: &ClipConfig) -> Result<Layout, ModelError> {
        // Count first: a config asking for 10^9 layers must not build 10^10 tensor names.
        let needed = expected_tensor_count(cfg)?;
        if needed > self.entries.len() {
            // The tensors outside the blocks still say most about a wrong config (their
            // shapes); only when they fit is the layer count the error.
            let mut outside = cfg.clone();
            if let VisionTowerConfig::Vit(v) = &mut outside.vision {
                v.layers = 0;
            }
            match &mut outside.text {
                TextTowerConfig::Transformer(t) => t.layers = 0,
                TextTowerConfig::HuggingFace(h) => {
                    if let Some(e) = &mut h.encoder {
                        e.num_hidden_layers = 0;
                    }
                }
            }
            self.check_against(&expected_shapes(&outside)?)?;
            let layers = |r: Result<usize, _>| r.unwrap_or(0);
            return Err(CheckpointError::TooFewTensors {
                path: self.path.clone(),
                expected: needed,
                found: self.entries.len(),
                vision_layers: layers(
                    cfg.vit()
                        .map(|v| v.layers)
                        .or_else(|_| cfg.resnet().map(|r| r.layers.iter().sum())),
                ),
                text_layers: match cfg.hf_text() {
                    Some(h) => h.encoder.as_ref().map_or(0, |e| e.num_hidden_layers),
                    None => layers(cfg.text_transformer().map(|t| t.layers)),
                },
            }
            .into());
        }
        self.check_against(&expected_shapes(cfg)?)
    }

    /// The checks of [`Self::validate`] for a list of expected tensors.
    fn check_against(&self, expected: &[(String, Vec<usize>)]) -> Result<Layout, ModelError> {
        let count = |prefix: &str| {
            expected
                .iter()
                .filter(|(name, _)| self.entries.contains_key(&format!("{prefix}{name}")))
                .count()
        };
        let (prefix, found) = KNOWN_PREFIXES
            .iter()
            .map(|p| (*p, count(p)))
            .fold(("", 0), |best, cur| if cur.1 > best.1 { cur } else { best });
        for (name, shape) in expected {
            let key = format!("{prefix}{name}");
            match self.entries.get(&key) {
                None => {
                    return Err(CheckpointError::MissingKey {
                        path: self.path.clone(),
                        key,
                        found,
                        expected: expected.len(),
                        prefix: if prefix.is_empty() {
                            String::new()
                        } else {
                            format!(" under prefix {prefix:?}")
                        },
                    }
                    .into());
                }
                Some((s, dtype)) => {
                    if s != shape {
                        return Err(CheckpointError::ShapeMismatch {
                            path: self.path.clone(),
                            key,
                            expected: shape.clone(),
                            found: s.clone(),
                        }
                        .into());
                    }
                    if !dtype.is_float() {
                        return Err(CheckpointError::Dtype {
                            path: self.path.clone(),
                            key,
                            dtype: format!("{dtype:?}"),
                        }
                        .into());
                    }
                }
            }
        }
        Ok(Layout {
            prefix: prefix.to_owned(),
            tensors: expected.len(),
        })
    }

    /// Validate, then load every tensor `cfg` needs onto `device` as `dtype`.
    pub fn load(
        &self,
        cfg: &ClipConfig,
        device: &Device,
        dtype: DType,
        progress: &dyn ProgressSink,
        cancel: &CancelToken,
    ) -> Result<Weights, ModelError> {
        let layout = self.validate(cfg)?;
        let expected = expected_shapes(cfg)?;
        let started = std::time::Instant::now();
        let mut tensors = HashMap::with_capacity(expected.len());
        for (i, (name, _)) in expected.iter().enumerate() {
            cancel.check()?;
            let key = format!("{}{name}", layout.prefix);
            let load_err = |source| CheckpointError::Load {
                path: self.path.clone(),
                key: key.clone(),
                source: Box::new(source),
            };
            let t =
                match &self.source {
                    Source::Torch(pth) => pth.get(&key).map_err(load_err)?.ok_or_else(|| {
                        CheckpointError::Corrupt {
                            path: self.path.clone(),
                            reason: format!("tensor {key} is listed but cannot be read"),
                        }
                    })?,
                    Source::Safetensors(st) => st.load(&key, &Device::Cpu).map_err(load_err)?,
                };
            let t = t
                .to_dtype(dtype)
                .and_then(|t| t.to_device(device))
                .map_err(load_err)?;
            tensors.insert(name.clone(), t);
            progress.report(&Progress {
                label: "loading weights".into(),
                done: i as u64 + 1,
                total: expected.len() as u64,
                elapsed_secs: started.elapsed().as_secs_f64(),
            });
        }
        Ok(Weights::new(tensors, device.clone(), dtype))
    }
}

fn sniff_format(path: &Path) -> Result<CheckpointFormat, CheckpointError> {
    let io = |source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    };
    // Opening a FIFO would block until someone writes to it.
    kestrel_base::paths::check_regular_file(path).map_err(io)?;
    let mut f = File::open(path).map_err(io)?;
    let len = f.metadata().map_err(io)?.len();
    let mut head = [0u8; 9];
    let n = read_up_to(&mut f, &mut head).map_err(io)?;
    let head = &head[..n];
    if head.starts_with(b"PK\x03\x04") {
        return Ok(CheckpointFormat::TorchZip);
    }
    if head.len() == 9 && head[8] == b'{' {
        let header_len = u64::from_le_bytes([
            head[0], head[1], head[2], head[3], head[4], head[5], head[6], head[7],
        ]);
        if header_len.saturating_add(8) > len {
            return Err(CheckpointError::Corrupt {
                path: path.to_path_buf(),
                reason: format!(
                    "safetensors header claims {header_len} bytes but the file has {len}"
                ),
            });
        }
        return Ok(CheckpointFormat::Safetensors);
    }
    let reason = if len == 0 {
        "the file is empty".to_owned()
    } else if head.first() == Some(&0x80) {
        "it is a legacy (non-zip) torch pickle; re-save it with a current torch.save or as \
         safetensors"
            .to_owned()
    } else {
        "expected a PyTorch zip archive (.pt) or a safetensors file".to_owned()
    };
    Err(CheckpointError::Foreign {
        path: path.to_path_buf(),
        reason,
    })
}

fn read_up_to(f: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

type Entries = HashMap<String, (Vec<usize>, DType)>;

fn open_torch(path: &Path) -> Result<(Entries, Source), CheckpointError> {
    let corrupt = |e: candle_core::Error| CheckpointError::Corrupt {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let corrupt_reason = |reason: String| CheckpointError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let file = File::open(path).map_err(|source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|e| corrupt_reason(e.to_string()))?;
    // candle's reader builds the pickle's objects recursively (and drops them so): refuse a
    // hostile nesting or size before handing the file over.
    let pickles: Vec<String> = zip
        .file_names()
        .filter_map(Result::ok)
        .filter(|n| n.ends_with("data.pkl"))
        .map(|n| n.into_owned())
        .collect();
    for name in &pickles {
        let entry = zip
            .by_name(name)
            .map_err(|e| corrupt_reason(format!("{name}: {e}")))?;
        let mut bytes = Vec::new();
        entry
            .take(MAX_PICKLE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| corrupt_reason(format!("{name}: {e}")))?;
        if bytes.len() as u64 > MAX_PICKLE_BYTES {
            return Err(corrupt_reason(format!(
                "its pickle {name} is over {} MiB, far more than a state dict needs",
                MAX_PICKLE_BYTES >> 20
            )));
        }
        scan_pickle(&bytes).map_err(|why| corrupt_reason(format!("its pickle {name} {why}")))?;
    }
    let mut pth = candle_core::pickle::PthTensors::new(path, None).map_err(corrupt)?;
    if pth.tensor_infos().is_empty() {
        // Lightning .ckpt files keep the weights under "state_dict".
        if let Ok(inner) = candle_core::pickle::PthTensors::new(path, Some("state_dict")) {
            pth = inner;
        }
    }
    if pth.tensor_infos().is_empty() {
        return Err(CheckpointError::Foreign {
            path: path.to_path_buf(),
            reason: "the zip archive holds no PyTorch tensors (no data.pkl state dict)".into(),
        });
    }
    // A tensor whose stored data is shorter than its shape says (a file cut inside its data
    // and re-zipped, or a crafted one): say so now, not "failed to fill whole buffer" at
    // load time.
    for (key, info) in pth.tensor_infos() {
        let needed = info.layout.start_offset() as u64
            + (info.layout.shape().elem_count() * info.dtype.size_in_bytes()) as u64;
        let stored = zip.by_name(&info.path).map(|e| e.size()).map_err(|e| {
            corrupt_reason(format!(
                "the data of tensor {key} ({}) is missing from the archive: {e}",
                info.path
            ))
        })?;
        if stored < needed {
            return Err(corrupt_reason(format!(
                "tensor {key} {:?} needs {needed} bytes but {} holds {stored}: the file is \
                 truncated",
                info.layout.dims(),
                info.path
            )));
        }
    }
    let entries = pth
        .tensor_infos()
        .iter()
        .map(|(k, info)| (k.clone(), (info.layout.dims().to_vec(), info.dtype)))
        .collect();
    Ok((entries, Source::Torch(pth)))
}

/// Deepest object nesting a checkpoint pickle may have (a state dict is about 6 deep).
const MAX_PICKLE_DEPTH: u32 = 256;
/// Most objects building a checkpoint pickle may create, clones of memoised objects
/// included (a 300-tensor state dict creates a few thousand).
const MAX_PICKLE_OBJECTS: u64 = 5_000_000;
/// Largest `data.pkl` read (the released Llama3-MS-CLIP's is 60 kB).
const MAX_PICKLE_BYTES: u64 = 256 << 20;

/// Walk a pickle's opcodes as candle's reader does, tracking only how deep and how large
/// each object on the stack would be, and refuse the pickle when an object would nest more
/// than [`MAX_PICKLE_DEPTH`] deep or the objects (memo clones included) outnumber
/// [`MAX_PICKLE_OBJECTS`]. Anything candle itself rejects (unknown opcodes, an empty
/// stack, a missing memo entry, a cut-off stream) is left for candle to report.
fn scan_pickle(bytes: &[u8]) -> Result<(), String> {
    /// A stack slot: `None` is a mark, else (depth, objects).
    type Slot = Option<(u32, u64)>;
    let mut stack: Vec<Slot> = Vec::new();
    let mut memo: HashMap<u32, (u32, u64)> = HashMap::new();
    let mut objects = 0u64;
    let mut pos = 0usize;
    let atom: Slot = Some((1, 1));
    // Combine children into one new object.
    let parent = |children: &[Slot]| -> (u32, u64) {
        children.iter().flatten().fold((1, 1), |(d, n), (cd, cn)| {
            (d.max(cd.saturating_add(1)), n.saturating_add(*cn))
        })
    };
    let check = |slot: (u32, u64), objects: u64| -> Result<(), String> {
        if slot.0 > MAX_PICKLE_DEPTH {
            Err(format!(
                "nests objects more than {MAX_PICKLE_DEPTH} deep; a state dict never does, \
                 so it is refused"
            ))
        } else if objects > MAX_PICKLE_OBJECTS {
            Err(format!(
                "builds more than {MAX_PICKLE_OBJECTS} objects; a state dict never does, so \
                 it is refused"
            ))
        } else {
            Ok(())
        }
    };
    macro_rules! take {
        ($n:expr) => {{
            let n: usize = $n;
            match bytes.get(pos..pos.saturating_add(n)) {
                Some(b) => {
                    pos += n;
                    b
                }
                None => return Ok(()), // cut off: candle reports it
            }
        }};
    }
    let pop_to_mark = |stack: &mut Vec<Slot>| -> Option<Vec<Slot>> {
        let mark = stack.iter().rposition(Option::is_none)?;
        let items = stack.split_off(mark + 1);
        stack.pop();
        Some(items)
    };
    loop {
        let op = take!(1)[0];
        match op {
            0x80 => {
                take!(1);
            }
            b'c' => {
                for _ in 0..2 {
                    let rest = &bytes[pos..];
                    let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
                        return Ok(());
                    };
                    pos += nl + 1;
                }
                stack.push(atom);
                objects += 1;
            }
            b'q' | b'r' => {
                let id = if op == b'q' {
                    u32::from(take!(1)[0])
                } else {
                    let b = take!(4);
                    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
                };
                let Some(Some(top)) = stack.last().copied() else {
                    return Ok(());
                };
                objects = objects.saturating_add(top.1);
                memo.insert(id, top);
            }
            b'h' | b'j' => {
                let id = if op == b'h' {
                    u32::from(take!(1)[0])
                } else {
                    let b = take!(4);
                    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
                };
                let Some(obj) = memo.get(&id).copied() else {
                    return Ok(());
                };
                objects = objects.saturating_add(obj.1);
                stack.push(Some(obj));
            }
            b')' | b']' | b'}' | b'd' | b'N' | 0x88 | 0x89 => {
                stack.push(atom);
                objects += 1;
            }
            b'K' | b'M' | b'J' | b'G' => {
                take!(match op {
                    b'K' => 1,
                    b'M' => 2,
                    b'J' => 4,
                    _ => 8,
                });
                stack.push(atom);
                objects += 1;
            }
            0x8a => {
                let n = take!(1)[0];
                // candle decodes LONG1 into an i64 (and its shift overflows past 8 bytes);
                // a checkpoint's integers never need more
                if n > 8 {
                    return Err(format!("has a {n}-byte integer (LONG1), more than 8"));
                }
                take!(usize::from(n));
                stack.push(atom);
                objects += 1;
            }
            b'X' => {
                let b = take!(4);
                let len = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
                if len > bytes.len() - pos {
                    return Err(format!(
                        "has a {len}-byte string but only {} bytes follow: it is truncated",
                        bytes.len() - pos
                    ));
                }
                take!(len);
                stack.push(atom);
                objects += 1;
            }
            b'(' => stack.push(None),
            b'R' | b'b' | 0x81 | 0x85 | 0x86 | 0x87 | b'Q' => {
                let n = match op {
                    0x85 | b'Q' => 1,
                    0x87 => 3,
                    _ => 2,
                };
                if stack.len() < n {
                    return Ok(());
                }
                let children = stack.split_off(stack.len() - n);
                let obj = parent(&children);
                objects += 1;
                check(obj, objects)?;
                stack.push(Some(obj));
            }
            b't' => {
                let Some(children) = pop_to_mark(&mut stack) else {
                    return Ok(());
                };
                let obj = parent(&children);
                objects += 1;
                check(obj, objects)?;
                stack.push(Some(obj));
            }
            b'a' | b's' | b'e' | b'u' => {
                let children = match op {
                    b'a' | b's' => {
                        let n = if op == b'a' { 1 } else { 2 };
                        if stack.len() < n {
                            return Ok(());
                        }
                        stack.split_off(stack.len() - n)
                    }
                    _ => match pop_to_mark(&mut stack) {
                        Some(c) => c,
                        None => return Ok(()),
                    },
                };
                let Some(Some(target)) = stack.last_mut() else {
                    return Ok(());
                };
                let grown = children.iter().flatten().fold(*target, |(d, n), (cd, cn)| {
                    (d.max(cd.saturating_add(1)), n.saturating_add(*cn))
                });
                *target = grown;
                check(grown, objects)?;
            }
            b'.' => return Ok(()),
            _ => return Ok(()), // unknown opcode: candle reports it
        }
        if let Some(Some(top)) = stack.last() {
            check(*top, objects)?;
        }
    }
}

fn open_safetensors(path: &Path) -> Result<(Entries, Source), CheckpointError> {
    // SAFETY: the file is mapped read-only; like every mmap-based loader this assumes nobody
    // truncates it while the model loads (tensors are copied out before this returns to the
    // caller's model).
    let st = unsafe { candle_core::safetensors::MmapedSafetensors::new(path) }.map_err(|e| {
        CheckpointError::Corrupt {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }
    })?;
    let mut entries = HashMap::new();
    for (name, view) in st.tensors() {
        // Dtypes candle cannot represent are recorded as U8 and rejected by `validate`.
        let dtype = DType::try_from(view.dtype()).unwrap_or(DType::U8);
        entries.insert(name, (view.shape().to_vec(), dtype));
    }
    Ok((entries, Source::Safetensors(st)))
}

/// sha256 of a file, hex, streamed in 1 MiB blocks.
pub fn file_sha256(
    path: &Path,
    progress: &dyn ProgressSink,
    cancel: &CancelToken,
) -> Result<String, ModelError> {
    let io = |source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut f = File::open(path).map_err(io)?;
    let total = f.metadata().map_err(io)?.len();
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut done = 0u64;
    let started = std::time::Instant::now();
    loop {
        cancel.check()?;
        let n = f.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        done += n as u64;
        progress.report(&Progress {
            label: "checksumming weights".into(),
            done,
            total,
            elapsed_secs: started.elapsed().as_secs_f64(),
        });
    }
    Ok(hex::encode(hasher.finalize()))
}

#[derive(serde::Serialize, serde::Deserialize, PartialEq)]
struct ShaSidecar {
    size: u64,
    mtime_ns: u128,
    sha256: String,
}

/// The record of `path`'s sha256 under a cache root: one small JSON file named after the
/// checkpoint's absolute path (nothing is written next to the checkpoint, which may sit in a
/// read-only folder, the Hugging Face cache or a source tree).
fn sidecar_path(path: &Path, cache_root: &Path) -> PathBuf {
    let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let key = hex::encode(Sha256::digest(abs.to_string_lossy().as_bytes()));
    cache_root.join("sha256").join(format!("{key}.json"))
}

/// Kestrel's cache root ([`kestrel_base::paths::cache_root`]).
pub fn default_cache_root() -> Option<PathBuf> {
    Some(kestrel_base::paths::cache_root())
}

fn size_and_mtime(path: &Path) -> Option<(u64, u128)> {
    let m = std::fs::metadata(path).ok()?;
    let mtime = m
        .modified()
        .ok()?
        .duration_since(UNIX_EPOCH)
        .ok()?
        .as_nanos();
    Some((m.len(), mtime))
}

/// The checkpoint's sha256, cached in Kestrel's cache directory and reused while the file's
/// size and modification time are unchanged (computing it reads the whole file).
pub fn checkpoint_sha256(
    path: &Path,
    progress: &dyn ProgressSink,
    cancel: &CancelToken,
) -> Result<String, ModelError> {
    checkpoint_sha256_cached(path, default_cache_root().as_deref(), progress, cancel)
}

/// [`checkpoint_sha256`] with an explicit cache root (`None`: no caching).
pub fn checkpoint_sha256_cached(
    path: &Path,
    cache_root: Option<&Path>,
    progress: &dyn ProgressSink,
    cancel: &CancelToken,
) -> Result<String, ModelError> {
    let stamp = size_and_mtime(path);
    let sidecar = cache_root.map(|root| sidecar_path(path, root));
    if let Some(dir) = sidecar.as_deref().and_then(Path::parent) {
        // what a run killed while writing a sidecar left (never a live write's)
        kestrel_base::atomic::remove_stale_temp_files(dir, std::time::Duration::from_secs(3600));
    }
    if let (Some((size, mtime_ns)), Some(p)) = (stamp, &sidecar)
        && let Ok(text) = std::fs::read_to_string(p)
        && let Ok(s) = serde_json::from_str::<ShaSidecar>(&text)
        && s.size == size
        && s.mtime_ns == mtime_ns
        && s.sha256.len() == 64
    {
        return Ok(s.sha256);
    }
    let sha = file_sha256(path, progress, cancel)?;
    if let (Some((size, mtime_ns)), Some(p)) = (stamp, &sidecar) {
        let record = ShaSidecar {
            size,
            mtime_ns,
            sha256: sha.clone(),
        };
        let written = serde_json::to_vec(&record)
            .map_err(std::io::Error::other)
            .and_then(|json| {
                if let Some(dir) = p.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                kestrel_base::atomic::write_atomic(p, |w| w.write_all(&json)).map_err(|e| e.source)
            });
        if let Err(e) = written {
            log::debug!("cannot cache the checkpoint hash in {}: {e}", p.display());
        }
    }
    Ok(sha)
}

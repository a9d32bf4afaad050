//! `kestrel-model`: the open_clip-config-driven CLIP port in candle (Llama3-MS-CLIP today).
//! No GDAL and no egui: the application reads images and hands [`preprocess::RawImage`]s in.
//!
//! - [`load`]: open_clip configs, checkpoints (the released `.pt` layout and plain
//!   `.safetensors`, validated against the config, plus the sha256), weights, the hub download;
//! - [`clip`]: the model and its towers, built from the config;
//! - [`nn`]: layers (generic candle ops on any device, fused kernels on the CPU), the packed
//!   matrix products and the CPU feature detection that picks them;
//! - [`tokenize`]: open_clip's SimpleTokenizer (ids identical to Python's) and its text cleaning;
//! - [`tasks`]: preprocessing, zero-shot, retrieval (the one ranking family every caller uses),
//!   the [`Embedder`] facade search and UI code use, and benchmarks;
//! - [`device`]: CPU / CUDA / Metal choice and precision.
//!
//! Nothing here touches the UI. Loading and inference are long operations meant for worker
//! threads; they take a [`kestrel_base::jobs::CancelToken`] where they can stop early.

pub mod clip;
pub mod device;
mod error;
pub mod load;
pub mod nn;
pub mod tasks;
pub mod tokenize;

/// The device and dtype types of the API (candle's), for callers without their own candle.
pub use candle_core::{DType, Device};
pub use error::ModelError;
pub use tasks::embedder::{Embedder, ModelSpec, TextEmbedding};

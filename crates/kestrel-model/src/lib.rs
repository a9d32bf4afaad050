//! `kestrel-model`: the open_clip-config-driven CLIP port in candle (Llama3-MS-CLIP today).
//! No GDAL and no egui: the application reads images and hands [`preprocess::RawImage`]s in.
//!
//! - [`config`]: open_clip configs and the built-in Llama3-MS-CLIP default;
//! - [`checkpoint`]: the released `.pt` layout and plain `.safetensors`, validated against the
//!   config, plus the checkpoint sha256; [`weights`]: the loaded tensors;
//! - [`layers`], [`vision`], [`text`], [`clip`]: the towers (generic candle ops on any
//!   device, fused [`kernels`] on the CPU);
//! - [`tokenizer`], [`text_clean`]: open_clip's SimpleTokenizer (ids identical to Python's);
//! - [`preprocess`]: band selection, antialiased resize, crop and normalisation;
//! - [`zeroshot`]: prompt templates, the zero-shot classifier; [`retrieval`]: cosine scores,
//!   ranking, argmax and query-by-example, the one family every caller uses;
//! - [`isa`]: which CPU kernels run (AVX-512F / AVX2 f32, AMX / AVX512-BF16 bf16), detected
//!   once; [`matmul`], [`matmul_bf16`]: the packed matrix products;
//! - [`device`]: CPU / CUDA / Metal choice; [`hub`]: the Hugging Face cache and download;
//! - [`embedder`]: the facade search and UI code use ([`Embedder`]); [`bench`](mod@bench): timings.
//!
//! Nothing here touches the UI. Loading and inference are long operations meant for worker
//! threads; they take a [`kestrel_base::jobs::CancelToken`] where they can stop early.

mod alloc_tune;
pub mod bench;
pub mod checkpoint;
pub mod clip;
pub mod config;
pub mod device;
pub mod embedder;
mod error;
pub mod hub;
pub mod isa;
pub mod kernels;
pub mod layers;
pub mod matmul;
pub mod matmul_bf16;
pub mod preprocess;
pub mod retrieval;
#[cfg(target_arch = "x86_64")]
mod simd512;
pub mod text;
pub mod text_clean;
pub mod tokenizer;
pub mod vision;
pub mod weights;
pub mod zeroshot;

pub use embedder::{Embedder, ModelSpec, TextEmbedding};
pub use error::ModelError;

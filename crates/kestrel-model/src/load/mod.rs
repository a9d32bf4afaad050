//! Getting a model into memory: open_clip [`config`]s (and the built-in Llama3-MS-CLIP
//! default; a Hugging Face text tower's settings in [`hf_text`]), [`checkpoint`] files (the
//! released `.pt` layout and plain `.safetensors`, checked against the config), the loaded
//! [`weights`], the Hugging Face [`hub`] cache and download, and the [`registry`] of released
//! models.

pub mod checkpoint;
pub mod config;
pub mod hf_text;
pub mod hub;
pub mod registry;
pub mod weights;

//! Getting a model into memory: open_clip [`config`]s (and the built-in Llama3-MS-CLIP
//! default; a Hugging Face text tower's settings in [`hf_text`]), [`checkpoint`] files (the released `.pt` layout and plain `.safetensors`, checked
//! against the config), the loaded [`weights`], and the Hugging Face [`hub`] cache and download.

pub mod checkpoint;
pub mod config;
pub mod hf_text;
pub mod hub;
pub mod weights;

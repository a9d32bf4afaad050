//! The multispectral CLIP model: tokenizer and text cleaning (this part), and the candle port.

pub mod text_clean;
pub mod tokenizer;

//! Text to token ids: open_clip's SimpleTokenizer ([`bpe`], ids identical to Python's) and the
//! text cleaning it applies first ([`clean`]: ftfy-style fixes, HTML unescaping, whitespace).

pub mod bpe;
pub mod clean;

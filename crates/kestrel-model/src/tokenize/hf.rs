//! A Hugging Face `tokenizer.json` (RS-M-CLIP's XLM-RoBERTa SentencePiece/Unigram) through
//! the `tokenizers` crate, called exactly as open_clip's `HFTokenizer` calls it:
//! `whitespace_clean(basic_clean(text))` (ftfy, HTML unescaping twice, strip, whitespace runs
//! to one space; no lower-casing), then the file's own pipeline with its special tokens
//! (`<s> … </s>` for XLM-R), truncated to the context length (77) by the file's post-processor
//! rules — so `</s>` stays last and the first 75 pieces are kept — and padded with the file's
//! `<pad>` id (1 for XLM-R) to the context length.
//!
//! Thread ownership: an [`HfTokenizer`] is immutable once built (`Send + Sync`).

use std::path::{Path, PathBuf};

use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use crate::tokenize::Tokenized;
use crate::tokenize::bpe::TokenizerError;
use crate::tokenize::clean::{TextCleaner, whitespace_clean};

/// The padding token looked up in the file.
pub const PAD_TOKEN: &str = "<pad>";

/// A `tokenizer.json` used as open_clip's `HFTokenizer`.
pub struct HfTokenizer {
    tokenizer: Tokenizer,
    /// The same pipeline without truncation or padding (to count a long text's pieces).
    plain: Tokenizer,
    cleaner: TextCleaner,
    context_length: usize,
    pad_id: u32,
    path: PathBuf,
}

impl std::fmt::Debug for HfTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HfTokenizer")
            .field("path", &self.path)
            .field("context_length", &self.context_length)
            .field("pad_id", &self.pad_id)
            .finish_non_exhaustive()
    }
}

impl HfTokenizer {
    /// Read a `tokenizer.json`; texts are padded and truncated to `context_length`.
    pub fn from_file(path: &Path, context_length: usize) -> Result<Self, TokenizerError> {
        if context_length < 2 {
            return Err(TokenizerError::ContextLength(context_length));
        }
        kestrel_base::paths::check_regular_file(path).map_err(|source| TokenizerError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let build = |problem: String| TokenizerError::Build {
            path: path.to_path_buf(),
            problem,
        };
        let mut tokenizer = Tokenizer::from_file(path).map_err(|e| build(e.to_string()))?;
        let mut plain = tokenizer.clone();
        plain
            .with_truncation(None)
            .map_err(|e| build(e.to_string()))?;
        plain.with_padding(None);
        let pad_id = tokenizer
            .token_to_id(PAD_TOKEN)
            .ok_or_else(|| build(format!("it has no {PAD_TOKEN} token")))?;
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: context_length,
                ..TruncationParams::default()
            }))
            .map_err(|e| build(e.to_string()))?;
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::Fixed(context_length),
            pad_id,
            pad_token: PAD_TOKEN.to_owned(),
            ..PaddingParams::default()
        }));
        Ok(Self {
            tokenizer,
            plain,
            cleaner: TextCleaner::new()?,
            context_length,
            pad_id,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn context_length(&self) -> usize {
        self.context_length
    }

    /// The id rows are padded with.
    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    /// Number of ids (special tokens included).
    pub fn vocab_size(&self) -> usize {
        self.tokenizer.get_vocab_size(true)
    }

    /// open_clip's `_clean_whitespace`: `whitespace_clean(basic_clean(text))`.
    pub fn clean(&self, text: &str) -> String {
        whitespace_clean(&self.cleaner.basic_clean(text))
    }

    /// `HFTokenizer.__call__` for one text.
    pub fn encode(&self, text: &str) -> Result<Tokenized, TokenizerError> {
        let cleaned = self.clean(text);
        let fail = |e: tokenizers::Error| TokenizerError::Encode {
            path: self.path.clone(),
            problem: e.to_string(),
        };
        let enc = self
            .tokenizer
            .encode(cleaned.as_str(), true)
            .map_err(fail)?;
        let ids = enc.get_ids().to_vec();
        let special = enc.get_special_tokens_mask();
        let kept = special.iter().filter(|&&s| s == 0).count();
        let truncated = !enc.get_overflowing().is_empty();
        let pieces = if truncated {
            self.plain
                .encode(cleaned.as_str(), false)
                .map_err(fail)?
                .get_ids()
                .len()
        } else {
            kept
        };
        if ids.len() != self.context_length {
            return Err(TokenizerError::Encode {
                path: self.path.clone(),
                problem: format!(
                    "{} ids after padding and truncation, expected {}",
                    ids.len(),
                    self.context_length
                ),
            });
        }
        Ok(Tokenized {
            ids,
            pieces,
            kept,
            truncated,
            empty: cleaned.is_empty(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizer_is_shareable() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<HfTokenizer>();
    }
}

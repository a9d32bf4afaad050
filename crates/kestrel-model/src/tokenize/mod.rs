//! Text to token ids: open_clip's SimpleTokenizer ([`bpe`], ids identical to Python's), the
//! text cleaning it applies first ([`clean`]: ftfy-style fixes, HTML unescaping, whitespace),
//! a Hugging Face `tokenizer.json` used as open_clip's `HFTokenizer` ([`hf`], RS-M-CLIP), and
//! [`TextTokenizer`], the one a model config asks for.

pub mod bpe;
pub mod clean;
pub mod hf;

use bpe::{ClipTokenizer, TokenizerError};
use hf::HfTokenizer;

/// Token ids of one text, with what the caller may want to warn about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokenized {
    /// Exactly the context length.
    pub ids: Vec<u32>,
    /// Tokens the text had before truncation (the special tokens excluded).
    pub pieces: usize,
    /// Tokens kept after truncation (the special tokens excluded).
    pub kept: usize,
    /// Whether the text was cut to fit the context.
    pub truncated: bool,
    /// Whether the text is empty after cleaning.
    pub empty: bool,
}

impl Tokenized {
    /// What a user should be told about this text, if anything (open_clip says nothing).
    pub fn warning(&self) -> Option<String> {
        if self.empty {
            Some("the text is empty: it is embedded as open_clip embeds an empty text (start and end tokens only)".into())
        } else if self.truncated {
            Some(format!(
                "the text is too long: it has {} tokens and only the first {} are used, as open_clip truncates",
                self.pieces, self.kept
            ))
        } else {
            None
        }
    }
}

/// The tokenizer of a model: open_clip's BPE or a Hugging Face `tokenizer.json` (boxed:
/// both are kilobytes).
#[derive(Debug)]
pub enum TextTokenizer {
    Clip(Box<ClipTokenizer>),
    Hf(Box<HfTokenizer>),
}

impl TextTokenizer {
    /// Ids per row.
    pub fn context_length(&self) -> usize {
        match self {
            Self::Clip(t) => t.context_length(),
            Self::Hf(t) => t.context_length(),
        }
    }

    /// The open_clip BPE tokenizer, when that is the one.
    pub fn as_clip(&self) -> Option<&ClipTokenizer> {
        match self {
            Self::Clip(t) => Some(t.as_ref()),
            Self::Hf(_) => None,
        }
    }

    /// How many ids of a row are the text with its special tokens (not padding).
    pub fn framed_len(&self, ids: &[u32]) -> usize {
        match self {
            Self::Clip(t) => t.eot_index(ids).map_or(ids.len(), |p| p + 1),
            Self::Hf(t) => ids.iter().filter(|&&i| i != t.pad_id()).count(),
        }
    }

    /// The text as open_clip tokenizes it: padded, truncated when too long (see
    /// [`Tokenized::warning`]).
    pub fn tokenize(&self, text: &str) -> Result<Tokenized, TokenizerError> {
        match self {
            Self::Clip(t) => Ok(t.tokenize(text)),
            Self::Hf(t) => t.encode(text),
        }
    }
}

//! open_clip's `SimpleTokenizer`, id for id: text cleaning ([`crate::tokenize::clean`]), the
//! pre-tokenisation regex, byte-level characters and BPE with the `</w>` end-of-word suffix
//! (the `tokenizers` crate), then `[<start_of_text>] + ids + [<end_of_text>]`, truncated to
//! the context length with the last id forced to `<end_of_text>`, padded with 0.
//!
//! Thread ownership: a [`ClipTokenizer`] is immutable once built (`Send + Sync`); build it once
//! and share it. The BPE cache of `tokenizers` is per thread.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{
    Model as _, OffsetReferential, OffsetType, PreTokenizedString, PreTokenizer as _,
    SplitDelimiterBehavior, Token,
};

use crate::tokenize::Tokenized;
use crate::tokenize::clean::{TextCleanError, TextCleaner};

/// open_clip's vocabulary, compiled in.
const BUILTIN_VOCAB: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/bpe_simple_vocab_16e6.txt.gz"
));
const BUILTIN_VOCAB_NAME: &str = "assets/bpe_simple_vocab_16e6.txt.gz (built in)";

pub const START_OF_TEXT: &str = "<start_of_text>";
pub const END_OF_TEXT: &str = "<end_of_text>";
/// Id of `<start_of_text>` in open_clip's vocabulary.
pub const SOT_ID: u32 = 49406;
/// Id of `<end_of_text>` in open_clip's vocabulary.
pub const EOT_ID: u32 = 49407;
pub const PAD_ID: u32 = 0;
pub const DEFAULT_CONTEXT_LENGTH: usize = 77;
/// open_clip reads lines `1 .. 49152 - 256 - 2 + 1` of the vocabulary file as merges.
const MERGES_END_LINE: usize = 49152 - 256 - 2 + 1;

/// open_clip's pre-tokenisation pattern, compiled by Python's `regex` with `re.IGNORECASE`:
/// `<start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`.
/// There, ignoring case changes no character class except one: U+0345 (a combining mark that
/// case-folds to ι) matches no alternative and is dropped. Rust's `(?i)` would instead fold it
/// into `\p{L}`, so only the literals are case-insensitive here and U+0345 is left out.
/// Checked for every code point against `regex` 2026.11.15: the only other differences are
/// letters and digits new in Unicode 17, which Rust's `regex` tables do not have yet.
const PRE_TOKENIZE_PATTERN: &str = r"(?i:<start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d)|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}\x{345}]+";

#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error("cannot read the BPE vocabulary {path}: {source}")]
    ReadVocab {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the BPE vocabulary {path} is not a valid open_clip vocabulary: {problem}")]
    BadVocab { path: PathBuf, problem: String },
    #[error("cannot build the tokenizer from {path}: {problem}")]
    Build { path: PathBuf, problem: String },
    #[error(transparent)]
    TextCleaner(#[from] TextCleanError),
    #[error("cannot read the tokenizer {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the tokenizer {path} failed: {problem}")]
    Encode { path: PathBuf, problem: String },
    #[error("context length {0} is too short: it needs room for the start and end tokens")]
    ContextLength(usize),
}

/// open_clip's `SimpleTokenizer` (context length 77 unless changed).
pub struct ClipTokenizer {
    cleaner: TextCleaner,
    split: Split,
    byte_level: ByteLevel,
    bpe: BPE,
    vocab_size: usize,
    context_length: usize,
}

impl std::fmt::Debug for ClipTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClipTokenizer")
            .field("vocab_size", &self.vocab_size)
            .field("context_length", &self.context_length)
            .finish_non_exhaustive()
    }
}

impl ClipTokenizer {
    /// The tokenizer over the vocabulary compiled into Kestrel.
    pub fn new() -> Result<Self, TokenizerError> {
        Self::from_vocab_bytes(BUILTIN_VOCAB, Path::new(BUILTIN_VOCAB_NAME))
    }

    /// The tokenizer over an open_clip vocabulary file (`bpe_simple_vocab_16e6.txt.gz`).
    pub fn from_vocab_gz(path: &Path) -> Result<Self, TokenizerError> {
        let read_err = |source| TokenizerError::ReadVocab {
            path: path.to_owned(),
            source,
        };
        // Reading a FIFO would block until someone writes to it.
        kestrel_base::paths::check_regular_file(path).map_err(read_err)?;
        let gz = std::fs::read(path).map_err(read_err)?;
        Self::from_vocab_bytes(&gz, path)
    }

    fn from_vocab_bytes(gz: &[u8], path: &Path) -> Result<Self, TokenizerError> {
        let bad_vocab = |problem: String| TokenizerError::BadVocab {
            path: path.to_owned(),
            problem,
        };
        let mut text = String::new();
        flate2::read::GzDecoder::new(gz)
            .read_to_string(&mut text)
            .map_err(|e| bad_vocab(format!("not gzip-compressed UTF-8 text ({e})")))?;
        let lines: Vec<&str> = text.split('\n').collect();
        if lines.len() < MERGES_END_LINE {
            return Err(bad_vocab(format!(
                "it has {} lines, open_clip reads merges up to line {MERGES_END_LINE}",
                lines.len()
            )));
        }
        let mut merges = Vec::with_capacity(MERGES_END_LINE - 1);
        for (index, line) in lines[1..MERGES_END_LINE].iter().enumerate() {
            let mut symbols = line.split_whitespace();
            let (Some(first), Some(second), None) =
                (symbols.next(), symbols.next(), symbols.next())
            else {
                return Err(bad_vocab(format!(
                    "line {} is {line:?}, not a merge of two symbols",
                    index + 2
                )));
            };
            merges.push((first.to_owned(), second.to_owned()));
        }

        // The vocabulary in open_clip's order: byte characters, the same with `</w>`, merges,
        // then the special tokens. Later duplicates win, as in Python's `dict(zip(...))`.
        let byte_chars: Vec<String> = bytes_to_unicode().iter().map(char::to_string).collect();
        let words = byte_chars
            .iter()
            .cloned()
            .chain(byte_chars.iter().map(|c| format!("{c}</w>")))
            .chain(merges.iter().map(|(a, b)| format!("{a}{b}")))
            .chain([START_OF_TEXT.to_owned(), END_OF_TEXT.to_owned()]);
        let mut vocab = Vocab::default();
        for (id, word) in (0u32..).zip(words) {
            vocab.insert(word, id);
        }
        let vocab_size = vocab.len();
        if vocab.get(START_OF_TEXT) != Some(&SOT_ID) || vocab.get(END_OF_TEXT) != Some(&EOT_ID) {
            return Err(bad_vocab(format!(
                "it gives {vocab_size} tokens, not open_clip's 49408"
            )));
        }

        let build_error = |problem: String| TokenizerError::Build {
            path: path.to_owned(),
            problem,
        };
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .end_of_word_suffix("</w>".to_owned())
            .build()
            .map_err(|e| build_error(e.to_string()))?;
        let split = Split::new(
            SplitPattern::Regex(PRE_TOKENIZE_PATTERN.to_owned()),
            SplitDelimiterBehavior::Removed,
            true, // keep the matches, drop what lies between them: Python's `re.findall`
        )
        .map_err(|e| build_error(e.to_string()))?;
        Ok(Self {
            cleaner: TextCleaner::new()?,
            split,
            byte_level: ByteLevel::new(false, false, false),
            bpe,
            vocab_size,
            context_length: DEFAULT_CONTEXT_LENGTH,
        })
    }

    /// The same tokenizer with another context length (at least 2).
    pub fn with_context_length(mut self, context_length: usize) -> Result<Self, TokenizerError> {
        if context_length < 2 {
            return Err(TokenizerError::ContextLength(context_length));
        }
        self.context_length = context_length;
        Ok(self)
    }

    pub fn context_length(&self) -> usize {
        self.context_length
    }

    /// Number of token ids (49408 for open_clip's vocabulary).
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// open_clip's text cleaning (ftfy, HTML unescape, whitespace, lower case).
    pub fn clean(&self, text: &str) -> String {
        self.cleaner.clean(text)
    }

    /// open_clip's `SimpleTokenizer.__call__` for one text: exactly `context_length` ids,
    /// truncated with the end token forced last, padded with 0 ([`Self::tokenize`] also says
    /// whether it was truncated or empty).
    pub fn encode(&self, text: &str) -> Vec<u32> {
        self.frame(self.bpe_ids(&self.cleaner.clean(text)))
    }

    /// [`Self::encode`] for each text.
    pub fn encode_batch(&self, texts: &[&str]) -> Vec<Vec<u32>> {
        texts.iter().map(|text| self.encode(text)).collect()
    }

    /// open_clip's `SimpleTokenizer.__call__` with what happened: an empty text gives
    /// `[SOT, EOT, 0…]`, a long one is cut to `context_length - 2` tokens plus EOT.
    pub fn tokenize(&self, text: &str) -> Tokenized {
        let cleaned = self.cleaner.clean(text);
        let ids = self.bpe_ids(&cleaned);
        let pieces = ids.len();
        let kept = pieces.min(self.context_length - 2);
        Tokenized {
            ids: self.frame(ids),
            pieces,
            kept,
            truncated: kept < pieces,
            empty: pieces == 0,
        }
    }

    /// Number of BPE tokens of `text` after cleaning, before the start and end tokens are
    /// added: a text fits untruncated when this is at most `context_length - 2`.
    pub fn token_count(&self, text: &str) -> usize {
        self.bpe_ids(&self.cleaner.clean(text)).len()
    }

    /// Position of the first end-of-text id: where the text tower pools.
    pub fn eot_index(&self, ids: &[u32]) -> Option<usize> {
        ids.iter().position(|&id| id == EOT_ID)
    }

    /// `[SOT] + ids + [EOT]`, truncated (last id forced to EOT) and padded to the context.
    fn frame(&self, ids: Vec<u32>) -> Vec<u32> {
        let mut framed = Vec::with_capacity(self.context_length.max(ids.len() + 2));
        framed.push(SOT_ID);
        framed.extend(ids);
        framed.push(EOT_ID);
        if framed.len() > self.context_length {
            framed.truncate(self.context_length);
            framed[self.context_length - 1] = EOT_ID;
        }
        framed.resize(self.context_length, PAD_ID);
        framed
    }

    /// open_clip's `SimpleTokenizer.encode` on cleaned text: `re.findall` with its pattern,
    /// UTF-8 bytes as characters, BPE (special tokens map straight to their ids).
    fn bpe_ids(&self, cleaned: &str) -> Vec<u32> {
        match self.try_bpe_ids(cleaned) {
            Ok(ids) => ids,
            Err(e) => {
                // Unreachable with this vocabulary and pattern (no unknown symbols, no
                // backtracking regex); logged rather than hidden.
                log::error!("tokenizer failed on {cleaned:?}: {e}");
                Vec::new()
            }
        }
    }

    fn try_bpe_ids(&self, cleaned: &str) -> tokenizers::Result<Vec<u32>> {
        let mut pieces = PreTokenizedString::from(cleaned);
        self.split.pre_tokenize(&mut pieces)?;
        self.byte_level.pre_tokenize(&mut pieces)?;
        pieces.tokenize(|piece| {
            let word = piece.get();
            let special = match word {
                START_OF_TEXT => Some(SOT_ID),
                END_OF_TEXT => Some(EOT_ID),
                _ => None,
            };
            match special {
                Some(id) => Ok(vec![Token::new(id, word.to_owned(), (0, word.len()))]),
                None => self.bpe.tokenize(word),
            }
        })?;
        Ok(pieces
            .get_splits(OffsetReferential::Original, OffsetType::Byte)
            .into_iter()
            .flat_map(|(_, _, tokens)| tokens.iter().flatten().map(|token| token.id))
            .collect())
    }
}

/// GPT-2's `bytes_to_unicode`, in open_clip's order: the character standing for each byte.
pub fn bytes_to_unicode() -> Vec<char> {
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    let mut chars: Vec<char> = (0..=255u8)
        .filter(|&b| printable(b))
        .map(char::from)
        .collect();
    // The other bytes, in order, stand for U+0100, U+0101, ...
    let remapped = (0..=255u8).filter(|&b| !printable(b)).count() as u32;
    chars.extend((256..256 + remapped).filter_map(char::from_u32));
    chars
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_characters_follow_gpt2() {
        let chars = bytes_to_unicode();
        assert_eq!(chars.len(), 256);
        assert_eq!(chars[0], '!');
        assert_eq!(chars[64], 'a');
        assert_eq!(chars[188], 'Ā'); // byte 0 comes first among the remapped bytes
        assert_eq!(chars[255], 'Ń');
        let alphabet = ByteLevel::alphabet();
        assert!(chars.iter().all(|c| alphabet.contains(c)));
    }

    #[test]
    fn tokenizer_is_shareable() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<ClipTokenizer>();
    }
}

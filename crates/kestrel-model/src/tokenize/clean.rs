//! Text cleaning exactly as open_clip's `SimpleTokenizer` does it before BPE (open_clip 3.3,
//! `clean="lower"`): `whitespace_clean(basic_clean(text)).lower()`, where `basic_clean` is
//! `ftfy.fix_text`, then Python's `html.unescape` twice, then `strip`.
//!
//! What is ported, and from where:
//! - Python 3.11 `html.unescape`: named HTML5 references (with and without `;`, longest legacy
//!   prefix as in `&notin` → `¬in`), numeric references with Python's replacement rules.
//! - Python `str.split()` / `str.strip()` whitespace (`str.isspace`, which also counts
//!   U+001C..U+001F), and `str.lower()` (full Unicode lower-casing, final sigma).
//! - ftfy 6.3.1 `fix_text` with its default `TextFixerConfig`, step by step: line segments and
//!   the "`<` means HTML, stop unescaping" rule; `unescape_html` (HTML5 `&name;` references plus
//!   upper-cased Latin ones such as `&EACUTE;`); `fix_encoding` (mojibake: re-encoding as
//!   latin-1, sloppy windows-1252/1251/1250/1253/1254/1257, iso-8859-2, macroman, cp437 and
//!   decoding as UTF-8 or CESU-8/Java UTF-8, with `restore_byte_a0`, `replace_lossy_sequences`,
//!   `decode_inconsistent_utf8` and the `badness` heuristic); `fix_c1_controls`;
//!   `fix_latin_ligatures`; `fix_character_width`; `uncurl_quotes`; `fix_line_breaks`;
//!   `remove_terminal_escapes`; `remove_control_chars`; NFC; repeated until nothing changes.
//! - Not ported: `fix_surrogates` (a Rust `&str` cannot hold surrogates, so there is nothing to
//!   fix). Python's regular expressions are re-expressed for Rust where they differ (`\s`, `\w`,
//!   verbose mode, a look-ahead on bytes); ftfy's CESU-8 decoder keeps the two quirks it gets
//!   from `$` matching before a final newline (see `decode_utf8_variants`).
//! - Differences left: Python 3.11 uses Unicode 14 tables; `std`, `regex` and
//!   `unicode-normalization` use newer ones, so characters assigned since may case-map,
//!   normalise or classify differently. The fix loops stop after [`MAX_FIX_ROUNDS`] rounds
//!   where ftfy has no bound.
//!
//! Checked against Python: all 670 strings of `tests/fixtures/tokenizer_corpus.json`, and
//! (once, not committed) ftfy's own 161 test-case inputs plus 6 000 generated mojibake strings.
//!
//! Thread ownership: a [`TextCleaner`] is immutable once built; share it freely (`Send + Sync`).

use std::collections::HashMap;

use fancy_regex::Regex;
use unicode_normalization::UnicodeNormalization as _;

/// Guard on ftfy's "repeat until nothing changes" loops (ftfy itself has none; real text
/// settles in two or three rounds).
pub const MAX_FIX_ROUNDS: usize = 64;

/// ftfy's `max_decode_length`: `fix_text` works on segments of at most this many characters.
const MAX_SEGMENT_CHARS: usize = 1_000_000;

/// Building the cleaner failed: one of its constant patterns does not compile (a bug).
#[derive(Debug, thiserror::Error)]
#[error("text cleaner pattern `{name}` does not compile: {source}")]
pub struct TextCleanError {
    name: &'static str,
    #[source]
    source: Box<fancy_regex::Error>,
}

/// Python's `str.isspace()` (Unicode 14): what `str.split()` and `str.strip()` remove.
pub fn is_python_space(c: char) -> bool {
    matches!(c,
        '\t'..='\r' | '\u{1c}'..='\u{1f}' | ' ' | '\u{85}' | '\u{a0}' | '\u{1680}'
        | '\u{2000}'..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}')
}

/// open_clip's `whitespace_clean`: `" ".join(text.split()).strip()`.
pub fn whitespace_clean(text: &str) -> String {
    text.split(is_python_space)
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Python's `str.strip()` with no argument.
pub fn python_strip(text: &str) -> &str {
    text.trim_matches(is_python_space)
}

/// The cleaning half of open_clip's tokenizer, with its tables and patterns built once.
pub struct TextCleaner {
    /// Python `html.entities.html5`: `"amp;"` and the legacy `"amp"` → `"&"`.
    html5: HashMap<String, String>,
    /// ftfy `chardata.HTML_ENTITIES`: `"&amp;"` → `"&"`, `"&EACUTE;"` → `"É"`.
    ftfy_entities: HashMap<String, String>,
    /// Python `html._charref`.
    python_charref: Regex,
    /// ftfy `chardata.HTML_ENTITY_RE`.
    ftfy_entity: Regex,
    /// ftfy `badness.BADNESS_RE`.
    badness: Regex,
    /// ftfy `chardata.UTF8_DETECTOR_RE`.
    utf8_detector: Regex,
    /// ftfy `fixes.ANSI_RE`.
    ansi_escape: Regex,
    /// ftfy `chardata.CHARMAP_ENCODINGS`, in the order ftfy tries them.
    charmaps: Vec<Charmap>,
}

impl TextCleaner {
    pub fn new() -> Result<Self, TextCleanError> {
        let python_charref = compile(
            "html._charref",
            r"&(?:#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\x0C <&#;]{1,32};?)",
        )?;
        let mut cleaner = Self {
            html5: python_html5_entities(),
            ftfy_entities: HashMap::new(),
            python_charref,
            ftfy_entity: compile("HTML_ENTITY_RE", r"&#?[0-9A-Za-z]{1,24};")?,
            badness: compile("BADNESS_RE", &badness_pattern())?,
            utf8_detector: compile("UTF8_DETECTOR_RE", &utf8_detector_pattern())?,
            ansi_escape: compile("ANSI_RE", r"\x1B\[(?:\d|;)*[a-zA-Z]")?,
            charmaps: charmaps(),
        };
        cleaner.ftfy_entities = cleaner.build_ftfy_entities();
        Ok(cleaner)
    }

    /// open_clip's `_clean_lower`: `whitespace_clean(basic_clean(text)).lower()`.
    pub fn clean(&self, text: &str) -> String {
        whitespace_clean(&self.basic_clean(text)).to_lowercase()
    }

    /// open_clip's `basic_clean`: `ftfy.fix_text`, `html.unescape` twice, `strip`.
    pub fn basic_clean(&self, text: &str) -> String {
        let fixed = self.fix_text(text);
        let unescaped = self.html_unescape(&self.html_unescape(&fixed));
        python_strip(&unescaped).to_owned()
    }

    /// Python's `html.unescape`.
    pub fn html_unescape(&self, text: &str) -> String {
        if !text.contains('&') {
            return text.to_owned();
        }
        sub(&self.python_charref, text, |m| {
            self.replace_charref(&m[1..])
        })
    }

    /// `html._replace_charref`, given the reference without its `&`.
    fn replace_charref(&self, name: &str) -> String {
        if let Some(number) = name.strip_prefix('#') {
            let (digits, radix) = match number.strip_prefix(['x', 'X']) {
                Some(hex) => (hex, 16),
                None => (number, 10),
            };
            return python_numeric_charref(parse_saturating(digits.trim_end_matches(';'), radix));
        }
        if let Some(value) = self.html5.get(name) {
            return value.clone();
        }
        // The longest prefix (at least 2 characters) that is a known name, as the standard says.
        let boundaries: Vec<usize> = name.char_indices().map(|(i, _)| i).skip(2).collect();
        for &end in boundaries.iter().rev() {
            if let Some(value) = self.html5.get(&name[..end]) {
                return format!("{value}{}", &name[end..]);
            }
        }
        format!("&{name}")
    }

    /// ftfy's `_build_html_entities`.
    fn build_ftfy_entities(&self) -> HashMap<String, String> {
        let mut entities = HashMap::new();
        for (name, value) in &self.html5 {
            if !name.ends_with(';') {
                continue;
            }
            entities.insert(format!("&{name}"), value.clone());
            if *name == name.to_lowercase() {
                let upper = format!("&{}", name.to_uppercase());
                if self.html_unescape(&upper) == upper {
                    entities.insert(upper, value.to_uppercase());
                }
            }
        }
        entities
    }

    /// ftfy's `fix_text` with the default configuration.
    pub fn fix_text(&self, text: &str) -> String {
        let mut unescape_html = true; // "auto"
        let mut out = String::with_capacity(text.len());
        for line in text.split_inclusive('\n') {
            for segment in char_chunks(line, MAX_SEGMENT_CHARS) {
                // Like ftfy, once a segment looks like HTML, later segments are not unescaped.
                if unescape_html && segment.contains('<') {
                    unescape_html = false;
                }
                out.push_str(&self.fix_segment(segment, unescape_html));
            }
        }
        out
    }

    /// ftfy's `fix_and_explain` (without the explanation).
    fn fix_segment(&self, segment: &str, unescape_html: bool) -> String {
        let unescape_html = unescape_html && !segment.contains('<');
        let mut text = segment.to_owned();
        for _ in 0..MAX_FIX_ROUNDS {
            let before = text.clone();
            if unescape_html {
                text = self.unescape_html(&text);
            }
            text = self.fix_encoding(&text);
            text = fix_c1_controls(&text);
            text = fix_latin_ligatures(&text);
            text = fix_character_width(&text);
            text = uncurl_quotes(&text);
            text = fix_line_breaks(&text);
            text = self.remove_terminal_escapes(&text);
            text = remove_control_chars(&text);
            text = text.nfc().collect();
            if text == before {
                break;
            }
        }
        text
    }

    /// ftfy's `fixes.unescape_html`: only `&...;` references, and upper-case Latin ones.
    pub fn unescape_html(&self, text: &str) -> String {
        sub(&self.ftfy_entity, text, |entity| {
            if let Some(value) = self.ftfy_entities.get(entity) {
                value.clone()
            } else if entity.starts_with("&#") {
                let unescaped = self.html_unescape(entity);
                // html.unescape decoded only part of it: keep the reference as it was.
                if unescaped.contains(';') {
                    entity.to_owned()
                } else {
                    unescaped
                }
            } else {
                entity.to_owned()
            }
        })
    }

    /// ftfy's `badness.is_bad`: does the text look like it contains mojibake?
    pub fn is_bad(&self, text: &str) -> bool {
        search(&self.badness, text)
    }

    /// ftfy's `fix_encoding`: undo mojibake until nothing changes.
    pub fn fix_encoding(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for _ in 0..MAX_FIX_ROUNDS {
            let fixed = self.fix_encoding_one_step(&text);
            if fixed == text {
                break;
            }
            text = fixed;
        }
        text
    }

    /// ftfy's `_fix_encoding_one_step_and_explain` (with the default configuration).
    fn fix_encoding_one_step(&self, text: &str) -> String {
        if text.is_ascii() || !self.is_bad(text) {
            return text.to_owned();
        }
        let mut latin1_possible = false;
        for charmap in &self.charmaps {
            let Some(mut bytes) = charmap.encode(text) else {
                continue;
            };
            latin1_possible |= charmap.name == "latin-1";
            if charmap.name != "macroman" && search_bytes(&bytes, ALTERED_UTF8) {
                bytes = restore_byte_a0(&bytes);
            }
            if charmap.name.starts_with("sloppy") {
                bytes = sub_bytes(&bytes, LOSSY_UTF8, |_| "\u{fffd}".as_bytes().to_vec());
            }
            if let Some(fixed) = decode_utf8_variants(&bytes) {
                return fixed;
            }
        }
        if search(&self.utf8_detector, text) {
            let fixed = self.decode_inconsistent_utf8(text);
            if fixed != text {
                return fixed;
            }
        }
        // ftfy returns early here when "windows-1252" is among the possible encodings, but its
        // list only ever holds "sloppy-windows-1252", so it always goes on to this decode.
        if latin1_possible
            && let Some(fixed) = decode_windows_1252_strict(text)
            && fixed != text
        {
            return fixed;
        }
        if text.chars().any(is_c1_control) {
            return fix_c1_controls(text);
        }
        text.to_owned()
    }

    /// ftfy's `fixes.decode_inconsistent_utf8`: fix mojibake embedded in other text.
    fn decode_inconsistent_utf8(&self, text: &str) -> String {
        let text_chars = text.chars().count();
        sub(&self.utf8_detector, text, |piece| {
            if piece.chars().count() < text_chars && self.is_bad(piece) {
                self.fix_encoding(piece)
            } else {
                piece.to_owned()
            }
        })
    }

    /// ftfy's `fixes.remove_terminal_escapes`.
    fn remove_terminal_escapes(&self, text: &str) -> String {
        sub(&self.ansi_escape, text, |_| String::new())
    }
}

fn compile(name: &'static str, pattern: &str) -> Result<Regex, TextCleanError> {
    Regex::new(pattern).map_err(|source| TextCleanError {
        name,
        source: Box::new(source),
    })
}

/// Python's `re.sub(pattern, replace, text)` for patterns that never match the empty string.
/// A regex runtime error (fancy-regex's backtracking limit; these patterns cannot reach it)
/// ends the scan and keeps the rest of the text as it is.
fn sub(re: &Regex, text: &str, mut replace: impl FnMut(&str) -> String) -> String {
    let mut out = String::with_capacity(text.len());
    let mut done = 0;
    for found in re.find_iter(text) {
        let Ok(found) = found else { break };
        out.push_str(&text[done..found.start()]);
        out.push_str(&replace(found.as_str()));
        done = found.end();
    }
    out.push_str(&text[done..]);
    out
}

/// Python's `re.search(pattern, text) is not None` (a runtime error counts as no match).
fn search(re: &Regex, text: &str) -> bool {
    re.is_match(text).unwrap_or(false)
}

/// Pieces of `text` of at most `max_chars` characters.
fn char_chunks(text: &str, max_chars: usize) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = rest
            .char_indices()
            .nth(max_chars)
            .map_or(rest.len(), |(i, _)| i);
        let (chunk, tail) = rest.split_at(end);
        rest = tail;
        Some(chunk)
    })
}

fn parse_saturating(digits: &str, radix: u32) -> u32 {
    digits.chars().fold(0u32, |acc, c| {
        acc.saturating_mul(radix)
            .saturating_add(c.to_digit(radix).unwrap_or(0))
    })
}

/// The numeric half of Python's `html._replace_charref`.
fn python_numeric_charref(number: u32) -> String {
    if number == 0 {
        return "\u{fffd}".to_owned();
    }
    if number == 0x0D {
        return "\r".to_owned();
    }
    if (0x80..=0x9F).contains(&number) {
        // `_invalid_charrefs`: Windows-1252, with its five holes kept as C1 controls.
        return sloppy_windows_1252(number as u8).to_string();
    }
    if (0xD800..=0xDFFF).contains(&number) || number > 0x10FFFF {
        return "\u{fffd}".to_owned();
    }
    let invalid = matches!(number, 0x01..=0x08 | 0x0B | 0x0E..=0x1F | 0x7F | 0xFDD0..=0xFDEF)
        || number & 0xFFFE == 0xFFFE;
    match char::from_u32(number) {
        Some(c) if !invalid => c.to_string(),
        _ => String::new(),
    }
}

/// The legacy references that HTML (and Python) also accept without a `;`.
const LEGACY_ENTITIES: &[&str] = &[
    "Aacute", "aacute", "Acirc", "acirc", "acute", "AElig", "aelig", "Agrave", "agrave", "AMP",
    "amp", "Aring", "aring", "Atilde", "atilde", "Auml", "auml", "brvbar", "Ccedil", "ccedil",
    "cedil", "cent", "COPY", "copy", "curren", "deg", "divide", "Eacute", "eacute", "Ecirc",
    "ecirc", "Egrave", "egrave", "ETH", "eth", "Euml", "euml", "frac12", "frac14", "frac34", "GT",
    "gt", "Iacute", "iacute", "Icirc", "icirc", "iexcl", "Igrave", "igrave", "iquest", "Iuml",
    "iuml", "laquo", "LT", "lt", "macr", "micro", "middot", "nbsp", "not", "Ntilde", "ntilde",
    "Oacute", "oacute", "Ocirc", "ocirc", "Ograve", "ograve", "ordf", "ordm", "Oslash", "oslash",
    "Otilde", "otilde", "Ouml", "ouml", "para", "plusmn", "pound", "QUOT", "quot", "raquo", "REG",
    "reg", "sect", "shy", "sup1", "sup2", "sup3", "szlig", "THORN", "thorn", "times", "Uacute",
    "uacute", "Ucirc", "ucirc", "Ugrave", "ugrave", "uml", "Uuml", "uuml", "Yacute", "yacute",
    "yen", "yuml",
];

/// The references whose value is two code points; `html_escape::NAMED_ENTITIES` keeps only the
/// first one.
const TWO_CHAR_ENTITIES: &[(&str, &str)] = &[
    ("acE", "\u{223e}\u{333}"),
    ("bne", "=\u{20e5}"),
    ("bnequiv", "\u{2261}\u{20e5}"),
    ("caps", "\u{2229}\u{fe00}"),
    ("cups", "\u{222a}\u{fe00}"),
    ("fjlig", "fj"),
    ("gesl", "\u{22db}\u{fe00}"),
    ("gvertneqq", "\u{2269}\u{fe00}"),
    ("gvnE", "\u{2269}\u{fe00}"),
    ("lates", "\u{2aad}\u{fe00}"),
    ("lesg", "\u{22da}\u{fe00}"),
    ("lvertneqq", "\u{2268}\u{fe00}"),
    ("lvnE", "\u{2268}\u{fe00}"),
    ("nang", "\u{2220}\u{20d2}"),
    ("napE", "\u{2a70}\u{338}"),
    ("napid", "\u{224b}\u{338}"),
    ("nbump", "\u{224e}\u{338}"),
    ("nbumpe", "\u{224f}\u{338}"),
    ("ncongdot", "\u{2a6d}\u{338}"),
    ("nedot", "\u{2250}\u{338}"),
    ("nesim", "\u{2242}\u{338}"),
    ("ngE", "\u{2267}\u{338}"),
    ("ngeqq", "\u{2267}\u{338}"),
    ("ngeqslant", "\u{2a7e}\u{338}"),
    ("nges", "\u{2a7e}\u{338}"),
    ("nGg", "\u{22d9}\u{338}"),
    ("nGt", "\u{226b}\u{20d2}"),
    ("nGtv", "\u{226b}\u{338}"),
    ("nlE", "\u{2266}\u{338}"),
    ("nleqq", "\u{2266}\u{338}"),
    ("nleqslant", "\u{2a7d}\u{338}"),
    ("nles", "\u{2a7d}\u{338}"),
    ("nLl", "\u{22d8}\u{338}"),
    ("nLt", "\u{226a}\u{20d2}"),
    ("nLtv", "\u{226a}\u{338}"),
    ("NotEqualTilde", "\u{2242}\u{338}"),
    ("NotGreaterFullEqual", "\u{2267}\u{338}"),
    ("NotGreaterGreater", "\u{226b}\u{338}"),
    ("NotGreaterSlantEqual", "\u{2a7e}\u{338}"),
    ("NotHumpDownHump", "\u{224e}\u{338}"),
    ("NotHumpEqual", "\u{224f}\u{338}"),
    ("notindot", "\u{22f5}\u{338}"),
    ("notinE", "\u{22f9}\u{338}"),
    ("NotLeftTriangleBar", "\u{29cf}\u{338}"),
    ("NotLessLess", "\u{226a}\u{338}"),
    ("NotLessSlantEqual", "\u{2a7d}\u{338}"),
    ("NotNestedGreaterGreater", "\u{2aa2}\u{338}"),
    ("NotNestedLessLess", "\u{2aa1}\u{338}"),
    ("NotPrecedesEqual", "\u{2aaf}\u{338}"),
    ("NotRightTriangleBar", "\u{29d0}\u{338}"),
    ("NotSquareSubset", "\u{228f}\u{338}"),
    ("NotSquareSuperset", "\u{2290}\u{338}"),
    ("NotSubset", "\u{2282}\u{20d2}"),
    ("NotSucceedsEqual", "\u{2ab0}\u{338}"),
    ("NotSucceedsTilde", "\u{227f}\u{338}"),
    ("NotSuperset", "\u{2283}\u{20d2}"),
    ("nparsl", "\u{2afd}\u{20e5}"),
    ("npart", "\u{2202}\u{338}"),
    ("npre", "\u{2aaf}\u{338}"),
    ("npreceq", "\u{2aaf}\u{338}"),
    ("nrarrc", "\u{2933}\u{338}"),
    ("nrarrw", "\u{219d}\u{338}"),
    ("nsce", "\u{2ab0}\u{338}"),
    ("nsubE", "\u{2ac5}\u{338}"),
    ("nsubset", "\u{2282}\u{20d2}"),
    ("nsubseteqq", "\u{2ac5}\u{338}"),
    ("nsucceq", "\u{2ab0}\u{338}"),
    ("nsupE", "\u{2ac6}\u{338}"),
    ("nsupset", "\u{2283}\u{20d2}"),
    ("nsupseteqq", "\u{2ac6}\u{338}"),
    ("nvap", "\u{224d}\u{20d2}"),
    ("nvge", "\u{2265}\u{20d2}"),
    ("nvgt", ">\u{20d2}"),
    ("nvle", "\u{2264}\u{20d2}"),
    ("nvlt", "<\u{20d2}"),
    ("nvltrie", "\u{22b4}\u{20d2}"),
    ("nvrtrie", "\u{22b5}\u{20d2}"),
    ("nvsim", "\u{223c}\u{20d2}"),
    ("race", "\u{223d}\u{331}"),
    ("smtes", "\u{2aac}\u{fe00}"),
    ("sqcaps", "\u{2293}\u{fe00}"),
    ("sqcups", "\u{2294}\u{fe00}"),
    ("ThickSpace", "\u{205f}\u{200a}"),
    ("varsubsetneq", "\u{228a}\u{fe00}"),
    ("varsubsetneqq", "\u{2acb}\u{fe00}"),
    ("varsupsetneq", "\u{228b}\u{fe00}"),
    ("varsupsetneqq", "\u{2acc}\u{fe00}"),
    ("vnsub", "\u{2282}\u{20d2}"),
    ("vnsup", "\u{2283}\u{20d2}"),
    ("vsubnE", "\u{2acb}\u{fe00}"),
    ("vsubne", "\u{228a}\u{fe00}"),
    ("vsupnE", "\u{2acc}\u{fe00}"),
    ("vsupne", "\u{228b}\u{fe00}"),
];

/// Python's `html.entities.html5`: the 2125 HTML5 names with `;`, plus the legacy names
/// without it.
fn python_html5_entities() -> HashMap<String, String> {
    let mut html5: HashMap<String, String> = html_escape::NAMED_ENTITIES
        .iter()
        .filter_map(|(name, value)| Some((std::str::from_utf8(name).ok()?, *value)))
        .map(|(name, value)| (format!("{name};"), value.to_owned()))
        .collect();
    for (name, value) in TWO_CHAR_ENTITIES {
        html5.insert(format!("{name};"), (*value).to_owned());
    }
    for name in LEGACY_ENTITIES {
        if let Some(value) = html5.get(&format!("{name};")) {
            html5.insert((*name).to_owned(), value.clone());
        }
    }
    html5
}

// ---- ftfy's mojibake heuristic (badness.py, chardata.py) -------------------------------------
// Character-class fragments transcribed from ftfy 6.3.1 (`-` between two characters is a range).

const COMMON: &str = "\u{a0}\u{ad}·´–—―…’";
const C1: &str = "\u{80}-\u{9f}";
const BAD: &str = "¦¤¨¬¯¸ƒˆˇ˘˛˜†‡‰⌐◊�ªº";
const LAW: &str = "¶§";
const CURRENCY: &str = "¢£¥₧€";
const START_PUNCTUATION: &str = "¡«¿©΄΅‘‚“„•‹\u{f8ff}";
const END_PUNCTUATION: &str = "®»˝”›™";
const NUMERIC: &str = "²³¹±¼½¾×µ÷⁄∂∆∏∑√∞∩∫≈≠≡≤≥№";
const KAOMOJI: &str = "Ò-ÖÙ-Üò-öø-üŐŌŪŲ°";
const UPPER_ACCENTED: &str = "À-ÑØÜÝĂĀĄĆČĎĐĘĚĒĖĞĢİĪĶĹĽŁĻŃŇŅŒŘŚŞŠŢŤŮŰŸŹŻŽҐ";
const LOWER_ACCENTED: &str = "ßà-ñăąāćčďđęěēėğģįīķĺľłļœŕśşšťüźżžґﬁﬂ";
const UPPER_COMMON: &str = "ÞΑ-ΩΆΈΉΊΌΎΏΪΫЁ-Я";
const LOWER_COMMON: &str = "α-ωάέήίΰа-џ";
const BOX: &str = "│┌┐┘├┤┬┼═-╬▀▄█▌▐░▒▓";

const UTF8_FIRST_OF_2: &str = "ĂÂÄĀÅÃÆĆČÇĎĐÉĚÊËĖÈĒĘÐĞĢÍÎÏİÌĪĶĹĻŁŃŇŅÑÓÔÖŐÒŌØÕŘŚŠŞŢÞÚÛÜŰÙŪŲŮÝŹŽŻß×\
    ΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩΪΫάέήίВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ";
const UTF8_FIRST_OF_3: &str = "áăâäàāąåãæćčçďéěêëėèēęęģíîïìīįķĺļŕźΰαβγδεζηθικλμνξοабвгдежзийклмноп";
const UTF8_FIRST_OF_4: &str = "đðğóšπσру";
const UTF8_CONTINUATION: &str = "\u{80}-¿ ĄÆĽŁØŖŚŠŞŤŸŹŽŻŒąæƒľłøŗśšşťźžżœˆˇ˘˛˜˝΄΅ΆΈΉΊΌΎΏ\
    ЁЂЃЄЅІЇЈЉЊЋЌЎЏёђѓєѕіїјљњћќўџҐґ–—―‘’‚“”„†‡•…‰‹›€№™";
const UTF8_CONTINUATION_STRICT: &str = "\u{80}-¿ĄÆĽŁØŖŚŠŞŤŸŹŽŻŒąæƒľłøŗśšşťźžżœˆˇ˘˛˜˝΄΅ΆΈΉΊΌΎΏ\
    ЁЂЃЄЅІЇЈЉЊЋЌЎЏёђѓєѕіїјљњћќўџҐґ†‡‰‹›€№™";

/// Python `re`'s `\s` for str patterns (`str.isspace`), as a class body.
const PY_SPACE: &str =
    r"\t-\r\x1C-\x1F \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}";
/// Python `re`'s `\w` for str patterns (`str.isalnum` or `_`), as a class body.
const PY_WORD: &str = r"\p{L}\p{N}_";

/// ftfy's `BADNESS_RE`, one alternative per line as in badness.py.
fn badness_pattern() -> String {
    let (c1, bad, law, cur, sp, ep, num) = (
        C1,
        BAD,
        LAW,
        CURRENCY,
        START_PUNCTUATION,
        END_PUNCTUATION,
        NUMERIC,
    );
    let (la, ua, lc, uc, bx, kao, com) = (
        LOWER_ACCENTED,
        UPPER_ACCENTED,
        LOWER_COMMON,
        UPPER_COMMON,
        BOX,
        KAOMOJI,
        COMMON,
    );
    [
        format!("[{c1}]"),
        format!("[{bad}{la}{ua}{bx}{sp}{ep}{cur}{num}{law}][{bad}]"),
        format!("[a-zA-Z][{lc}{uc}][{bad}]"),
        format!("[{bad}][{la}{ua}{bx}{sp}{ep}{cur}{num}{law}]"),
        format!("[{la}{lc}{bx}{ep}{cur}{num}][{ua}]"),
        format!("[{bx}{ep}{cur}{num}][{la}]"),
        format!("[{la}{bx}{ep}][{cur}]"),
        format!("[{PY_SPACE}][{ua}][{cur}]"),
        format!("[{ua}{bx}][{num}{law}]"),
        format!("[{la}{ua}{bx}{cur}{ep}][{sp}][{num}]"),
        format!("[{la}{ua}{cur}{num}{bx}{law}][{ep}][{sp}]"),
        format!("[{cur}{num}{bx}][{sp}]"),
        format!("[a-z][{ua}][{sp}{cur}]"),
        format!("[{bx}][{kao}]"),
        format!("[{la}{ua}{cur}{num}{sp}{ep}{law}][{bx}]"),
        format!("[{bx}][{ep}]"),
        format!("[{la}{ua}][{sp}{ep}][{PY_WORD}]"),
        "[Œœ][^A-Za-z]".to_owned(),
        format!("[{ua}]°"),
        format!("[ÂÃÎÐ][€œŠš¢£Ÿž\u{a0}\u{ad}®©°·»{sp}{ep}–—´]"),
        "×[²³]".to_owned(),
        format!("[ØÙ][{com}{cur}{bad}{num}{sp}ŸŠ®°µ»][ØÙ][{com}{cur}{bad}{num}{sp}ŸŠ®°µ»]"),
        "à[²µ¹¼½¾]".to_owned(),
        "√[±∂†≠®™´≤≥¥µø]".to_owned(),
        "≈[°¢]".to_owned(),
        "‚Ä[ìîïòôúùû†°¢π]".to_owned(),
        "‚[âó][àä°ê]".to_owned(),
        "вЂ".to_owned(),
        format!("[ВГРС][{c1}{bad}{sp}{ep}{cur}°µ][ВГРС]"),
        "ГўВЂВ.[A-Za-z ]".to_owned(),
        "Ã[\u{a0}¡]".to_owned(),
        format!("[a-z][{PY_SPACE}]?[ÃÂ][ ]"),
        "^[ÃÂ][ ]".to_owned(),
        format!("[a-z.,?!{ep}]Â[ {sp}{ep}]"),
        "β€[™\u{a0}Ά\u{ad}®°]".to_owned(),
        format!("[ΒΓΞΟ][{c1}{bad}{sp}{ep}{cur}°][ΒΓΞΟ]"),
        "ā€".to_owned(),
    ]
    .join("|")
}

/// ftfy's `UTF8_DETECTOR_RE`: runs of what look like UTF-8 sequences read as a single-byte
/// encoding, not preceded by a strict continuation character.
fn utf8_detector_pattern() -> String {
    let cont = UTF8_CONTINUATION;
    format!(
        "(?<![{UTF8_CONTINUATION_STRICT}])(?:[{UTF8_FIRST_OF_2}][{cont}]\
         |[{UTF8_FIRST_OF_3}][{cont}]{{2}}|[{UTF8_FIRST_OF_4}][{cont}]{{3}})+"
    )
}

// ---- single-byte encodings (ftfy's CHARMAP_ENCODINGS and its "sloppy" codecs) -----------------

/// A single-byte encoding: ASCII below 0x80, a table above. Byte 0x1A decodes to `substitute`
/// (U+FFFD in ftfy's sloppy codecs, which use it to carry the replacement character).
struct Charmap {
    name: &'static str,
    /// Character → byte, for bytes 0x80..=0xFF and 0x1A.
    encoder: HashMap<char, u8>,
}

impl Charmap {
    fn new(name: &'static str, high: &str, substitute: char) -> Self {
        let encoder = high
            .chars()
            .zip(0x80..=0xFFu8)
            .chain([(substitute, 0x1A)])
            .collect();
        Self { name, encoder }
    }

    /// `text.encode(name)`, or `None` where ftfy's `possible_encoding` says no.
    fn encode(&self, text: &str) -> Option<Vec<u8>> {
        text.chars()
            .map(|c| match c {
                '\u{0}'..='\u{19}' | '\u{1b}'..='\u{7f}' => Some(c as u8),
                _ => self.encoder.get(&c).copied(),
            })
            .collect()
    }
}

const SLOPPY_1252: &str = "€\u{81}‚ƒ„…†‡ˆ‰Š‹Œ\u{8d}Ž\u{8f}\u{90}‘’“”•–—˜™š›œ\u{9d}žŸ\
    \u{a0}¡¢£¤¥¦§¨©ª«¬\u{ad}®¯°±²³´µ¶·¸¹º»¼½¾¿ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖ×ØÙÚÛÜÝÞßàáâãäåæçèéêëìíîïðñòóôõö÷øùúûüýþÿ";

fn charmaps() -> Vec<Charmap> {
    let latin1: String = ('\u{80}'..='\u{ff}').collect();
    vec![
        Charmap::new("latin-1", &latin1, '\u{1a}'),
        Charmap::new("sloppy-windows-1252", SLOPPY_1252, '\u{fffd}'),
        Charmap::new(
            "sloppy-windows-1251",
            "ЂЃ‚ѓ„…†‡€‰Љ‹ЊЌЋЏђ‘’“”•–—\u{98}™љ›њќћџ\u{a0}ЎўЈ¤Ґ¦§Ё©Є«¬\u{ad}®Ї°±Ііґµ¶·ё№є»јЅѕї\
             АБВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯабвгдежзийклмнопрстуфхцчшщъыьэюя",
            '\u{fffd}',
        ),
        Charmap::new(
            "sloppy-windows-1250",
            "€\u{81}‚\u{83}„…†‡\u{88}‰Š‹ŚŤŽŹ\u{90}‘’“”•–—\u{98}™š›śťžź\u{a0}ˇ˘Ł¤Ą¦§¨©Ş«¬\u{ad}®Ż°±˛ł´µ¶·¸ąş»Ľ˝ľż\
             ŔÁÂĂÄĹĆÇČÉĘËĚÍÎĎĐŃŇÓÔŐÖ×ŘŮÚŰÜÝŢßŕáâăäĺćçčéęëěíîďđńňóôőö÷řůúűüýţ˙",
            '\u{fffd}',
        ),
        Charmap::new(
            "sloppy-windows-1253",
            "€\u{81}‚ƒ„…†‡\u{88}‰\u{8a}‹\u{8c}\u{8d}\u{8e}\u{8f}\u{90}‘’“”•–—\u{98}™\u{9a}›\u{9c}\u{9d}\u{9e}\u{9f}\
             \u{a0}΅Ά£¤¥¦§¨©ª«¬\u{ad}®―°±²³΄µ¶·ΈΉΊ»Ό½ΎΏ\
             ΐΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡÒΣΤΥΦΧΨΩΪΫάέήίΰαβγδεζηθικλμνξοπρςστυφχψωϊϋόύώÿ",
            '\u{fffd}',
        ),
        Charmap::new(
            "sloppy-windows-1254",
            "€\u{81}‚ƒ„…†‡ˆ‰Š‹Œ\u{8d}\u{8e}\u{8f}\u{90}‘’“”•–—˜™š›œ\u{9d}\u{9e}Ÿ\
             \u{a0}¡¢£¤¥¦§¨©ª«¬\u{ad}®¯°±²³´µ¶·¸¹º»¼½¾¿\
             ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏĞÑÒÓÔÕÖ×ØÙÚÛÜİŞßàáâãäåæçèéêëìíîïğñòóôõö÷øùúûüışÿ",
            '\u{fffd}',
        ),
        Charmap::new(
            "sloppy-windows-1257",
            "€\u{81}‚\u{83}„…†‡\u{88}‰\u{8a}‹\u{8c}¨ˇ¸\u{90}‘’“”•–—\u{98}™\u{9a}›\u{9c}¯˛\u{9f}\
             \u{a0}¡¢£¤¥¦§Ø©Ŗ«¬\u{ad}®Æ°±²³´µ¶·ø¹ŗ»¼½¾æ\
             ĄĮĀĆÄÅĘĒČÉŹĖĢĶĪĻŠŃŅÓŌÕÖ×ŲŁŚŪÜŻŽßąįāćäåęēčéźėģķīļšńņóōõö÷ųłśūüżž˙",
            '\u{fffd}',
        ),
        Charmap::new(
            "iso-8859-2",
            &format!(
                "{}\u{a0}Ą˘Ł¤ĽŚ§¨ŠŞŤŹ\u{ad}ŽŻ°ą˛ł´ľśˇ¸šşťź˝žż\
                 ŔÁÂĂÄĹĆÇČÉĘËĚÍÎĎĐŃŇÓÔŐÖ×ŘŮÚŰÜÝŢßŕáâăäĺćçčéęëěíîďđńňóôőö÷řůúűüýţ˙",
                ('\u{80}'..='\u{9f}').collect::<String>()
            ),
            '\u{1a}',
        ),
        Charmap::new(
            "macroman",
            "ÄÅÇÉÑÖÜáàâäãåçéèêëíìîïñóòôöõúùûü†°¢£§•¶ß®©™´¨≠ÆØ∞±≤≥¥µ∂∑∏π∫ªºΩæø\
             ¿¡¬√ƒ≈∆«»…\u{a0}ÀÃÕŒœ–—“”‘’÷◊ÿŸ⁄€‹›ﬁﬂ‡·‚„‰ÂÊÁËÈÍÎÏÌÓÔ\u{f8ff}ÒÚÛÙıˆ˜¯˘˙˚¸˝˛ˇ",
            '\u{1a}',
        ),
        Charmap::new(
            "cp437",
            "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐\
             └┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u{a0}",
            '\u{1a}',
        ),
    ]
}

/// Sloppy windows-1252 for one byte (its holes decode to the C1 control of the same number).
fn sloppy_windows_1252(byte: u8) -> char {
    if byte < 0x80 {
        char::from(byte)
    } else {
        SLOPPY_1252
            .chars()
            .nth(usize::from(byte - 0x80))
            .unwrap_or(char::from(byte))
    }
}

fn is_c1_control(c: char) -> bool {
    ('\u{80}'..='\u{9f}').contains(&c)
}

/// `text.encode("latin-1").decode("windows-1252")` (strict: the five holes fail), or `None`.
fn decode_windows_1252_strict(text: &str) -> Option<String> {
    text.chars()
        .map(|c| match u32::from(c) {
            0x81 | 0x8D | 0x8F | 0x90 | 0x9D => None,
            code @ 0x80..=0x9F => Some(sloppy_windows_1252(code as u8)),
            0..=0xFF => Some(c),
            _ => None,
        })
        .collect()
}

/// ftfy's `fixes.fix_c1_controls`: C1 controls read as (sloppy) windows-1252.
fn fix_c1_controls(text: &str) -> String {
    text.chars()
        .map(|c| {
            if is_c1_control(c) {
                sloppy_windows_1252(c as u8)
            } else {
                c
            }
        })
        .collect()
}

/// The UTF-8 decoding ftfy picks: strict UTF-8, extended (when bytes 0xC0 or 0xED occur) by its
/// "utf-8-variants" codec with Java's `C0 80` for NUL and CESU-8 surrogate pairs. Like Python's
/// codec, `C0` followed by a final `\n` also reads as NUL (`$` matches before a final newline),
/// and so does a CESU-8 pair whose sixth byte is a final `\n`.
fn decode_utf8_variants(bytes: &[u8]) -> Option<String> {
    if !bytes.contains(&0xC0) && !bytes.contains(&0xED) {
        return String::from_utf8(bytes.to_vec()).ok();
    }
    let mut out = String::with_capacity(bytes.len());
    let mut plain_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let rest = &bytes[i..];
        let final_newline = |at: usize| rest.len() == at + 1 && rest[at] == b'\n';
        let special = match rest {
            [0xC0, 0x80, ..] => Some(('\u{0}', 2)),
            [0xC0, b'\n'] => Some(('\u{0}', 2)),
            [
                0xED,
                hi @ 0xA0..=0xAF,
                b2 @ 0x80..=0xBF,
                0xED,
                lo @ 0xB0..=0xBF,
                b5,
                ..,
            ] if (0x80..=0xBF).contains(b5) || final_newline(5) => {
                let code = ((u32::from(*hi) & 0x0F) << 16)
                    + ((u32::from(*b2) & 0x3F) << 10)
                    + ((u32::from(*lo) & 0x0F) << 6)
                    + (u32::from(*b5) & 0x3F)
                    + 0x10000;
                char::from_u32(code).map(|c| (c, 6))
            }
            _ => None,
        };
        match special {
            Some((c, len)) => {
                out.push_str(std::str::from_utf8(&bytes[plain_start..i]).ok()?);
                out.push(c);
                i += len;
                plain_start = i;
            }
            None => i += 1,
        }
    }
    out.push_str(std::str::from_utf8(&bytes[plain_start..]).ok()?);
    Some(out)
}

// ---- byte patterns of ftfy (fixed-length alternatives, matched like Python's `re`) ------------

/// One byte position of a pattern: inclusive byte ranges.
type ByteClass = &'static [(u8, u8)];
/// Alternatives of fixed-length byte sequences; the first that matches at a position wins.
type BytePattern = &'static [&'static [ByteClass]];

const SPACE: ByteClass = &[(b' ', b' ')];
const CONT: ByteClass = &[(0x80, 0xBF)];
/// Continuation bytes other than 0x85 and 0xA0.
const CONT_LIKELY: ByteClass = &[(0x80, 0x84), (0x86, 0x9F), (0xA1, 0xBF)];
const F0: ByteClass = &[(0xF0, 0xF0)];
const ED: ByteClass = &[(0xED, 0xED)];
const SUB: ByteClass = &[(0x1A, 0x1A)];
const SUB_Q: ByteClass = &[(0x1A, 0x1A), (b'?', b'?')];
const SUB_CONT: ByteClass = &[(0x1A, 0x1A), (0x80, 0xBF)];
const SUB_Q_CONT: ByteClass = &[(0x1A, 0x1A), (b'?', b'?'), (0x80, 0xBF)];

/// ftfy's `ALTERED_UTF8_RE`: UTF-8 whose byte 0xA0 became a space.
const ALTERED_UTF8: BytePattern = &[
    &[
        &[
            (0xC2, 0xC3),
            (0xC5, 0xC5),
            (0xCE, 0xCE),
            (0xD0, 0xD0),
            (0xD9, 0xD9),
        ],
        SPACE,
    ],
    &[&[(0xE2, 0xE3)], SPACE, CONT_LIKELY],
    &[&[(0xE0, 0xE3)], CONT_LIKELY, SPACE],
    &[F0, SPACE, CONT, CONT],
    &[F0, CONT, SPACE, CONT],
    &[F0, CONT, CONT, SPACE],
];

/// ftfy's `LOSSY_UTF8_RE`: UTF-8 sequences with bytes lost to U+FFFD (byte 0x1A) or `?`.
const LOSSY_UTF8: BytePattern = &[
    &[&[(0xC2, 0xDF)], SUB],
    &[&[(0xC2, 0xC3)], &[(b'?', b'?')]],
    &[ED, &[(0xA0, 0xAF)], SUB_Q, ED, &[(0xB0, 0xBF)], SUB_Q_CONT],
    &[ED, &[(0xA0, 0xAF)], SUB_Q_CONT, ED, &[(0xB0, 0xBF)], SUB_Q],
    &[&[(0xE0, 0xEF)], SUB_Q, SUB_CONT],
    &[&[(0xE0, 0xEF)], SUB_CONT, SUB_Q],
    &[&[(0xF0, 0xF4)], SUB_Q, SUB_CONT, SUB_CONT],
    &[&[(0xF0, 0xF4)], SUB_CONT, SUB_Q, SUB_CONT],
    &[&[(0xF0, 0xF4)], SUB_CONT, SUB_CONT, SUB_Q],
    &[SUB],
];

/// Length of the first alternative of `pattern` that matches at the start of `bytes`.
fn match_bytes(bytes: &[u8], pattern: BytePattern) -> Option<usize> {
    pattern
        .iter()
        .find(|sequence| {
            sequence.len() <= bytes.len()
                && sequence.iter().zip(bytes).all(|(class, byte)| {
                    class.iter().any(|&(low, high)| (low..=high).contains(byte))
                })
        })
        .map(|sequence| sequence.len())
}

fn search_bytes(bytes: &[u8], pattern: BytePattern) -> bool {
    (0..bytes.len()).any(|i| match_bytes(&bytes[i..], pattern).is_some())
}

/// Python's `pattern.sub(replace, bytes)` for a [`BytePattern`].
fn sub_bytes(bytes: &[u8], pattern: BytePattern, replace: impl Fn(&[u8]) -> Vec<u8>) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match match_bytes(&bytes[i..], pattern) {
            Some(len) => {
                out.extend(replace(&bytes[i..i + len]));
                i += len;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    out
}

/// ftfy's `fixes.restore_byte_a0`: put back the 0xA0 bytes that became spaces.
fn restore_byte_a0(bytes: &[u8]) -> Vec<u8> {
    // A_GRAVE_WORD_RE, `\xc3 (?! |quele|quela|quilo|s )`: "Ã " as the word "à" keeps its space.
    let mut with_a_grave = Vec::with_capacity(bytes.len() + 4);
    let mut i = 0;
    while i < bytes.len() {
        let after = &bytes[(i + 2).min(bytes.len())..];
        let excluded = [&b" "[..], b"quele", b"quela", b"quilo", b"s "]
            .iter()
            .any(|word| after.starts_with(word));
        if bytes[i..].starts_with(b"\xC3 ") && !excluded {
            with_a_grave.extend_from_slice(b"\xC3\xA0 ");
            i += 2;
        } else {
            with_a_grave.push(bytes[i]);
            i += 1;
        }
    }
    sub_bytes(&with_a_grave, ALTERED_UTF8, |found| {
        found
            .iter()
            .map(|&b| if b == b' ' { 0xA0 } else { b })
            .collect()
    })
}

// ---- ftfy's character-level fixes -------------------------------------------------------------

/// ftfy's `fixes.fix_latin_ligatures`.
fn fix_latin_ligatures(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            'Ĳ' => out.push_str("IJ"),
            'ĳ' => out.push_str("ij"),
            'ŉ' => out.push_str("ʼn"),
            'Ǳ' => out.push_str("DZ"),
            'ǲ' => out.push_str("Dz"),
            'ǳ' => out.push_str("dz"),
            'Ǆ' => out.push_str("DŽ"),
            'ǅ' => out.push_str("Dž"),
            'ǆ' => out.push_str("dž"),
            'Ǉ' => out.push_str("LJ"),
            'ǈ' => out.push_str("Lj"),
            'ǉ' => out.push_str("lj"),
            'Ǌ' => out.push_str("NJ"),
            'ǋ' => out.push_str("Nj"),
            'ǌ' => out.push_str("nj"),
            'ﬀ' => out.push_str("ff"),
            'ﬁ' => out.push_str("fi"),
            'ﬂ' => out.push_str("fl"),
            'ﬃ' => out.push_str("ffi"),
            'ﬄ' => out.push_str("ffl"),
            'ﬅ' => out.push_str("ſt"),
            'ﬆ' => out.push_str("st"),
            _ => out.push(c),
        }
    }
    out
}

/// ftfy's `fixes.fix_character_width`: NFKC of U+FF01..U+FFEF, and U+3000 → space.
fn fix_character_width(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\u{3000}' => out.push(' '),
            '\u{ff01}'..='\u{ffef}' => out.extend(std::iter::once(c).nfkc()),
            _ => out.push(c),
        }
    }
    out
}

/// ftfy's `fixes.uncurl_quotes`.
fn uncurl_quotes(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{2bc}' | '\u{2018}'..='\u{201b}' => '\'',
            '\u{201c}'..='\u{201f}' => '"',
            _ => c,
        })
        .collect()
}

/// ftfy's `fixes.fix_line_breaks`.
fn fix_line_breaks(text: &str) -> String {
    text.replace("\r\n", "\n")
        .replace(['\r', '\u{2028}', '\u{2029}', '\u{85}'], "\n")
}

/// ftfy's `fixes.remove_control_chars`.
fn remove_control_chars(text: &str) -> String {
    text.chars()
        .filter(|c| {
            !matches!(c,
                '\u{0}'..='\u{8}' | '\u{b}' | '\u{e}'..='\u{1f}' | '\u{7f}'
                | '\u{206a}'..='\u{206f}' | '\u{feff}' | '\u{fff9}'..='\u{fffc}')
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cleaner() -> TextCleaner {
        TextCleaner::new().expect("constant patterns compile")
    }

    #[test]
    fn python_html_unescape() {
        let c = cleaner();
        let cases = [
            ("&amp;", "&"),
            ("&amp", "&"),
            ("&AMP;", "&"),
            ("&ampfoo", "&foo"),
            ("&notin;", "∉"),
            ("&notin", "¬in"),
            ("&notit;", "¬it;"),
            ("&eacute", "é"),
            ("&Eacute;", "É"),
            ("&EACUTE;", "&EACUTE;"),
            ("&fjlig;", "fj"),
            ("&acE;", "\u{223e}\u{333}"),
            ("&#39;", "'"),
            ("&#x27;", "'"),
            ("&#X27", "'"),
            ("&#0;", "\u{fffd}"),
            ("&#13;", "\r"),
            ("&#128;", "€"),
            ("&#x81;", "\u{81}"),
            ("&#x9F;", "Ÿ"),
            ("&#xD800;", "\u{fffd}"),
            ("&#1114112;", "\u{fffd}"),
            ("&#99999999999999999999;", "\u{fffd}"),
            ("&#1;", ""),
            ("&#xFFFE;", ""),
            ("&#x10FFFF;", ""),
            ("&#x1F30D;", "🌍"),
            ("&#;", "&#;"),
            ("&#x;", "&#x;"),
            ("&;", "&;"),
            ("& amp;", "& amp;"),
            ("&unknown;", "&unknown;"),
            ("a &lt;b&gt; &amp;amp;", "a <b> &amp;"),
        ];
        for (input, expected) in cases {
            assert_eq!(c.html_unescape(input), expected, "html.unescape({input:?})");
        }
    }

    #[test]
    fn ftfy_unescape_only_takes_semicolon_references() {
        let c = cleaner();
        assert_eq!(
            c.unescape_html("&amp;amp; &amp &lt;b&gt;"),
            "&amp; &amp <b>"
        );
        assert_eq!(
            c.unescape_html("P&EACUTE;REZ &NTILDE; &nTILDE;"),
            "PÉREZ Ñ &nTILDE;"
        );
        assert_eq!(c.unescape_html("BUNDESSTRA&SZLIG;E"), "BUNDESSTRASSE");
        assert_eq!(c.unescape_html("&#x2019;s &#12abc;"), "\u{2019}s &#12abc;");
        assert_eq!(c.unescape_html("this&not that"), "this&not that");
    }

    #[test]
    fn whitespace_follows_python_split() {
        assert_eq!(
            whitespace_clean("  a\t\tb\n\u{a0}c\u{3000}d\u{1c}e\u{85} "),
            "a b c d e"
        );
        // Zero-width space is not whitespace for Python.
        assert_eq!(whitespace_clean("a\u{200b}b"), "a\u{200b}b");
        assert_eq!(python_strip("\u{2029} x \u{205f}"), "x");
    }

    #[test]
    fn mojibake_is_repaired() {
        let c = cleaner();
        let cases = [
            ("cafÃ© mojibake", "café mojibake"),
            ("sÃ³", "só"),
            ("âœ” No problems", "✔ No problems"),
            ("voilÃ le travail", "voilà le travail"),
            ("â€œquotedâ€\u{9d}", "\"quoted\""),
            ("ÐŸÑ€Ð¸Ð²ÐµÑ‚", "Привет"),
            ("ðŸŒ\u{8d}", "🌍"),
            ("ðŸ˜€ smile", "😀 smile"),
            (
                "The Mona Lisa doesnÃƒÂ¢Ã¢â€šÂ¬Ã¢â€žÂ¢t have eyebrows.",
                "The Mona Lisa doesn't have eyebrows.",
            ),
            ("\u{93}quoted\u{94}", "\"quoted\""),
        ];
        for (input, expected) in cases {
            assert_eq!(c.fix_text(input), expected, "fix_text({input:?})");
        }
        // Legitimate accents are left alone.
        assert_eq!(
            c.fix_text("naïve café résumé Zürich"),
            "naïve café résumé Zürich"
        );
    }

    #[test]
    fn ftfy_character_fixes() {
        let c = cleaner();
        assert_eq!(
            c.fix_text("Broken text&hellip; it&#x2019;s ﬂubberiﬁc!"),
            "Broken text… it's flubberific!"
        );
        assert_eq!(c.fix_text("ＬＯＵＤ　ＮＯＩＳＥＳ"), "LOUD NOISES");
        assert_eq!(c.fix_text("Ｕﾀｰﾝ"), "Uターン");
        assert_eq!(c.fix_text("\u{1b}[36;44mblue\u{1b}[0m"), "blue");
        assert_eq!(c.fix_text("a\r\nb\rc\u{2028}d"), "a\nb\nc\nd");
        assert_eq!(c.fix_text("\u{feff}x\u{0}y\u{7f}"), "xy");
        // Text with a literal `<` is HTML: its entities stay (html.unescape handles them later).
        assert_eq!(c.fix_text("<b>&amp;</b>"), "<b>&amp;</b>");
        assert_eq!(c.basic_clean("<b>&amp;amp;</b>"), "<b>&</b>");
        // Combining sequences are composed (NFC).
        assert_eq!(c.fix_text("e\u{301}"), "é");
    }

    #[test]
    fn clean_lowercases_like_python() {
        let c = cleaner();
        assert_eq!(
            c.clean("  ΟΔΟΣ  İstanbul\tSTRASSE "),
            "οδος i̇stanbul strasse"
        );
        assert_eq!(c.clean(""), "");
        assert_eq!(c.clean(" \t\n "), "");
    }

    #[test]
    fn utf8_variants() {
        assert_eq!(decode_utf8_variants(b"a\xC0\x80b").as_deref(), Some("a\0b"));
        assert_eq!(
            decode_utf8_variants(b"\xED\xA0\xBD\xED\xB8\x80").as_deref(),
            Some("😀")
        );
        assert_eq!(decode_utf8_variants(b"\xED\xA0\x80"), None);
        assert_eq!(decode_utf8_variants(b"\xC0\x41"), None);
        assert_eq!(
            decode_utf8_variants(b"\xED\x9F\xBF").as_deref(),
            Some("\u{d7ff}")
        );
    }

    #[test]
    fn charmaps_have_full_tables() {
        for charmap in charmaps() {
            // 128 distinct characters for the high bytes, plus the one for byte 0x1A.
            assert_eq!(charmap.encoder.len(), 129, "{}", charmap.name);
            let substitute = if charmap.name.starts_with("sloppy") {
                "\u{fffd}"
            } else {
                "\u{1a}"
            };
            assert_eq!(
                charmap.encode(substitute),
                Some(vec![0x1A]),
                "{}",
                charmap.name
            );
        }
        let cp437 = &charmaps()[9];
        assert_eq!(cp437.encode("Ç■\u{a0}"), Some(vec![0x80, 0xFE, 0xFF]));
        assert_eq!(sloppy_windows_1252(0x80), '€');
        assert_eq!(sloppy_windows_1252(0x81), '\u{81}');
    }

    #[test]
    fn html5_table_matches_python() {
        let html5 = python_html5_entities();
        // Python 3.11: 2125 names with `;` and 106 legacy names without.
        assert_eq!(html5.len(), 2231);
        assert_eq!(html5["ThickSpace;"], "\u{205f}\u{200a}");
        assert_eq!(html5["nbsp"], "\u{a0}");
    }
}

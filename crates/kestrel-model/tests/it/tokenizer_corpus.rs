//! The tokenizer and its text cleaning against `tests/fixtures/tokenizer_corpus.json`: 585
//! varied strings (scripts, emoji, whitespace, HTML entities, mojibake, special tokens, long
//! texts, seeded random strings) run through open_clip 3.3.0's `SimpleTokenizer` with ftfy
//! 6.3.1 by `tests/fixtures/tokenizer_corpus.py`.

use kestrel_model::tokenize::bpe::{ClipTokenizer, EOT_ID};
use serde::Deserialize;

#[derive(Deserialize)]
struct Corpus {
    context_length: usize,
    entries: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    text: String,
    clean: String,
    n_bpe: usize,
    ids: Vec<u32>,
}

fn corpus() -> Corpus {
    let path = crate::common::repo().join("tests/fixtures/tokenizer_corpus.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn cleaning_matches_open_clip() {
    let corpus = corpus();
    let tokenizer = ClipTokenizer::new().expect("built-in tokenizer");
    let mismatches: Vec<String> = corpus
        .entries
        .iter()
        .filter_map(|e| {
            let clean = tokenizer.clean(&e.text);
            (clean != e.clean).then(|| {
                format!(
                    "{:?}\n  got      {clean:?}\n  expected {:?}",
                    e.text, e.clean
                )
            })
        })
        .collect();
    assert!(
        mismatches.is_empty(),
        "{} of {} differ:\n{}",
        mismatches.len(),
        corpus.entries.len(),
        mismatches.join("\n")
    );
}

#[test]
fn ids_match_open_clip() {
    let corpus = corpus();
    assert!(corpus.entries.len() >= 500);
    let tokenizer = ClipTokenizer::new().expect("built-in tokenizer");
    let mismatches: Vec<String> = corpus
        .entries
        .iter()
        .filter_map(|e| {
            let mut expected = e.ids.clone();
            expected.resize(corpus.context_length, 0);
            let ids = tokenizer.encode(&e.text);
            (ids != expected)
                .then(|| format!("{:?}\n  got      {ids:?}\n  expected {expected:?}", e.text))
        })
        .collect();
    assert!(
        mismatches.is_empty(),
        "{} of {} differ:\n{}",
        mismatches.len(),
        corpus.entries.len(),
        mismatches.join("\n")
    );
}

#[test]
fn long_texts_are_truncated_and_empty_ones_flagged_as_open_clip() {
    let corpus = corpus();
    let tokenizer = ClipTokenizer::new().expect("built-in tokenizer");
    let limit = corpus.context_length - 2;
    let mut too_long = 0;
    for e in &corpus.entries {
        assert_eq!(tokenizer.token_count(&e.text), e.n_bpe, "{:?}", e.text);
        let t = tokenizer.tokenize(&e.text);
        // open_clip's ids, truncated texts included (their last id is the end token).
        let mut expected = e.ids.clone();
        expected.resize(corpus.context_length, 0);
        assert_eq!(t.ids, expected, "{:?}", e.text);
        assert_eq!(t.pieces, e.n_bpe, "{:?}", e.text);
        assert_eq!(t.truncated, e.n_bpe > limit, "{:?}", e.text);
        assert_eq!(t.empty, e.n_bpe == 0, "{:?}", e.text);
        assert_eq!(t.warning().is_some(), t.truncated || t.empty);
        if t.truncated {
            assert_eq!((t.kept, t.ids[limit + 1]), (limit, EOT_ID), "{:?}", e.text);
            too_long += 1;
        }
    }
    // The corpus holds texts of 76, 100, 300 and 3634 tokens, among others.
    assert!(
        too_long >= 5,
        "only {too_long} over-long texts in the corpus"
    );
}

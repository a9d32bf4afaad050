//! The tokenizer against the oracle's reference ids (open_clip 3.3.0 `SimpleTokenizer`):
//! the 15 edge-case probes, the queries and all 250 zero-shot prompts of
//! `tests/fixtures/msclip_tiny/reference.json`, and the full model's reference when
//! `../shared` is present.

use std::path::{Path, PathBuf};

use kestrel_model::tokenize::bpe::{ClipTokenizer, EOT_ID};
use serde_json::Value;

fn manifest_path(relative: &str) -> PathBuf {
    crate::common::repo().join(relative)
}

fn load_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn ids_of(value: &Value) -> Vec<u32> {
    value
        .as_array()
        .expect("ids array")
        .iter()
        .map(|id| u32::try_from(id.as_u64().expect("id")).expect("u32 id"))
        .collect()
}

/// Every `{text, ids}` case of a reference file: probes, queries, prompts.
fn reference_cases(reference: &Value) -> Vec<(String, Vec<u32>)> {
    let mut cases = Vec::new();
    let probes = reference["tokenizer"]["probes"].as_array().expect("probes");
    let queries = reference["queries"].as_array().expect("queries");
    let prompts = reference["prompts"].as_object().expect("prompts");
    for case in probes.iter().chain(queries).chain(
        prompts
            .values()
            .flat_map(|p| p.as_array().expect("prompt list")),
    ) {
        let text = case["text"].as_str().expect("text").to_owned();
        cases.push((text, ids_of(&case["ids"])));
    }
    cases
}

fn assert_all_match(tokenizer: &ClipTokenizer, cases: &[(String, Vec<u32>)]) {
    let mismatches: Vec<String> = cases
        .iter()
        .filter_map(|(text, expected)| {
            let ids = tokenizer.encode(text);
            (ids != *expected)
                .then(|| format!("{text:?}\n  got      {ids:?}\n  expected {expected:?}"))
        })
        .collect();
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

#[test]
fn tiny_reference_ids_match_exactly() {
    let reference = load_json(&manifest_path("tests/fixtures/msclip_tiny/reference.json"));
    let cases = reference_cases(&reference);
    assert_eq!(cases.len(), 15 + 3 + 250);
    let tokenizer = ClipTokenizer::new().expect("built-in tokenizer");
    assert_eq!(
        tokenizer.vocab_size(),
        reference["tokenizer"]["vocab_size"].as_u64().unwrap() as usize
    );
    assert_eq!(tokenizer.context_length(), 77);
    assert_all_match(&tokenizer, &cases);
}

#[test]
fn eot_index_matches_reference_queries() {
    let reference = load_json(&manifest_path("tests/fixtures/msclip_tiny/reference.json"));
    let tokenizer = ClipTokenizer::new().expect("built-in tokenizer");
    for query in reference["queries"].as_array().expect("queries") {
        let text = query["text"].as_str().expect("text");
        let ids = tokenizer.tokenize(text).ids;
        assert_eq!(ids, ids_of(&query["ids"]), "{text:?}");
        let expected = query["eot_index"].as_u64().expect("eot_index") as usize;
        assert_eq!(tokenizer.eot_index(&ids), Some(expected), "{text:?}");
        assert_eq!(ids[expected], EOT_ID);
    }
}

#[test]
fn batch_equals_single_encodes() {
    let tokenizer = ClipTokenizer::new().expect("built-in tokenizer");
    let texts = ["a river", "", "foo <end_of_text> bar", "cafÃ© mojibake"];
    let batch = tokenizer.encode_batch(&texts);
    assert_eq!(batch.len(), texts.len());
    for (text, ids) in texts.iter().zip(&batch) {
        assert_eq!(*ids, tokenizer.encode(text));
    }
    // The special token inside text is kept and is where pooling happens.
    assert_eq!(&batch[2][..5], &[49406, 23435, 49407, 2411, 49407]);
    assert_eq!(tokenizer.eot_index(&batch[2]), Some(2));
}

#[test]
fn shared_oracle_vocab_and_full_reference() {
    let shared = manifest_path("../shared/oracle");
    if !shared.is_dir() {
        eprintln!("skipping: {} is absent", shared.display());
        return;
    }
    let tokenizer = ClipTokenizer::from_vocab_gz(&shared.join("bpe_simple_vocab_16e6.txt.gz"))
        .expect("the oracle's vocabulary loads");
    for name in ["tiny/reference.json", "full/reference.json"] {
        let path = shared.join(name);
        if path.is_file() {
            assert_all_match(&tokenizer, &reference_cases(&load_json(&path)));
        } else {
            eprintln!("skipping {}: absent", path.display());
        }
    }
}

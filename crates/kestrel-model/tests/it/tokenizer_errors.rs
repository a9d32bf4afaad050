//! Bad input to the tokenizer: missing or corrupt vocabulary files, empty and over-long
//! queries, a 10 000-character query, a context too short. Clear errors, no panics.

use std::io::Write as _;
use std::time::Instant;

use kestrel_model::tokenize::bpe::{ClipTokenizer, EOT_ID, SOT_ID, TokenizerError};

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).expect("gzip in memory");
    encoder.finish().expect("gzip in memory")
}

#[test]
fn missing_vocab_names_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("no_such_vocab.txt.gz");
    let error = ClipTokenizer::from_vocab_gz(&path).expect_err("missing file is an error");
    assert!(
        matches!(error, TokenizerError::ReadVocab { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("no_such_vocab.txt.gz"), "{message}");
}

#[test]
fn corrupt_vocab_names_the_file_and_problem() {
    let dir = tempfile::tempdir().expect("tempdir");

    let not_gzip = dir.path().join("not_gzip.txt.gz");
    std::fs::write(&not_gzip, b"#version: 0.2\ni n\n").expect("write");
    let message = ClipTokenizer::from_vocab_gz(&not_gzip)
        .expect_err("error")
        .to_string();
    assert!(
        message.contains("not_gzip.txt.gz") && message.contains("gzip"),
        "{message}"
    );

    let truncated = dir.path().join("truncated.txt.gz");
    std::fs::write(&truncated, gzip(b"#version: 0.2\ni n\nt h\n")).expect("write");
    let message = ClipTokenizer::from_vocab_gz(&truncated)
        .expect_err("error")
        .to_string();
    assert!(
        message.contains("truncated.txt.gz") && message.contains("4 lines"),
        "{message}"
    );

    // A full-length file whose line 3 is not a pair of symbols.
    let mut lines = vec![
        "#version: 0.2".to_owned(),
        "i n".to_owned(),
        "oops".to_owned(),
    ];
    lines.extend((3..49_000).map(|i| format!("a{i} b")));
    let broken = dir.path().join("broken.txt.gz");
    std::fs::write(&broken, gzip(lines.join("\n").as_bytes())).expect("write");
    let message = ClipTokenizer::from_vocab_gz(&broken)
        .expect_err("error")
        .to_string();
    assert!(
        message.contains("broken.txt.gz") && message.contains("line 3"),
        "{message}"
    );
}

#[test]
fn empty_texts_embed_as_open_clip_with_a_warning() {
    let tokenizer = ClipTokenizer::new().expect("built-in tokenizer");
    for query in ["", " ", "\t\n \u{3000}\u{a0}", "&nbsp;", "\u{1}\u{7f}"] {
        let t = tokenizer.tokenize(query);
        // open_clip gives [SOT, EOT, 0, ...] for an empty text.
        assert_eq!(&t.ids[..3], &[SOT_ID, EOT_ID, 0], "{query:?}");
        assert!(t.empty && !t.truncated, "{query:?}");
        assert!(t.warning().unwrap().contains("empty"), "{query:?}");
    }
    assert_eq!(&tokenizer.encode("")[..3], &[SOT_ID, EOT_ID, 0]);
}

#[test]
fn long_texts_are_truncated_saying_how_long() {
    let tokenizer = ClipTokenizer::new().expect("built-in tokenizer");
    // 75 single-token words fit exactly; 76 are cut to 75 and the end token.
    let fits = tokenizer.tokenize(&vec!["word"; 75].join(" "));
    assert_eq!((fits.ids[75], fits.ids[76]), (2653, EOT_ID));
    assert!(!fits.truncated && fits.warning().is_none());
    let cut = tokenizer.tokenize(&vec!["word"; 76].join(" "));
    assert_eq!((cut.ids[75], cut.ids[76]), (2653, EOT_ID));
    assert_eq!((cut.pieces, cut.kept, cut.truncated), (76, 75, true));
    assert_eq!(
        cut.warning().unwrap(),
        "the text is too long: it has 76 tokens and only the first 75 are used, as open_clip truncates"
    );
    assert_eq!(cut.ids, tokenizer.encode(&vec!["word"; 76].join(" ")));
}

#[test]
fn ten_thousand_character_query_is_truncated_fast() {
    let tokenizer = ClipTokenizer::new().expect("built-in tokenizer");
    let query: String = "glacier lake, moraine & scree 2019; "
        .chars()
        .cycle()
        .take(10_000)
        .collect();
    let start = Instant::now();
    let t = tokenizer.tokenize(&query);
    let elapsed = start.elapsed();
    assert!(t.truncated && t.pieces > 2000, "{} tokens", t.pieces);
    assert_eq!((t.kept, t.ids.len(), t.ids[76]), (75, 77, EOT_ID));
    // Not a timing assertion: the time is printed for the report.
    eprintln!("10 000-character query tokenized in {elapsed:?}");
    // A single 10 000-letter word and pathological characters do not panic either.
    for text in [
        "x".repeat(10_000),
        "Ã".repeat(10_000),
        "&".repeat(10_000),
        "\u{301}".repeat(10_000),
    ] {
        let t = tokenizer.tokenize(&text);
        assert!(t.truncated, "{:?}", &text[..8]);
        assert_eq!(tokenizer.encode(&text).len(), 77);
    }
}

#[test]
fn context_length_is_configurable() {
    let tokenizer = ClipTokenizer::new()
        .expect("tokenizer")
        .with_context_length(8)
        .expect("8 is fine");
    assert_eq!(
        tokenizer.encode("a b c d e f g h"),
        vec![SOT_ID, 320, 321, 322, 323, 324, 325, EOT_ID]
    );
    assert_eq!(
        tokenizer.encode("a"),
        vec![SOT_ID, 320, EOT_ID, 0, 0, 0, 0, 0]
    );
    let t = tokenizer.tokenize("a b c d e f g");
    assert_eq!((t.pieces, t.kept, t.truncated), (7, 6, true));
    assert_eq!(t.ids, vec![SOT_ID, 320, 321, 322, 323, 324, 325, EOT_ID]);
    let error = ClipTokenizer::new()
        .expect("tokenizer")
        .with_context_length(1)
        .expect_err("too short");
    assert!(matches!(error, TokenizerError::ContextLength(1)));
}

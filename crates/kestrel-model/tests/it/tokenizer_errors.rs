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
fn empty_queries_are_rejected() {
    let tokenizer = ClipTokenizer::new().expect("built-in tokenizer");
    for query in ["", " ", "\t\n \u{3000}\u{a0}", "&nbsp;", "\u{1}\u{7f}"] {
        let error = tokenizer
            .encode_query(query)
            .expect_err("empty query is an error");
        assert!(
            matches!(error, TokenizerError::EmptyQuery),
            "{query:?}: {error:?}"
        );
        assert_eq!(error.to_string(), "query is empty");
    }
    // Templates may be empty: open_clip then gives [SOT, EOT, 0, ...].
    assert_eq!(&tokenizer.encode("")[..3], &[SOT_ID, EOT_ID, 0]);
}

#[test]
fn long_queries_say_how_long() {
    let tokenizer = ClipTokenizer::new().expect("built-in tokenizer");
    // 75 single-token words fit exactly; 76 do not.
    let fits = vec!["word"; 75].join(" ");
    let ids = tokenizer.encode_query(&fits).expect("75 tokens fit");
    assert_eq!((ids[75], ids[76]), (2653, EOT_ID));
    let error = tokenizer
        .encode_query(&vec!["word"; 76].join(" "))
        .expect_err("76 tokens");
    assert_eq!(
        error.to_string(),
        "query is too long: it has 76 tokens, the limit is 75"
    );
    // The template path truncates instead, forcing the end token.
    let truncated = tokenizer.encode(&vec!["word"; 76].join(" "));
    assert_eq!((truncated[75], truncated[76]), (2653, EOT_ID));
}

#[test]
fn ten_thousand_character_query_fails_fast() {
    let tokenizer = ClipTokenizer::new().expect("built-in tokenizer");
    let query: String = "glacier lake, moraine & scree 2019; "
        .chars()
        .cycle()
        .take(10_000)
        .collect();
    let start = Instant::now();
    let error = tokenizer.encode_query(&query).expect_err("too long");
    let elapsed = start.elapsed();
    match error {
        TokenizerError::QueryTooLong { tokens, limit } => {
            assert!(tokens > 2000, "{tokens} tokens");
            assert_eq!(limit, 75);
        }
        other => panic!("unexpected {other:?}"),
    }
    // Not a timing assertion: the time is printed for the report.
    eprintln!("10 000-character query rejected in {elapsed:?}");
    // A single 10 000-letter word and pathological characters do not panic either.
    for text in [
        "x".repeat(10_000),
        "Ã".repeat(10_000),
        "&".repeat(10_000),
        "\u{301}".repeat(10_000),
    ] {
        assert!(tokenizer.encode_query(&text).is_err());
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
    let error = tokenizer
        .encode_query("a b c d e f g")
        .expect_err("7 tokens > 6");
    assert_eq!(
        error.to_string(),
        "query is too long: it has 7 tokens, the limit is 6"
    );
    let error = ClipTokenizer::new()
        .expect("tokenizer")
        .with_context_length(1)
        .expect_err("too short");
    assert!(matches!(error, TokenizerError::ContextLength(1)));
}

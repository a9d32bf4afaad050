//! `kestrel tokenize`: the ids open_clip's tokenizer gives each text, and with `--bench` how
//! long the tokenizer takes (a benchmark, not a test). Runs on the calling thread.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;

use crate::model::tokenize::bpe::ClipTokenizer;

#[derive(Debug, Args)]
pub struct TokenizeArgs {
    /// Print JSON lines: `{"text", "clean", "tokens", "ids"}` (`tokens`: BPE tokens before
    /// framing; more than 75 means `ids` were truncated).
    #[arg(long)]
    pub json: bool,
    /// Instead of printing ids, encode the texts (default: a set of sample queries) this many
    /// rounds and print the time per text.
    #[arg(long, value_name = "ROUNDS")]
    pub bench: Option<usize>,
    pub texts: Vec<String>,
}

/// Queries of the kind users type, one with mojibake.
const SAMPLE_QUERIES: &[&str] = &[
    "a satellite image of a river",
    "Snow-covered wetlands in winter.",
    "coastal city next to the ocean",
    "agricultural fields with center-pivot irrigation",
    "Burned forest after the 2021 wildfire, NDVI < 0.2",
    "greenhouses in AlmerÃ\u{ad}a",
    "open-pit mine & tailings ponds",
    "Flooded farmland near the Danube (Hochwasser)",
];

pub fn run(args: &TokenizeArgs) -> anyhow::Result<()> {
    let start = Instant::now();
    let tokenizer = ClipTokenizer::new().context("building the tokenizer")?;
    let build_time = start.elapsed();
    if let Some(rounds) = args.bench {
        let texts: Vec<&str> = if args.texts.is_empty() {
            SAMPLE_QUERIES.to_vec()
        } else {
            args.texts.iter().map(String::as_str).collect()
        };
        bench(&tokenizer, &texts, rounds.max(1), build_time);
        return Ok(());
    }
    for text in &args.texts {
        let clean = tokenizer.clean(text);
        let ids = tokenizer.encode(text);
        let tokens = tokenizer.token_count(text);
        if args.json {
            let line =
                serde_json::json!({"text": text, "clean": clean, "tokens": tokens, "ids": ids});
            println!("{line}");
        } else {
            // Start token, the text's tokens, end token; the padding is left out.
            let framed = (tokens + 2).min(ids.len());
            println!(
                "{text:?} -> {clean:?}, {tokens} tokens: {:?}",
                &ids[..framed]
            );
        }
    }
    Ok(())
}

fn bench(tokenizer: &ClipTokenizer, texts: &[&str], rounds: usize, build_time: Duration) {
    let per_text = |elapsed: Duration, count: usize| elapsed.as_secs_f64() * 1e6 / count as f64;
    // The first pass fills the BPE cache of this thread; later passes are warm.
    let start = Instant::now();
    for text in texts {
        std::hint::black_box(tokenizer.encode(text));
    }
    let first = per_text(start.elapsed(), texts.len());
    let start = Instant::now();
    for _ in 0..rounds {
        for text in texts {
            std::hint::black_box(tokenizer.clean(text));
        }
    }
    let clean = per_text(start.elapsed(), rounds * texts.len());
    let start = Instant::now();
    for _ in 0..rounds {
        for text in texts {
            std::hint::black_box(tokenizer.encode(text));
        }
    }
    let warm = per_text(start.elapsed(), rounds * texts.len());
    let long: String = "glacier lake, moraine & scree 2019; "
        .chars()
        .cycle()
        .take(10_000)
        .collect();
    let start = Instant::now();
    let truncated = tokenizer.tokenize(&long).truncated;
    let long_time = start.elapsed();
    println!("tokenizer build: {:.1} ms", build_time.as_secs_f64() * 1e3);
    println!("{} texts x {rounds} rounds", texts.len());
    println!("encode, first pass (cold BPE cache): {first:.1} us/text");
    println!("encode, warm: {warm:.1} us/text (of which cleaning {clean:.1} us)");
    println!(
        "10 000-character query {}: {:.2} ms",
        if truncated { "truncated" } else { "kept whole" },
        long_time.as_secs_f64() * 1e3
    );
}

//! Fuzz targets for the model files and text Kestrel parses itself: the torch-zip pickle
//! scan and reader, the checkpoint sniffing and safetensors header, the open_clip config
//! JSON, and the tokenizer's text cleaning. Each target must return (an error naming the
//! file, or a value) for any input: never panic, overflow its stack or hang.
//!
//! The fuzzer is bolero, on stable Rust: under `cargo test` each target runs as a
//! property test on random inputs for about one second (bolero's default; the CI smoke
//! run) after replaying the inputs kept under `tests/it/__fuzz__/<target>/corpus`, which
//! hold the findings of earlier runs. A longer run of one target:
//!
//! ```sh
//! BOLERO_RANDOM_TEST_TIME_MS=180000 cargo test -p kestrel-model --test it fuzz_config_json -- --nocapture
//! ```
//!
//! (`BOLERO_RANDOM_ITERATIONS` fixes the count instead; a failure prints the input and its
//! `BOLERO_RANDOM_SEED`). With `cargo bolero` and AFL++ installed the same targets also
//! run coverage-guided (`cargo bolero test -e afl`); that needs tooling these machines lack.
//! Inputs are structured where random bytes would never pass the first check: pickles are
//! built from opcode fragments, headers and configs are edits of the real ones.

use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use kestrel_model::load::checkpoint::Checkpoint;
use kestrel_model::load::config::ClipConfig;
use kestrel_model::load::weights::{expected_shapes, expected_tensor_count};
use kestrel_model::tokenize::bpe::{ClipTokenizer, EOT_ID, SOT_ID};
use serde_json::{Value, json};

use super::bad_checkpoints::{state_dict_pickle, torch_zip, unicode};
use super::common::fixture;

/// Counts a target's executions and prints the count when dropped (seen with
/// `--nocapture`), so a long run reports how much it did.
struct Runs(&'static str, AtomicU64, std::time::Instant);

impl Runs {
    fn new(name: &'static str) -> Self {
        Runs(name, AtomicU64::new(0), std::time::Instant::now())
    }
    fn tick(&self) {
        self.1.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for Runs {
    fn drop(&mut self) {
        eprintln!(
            "fuzz {}: {} executions in {:.1} s",
            self.0,
            self.1.load(Ordering::Relaxed),
            self.2.elapsed().as_secs_f64()
        );
    }
}

/// The checkpoint error must name the file.
fn assert_names(e: &dyn std::fmt::Display, p: &Path) {
    let msg = e.to_string();
    assert!(msg.contains(&p.display().to_string()), "{msg}");
}

/// Pickle fragments: opcodes with well-formed arguments, and the strings and globals a
/// state dict uses, so that random sequences reach candle's reader and the scan's limits.
fn pickle_fragment(k: u8) -> Vec<u8> {
    let text = |s: &str| {
        let mut v = Vec::new();
        unicode(&mut v, s);
        v
    };
    match k % 40 {
        0 => b"}".to_vec(),
        1 => b"]".to_vec(),
        2 => b")".to_vec(),
        3 | 4 => b"(".to_vec(),
        5 => b"N".to_vec(),
        6 => vec![0x88],
        7 => vec![b'K', k],
        8 => vec![b'M', k, 1],
        9 => vec![b'J', 0xff, 0xff, 0xff, 0x7f],
        10 => text("w"),
        11 => text("storage"),
        12 => text("0"),
        13 => text("cpu"),
        14 => b"ctorch._utils\n_rebuild_tensor_v2\n".to_vec(),
        15 => b"ctorch\nFloatStorage\n".to_vec(),
        16 => b"ccollections\nOrderedDict\n".to_vec(),
        17 | 18 => b"t".to_vec(),
        19 | 20 => b"R".to_vec(),
        21 => b"u".to_vec(),
        22 => b"s".to_vec(),
        23 => b"a".to_vec(),
        24 => b"e".to_vec(),
        25 => vec![0x85],
        26 => vec![0x86],
        27 => vec![0x87],
        28 => vec![b'q', k],
        29 => vec![b'h', k % 4],
        30 => vec![b'r', k % 4, 0, 0, 0],
        31 => vec![b'j', k % 4, 0, 0, 0],
        32 => b"Q".to_vec(),
        33 => b"b".to_vec(),
        34 => vec![0x81],
        35 => vec![b'X', 0xff, 0xff, 0xff, 0xff],
        36 => vec![0x8a, 2, 1, 0],
        37 => vec![b'G', 0, 0, 0, 0, 0, 0, 0xf0, 0x3f],
        38 => vec![0x80, 2],
        _ => vec![k],
    }
}

#[test]
fn fuzz_pickle() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("fuzz.pt");
    let runs = Runs::new("pickle");
    bolero::check!()
        .with_type::<(bool, Vec<u8>, Vec<(u16, u8)>, u8)>()
        .for_each(|(from_fragments, frags, edits, storage)| {
            runs.tick();
            let pickle = if *from_fragments {
                let mut v = vec![0x80, 2];
                v.extend(frags.iter().flat_map(|&k| pickle_fragment(k)));
                v.push(b'.');
                v
            } else {
                // the well-formed state dict with bytes replaced
                let mut v = state_dict_pickle();
                for &(at, b) in edits {
                    let n = v.len();
                    v[usize::from(at) % n] = b;
                }
                v
            };
            torch_zip(&p, &pickle, &[("0", &vec![0u8; usize::from(*storage)])]);
            match Checkpoint::open(&p) {
                Ok(ck) => {
                    for (name, shape) in ck.entries() {
                        assert!(!name.is_empty() || shape.len() < 64);
                    }
                }
                Err(e) => assert_names(&e, &p),
            }
        });
}

#[test]
fn fuzz_checkpoint_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("fuzz.ckpt");
    let runs = Runs::new("checkpoint_bytes");
    bolero::check!()
        .with_type::<(u8, Vec<u8>)>()
        .for_each(|(kind, body)| {
            runs.tick();
            // past the format sniffing: a zip's magic, a safetensors length and `{`, or raw
            let mut bytes = match kind % 3 {
                0 => b"PK\x03\x04".to_vec(),
                1 => {
                    let mut v = (body.len() as u64 + 1).to_le_bytes().to_vec();
                    v.push(b'{');
                    v
                }
                _ => Vec::new(),
            };
            bytes.extend(body);
            std::fs::write(&p, &bytes).unwrap();
            if let Err(e) = Checkpoint::open(&p) {
                assert_names(&e, &p);
            }
        });
}

fn tiny_config() -> &'static ClipConfig {
    static CFG: OnceLock<ClipConfig> = OnceLock::new();
    CFG.get_or_init(|| {
        ClipConfig::from_file(&fixture("msclip_tiny/open_clip_config.json")).unwrap()
    })
}

const DTYPES: [&str; 9] = [
    "F32", "F16", "BF16", "F64", "I64", "U8", "BOOL", "F8_E4M3", "XX",
];

#[test]
fn fuzz_safetensors_header() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("fuzz.safetensors");
    let cfg = tiny_config();
    let names: Vec<String> = expected_shapes(cfg)
        .unwrap()
        .into_iter()
        .map(|(n, _)| n)
        .take(8)
        .collect();
    let runs = Runs::new("safetensors_header");
    type Tensor = (u8, u8, Vec<u16>, u32, u32);
    bolero::check!()
        .with_type::<(Vec<Tensor>, i16, u16, bool)>()
        .for_each(|(tensors, lie, data_len, metadata)| {
            runs.tick();
            let mut header = serde_json::Map::new();
            if *metadata {
                header.insert("__metadata__".into(), json!({"format": "pt"}));
            }
            for (name, dtype, shape, start, len) in tensors {
                let name = names[usize::from(*name) % names.len()].clone();
                let shape: Vec<u64> = shape.iter().map(|&d| u64::from(d % 300)).collect();
                let start = u64::from(*start % 4096);
                header.insert(
                    name,
                    json!({
                        "dtype": DTYPES[usize::from(*dtype) % DTYPES.len()],
                        "shape": shape,
                        "data_offsets": [start, start + u64::from(*len % 4096)],
                    }),
                );
            }
            let h = serde_json::to_vec(&Value::Object(header)).unwrap();
            let claimed = (h.len() as i64 + i64::from(*lie)).max(0) as u64;
            let mut bytes = claimed.to_le_bytes().to_vec();
            bytes.extend(&h);
            bytes.resize(bytes.len() + usize::from(*data_len % 8192), 0);
            std::fs::write(&p, &bytes).unwrap();
            match Checkpoint::open(&p) {
                Ok(ck) => {
                    if let Err(e) = ck.validate(cfg) {
                        assert_names(&e, &p);
                    }
                }
                Err(e) => assert_names(&e, &p),
            }
        });
}

/// Every leaf of a JSON value, as a JSON pointer.
fn leaves(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => m
            .iter()
            .for_each(|(k, x)| leaves(x, format!("{at}/{k}"), out)),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, x)| leaves(x, format!("{at}/{i}"), out)),
        _ => {}
    }
    out.push(at);
}

/// A replacement leaf: numbers (huge, negative, fractional, zero), other types, nothing.
fn odd_value(kind: u8, n: i64) -> Option<Value> {
    Some(match kind % 11 {
        0 => json!(n),
        1 => json!(n % 64),
        2 => json!(-(n.abs() % 1000)),
        3 => json!(n as f64 / 7.0),
        4 => json!(u64::MAX),
        5 => json!(format!("{n}")),
        6 => Value::Null,
        7 => json!([n % 8, n % 8]),
        8 => json!({}),
        9 => json!(n % 2 == 0),
        _ => return None, // remove it
    })
}

#[test]
fn fuzz_config_json() {
    let path = fixture("msclip_tiny/open_clip_config.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let base: Value = serde_json::from_str(&text).unwrap();
    let mut pointers = Vec::new();
    leaves(&base, String::new(), &mut pointers);
    pointers.retain(|p| !p.is_empty());
    let runs = Runs::new("config_json");
    bolero::check!()
        .with_type::<(Vec<(u16, u8, i64)>, Vec<(u16, u8)>)>()
        .for_each(|(edits, byte_edits)| {
            runs.tick();
            let json_text = if byte_edits.is_empty() {
                let mut v = base.clone();
                for &(at, kind, n) in edits {
                    let ptr = &pointers[usize::from(at) % pointers.len()];
                    let (parent, key) = ptr.rsplit_once('/').unwrap();
                    let Some(slot) = v.pointer_mut(parent) else {
                        continue;
                    };
                    match (slot, odd_value(kind, n)) {
                        (Value::Object(m), Some(x)) => {
                            m.insert(key.to_owned(), x);
                        }
                        (Value::Object(m), None) => {
                            m.remove(key);
                        }
                        (Value::Array(a), x) => {
                            if let Ok(i) = key.parse::<usize>()
                                && i < a.len()
                            {
                                a[i] = x.unwrap_or(Value::Null);
                            }
                        }
                        _ => {}
                    }
                }
                v.to_string()
            } else {
                // the text with bytes replaced (mostly invalid JSON)
                let mut b = text.clone().into_bytes();
                for &(at, x) in byte_edits {
                    let n = b.len();
                    b[usize::from(at) % n] = x;
                }
                String::from_utf8_lossy(&b).into_owned()
            };
            match ClipConfig::from_json_str(&json_text, Path::new("fuzz.json")) {
                Ok(cfg) => {
                    // what a valid config drives next must not blow up either
                    if let Ok(shapes) = expected_shapes(&cfg) {
                        assert_eq!(shapes.len(), expected_tensor_count(&cfg).unwrap());
                    }
                }
                Err(e) => assert!(e.to_string().contains("fuzz.json"), "{e}"),
            }
        });
}

/// Text fragments that exercise ftfy's repairs, the HTML unescaping and the BPE.
const TEXT_FRAGMENTS: [&str; 28] = [
    "flooded fields",
    " ",
    "\t",
    "\n",
    "&amp;",
    "&#",
    "&#x",
    "&lt;",
    "&nbsp",
    ";",
    "Ã",
    "©",
    "â€™",
    "Â",
    "\u{fffd}",
    "\u{1b}[31m",
    "\u{0}",
    "\u{7f}",
    "\u{85}",
    "\u{a0}",
    "ﬁ",
    "Ｆ",
    "\u{200b}",
    "水田",
    "🌊",
    "e\u{301}",
    "'s",
    "99",
];

#[test]
fn fuzz_text_cleaning() {
    let tok = ClipTokenizer::new().unwrap();
    let runs = Runs::new("text_cleaning");
    bolero::check!()
        .with_type::<(String, Vec<u8>)>()
        .for_each(|(random, frags)| {
            runs.tick();
            let built: String = frags
                .iter()
                .map(|&k| TEXT_FRAGMENTS[usize::from(k) % TEXT_FRAGMENTS.len()])
                .collect();
            for text in [random.as_str(), built.as_str()] {
                let clean = tok.clean(text);
                // whitespace_clean: single spaces, none at the ends
                assert!(!clean.contains("  ") && clean.trim() == clean, "{clean:?}");
                let t = tok.tokenize(text);
                assert_eq!(t.ids.len(), tok.context_length());
                assert_eq!(t.ids[0], SOT_ID);
                assert!(t.ids.contains(&EOT_ID));
                assert!(t.ids.iter().all(|&id| (id as usize) < tok.vocab_size()));
                assert_eq!(t.empty, t.pieces == 0);
            }
        });
}

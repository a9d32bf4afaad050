//! The model crate's integration tests, one binary: parity with the open_clip oracle
//! (tiny always, full when generated), the tokenizer against Python's ids, the `Embedder`
//! facade, the hub download against a loopback server, bf16 on the CPU per block, and
//! hostile model files, and the fuzz targets of the model files and text parsers.

mod bad_checkpoints;
mod bf16;
mod common;
mod embedder;
mod full;
mod fuzz;
mod hub;
mod oracle;
mod oracle_rgb;
mod oracle_rsmclip;
mod tokenizer_corpus;
mod tokenizer_errors;
mod tokenizer_oracle;

//! Hostile model files: checkpoints, configs and vocabularies that once crashed or hung the
//! loader (a pickle nested a million deep, a config asking for 10^9 layers, a `.pt` cut
//! inside its tensor data, a FIFO) now fail with an error naming the file and the problem.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use kestrel_model::load::checkpoint::Checkpoint;
use kestrel_model::load::config::ClipConfig;
use kestrel_model::tokenize::bpe::ClipTokenizer;

use super::common::fixture;

/// A torch zip (`torch.save` layout) holding `data.pkl` and the given storage files.
pub(super) fn torch_zip(path: &Path, pickle: &[u8], storages: &[(&str, &[u8])]) {
    let file = std::fs::File::create(path).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file("archive/data.pkl", opts).unwrap();
    zip.write_all(pickle).unwrap();
    for (name, bytes) in storages {
        zip.start_file(format!("archive/data/{name}"), opts)
            .unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
}

pub(super) fn unicode(out: &mut Vec<u8>, s: &str) {
    out.push(b'X');
    out.extend((s.len() as u32).to_le_bytes());
    out.extend(s.as_bytes());
}

/// The pickle `torch.save({"w": torch.zeros(2, 3)})` writes (protocol 2, no memo).
pub(super) fn state_dict_pickle() -> Vec<u8> {
    let mut p = vec![0x80, 2, b'}', b'('];
    unicode(&mut p, "w");
    p.extend(b"ctorch._utils\n_rebuild_tensor_v2\n((");
    unicode(&mut p, "storage");
    p.extend(b"ctorch\nFloatStorage\n");
    unicode(&mut p, "0");
    unicode(&mut p, "cpu");
    p.extend([b'K', 6, b't', b'Q', b'K', 0]);
    p.extend([b'K', 2, b'K', 3, 0x86, b'K', 3, b'K', 1, 0x86, 0x89]);
    p.extend(b"ccollections\nOrderedDict\n)Rt");
    p.extend(b"Ru.");
    p
}

#[test]
fn a_well_formed_torch_zip_opens() {
    // the control for the two cases below: the hand-written pickle is one candle reads
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("ok.pt");
    torch_zip(&p, &state_dict_pickle(), &[("0", &[0u8; 24])]);
    let ck = Checkpoint::open(&p).unwrap();
    let entries: Vec<(&str, &[usize])> = ck.entries().collect();
    assert_eq!(entries, vec![("w", &[2usize, 3][..])]);
}

#[test]
fn a_pickle_nested_a_million_deep_is_refused_not_a_stack_overflow() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("deep.pt");
    let depth = 1_000_000;
    let mut pickle = vec![0x80, 2];
    pickle.extend(std::iter::repeat_n(b']', depth));
    pickle.extend(std::iter::repeat_n(b'a', depth - 1));
    pickle.push(b'.');
    torch_zip(&p, &pickle, &[]);
    let e = Checkpoint::open(&p).err().expect("refused").to_string();
    assert!(
        e.starts_with(&format!("checkpoint {} is damaged", p.display()))
            && e.contains("archive/data.pkl nests objects more than 256 deep"),
        "{e}"
    );
}

#[test]
fn a_pickle_that_multiplies_memo_clones_is_refused() {
    // l = [x]; then 40 times l = (l, l): 2^40 objects if every memo get is a copy
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bomb.pt");
    let mut pickle = vec![0x80, 2, b']', b'N', b'a', b'q', 0];
    for _ in 0..40 {
        pickle.extend([b'h', 0, b'h', 0, 0x86, b'q', 0]);
    }
    pickle.push(b'.');
    torch_zip(&p, &pickle, &[]);
    let e = Checkpoint::open(&p).err().expect("refused").to_string();
    assert!(
        e.contains(&p.display().to_string()) && e.contains("builds more than 5000000 objects"),
        "{e}"
    );
}

#[test]
fn a_torch_zip_cut_inside_its_tensor_data_says_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("cut.pt");
    torch_zip(&p, &state_dict_pickle(), &[("0", &[0u8; 10])]);
    let e = Checkpoint::open(&p).err().expect("refused").to_string();
    assert_eq!(
        e,
        format!(
            "checkpoint {} is damaged or truncated: tensor w [2, 3] needs 24 bytes but \
             archive/data/0 holds 10: the file is truncated",
            p.display()
        )
    );
}

#[test]
fn a_string_longer_than_the_pickle_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("long.pt");
    let mut pickle = vec![0x80, 2, b'X'];
    pickle.extend(u32::MAX.to_le_bytes());
    pickle.extend(b"abc");
    torch_zip(&p, &pickle, &[]);
    let e = Checkpoint::open(&p).err().expect("refused").to_string();
    assert!(
        e.contains(&p.display().to_string())
            && e.contains("4294967295-byte string but only 3 bytes follow"),
        "{e}"
    );
}

#[test]
fn an_integer_longer_than_eight_bytes_is_refused_not_a_panic() {
    // found by fuzz_pickle: candle shifts each LONG1 byte into an i64, which overflows
    // (a panic in debug builds) past 8 bytes
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("long1.pt");
    let mut pickle = vec![0x80, 2, 0x8a, 9];
    pickle.extend([1u8; 9]);
    pickle.push(b'.');
    torch_zip(&p, &pickle, &[]);
    let e = Checkpoint::open(&p).err().expect("refused").to_string();
    assert!(
        e.contains(&p.display().to_string()) && e.contains("9-byte integer (LONG1)"),
        "{e}"
    );
}

pub(super) fn tiny_config_with(layers: &str) -> String {
    let text = std::fs::read_to_string(fixture("msclip_tiny/open_clip_config.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["model_cfg"]["vision_cfg"]["layers"] = serde_json::from_str(layers).unwrap();
    v.to_string()
}

#[test]
fn a_billion_layers_is_refused_by_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("huge.json");
    std::fs::write(&p, tiny_config_with("1000000000")).unwrap();
    let e = ClipConfig::from_file(&p).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "model config {}: vision_cfg.layers 1000000000 is absurd (at most 1024)",
            p.display()
        )
    );
}

#[test]
fn more_layers_than_the_checkpoint_holds_fails_before_listing_names() {
    let ckpt = fixture("msclip_tiny/msclip_random.safetensors");
    let ck = Checkpoint::open(&ckpt).unwrap();
    let cfg = ClipConfig::from_json_str(&tiny_config_with("1000"), Path::new("deep.json")).unwrap();
    let e = ck.validate(&cfg).unwrap_err().to_string();
    let found = ck.entries().count();
    assert!(
        e.starts_with(&format!(
            "checkpoint {} does not fit the model config: the config needs 12038 tensors \
             (vision_cfg.layers 1000, text_cfg.layers",
            ckpt.display()
        )) && e.ends_with(&format!("but the file holds only {found}")),
        "{e}"
    );
}

/// Run `f` on a thread; fail the test when it does not return within 20 s (a FIFO opened
/// for reading blocks until a writer comes).
fn within_20s<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(20))
        .expect("blocked on the FIFO")
}

fn mkfifo(path: &Path) {
    let st = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn fifos_as_checkpoint_config_or_vocabulary_are_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let fifo: PathBuf = dir.path().join("model.pt");
    mkfifo(&fifo);
    let f = fifo.clone();
    let e = within_20s(move || Checkpoint::open(&f).err().map(|e| e.to_string()));
    assert_eq!(
        e.as_deref(),
        Some(
            format!(
                "cannot read checkpoint {}: the path is not a regular file (it is a FIFO (named pipe))",
                fifo.display()
            )
            .as_str()
        )
    );
    let f = fifo.clone();
    let e = within_20s(move || ClipConfig::from_file(&f).err().map(|e| e.to_string()));
    assert!(
        e.as_deref().is_some_and(
            |e| e.contains(&fifo.display().to_string()) && e.contains("is not a regular file")
        ),
        "{e:?}"
    );
    let f = fifo.clone();
    let e = within_20s(move || {
        ClipTokenizer::from_vocab_gz(&f)
            .err()
            .map(|e| e.to_string())
    });
    assert!(
        e.as_deref().is_some_and(
            |e| e.contains(&fifo.display().to_string()) && e.contains("is not a regular file")
        ),
        "{e:?}"
    );
}

/// `header` (JSON) and `data` as a safetensors file whose length prefix is `claimed`
/// (the true header length when `None`).
fn safetensors(path: &Path, header: &serde_json::Value, data: &[u8], claimed: Option<u64>) {
    let h = serde_json::to_vec(header).unwrap();
    let mut out = claimed.unwrap_or(h.len() as u64).to_le_bytes().to_vec();
    out.extend(h);
    out.extend(data);
    std::fs::write(path, out).unwrap();
}

#[test]
fn safetensors_whose_header_lies_name_the_file_and_the_lie() {
    let dir = tempfile::tempdir().unwrap();
    let two = serde_json::json!({"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}});
    // the control: a well-formed file opens
    let p = dir.path().join("ok.safetensors");
    safetensors(&p, &two, &[0u8; 24], None);
    let ck = Checkpoint::open(&p).unwrap();
    assert_eq!(
        ck.entries().collect::<Vec<_>>(),
        vec![("w", &[2usize, 3][..])]
    );
    // a header length past the end of the file
    let p = dir.path().join("long.safetensors");
    safetensors(&p, &two, &[0u8; 24], Some(1 << 33));
    let e = Checkpoint::open(&p).err().expect("refused").to_string();
    assert!(
        e.starts_with(&format!(
            "checkpoint {} is damaged or truncated: ",
            p.display()
        )) && e.contains("safetensors header claims 8589934592 bytes but the file has"),
        "{e}"
    );
    // data offsets past the end of the file
    let p = dir.path().join("past.safetensors");
    let past = serde_json::json!({"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}});
    safetensors(&p, &past, &[0u8; 10], None);
    let e = Checkpoint::open(&p).err().expect("refused").to_string();
    assert!(
        e.starts_with(&format!(
            "checkpoint {} is damaged or truncated: ",
            p.display()
        )),
        "{e}"
    );
    // a shape whose size disagrees with its offsets
    let p = dir.path().join("shape.safetensors");
    let shape =
        serde_json::json!({"w": {"dtype": "F32", "shape": [4, 3], "data_offsets": [0, 24]}});
    safetensors(&p, &shape, &[0u8; 24], None);
    let e = Checkpoint::open(&p).err().expect("refused").to_string();
    assert!(
        e.starts_with(&format!(
            "checkpoint {} is damaged or truncated: ",
            p.display()
        )),
        "{e}"
    );
    // a shape that fits its bytes but not the config: the first bad key and both shapes
    let ckpt = fixture("msclip_tiny/msclip_random.safetensors");
    let bytes = std::fs::read(&ckpt).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let key = "visual.class_embedding";
    let width = header[key]["shape"][0].as_u64().unwrap();
    header[key]["shape"] = serde_json::json!([width / 2, 2]);
    let p = dir.path().join("reshaped.safetensors");
    safetensors(&p, &header, &bytes[8 + n..], None);
    let cfg = ClipConfig::from_file(&fixture("msclip_tiny/open_clip_config.json")).unwrap();
    let e = Checkpoint::open(&p)
        .unwrap()
        .validate(&cfg)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        format!(
            "checkpoint {} does not fit the model config: tensor {key} has shape [{}, 2], \
             expected [{width}] (is the config the one the checkpoint was trained with?)",
            p.display(),
            width / 2
        )
    );
}

//! Helpers shared by the integration tests: fixture paths, the tiny oracle's reference,
//! JSON number lists and tolerances. (Each test module uses a different subset.)

use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use kestrel_base::jobs::{CancelToken, NoProgress};
use kestrel_model::clip::{ClipModel, Kernels};
use kestrel_model::load::checkpoint::Checkpoint;
use kestrel_model::load::config::ClipConfig;
use kestrel_model::load::weights::Weights;
use serde_json::Value;

/// The tensors of the checkpoint `path` for `cfg`, on the CPU in `dtype`.
pub fn weights(cfg: &ClipConfig, path: &Path, dtype: DType) -> Weights {
    Checkpoint::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .load(cfg, &Device::Cpu, dtype, &NoProgress, &CancelToken::new())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The model `cfg` from the checkpoint `path`, in f32 on the CPU.
pub fn model(cfg: &ClipConfig, path: &Path, kernels: Kernels) -> ClipModel {
    ClipModel::new(cfg, &weights(cfg, path, DType::F32), kernels).unwrap()
}

/// The repository root (this crate lives in `crates/kestrel-model`; the fixtures are the
/// workspace's `tests/fixtures`).
pub fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// A file under `tests/fixtures`.
pub fn fixture(p: &str) -> PathBuf {
    repo().join("tests/fixtures").join(p)
}

/// The tiny oracle's `reference.json`.
pub fn reference() -> Value {
    let text =
        std::fs::read_to_string(fixture("msclip_tiny/reference.json")).expect("reference.json");
    serde_json::from_str(&text).expect("reference.json is JSON")
}

pub fn f32s(v: &Value) -> Vec<f32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect()
}

pub fn u32s(v: &Value) -> Vec<u32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_u64().expect("integer") as u32)
        .collect()
}

/// Largest absolute difference of two equally long vectors.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Read a fixture chip (12-band Int16 GeoTIFF) into the model's raw image type without GDAL:
/// the model crate does not link it. Band descriptions are not read (the chips carry none),
/// so the bands are picked by count, as with GDAL.
pub fn read_chip(path: &std::path::Path) -> kestrel_model::tasks::preprocess::RawImage {
    use tiff::decoder::{Decoder, DecodingResult};
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut dec = Decoder::new(std::io::BufReader::new(file)).expect("a TIFF");
    let (w, h) = dec.dimensions().expect("dimensions");
    let bands = match dec.colortype().expect("colour type") {
        tiff::ColorType::Multiband { num_samples, .. } => num_samples as usize,
        tiff::ColorType::Gray(_) => 1,
        other => panic!("{}: unexpected colour type {other:?}", path.display()),
    };
    let hwc: Vec<f32> = match dec.read_image().expect("pixels") {
        DecodingResult::I16(v) => v.into_iter().map(f32::from).collect(),
        DecodingResult::U16(v) => v.into_iter().map(f32::from).collect(),
        _ => panic!("{}: expected 16-bit samples", path.display()),
    };
    kestrel_model::tasks::preprocess::RawImage::from_hwc(path, &hwc, h as usize, w as usize, bands)
}

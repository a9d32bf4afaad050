//! Headless UI tests (egui_kittest, rendered through wgpu on lavapipe), one binary: the
//! viewer on the bundled demo scene, the model picker and the search workflow with the tiny models, with
//! snapshots in `tests/snapshots`.

mod archive;
mod compare;
mod labels;
mod models;
mod search;
mod swipe;
mod viewer;

/// A hub cache with nothing in it (never created), so the model picker shows "not
/// downloaded" whatever this machine has downloaded.
fn empty_hub_cache() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("empty-hub-cache")
}

//! Headless UI tests (egui_kittest, rendered through wgpu on lavapipe), one binary: the
//! viewer on the bundled demo scene, the model picker and the search workflow with the tiny models, with
//! snapshots in `tests/snapshots`.

mod labels;
mod models;
mod search;
mod viewer;

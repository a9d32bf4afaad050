//! Headless UI tests (egui_kittest, rendered through wgpu on lavapipe), one binary: the
//! viewer on the bundled demo scene and the search workflow with the tiny model, with
//! snapshots in `tests/snapshots`.

mod labels;
mod search;
mod viewer;

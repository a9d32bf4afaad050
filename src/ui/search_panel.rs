//! The search panel: choose and load the model, index the selected scene (with progress,
//! tiles/s and cancel), type a description to score every tile, or classify every tile
//! against a class list; the results show as a heatmap or class map over the map, a
//! ranked list, a score histogram, and export to CSV / GeoJSON.
//!
//! All model and index work runs in [`JobHandle`]s; this module only keeps their results.
//! Re-querying an indexed scene costs one text-tower pass (a few ms) plus a dot product
//! per tile, so it runs as a job too but returns at once.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use egui::{Color32, RichText, Ui};
use egui_plot::{Bar, BarChart, Plot};
use walkers::Projector;

use crate::export::{self, ClassifiedTile, ExportContext, RankedTile};
use crate::jobs::{JobHandle, Poll, Progress};
use crate::model::device::{DevicePreference, Precision};
use crate::model::hub;
use crate::model::zeroshot::{Classifier, TemplateSet};
use crate::model::{Embedder, ModelSpec};
use crate::raster::colormap;
use crate::search::cache::{self, CacheOutcome};
use crate::search::index::{IndexOptions, TileIndex};
use crate::search::query;
use crate::search::record::TileRecord;

use super::geo;
use super::scene_layer::SceneLayer;

/// Persisted search settings.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct SearchSettings {
    /// Local checkpoint; empty = the Hugging Face cache / download.
    pub checkpoint: String,
    pub device: DevicePreference,
    pub index: IndexOptions,
    pub classes: Vec<String>,
    pub templates: TemplateSet,
    pub heat_opacity: f32,
    pub top_n: usize,
    pub top_n_only: bool,
}

impl Default for SearchSettings {
    fn default() -> Self {
        Self {
            checkpoint: String::new(),
            device: DevicePreference::Auto,
            index: IndexOptions::default(),
            classes: [
                "forest",
                "water",
                "urban area",
                "agricultural land",
                "snow and ice",
            ]
            .map(String::from)
            .to_vec(),
            templates: TemplateSet::Msclip,
            heat_opacity: 0.6,
            top_n: 20,
            top_n_only: false,
        }
    }
}

type Job<T> = JobHandle<Result<T, String>>;

enum Slot<T> {
    Empty,
    Running(Job<T>, Option<Progress>),
    Ready(T),
    Failed(String),
}

impl<T: Send + 'static> Slot<T> {
    /// Poll a running job; returns true when it just finished.
    fn poll(&mut self) -> bool {
        if let Slot::Running(job, last) = self {
            match job.poll() {
                Poll::Running(p) => {
                    if p.is_some() {
                        *last = p;
                    }
                    false
                }
                Poll::Done(Ok(v)) => {
                    *self = Slot::Ready(v);
                    true
                }
                Poll::Done(Err(e)) => {
                    *self = Slot::Failed(e);
                    true
                }
                Poll::Lost => {
                    *self = Slot::Failed("the worker stopped unexpectedly".into());
                    true
                }
            }
        } else {
            false
        }
    }
    fn ready(&self) -> Option<&T> {
        match self {
            Slot::Ready(v) => Some(v),
            _ => None,
        }
    }
    fn is_running(&self) -> bool {
        matches!(self, Slot::Running(..))
    }
}

/// A scored query over one scene's index.
pub struct SearchResult {
    pub layer_id: u64,
    /// The query text (may be empty for a pure query by example).
    pub text: String,
    /// The example tiles used, e.g. `positive r3c4 r5c6; negative r1c1`.
    pub examples: String,
    pub description: String,
    pub scores: Vec<Option<f32>>,
    pub ranked: Vec<(usize, f32)>,
}

/// Zero-shot classes of every tile.
pub struct ClassResult {
    pub layer_id: u64,
    pub classes: Vec<String>,
    pub probs: Vec<Option<Vec<f32>>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Search,
    Classify,
}

/// What the panel asks the app to do.
pub enum SearchAction {
    CentreOn { lon: f64, lat: f64 },
    Message { error: bool, text: String },
}

pub struct SearchPanel {
    pub settings: SearchSettings,
    model: Slot<Arc<Embedder>>,
    indexes: HashMap<u64, Slot<Arc<TileIndex>>>,
    pub mode: Mode,
    pub query: String,
    query_job: Slot<SearchResult>,
    pub result: Option<SearchResult>,
    classify_job: Slot<ClassResult>,
    pub classes_result: Option<ClassResult>,
    classes_text: String,
    /// Example tiles (indices into the active index).
    pub positives: Vec<usize>,
    pub negatives: Vec<usize>,
    /// The tile the user picked (list or map), outlined on the map.
    pub selected: Option<usize>,
    /// The layer `selected`, `positives` and `negatives` refer to.
    examples_layer: Option<u64>,
    pub threshold: f32,
    save_dialog: Option<crossbeam_channel::Receiver<Option<(PathBuf, ExportKind)>>>,
    checkpoint_dialog: Option<crossbeam_channel::Receiver<Option<PathBuf>>>,
    export_job: Slot<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportKind {
    Csv,
    GeoJson,
}

fn repaint(ctx: &egui::Context) -> Arc<dyn Fn() + Send + Sync> {
    let ctx = ctx.clone();
    Arc::new(move || ctx.request_repaint())
}

/// Colour of a class in the class map (a qualitative palette, Tableau 10).
pub fn class_color(i: usize) -> Color32 {
    const P: [(u8, u8, u8); 10] = [
        (78, 121, 167),
        (242, 142, 43),
        (225, 87, 89),
        (118, 183, 178),
        (89, 161, 79),
        (237, 201, 72),
        (176, 122, 161),
        (255, 157, 167),
        (156, 117, 95),
        (186, 176, 172),
    ];
    let (r, g, b) = P[i % P.len()];
    Color32::from_rgb(r, g, b)
}

impl SearchPanel {
    pub fn new(settings: SearchSettings) -> Self {
        let classes_text = settings.classes.join("\n");
        Self {
            settings,
            model: Slot::Empty,
            indexes: HashMap::new(),
            mode: Mode::Search,
            query: String::new(),
            query_job: Slot::Empty,
            result: None,
            classify_job: Slot::Empty,
            classes_result: None,
            classes_text,
            positives: Vec::new(),
            negatives: Vec::new(),
            selected: None,
            examples_layer: None,
            threshold: -1.0,
            save_dialog: None,
            checkpoint_dialog: None,
            export_job: Slot::Empty,
        }
    }

    pub fn model(&self) -> Option<&Arc<Embedder>> {
        self.model.ready()
    }

    pub fn index_of(&self, layer_id: u64) -> Option<&Arc<TileIndex>> {
        self.indexes.get(&layer_id).and_then(Slot::ready)
    }

    pub fn is_indexing(&self, layer_id: u64) -> bool {
        self.indexes.get(&layer_id).is_some_and(Slot::is_running)
    }

    /// Start loading the model from the settings.
    pub fn load_model(&mut self, ctx: &egui::Context) {
        let spec = ModelSpec {
            checkpoint: (!self.settings.checkpoint.trim().is_empty())
                .then(|| PathBuf::from(self.settings.checkpoint.trim())),
            config: None,
            device: self.settings.device,
            precision: Precision::F32,
            ..ModelSpec::default()
        };
        self.model = Slot::Running(
            JobHandle::spawn("load-model", repaint(ctx), move |jc| {
                Embedder::load(&spec, jc, &jc.cancel)
                    .map(Arc::new)
                    .map_err(|e| format!("{e:#}"))
            }),
            None,
        );
        // a new model invalidates every index and result
        self.indexes.clear();
        self.result = None;
        self.classes_result = None;
    }

    /// Start indexing a scene (cache first).
    pub fn index_scene(&mut self, layer: &SceneLayer, ctx: &egui::Context) {
        let (Some(model), Some(scene)) = (self.model.ready().cloned(), layer.scene.clone()) else {
            return;
        };
        let mut opts = self.settings.index;
        opts.readers = if model.on_gpu() { 2 } else { 1 };
        let job = JobHandle::spawn("index-scene", repaint(ctx), move |jc| {
            let (index, outcome) = cache::open_or_build(
                &cache::cache_dir(),
                &scene,
                model.as_ref(),
                &opts,
                jc,
                &jc.cancel,
            )
            .map_err(|e| format!("{e}"))?;
            match outcome {
                CacheOutcome::Hit(p) => log::info!("index from cache {}", p.display()),
                CacheOutcome::Built {
                    path,
                    reason,
                    saved,
                } => log::info!(
                    "index built ({reason}); saved to {}: {saved:?}",
                    path.display()
                ),
            }
            Ok(Arc::new(index))
        });
        self.indexes.insert(layer.id, Slot::Running(job, None));
    }

    /// Forget results that belong to a closed layer.
    pub fn layer_closed(&mut self, layer_id: u64) {
        self.indexes.remove(&layer_id);
        if self.result.as_ref().is_some_and(|r| r.layer_id == layer_id) {
            self.result = None;
        }
        if self
            .classes_result
            .as_ref()
            .is_some_and(|r| r.layer_id == layer_id)
        {
            self.classes_result = None;
        }
    }

    fn run_query(&mut self, layer_id: u64, ctx: &egui::Context) {
        let (Some(model), Some(index)) = (
            self.model.ready().cloned(),
            self.index_of(layer_id).cloned(),
        ) else {
            return;
        };
        let text = self.query.trim().to_string();
        let positives = self.positives.clone();
        let negatives = self.negatives.clone();
        let job = JobHandle::spawn("query", repaint(ctx), move |_jc| {
            let text_emb = if text.is_empty() {
                None
            } else {
                Some(model.embed_query(&text).map_err(|e| format!("{e}"))?)
            };
            let emb = |i: &usize| index.tiles.get(*i).and_then(|t| t.embedding.as_deref());
            let pos: Vec<&[f32]> = positives.iter().filter_map(emb).collect();
            let neg: Vec<&[f32]> = negatives.iter().filter_map(emb).collect();
            let q = query::combine_query(
                text_emb.as_deref(),
                &pos,
                &neg,
                query::RefineWeights::default(),
            )
            .ok_or_else(|| "type a description or add a positive example tile".to_string())?;
            let scores = query::score(index.tiles.iter().map(|t| t.embedding.as_deref()), &q);
            let ranked = query::rank(&scores);
            let name = |i: &usize| index.tiles.get(*i).map(|t| format!("r{}c{}", t.row, t.col));
            let mut examples = Vec::new();
            if !positives.is_empty() {
                examples.push(format!(
                    "positive {}",
                    positives
                        .iter()
                        .filter_map(name)
                        .collect::<Vec<_>>()
                        .join(" ")
                ));
            }
            if !negatives.is_empty() {
                examples.push(format!(
                    "negative {}",
                    negatives
                        .iter()
                        .filter_map(name)
                        .collect::<Vec<_>>()
                        .join(" ")
                ));
            }
            let examples = examples.join("; ");
            let description = match (text.is_empty(), examples.is_empty()) {
                (false, true) => text.clone(),
                (true, false) => format!("tiles like {examples}"),
                _ => format!("{text} + {examples}"),
            };
            Ok(SearchResult {
                layer_id,
                text,
                examples,
                description,
                scores,
                ranked,
            })
        });
        self.query_job = Slot::Running(job, None);
    }

    fn run_classify(&mut self, layer_id: u64, ctx: &egui::Context) {
        let (Some(model), Some(index)) = (
            self.model.ready().cloned(),
            self.index_of(layer_id).cloned(),
        ) else {
            return;
        };
        let classes: Vec<String> = self
            .classes_text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect();
        if classes.len() < 2 {
            self.classify_job = Slot::Failed("give at least two class names, one per line".into());
            return;
        }
        self.settings.classes.clone_from(&classes);
        let templates = self.settings.templates;
        let job = JobHandle::spawn("classify", repaint(ctx), move |_jc| {
            let classifier: Classifier = model
                .classifier(&classes, templates)
                .map_err(|e| format!("{e}"))?;
            let probs = index
                .tiles
                .iter()
                .map(|t| t.embedding.as_deref().map(|e| classifier.probs(e)))
                .collect();
            Ok(ClassResult {
                layer_id,
                classes,
                probs,
            })
        });
        self.classify_job = Slot::Running(job, None);
    }

    /// Poll jobs once per frame.
    pub fn poll(&mut self, ctx: &egui::Context) -> Vec<SearchAction> {
        let mut out = Vec::new();
        if self.model.poll()
            && let Slot::Failed(e) = &self.model
        {
            out.push(SearchAction::Message {
                error: true,
                text: e.clone(),
            });
        }
        for slot in self.indexes.values_mut() {
            if slot.poll()
                && let Slot::Failed(e) = slot
            {
                out.push(SearchAction::Message {
                    error: true,
                    text: e.clone(),
                });
            }
        }
        if self.query_job.poll() {
            match std::mem::replace(&mut self.query_job, Slot::Empty) {
                Slot::Ready(r) => {
                    self.threshold = r.ranked.last().map_or(-1.0, |x| x.1);
                    self.result = Some(r);
                }
                Slot::Failed(e) => out.push(SearchAction::Message {
                    error: true,
                    text: e,
                }),
                _ => {}
            }
        }
        if self.classify_job.poll() {
            match std::mem::replace(&mut self.classify_job, Slot::Empty) {
                Slot::Ready(r) => self.classes_result = Some(r),
                Slot::Failed(e) => out.push(SearchAction::Message {
                    error: true,
                    text: e,
                }),
                _ => {}
            }
        }
        if let Some(rx) = &self.checkpoint_dialog
            && let Ok(picked) = rx.try_recv()
        {
            self.checkpoint_dialog = None;
            if let Some(p) = picked {
                self.settings.checkpoint = p.display().to_string();
                self.load_model(ctx);
            }
        }
        if let Some(rx) = &self.save_dialog
            && let Ok(picked) = rx.try_recv()
        {
            self.save_dialog = None;
            if let Some((path, kind)) = picked {
                self.export_to(path, kind, ctx);
            }
        }
        if self.export_job.poll() {
            match std::mem::replace(&mut self.export_job, Slot::Empty) {
                Slot::Ready(p) => out.push(SearchAction::Message {
                    error: false,
                    text: format!("exported {}", p.display()),
                }),
                Slot::Failed(e) => out.push(SearchAction::Message {
                    error: true,
                    text: e,
                }),
                _ => {}
            }
        }
        out
    }

    /// The panel. `layer` is the selected scene.
    pub fn ui(&mut self, ui: &mut Ui, layer: Option<&SceneLayer>) -> Vec<SearchAction> {
        let mut actions = Vec::new();
        self.model_ui(ui);
        ui.separator();
        let Some(layer) = layer else {
            ui.label("Open and select a scene to search it.");
            return actions;
        };
        if self.examples_layer != Some(layer.id) {
            // tile indices (selection, examples) belong to one scene's index
            self.examples_layer = Some(layer.id);
            self.selected = None;
            self.positives.clear();
            self.negatives.clear();
        }
        if layer.scene.is_none() {
            ui.label("The selected scene is still opening.");
            return actions;
        }
        self.index_ui(ui, layer);
        let Some(index) = self.index_of(layer.id).cloned() else {
            return actions;
        };
        ui.separator();
        ui.horizontal(|ui| {
            ui.selectable_value(&mut self.mode, Mode::Search, "Search");
            ui.selectable_value(&mut self.mode, Mode::Classify, "Classify");
        });
        match self.mode {
            Mode::Search => self.search_ui(ui, layer.id, &index, &mut actions),
            Mode::Classify => self.classify_ui(ui, layer.id, &index, &mut actions),
        }
        actions
    }

    fn model_ui(&mut self, ui: &mut Ui) {
        ui.label(RichText::new("Model: Llama3-MS-CLIP").strong());
        ui.label(RichText::new(hub::LICENSE_NOTICE).italics())
            .on_hover_text(hub::LICENSE_SUMMARY);
        ui.horizontal(|ui| {
            let label = ui.label("Checkpoint");
            ui.add(
                egui::TextEdit::singleline(&mut self.settings.checkpoint)
                    .hint_text("Hugging Face cache / download")
                    .desired_width(170.0),
            )
            .labelled_by(label.id);
            if ui
                .small_button("Choose…")
                .on_hover_text("Pick a local checkpoint (.pt or .safetensors)")
                .clicked()
            {
                self.pick_checkpoint(ui.ctx());
            }
        });
        ui.horizontal(|ui| {
            ui.label("Device");
            for (d, name) in [
                (DevicePreference::Auto, "auto"),
                (DevicePreference::Cpu, "CPU"),
                (DevicePreference::Cuda, "CUDA"),
                (DevicePreference::Metal, "Metal"),
            ] {
                ui.radio_value(&mut self.settings.device, d, name);
            }
        });
        match &self.model {
            Slot::Empty => {
                if ui
                    .button("Load model")
                    .on_hover_text(hub::LICENSE_SUMMARY)
                    .clicked()
                {
                    self.load_model(ui.ctx());
                }
            }
            Slot::Running(job, p) => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    if ui.button("Cancel").clicked() {
                        job.cancel();
                    }
                });
                ui.add(
                    egui::Label::new(
                        p.as_ref()
                            .map_or("loading the model…".to_string(), progress_text),
                    )
                    .wrap(),
                );
            }
            Slot::Ready(m) => {
                ui.label(
                    RichText::new(format!("{} on {}", m.model_name(), m.device_description()))
                        .small(),
                );
                if ui.small_button("Reload").clicked() {
                    self.load_model(ui.ctx());
                }
            }
            Slot::Failed(e) => {
                ui.colored_label(Color32::from_rgb(255, 120, 120), e);
                if ui.button("Try again").clicked() {
                    self.load_model(ui.ctx());
                }
            }
        }
    }

    fn index_ui(&mut self, ui: &mut Ui, layer: &SceneLayer) {
        ui.label(RichText::new("Tile index").strong());
        let opts = &mut self.settings.index;
        let mut overlap = opts.stride.is_some();
        ui.checkbox(&mut overlap, "50 % overlap (stride 112)");
        opts.stride = overlap.then_some(112);
        ui.add(egui::Slider::new(&mut opts.max_cloud_fraction, 0.0..=1.0).text("max cloud"));
        ui.add(egui::Slider::new(&mut opts.max_nodata_fraction, 0.0..=1.0).text("max nodata"));
        let slot = self.indexes.get(&layer.id);
        match slot {
            None | Some(Slot::Empty) => {
                let can = self.model.ready().is_some();
                if ui
                    .add_enabled(can, egui::Button::new("Index scene"))
                    .on_disabled_hover_text("load the model first")
                    .clicked()
                {
                    self.index_scene(layer, ui.ctx());
                }
            }
            Some(Slot::Running(job, p)) => {
                let frac = p.as_ref().map_or(0.0, Progress::fraction);
                ui.add(egui::ProgressBar::new(frac).show_percentage());
                // wrapped (not in a horizontal row) so a long, changing text never
                // widens the panel
                ui.add(
                    egui::Label::new(p.as_ref().map_or("reading…".to_string(), progress_text))
                        .wrap(),
                );
                if ui.button("Cancel").clicked() {
                    job.cancel();
                }
            }
            Some(Slot::Ready(ix)) => {
                let skipped = ix.tiles.len() - ix.embedded_count();
                ui.label(format!(
                    "{} tiles, {} embedded, {} skipped",
                    ix.tiles.len(),
                    ix.embedded_count(),
                    skipped
                ));
                if ui.small_button("Re-index").clicked() {
                    self.index_scene(layer, ui.ctx());
                }
            }
            Some(Slot::Failed(e)) => {
                ui.colored_label(Color32::from_rgb(255, 120, 120), e.clone());
                if ui.button("Try again").clicked() {
                    self.index_scene(layer, ui.ctx());
                }
            }
        }
    }

    fn search_ui(
        &mut self,
        ui: &mut Ui,
        layer_id: u64,
        index: &Arc<TileIndex>,
        actions: &mut Vec<SearchAction>,
    ) {
        let resp = ui.add(
            egui::TextEdit::singleline(&mut self.query)
                .hint_text("describe what to find, e.g. flooded fields")
                .desired_width(f32::INFINITY),
        );
        let enter = resp.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        ui.horizontal(|ui| {
            if (ui.button("Search tiles").clicked() || enter) && !self.query_job.is_running() {
                self.run_query(layer_id, ui.ctx());
            }
            if self.query_job.is_running() {
                ui.spinner();
            }
            if !self.positives.is_empty() || !self.negatives.is_empty() {
                ui.label(format!(
                    "examples +{} / -{}",
                    self.positives.len(),
                    self.negatives.len()
                ));
                if ui.small_button("clear").clicked() {
                    self.positives.clear();
                    self.negatives.clear();
                }
            }
        });
        if let Some(sel) = self.selected
            && index.tiles.get(sel).is_some_and(|t| t.embedding.is_some())
        {
            ui.horizontal(|ui| {
                let t = &index.tiles[sel];
                ui.label(format!("tile r{} c{}", t.row, t.col));
                if ui.button("Find similar").clicked() {
                    self.positives = vec![sel];
                    self.negatives.clear();
                    self.query.clear();
                    self.run_query(layer_id, ui.ctx());
                }
                if ui.small_button("+ example").clicked() && !self.positives.contains(&sel) {
                    self.positives.push(sel);
                }
                if ui.small_button("- example").clicked() && !self.negatives.contains(&sel) {
                    self.negatives.push(sel);
                }
            });
        }
        if self.result.as_ref().is_none_or(|r| r.layer_id != layer_id) {
            return;
        }
        // Taken out for the duration of the drawing so that the buttons below may change the
        // panel; put back at the end.
        let Some(res) = self.result.take() else {
            return;
        };
        self.results_ui(ui, &res, index, actions);
        self.result = Some(res);
    }

    fn results_ui(
        &mut self,
        ui: &mut Ui,
        res: &SearchResult,
        index: &Arc<TileIndex>,
        actions: &mut Vec<SearchAction>,
    ) {
        ui.label(RichText::new(format!("Results for: {}", res.description)).strong());
        // heatmap controls
        let (lo, hi) = score_range(res);
        ui.add(
            egui::Slider::new(&mut self.settings.heat_opacity, 0.0..=1.0).text("heatmap opacity"),
        );
        ui.add(egui::Slider::new(&mut self.threshold, lo..=hi.max(lo + 1e-6)).text("threshold"));
        ui.horizontal(|ui| {
            let check = ui.checkbox(&mut self.settings.top_n_only, "show only the top");
            ui.add(egui::DragValue::new(&mut self.settings.top_n).range(1..=10_000))
                .labelled_by(check.id);
        });
        legend_ui(ui, lo, hi);
        score_histogram_ui(ui, res, self.threshold);
        ui.horizontal(|ui| {
            if ui.button("Export CSV…").clicked() {
                self.ask_save(ExportKind::Csv, ui.ctx());
            }
            if ui.button("Export GeoJSON…").clicked() {
                self.ask_save(ExportKind::GeoJson, ui.ctx());
            }
        });
        egui::ScrollArea::vertical()
            .id_salt("ranked")
            .max_height(260.0)
            .show(ui, |ui| {
                egui::Grid::new("ranked-grid")
                    .num_columns(4)
                    .striped(true)
                    .show(ui, |ui| {
                        for (rank, &(i, score)) in res.ranked.iter().enumerate().take(200) {
                            let t = &index.tiles[i];
                            let selected = self.selected == Some(i);
                            if ui
                                .selectable_label(
                                    selected,
                                    format!("{:>3}. r{} c{}", rank + 1, t.row, t.col),
                                )
                                .clicked()
                            {
                                self.selected = Some(i);
                                actions.push(SearchAction::CentreOn {
                                    lon: t.centre_lonlat[0],
                                    lat: t.centre_lonlat[1],
                                });
                            }
                            ui.label(format!("{score:.4}"));
                            if ui
                                .small_button("+")
                                .on_hover_text("more like this")
                                .clicked()
                                && !self.positives.contains(&i)
                            {
                                self.positives.push(i);
                            }
                            if ui
                                .small_button("-")
                                .on_hover_text("less like this")
                                .clicked()
                                && !self.negatives.contains(&i)
                            {
                                self.negatives.push(i);
                            }
                            ui.end_row();
                        }
                    });
            });
    }

    fn classify_ui(
        &mut self,
        ui: &mut Ui,
        layer_id: u64,
        index: &Arc<TileIndex>,
        _actions: &mut Vec<SearchAction>,
    ) {
        let label = ui.label("Classes, one per line:");
        ui.add(
            egui::TextEdit::multiline(&mut self.classes_text)
                .desired_rows(5)
                .desired_width(f32::INFINITY),
        )
        .labelled_by(label.id);
        ui.horizontal(|ui| {
            ui.label("Templates");
            ui.radio_value(
                &mut self.settings.templates,
                TemplateSet::Msclip,
                "MS-CLIP (50)",
            );
            ui.radio_value(&mut self.settings.templates, TemplateSet::Clip, "CLIP (3)");
            ui.radio_value(&mut self.settings.templates, TemplateSet::None, "names");
        });
        ui.horizontal(|ui| {
            if ui.button("Classify tiles").clicked() && !self.classify_job.is_running() {
                self.run_classify(layer_id, ui.ctx());
            }
            if self.classify_job.is_running() {
                ui.spinner();
            }
        });
        let Some(res) = self
            .classes_result
            .as_ref()
            .filter(|r| r.layer_id == layer_id)
        else {
            return;
        };
        ui.add(
            egui::Slider::new(&mut self.settings.heat_opacity, 0.0..=1.0).text("class map opacity"),
        );
        let mut counts = vec![0usize; res.classes.len()];
        for p in res.probs.iter().flatten() {
            if let Some(k) = query::argmax(p) {
                counts[k] += 1;
            }
        }
        egui::Grid::new("class-legend")
            .num_columns(3)
            .show(ui, |ui| {
                for (k, c) in res.classes.iter().enumerate() {
                    let (rect, _) =
                        ui.allocate_exact_size(egui::vec2(14.0, 14.0), egui::Sense::hover());
                    ui.painter().rect_filled(rect, 2.0, class_color(k));
                    ui.label(c);
                    ui.label(format!("{} tiles", counts[k]));
                    ui.end_row();
                }
            });
        if let Some(sel) = self.selected
            && let Some(Some(p)) = res.probs.get(sel)
        {
            let t = &index.tiles[sel];
            ui.label(RichText::new(format!("tile r{} c{}", t.row, t.col)).strong());
            for (c, v) in res.classes.iter().zip(p) {
                ui.label(format!("{c}: {v:.3}"));
            }
        }
        ui.horizontal(|ui| {
            if ui.button("Export CSV…").clicked() {
                self.ask_save(ExportKind::Csv, ui.ctx());
            }
            if ui.button("Export GeoJSON…").clicked() {
                self.ask_save(ExportKind::GeoJson, ui.ctx());
            }
        });
    }

    /// A file dialog (on a worker thread) for a local checkpoint; the choice fills the
    /// checkpoint field.
    fn pick_checkpoint(&mut self, ctx: &egui::Context) {
        if self.checkpoint_dialog.is_some() {
            return;
        }
        let (tx, rx) = crossbeam_channel::bounded(1);
        let ctx = ctx.clone();
        let spawned = std::thread::Builder::new()
            .name("kestrel-checkpoint-dialog".into())
            .spawn(move || {
                let picked = rfd::FileDialog::new()
                    .set_title("Choose a Llama3-MS-CLIP checkpoint")
                    .add_filter("checkpoint", &["pt", "safetensors"])
                    .pick_file();
                let _ = tx.send(picked);
                ctx.request_repaint();
            });
        if spawned.is_ok() {
            self.checkpoint_dialog = Some(rx);
        }
    }

    fn ask_save(&mut self, kind: ExportKind, ctx: &egui::Context) {
        if self.save_dialog.is_some() {
            return;
        }
        let (tx, rx) = crossbeam_channel::bounded(1);
        let ctx = ctx.clone();
        let (ext, name) = match kind {
            ExportKind::Csv => ("csv", "kestrel-results.csv"),
            ExportKind::GeoJson => ("geojson", "kestrel-results.geojson"),
        };
        let spawned = std::thread::Builder::new()
            .name("kestrel-save-dialog".into())
            .spawn(move || {
                let picked = rfd::FileDialog::new()
                    .set_file_name(name)
                    .add_filter(ext, &[ext])
                    .save_file();
                let _ = tx.send(picked.map(|p| (p, kind)));
                ctx.request_repaint();
            });
        if spawned.is_ok() {
            self.save_dialog = Some(rx);
        }
    }

    /// Export the current results of the current mode to `path` (on a worker; the results
    /// stay in the app whatever happens to the file). Returns false when there is nothing
    /// to export.
    pub fn export_to(&mut self, path: PathBuf, kind: ExportKind, ctx: &egui::Context) -> bool {
        self.start_export(path, kind, ctx).is_some()
    }

    fn start_export(&mut self, path: PathBuf, kind: ExportKind, ctx: &egui::Context) -> Option<()> {
        let (layer_id, is_search) = match self.mode {
            Mode::Search => (self.result.as_ref()?.layer_id, true),
            Mode::Classify => (self.classes_result.as_ref()?.layer_id, false),
        };
        let index = self.index_of(layer_id)?.clone();
        let payload = if is_search {
            let r = self.result.as_ref()?;
            let keep = self.visible_ranked(r);
            Payload::Ranked(r.text.clone(), r.examples.clone(), keep)
        } else {
            let r = self.classes_result.as_ref()?;
            Payload::Classes(r.classes.clone(), r.probs.clone())
        };
        self.export_job = Slot::Running(
            JobHandle::spawn("export", repaint(ctx), move |_jc| {
                write_export(&path, kind, &index, &payload)?;
                Ok(path)
            }),
            None,
        );
        Some(())
    }

    pub fn is_exporting(&self) -> bool {
        self.export_job.is_running()
    }

    /// The ranked tiles that pass the threshold and the top-N filter.
    pub fn visible_ranked(&self, r: &SearchResult) -> Vec<(usize, f32)> {
        let n = if self.settings.top_n_only {
            self.settings.top_n
        } else {
            usize::MAX
        };
        r.ranked
            .iter()
            .copied()
            .filter(|(_, s)| *s >= self.threshold)
            .take(n)
            .collect()
    }

    /// Draw the heatmap or class map of `layer_id` on the map.
    pub fn draw_overlay(&self, painter: &egui::Painter, projector: &Projector, layer_id: u64) {
        let Some(index) = self.index_of(layer_id) else {
            return;
        };
        let alpha = self.settings.heat_opacity;
        match self.mode {
            Mode::Search => {
                if let Some(r) = self.result.as_ref().filter(|r| r.layer_id == layer_id) {
                    let (lo, hi) = score_range(r);
                    let ramp = colormap::viridis();
                    for (i, s) in self.visible_ranked(r) {
                        let c = ramp.color_scaled(s, lo, hi).unwrap_or([0, 0, 0]);
                        fill_tile(
                            painter,
                            projector,
                            &index.tiles[i],
                            Color32::from_rgb(c[0], c[1], c[2]).gamma_multiply(alpha),
                        );
                    }
                }
            }
            Mode::Classify => {
                if let Some(r) = self
                    .classes_result
                    .as_ref()
                    .filter(|r| r.layer_id == layer_id)
                {
                    for (t, p) in index.tiles.iter().zip(&r.probs) {
                        if let Some(k) = p.as_deref().and_then(query::argmax) {
                            fill_tile(painter, projector, t, class_color(k).gamma_multiply(alpha));
                        }
                    }
                }
            }
        }
        // skipped tiles: hatched grey outline so they are visibly not searched
        for t in &index.tiles {
            if t.embedding.is_none() {
                super::overlays::draw_lonlat_ring(
                    painter,
                    projector,
                    &t.polygon_wgs84,
                    egui::Stroke::new(1.0, Color32::from_gray(120)),
                );
            }
        }
        for (set, color) in [
            (&self.positives, Color32::from_rgb(60, 220, 90)),
            (&self.negatives, Color32::from_rgb(240, 70, 70)),
        ] {
            for &i in set {
                if let Some(t) = index.tiles.get(i) {
                    super::overlays::draw_lonlat_ring(
                        painter,
                        projector,
                        &t.polygon_wgs84,
                        egui::Stroke::new(2.0, color),
                    );
                }
            }
        }
        if let Some(t) = self.selected.and_then(|i| index.tiles.get(i)) {
            super::overlays::draw_lonlat_ring(
                painter,
                projector,
                &t.polygon_wgs84,
                egui::Stroke::new(2.5, Color32::WHITE),
            );
        }
    }

    /// The tile of `layer_id` under a lon/lat point.
    pub fn tile_at(&self, layer_id: u64, lon: f64, lat: f64) -> Option<usize> {
        let index = self.index_of(layer_id)?;
        index
            .tiles
            .iter()
            .position(|t| point_in_ring(lon, lat, &t.polygon_wgs84))
    }

    /// Tooltip text for a tile under the pointer.
    pub fn hover_text(&self, layer_id: u64, tile: usize) -> Option<String> {
        let index = self.index_of(layer_id)?;
        let t = index.tiles.get(tile)?;
        let mut s = format!("tile r{} c{} ({})", t.row, t.col, t.status);
        if let Some(c) = t.cloud_fraction {
            s.push_str(&format!("\ncloud {:.0} %", c * 100.0));
        }
        s.push_str(&format!("\nnodata {:.0} %", t.nodata_fraction * 100.0));
        match self.mode {
            Mode::Search => {
                if let Some(r) = self.result.as_ref().filter(|r| r.layer_id == layer_id)
                    && let Some(Some(v)) = r.scores.get(tile)
                {
                    s.push_str(&format!("\nscore {v:.4}"));
                }
            }
            Mode::Classify => {
                if let Some(r) = self
                    .classes_result
                    .as_ref()
                    .filter(|r| r.layer_id == layer_id)
                    && let Some(Some(p)) = r.probs.get(tile)
                {
                    for (c, v) in r.classes.iter().zip(p) {
                        s.push_str(&format!("\n{c}: {v:.3}"));
                    }
                }
            }
        }
        Some(s)
    }
}

enum Payload {
    Ranked(String, String, Vec<(usize, f32)>),
    Classes(Vec<String>, Vec<Option<Vec<f32>>>),
}

fn write_export(
    path: &std::path::Path,
    kind: ExportKind,
    index: &TileIndex,
    payload: &Payload,
) -> Result<(), String> {
    let ctx = ExportContext::from_metas([&index.meta]);
    match payload {
        Payload::Ranked(text, examples, ranked) => {
            let ctx = ctx.with_query(text.clone(), examples.clone());
            let rows: Vec<RankedTile> = ranked
                .iter()
                .enumerate()
                .map(|(k, &(i, s))| RankedTile {
                    rank: k + 1,
                    score: s,
                    tile: &index.tiles[i],
                })
                .collect();
            match kind {
                ExportKind::Csv => export::write_ranked_csv(path, &ctx, &rows),
                ExportKind::GeoJson => export::write_ranked_geojson(path, &ctx, &rows),
            }
        }
        Payload::Classes(classes, probs) => {
            let rows: Vec<ClassifiedTile> = index
                .tiles
                .iter()
                .zip(probs)
                .filter_map(|(t, p)| {
                    let p = p.as_ref()?;
                    Some(ClassifiedTile {
                        tile: t,
                        probs: p.clone(),
                        top: query::argmax(p)?,
                    })
                })
                .collect();
            match kind {
                ExportKind::Csv => export::write_classes_csv(path, &ctx, classes, &rows),
                ExportKind::GeoJson => export::write_classes_geojson(path, &ctx, classes, &rows),
            }
        }
    }
    .map_err(|e| format!("{e}"))
}

fn progress_text(p: &Progress) -> String {
    let mut s = format!("{}: {}/{}", p.label, p.done, p.total);
    if p.rate() > 0.0 {
        s.push_str(&format!(", {:.1}/s", p.rate()));
    }
    if let Some(eta) = p.eta_secs() {
        s.push_str(&format!(", {eta:.0} s left"));
    }
    s
}

fn score_range(r: &SearchResult) -> (f32, f32) {
    let lo = r.ranked.last().map_or(0.0, |x| x.1);
    let hi = r.ranked.first().map_or(1.0, |x| x.1);
    (lo, hi)
}

fn legend_ui(ui: &mut Ui, lo: f32, hi: f32) {
    let ramp = colormap::viridis();
    let stops: Vec<(f32, [u8; 3])> = (0..48)
        .map(|k| {
            let v = lo + (hi - lo) * (k as f32 + 0.5) / 48.0;
            (v, ramp.color_scaled(v, lo, hi).unwrap_or([0, 0, 0]))
        })
        .collect();
    super::layers_panel::ramp_bar(ui, &stops, &format!("{lo:.3}"), &format!("{hi:.3} cosine"));
}

fn score_histogram_ui(ui: &mut Ui, r: &SearchResult, threshold: f32) {
    let (lo, hi) = score_range(r);
    let bins = 30usize;
    let w = ((hi - lo) / bins as f32).max(1e-6);
    let mut counts = vec![0u32; bins];
    for (_, s) in &r.ranked {
        let k = (((s - lo) / w) as usize).min(bins - 1);
        counts[k] += 1;
    }
    let bars: Vec<Bar> = counts
        .iter()
        .enumerate()
        .map(|(k, &c)| {
            let x = lo + w * (k as f32 + 0.5);
            let color = if x >= threshold {
                Color32::from_rgb(120, 200, 120)
            } else {
                Color32::from_gray(110)
            };
            Bar::new(f64::from(x), f64::from(c))
                .width(f64::from(w) * 0.95)
                .fill(color)
        })
        .collect();
    Plot::new("score-histogram")
        .height(110.0)
        .allow_zoom(false)
        .allow_drag(false)
        .allow_scroll(false)
        .show_axes([true, false])
        .show(ui, |plot| plot.bar_chart(BarChart::new("scores", bars)));
}

fn fill_tile(painter: &egui::Painter, projector: &Projector, t: &TileRecord, color: Color32) {
    // The ring is closed and starts at the top-left corner; tiles are small enough that the
    // quad of their projected outline is convex.
    let pts: Vec<egui::Pos2> = t
        .polygon_wgs84
        .iter()
        .take(t.polygon_wgs84.len().saturating_sub(1))
        .map(|p| geo::lonlat_to_screen(projector, p[0], p[1]))
        .collect();
    if pts.len() >= 3 {
        painter.add(egui::Shape::convex_polygon(pts, color, egui::Stroke::NONE));
    }
}

/// Even-odd point-in-polygon test on a lon/lat ring.
pub fn point_in_ring(x: f64, y: f64, ring: &[[f64; 2]]) -> bool {
    let mut inside = false;
    let n = ring.len();
    if n < 3 {
        return false;
    }
    let mut j = n - 1;
    for i in 0..n {
        let (xi, yi) = (ring[i][0], ring[i][1]);
        let (xj, yj) = (ring[j][0], ring[j][1]);
        if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
            inside = !inside;
        }
        j = i;
    }
    inside
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn point_in_square() {
        let ring = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]];
        assert!(point_in_ring(0.5, 0.5, &ring));
        assert!(!point_in_ring(1.5, 0.5, &ring));
    }
}

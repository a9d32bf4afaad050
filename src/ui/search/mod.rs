//! The search panel: choose and load the model, index the selected scene (with progress,
//! tiles/s and cancel), type a description to score every tile, or classify every tile
//! against a class list; the results show as a heatmap or class map over the map, a
//! ranked list, a score histogram, and export to CSV / GeoJSON.
//!
//! The workflow itself (query, query by example, classification, export rows) is the core's
//! [`crate::search::session`], the same code the commands run; this module holds the
//! panel's state and jobs ([`Task`]s) and draws it:
//! - here: state and actions (load, index, query — one scene or all open scenes —,
//!   classify, layer closed);
//! - [`model_panel`]: the model and tile-index sections;
//! - [`results`]: query and class inputs, ranked list, histogram, legends;
//! - [`overlay`]: the heatmap / class map and tile outlines on the map, hover texts;
//! - [`export`]: file dialogs and the export job;
//! - [`gallery`]: the best hits as image chips cut from the scene's overview texture;
//! - [`archive`]: a folder of shards searched for a description, hits opening their scene;
//! - [`compare`]: a second model on the same scene and query (agreement, side by side, swipe);
//! - [`labelling`]: labels on tiles (saved next to the index as they change, reloaded with
//!   it), quick validation of the top hits with keys, and the linear probe.
//!
//! Re-querying an indexed scene costs one text-tower pass (a few ms) plus a dot product per
//! tile, so it runs as a job too but returns at once.

mod archive;
mod compare;
mod export;
mod gallery;
mod labelling;
mod model_panel;
mod overlay;
mod picker;
mod results;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use egui::Ui;

use super::LayerId;
use super::command::Command;
use super::scene_layer::SceneLayer;
use super::task::{Dialog, Task, TaskEvent};
use crate::model::device::{DevicePreference, Precision};
use crate::model::load::hub::{HubError, HubOptions};
use crate::model::load::registry;
use crate::model::tasks::zeroshot::TemplateSet;
use crate::model::{Embedder, ModelSpec};
use crate::search::cache::{self, CacheOutcome};
use crate::search::index::{IndexOptions, TileIndex, default_readers};
use crate::search::labels::{self, Label, LabelSet};
use crate::search::session::{self, Classification, ExportFormat, Query, Ranking, RankingAcross};

pub use labelling::{Decision, Validation};
pub use results::class_color;

/// A scene's index with the labels kept next to it (read on the indexing worker).
#[derive(Debug)]
pub struct IndexedScene {
    pub index: Arc<TileIndex>,
    /// The labels file of this index ([`labels::sidecar_path`]).
    pub sidecar: PathBuf,
    pub labels: LabelSet,
    /// Why the labels file could not be read (the labels then start empty).
    pub labels_error: Option<String>,
}

impl std::ops::Deref for IndexedScene {
    type Target = TileIndex;
    fn deref(&self) -> &TileIndex {
        &self.index
    }
}

/// Persisted search settings (owned by the panel; the app saves them from here).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct SearchSettings {
    /// The registry id of the picked model ([`crate::model::load::registry`]).
    pub model_id: String,
    /// Local checkpoint of the picked model; empty = the Hugging Face cache / download.
    pub checkpoint: String,
    pub device: DevicePreference,
    /// f32 (exact), auto or bf16; indexes are cached per resolved precision.
    pub precision: Precision,
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
            model_id: crate::model::load::registry::entries()[0].id.to_owned(),
            checkpoint: String::new(),
            device: DevicePreference::Auto,
            precision: Precision::F32,
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

/// A result and the layer whose index it was computed on (shared, so drawing it each
/// frame copies a pointer, not the scores).
#[derive(Debug, Clone, PartialEq)]
pub struct LayerResult<T> {
    pub layer: LayerId,
    pub result: Arc<T>,
}

/// The query box's widget id (Ctrl+F focuses it).
pub fn query_box_id() -> egui::Id {
    egui::Id::unique("kestrel-query-box")
}

/// A query over every indexed open scene: the layers (in layer order) with their indexes
/// and the one ranking over all their tiles.
#[derive(Debug)]
pub struct Across {
    pub layers: Vec<(LayerId, Arc<TileIndex>)>,
    pub ranking: RankingAcross,
    /// `ranking.parts`, shared (drawing a heatmap each frame copies a pointer).
    parts: Vec<Arc<Ranking>>,
}

impl Across {
    /// `layer`'s part of the ranking.
    pub fn part(&self, layer: LayerId) -> Option<&Arc<Ranking>> {
        let k = self.layers.iter().position(|(id, _)| *id == layer)?;
        self.parts.get(k)
    }
}

/// A scored query over one scene's index.
pub type SearchResult = LayerResult<Ranking>;
/// Zero-shot classes of every tile of one scene's index.
pub type ClassResult = LayerResult<Classification>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Search,
    Classify,
}

pub struct SearchPanel {
    pub settings: SearchSettings,
    model: Task<Arc<Embedder>>,
    picker: picker::ModelPicker,
    /// A second model answering the same query, for comparison.
    pub compare: compare::Compare,
    /// Searching a folder of shards.
    pub archive: archive::ArchiveSearch,
    /// The loaded model's indexes, per scene.
    indexes: HashMap<LayerId, Task<Arc<IndexedScene>>>,
    /// Registry id and checkpoint of the model the indexes belong to.
    model_key: Option<String>,
    /// The indexes and labels of the models loaded before, by their key.
    shelved: HashMap<String, Shelf>,
    /// Labels per scene (the truth; `positives` / `negatives` follow them).
    labels: HashMap<LayerId, LabelSet>,
    /// Saving labels: the running write, and the next one (the latest labels) to start.
    label_save: Task<PathBuf>,
    pending_save: Option<(PathBuf, LabelSet)>,
    /// Labels export / import: the file dialog (path, import?) and the job.
    labels_dialog: Dialog<(PathBuf, bool)>,
    labels_io: Task<labelling::LabelsIo>,
    /// Stepping through the top hits (accept / reject / skip).
    pub validation: Option<Validation>,
    pub mode: Mode,
    pub query: String,
    ranking: Task<SearchResult>,
    /// The query run over every indexed open scene at once (instead of `ranking`).
    across: Task<Arc<Across>>,
    /// Search every indexed open scene, not only the selected one.
    pub all_scenes: bool,
    /// The class name "label as class" gives the selected tile.
    pub label_class: String,
    /// What the probe learns: `None` positive vs negative, else this class vs the rest.
    pub probe_class: Option<String>,
    /// The label brush: dragging on the map gives every tile under the pointer this label.
    pub brush: Option<Label>,
    /// The heatmap / class map is hidden (`H`).
    pub heat_hidden: bool,
    classification: Task<ClassResult>,
    classes_text: String,
    /// Example tiles (indices into the active index): its positive and negative labels.
    pub positives: Vec<usize>,
    pub negatives: Vec<usize>,
    /// The tile the user picked (list or map), outlined on the map.
    pub selected: Option<usize>,
    /// The layer `selected`, `positives` and `negatives` refer to.
    examples_layer: Option<LayerId>,
    pub threshold: f32,
    save_dialog: Dialog<(PathBuf, ExportFormat)>,
    checkpoint_dialog: Dialog<PathBuf>,
    export_job: Task<PathBuf>,
    /// Kestrel's cache root for indexes and checksums; `None` = from the environment.
    cache_root: Option<PathBuf>,
    /// The Hugging Face hub cache; `None` = from the environment (`HF_HUB_CACHE`, …).
    hub_cache: Option<PathBuf>,
}

impl SearchPanel {
    pub fn new(settings: SearchSettings) -> Self {
        let classes_text = settings.classes.join("\n");
        Self {
            settings,
            model: Task::default(),
            picker: picker::ModelPicker::default(),
            compare: compare::Compare::default(),
            archive: archive::ArchiveSearch::default(),
            model_key: None,
            shelved: HashMap::new(),
            indexes: HashMap::new(),
            labels: HashMap::new(),
            label_save: Task::default(),
            pending_save: None,
            labels_dialog: Dialog::default(),
            labels_io: Task::default(),
            validation: None,
            mode: Mode::Search,
            query: String::new(),
            ranking: Task::default(),
            across: Task::default(),
            all_scenes: false,
            label_class: String::new(),
            probe_class: None,
            brush: None,
            heat_hidden: false,
            classification: Task::default(),
            classes_text,
            positives: Vec::new(),
            negatives: Vec::new(),
            selected: None,
            examples_layer: None,
            threshold: -1.0,
            save_dialog: Dialog::default(),
            checkpoint_dialog: Dialog::default(),
            export_job: Task::default(),
            cache_root: None,
            hub_cache: None,
        }
    }

    /// Look for (and download) models in `dir` instead of the environment's hub cache.
    pub fn set_hub_cache(&mut self, dir: PathBuf) {
        self.hub_cache = Some(dir);
    }

    /// Where models are looked for and downloaded: the environment's hub settings, with
    /// the cache folder set by [`Self::set_hub_cache`].
    fn hub_base(&self) -> Result<HubOptions, HubError> {
        hub_options(self.hub_cache.as_deref())
    }

    /// Whether the picker has looked at the hub cache (what it shows is settled).
    pub fn models_checked(&self) -> bool {
        self.picker.checked()
    }

    /// Keep indexes and checksums under `root` instead of the environment's cache root.
    pub fn set_cache_root(&mut self, root: PathBuf) {
        self.cache_root = Some(root);
    }

    pub fn model(&self) -> Option<&Arc<Embedder>> {
        self.model.value()
    }

    pub fn index_of(&self, layer: LayerId) -> Option<&Arc<TileIndex>> {
        self.indexes
            .get(&layer)
            .and_then(Task::value)
            .map(|s| &s.index)
    }

    fn indexed(&self, layer: LayerId) -> Option<&Arc<IndexedScene>> {
        self.indexes.get(&layer).and_then(Task::value)
    }

    pub fn is_indexing(&self, layer: LayerId) -> bool {
        self.indexes.get(&layer).is_some_and(Task::is_running)
    }

    /// The current query result (of whichever layer it was run on).
    pub fn result(&self) -> Option<&SearchResult> {
        self.ranking.value()
    }

    /// The current classification (of whichever layer it was run on).
    pub fn classes_result(&self) -> Option<&ClassResult> {
        self.classification.value()
    }

    fn result_for(&self, layer: LayerId) -> Option<&Arc<Ranking>> {
        if let Some(a) = self.across.value() {
            return a.part(layer);
        }
        self.result()
            .filter(|r| r.layer == layer)
            .map(|r| &r.result)
    }

    /// The query over all open scenes, when that is the current result.
    pub fn across(&self) -> Option<&Arc<Across>> {
        self.across.value()
    }

    /// The layers with a heatmap to draw besides the selected one (all open scenes).
    pub fn result_layers(&self) -> Vec<LayerId> {
        self.across
            .value()
            .map(|a| a.layers.iter().map(|(id, _)| *id).collect())
            .unwrap_or_default()
    }

    /// The score range of `layer`'s heatmap: the range over every scene searched together.
    fn heat_range(&self, layer: LayerId) -> Option<(f32, f32)> {
        if let Some(a) = self.across.value() {
            return a.part(layer).map(|_| a.ranking.all.score_range());
        }
        self.result_for(layer).map(|r| r.score_range())
    }

    fn classes_for(&self, layer: LayerId) -> Option<&Arc<Classification>> {
        self.classes_result()
            .filter(|r| r.layer == layer)
            .map(|r| &r.result)
    }

    /// Start loading the model from the settings.
    ///
    /// The indexes (and labels) of the model loaded so far are shelved, and those of the
    /// new model, if it was loaded before in this session, come back at once. Reloading the
    /// same model drops its indexes (its file may have changed; the disk cache, keyed by the
    /// checkpoint's sha256, answers again if not).
    pub fn load_model(&mut self, ctx: &egui::Context) {
        let req = self.load_request(&self.settings.model_id, &self.settings.checkpoint);
        self.picker.loaded_id = Some(req.entry.id.to_owned());
        let key = format!("{}\n{}", req.entry.id, self.settings.checkpoint.trim());
        req.start(&mut self.model, ctx);
        match self.model_key.replace(key.clone()) {
            Some(old) if old != key => {
                let indexes = std::mem::take(&mut self.indexes)
                    .into_iter()
                    .filter(|(_, t)| t.value().is_some())
                    .collect();
                let labels = std::mem::take(&mut self.labels);
                self.shelved.insert(old, Shelf { indexes, labels });
                if let Some(shelf) = self.shelved.remove(&key) {
                    self.indexes = shelf.indexes;
                    self.labels = shelf.labels;
                }
            }
            _ => self.indexes.clear(),
        }
        // results belong to the model that computed them
        self.ranking.clear();
        self.across.clear();
        self.classification.clear();
        self.validation = None;
        self.forget_tiles(self.examples_layer);
    }

    /// Where indexes are cached (the cache root's index folder).
    fn index_cache_dir(&self) -> PathBuf {
        self.cache_root
            .as_deref()
            .map_or_else(cache::cache_dir, cache::cache_dir_in)
    }

    /// Start indexing a scene (cache first).
    pub fn index_scene(&mut self, layer: &SceneLayer, ctx: &egui::Context) {
        let (Some(model), Some(scene)) = (self.model().cloned(), layer.scene.clone()) else {
            return;
        };
        let mut opts = self.settings.index;
        opts.readers = default_readers(&model);
        let dir = self.index_cache_dir();
        let task = self.indexes.entry(layer.id).or_default();
        task.start("index-scene", ctx, move |jc| {
            let (index, outcome) =
                cache::open_or_build(&dir, &scene, model.as_ref(), &opts, jc, &jc.cancel)?;
            let index_path = match outcome {
                CacheOutcome::Hit(p) => {
                    log::info!("index from cache {}", p.display());
                    p
                }
                CacheOutcome::Built {
                    path,
                    reason,
                    saved,
                } => {
                    log::info!(
                        "index built ({reason}); saved to {}: {saved:?}",
                        path.display()
                    );
                    path
                }
            };
            let (labels, labels_error) = match labels::load_sidecar(&index_path, &index.tiles) {
                Ok(l) => (l, None),
                Err(e) => (LabelSet::new(), Some(crate::report::error_line(&e))),
            };
            Ok(Arc::new(IndexedScene {
                index: Arc::new(index),
                sidecar: labels::sidecar_path(&index_path),
                labels,
                labels_error,
            }))
        });
    }

    /// Forget results that belong to a closed layer.
    pub fn layer_closed(&mut self, layer: LayerId) {
        self.indexes.remove(&layer);
        for shelf in self.shelved.values_mut() {
            shelf.indexes.remove(&layer);
            shelf.labels.remove(&layer);
        }
        self.compare.layer_closed(layer);
        self.labels.remove(&layer);
        if self.validation.as_ref().is_some_and(|v| v.layer == layer) {
            self.validation = None;
        }
        if self.result().is_some_and(|r| r.layer == layer) {
            self.ranking.clear();
        }
        if self.across().is_some_and(|a| a.part(layer).is_some()) {
            self.across.clear();
        }
        if self.classes_result().is_some_and(|r| r.layer == layer) {
            self.classification.clear();
        }
        if self.examples_layer == Some(layer) {
            self.forget_tiles(None);
        }
    }

    /// Tile indices (selection, examples) belong to one scene's index: when another scene
    /// becomes the searched one, forget the selection and take that scene's labels as the
    /// examples.
    fn forget_tiles(&mut self, layer: Option<LayerId>) {
        self.examples_layer = layer;
        self.selected = None;
        self.sync_examples();
    }

    /// The scene the panel searches is now `active` (called before the frame is drawn).
    pub fn follow(&mut self, active: Option<LayerId>) {
        if active.is_some() && self.examples_layer != active {
            self.forget_tiles(active);
        }
    }

    /// Select a tile of `layer` (a click on the map or the list).
    pub fn select_tile(&mut self, layer: LayerId, tile: usize) {
        if self.examples_layer != Some(layer) {
            self.forget_tiles(Some(layer));
        }
        self.selected = Some(tile);
    }

    fn run_query(&mut self, layer: LayerId, ctx: &egui::Context) {
        let (Some(model), Some(index)) = (self.model().cloned(), self.index_of(layer).cloned())
        else {
            return;
        };
        let query = Query {
            text: self.query.clone(),
            positives: self.positives.clone(),
            negatives: self.negatives.clone(),
            ..Query::default()
        };
        if self.all_scenes && self.indexed_count() > 1 {
            self.run_query_across(layer, query, model, ctx);
            return;
        }
        self.across.clear();
        self.ranking.start("query", ctx, move |_jc| {
            let ranking = query.prepare(&model)?.rank(&index.tiles)?;
            Ok(LayerResult {
                layer,
                result: Arc::new(ranking),
            })
        });
    }

    /// How many open scenes have an index (no allocation: asked every frame).
    fn indexed_count(&self) -> usize {
        self.indexes
            .values()
            .filter(|t| t.value().is_some())
            .count()
    }

    /// The indexed layers, in layer order, with their indexes.
    fn indexed_layers(&self) -> Vec<(LayerId, Arc<TileIndex>)> {
        let mut v: Vec<(LayerId, Arc<TileIndex>)> = self
            .indexes
            .iter()
            .filter_map(|(id, t)| t.value().map(|s| (*id, s.index.clone())))
            .collect();
        v.sort_by_key(|(id, _)| *id);
        v
    }

    /// The query over every indexed scene: one ranked list, a heatmap on each (`layer`'s
    /// example tiles are moved to their place in the concatenation).
    fn run_query_across(
        &mut self,
        layer: LayerId,
        mut query: Query,
        model: Arc<Embedder>,
        ctx: &egui::Context,
    ) {
        let layers = self.indexed_layers();
        let tiles: Vec<&[crate::search::record::TileRecord]> =
            layers.iter().map(|(_, ix)| ix.tiles.as_slice()).collect();
        let offsets = RankingAcross::offsets_of(&tiles);
        let off = layers
            .iter()
            .position(|(id, _)| *id == layer)
            .map_or(0, |k| offsets[k]);
        for i in query.positives.iter_mut().chain(query.negatives.iter_mut()) {
            *i += off;
        }
        self.ranking.clear();
        self.across.start("query-across", ctx, move |_jc| {
            let tiles: Vec<&[crate::search::record::TileRecord]> =
                layers.iter().map(|(_, ix)| ix.tiles.as_slice()).collect();
            let ranking = RankingAcross::rank(&query.prepare(&model)?, &tiles)?;
            let parts = ranking.parts.iter().cloned().map(Arc::new).collect();
            Ok(Arc::new(Across {
                layers,
                ranking,
                parts,
            }))
        });
    }

    fn run_classify(&mut self, layer: LayerId, ctx: &egui::Context) {
        let (Some(model), Some(index)) = (self.model().cloned(), self.index_of(layer).cloned())
        else {
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
            self.classification
                .set_error("give at least two class names, one per line");
            return;
        }
        self.settings.classes.clone_from(&classes);
        let templates = self.settings.templates;
        self.classification.start("classify", ctx, move |_jc| {
            let classifier = session::classifier(&model, &classes, templates)?;
            Ok(LayerResult {
                layer,
                result: Arc::new(session::classify(&classifier, &index.tiles)),
            })
        });
    }

    /// Poll jobs and dialogs once per frame; what the app should do comes back as commands.
    pub fn poll(&mut self, ctx: &egui::Context) -> Vec<Command> {
        let mut out = Vec::new();
        let mut failed = |e: TaskEvent| {
            if let TaskEvent::Failed(text) = e {
                out.push(Command::Message { error: true, text });
            }
        };
        match self.model.poll() {
            // what is cached changed (a download) or a load failed: look again
            TaskEvent::Finished => self.picker.refresh(ctx, self.hub_base()),
            e @ TaskEvent::Failed(_) => {
                self.picker.refresh(ctx, self.hub_base());
                failed(e);
            }
            TaskEvent::Nothing => {}
        }
        failed(
            self.picker
                .poll(ctx, || hub_options(self.hub_cache.as_deref())),
        );
        let mut loaded = Vec::new();
        for (id, task) in &mut self.indexes {
            match task.poll() {
                TaskEvent::Finished => loaded.extend(task.value().map(|s| (*id, s.clone()))),
                e => failed(e),
            }
        }
        match self.ranking.poll() {
            TaskEvent::Finished => {
                self.threshold = self
                    .result()
                    .and_then(|r| r.result.ranked.last())
                    .map_or(-1.0, |x| x.1);
            }
            e => failed(e),
        }
        match self.across.poll() {
            TaskEvent::Finished => {
                self.threshold = self
                    .across
                    .value()
                    .and_then(|a| a.ranking.all.ranked.last())
                    .map_or(-1.0, |x| x.1);
            }
            e => failed(e),
        }
        failed(self.classification.poll());
        for text in self.compare.poll() {
            out.push(Command::Message { error: true, text });
        }
        if let Some(text) = self.archive.poll() {
            out.push(Command::Message { error: true, text });
        }
        for (id, scene) in loaded {
            if let Some(e) = &scene.labels_error {
                out.push(Command::Message {
                    error: true,
                    text: e.clone(),
                });
            }
            self.labels.insert(id, scene.labels.clone());
            if self.examples_layer == Some(id) {
                self.sync_examples();
            }
        }
        out.extend(self.poll_label_save(ctx));
        if let Some(p) = self.checkpoint_dialog.poll().picked() {
            self.settings.checkpoint = p.display().to_string();
            self.load_model(ctx);
        }
        if let Some((path, format)) = self.save_dialog.poll().picked() {
            self.export_to(path, format, ctx);
        }
        match self.export_job.poll() {
            TaskEvent::Finished => {
                if let Some(p) = self.export_job.value() {
                    out.push(Command::Message {
                        error: false,
                        text: format!("exported {}", p.display()),
                    });
                }
            }
            TaskEvent::Failed(text) => out.push(Command::Message { error: true, text }),
            TaskEvent::Nothing => {}
        }
        out
    }

    /// The panel. `layer` is the selected scene.
    pub fn ui(&mut self, ui: &mut Ui, layer: Option<&SceneLayer>, commands: &mut Vec<Command>) {
        self.model_ui(ui);
        ui.separator();
        self.archive_ui(ui, commands);
        ui.separator();
        let Some(layer) = layer else {
            ui.label("Open and select a scene to search it.");
            return;
        };
        if layer.scene.is_none() {
            ui.label("The selected scene is still opening.");
            return;
        }
        self.index_ui(ui, layer);
        let Some(index) = self.index_of(layer.id).cloned() else {
            return;
        };
        ui.separator();
        ui.horizontal(|ui| {
            ui.selectable_value(&mut self.mode, Mode::Search, "Search");
            ui.selectable_value(&mut self.mode, Mode::Classify, "Classify");
        });
        match self.mode {
            Mode::Search => {
                self.search_ui(ui, layer, &index, commands);
            }
            Mode::Classify => self.classify_ui(ui, layer.id, &index),
        }
    }
}

/// A model's indexes and labels while another model is loaded.
struct Shelf {
    indexes: HashMap<LayerId, Task<Arc<IndexedScene>>>,
    labels: HashMap<LayerId, LabelSet>,
}

/// What loading a model needs, gathered on the UI thread ([`SearchPanel::load_request`]).
struct LoadRequest {
    entry: &'static registry::RegistryEntry,
    spec: ModelSpec,
    local: Option<PathBuf>,
    hub: Result<HubOptions, HubError>,
    config_dir: PathBuf,
}

impl SearchPanel {
    /// Loading registry entry `model_id`, from `checkpoint` when not empty.
    fn load_request(&self, model_id: &str, checkpoint: &str) -> LoadRequest {
        let local = (!checkpoint.trim().is_empty()).then(|| PathBuf::from(checkpoint.trim()));
        LoadRequest {
            entry: picker::entry(model_id),
            spec: ModelSpec {
                checkpoint: local.clone(),
                config: None,
                device: self.settings.device,
                precision: self.settings.precision,
                cache_root: self.cache_root.clone(),
                ..ModelSpec::default()
            },
            local,
            hub: self.hub_base(),
            config_dir: registry::config_dir(
                &self
                    .cache_root
                    .clone()
                    .unwrap_or_else(crate::paths::cache_root),
            ),
        }
    }
}

impl LoadRequest {
    /// Load on a worker into `task` (progress: downloads, then the weights).
    fn start(self, task: &mut Task<Arc<Embedder>>, ctx: &egui::Context) {
        let Self {
            entry,
            mut spec,
            local,
            hub,
            config_dir,
        } = self;
        // Llama3-MS-CLIP from the hub is the loader's own default; every other pick (or a
        // local file) goes through the registry's files, as `--model-id` does
        let from_registry = local.is_some() || entry.id != registry::entries()[0].id;
        task.clear();
        task.start("load-model", ctx, move |jc| {
            let base = hub?;
            spec.hub = Some(base.clone());
            if from_registry {
                let files = entry.files(local.as_deref(), &base, &config_dir, jc, &jc.cancel)?;
                spec.checkpoint = Some(files.checkpoint);
                spec.config = files.config;
                spec.tokenizer = files.tokenizer;
            }
            Ok(Arc::new(Embedder::load(&spec, jc, &jc.cancel)?))
        });
    }
}

/// The hub settings from the environment, with the cache in `dir` when given.
fn hub_options(dir: Option<&std::path::Path>) -> Result<HubOptions, HubError> {
    match dir {
        Some(dir) => Ok(HubOptions::llama3_ms_clip_in(dir.to_path_buf())),
        None => HubOptions::llama3_ms_clip(),
    }
}

//! The application state and the per-frame loop: poll background jobs (`logic`), then draw
//! the panels and the map (`ui`), then apply the [`Command`]s the panels pushed while
//! drawing. Persistent settings (recent files, the map view, panel choices) are saved
//! through eframe's storage; while the app runs each setting has one owner (the app, or the
//! search panel for [`SearchSettings`]), and [`KestrelApp::settings`] assembles them.

use std::path::{Path, PathBuf};
use std::time::Instant;

use egui::{Color32, RichText};
use walkers::{Map, MapMemory, lon_lat};

use super::basemap::natural_earth::{DrawStats, NaturalEarth};
use super::basemap::tile_file::TileArchive;
use super::basemap::world::WorldOutline;
use super::basemap::{Basemap, BasemapChoice, BasemapHealth};
use super::command::Command;
use super::find::{FindPanel, FindSettings};
use super::inspector::Inspector;
use super::layers_panel;
use super::scene_layer::{LayerEvent, SceneLayer};
use super::search::{SearchPanel, SearchSettings};
use super::swipe::{self, CompareMode, LayerSwipe};
use super::task::{Dialog, DialogEvent, Task};
use super::{LayerId, geo, overlays};
use crate::raster::Bounds;
use crate::raster::georef::web_mercator_to_lonlat;
use basemap_menu::Offline;

mod basemap_menu;
mod export_view;
mod session;

pub use session::is_session_file;

const SETTINGS_KEY: &str = "kestrel-settings";
const MAX_RECENT: usize = 12;

/// The keyboard shortcuts ([`KestrelApp::shortcuts`]), as Help › Keyboard shortcuts lists them.
/// The single keys act only while no text field has the focus.
pub const SHORTCUTS: &[(&str, &str)] = &[
    ("Ctrl+O", "open a scene"),
    ("Ctrl+W", "close the selected scene"),
    ("Ctrl+F", "focus the search query"),
    ("H", "show / hide the heatmap"),
    ("+ / -", "zoom in / out"),
    (
        "P / N / U",
        "label the selected tile positive / negative / none",
    ),
    (
        "A / R / S / Esc",
        "accept / reject / skip / stop while validating hits",
    ),
];

/// The zoom a search hit of another scene is shown at: a 2.24 km tile fills a good part of
/// the map (web-mercator level 13 is about 19 m per pixel at the equator).
const HIT_ZOOM: f64 = 13.0;
/// Options fixed when the app is created (tests use them to stay offline and stateless).
#[derive(Debug, Clone, Default)]
pub struct AppOptions {
    /// Force a basemap (tests: `Plain`, no network).
    pub basemap: Option<BasemapChoice>,
    /// Do not read persisted settings.
    pub fresh_settings: bool,
}

/// The map view, persisted between sessions.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ViewState {
    pub lon: f64,
    pub lat: f64,
    pub zoom: f64,
}

impl Default for ViewState {
    fn default() -> Self {
        // Europe, where most of the bundled data is.
        Self {
            lon: 10.0,
            lat: 50.0,
            zoom: 4.0,
        }
    }
}

/// Settings that survive restarts, as stored.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Settings {
    pub recent_files: Vec<PathBuf>,
    pub view: ViewState,
    pub basemap: BasemapChoice,
    /// The URL template of [`BasemapChoice::Custom`], or a WMTS GetCapabilities URL.
    pub basemap_url: String,
    /// The WMTS layer of that capabilities document (none: its first usable layer).
    pub basemap_layer: Option<String>,
    /// The MBTiles / PMTiles file of [`BasemapChoice::LocalFile`].
    pub basemap_file: Option<PathBuf>,
    pub search: SearchSettings,
    pub find: FindSettings,
}

/// Put `path` first in a recent-files list (no duplicates, at most [`MAX_RECENT`]).
fn push_recent(recent: &mut Vec<PathBuf>, path: &Path) {
    recent.retain(|p| p != path);
    recent.insert(0, path.to_path_buf());
    recent.truncate(MAX_RECENT);
}

/// How long an informational message stays in the status bar.
const INFO_MESSAGE_SECS: u64 = 10;

/// A message for the user (errors stay until dismissed, information fades after
/// [`INFO_MESSAGE_SECS`]).
#[derive(Debug, Clone)]
pub struct UiMessage {
    pub error: bool,
    pub text: String,
    pub at: Instant,
}

/// The whole application.
pub struct KestrelApp {
    recent_files: Vec<PathBuf>,
    /// The map view to restore next time (updated when the user moves the map).
    view: ViewState,
    basemap_choice: BasemapChoice,
    /// The custom basemap's URL template (applied) and the text being edited.
    basemap_url: String,
    basemap_url_edit: String,
    /// The WMTS layer in use, the capabilities it came from and their fetching.
    basemap_layer: Option<String>,
    wmts: Option<crate::ui::basemap::wmts::Capabilities>,
    wmts_job: Task<crate::ui::basemap::wmts::Capabilities>,
    map_memory: MapMemory,
    /// The right map of a side-by-side comparison (kept equal to `map_memory`).
    split_memory: MapMemory,
    basemap: Basemap,
    pub messages: Vec<UiMessage>,
    file_dialog: Dialog<PathBuf>,
    /// Files waiting to be opened (command line, drag-and-drop, dialog).
    pending_open: Vec<PathBuf>,
    /// Where the map should go at the next frame (zoom-to-scene).
    pending_fit: Option<Bounds>,
    world: Option<WorldOutline>,
    /// The bundled Natural Earth basemap, decoded on a worker when first needed.
    natural_earth: Task<std::sync::Arc<NaturalEarth>>,
    natural_earth_started: bool,
    /// What the Natural Earth basemap drew in the last frame (its cost, for tests and logs).
    pub offline_draw: Option<DrawStats>,
    /// The tile file of [`BasemapChoice::LocalFile`], its dialog and its opening.
    basemap_file: Option<PathBuf>,
    tile_file_dialog: Dialog<PathBuf>,
    tile_file_job: Task<TileArchive>,
    /// Opened scenes, drawn bottom to top.
    pub layers: Vec<SceneLayer>,
    /// The scene the side panels talk about.
    pub active: Option<LayerId>,
    next_layer_id: u64,
    pub inspector: Inspector,
    pub search: SearchPanel,
    /// Finding scenes in a STAC API.
    pub find: FindPanel,
    /// The map's lon/lat box (W, S, E, N) in the last frame.
    pub view_lonlat: Option<[f64; 4]>,
    /// The Open URL window's text while it is shown.
    url_prompt: Option<String>,
    session_dialog: Dialog<session::SessionPick>,
    session_job: Task<session::SessionDone>,
    /// Layers opened from a session: they keep the session's view instead of fitting the
    /// map to themselves.
    keep_view: std::collections::HashSet<LayerId>,
    /// The map's Web Mercator rectangle in the last frame.
    pub view_bounds_3857: Option<Bounds>,
    view_export_dialog: Dialog<PathBuf>,
    /// A screenshot of the map asked for (File › Export map view).
    capture: Option<export_view::PendingCapture>,
    view_export_job: Task<PathBuf>,
    /// Where to centre the map at the next frame (a search hit).
    pending_centre: Option<(f64, f64)>,
    /// A scene being opened to show a hit: centre on the hit when it is open.
    centre_after_open: Option<(PathBuf, f64, f64)>,
    /// Swiping between two layers on the map.
    pub layer_swipe: Option<LayerSwipe>,
    /// Where the map was drawn in the last frame (points).
    pub map_rect: egui::Rect,
    /// Where the selected scene's histogram and its stretch handles were drawn in the last
    /// frame.
    pub histogram_handles: Option<layers_panel::HistogramHandles>,
    /// The lon/lat under the pointer in the last frame (for the status bar).
    pub pointer_lonlat: Option<(f64, f64)>,
    /// Zoom in to at least this level (showing a hit: its tile, not a continent).
    pending_zoom_in: Option<f64>,
    /// What the panels asked for during this frame, applied at its end.
    commands: Vec<Command>,
    /// The About window's facts while it is open.
    about: Option<Vec<(&'static str, String)>>,
}

impl KestrelApp {
    pub fn new(cc: &eframe::CreationContext<'_>, options: AppOptions, files: Vec<PathBuf>) -> Self {
        let mut settings: Settings = if options.fresh_settings {
            Settings::default()
        } else {
            cc.storage
                .and_then(|s| eframe::get_value(s, SETTINGS_KEY))
                .unwrap_or_default()
        };
        if let Some(b) = options.basemap {
            settings.basemap = b;
        }
        Self::with_settings(&cc.egui_ctx, settings, files)
    }

    /// Build the app from explicit settings (used by tests, no eframe storage).
    pub fn with_settings(ctx: &egui::Context, settings: Settings, files: Vec<PathBuf>) -> Self {
        let Settings {
            recent_files,
            view,
            basemap,
            basemap_url,
            basemap_layer,
            basemap_file,
            search,
            find,
        } = settings;
        let mut map_memory = MapMemory::default();
        map_memory.center_at(lon_lat(view.lon, view.lat));
        let _ = map_memory.set_zoom(view.zoom);
        let mut app = Self {
            recent_files,
            view,
            basemap_choice: basemap,
            basemap_url_edit: basemap_url.clone(),
            split_memory: map_memory.clone(),
            map_memory,
            basemap: Basemap::new(basemap, &basemap_url, ctx),
            basemap_url,
            basemap_layer,
            wmts: None,
            wmts_job: Task::default(),
            messages: Vec::new(),
            file_dialog: Dialog::default(),
            pending_open: files,
            pending_fit: None,
            world: WorldOutline::bundled(),
            natural_earth: Task::default(),
            natural_earth_started: false,
            offline_draw: None,
            basemap_file,
            tile_file_dialog: Dialog::default(),
            tile_file_job: Task::default(),
            layers: Vec::new(),
            active: None,
            next_layer_id: 1,
            inspector: Inspector::default(),
            search: SearchPanel::new(search),
            find: FindPanel::new(find),
            view_lonlat: None,
            url_prompt: None,
            session_dialog: Dialog::default(),
            session_job: Task::default(),
            keep_view: std::collections::HashSet::new(),
            view_bounds_3857: None,
            view_export_dialog: Dialog::default(),
            capture: None,
            view_export_job: Task::default(),
            pending_centre: None,
            centre_after_open: None,
            pending_zoom_in: None,
            layer_swipe: None,
            map_rect: egui::Rect::NOTHING,
            histogram_handles: None,
            pointer_lonlat: None,
            commands: Vec::new(),
            about: None,
        };
        // a tile file chosen last time: opened on a worker, the offline map until then
        if app.basemap_choice == BasemapChoice::LocalFile
            && let Some(f) = app.basemap_file.clone()
        {
            app.set_basemap_file(f, ctx);
        }
        // a WMTS chosen last time: its capabilities fetched again on a worker
        if app.basemap_choice == BasemapChoice::Custom
            && crate::ui::basemap::wmts::is_capabilities_url(&app.basemap_url)
        {
            app.set_basemap(BasemapChoice::Custom, None, ctx);
        }
        app
    }

    /// Keep indexes and checksums under `root` (tests: a temporary folder, without touching
    /// the environment).
    pub fn with_cache_root(mut self, root: PathBuf) -> Self {
        self.search.set_cache_root(root);
        self
    }

    /// Look for models in the hub cache `dir` (tests: an empty folder, so what the picker
    /// shows does not depend on the machine's downloads).
    pub fn with_hub_cache(mut self, dir: PathBuf) -> Self {
        self.search.set_hub_cache(dir);
        self
    }

    /// The settings to store, gathered from their owners.
    pub fn settings(&self) -> Settings {
        Settings {
            recent_files: self.recent_files.clone(),
            view: self.view,
            basemap: self.basemap_choice,
            basemap_url: self.basemap_url.clone(),
            basemap_layer: self.basemap_layer.clone(),
            basemap_file: self.basemap_file.clone(),
            search: self.search.settings.clone(),
            find: self.find.settings.clone(),
        }
    }

    /// Keyboard shortcuts ([`SHORTCUTS`]); single keys only while no text field is focused.
    fn shortcuts(&mut self, ctx: &egui::Context) {
        let typing = ctx.text_edit_focused();
        let cmd = egui::Modifiers::COMMAND;
        let none = egui::Modifiers::NONE;
        let (open, close, find, heat, zoom_in, zoom_out) = ctx.input_mut(|i| {
            (
                i.consume_key(cmd, egui::Key::O),
                i.consume_key(cmd, egui::Key::W),
                i.consume_key(cmd, egui::Key::F),
                !typing && i.consume_key(none, egui::Key::H),
                !typing
                    && (i.consume_key(none, egui::Key::Plus)
                        || i.consume_key(none, egui::Key::Equals)),
                !typing && i.consume_key(none, egui::Key::Minus),
            )
        });
        if open {
            self.start_file_dialog(ctx);
        }
        if close && let Some(id) = self.active {
            self.commands.push(Command::Remove(id));
        }
        if find {
            ctx.memory_mut(|m| m.request_focus(crate::ui::search::query_box_id()));
        }
        if heat {
            self.search.heat_hidden = !self.search.heat_hidden;
        }
        if zoom_in {
            let _ = self.map_memory.zoom_in();
        }
        if zoom_out {
            let _ = self.map_memory.zoom_out();
        }
    }

    /// The map's zoom level.
    /// Whether the basemap's tiles arrive.
    pub fn basemap_health(&self) -> super::basemap::BasemapHealth {
        self.basemap.health()
    }

    pub fn view_zoom(&self) -> f64 {
        self.map_memory.zoom()
    }

    /// The map's centre (lon, lat) as of the last frame.
    pub fn view_centre(&self) -> (f64, f64) {
        (self.view.lon, self.view.lat)
    }

    /// The layer with this id, if it is still open.
    pub fn layer(&self, id: LayerId) -> Option<&SceneLayer> {
        self.layers.iter().find(|l| l.id == id)
    }

    fn layer_mut(&mut self, id: LayerId) -> Option<&mut SceneLayer> {
        self.layers.iter_mut().find(|l| l.id == id)
    }

    /// The layer the side panels talk about.
    pub fn active_layer(&self) -> Option<&SceneLayer> {
        self.active.and_then(|id| self.layer(id))
    }

    pub fn info(&mut self, text: impl Into<String>) {
        self.messages.push(UiMessage {
            error: false,
            text: text.into(),
            at: Instant::now(),
        });
    }

    pub fn error(&mut self, text: impl Into<String>) {
        let text = text.into();
        log::warn!("{text}");
        self.messages.push(UiMessage {
            error: true,
            text,
            at: Instant::now(),
        });
    }

    /// Ask for files to be opened (by path).
    pub fn open_paths(&mut self, paths: impl IntoIterator<Item = PathBuf>) {
        self.pending_open.extend(paths);
    }

    fn start_file_dialog(&mut self, ctx: &egui::Context) {
        self.file_dialog.open("file-dialog", ctx, || {
            rfd::FileDialog::new()
                .set_title("Open Sentinel-2 scene")
                .add_filter(
                    "Sentinel-2",
                    &[
                        "tif", "tiff", "xml", "jp2", "vrt", "SAFE", "zip", "json", "kestrel",
                    ],
                )
                .add_filter("All files", &["*"])
                .pick_file()
        });
    }

    fn poll_file_dialog(&mut self) {
        match self.file_dialog.poll() {
            DialogEvent::Picked(path) => self.open_paths([path]),
            DialogEvent::Failed => self.error("the file dialog could not be shown (no portal or zenity); drop a file on the window or pass it on the command line"),
            DialogEvent::Nothing | DialogEvent::Cancelled => {}
        }
    }

    fn handle_dropped_files(&mut self, ctx: &egui::Context) {
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .collect()
        });
        if !dropped.is_empty() {
            self.open_paths(dropped);
        }
    }

    fn menu_bar(&mut self, ui: &mut egui::Ui) {
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| {
                if ui.button("Open…").clicked() {
                    self.start_file_dialog(ui.ctx());
                    ui.close();
                }
                if ui.button("Open URL…").clicked() {
                    self.url_prompt = Some(String::new());
                    ui.close();
                }
                ui.separator();
                if ui.button("Open session…").clicked() {
                    self.ask_session(false, ui.ctx());
                    ui.close();
                }
                if ui.button("Save session…").clicked() {
                    self.ask_session(true, ui.ctx());
                    ui.close();
                }
                if ui.button("Export map view…").clicked() {
                    self.ask_export_view(ui.ctx());
                    ui.close();
                }
                ui.separator();
                if ui.button("Find scenes…").clicked() {
                    self.find.reveal = true;
                    ui.close();
                }
                ui.menu_button("Open recent", |ui| {
                    if self.recent_files.is_empty() {
                        ui.label("(none)");
                    }
                    for p in &self.recent_files {
                        if ui.button(p.display().to_string()).clicked() {
                            self.commands.push(Command::Open(vec![p.clone()]));
                            ui.close();
                        }
                    }
                });
            });
            // the menu holds a URL field: a click into it must not close the menu (egui's
            // default for menus closes on any click); its choices close it themselves
            egui::containers::menu::MenuButton::new("View")
                .config(
                    egui::containers::menu::MenuConfig::new()
                        .close_behavior(egui::PopupCloseBehavior::CloseOnClickOutside),
                )
                .ui(ui, |ui| self.basemap_menu(ui));
            ui.menu_button("Help", |ui| {
                ui.menu_button("Keyboard shortcuts", |ui| {
                    egui::Grid::new("shortcuts").num_columns(2).show(ui, |ui| {
                        for (keys, what) in SHORTCUTS {
                            ui.label(RichText::new(*keys).monospace());
                            ui.label(*what);
                            ui.end_row();
                        }
                    });
                });
                if ui.button("About Kestrel").clicked() {
                    self.about = Some(crate::build_info::facts());
                    ui.close();
                }
            });
        });
    }

    /// The About window: version, commit, features, CPU kernels, GDAL, licence notice.
    fn about_window(&mut self, ctx: &egui::Context) {
        let Some(facts) = &self.about else { return };
        let mut open = true;
        egui::Window::new("About Kestrel")
            .open(&mut open)
            .collapsible(false)
            .resizable(false)
            .show(ctx, |ui| {
                ui.label("Sentinel-2 viewer with local vision-language model search.");
                egui::Grid::new("about_facts")
                    .num_columns(2)
                    .show(ui, |ui| {
                        for (k, v) in facts {
                            ui.label(RichText::new(*k).strong());
                            ui.label(v);
                            ui.end_row();
                        }
                    });
                ui.separator();
                ui.label(crate::model::load::hub::LICENSE_NOTICE);
            });
        if !open {
            self.about = None;
        }
    }

    fn status_bar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal_wrapped(|ui| {
            // the pointer's place on the map (last frame), as QGIS shows it
            if let Some((lon, lat)) = self.pointer_lonlat {
                ui.label(
                    RichText::new(format!(
                        "{:.5}° {}, {:.5}° {}  ·  zoom {:.1}",
                        lat.abs(),
                        if lat < 0.0 { 'S' } else { 'N' },
                        lon.abs(),
                        if lon < 0.0 { 'W' } else { 'E' },
                        self.map_memory.zoom()
                    ))
                    .monospace(),
                );
                // and in the selected scene's CRS
                if let Some(layer) = self.active_layer()
                    && let Some((x, y)) = layer.to_scene_crs(lon, lat)
                    && let Some(scene) = &layer.scene
                {
                    let crs = &scene.info().crs;
                    let name = crs
                        .epsg
                        .map_or_else(|| crs.name.clone(), |e| format!("EPSG:{e}"));
                    ui.separator();
                    ui.label(RichText::new(format!("x {x:.1}  y {y:.1}  {name}")).monospace());
                }
                ui.separator();
            }
            match self.basemap.health() {
                BasemapHealth::Offline => {
                    ui.label(
                        RichText::new("Basemap offline: showing bundled outlines")
                            .color(Color32::from_rgb(230, 180, 80)),
                    );
                }
                BasemapHealth::Waiting => {
                    ui.label("Basemap loading…");
                }
                BasemapHealth::Online | BasemapHealth::Disabled => {}
            }
            for layer in &self.layers {
                if let Some(what) = layer.busy_label() {
                    ui.spinner();
                    ui.label(format!("{what}…"));
                    if ui.small_button("cancel").clicked() {
                        self.commands.push(Command::CancelJobs(layer.id));
                    }
                    ui.separator();
                }
            }
            let mut dismiss = None;
            for (i, m) in self.messages.iter().enumerate().rev().take(3) {
                let color = if m.error {
                    Color32::from_rgb(255, 110, 110)
                } else {
                    ui.visuals().text_color()
                };
                ui.separator();
                ui.label(RichText::new(&m.text).color(color));
                if ui.small_button("x").on_hover_text("Dismiss").clicked() {
                    dismiss = Some(i);
                }
            }
            if let Some(i) = dismiss {
                self.messages.remove(i);
            }
        });
    }

    /// The Open URL window: a STAC item's URL (or any path) typed or pasted.
    fn url_window(&mut self, ctx: &egui::Context) {
        let Some(text) = &mut self.url_prompt else {
            return;
        };
        let mut open = true;
        let mut go = false;
        egui::Window::new("Open URL")
            .open(&mut open)
            .collapsible(false)
            .resizable(false)
            .show(ctx, |ui| {
                let l = ui.label("A STAC item's URL (or a scene's path):");
                let r = ui
                    .add(
                        egui::TextEdit::singleline(text)
                            .hint_text("https://…/collections/sentinel-2-l2a/items/…")
                            .desired_width(420.0),
                    )
                    .labelled_by(l.id);
                r.request_focus();
                let enter = r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                go = ui.button("Open").clicked() || enter;
            });
        let text = text.trim().to_owned();
        if go && !text.is_empty() {
            self.commands.push(Command::Open(vec![PathBuf::from(text)]));
            open = false;
        }
        if !open {
            self.url_prompt = None;
        }
    }

    fn layers_ui(&mut self, ui: &mut egui::Ui) {
        let reveal = std::mem::take(&mut self.find.reveal);
        let open: Vec<PathBuf> = self.layers.iter().map(|l| l.path.clone()).collect();
        egui::CollapsingHeader::new(RichText::new("Find scenes").heading())
            .id_salt("find-scenes")
            .default_open(false)
            .open(reveal.then_some(true))
            .show(ui, |ui| {
                self.find
                    .ui(ui, self.view_lonlat, &open, &mut self.commands);
            });
        ui.heading("Scenes");
        layers_panel::layers_list_ui(ui, &mut self.layers, self.active, &mut self.commands);
        swipe::swipe_ui(ui, &mut self.layer_swipe, &self.layers);
        if let Some(layer) = self
            .active
            .and_then(|id| self.layers.iter().find(|l| l.id == id))
        {
            self.histogram_handles = layers_panel::scene_details_ui(
                ui,
                layer,
                self.view_bounds_3857,
                &mut self.commands,
            );
        } else {
            self.histogram_handles = None;
        }
    }

    fn search_ui(&mut self, ui: &mut egui::Ui) {
        let layer = self
            .active
            .and_then(|id| self.layers.iter().find(|l| l.id == id));
        self.search.ui(ui, layer, &mut self.commands);
    }

    /// Apply what the panels asked for during the frame (and what the jobs reported).
    fn apply(&mut self, command: Command, ctx: &egui::Context) {
        match command {
            Command::Open(paths) => self.open_paths(paths),
            Command::Select(id) => self.active = Some(id),
            Command::ZoomTo(id) => {
                if let Some(s) = self.layer(id).and_then(|l| l.scene.as_ref()) {
                    self.pending_fit = Some(s.info().bounds_3857);
                }
            }
            Command::FitLonLat {
                west,
                south,
                east,
                north,
            } => {
                self.pending_fit = Some(Bounds::web_mercator_of_lonlat(west, south, east, north));
            }
            Command::Move(id, step) => {
                if let Some(i) = self.layers.iter().position(|l| l.id == id) {
                    let j = i as i64 + i64::from(step);
                    if (0..self.layers.len() as i64).contains(&j) {
                        self.layers.swap(i, j as usize);
                    }
                }
            }
            Command::Remove(id) => {
                let Some(i) = self.layers.iter().position(|l| l.id == id) else {
                    return;
                };
                self.layers.remove(i);
                self.search.layer_closed(id);
                if self.active == Some(id) {
                    // the neighbour that took its place, or the new last one
                    self.active = self
                        .layers
                        .get(i.min(self.layers.len().saturating_sub(1)))
                        .map(|l| l.id);
                }
            }
            Command::SetStyle(id, style) => {
                if let Some(l) = self.layer_mut(id) {
                    l.set_style(style, ctx);
                }
            }
            Command::AssignBands(id, roles) => {
                let Some(layer) = self.layer_mut(id) else {
                    return;
                };
                let Some(scene) = &layer.scene else { return };
                let mut scene = (**scene).clone();
                match scene.set_band_roles(roles) {
                    Ok(()) => layer.set_scene(scene, ctx),
                    Err(e) => self.error(format!("{e}")),
                }
            }
            Command::CancelJobs(id) => {
                if let Some(l) = self.layer_mut(id) {
                    l.cancel_jobs();
                }
            }
            Command::CentreOn { lon, lat } => self.pending_centre = Some((lon, lat)),
            Command::ShowHit { scene, lon, lat } => {
                let same = |p: &std::path::Path| {
                    p == scene
                        || matches!(
                            (std::fs::canonicalize(p), std::fs::canonicalize(&scene)),
                            (Ok(a), Ok(b)) if a == b
                        )
                };
                self.pending_zoom_in = Some(HIT_ZOOM);
                if let Some(id) = self.layers.iter().find(|l| same(&l.path)).map(|l| l.id) {
                    self.active = Some(id);
                    self.pending_centre = Some((lon, lat));
                } else {
                    // centred on the hit once it is open (instead of fitting the scene)
                    self.centre_after_open = Some((scene.clone(), lon, lat));
                    self.open_paths([scene]);
                }
            }
            Command::MapClicked { lon, lat } => {
                let Some(layer) = self.active_layer() else {
                    return;
                };
                let (id, scene) = (layer.id, layer.scene.clone());
                if let Some(scene) = scene {
                    self.inspector.inspect(scene, lon, lat, ctx);
                }
                if let Some(tile) = self.search.tile_at(id, lon, lat) {
                    self.search.select_tile(id, tile);
                }
            }
            Command::Message { error: true, text } => self.error(text),
            Command::Message { error: false, text } => self.info(text),
        }
    }

    fn apply_commands(&mut self, ctx: &egui::Context) {
        for c in std::mem::take(&mut self.commands) {
            self.apply(c, ctx);
        }
    }

    fn map_ui(&mut self, ui: &mut egui::Ui) {
        let full = ui.max_rect();
        let split = self
            .layer_swipe
            .filter(|s| s.mode == CompareMode::SideBySide);
        // side by side: two maps, each half as wide, showing the same centre and zoom
        let mut size = ui.available_size();
        if split.is_some() {
            size.x /= 2.0;
        }
        if let Some(r) = self.pending_fit.take() {
            let (lon, lat) = geo::centre_lonlat(&r);
            self.map_memory.center_at(lon_lat(lon, lat));
            let _ = self.map_memory.set_zoom(geo::zoom_to_fit(&r, size));
        }
        if let Some((lon, lat)) = self.pending_centre.take() {
            self.map_memory.center_at(lon_lat(lon, lat));
        }
        if let Some(z) = self.pending_zoom_in.take()
            && self.map_memory.zoom() < z
        {
            let _ = self.map_memory.set_zoom(z);
        }
        let out = if split.is_none() {
            self.map_view(ui, MapSide::Whole)
        } else {
            let half = (full.width() / 2.0).floor();
            let left = egui::Rect::from_min_max(
                full.min,
                egui::pos2(full.left() + half - 1.0, full.bottom()),
            );
            let right = egui::Rect::from_min_max(
                egui::pos2(full.left() + half + 1.0, full.top()),
                full.max,
            );
            let l = ui
                .scope_builder(egui::UiBuilder::new().max_rect(left), |ui| {
                    ui.shrink_clip_rect(left);
                    self.map_view(ui, MapSide::Left)
                })
                .inner;
            // the right map follows the left one, and leads it when it is the one moved
            self.split_memory = self.map_memory.clone();
            let before = (self.split_memory.detached(), self.split_memory.zoom());
            let r = ui
                .scope_builder(egui::UiBuilder::new().max_rect(right), |ui| {
                    ui.shrink_clip_rect(right);
                    self.map_view(ui, MapSide::Right)
                })
                .inner;
            if (self.split_memory.detached(), self.split_memory.zoom()) != before {
                self.map_memory = self.split_memory.clone();
                ui.ctx().request_repaint();
            }
            ui.painter().rect_filled(
                egui::Rect::from_min_max(left.right_top(), right.left_bottom()),
                0.0,
                Color32::from_gray(20),
            );
            // the pointer and clicks of whichever map has them; the left map's view
            MapOut {
                click: l.click.or(r.click),
                brushed: l.brushed.or(r.brushed),
                pointer: l.pointer.or(r.pointer),
                box_drag: l.box_drag.or(r.box_drag),
                box_done: l.box_done || r.box_done,
                ..l
            }
        };
        self.map_rect = if split.is_some() { full } else { out.rect };
        self.after_map_view(ui, out);
    }

    /// One map: the basemap, the layers (in a side-by-side comparison, the other side's
    /// layer left out), heatmaps, footprints and markers; what the pointer did.
    fn map_view(&mut self, ui: &mut egui::Ui, which: MapSide) -> MapOut {
        let default_pos = lon_lat(self.view.lon, self.view.lat);
        let offline = self.offline(ui.ctx());
        let attribution = self.basemap.attribution();
        let world = self.world.as_ref();
        let layers = &self.layers;
        let active = self.active;
        let marker = self.inspector.marker;
        let search = &self.search;
        let find = &self.find;
        let compare = self.layer_swipe;
        // a layer of a side-by-side comparison draws only in its own map
        let shown = move |id: LayerId| match (which, compare) {
            (MapSide::Left, Some(c)) => id != c.right,
            (MapSide::Right, Some(c)) => id != c.left,
            _ => true,
        };
        let swipe = &mut self.layer_swipe;
        // the label brush paints tiles with the pointer: dragging then labels instead of panning
        let brushing = search.brush.is_some();
        // so does drawing the Find panel's box
        let drawing_box = find.is_drawing();
        let pan_buttons = if brushing || drawing_box {
            // the primary button paints or draws; the others still pan
            egui::DragPanButtons::SECONDARY | egui::DragPanButtons::MIDDLE
        } else {
            egui::DragPanButtons::PRIMARY
        };
        let memory = match which {
            MapSide::Right => &mut self.split_memory,
            MapSide::Whole | MapSide::Left => &mut self.map_memory,
        };
        let map =
            Map::new(self.basemap.tiles_mut(), memory, default_pos).drag_pan_buttons(pan_buttons);
        let mut offline_draw = None;
        let inner = map.show(ui, |ui, response, projector, memory| {
            let painter = ui.painter();
            match offline {
                Offline::None => {}
                Offline::NaturalEarth(Some(ne)) => {
                    // the graticule under the names
                    overlays::draw_graticule(painter, projector);
                    offline_draw = Some(ne.draw(painter, projector, memory.zoom()));
                }
                Offline::Outlines | Offline::NaturalEarth(None) => {
                    if let Some(w) = world {
                        w.draw(painter, projector);
                    }
                    overlays::draw_graticule(painter, projector);
                }
            }
            // swiping between two layers: each of them draws on its side of the divider
            let map_rect = painter.clip_rect();
            let side = |id: LayerId| {
                swipe
                    .as_ref()
                    .filter(|s| s.mode == CompareMode::Swipe)
                    .map_or_else(
                        || painter.clone(),
                        |s| painter.with_clip_rect(s.clip_of(id, map_rect)),
                    )
            };
            for layer in layers {
                if !layer.visible || !shown(layer.id) {
                    continue;
                }
                let painter = &side(layer.id);
                for tex in [layer.overview.as_ref(), layer.view.as_ref()]
                    .into_iter()
                    .flatten()
                {
                    if tex.style == layer.style {
                        overlays::draw_georef_image(
                            painter,
                            projector,
                            tex.texture.id(),
                            &tex.bounds,
                            layer.opacity,
                        );
                    }
                }
                if let Some(scene) = &layer.scene {
                    let ring: Vec<[f64; 2]> = scene
                        .info()
                        .footprint_wgs84
                        .iter()
                        .map(|(x, y)| [*x, *y])
                        .collect();
                    let color = if active == Some(layer.id) {
                        Color32::from_rgb(255, 200, 60)
                    } else {
                        Color32::from_gray(200)
                    };
                    overlays::draw_lonlat_ring(
                        painter,
                        projector,
                        &ring,
                        egui::Stroke::new(1.5, color),
                    );
                }
            }
            find.draw(painter, projector);
            // a query over all open scenes: a heatmap on each of them
            for id in search.result_layers() {
                if Some(id) != active && shown(id) && layers.iter().any(|l| l.id == id && l.visible)
                {
                    search.draw_overlay(&side(id), projector, id);
                }
            }
            if let Some(id) = active.filter(|id| shown(*id)) {
                search.draw_overlay(&side(id), projector, id);
                if let Some(pos) = response.hover_pos() {
                    let ll = projector.unproject(pos.to_vec2());
                    if let Some(text) = search
                        .tile_at(id, ll.x(), ll.y())
                        .and_then(|t| search.hover_text(id, t))
                    {
                        response.clone().on_hover_text_at_pointer(text);
                    }
                }
            }
            if let Some((lon, lat)) = marker {
                let p = geo::lonlat_to_screen(projector, lon, lat);
                painter.circle_stroke(
                    p,
                    6.0,
                    egui::Stroke::new(2.0, Color32::from_rgb(255, 60, 200)),
                );
            }
            if let Some(s) = swipe.as_mut() {
                let name = |id: LayerId| {
                    layers
                        .iter()
                        .find(|l| l.id == id)
                        .map_or_else(String::new, SceneLayer::name)
                };
                let (left, right) = (name(s.left), name(s.right));
                match (s.mode, which) {
                    (CompareMode::Swipe, _) => s.divider_ui(ui, map_rect, (&left, &right)),
                    (CompareMode::SideBySide, MapSide::Left) => {
                        swipe::draw_map_title(painter, map_rect, &left);
                    }
                    (CompareMode::SideBySide, MapSide::Right) => {
                        swipe::draw_map_title(painter, map_rect, &right);
                    }
                    (CompareMode::SideBySide, MapSide::Whole) => {}
                }
            }
            // two models by swipe: their divider, drawn with the heatmaps, dragged here
            let model_divider = active
                .filter(|id| shown(*id) && search.compare_swipe_shown(*id))
                .map(|_| {
                    swipe::drag_divider(
                        ui,
                        map_rect,
                        search.compare.swipe,
                        egui::Id::unique("model-swipe-divider"),
                    )
                });
            overlays::draw_scale_bar(painter, projector);
            // the tiles' credit, and above it the offline basemap's (GeoNames' CC BY asks
            // for it where the names are seen)
            let mut rows = 0.0;
            if let Some(a) = &attribution {
                rows += draw_attribution(ui, a, rows);
            }
            if offline_draw.is_some() {
                draw_attribution(ui, &NATURAL_EARTH_CREDIT, rows);
            }
            // A click (not a drag) inspects the pixel under the pointer.
            let click = response
                .clicked()
                .then(|| response.interact_pointer_pos())
                .flatten()
                .map(|pos| {
                    let ll = projector.unproject(pos.to_vec2());
                    Command::MapClicked {
                        lon: ll.x(),
                        lat: ll.y(),
                    }
                });
            // the brush: the point under a pressed pointer
            let primary_down = ui.input(|i| i.pointer.primary_down());
            let brushed = (brushing && primary_down && response.is_pointer_button_down_on())
                .then(|| response.interact_pointer_pos())
                .flatten()
                .map(|pos| {
                    let ll = projector.unproject(pos.to_vec2());
                    (ll.x(), ll.y())
                });
            let pointer = response.hover_pos().map(|pos| {
                let ll = projector.unproject(pos.to_vec2());
                (ll.x(), ll.y())
            });
            // drawing the Find panel's box: from where the button went down to the pointer
            let unproject = |pos: egui::Pos2| {
                let ll = projector.unproject(pos.to_vec2());
                (ll.x(), ll.y())
            };
            let box_drag = (drawing_box && primary_down && response.is_pointer_button_down_on())
                .then(|| {
                    let origin = ui.input(|i| i.pointer.press_origin())?;
                    let now = response.interact_pointer_pos()?;
                    Some([unproject(origin), unproject(now)])
                })
                .flatten();
            let box_done =
                drawing_box && ui.input(|i| i.pointer.primary_released()) && response.hovered();
            MapOut {
                visible: geo::visible_merc_rect(projector, response.rect),
                rect: response.rect,
                click,
                brushed,
                pointer,
                box_drag,
                box_done,
                model_divider,
            }
        });
        if offline_draw.is_some() {
            self.offline_draw = offline_draw;
        }
        inner.inner
    }

    /// What follows drawing the map(s): the pointer, clicks and brush strokes, sharper
    /// renders of what is now visible, the basemap's health, the view to remember.
    fn after_map_view(&mut self, ui: &egui::Ui, out: MapOut) {
        let MapOut {
            visible,
            rect,
            click,
            brushed,
            pointer,
            box_drag,
            box_done,
            model_divider,
        } = out;
        if let Some(at) = model_divider {
            self.search.compare.swipe = at;
        }
        self.find.drag_box(box_drag, box_done);
        self.pointer_lonlat = pointer;
        self.view_lonlat = Some(view_lonlat(&visible));
        self.view_bounds_3857 = Some(visible);
        self.commands.extend(click);
        if let (Some((lon, lat)), Some(id)) = (brushed, self.active) {
            self.search.brush_at(id, lon, lat);
        }
        // Sharper renders of what is now on screen start after painting, not from inside it.
        let ppp = ui.ctx().pixels_per_point();
        for layer in self.layers.iter_mut().filter(|l| l.visible) {
            layer.want_view(visible, rect.width() * ppp, rect.height() * ppp, ui.ctx());
        }
        let before = self.basemap.health();
        self.basemap.update_health();
        if self.basemap.health() != before {
            ui.ctx().request_repaint();
        }
        if self.basemap.health() == BasemapHealth::Waiting {
            // keep re-checking until tiles arrive or the basemap is declared offline
            ui.ctx()
                .request_repaint_after(std::time::Duration::from_millis(500));
        }
        if let Some(c) = self.map_memory.detached() {
            self.view = ViewState {
                lon: c.x(),
                lat: c.y(),
                zoom: self.map_memory.zoom(),
            };
        }
    }
}

/// Which map a frame draws: the only one, or one of a side-by-side comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MapSide {
    Whole,
    Left,
    Right,
}

/// What one map reported in a frame.
struct MapOut {
    /// The visible Mercator rectangle.
    visible: Bounds,
    /// Where the map was drawn (points).
    rect: egui::Rect,
    click: Option<Command>,
    /// The point under a pressed pointer while the label brush is on.
    brushed: Option<(f64, f64)>,
    /// The lon/lat under the pointer.
    pointer: Option<(f64, f64)>,
    /// Drawing the Find panel's box: the corners so far, and whether the button was
    /// released.
    box_drag: Option<[(f64, f64); 2]>,
    box_done: bool,
    /// The two-model swipe's divider after this frame's drag (a fraction of the width).
    model_divider: Option<f32>,
}

/// The lon/lat box (W, S, E, N) of a visible Mercator rectangle, within the world (the map
/// repeats the world sideways when zoomed out).
fn view_lonlat(r: &Bounds) -> [f64; 4] {
    let (w, s) = web_mercator_to_lonlat(r.min_x, r.min_y);
    let (e, n) = web_mercator_to_lonlat(r.max_x, r.max_y);
    let (w, e) = if e - w >= 360.0 {
        (-180.0, 180.0)
    } else {
        (w.max(-180.0), e.min(180.0))
    };
    [w, s.max(-90.0), e, n.min(90.0)]
}

/// The offline basemap's sources, credited on the map while it is drawn.
const NATURAL_EARTH_CREDIT: walkers::sources::Attribution = walkers::sources::Attribution {
    text: "Natural Earth · © GeoNames, CC BY 4.0",
    url: "https://www.geonames.org/",
    logo_light: None,
    logo_dark: None,
};

/// A basemap attribution in the lower-right corner, `above` points up from the bottom,
/// clickable; the height it took.
fn draw_attribution(ui: &egui::Ui, a: &walkers::sources::Attribution, above: f32) -> f32 {
    let painter = ui.painter();
    let rect = ui.max_rect();
    let text = if a.text.contains('©') {
        a.text.to_owned()
    } else {
        format!("© {}", a.text)
    };
    let galley = painter.layout_no_wrap(text, egui::FontId::proportional(11.0), Color32::BLACK);
    let pos = egui::pos2(
        rect.max.x - galley.size().x - 6.0,
        rect.max.y - galley.size().y - 4.0 - above,
    );
    let height = galley.size().y + 4.0;
    let bg = egui::Rect::from_min_size(
        pos - egui::vec2(3.0, 1.0),
        galley.size() + egui::vec2(6.0, 2.0),
    );
    painter.rect_filled(bg, 2.0, Color32::from_white_alpha(200));
    painter.galley(pos, galley, Color32::BLACK);
    let resp = ui.interact(
        bg,
        ui.scope_id().with(("attribution", a.text)),
        egui::Sense::click(),
    );
    if resp.on_hover_text(a.url).clicked() && !a.url.is_empty() {
        ui.ctx().open_url(egui::OpenUrl::new_tab(a.url));
    }
    height
}

impl eframe::App for KestrelApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        let before = self.messages.len();
        self.messages
            .retain(|m| m.error || m.at.elapsed().as_secs() < INFO_MESSAGE_SECS);
        if self.messages.iter().any(|m| !m.error) {
            ctx.request_repaint_after(std::time::Duration::from_secs(1));
        } else if self.messages.len() != before {
            ctx.request_repaint();
        }
        self.poll_file_dialog();
        self.poll_basemap(ctx);
        self.handle_dropped_files(ctx);
        let to_open = std::mem::take(&mut self.pending_open);
        for p in to_open {
            if is_session_file(&p) {
                self.open_session(p, ctx);
                continue;
            }
            let id = LayerId(self.next_layer_id);
            self.next_layer_id += 1;
            self.layers.push(SceneLayer::open(id, p, ctx));
            self.active = Some(id);
        }
        let mut failed = Vec::new();
        for layer in &mut self.layers {
            match layer.poll(ctx) {
                Some(LayerEvent::Opened) => {
                    push_recent(&mut self.recent_files, &layer.path);
                    match self.centre_after_open.take() {
                        Some((p, lon, lat)) if p == layer.path => {
                            self.pending_centre = Some((lon, lat));
                            self.pending_zoom_in = Some(HIT_ZOOM);
                        }
                        other => {
                            self.centre_after_open = other;
                            if !self.keep_view.remove(&layer.id) {
                                self.pending_fit =
                                    layer.scene.as_ref().map(|s| s.info().bounds_3857);
                            }
                        }
                    }
                }
                Some(LayerEvent::Failed(msg)) => failed.push(msg),
                None => {}
            }
        }
        for msg in failed {
            self.error(msg);
        }
        self.inspector.poll();
        for c in self.search.poll(ctx) {
            self.apply(c, ctx);
        }
        self.search.follow(self.active);
        self.find.poll(ctx);
        self.poll_session(ctx);
        self.poll_view_export(ctx);
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        self.shortcuts(&ctx);
        egui::Panel::top("menu").show(ui, |ui| self.menu_bar(ui));
        egui::Panel::bottom("status").show(ui, |ui| self.status_bar(ui));
        egui::Panel::left("layers")
            .resizable(true)
            .default_size(300.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| self.layers_ui(ui));
            });
        egui::Panel::right("tools")
            .resizable(true)
            .default_size(320.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    egui::CollapsingHeader::new(RichText::new("Model search").heading())
                        .default_open(true)
                        .show(ui, |ui| self.search_ui(ui));
                    egui::CollapsingHeader::new(RichText::new("Pixel inspector").heading())
                        .default_open(true)
                        .show(ui, |ui| self.inspector.ui(ui));
                });
            });
        egui::CentralPanel::default()
            .frame(egui::Frame::NONE)
            .show(ui, |ui| self.map_ui(ui));
        self.about_window(ui.ctx());
        self.url_window(ui.ctx());
        self.apply_commands(ui.ctx());
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, SETTINGS_KEY, &self.settings());
    }
}

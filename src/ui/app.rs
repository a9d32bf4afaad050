//! The application state and the per-frame loop: poll background jobs (`logic`), then draw
//! the panels and the map (`ui`). Persistent settings (recent files, the map view, panel
//! choices) are saved through eframe's storage.

use std::path::{Path, PathBuf};
use std::time::Instant;

use egui::{Color32, RichText};
use walkers::{Map, MapMemory, lon_lat};

use super::basemap::{Basemap, BasemapChoice, BasemapHealth};
use super::geo;
use super::inspector::Inspector;
use super::layers_panel::{self, LayersAction};
use super::overlays;
use super::scene_layer::{LayerEvent, SceneLayer};
use super::search_panel::{SearchAction, SearchPanel, SearchSettings};
use super::world::WorldOutline;
use crate::raster::Bounds;

const SETTINGS_KEY: &str = "kestrel-settings";
const MAX_RECENT: usize = 12;

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

/// Settings that survive restarts.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Settings {
    pub recent_files: Vec<PathBuf>,
    pub view: ViewState,
    pub basemap: BasemapChoice,
    pub search: SearchSettings,
}

impl Settings {
    pub fn push_recent(&mut self, path: &Path) {
        self.recent_files.retain(|p| p != path);
        self.recent_files.insert(0, path.to_path_buf());
        self.recent_files.truncate(MAX_RECENT);
    }
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
    pub settings: Settings,
    map_memory: MapMemory,
    basemap: Basemap,
    pub messages: Vec<UiMessage>,
    file_dialog: Option<crossbeam_channel::Receiver<Option<PathBuf>>>,
    /// Files waiting to be opened (command line, drag-and-drop, dialog).
    pending_open: Vec<PathBuf>,
    /// Where the map should go at the next frame (zoom-to-scene).
    pending_fit: Option<Bounds>,
    world: Option<WorldOutline>,
    /// Opened scenes, drawn bottom to top.
    pub layers: Vec<SceneLayer>,
    /// The scene the side panels talk about.
    pub active: Option<usize>,
    next_layer_id: u64,
    pub inspector: Inspector,
    pub search: SearchPanel,
    /// Where to centre the map at the next frame (a search hit).
    pending_centre: Option<(f64, f64)>,
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
        let mut map_memory = MapMemory::default();
        map_memory.center_at(lon_lat(settings.view.lon, settings.view.lat));
        let _ = map_memory.set_zoom(settings.view.zoom);
        let basemap = Basemap::new(settings.basemap, ctx);
        let search = SearchPanel::new(settings.search.clone());
        Self {
            settings,
            map_memory,
            basemap,
            messages: Vec::new(),
            file_dialog: None,
            pending_open: files,
            pending_fit: None,
            world: WorldOutline::bundled(),
            layers: Vec::new(),
            active: None,
            next_layer_id: 1,
            inspector: Inspector::default(),
            search,
            pending_centre: None,
        }
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
        if self.file_dialog.is_some() {
            return;
        }
        let (tx, rx) = crossbeam_channel::bounded(1);
        let ctx = ctx.clone();
        // rfd's xdg-portal backend may be driven from any thread on Linux; running it on a
        // worker keeps the UI responsive while the dialog is open.
        let spawned = std::thread::Builder::new()
            .name("kestrel-file-dialog".into())
            .spawn(move || {
                let picked = rfd::FileDialog::new()
                    .set_title("Open Sentinel-2 scene")
                    .add_filter(
                        "Sentinel-2",
                        &["tif", "tiff", "xml", "jp2", "vrt", "SAFE", "zip"],
                    )
                    .add_filter("All files", &["*"])
                    .pick_file();
                let _ = tx.send(picked);
                ctx.request_repaint();
            });
        match spawned {
            Ok(_) => self.file_dialog = Some(rx),
            Err(e) => self.error(format!("cannot open the file dialog: {e}")),
        }
    }

    fn poll_file_dialog(&mut self) {
        if let Some(rx) = &self.file_dialog {
            match rx.try_recv() {
                Ok(Some(path)) => {
                    self.file_dialog = None;
                    self.open_paths([path]);
                }
                Ok(None) => self.file_dialog = None,
                Err(crossbeam_channel::TryRecvError::Empty) => {}
                Err(crossbeam_channel::TryRecvError::Disconnected) => {
                    self.file_dialog = None;
                    self.error("the file dialog could not be shown (no portal or zenity); drop a file on the window or pass it on the command line");
                }
            }
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
                ui.menu_button("Open recent", |ui| {
                    if self.settings.recent_files.is_empty() {
                        ui.label("(none)");
                    }
                    let mut chosen = None;
                    for p in &self.settings.recent_files {
                        if ui.button(p.display().to_string()).clicked() {
                            chosen = Some(p.clone());
                        }
                    }
                    if let Some(p) = chosen {
                        self.open_paths([p]);
                        ui.close();
                    }
                });
            });
            ui.menu_button("View", |ui| {
                ui.label("Basemap");
                for choice in [BasemapChoice::OpenStreetMap, BasemapChoice::Plain] {
                    if ui
                        .radio(self.settings.basemap == choice, choice.label())
                        .clicked()
                    {
                        self.settings.basemap = choice;
                        self.basemap = Basemap::new(choice, ui.ctx());
                        ui.close();
                    }
                }
            });
        });
    }

    fn status_bar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal_wrapped(|ui| {
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
            let mut cancel = None;
            for (i, layer) in self.layers.iter().enumerate() {
                if let Some(what) = layer.busy_label() {
                    ui.spinner();
                    ui.label(format!("{what}…"));
                    if ui.small_button("cancel").clicked() {
                        cancel = Some(i);
                    }
                    ui.separator();
                }
            }
            if let Some(i) = cancel {
                self.layers[i].cancel_jobs();
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

    fn layers_ui(&mut self, ui: &mut egui::Ui) {
        ui.heading("Scenes");
        let mut actions = Vec::new();
        layers_panel::layers_list_ui(ui, &mut self.layers, self.active, &mut actions);
        if let Some(i) = self.active.filter(|i| *i < self.layers.len()) {
            layers_panel::scene_details_ui(ui, i, &self.layers[i], &mut actions);
        }
        for a in actions {
            self.apply_layers_action(a, ui.ctx());
        }
    }

    fn apply_search_action(&mut self, action: SearchAction) {
        match action {
            SearchAction::CentreOn { lon, lat } => self.pending_centre = Some((lon, lat)),
            SearchAction::Message { error: true, text } => self.error(text),
            SearchAction::Message { error: false, text } => self.info(text),
        }
    }

    fn search_ui(&mut self, ui: &mut egui::Ui) {
        let layer = self.active.and_then(|i| self.layers.get(i));
        let actions = self.search.ui(ui, layer);
        for a in actions {
            self.apply_search_action(a);
        }
    }

    fn apply_layers_action(&mut self, action: LayersAction, ctx: &egui::Context) {
        match action {
            LayersAction::Select(i) => self.active = Some(i),
            LayersAction::ZoomTo(i) => {
                if let Some(s) = self.layers.get(i).and_then(|l| l.scene.as_ref()) {
                    self.pending_fit = Some(s.info().bounds_3857);
                }
            }
            LayersAction::Remove(i) => {
                if i < self.layers.len() {
                    let removed = self.layers.remove(i);
                    self.search.layer_closed(removed.id);
                    self.active = match self.active {
                        Some(a) if a == i => {
                            (!self.layers.is_empty()).then(|| i.min(self.layers.len() - 1))
                        }
                        Some(a) if a > i => Some(a - 1),
                        a => a,
                    };
                }
            }
            LayersAction::SetStyle(i, style) => {
                if let Some(l) = self.layers.get_mut(i) {
                    l.set_style(style, ctx);
                }
            }
            LayersAction::AssignBands(i, roles) => {
                let Some(layer) = self.layers.get_mut(i) else {
                    return;
                };
                let Some(scene) = &layer.scene else { return };
                let mut scene = (**scene).clone();
                match scene.set_band_roles(roles) {
                    Ok(()) => layer.set_scene(scene, ctx),
                    Err(e) => self.error(format!("{e}")),
                }
            }
        }
    }

    fn map_ui(&mut self, ui: &mut egui::Ui) {
        let size = ui.available_size();
        if let Some(r) = self.pending_fit.take() {
            let (lon, lat) = geo::centre_lonlat(&r);
            self.map_memory.center_at(lon_lat(lon, lat));
            let _ = self.map_memory.set_zoom(geo::zoom_to_fit(&r, size));
        }
        if let Some((lon, lat)) = self.pending_centre.take() {
            self.map_memory.center_at(lon_lat(lon, lat));
        }
        let default_pos = lon_lat(self.settings.view.lon, self.settings.view.lat);
        let show_graticule = !matches!(self.basemap.health(), BasemapHealth::Online);
        let attribution = self.basemap.attribution();
        let world = self.world.as_ref();
        let layers = &mut self.layers;
        let active = self.active;
        let marker = self.inspector.marker;
        let search = &self.search;
        let active_id = active.and_then(|i| layers.get(i)).map(|l| l.id);
        let ppp = ui.ctx().pixels_per_point();
        let map = Map::new(self.basemap.tiles_mut(), &mut self.map_memory, default_pos);
        let inner = map.show(ui, |ui, response, projector, _memory| {
            let painter = ui.painter();
            if show_graticule {
                if let Some(w) = world {
                    w.draw(painter, projector);
                }
                overlays::draw_graticule(painter, projector);
            }
            let visible = geo::visible_merc_rect(projector, response.rect);
            for (i, layer) in layers.iter_mut().enumerate() {
                if !layer.visible {
                    continue;
                }
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
                    let color = if active == Some(i) {
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
                layer.want_view(
                    visible,
                    response.rect.width() * ppp,
                    response.rect.height() * ppp,
                    ui.ctx(),
                );
            }
            if let Some(id) = active_id {
                search.draw_overlay(painter, projector, id);
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
            overlays::draw_scale_bar(painter, projector);
            if let Some(a) = &attribution {
                draw_attribution(ui, a);
            }
            // A click (not a drag) inspects the pixel under the pointer.
            if response.clicked()
                && let Some(pos) = response.interact_pointer_pos()
            {
                let ll = projector.unproject(pos.to_vec2());
                Some((ll.x(), ll.y()))
            } else {
                None
            }
        });
        if let Some((lon, lat)) = inner.inner
            && let Some(layer) = self.active.and_then(|i| self.layers.get(i))
        {
            if let Some(scene) = layer.scene.clone() {
                self.inspector.inspect(scene, lon, lat, ui.ctx());
            }
            if let Some(tile) = self.search.tile_at(layer.id, lon, lat) {
                self.search.selected = Some(tile);
            }
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
            self.settings.view = ViewState {
                lon: c.x(),
                lat: c.y(),
                zoom: self.map_memory.zoom(),
            };
        }
    }
}

/// The basemap's attribution in the lower-right corner, clickable.
fn draw_attribution(ui: &egui::Ui, a: &walkers::sources::Attribution) {
    let painter = ui.painter();
    let rect = ui.max_rect();
    let text = format!("© {}", a.text);
    let galley = painter.layout_no_wrap(text, egui::FontId::proportional(11.0), Color32::BLACK);
    let pos = egui::pos2(
        rect.max.x - galley.size().x - 6.0,
        rect.max.y - galley.size().y - 4.0,
    );
    let bg = egui::Rect::from_min_size(
        pos - egui::vec2(3.0, 1.0),
        galley.size() + egui::vec2(6.0, 2.0),
    );
    painter.rect_filled(bg, 2.0, Color32::from_white_alpha(200));
    painter.galley(pos, galley, Color32::BLACK);
    let resp = ui.interact(bg, ui.scope_id().with("attribution"), egui::Sense::click());
    if resp.on_hover_text(a.url).clicked() {
        ui.ctx().open_url(egui::OpenUrl::new_tab(a.url));
    }
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
        self.handle_dropped_files(ctx);
        let to_open = std::mem::take(&mut self.pending_open);
        for p in to_open {
            let id = self.next_layer_id;
            self.next_layer_id += 1;
            self.layers.push(SceneLayer::open(id, p, ctx));
            self.active = Some(self.layers.len() - 1);
        }
        let mut events = Vec::new();
        for (i, layer) in self.layers.iter_mut().enumerate() {
            if let Some(ev) = layer.poll(ctx) {
                events.push((i, ev));
            }
        }
        for (i, ev) in events {
            match ev {
                LayerEvent::Opened => {
                    let path = self.layers[i].path.clone();
                    self.settings.push_recent(&path);
                    if let Some(scene) = &self.layers[i].scene {
                        self.pending_fit = Some(scene.info().bounds_3857);
                    }
                }
                LayerEvent::Failed(msg) => self.error(msg),
            }
        }
        self.inspector.poll();
        for action in self.search.poll(ctx) {
            self.apply_search_action(action);
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
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
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        self.settings.search = self.search.settings.clone();
        eframe::set_value(storage, SETTINGS_KEY, &self.settings);
    }
}

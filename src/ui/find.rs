//! The Find-scenes panel (issue 11): Sentinel-2 items of a STAC API in the current map view
//! (or a box drawn on the map, or typed), a date range and a largest cloud cover, searched on a worker with the
//! same [`crate::stac::search`] as `kestrel stac search`. The hits are a list (date, cloud
//! cover, MGRS tile, the item's thumbnail, fetched on a second worker) and footprints on the
//! map; any of them open as layers, read in place over HTTP like any STAC item.

use std::collections::BTreeSet;
use std::path::PathBuf;

use chrono::{Days, Utc};
use crossbeam_channel::Receiver;
use egui::{Color32, RichText, TextureHandle, TextureOptions, Ui};
use walkers::Projector;

use super::command::Command;
use super::overlays;
use super::task::{Task, TaskEvent, repainter};
use crate::jobs::JobHandle;
use crate::stac::search::footprint_rings;
use crate::stac::thumbnail::{Thumbnail, read_thumbnail};
use crate::stac::{Hit, SearchOutcome, SearchParams, parse_bbox, search};

/// Earth Search v1 (Element 84), the Sentinel-2 L2A COGs on AWS: no key, no signing.
pub const EARTH_SEARCH: &str = "https://earth-search.aws.element84.com/v1";
/// The longest side of a thumbnail in the list (pixels).
pub const THUMB_SIDE: u32 = 96;
/// How a thumbnail is shown (points).
const THUMB_SHOW: f32 = 64.0;

/// What the panel remembers between sessions.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct FindSettings {
    /// The STAC API's landing page.
    pub api: String,
    pub collection: String,
    /// First day (`YYYY-MM-DD` or RFC 3339); empty = open.
    pub start: String,
    /// Last day, inclusive; empty = open.
    pub end: String,
    /// Largest cloud cover kept, percent (100 = no filter).
    pub max_cloud: f32,
    /// Most items listed (the earliest).
    pub limit: usize,
}

impl Default for FindSettings {
    fn default() -> Self {
        let today = Utc::now().date_naive();
        let start = today.checked_sub_days(Days::new(30)).unwrap_or(today);
        Self {
            api: EARTH_SEARCH.to_owned(),
            collection: "sentinel-2-l2a".to_owned(),
            start: start.to_string(),
            end: today.to_string(),
            max_cloud: 30.0,
            limit: 50,
        }
    }
}

/// Where to search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    /// What the map shows when *Search* is pressed.
    MapView,
    /// A box dragged on the map.
    Drawn,
    /// The box typed as `W,S,E,N`.
    Typed,
}

/// One listed item: the hit, its footprint rings and its thumbnail's state.
struct Row {
    hit: Hit,
    rings: Vec<Vec<[f64; 2]>>,
    thumb: Thumb,
}

enum Thumb {
    /// No thumbnail asset.
    None,
    Loading,
    Ready {
        image: Thumbnail,
        texture: TextureHandle,
    },
    Failed(String),
}

type ThumbResult = (usize, Result<Thumbnail, String>);

/// The panel's state.
pub struct FindPanel {
    pub settings: FindSettings,
    pub area: Area,
    /// The typed box (`W,S,E,N`).
    pub bbox_text: String,
    /// Expand the panel at the next frame (File › Find scenes).
    pub reveal: bool,
    /// The box drawn on the map (W, S, E, N).
    drawn: Option<[f64; 4]>,
    /// The next primary drag on the map draws the box (instead of panning).
    drawing: bool,
    search: Task<SearchOutcome>,
    /// The box the listed search covered.
    searched: Option<[f64; 4]>,
    rows: Vec<Row>,
    thumbs: Option<(JobHandle<()>, Receiver<ThumbResult>)>,
    /// Rows ticked for *Open selected*.
    ticked: BTreeSet<usize>,
    /// The row under the pointer (its footprint is filled on the map).
    hovered: Option<usize>,
}

impl FindPanel {
    pub fn new(settings: FindSettings) -> Self {
        Self {
            settings,
            area: Area::MapView,
            bbox_text: String::new(),
            reveal: false,
            drawn: None,
            drawing: false,
            search: Task::default(),
            searched: None,
            rows: Vec::new(),
            thumbs: None,
            ticked: BTreeSet::new(),
            hovered: None,
        }
    }

    /// The listed hits, in date order.
    pub fn hits(&self) -> impl Iterator<Item = &Hit> {
        self.rows.iter().map(|r| &r.hit)
    }

    /// The decoded thumbnail of the `i`-th hit, once fetched.
    pub fn thumbnail(&self, i: usize) -> Option<&Thumbnail> {
        match &self.rows.get(i)?.thumb {
            Thumb::Ready { image, .. } => Some(image),
            _ => None,
        }
    }

    /// Whether the next primary drag on the map draws the search box.
    pub fn is_drawing(&self) -> bool {
        self.drawing
    }

    /// The box drawn on the map (W, S, E, N).
    pub fn drawn_box(&self) -> Option<[f64; 4]> {
        self.drawn
    }

    /// A drag on the map while drawing: from where the button went down to where the
    /// pointer is (lon, lat); `done` when the button is released, which ends drawing.
    pub fn drag_box(&mut self, drag: Option<[(f64, f64); 2]>, done: bool) {
        if !self.drawing {
            return;
        }
        if let Some([a, b]) = drag {
            self.drawn = Some([a.0.min(b.0), a.1.min(b.1), a.0.max(b.0), a.1.max(b.1)]);
        }
        if done && self.drawn.is_some() {
            self.drawing = false;
        }
    }

    /// Whether a search or a thumbnail fetch is still running.
    pub fn is_busy(&self) -> bool {
        self.search.is_running() || self.thumbs.is_some()
    }

    /// The last search's failure.
    pub fn error(&self) -> Option<&str> {
        self.search.error()
    }

    /// What the search did on the client (filters the server ignored, …).
    pub fn notes(&self) -> &[String] {
        self.search.value().map_or(&[], |o| o.notes.as_slice())
    }

    /// Collect the finished search and the thumbnails that arrived; call once per frame.
    pub fn poll(&mut self, ctx: &egui::Context) {
        if self.search.poll() == TaskEvent::Finished {
            self.list(ctx);
        }
        let mut done = false;
        if let Some((job, rx)) = &mut self.thumbs {
            while let Ok((i, result)) = rx.try_recv() {
                if let Some(row) = self.rows.get_mut(i) {
                    row.thumb = match result {
                        Ok(image) => {
                            let color = egui::ColorImage::from_rgba_unmultiplied(
                                [image.width as usize, image.height as usize],
                                &image.rgba,
                            );
                            let texture = ctx.load_texture(
                                format!("stac-thumb-{}", row.hit.id),
                                color,
                                TextureOptions::LINEAR,
                            );
                            Thumb::Ready { image, texture }
                        }
                        Err(e) => Thumb::Failed(e),
                    };
                }
            }
            done = !matches!(job.poll(), crate::jobs::Poll::Running(_));
        }
        if done {
            self.thumbs = None;
        }
    }

    /// List the finished search's hits and start fetching their thumbnails.
    fn list(&mut self, ctx: &egui::Context) {
        let hits = self
            .search
            .value()
            .map(|o| o.hits.clone())
            .unwrap_or_default();
        self.ticked.clear();
        self.hovered = None;
        self.rows = hits
            .into_iter()
            .map(|hit| Row {
                rings: hit
                    .footprint
                    .as_ref()
                    .map(footprint_rings)
                    .unwrap_or_default(),
                thumb: if hit.thumbnail.is_some() {
                    Thumb::Loading
                } else {
                    Thumb::None
                },
                hit,
            })
            .collect();
        let wanted: Vec<(usize, String)> = self
            .rows
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.hit.thumbnail.clone().map(|t| (i, t)))
            .collect();
        self.thumbs = None;
        if wanted.is_empty() {
            return;
        }
        let (tx, rx) = crossbeam_channel::unbounded();
        let notify = repainter(ctx);
        let job = JobHandle::spawn("stac-thumbnails", repainter(ctx), move |jc| {
            let http = match crate::stac::http::Http::new() {
                Ok(h) => h,
                Err(e) => {
                    for (i, _) in wanted {
                        let _ = tx.send((i, Err(e.to_string())));
                    }
                    return;
                }
            };
            for (i, href) in wanted {
                if jc.cancel.is_cancelled() {
                    return;
                }
                let r = read_thumbnail(&http, &href, THUMB_SIDE).map_err(|e| e.to_string());
                let _ = tx.send((i, r));
                notify();
            }
        });
        self.thumbs = Some((job, rx));
    }

    /// Start a search over `view` (the map's lon/lat box) or the typed box.
    fn start_search(&mut self, ctx: &egui::Context, view: Option<[f64; 4]>) {
        let bbox = match self.area {
            Area::MapView => view,
            Area::Drawn => match self.drawn {
                Some(b) => Some(b),
                None => {
                    self.search
                        .set_error("draw the box on the map first (press \"draw\", then drag)");
                    return;
                }
            },
            Area::Typed => match parse_bbox(&self.bbox_text) {
                Ok(b) => Some(b),
                Err(e) => {
                    self.search.set_error(e.to_string());
                    return;
                }
            },
        };
        let s = &self.settings;
        let open = |t: &str| {
            let t = t.trim();
            if t.is_empty() {
                "..".to_owned()
            } else {
                t.to_owned()
            }
        };
        let datetime = format!("{}/{}", open(&s.start), open(&s.end));
        if let Err(e) = crate::stac::parse_interval(&datetime) {
            self.search.set_error(e.to_string());
            return;
        }
        let params = SearchParams {
            api: s.api.trim().to_owned(),
            collections: vec![s.collection.trim().to_owned()]
                .into_iter()
                .filter(|c| !c.is_empty())
                .collect(),
            bbox,
            datetime: Some(datetime),
            max_cloud: (s.max_cloud < 100.0).then_some(f64::from(s.max_cloud)),
            limit: Some(s.limit.max(1)),
            page_size: None,
        };
        self.searched = bbox;
        self.search.start("stac-search", ctx, move |jc| {
            jc.progress("searching", 0, 1);
            Ok(search(&params, &jc.cancel)?)
        });
    }

    /// The panel: the form, then the hits. `view` is the map's lon/lat box (W, S, E, N);
    /// `open` the paths of the open layers (their items are marked as open).
    pub fn ui(
        &mut self,
        ui: &mut Ui,
        view: Option<[f64; 4]>,
        open: &[PathBuf],
        commands: &mut Vec<Command>,
    ) {
        let s = &mut self.settings;
        egui::Grid::new("find-form").num_columns(2).show(ui, |ui| {
            let l = ui.label("STAC API");
            ui.add(egui::TextEdit::singleline(&mut s.api).desired_width(200.0))
                .labelled_by(l.id)
                .on_hover_text("The API's landing page (Earth Search v1 by default)");
            ui.end_row();
            let l = ui.label("Collection");
            ui.add(egui::TextEdit::singleline(&mut s.collection).desired_width(200.0))
                .labelled_by(l.id);
            ui.end_row();
            let l = ui.label("From");
            ui.add(egui::TextEdit::singleline(&mut s.start).desired_width(100.0))
                .labelled_by(l.id)
                .on_hover_text("YYYY-MM-DD (or an RFC 3339 time); empty: no start");
            ui.end_row();
            let l = ui.label("To");
            ui.add(egui::TextEdit::singleline(&mut s.end).desired_width(100.0))
                .labelled_by(l.id)
                .on_hover_text("YYYY-MM-DD, the whole day included; empty: no end");
            ui.end_row();
            ui.label("Max cloud");
            ui.add(egui::Slider::new(&mut s.max_cloud, 0.0..=100.0).suffix(" %"))
                .on_hover_text("100 %: no cloud filter");
            ui.end_row();
            ui.label("At most");
            ui.add(egui::DragValue::new(&mut s.limit).range(1..=crate::stac::search::MAX_ITEMS))
                .on_hover_text("The earliest items, after sorting by date");
            ui.end_row();
        });
        let area_label = ui
            .horizontal(|ui| {
                let l = ui.label("Area");
                ui.radio_value(&mut self.area, Area::MapView, "map view");
                ui.radio_value(&mut self.area, Area::Drawn, "drawn box");
                ui.radio_value(&mut self.area, Area::Typed, "typed box");
                l
            })
            .inner;
        match self.area {
            Area::MapView => {
                if let Some([w, s, e, n]) = view {
                    ui.label(
                        RichText::new(format!("{w:.3}, {s:.3}, {e:.3}, {n:.3}"))
                            .small()
                            .monospace(),
                    );
                }
            }
            Area::Drawn => {
                ui.horizontal(|ui| {
                    if ui
                        .selectable_label(self.drawing, "draw")
                        .on_hover_text("Then drag on the map (the right button still pans)")
                        .clicked()
                    {
                        self.drawing = !self.drawing;
                    }
                    match (self.drawing, self.drawn) {
                        (true, _) => {
                            ui.label(RichText::new("drag a box on the map").small());
                        }
                        (false, Some([w, s, e, n])) => {
                            ui.label(
                                RichText::new(format!("{w:.3}, {s:.3}, {e:.3}, {n:.3}"))
                                    .small()
                                    .monospace(),
                            );
                        }
                        (false, None) => {}
                    }
                });
            }
            Area::Typed => {
                ui.add(
                    egui::TextEdit::singleline(&mut self.bbox_text)
                        .hint_text("W,S,E,N in degrees")
                        .desired_width(220.0),
                )
                .labelled_by(area_label.id);
            }
        }
        ui.horizontal(|ui| {
            if self.search.is_running() {
                ui.spinner();
                ui.label("searching…");
                if ui.small_button("cancel").clicked() {
                    self.search.cancel();
                }
            } else if ui.button("Search").clicked() {
                self.start_search(ui.ctx(), view);
            }
        });
        if let Some(e) = self.search.error() {
            ui.label(RichText::new(e).color(Color32::from_rgb(255, 110, 110)));
        }
        if let Some(o) = self.search.value() {
            ui.label(format!(
                "{} scene(s); the server returned {} in {} page(s)",
                o.hits.len(),
                o.returned,
                o.pages
            ));
            for n in &o.notes {
                ui.label(RichText::new(n).small().weak());
            }
        }
        self.results_ui(ui, open, commands);
    }

    fn results_ui(&mut self, ui: &mut Ui, open: &[PathBuf], commands: &mut Vec<Command>) {
        if self.rows.is_empty() {
            return;
        }
        let is_open = |h: &Hit| {
            h.href
                .as_ref()
                .is_some_and(|u| open.iter().any(|p| p.as_os_str() == u.as_str()))
        };
        ui.horizontal(|ui| {
            let n = self.ticked.len();
            let openable: Vec<PathBuf> = self
                .ticked
                .iter()
                .filter_map(|i| self.rows.get(*i))
                .filter(|r| !is_open(&r.hit))
                .filter_map(|r| r.hit.href.clone().map(PathBuf::from))
                .collect();
            if ui
                .add_enabled(
                    !openable.is_empty(),
                    egui::Button::new(format!("Open selected ({n})")),
                )
                .clicked()
            {
                commands.push(Command::Open(openable));
            }
            if ui.small_button("all").clicked() {
                self.ticked = (0..self.rows.len()).collect();
            }
            if ui.small_button("none").clicked() {
                self.ticked.clear();
            }
        });
        let mut hovered = None;
        egui::ScrollArea::vertical()
            .id_salt("find-results")
            .max_height(360.0)
            .show(ui, |ui| {
                for (i, row) in self.rows.iter().enumerate() {
                    let r = ui.horizontal(|ui| {
                        thumb_ui(ui, &row.thumb);
                        ui.vertical(|ui| {
                            let mut ticked = self.ticked.contains(&i);
                            if ui
                                .checkbox(
                                    &mut ticked,
                                    RichText::new(&row.hit.id).small().monospace(),
                                )
                                .changed()
                            {
                                if ticked {
                                    self.ticked.insert(i);
                                } else {
                                    self.ticked.remove(&i);
                                }
                                // the button above counts them: draw again
                                ui.ctx().request_repaint();
                            }
                            ui.label(summary(&row.hit));
                            ui.horizontal(|ui| {
                                let opened = is_open(&row.hit);
                                match (&row.hit.href, opened) {
                                    (_, true) => {
                                        ui.label(RichText::new("open").weak());
                                    }
                                    (Some(href), false) => {
                                        if ui.small_button("open").on_hover_text(href).clicked() {
                                            commands.push(Command::Open(vec![PathBuf::from(href)]));
                                        }
                                    }
                                    (None, false) => {
                                        ui.label(RichText::new("no item link").weak());
                                    }
                                }
                                if let Some([w, s, e, n]) = row.hit.bbox
                                    && ui.small_button("zoom").clicked()
                                {
                                    commands.push(Command::FitLonLat {
                                        west: w,
                                        south: s,
                                        east: e,
                                        north: n,
                                    });
                                }
                            });
                        });
                    });
                    if r.response.contains_pointer() {
                        hovered = Some(i);
                    }
                    ui.separator();
                }
            });
        self.hovered = hovered;
    }

    /// The searched box and the hits' footprints on the map (ticked ones thicker, the
    /// hovered one filled).
    pub fn draw(&self, painter: &egui::Painter, projector: &Projector) {
        if let (Area::Drawn, Some([w, s, e, n])) = (self.area, self.drawn) {
            overlays::draw_lonlat_ring(
                painter,
                projector,
                &[[w, s], [e, s], [e, n], [w, n]],
                egui::Stroke::new(2.0, Color32::from_rgb(255, 150, 40)),
            );
        }
        if self.rows.is_empty() {
            return;
        }
        if let Some([w, s, e, n]) = self.searched {
            overlays::draw_lonlat_ring(
                painter,
                projector,
                &[[w, s], [e, s], [e, n], [w, n]],
                egui::Stroke::new(1.0, Color32::from_gray(140)),
            );
        }
        let colour = Color32::from_rgb(80, 200, 255);
        for (i, row) in self.rows.iter().enumerate() {
            let width = if self.ticked.contains(&i) { 2.5 } else { 1.0 };
            for ring in &row.rings {
                if self.hovered == Some(i) {
                    let pts: Vec<egui::Pos2> = ring
                        .iter()
                        .map(|p| super::geo::lonlat_to_screen(projector, p[0], p[1]))
                        .collect();
                    painter.add(egui::Shape::convex_polygon(
                        pts,
                        colour.gamma_multiply(0.25),
                        egui::Stroke::NONE,
                    ));
                }
                overlays::draw_lonlat_ring(
                    painter,
                    projector,
                    ring,
                    egui::Stroke::new(width, colour),
                );
            }
        }
    }
}

/// "2017-10-30 10:32 UTC · cloud 12.5 % · 32VNJ · baseline 05.09"
fn summary(h: &Hit) -> String {
    let mut parts = Vec::new();
    if let Some(t) = &h.datetime {
        let t = t.replace('T', " ");
        parts.push(format!("{} UTC", t.get(..16).unwrap_or(&t)));
    }
    if let Some(c) = h.cloud_cover {
        parts.push(format!("cloud {c:.1} %"));
    }
    if let Some(t) = &h.mgrs_tile {
        parts.push(t.clone());
    }
    if let Some(b) = &h.processing_baseline {
        parts.push(format!("baseline {b}"));
    }
    parts.join(" · ")
}

fn thumb_ui(ui: &mut Ui, thumb: &Thumb) {
    let size = egui::vec2(THUMB_SHOW, THUMB_SHOW);
    match thumb {
        Thumb::Ready { texture, image } => {
            let scale = THUMB_SHOW / image.width.max(image.height).max(1) as f32;
            let shown = egui::vec2(image.width as f32 * scale, image.height as f32 * scale);
            ui.add(egui::Image::new((texture.id(), shown)));
        }
        Thumb::Loading => {
            let (rect, _) = ui.allocate_exact_size(size, egui::Sense::hover());
            ui.painter().rect_filled(rect, 2.0, Color32::from_gray(40));
        }
        Thumb::None | Thumb::Failed(_) => {
            let (rect, resp) = ui.allocate_exact_size(size, egui::Sense::hover());
            ui.painter().rect_stroke(
                rect,
                2.0,
                egui::Stroke::new(1.0, Color32::from_gray(90)),
                egui::StrokeKind::Inside,
            );
            if let Thumb::Failed(e) = thumb {
                resp.on_hover_text(format!("no thumbnail: {e}"));
            }
        }
    }
}

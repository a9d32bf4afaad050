//! Comparing two models on the same scene and query: a second model (B) is loaded beside
//! the panel's model (A), indexes the selected scene with the same tiling and filters, and
//! answers A's text query. The panel shows how the two agree (the core's
//! [`Agreement`]: shared top-N tiles, Jaccard, Spearman) and the two heatmaps, either side by
//! side as tile grids in the panel or by swipe on the map (A left of the divider, B right).
//! Each model's index comes from the disk cache, which is keyed by the model's checkpoint.

use std::collections::HashMap;
use std::sync::Arc;

use egui::{Color32, RichText, Stroke, Ui};
use walkers::Projector;

use super::results::progress_text;
use super::{LayerResult, SearchPanel, SearchResult, picker};
use crate::jobs::Progress;
use crate::model::Embedder;
use crate::model::load::registry;
use crate::raster::colormap;
use crate::search::agreement::Agreement;
use crate::search::cache;
use crate::search::index::{TileIndex, default_readers};
use crate::search::session::{Query, Ranking};
use crate::ui::LayerId;
use crate::ui::scene_layer::SceneLayer;
use crate::ui::task::{Task, TaskEvent};

/// How the two heatmaps are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareView {
    /// On the map: A left of the divider, B right of it.
    Swipe,
    /// Two tile grids in the panel.
    SideBySide,
}

/// Rankings A and B, N, and their agreement.
type ShownAgreement = (Arc<Ranking>, Arc<Ranking>, usize, Arc<Agreement>);

/// The second model and what it computed.
pub struct Compare {
    /// Registry id of model B.
    pub model_id: String,
    /// Local checkpoint of model B; empty = the hub cache / download.
    pub checkpoint: String,
    model: Task<Arc<Embedder>>,
    indexes: HashMap<LayerId, Task<Arc<TileIndex>>>,
    ranking: Task<SearchResult>,
    pub view: CompareView,
    /// Divider position, as a fraction of the map's width.
    pub swipe: f32,
    /// The agreement last shown, with the rankings and the N it is of (held, so a pointer
    /// comparison cannot mistake a new ranking for the old one).
    agreement: Option<ShownAgreement>,
}

impl Default for Compare {
    fn default() -> Self {
        Self {
            // the last entry (RS-M-CLIP): another family than the default model
            model_id: registry::entries()
                .last()
                .map_or_else(String::new, |e| e.id.to_owned()),
            checkpoint: String::new(),
            model: Task::default(),
            indexes: HashMap::new(),
            ranking: Task::default(),
            view: CompareView::Swipe,
            swipe: 0.5,
            agreement: None,
        }
    }
}

impl Compare {
    /// Poll B's jobs; failures come back as texts.
    pub fn poll(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        let mut failed = |e: TaskEvent| {
            if let TaskEvent::Failed(t) = e {
                out.push(format!("model B: {t}"));
            }
        };
        failed(self.model.poll());
        for task in self.indexes.values_mut() {
            failed(task.poll());
        }
        failed(self.ranking.poll());
        out
    }

    pub fn model(&self) -> Option<&Arc<Embedder>> {
        self.model.value()
    }

    pub fn index_of(&self, layer: LayerId) -> Option<&Arc<TileIndex>> {
        self.indexes.get(&layer).and_then(Task::value)
    }

    /// B's ranking of `layer`.
    pub fn ranking_of(&self, layer: LayerId) -> Option<&Arc<Ranking>> {
        self.ranking
            .value()
            .filter(|r| r.layer == layer)
            .map(|r| &r.result)
    }

    pub fn layer_closed(&mut self, layer: LayerId) {
        self.indexes.remove(&layer);
        if self.ranking.value().is_some_and(|r| r.layer == layer) {
            self.ranking.clear();
        }
    }
}

impl SearchPanel {
    /// Both rankings of `layer` for the same query, with their indexes: (A, B).
    pub fn compared(&self, layer: LayerId) -> Option<Compared<'_>> {
        let a = self.result_for(layer)?;
        let b = self.compare.ranking_of(layer)?;
        (a.text == b.text).then_some(())?;
        Some(Compared {
            a_index: self.index_of(layer)?,
            a,
            b_index: self.compare.index_of(layer)?,
            b,
            a_name: self.model()?.model_name(),
            b_name: self.compare.model()?.model_name(),
        })
    }

    /// The "Compare with another model" section (search mode, below the results).
    pub(super) fn compare_ui(&mut self, ui: &mut Ui, layer: &SceneLayer) {
        egui::CollapsingHeader::new("Compare with another model")
            .id_salt("compare")
            .show(ui, |ui| self.compare_body(ui, layer));
    }

    fn compare_body(&mut self, ui: &mut Ui, layer: &SceneLayer) {
        let ctx = ui.ctx().clone();
        ui.horizontal(|ui| {
            let label = ui.label("Model B");
            let picked = picker::entry(&self.compare.model_id);
            egui::ComboBox::from_id_salt("compare-picker")
                .selected_text(picked.label())
                .width(220.0)
                .show_ui(ui, |ui| {
                    for e in registry::entries() {
                        ui.selectable_value(&mut self.compare.model_id, e.id.to_owned(), e.label());
                    }
                })
                .response
                .labelled_by(label.id);
        });
        ui.horizontal(|ui| {
            let label = ui.label("Checkpoint B");
            ui.add(
                egui::TextEdit::singleline(&mut self.compare.checkpoint)
                    .hint_text("download, or a local file")
                    .desired_width(170.0),
            )
            .labelled_by(label.id);
        });
        if self.compare.model.is_running() {
            ui.horizontal(|ui| {
                ui.spinner();
                if ui.small_button("Cancel").clicked() {
                    self.compare.model.cancel();
                }
            });
            let p = self.compare.model.progress();
            ui.add(egui::Label::new(p.map_or("loading…".into(), progress_text)).wrap());
            return;
        }
        if let Some(e) = self.compare.model.error() {
            ui.colored_label(Color32::from_rgb(255, 120, 120), e);
        }
        let label = if self.compare.model().is_some() {
            "Reload model B"
        } else {
            "Load model B"
        };
        if let Some(m) = self.compare.model() {
            ui.label(
                RichText::new(format!(
                    "B: {} on {}",
                    m.model_name(),
                    m.device_description()
                ))
                .small(),
            );
        }
        if ui.small_button(label).clicked() {
            let req = self.load_request(&self.compare.model_id, &self.compare.checkpoint);
            req.start(&mut self.compare.model, &ctx);
            self.compare.indexes.clear();
            self.compare.ranking.clear();
            return;
        }
        let Some(model) = self.compare.model().cloned() else {
            return;
        };
        // B's index of this scene: the same tiling and filters as A's
        match self.compare.indexes.get(&layer.id) {
            None => self.compare_index(layer, model.clone(), &ctx),
            Some(t) if t.is_running() => {
                let p = t.progress();
                ui.add(egui::ProgressBar::new(p.map_or(0.0, Progress::fraction)).show_percentage());
                ui.add(egui::Label::new(p.map_or("indexing…".into(), progress_text)).wrap());
                return;
            }
            Some(t) => {
                if let Some(e) = t.error() {
                    ui.colored_label(Color32::from_rgb(255, 120, 120), e);
                    if ui.small_button("Index again with B").clicked() {
                        self.compare_index(layer, model.clone(), &ctx);
                    }
                    return;
                }
            }
        }
        let (Some(a), Some(b_index)) = (
            self.result_for(layer.id).cloned(),
            self.compare.index_of(layer.id).cloned(),
        ) else {
            ui.label("Search with model A: B answers the same text.");
            return;
        };
        if a.text.is_empty() {
            ui.label("A query by example only: give a text to compare the models.");
            return;
        }
        let stale = self
            .compare
            .ranking
            .value()
            .is_none_or(|r| r.layer != layer.id || r.result.text != a.text);
        if stale && !self.compare.ranking.is_running() && self.compare.ranking.error().is_none() {
            let query = Query {
                text: a.text.clone(),
                ..Query::default()
            };
            let layer = layer.id;
            self.compare.ranking.start("query-b", &ctx, move |_jc| {
                let ranking = query.prepare(&model)?.rank(&b_index.tiles)?;
                Ok(LayerResult {
                    layer,
                    result: Arc::new(ranking),
                })
            });
        }
        if let Some(e) = self.compare.ranking.error() {
            ui.colored_label(Color32::from_rgb(255, 120, 120), e);
            return;
        }
        let Some(c) = self.compared(layer.id) else {
            ui.spinner();
            return;
        };
        // computed once per pair of rankings and N, not every frame
        let n = self.settings.top_n;
        let g = match &self.compare.agreement {
            Some((a, b, k, g)) if Arc::ptr_eq(a, c.a) && Arc::ptr_eq(b, c.b) && *k == n => {
                g.clone()
            }
            _ => Arc::new(c.agreement(n)),
        };
        let key = (c.a.clone(), c.b.clone(), n);
        let (a_name, b_name) = (c.a_name.to_owned(), c.b_name.to_owned());
        let grids = (self.compare.view == CompareView::SideBySide).then(|| c.grids());
        self.compare.agreement = Some((key.0, key.1, key.2, g.clone()));
        ui.label(RichText::new(format!("A {a_name} vs B {b_name}")).strong());
        ui.label(RichText::new(g.summary()).strong());
        if !g.shared.is_empty() {
            let list: Vec<String> = g
                .shared
                .iter()
                .map(|s| format!("{} (#{}/#{})", s.label, s.rank_a, s.rank_b))
                .collect();
            ui.add(
                egui::Label::new(RichText::new(format!("shared: {}", list.join(", "))).small())
                    .wrap(),
            );
        }
        ui.horizontal(|ui| {
            ui.radio_value(
                &mut self.compare.view,
                CompareView::Swipe,
                "Swipe on the map",
            );
            ui.radio_value(
                &mut self.compare.view,
                CompareView::SideBySide,
                "Side by side",
            );
        });
        match grids {
            None => {
                ui.add(egui::Slider::new(&mut self.compare.swipe, 0.0..=1.0).text("divider"));
                ui.label(RichText::new("map: A left of the divider, B right").small());
            }
            Some((ga, gb)) => {
                let top = self.settings.top_n;
                ui.columns(2, |cols| {
                    grid_ui(&mut cols[0], &ga, top, &format!("A: {a_name}"));
                    grid_ui(&mut cols[1], &gb, top, &format!("B: {b_name}"));
                });
            }
        }
    }

    fn compare_index(&mut self, layer: &SceneLayer, model: Arc<Embedder>, ctx: &egui::Context) {
        let Some(scene) = layer.scene.clone() else {
            return;
        };
        let mut opts = self.settings.index;
        opts.readers = default_readers(&model);
        let dir = self.index_cache_dir();
        let task = self.compare.indexes.entry(layer.id).or_default();
        task.start("index-scene-b", ctx, move |jc| {
            let (index, _) =
                cache::open_or_build(&dir, &scene, model.as_ref(), &opts, jc, &jc.cancel)?;
            Ok(Arc::new(index))
        });
    }

    /// Whether `layer`'s map shows the two models by swipe now (so its divider can be
    /// dragged).
    pub fn compare_swipe_shown(&self, layer: LayerId) -> bool {
        self.compare.view == CompareView::Swipe && self.compared(layer).is_some()
    }

    /// With the swipe view and both rankings: A's heatmap (`fill_a`) left of the divider,
    /// B's right of it, then the divider and its labels. False (nothing drawn) otherwise.
    pub(super) fn draw_swipe(
        &self,
        painter: &egui::Painter,
        projector: &Projector,
        layer: LayerId,
        fill_a: &dyn Fn(&egui::Painter),
    ) -> bool {
        if self.compare.view != CompareView::Swipe {
            return false;
        }
        let Some(c) = self.compared(layer) else {
            return false;
        };
        let map = painter.clip_rect();
        let x = map.left() + self.compare.swipe.clamp(0.0, 1.0) * map.width();
        let (mut left, mut right) = (map, map);
        left.set_right(x);
        right.set_left(x);
        let top = if self.settings.top_n_only {
            self.settings.top_n
        } else {
            usize::MAX
        };
        let alpha = if self.heat_hidden {
            0.0
        } else {
            self.settings.heat_opacity
        };
        fill_a(&painter.with_clip_rect(left));
        super::overlay::fill_heat(
            &painter.with_clip_rect(right),
            projector,
            &c.b_index.tiles,
            c.b.ranked.iter().copied().take(top),
            c.b.score_range(),
            alpha,
        );
        crate::ui::swipe::draw_divider(
            painter,
            map,
            x,
            (&format!("A: {}", c.a_name), &format!("B: {}", c.b_name)),
            map.top() + 6.0,
        );
        true
    }
}

/// Both models' rankings of one scene for one query.
pub struct Compared<'a> {
    pub a_index: &'a Arc<TileIndex>,
    pub a: &'a Arc<Ranking>,
    pub b_index: &'a Arc<TileIndex>,
    pub b: &'a Arc<Ranking>,
    pub a_name: &'a str,
    pub b_name: &'a str,
}

impl Compared<'_> {
    pub fn agreement(&self, n: usize) -> Agreement {
        Agreement::of_rankings(&self.a_index.tiles, self.a, &self.b_index.tiles, self.b, n)
    }

    fn grids(&self) -> (Grid, Grid) {
        (
            Grid::of(&self.a_index.tiles, self.a),
            Grid::of(&self.b_index.tiles, self.b),
        )
    }
}

/// One ranking as a tile grid: per (row, col), the rank (0-based) and the colour.
struct Grid {
    rows: u32,
    cols: u32,
    cells: Vec<(u32, u32, usize, Color32)>,
}

impl Grid {
    fn of(tiles: &[crate::search::record::TileRecord], r: &Ranking) -> Self {
        let (lo, hi) = r.score_range();
        let ramp = colormap::viridis();
        let cells = r
            .ranked
            .iter()
            .enumerate()
            .map(|(rank, &(i, s))| {
                let c = ramp.color_scaled(s, lo, hi).unwrap_or([0, 0, 0]);
                (
                    tiles[i].row,
                    tiles[i].col,
                    rank,
                    Color32::from_rgb(c[0], c[1], c[2]),
                )
            })
            .collect();
        Self {
            rows: tiles.iter().map(|t| t.row + 1).max().unwrap_or(0),
            cols: tiles.iter().map(|t| t.col + 1).max().unwrap_or(0),
            cells,
        }
    }
}

/// A tile grid heatmap, the top-N outlined, with a caption.
fn grid_ui(ui: &mut Ui, g: &Grid, top: usize, caption: &str) {
    let w = ui.available_width().max(40.0);
    let cell = (w / g.cols.max(1) as f32).min(24.0);
    let size = egui::vec2(cell * g.cols as f32, cell * g.rows as f32);
    let (rect, _) = ui.allocate_exact_size(size, egui::Sense::hover());
    let p = ui.painter_at(rect);
    p.rect_filled(rect, 0.0, Color32::from_gray(40));
    for &(row, col, rank, color) in &g.cells {
        let r = egui::Rect::from_min_size(
            rect.min + egui::vec2(col as f32 * cell, row as f32 * cell),
            egui::vec2(cell, cell),
        )
        .shrink(0.5);
        p.rect_filled(r, 0.0, color);
        if rank < top {
            p.rect_stroke(
                r.shrink(1.0),
                0.0,
                Stroke::new(1.5, Color32::WHITE),
                egui::StrokeKind::Inside,
            );
        }
    }
    ui.add(egui::Label::new(RichText::new(caption).small()).wrap());
}

//! The query and class sections of the search panel: the query box and example tiles, the
//! ranked list, score legend and histogram; the class list, templates, class legend and the
//! selected tile's probabilities.

use std::sync::Arc;

use egui::{Color32, RichText, Ui};
use egui_plot::{Bar, BarChart, Plot};

use super::SearchPanel;
use crate::jobs::Progress;
use crate::model::tasks::zeroshot::TemplateSet;
use crate::raster::colormap;
use crate::search::index::TileIndex;
use crate::search::labels::Label;
use crate::search::session::{ExportFormat, Ranking};
use crate::ui::LayerId;
use crate::ui::command::Command;
use crate::ui::scene_layer::SceneLayer;

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

/// `label: done/total, rate/s, eta s left`.
pub(super) fn progress_text(p: &Progress) -> String {
    let mut s = format!("{}: {}/{}", p.label, p.done, p.total);
    if p.rate() > 0.0 {
        s.push_str(&format!(", {:.1}/s", p.rate()));
    }
    if let Some(eta) = p.eta_secs() {
        s.push_str(&format!(", {eta:.0} s left"));
    }
    s
}

impl SearchPanel {
    pub(super) fn search_ui(
        &mut self,
        ui: &mut Ui,
        scene: &SceneLayer,
        index: &Arc<TileIndex>,
        commands: &mut Vec<Command>,
    ) {
        let layer = scene.id;
        let resp = ui.add(
            egui::TextEdit::singleline(&mut self.query)
                .id(super::query_box_id())
                .hint_text("describe what to find, e.g. flooded fields")
                .desired_width(f32::INFINITY),
        );
        let enter = resp.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        // A text past the model's context was truncated, as open_clip does: say so under the box.
        if let Some(w) = self
            .ranking
            .value()
            .and_then(|r| r.result.warning.as_deref())
        {
            ui.label(
                RichText::new(format!("note: {w}"))
                    .small()
                    .color(egui::Color32::from_rgb(230, 180, 80)),
            );
        }
        ui.horizontal(|ui| {
            if (ui.button("Search tiles").clicked() || enter)
                && !self.ranking.is_running()
                && !self.across.is_running()
            {
                self.run_query(layer, ui.ctx());
            }
            if self.indexed_count() > 1 {
                ui.checkbox(&mut self.all_scenes, "all open scenes")
                    .on_hover_text("rank the tiles of every indexed open scene as one list");
            }
            if self.ranking.is_running() || self.across.is_running() {
                ui.spinner();
            }
            if !self.positives.is_empty() || !self.negatives.is_empty() {
                ui.label(format!(
                    "examples +{} / -{}",
                    self.positives.len(),
                    self.negatives.len()
                ));
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
                    self.run_query(layer, ui.ctx());
                }
            });
        }
        self.labels_ui(ui, layer, index, commands);
        if let Some(e) = self.ranking.error().or(self.across.error()) {
            ui.colored_label(Color32::from_rgb(255, 120, 120), e);
        }
        self.across_ui(ui, commands);
        // A shared handle, so the list's buttons may change the panel while it is drawn.
        let Some(res) = self.result_for(layer).cloned() else {
            return;
        };
        self.results_ui(ui, scene, &res, index, commands);
    }

    fn results_ui(
        &mut self,
        ui: &mut Ui,
        scene: &SceneLayer,
        res: &Ranking,
        index: &Arc<TileIndex>,
        commands: &mut Vec<Command>,
    ) {
        let (layer, overview) = (scene.id, scene.overview.as_ref());
        ui.label(RichText::new(format!("Results for: {}", res.description)).strong());
        let (lo, hi) = self.heat_range(layer).unwrap_or_else(|| res.score_range());
        ui.horizontal(|ui| {
            let mut shown = !self.heat_hidden;
            if ui
                .checkbox(&mut shown, "")
                .on_hover_text("show the heatmap (H)")
                .changed()
            {
                self.heat_hidden = !shown;
            }
            ui.add(
                egui::Slider::new(&mut self.settings.heat_opacity, 0.0..=1.0)
                    .text("heatmap opacity"),
            );
        });
        ui.add(egui::Slider::new(&mut self.threshold, lo..=hi.max(lo + 1e-6)).text("threshold"));
        ui.horizontal(|ui| {
            let check = ui.checkbox(&mut self.settings.top_n_only, "show only the top");
            ui.add(egui::DragValue::new(&mut self.settings.top_n).range(1..=10_000))
                .labelled_by(check.id);
        });
        let unit = if res.text.starts_with("linear probe") {
            "probability"
        } else {
            "cosine"
        };
        legend_ui(ui, lo, hi, unit);
        score_histogram_ui(ui, res, self.threshold);
        self.export_buttons_ui(ui);
        self.compare_ui(ui, scene);
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
                            let mark = match self.labels_of(layer).and_then(|s| s.get(t)) {
                                Some(Label::Positive) => " +",
                                Some(Label::Negative) => " −",
                                Some(Label::Class(_)) => " •",
                                None => "",
                            };
                            if ui
                                .selectable_label(
                                    selected,
                                    format!("{:>3}. r{} c{}{mark}", rank + 1, t.row, t.col),
                                )
                                .clicked()
                            {
                                self.selected = Some(i);
                                commands.push(Command::CentreOn {
                                    lon: t.centre_lonlat[0],
                                    lat: t.centre_lonlat[1],
                                });
                            }
                            ui.label(format!("{score:.4}"));
                            if ui
                                .small_button("+")
                                .on_hover_text("label positive: more like this")
                                .clicked()
                            {
                                self.label_tile(layer, i, Some(Label::Positive));
                            }
                            if ui
                                .small_button("-")
                                .on_hover_text("label negative: less like this")
                                .clicked()
                            {
                                self.label_tile(layer, i, Some(Label::Negative));
                            }
                            ui.end_row();
                        }
                    });
            });
        let hits = self.visible_ranked(layer);
        self.gallery_ui(ui, layer, &hits, index, overview, commands);
    }

    /// With a query over all open scenes: the one list across them, each hit selecting its
    /// scene and centring on it.
    fn across_ui(&mut self, ui: &mut Ui, commands: &mut Vec<Command>) {
        let Some(a) = self.across().cloned() else {
            return;
        };
        ui.label(
            RichText::new(format!(
                "All {} open scenes: {} tiles ranked",
                a.layers.len(),
                a.ranking.all.ranked.len()
            ))
            .strong(),
        );
        egui::ScrollArea::vertical()
            .id_salt("across")
            .max_height(160.0)
            .show(ui, |ui| {
                egui::Grid::new("across-grid")
                    .num_columns(2)
                    .striped(true)
                    .show(ui, |ui| {
                        for (rank, &(i, score)) in a.ranking.all.ranked.iter().enumerate().take(100)
                        {
                            let Some((k, tile)) = a.ranking.locate(i) else {
                                continue;
                            };
                            let (id, index) = &a.layers[k];
                            let t = &index.tiles[tile];
                            let scene = std::path::Path::new(&index.meta.scene_path)
                                .file_name()
                                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
                            let text = format!("{:>3}. {scene} r{} c{}", rank + 1, t.row, t.col);
                            if ui.selectable_label(false, text).clicked() {
                                commands.push(Command::Select(*id));
                                commands.push(Command::CentreOn {
                                    lon: t.centre_lonlat[0],
                                    lat: t.centre_lonlat[1],
                                });
                            }
                            ui.label(format!("{score:.4}"));
                            ui.end_row();
                        }
                    });
            });
    }

    pub(super) fn classify_ui(&mut self, ui: &mut Ui, layer: LayerId, index: &Arc<TileIndex>) {
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
            if ui.button("Classify tiles").clicked() && !self.classification.is_running() {
                self.run_classify(layer, ui.ctx());
            }
            if self.classification.is_running() {
                ui.spinner();
            }
        });
        if let Some(e) = self.classification.error() {
            ui.colored_label(Color32::from_rgb(255, 120, 120), e);
        }
        let Some(res) = self.classes_for(layer).cloned() else {
            return;
        };
        let counts = res.counts();
        let selected = self
            .selected
            .and_then(|sel| Some((index.tiles.get(sel)?, res.probs.get(sel)?.as_ref()?)));
        let classes = &res.classes;
        ui.add(
            egui::Slider::new(&mut self.settings.heat_opacity, 0.0..=1.0).text("class map opacity"),
        );
        egui::Grid::new("class-legend")
            .num_columns(3)
            .show(ui, |ui| {
                for (k, c) in classes.iter().enumerate() {
                    let (rect, _) =
                        ui.allocate_exact_size(egui::vec2(14.0, 14.0), egui::Sense::hover());
                    ui.painter().rect_filled(rect, 2.0, class_color(k));
                    ui.label(c);
                    ui.label(format!("{} tiles", counts[k]));
                    ui.end_row();
                }
            });
        if let Some((t, p)) = selected {
            ui.label(RichText::new(format!("tile r{} c{}", t.row, t.col)).strong());
            for (c, v) in classes.iter().zip(p) {
                ui.label(format!("{c}: {v:.3}"));
            }
        }
        self.export_buttons_ui(ui);
    }

    fn export_buttons_ui(&mut self, ui: &mut Ui) {
        ui.horizontal(|ui| {
            ui.label("Export");
            if ui.button("CSV…").clicked() {
                self.ask_save(ExportFormat::Csv, ui.ctx());
            }
            if ui.button("GeoJSON…").clicked() {
                self.ask_save(ExportFormat::GeoJson, ui.ctx());
            }
            if ui.button("GeoPackage…").clicked() {
                self.ask_save(ExportFormat::Gpkg, ui.ctx());
            }
        });
    }
}

fn legend_ui(ui: &mut Ui, lo: f32, hi: f32, unit: &str) {
    let ramp = colormap::viridis();
    let stops: Vec<(f32, [u8; 3])> = (0..48)
        .map(|k| {
            let v = lo + (hi - lo) * (k as f32 + 0.5) / 48.0;
            (v, ramp.color_scaled(v, lo, hi).unwrap_or([0, 0, 0]))
        })
        .collect();
    crate::ui::layers_panel::ramp_bar(ui, &stops, &format!("{lo:.3}"), &format!("{hi:.3} {unit}"));
}

fn score_histogram_ui(ui: &mut Ui, r: &Ranking, threshold: f32) {
    let (lo, hi) = r.score_range();
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

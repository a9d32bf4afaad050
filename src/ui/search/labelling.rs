//! Labels in the viewer: label the selected tile (buttons or the keys P / N / U), label the
//! hits of a ranking (the list's + / −), step through the top hits with keys (quick
//! validation: A accept, R reject, S skip, Esc stop; each decision a label), and train the
//! linear probe on the labels, whose probabilities become the ranking (heatmap, threshold,
//! list, export). The labels of a scene are its examples for query by example.
//!
//! Labels export to GeoJSON or GeoPackage (by the file's extension) and import from any
//! vector file [`labels::read_labels`] reads (merged into the scene's labels).
//!
//! Every change is saved to the index's labels file ([`crate::search::labels`]) on a
//! worker; changes made while a save runs are saved after it (the latest labels win).

use std::path::PathBuf;
use std::sync::Arc;

use egui::{Color32, Key, RichText, Ui};

use super::{LayerResult, SearchPanel};
use crate::search::index::TileIndex;
use crate::search::labels::{self, Label, LabelSet};
use crate::search::session::ProbeQuery;
use crate::ui::LayerId;
use crate::ui::command::Command;

/// A validation pass over the top hits of a layer's ranking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validation {
    pub layer: LayerId,
    /// Position in the ranking of the hit under review.
    pub pos: usize,
    /// How many hits to review.
    pub count: usize,
    pub accepted: usize,
    pub rejected: usize,
    pub skipped: usize,
}

/// What a labels export / import job did.
#[derive(Debug)]
pub enum LabelsIo {
    Exported(std::path::PathBuf),
    Imported {
        layer: LayerId,
        labels: LabelSet,
        path: std::path::PathBuf,
    },
}

/// A decision on the hit under review.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Accept,
    Reject,
    Skip,
}

impl SearchPanel {
    /// The labels of `layer` (once its index is loaded).
    pub fn labels_of(&self, layer: LayerId) -> Option<&LabelSet> {
        self.labels.get(&layer)
    }

    /// The labels file of `layer`'s index.
    pub fn labels_file(&self, layer: LayerId) -> Option<&std::path::Path> {
        self.indexed(layer).map(|s| s.sidecar.as_path())
    }

    /// Whether a labels save is running or waiting.
    pub fn is_saving_labels(&self) -> bool {
        self.label_save.is_running() || self.pending_save.is_some()
    }

    /// The examples follow the labels of the searched scene.
    pub(super) fn sync_examples(&mut self) {
        let found = self.examples_layer.and_then(|l| {
            let index = self.index_of(l)?;
            Some(self.labels.get(&l)?.examples(&index.tiles))
        });
        (self.positives, self.negatives) = found.unwrap_or_default();
    }

    /// Label (or, with `None`, unlabel) tile `tile` of `layer`, and save.
    pub fn label_tile(&mut self, layer: LayerId, tile: usize, label: Option<Label>) {
        let Some(scene) = self.indexed(layer).cloned() else {
            return;
        };
        let Some(t) = scene.index.tiles.get(tile) else {
            return;
        };
        let set = self.labels.entry(layer).or_default();
        match label {
            Some(l) => set.set(t, l),
            None => {
                set.clear(t);
            }
        }
        self.pending_save = Some((scene.sidecar.clone(), set.clone()));
        if self.examples_layer != Some(layer) {
            self.forget_tiles(Some(layer));
        }
        self.sync_examples();
    }

    /// Remove every label of `layer`, and save.
    pub fn clear_labels(&mut self, layer: LayerId) {
        let Some(scene) = self.indexed(layer).cloned() else {
            return;
        };
        self.labels.insert(layer, LabelSet::new());
        self.pending_save = Some((scene.sidecar.clone(), LabelSet::new()));
        self.sync_examples();
    }

    /// Export `layer`'s labels to `path` on a worker: a GeoPackage for `.gpkg`, else
    /// Kestrel's GeoJSON labels file. False when the scene has no labels.
    pub fn export_labels_to(&mut self, layer: LayerId, path: PathBuf, ctx: &egui::Context) -> bool {
        let Some(set) = self.labels.get(&layer).filter(|s| !s.is_empty()).cloned() else {
            return false;
        };
        self.labels_io.start("export-labels", ctx, move |_jc| {
            if path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("gpkg"))
            {
                labels::write_gpkg(&path, &set)?;
            } else {
                labels::write_geojson(&path, &set)?;
            }
            Ok(LabelsIo::Exported(path))
        });
        true
    }

    /// Read labels for `layer` from `path` on a worker; they are merged into its labels.
    pub fn import_labels_from(&mut self, layer: LayerId, path: PathBuf, ctx: &egui::Context) {
        let Some(index) = self.index_of(layer).cloned() else {
            return;
        };
        self.labels_io.start("import-labels", ctx, move |_jc| {
            let labels = labels::read_labels(&path, &index.tiles)?;
            Ok(LabelsIo::Imported {
                layer,
                labels,
                path,
            })
        });
    }

    pub fn is_moving_labels(&self) -> bool {
        self.labels_io.is_running()
    }

    /// Start the next save when none runs; finish label exports and imports; report.
    pub(super) fn poll_label_save(&mut self, ctx: &egui::Context) -> Vec<Command> {
        let mut out = Vec::new();
        if let Some((path, import)) = self.labels_dialog.poll().picked()
            && let Some(layer) = self.examples_layer
        {
            if import {
                self.import_labels_from(layer, path, ctx);
            } else {
                self.export_labels_to(layer, path, ctx);
            }
        }
        match self.labels_io.poll() {
            super::TaskEvent::Finished => match self.labels_io.take() {
                Some(LabelsIo::Exported(p)) => out.push(Command::Message {
                    error: false,
                    text: format!("exported labels to {}", p.display()),
                }),
                Some(LabelsIo::Imported {
                    layer,
                    labels,
                    path,
                }) => {
                    let n = labels.len();
                    if let Some(scene) = self.indexed(layer).cloned() {
                        let set = self.labels.entry(layer).or_default();
                        for l in labels.iter() {
                            set.insert(l.clone());
                        }
                        self.pending_save = Some((scene.sidecar.clone(), set.clone()));
                        self.sync_examples();
                    }
                    out.push(Command::Message {
                        error: false,
                        text: format!("imported {n} labels from {}", path.display()),
                    });
                }
                None => {}
            },
            super::TaskEvent::Failed(text) => out.push(Command::Message { error: true, text }),
            super::TaskEvent::Nothing => {}
        }
        if let super::TaskEvent::Failed(text) = self.label_save.poll() {
            out.push(Command::Message { error: true, text });
        }
        if !self.label_save.is_running()
            && let Some((path, set)) = self.pending_save.take()
        {
            self.label_save.start("save-labels", ctx, move |_jc| {
                labels::write_geojson(&path, &set)?;
                Ok(path)
            });
        }
        out
    }

    /// Start reviewing the top `count` hits of `layer`'s ranking.
    pub fn start_validation(&mut self, layer: LayerId, count: usize, commands: &mut Vec<Command>) {
        let Some(n) = self.result_for(layer).map(|r| r.ranked.len().min(count)) else {
            return;
        };
        if n == 0 {
            return;
        }
        self.validation = Some(Validation {
            layer,
            pos: 0,
            count: n,
            accepted: 0,
            rejected: 0,
            skipped: 0,
        });
        self.show_hit(commands);
    }

    /// Select and centre on the hit under review.
    fn show_hit(&mut self, commands: &mut Vec<Command>) {
        let Some(v) = self.validation.clone() else {
            return;
        };
        let Some(&(i, _)) = self.result_for(v.layer).and_then(|r| r.ranked.get(v.pos)) else {
            self.validation = None;
            return;
        };
        self.select_tile(v.layer, i);
        if let Some(t) = self.index_of(v.layer).and_then(|ix| ix.tiles.get(i)) {
            commands.push(Command::CentreOn {
                lon: t.centre_lonlat[0],
                lat: t.centre_lonlat[1],
            });
        }
    }

    /// Decide on the hit under review and move to the next (ending after the last).
    pub fn decide(&mut self, decision: Decision, commands: &mut Vec<Command>) {
        let Some(mut v) = self.validation.clone() else {
            return;
        };
        let hit = self
            .result_for(v.layer)
            .and_then(|r| r.ranked.get(v.pos))
            .map(|x| x.0);
        if let Some(i) = hit {
            match decision {
                Decision::Accept => {
                    v.accepted += 1;
                    self.label_tile(v.layer, i, Some(Label::Positive));
                }
                Decision::Reject => {
                    v.rejected += 1;
                    self.label_tile(v.layer, i, Some(Label::Negative));
                }
                Decision::Skip => v.skipped += 1,
            }
        }
        v.pos += 1;
        if v.pos >= v.count {
            self.validation = None;
            return;
        }
        self.validation = Some(v);
        self.show_hit(commands);
    }

    /// Train the probe on `layer`'s labels and make its probabilities the ranking.
    pub fn run_probe(&mut self, layer: LayerId, ctx: &egui::Context) {
        let (Some(scene), Some(set)) = (self.indexed(layer).cloned(), self.labels.get(&layer))
        else {
            return;
        };
        let set = set.clone();
        // The scene the labels belong to, not the sidecar's file name: that carries the
        // cache key's hash, which means nothing to the analyst (and changes with the
        // files' modification times).
        let scene_name = std::path::Path::new(&scene.index.meta.scene_path)
            .file_name()
            .map_or_else(
                || scene.index.meta.scene_path.clone(),
                |n| n.to_string_lossy().into_owned(),
            );
        let name = format!("of {scene_name}");
        let query = ProbeQuery {
            positive: self
                .probe_class
                .clone()
                .map_or(Label::Positive, Label::Class),
            ..ProbeQuery::default()
        };
        self.across.clear();
        self.ranking.start("probe", ctx, move |_jc| {
            let trained = query.train(&set, &scene.index.tiles)?;
            Ok(LayerResult {
                layer,
                result: Arc::new(trained.rank(&scene.index.tiles, &name)),
            })
        });
    }

    /// The brush is over `lon`, `lat` of `layer`: label the tile there (once: a tile that
    /// already has the brush's label is left alone, so holding still saves nothing).
    pub fn brush_at(&mut self, layer: LayerId, lon: f64, lat: f64) {
        let (Some(label), Some(tile)) = (self.brush.clone(), self.tile_at(layer, lon, lat)) else {
            return;
        };
        let Some(index) = self.index_of(layer).cloned() else {
            return;
        };
        let current = self
            .labels_of(layer)
            .and_then(|s| s.get(&index.tiles[tile]));
        if current != Some(&label) {
            self.label_tile(layer, tile, Some(label));
        }
    }

    /// The labels section of the search panel.
    pub(super) fn labels_ui(
        &mut self,
        ui: &mut Ui,
        layer: LayerId,
        index: &Arc<TileIndex>,
        commands: &mut Vec<Command>,
    ) {
        let counts = self
            .labels_of(layer)
            .map(LabelSet::counts)
            .unwrap_or_default();
        ui.horizontal(|ui| {
            ui.label(RichText::new("Labels").strong());
            ui.label(counts.to_string());
            if self.is_saving_labels() {
                ui.spinner();
            }
            if (counts.positive + counts.negative > 0 || !counts.classes.is_empty())
                && ui.small_button("clear labels").clicked()
            {
                self.clear_labels(layer);
            }
            ui.menu_button("files…", |ui| {
                if ui
                    .button("Export labels…")
                    .on_hover_text("GeoJSON or GeoPackage (.gpkg), for QGIS")
                    .clicked()
                {
                    self.labels_dialog.open("labels-dialog", ui.ctx(), || {
                        rfd::FileDialog::new()
                            .set_file_name("labels.geojson")
                            .add_filter("GeoJSON", &["geojson", "json"])
                            .add_filter("GeoPackage", &["gpkg"])
                            .save_file()
                            .map(|p| (p, false))
                    });
                }
                if ui
                    .button("Import labels…")
                    .on_hover_text("a labels file, or points / polygons with a `label` field")
                    .clicked()
                {
                    self.labels_dialog.open("labels-dialog", ui.ctx(), || {
                        rfd::FileDialog::new()
                            .add_filter("vector", &["geojson", "json", "gpkg", "shp"])
                            .pick_file()
                            .map(|p| (p, true))
                    });
                }
            });
            if self.labels_io.is_running() {
                ui.spinner();
            }
        });

        // the brush: drag over the map to give every tile under the pointer one label
        ui.horizontal(|ui| {
            let label = ui.label("Brush");
            let class = self.label_class.trim().to_owned();
            let mut choices = vec![
                (None, "off".to_owned()),
                (Some(Label::Positive), "positive".to_owned()),
                (Some(Label::Negative), "negative".to_owned()),
            ];
            if !class.is_empty() && !["positive", "negative"].contains(&class.to_lowercase().as_str())
            {
                choices.push((Some(Label::Class(class.clone())), class));
            }
            for (value, text) in choices {
                let on = self.brush == value;
                if ui.selectable_label(on, text).clicked() {
                    self.brush = value;
                }
            }
            label.on_hover_text("drag on the map to label the tiles under the pointer (the right or middle button pans meanwhile)");
        });
        let typing = ui.ctx().text_edit_focused();
        if let Some(sel) = self.selected
            && let Some(t) = index.tiles.get(sel)
        {
            let current = self
                .labels_of(layer)
                .and_then(|s| s.get(t))
                .map_or("unlabelled", Label::as_str)
                .to_owned();
            let mut set = None;
            ui.horizontal(|ui| {
                ui.label(format!("r{} c{}: {current}", t.row, t.col));
                if ui.small_button("positive (P)").clicked() {
                    set = Some(Some(Label::Positive));
                }
                if ui.small_button("negative (N)").clicked() {
                    set = Some(Some(Label::Negative));
                }
                if ui.small_button("unlabel (U)").clicked() {
                    set = Some(None);
                }
            });
            // a named class (several classes on one scene: a probe per class)
            ui.horizontal(|ui| {
                let field = ui.add(
                    egui::TextEdit::singleline(&mut self.label_class)
                        .hint_text("class name, e.g. water")
                        .desired_width(130.0),
                );
                let name = self.label_class.trim().to_owned();
                let usable = !name.is_empty()
                    && !["positive", "negative"].contains(&name.to_lowercase().as_str());
                let enter = field.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter));
                if ui
                    .add_enabled(usable, egui::Button::new("label as class").small())
                    .on_disabled_hover_text("type a class name (not positive / negative)")
                    .clicked()
                    || (enter && usable)
                {
                    set = Some(Some(Label::Class(name)));
                }
            });
            if !typing && self.validation.is_none() {
                ui.input(|i| {
                    if i.key_pressed(Key::P) {
                        set = Some(Some(Label::Positive));
                    } else if i.key_pressed(Key::N) {
                        set = Some(Some(Label::Negative));
                    } else if i.key_pressed(Key::U) {
                        set = Some(None);
                    }
                });
            }
            if let Some(l) = set {
                self.label_tile(layer, sel, l);
            }
        }
        let has_ranking = self.result_for(layer).is_some();
        match self.validation.clone() {
            Some(v) if v.layer == layer => {
                ui.label(
                    RichText::new(format!(
                        "Validating hit {} of {}: A accept, R reject, S skip, Esc stop",
                        v.pos + 1,
                        v.count
                    ))
                    .color(Color32::from_rgb(250, 210, 90)),
                );
                let mut decision = None;
                ui.horizontal(|ui| {
                    if ui.button("Accept (A)").clicked() {
                        decision = Some(Decision::Accept);
                    }
                    if ui.button("Reject (R)").clicked() {
                        decision = Some(Decision::Reject);
                    }
                    if ui.button("Skip (S)").clicked() {
                        decision = Some(Decision::Skip);
                    }
                    if ui.button("Stop").clicked() {
                        self.validation = None;
                    }
                });
                if !typing {
                    ui.input(|i| {
                        if i.key_pressed(Key::A) {
                            decision = Some(Decision::Accept);
                        } else if i.key_pressed(Key::R) {
                            decision = Some(Decision::Reject);
                        } else if i.key_pressed(Key::S) {
                            decision = Some(Decision::Skip);
                        } else if i.key_pressed(Key::Escape) {
                            self.validation = None;
                        }
                    });
                }
                if let Some(d) = decision {
                    self.decide(d, commands);
                }
            }
            _ => {
                ui.horizontal(|ui| {
                    let n = self.settings.top_n;
                    if ui
                        .add_enabled(has_ranking, egui::Button::new(format!("Validate top {n}")))
                        .on_hover_text("step through the best hits: A accept, R reject, S skip")
                        .clicked()
                    {
                        self.start_validation(layer, n, commands);
                    }
                    // which label the probe learns: positive vs negative, or a class vs the rest
                    if !counts.classes.is_empty() {
                        let text = self
                            .probe_class
                            .as_ref()
                            .map_or("positive vs negative".to_owned(), |c| {
                                format!("{c} vs rest")
                            });
                        egui::ComboBox::from_id_salt("probe-positive")
                            .selected_text(text)
                            .show_ui(ui, |ui| {
                                ui.selectable_value(
                                    &mut self.probe_class,
                                    None,
                                    "positive vs negative",
                                );
                                for c in counts.classes.keys() {
                                    ui.selectable_value(
                                        &mut self.probe_class,
                                        Some(c.clone()),
                                        format!("{c} vs rest"),
                                    );
                                }
                            });
                    }
                    if self
                        .probe_class
                        .as_ref()
                        .is_some_and(|c| !counts.classes.contains_key(c))
                    {
                        self.probe_class = None;
                    }
                    let total =
                        counts.positive + counts.negative + counts.classes.values().sum::<usize>();
                    let can_probe = match &self.probe_class {
                        None => counts.positive > 0 && counts.negative > 0,
                        Some(c) => counts.classes.get(c).is_some_and(|&n| n > 0 && n < total),
                    };
                    if ui
                        .add_enabled(can_probe, egui::Button::new("Train probe"))
                        .on_hover_text(
                            "logistic regression on the labelled tiles; its probability \
                             becomes the score",
                        )
                        .on_disabled_hover_text(
                            "label positive and negative tiles (or a class and other tiles) first",
                        )
                        .clicked()
                        && !self.ranking.is_running()
                    {
                        self.run_probe(layer, ui.ctx());
                    }
                });
            }
        }
    }
}

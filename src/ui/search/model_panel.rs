//! The model and tile-index sections of the search panel: the model picker, checkpoint, device, load /
//! cancel / reload with progress; the index options and the index job of the selected scene.

use egui::{Color32, RichText, Ui};

use super::SearchPanel;
use super::results::progress_text;
use crate::jobs::Progress;
use crate::model::device::{DevicePreference, Precision};
use crate::ui::scene_layer::SceneLayer;

const ERROR_COLOUR: Color32 = Color32::from_rgb(255, 120, 120);

impl SearchPanel {
    pub(super) fn model_ui(&mut self, ui: &mut Ui) {
        let loading = self.model.is_running();
        let loaded = self.model.value().is_some();
        if self
            .picker
            .ui(ui, &mut self.settings.model_id, loading, loaded)
        {
            // the picked model's prompt templates; a local file was for the previous one
            let entry = super::picker::entry(&self.settings.model_id);
            self.settings.templates = entry.templates;
            self.settings.checkpoint.clear();
        }
        ui.horizontal(|ui| {
            let label = ui.label("Checkpoint");
            ui.add(
                egui::TextEdit::singleline(&mut self.settings.checkpoint)
                    .hint_text("download, or a local file")
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
        ui.horizontal(|ui| {
            ui.label("Precision");
            for (p, name, hover) in [
                (Precision::F32, "f32", "exact: what the oracle tests match"),
                (
                    Precision::Auto,
                    "auto",
                    "the fastest precision measured exact enough here: bf16 on CPUs with \
                     AMX-BF16 or AVX512-BF16 and on CUDA, else f32 (the loaded model says \
                     which)",
                ),
                (
                    Precision::Bf16,
                    "bf16",
                    "bf16 products with f32 accumulation (GPUs; CPUs with AMX-BF16 or \
                     AVX512-BF16)",
                ),
            ] {
                ui.radio_value(&mut self.settings.precision, p, name)
                    .on_hover_text(hover);
            }
        });
        if self.model.is_running() {
            ui.horizontal(|ui| {
                ui.spinner();
                if ui.button("Cancel").clicked() {
                    self.model.cancel();
                }
            });
            ui.add(
                egui::Label::new(
                    self.model
                        .progress()
                        .map_or("loading the model…".to_string(), progress_text),
                )
                .wrap(),
            );
        } else if let Some(m) = self.model.value() {
            ui.label(
                RichText::new(format!("{} on {}", m.model_name(), m.device_description())).small(),
            );
            // what the config parser filled in or assumed (e.g. a 10-band config without
            // preprocessing falls back to the Llama3-MS-CLIP constants)
            for note in &m.config().notes {
                ui.add(
                    egui::Label::new(
                        RichText::new(format!("note: {note}"))
                            .small()
                            .color(Color32::from_rgb(230, 180, 80)),
                    )
                    .wrap(),
                );
            }
            let picked = self.picker.loaded_id.as_deref() == Some(self.settings.model_id.as_str());
            let button = if picked { "Reload" } else { "Load model" };
            if ui.small_button(button).clicked() {
                self.load_model(ui.ctx());
            }
        } else if let Some(e) = self.model.error() {
            ui.colored_label(ERROR_COLOUR, e);
            if ui.button("Try again").clicked() {
                self.load_model(ui.ctx());
            }
        } else if ui
            .button("Load model")
            .on_hover_text(super::picker::entry(&self.settings.model_id).licence)
            .clicked()
        {
            self.load_model(ui.ctx());
        }
    }

    pub(super) fn index_ui(&mut self, ui: &mut Ui, layer: &SceneLayer) {
        ui.label(RichText::new("Tile index").strong());
        let opts = &mut self.settings.index;
        let mut overlap = opts.stride.is_some();
        ui.checkbox(&mut overlap, "50 % overlap (stride 112)");
        opts.stride = overlap.then_some(112);
        ui.add(egui::Slider::new(&mut opts.max_cloud_fraction, 0.0..=1.0).text("max cloud"));
        ui.add(egui::Slider::new(&mut opts.max_nodata_fraction, 0.0..=1.0).text("max nodata"));
        let Some(task) = self.indexes.get_mut(&layer.id) else {
            let can = self.model.value().is_some();
            if ui
                .add_enabled(can, egui::Button::new("Index scene"))
                .on_disabled_hover_text("load the model first")
                .clicked()
            {
                self.index_scene(layer, ui.ctx());
            }
            return;
        };
        if task.is_running() {
            let p = task.progress();
            ui.add(egui::ProgressBar::new(p.map_or(0.0, Progress::fraction)).show_percentage());
            // wrapped (not in a horizontal row) so a long, changing text never widens the panel
            ui.add(egui::Label::new(p.map_or("reading…".to_string(), progress_text)).wrap());
            if ui.button("Cancel").clicked() {
                task.cancel();
            }
            return;
        }
        if let Some(ix) = task.value() {
            let skipped = ix.tiles.len() - ix.embedded_count();
            ui.label(format!(
                "{} tiles, {} embedded, {} skipped",
                ix.tiles.len(),
                ix.embedded_count(),
                skipped
            ));
        }
        let again = if let Some(e) = task.error() {
            ui.colored_label(ERROR_COLOUR, e);
            ui.button("Try again").clicked()
        } else if task.value().is_some() {
            ui.small_button("Re-index").clicked()
        } else {
            // cancelled before the first result
            ui.button("Index scene").clicked()
        };
        if again {
            self.index_scene(layer, ui.ctx());
        }
    }
}

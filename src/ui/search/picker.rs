//! The model picker of the search panel: the registry's released models, each with what the
//! Hugging Face cache holds of it (cached / not downloaded, with its size) or that it is
//! loading or loaded, and the picked model's licence, image input and languages. The cache is
//! looked at on a worker (it is file-system I/O), once at start and after every load.

use std::sync::Arc;

use egui::{RichText, Ui};

use crate::model::load::hub::{self, HubError, HubOptions};
use crate::model::load::registry::{self, CacheState, ImageInput, RegistryEntry};
use crate::search::rgb8;
use crate::ui::task::{Task, TaskEvent};

/// The entry with `id`, or the first (Llama3-MS-CLIP) for an unknown id (old settings).
pub fn entry(id: &str) -> &'static RegistryEntry {
    registry::find(id).unwrap_or(&registry::entries()[0])
}

/// Where a model stands, as the picker shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PickState {
    Loaded,
    Loading,
    Cached,
    NotDownloaded {
        approx_bytes: u64,
    },
    /// The cache has not been looked at yet.
    Unknown,
}

impl PickState {
    pub fn text(&self) -> String {
        match self {
            Self::Loaded => "loaded".into(),
            Self::Loading => "loading…".into(),
            Self::Cached => "cached".into(),
            Self::NotDownloaded { approx_bytes } => {
                format!("not downloaded (≈{:.1} GB)", *approx_bytes as f64 / 1e9)
            }
            Self::Unknown => "…".into(),
        }
    }
}

/// What the picker remembers besides the settings.
#[derive(Default)]
pub struct ModelPicker {
    cache: Task<Arc<Vec<CacheState>>>,
    /// The entry id of the model being loaded or last loaded.
    pub loaded_id: Option<String>,
    started: bool,
}

impl ModelPicker {
    /// Look at the hub cache again (on a worker).
    pub fn refresh(&mut self, ctx: &egui::Context, base: Result<HubOptions, HubError>) {
        self.started = true;
        self.cache.start("model-cache", ctx, move |_| {
            let base = base?;
            Ok(Arc::new(
                registry::entries()
                    .iter()
                    .map(|e| e.cache_state(&base))
                    .collect(),
            ))
        });
    }

    /// Poll the cache job; the first call starts it.
    pub fn poll(
        &mut self,
        ctx: &egui::Context,
        base: impl FnOnce() -> Result<HubOptions, HubError>,
    ) -> TaskEvent {
        if !self.started {
            self.refresh(ctx, base());
        }
        self.cache.poll()
    }

    /// Whether the cache has been looked at (once at least).
    pub fn checked(&self) -> bool {
        self.cache.value().is_some() || self.cache.error().is_some()
    }

    /// The state of registry entry `id`, given whether a model is loading / loaded.
    pub fn state(&self, id: &str, loading: bool, loaded: bool) -> PickState {
        if self.loaded_id.as_deref() == Some(id) {
            if loading {
                return PickState::Loading;
            }
            if loaded {
                return PickState::Loaded;
            }
        }
        let Some(states) = self.cache.value() else {
            return PickState::Unknown;
        };
        let Some(i) = registry::entries().iter().position(|e| e.id == id) else {
            return PickState::Unknown;
        };
        match &states[i] {
            CacheState::Cached(_) => PickState::Cached,
            CacheState::NotDownloaded { .. } => PickState::NotDownloaded {
                approx_bytes: registry::entries()[i].approx_bytes,
            },
        }
    }

    /// The picker row and the picked model's description. Returns true when the pick
    /// changed.
    pub fn ui(&self, ui: &mut Ui, model_id: &mut String, loading: bool, loaded: bool) -> bool {
        let before = model_id.clone();
        let picked = entry(model_id);
        ui.horizontal(|ui| {
            let label = ui.label(RichText::new("Model").strong());
            egui::ComboBox::from_id_salt("model-picker")
                .selected_text(picked.label())
                .width(220.0)
                .show_ui(ui, |ui| {
                    for e in registry::entries() {
                        let state = self.state(e.id, loading, loaded).text();
                        ui.selectable_value(
                            model_id,
                            e.id.to_owned(),
                            format!("{}  ({state})", e.label()),
                        );
                    }
                })
                .response
                .labelled_by(label.id);
        });
        ui.label(
            RichText::new(self.state(picked.id, loading, loaded).text())
                .small()
                .weak(),
        );
        if picked.id == registry::entries()[0].id {
            ui.label(RichText::new(hub::LICENSE_NOTICE).italics())
                .on_hover_text(hub::LICENSE_SUMMARY);
        } else {
            ui.add(egui::Label::new(RichText::new(picked.licence).italics().small()).wrap());
        }
        let input = match picked.input {
            ImageInput::Sentinel2TenBands => picked.input.describe().to_owned(),
            ImageInput::Rgb8 => format!("{}: {}", picked.input.describe(), rgb8::DESCRIPTION),
        };
        ui.add(egui::Label::new(RichText::new(format!("Input: {input}")).small()).wrap());
        if picked.languages.len() > 1 {
            ui.label(RichText::new(format!("Queries in {}", picked.languages.join(", "))).small());
        }
        *model_id != before
    }
}

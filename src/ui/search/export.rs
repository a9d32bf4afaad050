//! Exports and file dialogs of the search panel: the checkpoint picker, the save dialog,
//! and the export job (the session's writers on a worker; the results stay in the app
//! whatever happens to the file).

use std::path::PathBuf;
use std::sync::Arc;

use super::{Mode, SearchPanel};
use crate::search::session::{self, Classification, ExportFormat, Ranking};

impl SearchPanel {
    /// A file dialog for a local checkpoint; the choice fills the checkpoint field and loads
    /// it.
    pub(super) fn pick_checkpoint(&mut self, ctx: &egui::Context) {
        self.checkpoint_dialog.open("checkpoint-dialog", ctx, || {
            rfd::FileDialog::new()
                .set_title("Choose a Llama3-MS-CLIP checkpoint")
                .add_filter("checkpoint", &["pt", "safetensors"])
                .pick_file()
        });
    }

    pub(super) fn ask_save(&mut self, format: ExportFormat, ctx: &egui::Context) {
        let ext = format.extension();
        let name = format!("kestrel-results.{ext}");
        self.save_dialog.open("save-dialog", ctx, move || {
            rfd::FileDialog::new()
                .set_file_name(name)
                .add_filter(ext, &[ext])
                .save_file()
                .map(|p| (p, format))
        });
    }

    /// Export the current results of the current mode to `path` (on a worker). Returns
    /// false when there is nothing to export.
    pub fn export_to(&mut self, path: PathBuf, format: ExportFormat, ctx: &egui::Context) -> bool {
        // a query over all open scenes exports its one list, every scene's provenance with it
        if self.mode == Mode::Search
            && let Some(a) = self.across().cloned()
        {
            let top = if self.settings.top_n_only {
                self.settings.top_n
            } else {
                usize::MAX
            };
            let rows: Vec<(usize, f32)> = a.ranking.all.visible(self.threshold, top).collect();
            self.export_job.start("export", ctx, move |_jc| {
                let metas: Vec<_> = a.layers.iter().map(|(_, ix)| ix.meta.clone()).collect();
                let tiles: Vec<_> = a
                    .layers
                    .iter()
                    .flat_map(|(_, ix)| ix.tiles.iter().cloned())
                    .collect();
                session::export_ranking(&path, format, &metas, &tiles, &a.ranking.all, &rows)?;
                Ok(path)
            });
            return true;
        }
        let (layer, payload) = match self.mode {
            Mode::Search => match self.result() {
                Some(r) => (
                    r.layer,
                    Payload::Ranking(r.result.clone(), self.visible_ranked(r.layer)),
                ),
                None => return false,
            },
            Mode::Classify => match self.classes_result() {
                Some(r) => (r.layer, Payload::Classes(r.result.clone())),
                None => return false,
            },
        };
        let Some(index) = self.index_of(layer).cloned() else {
            return false;
        };
        self.export_job.start("export", ctx, move |_jc| {
            let metas = std::slice::from_ref(&index.meta);
            match &payload {
                Payload::Ranking(ranking, rows) => {
                    session::export_ranking(&path, format, metas, &index.tiles, ranking, rows)?
                }
                Payload::Classes(classes) => {
                    session::export_classification(&path, format, metas, &index.tiles, classes)?
                }
            }
            Ok(path)
        });
        true
    }

    pub fn is_exporting(&self) -> bool {
        self.export_job.is_running()
    }
}

/// What an export writes: the visible rows of a ranking, or every classified tile.
enum Payload {
    Ranking(Arc<Ranking>, Vec<(usize, f32)>),
    Classes(Arc<Classification>),
}

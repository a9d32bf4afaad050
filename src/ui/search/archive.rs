//! Searching an archive from the viewer: a folder of shards (`kestrel index --out-dir`, a
//! cluster job's output) searched by the loaded model for a description, streamed on a
//! worker ([`crate::search::archive`], the same search as `kestrel search SHARD...`); the
//! best hits as a list, each opening its scene centred on the tile. Needs no open scene.

use std::path::PathBuf;
use std::sync::Arc;

use egui::{Color32, RichText, Ui};

use super::SearchPanel;
use crate::search::archive::{self, ArchiveHits};
use crate::search::session::Query;
use crate::ui::command::Command;
use crate::ui::task::{Dialog, Task, TaskEvent};

/// The archive section's state.
#[derive(Default)]
pub struct ArchiveSearch {
    /// The folder of shards.
    pub folder: String,
    pub query: String,
    dialog: Dialog<PathBuf>,
    job: Task<Arc<ArchiveHits>>,
}

impl ArchiveSearch {
    /// The last search's hits.
    pub fn hits(&self) -> Option<&Arc<ArchiveHits>> {
        self.job.value()
    }

    pub fn is_running(&self) -> bool {
        self.job.is_running()
    }

    /// Poll the dialog and the job; a failure comes back as a text.
    pub fn poll(&mut self) -> Option<String> {
        if let Some(p) = self.dialog.poll().picked() {
            self.folder = p.display().to_string();
        }
        match self.job.poll() {
            TaskEvent::Failed(t) => Some(t),
            _ => None,
        }
    }
}

impl SearchPanel {
    /// The "Search an archive of shards" section.
    pub(super) fn archive_ui(&mut self, ui: &mut Ui, commands: &mut Vec<Command>) {
        egui::CollapsingHeader::new("Search an archive of shards")
            .id_salt("archive")
            .show(ui, |ui| self.archive_body(ui, commands));
    }

    fn archive_body(&mut self, ui: &mut Ui, commands: &mut Vec<Command>) {
        let ctx = ui.ctx().clone();
        ui.horizontal(|ui| {
            let label = ui.label("Folder");
            ui.add(
                egui::TextEdit::singleline(&mut self.archive.folder)
                    .hint_text("a folder of .parquet shards")
                    .desired_width(170.0),
            )
            .labelled_by(label.id);
            if ui.button("Choose folder…").clicked() {
                self.archive.dialog.open("archive-dialog", &ctx, || {
                    rfd::FileDialog::new()
                        .set_title("Choose a folder of Kestrel shards")
                        .pick_folder()
                });
            }
        });
        let resp = ui.add(
            egui::TextEdit::singleline(&mut self.archive.query)
                .hint_text("describe what to find in every scene")
                .desired_width(f32::INFINITY),
        );
        let enter = resp.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        let model = self.model().cloned();
        let ready = model.is_some()
            && !self.archive.folder.trim().is_empty()
            && !self.archive.query.trim().is_empty();
        ui.horizontal(|ui| {
            let clicked = ui
                .add_enabled(
                    ready && !self.archive.job.is_running(),
                    egui::Button::new("Search archive"),
                )
                .on_disabled_hover_text("load the model, choose a folder and type a description")
                .clicked();
            if let Some(model) = model.filter(|_| clicked || (enter && ready)) {
                let dir = PathBuf::from(self.archive.folder.trim());
                let query = Query {
                    text: self.archive.query.trim().to_owned(),
                    ..Query::default()
                };
                let top = self.settings.top_n;
                self.archive.job.start("archive-search", &ctx, move |_jc| {
                    let shards = archive::list_shards(&dir)?;
                    let prepared = query.prepare(&model)?;
                    let threads =
                        std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
                    Ok(Arc::new(archive::search(
                        &shards, &prepared, &model, top, threads,
                    )?))
                });
            }
            if self.archive.job.is_running() {
                ui.spinner();
            }
        });
        if let Some(e) = self.archive.job.error() {
            ui.colored_label(Color32::from_rgb(255, 120, 120), e);
        }
        let Some(hits) = self.archive.hits().cloned() else {
            return;
        };
        ui.label(
            RichText::new(format!(
                "{} tiles of {} scenes scored; the best {}:",
                hits.scored,
                hits.shards.len(),
                hits.ranking.ranked.len()
            ))
            .small(),
        );
        egui::ScrollArea::vertical()
            .id_salt("archive-hits")
            .max_height(220.0)
            .show(ui, |ui| {
                egui::Grid::new("archive-grid")
                    .num_columns(2)
                    .striped(true)
                    .show(ui, |ui| {
                        for (rank, &(i, score)) in hits.ranking.ranked.iter().enumerate() {
                            let t = &hits.tiles[i];
                            let source = hits.source_of(t);
                            let scene = source
                                .and_then(|(_, s)| std::path::Path::new(s).file_name())
                                .map_or_else(
                                    || t.scene_id.clone(),
                                    |n| n.to_string_lossy().into_owned(),
                                );
                            let text = format!("{:>3}. {scene} r{} c{}", rank + 1, t.row, t.col);
                            if ui.selectable_label(false, text).clicked() {
                                commands.push(match source {
                                    Some((_, scene)) if std::path::Path::new(scene).exists() => {
                                        Command::ShowHit {
                                            scene: PathBuf::from(scene),
                                            lon: t.centre_lonlat[0],
                                            lat: t.centre_lonlat[1],
                                        }
                                    }
                                    Some((shard, scene)) => Command::Message {
                                        error: true,
                                        text: format!(
                                            "the scene of this hit, {scene} (as recorded in {}), \
                                             is not on this machine",
                                            shard.display()
                                        ),
                                    },
                                    None => Command::CentreOn {
                                        lon: t.centre_lonlat[0],
                                        lat: t.centre_lonlat[1],
                                    },
                                });
                            }
                            ui.label(format!("{score:.4}"));
                            ui.end_row();
                        }
                    });
            });
    }
}

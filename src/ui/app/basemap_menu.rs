//! View › Basemap: choosing the map's background, the XYZ URL and the local tile file
//! (picked in a native dialog on its thread, opened and checked on a worker; an error names
//! the file and leaves the basemap as it was), and the bundled Natural Earth basemap,
//! decoded once on a worker the first time it is needed.

use std::path::PathBuf;
use std::sync::Arc;

use super::KestrelApp;
use crate::ui::basemap::natural_earth::NaturalEarth;
use crate::ui::basemap::tile_file::TileArchive;
use crate::ui::basemap::{Basemap, BasemapChoice, BasemapHealth};
use crate::ui::task::{DialogEvent, TaskEvent};

/// What the offline map draws under the layers.
pub(super) enum Offline {
    /// Tiles are arriving: nothing.
    None,
    /// The 1:110m outlines and the graticule.
    Outlines,
    /// The Natural Earth basemap (the outlines while it is being decoded) and the graticule.
    NaturalEarth(Option<Arc<NaturalEarth>>),
}

impl KestrelApp {
    pub(super) fn basemap_menu(&mut self, ui: &mut egui::Ui) {
        ui.label("Basemap");
        for choice in [
            BasemapChoice::OpenStreetMap,
            BasemapChoice::NaturalEarth,
            BasemapChoice::Plain,
        ] {
            if ui
                .radio(self.basemap_choice == choice, choice.label())
                .clicked()
            {
                self.set_basemap(choice, None, ui.ctx());
                ui.close();
            }
        }
        ui.separator();
        let l = ui.label(BasemapChoice::Custom.label());
        ui.horizontal(|ui| {
            ui.add(
                egui::TextEdit::singleline(&mut self.basemap_url_edit)
                    .hint_text("https://tile.example/{z}/{x}/{y}.png")
                    .desired_width(320.0),
            )
            .labelled_by(l.id);
            if ui.button("use").clicked() {
                let url = self.basemap_url_edit.clone();
                self.set_basemap(BasemapChoice::Custom, Some(url), ui.ctx());
                ui.close();
            }
        });
        ui.separator();
        ui.horizontal(|ui| {
            if ui
                .button("Local tile file…")
                .on_hover_text("a raster MBTiles or PMTiles archive (PNG or JPEG tiles)")
                .clicked()
            {
                self.tile_file_dialog
                    .open("tile-file-dialog", ui.ctx(), || {
                        rfd::FileDialog::new()
                            .set_title("Basemap tile file")
                            .add_filter("Tile archives", &["mbtiles", "pmtiles"])
                            .add_filter("All files", &["*"])
                            .pick_file()
                    });
                ui.close();
            }
            if let Some(f) = &self.basemap_file {
                let shown = f.file_name().map_or_else(
                    || f.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                );
                if ui
                    .radio(self.basemap_choice == BasemapChoice::LocalFile, shown)
                    .on_hover_text(f.display().to_string())
                    .clicked()
                {
                    let f = f.clone();
                    self.set_basemap_file(f, ui.ctx());
                    ui.close();
                }
            }
        });
        if self.tile_file_job.is_running() {
            ui.label("opening the tile file…");
        }
    }

    /// Switch the background (and, for [`BasemapChoice::Custom`], its URL template; an
    /// invalid template is refused with a message and the background stays). For
    /// [`BasemapChoice::LocalFile`], the file of the settings is opened
    /// ([`KestrelApp::set_basemap_file`]).
    pub fn set_basemap(&mut self, choice: BasemapChoice, url: Option<String>, ctx: &egui::Context) {
        match choice {
            BasemapChoice::Custom => {
                let url = url.unwrap_or_else(|| self.basemap_url.clone());
                if let Err(e) = crate::ui::basemap::XyzSource::new(&url) {
                    self.error(e);
                    return;
                }
                self.basemap_url = url.trim().to_owned();
                self.basemap_url_edit = self.basemap_url.clone();
            }
            BasemapChoice::LocalFile => {
                match self.basemap_file.clone() {
                    Some(f) => self.set_basemap_file(f, ctx),
                    None => {
                        self.error("no tile file chosen yet: View › Basemap › Local tile file…")
                    }
                }
                return;
            }
            _ => {}
        }
        self.tile_file_job.cancel();
        self.basemap_choice = choice;
        self.basemap = Basemap::new(choice, &self.basemap_url, ctx);
    }

    /// Use the MBTiles / PMTiles file `path` as the basemap once it is opened and checked
    /// (on a worker); until then, and if it fails, the basemap stays as it is.
    pub fn set_basemap_file(&mut self, path: PathBuf, ctx: &egui::Context) {
        self.tile_file_job.start("tile-file", ctx, move |_| {
            TileArchive::open(&path).map_err(anyhow::Error::msg)
        });
    }

    /// The dialog, the archive being opened and the Natural Earth decoding; once a frame.
    pub(super) fn poll_basemap(&mut self, ctx: &egui::Context) {
        match self.tile_file_dialog.poll() {
            DialogEvent::Picked(path) => self.set_basemap_file(path, ctx),
            DialogEvent::Failed => self.error(
                "the file dialog could not be shown (no portal or zenity); \
                 pass the tile file's path in the settings",
            ),
            DialogEvent::Nothing | DialogEvent::Cancelled => {}
        }
        match self.tile_file_job.poll() {
            TaskEvent::Finished => {
                if let Some(archive) = self.tile_file_job.take() {
                    self.info(format!(
                        "basemap: {} ({:?}, {:?} tiles, zoom {}–{})",
                        archive.path.display(),
                        archive.kind,
                        archive.format,
                        archive.min_zoom,
                        archive.max_zoom
                    ));
                    self.basemap_file = Some(archive.path.clone());
                    self.basemap_choice = BasemapChoice::LocalFile;
                    self.basemap = Basemap::from_file(archive, ctx);
                }
            }
            TaskEvent::Failed(e) => {
                self.error(format!("basemap not changed: {e}"));
                // a file remembered from last time that no longer opens: offline basemap
                if self.basemap_choice == BasemapChoice::LocalFile && !self.basemap.has_tiles() {
                    self.basemap_choice = BasemapChoice::NaturalEarth;
                }
            }
            TaskEvent::Nothing => {}
        }
        match self.natural_earth.poll() {
            TaskEvent::Failed(e) => log::error!("{e}"),
            TaskEvent::Finished | TaskEvent::Nothing => {}
        }
    }

    /// What the offline map shows now; starts decoding the Natural Earth basemap the first
    /// time it is wanted.
    pub(super) fn offline(&mut self, ctx: &egui::Context) -> Offline {
        if self.basemap.health() == BasemapHealth::Online {
            return Offline::None;
        }
        if self.basemap_choice == BasemapChoice::Plain {
            return Offline::Outlines;
        }
        if !self.natural_earth_started {
            self.natural_earth_started = true;
            self.natural_earth.start("natural-earth", ctx, |_| {
                NaturalEarth::bundled()
                    .map(Arc::new)
                    .map_err(anyhow::Error::msg)
            });
        }
        Offline::NaturalEarth(self.natural_earth.value().cloned())
    }

    /// Whether the bundled Natural Earth basemap is decoded (tests wait for it).
    pub fn natural_earth_ready(&self) -> bool {
        self.natural_earth.value().is_some()
    }

    /// The tile file in use or last used.
    pub fn basemap_file(&self) -> Option<&std::path::Path> {
        self.basemap_file.as_deref()
    }

    /// Whether a tile file is being opened.
    pub fn tile_file_opening(&self) -> bool {
        self.tile_file_job.is_running()
    }
}

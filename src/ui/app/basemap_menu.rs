//! View › Basemap: choosing the map's background, the XYZ / WMTS URL (a WMTS GetCapabilities
//! URL is fetched and read on a worker, then one of its layers chosen), the local tile file
//! (picked in a native dialog on its thread, opened and checked on a worker; an error names
//! the file or URL and leaves the basemap as it was), and the bundled Natural Earth
//! basemap, decoded once on a worker the first time it is needed.

use std::path::PathBuf;
use std::sync::Arc;

use super::KestrelApp;
use crate::ui::basemap::natural_earth::NaturalEarth;
use crate::ui::basemap::tile_file::TileArchive;
use crate::ui::basemap::wmts;
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
            .labelled_by(l.id)
            .on_hover_text(
                "an XYZ template ({z}/{x}/{y}), a WMTS REST template \
                 ({TileMatrix}/{TileRow}/{TileCol}) or a WMTS GetCapabilities URL",
            );
            if ui.button("use").clicked() {
                let url = self.basemap_url_edit.clone();
                self.set_basemap(BasemapChoice::Custom, Some(url), ui.ctx());
                ui.close();
            }
        });
        if self.wmts_job.is_running() {
            ui.label("reading the WMTS capabilities…");
        }
        self.wmts_layer_picker(ui);
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
                let url = url.trim().to_owned();
                if wmts::is_capabilities_url(&url) {
                    self.basemap_url_edit = url.clone();
                    self.wmts_job.start("wmts-capabilities", ctx, move |_| {
                        wmts::fetch_layers(&url).map_err(anyhow::Error::msg)
                    });
                    return;
                }
                if let Err(e) = crate::ui::basemap::XyzSource::new(&url) {
                    self.error(e);
                    return;
                }
                self.basemap_url = url;
                self.basemap_url_edit = self.basemap_url.clone();
                self.wmts = None;
                self.basemap_layer = None;
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
        self.wmts_job.cancel();
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
        match self.wmts_job.poll() {
            TaskEvent::Finished => {
                if let Some(caps) = self.wmts_job.take() {
                    self.tile_file_job.cancel();
                    self.basemap_url = caps.url.clone();
                    self.basemap_url_edit = caps.url.clone();
                    self.basemap_choice = BasemapChoice::Custom;
                    let wanted = self.basemap_layer.clone();
                    self.wmts = Some(caps);
                    self.use_wmts_layer(wanted.as_deref(), ctx);
                }
            }
            TaskEvent::Failed(e) => self.error(format!("basemap not changed: {e}")),
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

    /// Draw the WMTS layer `identifier` of the capabilities read (none, or one they do not
    /// have: their first usable layer).
    pub fn use_wmts_layer(&mut self, identifier: Option<&str>, ctx: &egui::Context) {
        let Some(layer) = self.wmts.as_ref().and_then(|c| c.pick(identifier)).cloned() else {
            return;
        };
        let n = self.wmts.as_ref().map_or(0, |c| c.layers.len());
        self.info(format!(
            "basemap: WMTS layer {} ({}, {}; {n} usable layer{} in {})",
            layer.title,
            layer.identifier,
            layer.matrix_set,
            if n == 1 { "" } else { "s" },
            self.basemap_url
        ));
        self.basemap_layer = Some(layer.identifier.clone());
        self.basemap = Basemap::from_source(layer.source, ctx);
    }

    /// A choice of the WMTS's layers, when it has more than one: radio buttons in the menu
    /// (a combo box's popup inside the menu would close the menu), scrolled when long.
    fn wmts_layer_picker(&mut self, ui: &mut egui::Ui) {
        let Some(caps) = &self.wmts else { return };
        if caps.layers.len() < 2 || self.basemap_choice != BasemapChoice::Custom {
            return;
        }
        let current = self.basemap_layer.clone().unwrap_or_default();
        let mut picked = None;
        ui.label(format!("WMTS layer ({} usable)", caps.layers.len()));
        egui::ScrollArea::vertical()
            .max_height(200.0)
            .id_salt("wmts-layers")
            .show(ui, |ui| {
                for l in &caps.layers {
                    if ui
                        .radio(l.identifier == current, &l.title)
                        .on_hover_text(format!("{} ({})", l.identifier, l.matrix_set))
                        .clicked()
                    {
                        picked = Some(l.identifier.clone());
                    }
                }
            });
        if let Some(id) = picked {
            self.use_wmts_layer(Some(&id), ui.ctx());
            ui.close();
        }
    }

    /// The WMTS layers read from the basemap's capabilities URL (tests).
    pub fn wmts_layers(&self) -> Vec<String> {
        self.wmts
            .as_ref()
            .map(|c| c.layers.iter().map(|l| l.identifier.clone()).collect())
            .unwrap_or_default()
    }

    /// Whether WMTS capabilities are being fetched.
    pub fn wmts_fetching(&self) -> bool {
        self.wmts_job.is_running()
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

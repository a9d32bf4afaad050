//! Saving and reopening the viewer's session (File › Save session…, File › Open session…,
//! or a `.kestrel` file opened like a scene, from the command line or by drag and drop):
//! gathered from the app on the UI thread, written and read on workers by
//! [`crate::session_file`], applied on the UI thread. Opening a session replaces the open
//! layers and keeps the saved view (the layers do not zoom the map to themselves).

use std::path::{Path, PathBuf};

use walkers::lon_lat;

use super::{KestrelApp, ViewState};
use crate::session_file::{self, EXTENSION, Session, SessionCompare, SessionLayer, SessionView};
use crate::ui::LayerId;
use crate::ui::scene_layer::SceneLayer;
use crate::ui::swipe::{CompareMode, LayerSwipe};
use crate::ui::task::{DialogEvent, TaskEvent};

/// What a session dialog picked.
pub(super) enum SessionPick {
    Save(PathBuf),
    Open(PathBuf),
}

/// What a session job did.
pub(super) enum SessionDone {
    Saved(PathBuf),
    Loaded(PathBuf, Session),
}

/// Whether `path` names a session file (by its extension).
pub fn is_session_file(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == EXTENSION)
}

impl KestrelApp {
    /// The session as it stands: layers in drawing order, the selection, the comparison,
    /// the view, the query and the search settings.
    pub fn session(&self) -> Session {
        let index_of = |id: LayerId| self.layers.iter().position(|l| l.id == id);
        let layers = self
            .layers
            .iter()
            .map(|l| SessionLayer {
                source: l.path.to_string_lossy().into_owned(),
                visible: l.visible,
                opacity: l.opacity,
                style: l.style.clone(),
            })
            .collect();
        let mut s = Session::new(
            SessionView {
                lon: self.view.lon,
                lat: self.view.lat,
                zoom: self.map_memory.zoom(),
            },
            layers,
        );
        s.active = self.active.and_then(index_of);
        s.compare = self.layer_swipe.and_then(|c| {
            Some(SessionCompare {
                left: index_of(c.left)?,
                right: index_of(c.right)?,
                side_by_side: c.mode == CompareMode::SideBySide,
                at: c.at,
            })
        });
        s.query = self.search.query.clone();
        s.search = serde_json::to_value(&self.search.settings).ok();
        s
    }

    /// Write the session to `path` (on a worker).
    pub fn save_session_to(&mut self, path: PathBuf, ctx: &egui::Context) {
        let session = self.session();
        self.session_job.start("save-session", ctx, move |_| {
            session_file::save(&path, &session)?;
            Ok(SessionDone::Saved(path))
        });
    }

    /// Read the session at `path` (on a worker) and apply it when read.
    pub fn open_session(&mut self, path: PathBuf, ctx: &egui::Context) {
        self.session_job.start("open-session", ctx, move |_| {
            let s = session_file::load(&path)?;
            Ok(SessionDone::Loaded(path, s))
        });
    }

    /// Whether a session is being saved or read.
    pub fn session_busy(&self) -> bool {
        self.session_job.is_running()
    }

    pub(super) fn ask_session(&mut self, save: bool, ctx: &egui::Context) {
        self.session_dialog.open("session-dialog", ctx, move || {
            let d = rfd::FileDialog::new().add_filter("Kestrel session", &[EXTENSION]);
            if save {
                d.set_file_name(format!("session.{EXTENSION}"))
                    .save_file()
                    .map(SessionPick::Save)
            } else {
                d.pick_file().map(SessionPick::Open)
            }
        });
    }

    /// Dialog answers and finished session jobs; call once per frame.
    pub(super) fn poll_session(&mut self, ctx: &egui::Context) {
        match self.session_dialog.poll() {
            DialogEvent::Picked(SessionPick::Save(p)) => self.save_session_to(p, ctx),
            DialogEvent::Picked(SessionPick::Open(p)) => self.open_session(p, ctx),
            DialogEvent::Failed => {
                self.error("the file dialog could not be shown (no portal or zenity)")
            }
            DialogEvent::Nothing | DialogEvent::Cancelled => {}
        }
        match self.session_job.poll() {
            TaskEvent::Finished => match self.session_job.take() {
                Some(SessionDone::Saved(p)) => {
                    self.info(format!("session saved to {}", p.display()))
                }
                Some(SessionDone::Loaded(p, s)) => self.apply_session(&p, s, ctx),
                None => {}
            },
            TaskEvent::Failed(e) => self.error(e),
            TaskEvent::Nothing => {}
        }
    }

    /// Replace the open layers, the comparison, the view, the query and the search
    /// settings with the session's.
    fn apply_session(&mut self, path: &Path, s: Session, ctx: &egui::Context) {
        for l in std::mem::take(&mut self.layers) {
            self.search.layer_closed(l.id);
        }
        self.layer_swipe = None;
        let mut ids = Vec::new();
        for (sl, source) in s.layers.iter().zip(s.layer_paths(path)) {
            let id = LayerId(self.next_layer_id);
            self.next_layer_id += 1;
            let mut layer = SceneLayer::open(id, source, ctx);
            layer.visible = sl.visible;
            layer.opacity = sl.opacity;
            // kept when the scene opens, unless its bands cannot show it
            layer.style = sl.style.clone();
            self.keep_view.insert(id);
            self.layers.push(layer);
            ids.push(id);
        }
        self.active = s.active.map(|i| ids[i]).or(ids.last().copied());
        self.layer_swipe = s.compare.map(|c| LayerSwipe {
            left: ids[c.left],
            right: ids[c.right],
            at: c.at,
            mode: if c.side_by_side {
                CompareMode::SideBySide
            } else {
                CompareMode::Swipe
            },
        });
        self.view = ViewState {
            lon: s.view.lon,
            lat: s.view.lat,
            zoom: s.view.zoom,
        };
        self.map_memory.center_at(lon_lat(s.view.lon, s.view.lat));
        let _ = self.map_memory.set_zoom(s.view.zoom);
        self.pending_fit = None;
        self.search.query = s.query;
        if let Some(v) = s.search {
            match serde_json::from_value(v) {
                Ok(settings) => self.search.settings = settings,
                Err(e) => self.error(format!(
                    "{}: the search settings were not restored ({e})",
                    path.display()
                )),
            }
        }
        self.info(format!(
            "session {} opened: {} layer(s)",
            path.display(),
            ids.len()
        ));
    }
}

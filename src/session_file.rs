//! The session file (`*.kestrel`, JSON): what the viewer had open, to save and reopen —
//! the layers in drawing order (path or STAC item URL, visibility, opacity, style), the
//! selected layer, a two-layer comparison, the map view, the query and the search panel's
//! settings (model, classes, templates; kept as the panel's own JSON so this module stays
//! free of the UI). Labels are not copied in: they live beside each scene's index and come
//! back when the scene is indexed again.
//!
//! Local paths under the session file's folder are stored relative to it (a project folder
//! can move); others stay absolute; URLs as they are. Writes are atomic; a file that cannot
//! be read names itself and the problem.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::raster::view::LayerStyle;

/// The file name extension of session files.
pub const EXTENSION: &str = "kestrel";
/// The format version written (and the newest one read).
pub const VERSION: u32 = 1;

/// Why a session file could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("cannot write the session {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: crate::atomic::AtomicWriteError,
    },
    #[error("cannot read the session {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a Kestrel session: {detail}", path.display())]
    Invalid { path: PathBuf, detail: String },
}

/// The map view.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SessionView {
    pub lon: f64,
    pub lat: f64,
    pub zoom: f64,
}

/// One layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionLayer {
    /// A path (relative to the session file's folder, or absolute) or a STAC item URL.
    pub source: String,
    #[serde(default = "yes")]
    pub visible: bool,
    #[serde(default = "one")]
    pub opacity: f32,
    #[serde(default)]
    pub style: LayerStyle,
}

fn yes() -> bool {
    true
}
fn one() -> f32 {
    1.0
}

/// Two layers compared (indexes into [`Session::layers`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SessionCompare {
    pub left: usize,
    pub right: usize,
    /// `true`: two maps side by side; `false`: a swipe.
    pub side_by_side: bool,
    /// The swipe's divider, as a fraction of the map's width.
    pub at: f32,
}

/// A whole session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// The format version ([`VERSION`]).
    pub kestrel_session: u32,
    pub view: SessionView,
    /// In drawing order (later layers draw on top).
    pub layers: Vec<SessionLayer>,
    /// The selected layer.
    #[serde(default)]
    pub active: Option<usize>,
    #[serde(default)]
    pub compare: Option<SessionCompare>,
    /// The query text.
    #[serde(default)]
    pub query: String,
    /// The search panel's settings, as the panel serialises them.
    #[serde(default)]
    pub search: Option<serde_json::Value>,
}

impl Session {
    /// A session of these layers and view (no comparison, query or search settings).
    pub fn new(view: SessionView, layers: Vec<SessionLayer>) -> Session {
        Session {
            kestrel_session: VERSION,
            view,
            layers,
            active: None,
            compare: None,
            query: String::new(),
            search: None,
        }
    }

    /// The layers' sources as the viewer opens them: relative paths resolved against
    /// `session_path`'s folder.
    pub fn layer_paths(&self, session_path: &Path) -> Vec<PathBuf> {
        let base = session_path.parent().unwrap_or(Path::new("."));
        self.layers
            .iter()
            .map(|l| resolve(&l.source, base))
            .collect()
    }
}

fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

fn resolve(source: &str, base: &Path) -> PathBuf {
    let p = Path::new(source);
    if is_url(source) || p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// How `path` is stored in a session file written into `base`: relative when it lies under
/// `base`, else absolute (URLs unchanged).
pub fn source_for(path: &Path, base: &Path) -> String {
    let text = path.to_string_lossy();
    if is_url(&text) {
        return text.into_owned();
    }
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let base = std::path::absolute(base).unwrap_or_else(|_| base.to_path_buf());
    match abs.strip_prefix(&base) {
        Ok(rel) if !rel.as_os_str().is_empty() => rel.to_string_lossy().into_owned(),
        _ => abs.to_string_lossy().into_owned(),
    }
}

/// Write `session` to `path` atomically. Layer sources given as paths (absolute, or
/// relative to the working folder) are stored relative to `path`'s folder where they lie
/// under it.
pub fn save(path: &Path, session: &Session) -> Result<(), SessionError> {
    let base = path.parent().unwrap_or(Path::new("."));
    let mut s = session.clone();
    for l in &mut s.layers {
        l.source = source_for(Path::new(&l.source), base);
    }
    let text = serde_json::to_string_pretty(&s).map_err(|e| SessionError::Invalid {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    crate::atomic::write_atomic(path, |w| w.write_all(text.as_bytes())).map_err(|source| {
        SessionError::Write {
            path: path.to_path_buf(),
            source,
        }
    })
}

/// Read a session file (its layer sources as stored; see [`Session::layer_paths`]).
pub fn load(path: &Path) -> Result<Session, SessionError> {
    crate::paths::check_regular_file(path).map_err(|source| SessionError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let text = std::fs::read_to_string(path).map_err(|source| SessionError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let invalid = |detail: String| SessionError::Invalid {
        path: path.to_path_buf(),
        detail,
    };
    let s: Session = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    if s.kestrel_session == 0 || s.kestrel_session > VERSION {
        return Err(invalid(format!(
            "format version {} (this Kestrel reads 1 to {VERSION})",
            s.kestrel_session
        )));
    }
    let n = s.layers.len();
    let bad = |i: usize| i >= n;
    if s.active.is_some_and(bad) || s.compare.is_some_and(|c| bad(c.left) || bad(c.right)) {
        return Err(invalid(format!("a layer number is past its {n} layer(s)")));
    }
    if !(s.view.lat.is_finite() && s.view.lon.is_finite() && s.view.zoom.is_finite()) {
        return Err(invalid("the view is not finite".into()));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(sources: &[&str]) -> Session {
        let layers = sources
            .iter()
            .map(|s| SessionLayer {
                source: (*s).to_owned(),
                visible: true,
                opacity: 0.5,
                style: LayerStyle::default(),
            })
            .collect();
        Session::new(
            SessionView {
                lon: 12.6,
                lat: 52.5,
                zoom: 11.0,
            },
            layers,
        )
    }

    #[test]
    fn paths_under_the_folder_are_relative_and_come_back_absolute() {
        let dir = tempfile::tempdir().unwrap();
        let inside = dir.path().join("scenes/a.tif");
        let outside = "/elsewhere/b.tif";
        let url = "https://example.test/items/c.json";
        let file = dir.path().join("project.kestrel");
        let mut s = session(&[&inside.to_string_lossy(), outside, url]);
        s.active = Some(2);
        s.compare = Some(SessionCompare {
            left: 0,
            right: 1,
            side_by_side: true,
            at: 0.3,
        });
        s.query = "a river".into();
        save(&file, &s).unwrap();
        let raw: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        assert_eq!(raw["layers"][0]["source"], "scenes/a.tif");
        assert_eq!(raw["layers"][1]["source"], outside);
        assert_eq!(raw["layers"][2]["source"], url);
        let back = load(&file).unwrap();
        assert_eq!(
            back.layer_paths(&file),
            vec![inside, PathBuf::from(outside), PathBuf::from(url)]
        );
        assert_eq!(
            (back.active, back.compare, back.query.as_str()),
            (s.active, s.compare, "a river")
        );
        assert_eq!(back.layers[0].opacity, 0.5);
    }

    #[test]
    fn bad_files_name_the_file_and_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x.kestrel");
        std::fs::write(&f, "{not json").unwrap();
        let e = load(&f).unwrap_err().to_string();
        assert!(
            e.contains("x.kestrel") && e.contains("not a Kestrel session"),
            "{e}"
        );
        let mut s = session(&["a.tif"]);
        s.active = Some(3);
        std::fs::write(&f, serde_json::to_string(&s).unwrap()).unwrap();
        let e = load(&f).unwrap_err().to_string();
        assert!(e.contains("past its 1 layer"), "{e}");
        s.active = None;
        s.kestrel_session = 9;
        std::fs::write(&f, serde_json::to_string(&s).unwrap()).unwrap();
        let e = load(&f).unwrap_err().to_string();
        assert!(e.contains("format version 9"), "{e}");
        let e = load(&dir.path().join("absent.kestrel"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("absent.kestrel"), "{e}");
    }
}

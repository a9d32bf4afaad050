//! Pieces the headless commands share: progress printed on stderr, and the checks of input
//! and output paths made before any work (inputs that would block, outputs that would
//! overwrite an input or cannot be written).

use std::io::Write as _;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};

use crate::jobs::{CancelToken, Progress, ProgressSink};
use crate::raster::Scene;
use crate::raster::unreadable_reason;

/// Refuse an input that would block or never end when opened (a FIFO, a socket, a
/// device); `folders_ok` for scenes (a `.SAFE` product, a folder of band files). A missing
/// path passes: opening it says so.
pub fn check_input(path: &Path, folders_ok: bool) -> anyhow::Result<()> {
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(());
    };
    if meta.is_file() || (folders_ok && meta.is_dir()) {
        return Ok(());
    }
    bail!(
        "{} is not a regular file (it is {})",
        path.display(),
        crate::paths::file_kind(&meta)
    )
}

/// Open a scene, saying "cannot open PATH: reason" where the raster module found a plain
/// reason (see [`unreadable_reason`]). `context`: prefix other errors with "cannot open PATH".
pub fn open_scene(path: &Path, cancel: &CancelToken, context: bool) -> anyhow::Result<Scene> {
    Scene::open(path, cancel).map_err(|e| match unreadable_reason(path) {
        Some(reason) => anyhow!("cannot open {}: {reason}", path.display()),
        None if context => anyhow::Error::new(e).context(format!("cannot open {}", path.display())),
        None => anyhow::Error::new(e),
    })
}

/// Whether two paths name the same existing file (same device and inode on Unix, else the
/// same canonical path).
fn same_file(a: &Path, b: &Path) -> bool {
    let (Ok(ma), Ok(mb)) = (std::fs::metadata(a), std::fs::metadata(b)) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        ma.dev() == mb.dev() && ma.ino() == mb.ino()
    }
    #[cfg(not(unix))]
    {
        let _ = (ma, mb);
        matches!((std::fs::canonicalize(a), std::fs::canonicalize(b)), (Ok(x), Ok(y)) if x == y)
    }
}

/// Check output files before any work: none may be one of the inputs (or another output),
/// and each one's folder must exist and be writable. Errors name the user's paths. The
/// temporary files that killed runs left in those folders are removed
/// ([`crate::atomic::remove_stale_temp_files`]).
pub fn check_outputs<'a>(
    outputs: impl IntoIterator<Item = (&'static str, &'a Path)>,
    inputs: &[&Path],
) -> anyhow::Result<()> {
    let mut seen: Vec<(&str, &Path)> = Vec::new();
    for (flag, out) in outputs {
        if let Some(input) = inputs.iter().find(|i| same_file(i, out)) {
            bail!(
                "{flag} {} is the input {}: writing it would destroy the input; choose \
                 another file",
                out.display(),
                input.display()
            );
        }
        if let Some((other, _)) = seen.iter().find(|(_, p)| p == &out || same_file(p, out)) {
            bail!(
                "{flag} and {other} both name {}; give each its own file",
                out.display()
            );
        }
        seen.push((flag, out));
        if std::fs::metadata(out).is_ok_and(|m| m.is_dir()) {
            bail!("{flag} {} is a folder; give a file name", out.display());
        }
        let dir = match out.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        match std::fs::metadata(dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => bail!(
                "cannot write {flag} {}: {} is not a folder",
                out.display(),
                dir.display()
            ),
            Err(_) => bail!(
                "cannot write {flag} {}: the folder {} does not exist",
                out.display(),
                dir.display()
            ),
        }
        // temporary files of an earlier run killed while writing here (never a live
        // write's: those are locked)
        let removed =
            crate::atomic::remove_stale_temp_files(dir, crate::search::cache::STALE_TEMP_AGE);
        if removed > 0 {
            log::info!(
                "removed {removed} temporary file(s) of interrupted writes from {}",
                dir.display()
            );
        }
        // writable? (a probe file, removed at once; the real write is atomic, later)
        tempfile::Builder::new()
            .prefix(crate::atomic::TEMP_PREFIX)
            .tempfile_in(dir)
            .map_err(|e| std::io::Error::new(e.kind(), e.kind().to_string()))
            .with_context(|| {
                format!(
                    "cannot write {flag} {}: the folder {} is not writable",
                    out.display(),
                    dir.display()
                )
            })?;
    }
    Ok(())
}

/// How progress is shown on stderr (`--progress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressMode {
    /// A `\r` line on a terminal, else [`ProgressMode::Plain`].
    Auto,
    /// A plain line every few seconds (logs).
    Plain,
    /// A JSON object a line every few seconds (orchestrators).
    Json,
    /// Nothing.
    None,
}

/// How often the plain and JSON modes print.
pub const LOG_PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// Progress on stderr: on a terminal one `\r` line, at most a few updates per second;
/// otherwise (logs, pipes) a plain or JSON line every [`LOG_PROGRESS_EVERY`] and at the end.
pub struct StderrProgress {
    mode: ProgressMode,
    /// When the line was last printed, and for which label.
    last: Mutex<Option<(Instant, String)>>,
}

impl StderrProgress {
    /// `\r` line on a terminal, plain lines otherwise.
    pub fn new() -> Self {
        Self::with_mode(ProgressMode::Auto)
    }

    pub fn with_mode(mode: ProgressMode) -> Self {
        use std::io::IsTerminal as _;
        let mode = match mode {
            ProgressMode::Auto if std::io::stderr().is_terminal() => ProgressMode::Auto,
            ProgressMode::Auto => ProgressMode::Plain,
            m => m,
        };
        Self {
            mode,
            last: Mutex::new(None),
        }
    }

    /// End the progress line.
    pub fn finish(&self) {
        if let Ok(mut l) = self.last.lock()
            && l.take().is_some()
            && self.mode == ProgressMode::Auto
        {
            eprintln!();
        }
    }
}

impl Default for StderrProgress {
    fn default() -> Self {
        Self::new()
    }
}

impl ProgressSink for StderrProgress {
    fn report(&self, p: &Progress) {
        if self.mode == ProgressMode::None {
            return;
        }
        let Ok(mut last) = self.last.lock() else {
            return;
        };
        let now = Instant::now();
        let new_label = last.as_ref().is_none_or(|(_, l)| *l != p.label);
        let every = match self.mode {
            ProgressMode::Auto => Duration::from_millis(250),
            _ => LOG_PROGRESS_EVERY,
        };
        let due =
            new_label || last.as_ref().is_none_or(|(t, _)| now - *t > every) || p.done == p.total;
        if !due {
            return;
        }
        let mut err = std::io::stderr().lock();
        let had_line = last.is_some();
        *last = Some((now, p.label.clone()));
        let mut line = format!("{}: {}/{}", p.label, p.done, p.total);
        if p.rate() > 0.0 {
            line.push_str(&format!(" ({:.2}/s", p.rate()));
            if let Some(eta) = p.eta_secs() {
                line.push_str(&format!(", {eta:.0} s left"));
            }
            line.push(')');
        }
        let _ = match self.mode {
            ProgressMode::Auto => {
                if new_label && had_line {
                    let _ = writeln!(err);
                }
                write!(err, "\r{line}   ")
            }
            ProgressMode::Json => writeln!(
                err,
                "{}",
                serde_json::json!({
                    "event": "progress",
                    "label": p.label,
                    "done": p.done,
                    "total": p.total,
                    "elapsed_s": (p.elapsed_secs * 1000.0).round() / 1000.0,
                    "eta_s": p.eta_secs().map(|e| e.round()),
                })
            ),
            _ => writeln!(err, "kestrel: {line}"),
        };
        let _ = err.flush();
    }
}

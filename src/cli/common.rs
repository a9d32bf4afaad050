//! Pieces the headless commands share: progress printed on stderr.

use std::io::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::jobs::{Progress, ProgressSink};

/// Progress on stderr, at most a few updates per second, on one line.
pub struct StderrProgress {
    /// When the line was last printed, and for which label.
    last: Mutex<Option<(Instant, String)>>,
}

impl StderrProgress {
    pub fn new() -> Self {
        Self {
            last: Mutex::new(None),
        }
    }

    /// End the progress line.
    pub fn finish(&self) {
        if let Ok(mut l) = self.last.lock()
            && l.take().is_some()
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
        let Ok(mut last) = self.last.lock() else {
            return;
        };
        let now = Instant::now();
        let new_label = last.as_ref().is_some_and(|(_, l)| *l != p.label);
        let due = new_label
            || last
                .as_ref()
                .is_none_or(|(t, _)| now - *t > Duration::from_millis(250))
            || p.done == p.total;
        if !due {
            return;
        }
        let mut err = std::io::stderr().lock();
        if new_label {
            let _ = writeln!(err);
        }
        *last = Some((now, p.label.clone()));
        let mut line = format!("\r{}: {}/{}", p.label, p.done, p.total);
        if p.rate() > 0.0 {
            line.push_str(&format!(" ({:.2}/s", p.rate()));
            if let Some(eta) = p.eta_secs() {
                line.push_str(&format!(", {eta:.0} s left"));
            }
            line.push(')');
        }
        let _ = write!(err, "{line}   ");
        let _ = err.flush();
    }
}

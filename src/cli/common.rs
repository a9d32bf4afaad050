//! Pieces the headless commands share: loading the model from `--model/--config/--device/
//! --dtype`, and progress printed on stderr.

use std::io::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::{DeviceArg, DtypeArg, ModelArgs};
use crate::jobs::{CancelToken, Progress, ProgressSink};
use crate::model::device::{DevicePreference, Precision};
use crate::model::{Embedder, ModelSpec};

impl ModelArgs {
    pub fn spec(&self) -> ModelSpec {
        ModelSpec {
            checkpoint: self.model.clone(),
            config: self.config.clone(),
            device: match self.device {
                DeviceArg::Auto => DevicePreference::Auto,
                DeviceArg::Cpu => DevicePreference::Cpu,
                DeviceArg::Cuda => DevicePreference::Cuda,
                DeviceArg::Metal => DevicePreference::Metal,
            },
            precision: match self.dtype {
                DtypeArg::F32 => Precision::F32,
                DtypeArg::F16 => Precision::F16,
                DtypeArg::Bf16 => Precision::Bf16,
            },
        }
    }

    /// Load the model, reporting on stderr which device runs it and why.
    pub fn load(&self) -> anyhow::Result<Embedder> {
        let progress = StderrProgress::new();
        let e = Embedder::load(&self.spec(), &progress, &CancelToken::new())
            .context("cannot load the model")?;
        progress.finish();
        eprintln!(
            "kestrel: model {} on {}",
            e.model_name(),
            e.device_description()
        );
        Ok(e)
    }
}

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

//! Background jobs: named worker threads, progress reporting and cooperative cancellation.
//!
//! A job is a closure run on its own named thread. It receives a [`JobContext`] through
//! which it reports [`Progress`] and checks for cancellation between units of work
//! (a band read, a batch of tiles). The owner keeps a [`JobHandle`]; dropping the handle
//! cancels the job. The UI polls handles once per frame; a job that finishes wakes the
//! UI through the `on_update` callback (usually `egui::Context::request_repaint`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender, TryRecvError};

/// A cheap, clonable cancellation flag.
#[derive(Clone, Debug, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
    /// `Err(Cancelled)` once cancelled, for use with `?` inside workers.
    pub fn check(&self) -> Result<(), Cancelled> {
        if self.is_cancelled() {
            Err(Cancelled)
        } else {
            Ok(())
        }
    }
}

/// The error a job returns when it stopped because it was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cancelled")]
pub struct Cancelled;

/// Progress of a job: `done` of `total` units, with a human label.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub label: String,
    pub done: u64,
    pub total: u64,
    /// Seconds since the job started.
    pub elapsed_secs: f64,
}

impl Progress {
    pub fn fraction(&self) -> f32 {
        if self.total == 0 {
            0.0
        } else {
            (self.done as f64 / self.total as f64).clamp(0.0, 1.0) as f32
        }
    }
    /// Units per second so far.
    pub fn rate(&self) -> f64 {
        if self.elapsed_secs > 0.0 {
            self.done as f64 / self.elapsed_secs
        } else {
            0.0
        }
    }
    /// Estimated seconds left, if a rate is known.
    pub fn eta_secs(&self) -> Option<f64> {
        let r = self.rate();
        (r > 0.0 && self.total >= self.done).then(|| (self.total - self.done) as f64 / r)
    }
}

/// Something that wants to hear about progress (a closure, the CLI's stderr printer, a
/// channel to the UI).
pub trait ProgressSink: Send + Sync {
    fn report(&self, p: &Progress);
}

impl<F: Fn(&Progress) + Send + Sync> ProgressSink for F {
    fn report(&self, p: &Progress) {
        self(p);
    }
}

/// A sink that ignores progress.
pub struct NoProgress;
impl ProgressSink for NoProgress {
    fn report(&self, _: &Progress) {}
}

/// What a running job sees: its cancel token and a way to report progress.
pub struct JobContext {
    pub cancel: CancelToken,
    started: Instant,
    progress_tx: Sender<Progress>,
    on_update: Arc<dyn Fn() + Send + Sync>,
}

impl JobContext {
    /// Report progress (non-blocking; a slow consumer only sees the latest values).
    pub fn progress(&self, label: impl Into<String>, done: u64, total: u64) {
        let p = Progress {
            label: label.into(),
            done,
            total,
            elapsed_secs: self.started.elapsed().as_secs_f64(),
        };
        let _ = self.progress_tx.try_send(p);
        (self.on_update)();
    }
    pub fn check(&self) -> Result<(), Cancelled> {
        self.cancel.check()
    }
}

impl ProgressSink for JobContext {
    fn report(&self, p: &Progress) {
        self.progress(p.label.clone(), p.done, p.total);
    }
}

/// Handle to a running job producing `T`. Dropping it cancels the job.
pub struct JobHandle<T> {
    name: String,
    cancel: CancelToken,
    progress_rx: Receiver<Progress>,
    result_rx: Receiver<T>,
    last_progress: Option<Progress>,
    finished: bool,
}

/// State of a job as seen from its owner.
pub enum Poll<T> {
    Running(Option<Progress>),
    Done(T),
    /// The worker thread vanished without a result (it panicked).
    Lost,
}

impl<T: Send + 'static> JobHandle<T> {
    /// Spawn `work` on a named thread. `on_update` is called whenever progress or the
    /// result is available (e.g. to request a repaint).
    pub fn spawn<F>(name: &str, on_update: Arc<dyn Fn() + Send + Sync>, work: F) -> Self
    where
        F: FnOnce(&JobContext) -> T + Send + 'static,
    {
        let cancel = CancelToken::new();
        let (progress_tx, progress_rx) = crossbeam_channel::bounded(64);
        let (result_tx, result_rx) = crossbeam_channel::bounded(1);
        let ctx = JobContext {
            cancel: cancel.clone(),
            started: Instant::now(),
            progress_tx,
            on_update: on_update.clone(),
        };
        let spawned = thread::Builder::new()
            .name(format!("kestrel-{name}"))
            .spawn(move || {
                let out = work(&ctx);
                let _ = result_tx.send(out);
                on_update();
            });
        if let Err(e) = spawned {
            log::error!("cannot spawn worker thread {name}: {e}");
        }
        Self {
            name: name.to_owned(),
            cancel,
            progress_rx,
            result_rx,
            last_progress: None,
            finished: false,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Non-blocking poll; call once per frame.
    pub fn poll(&mut self) -> Poll<T> {
        while let Ok(p) = self.progress_rx.try_recv() {
            self.last_progress = Some(p);
        }
        match self.result_rx.try_recv() {
            Ok(v) => {
                self.finished = true;
                Poll::Done(v)
            }
            Err(TryRecvError::Empty) => Poll::Running(self.last_progress.clone()),
            Err(TryRecvError::Disconnected) => Poll::Lost,
        }
    }

    /// Block until the job ends (CLI and tests).
    pub fn join(self) -> Option<T> {
        self.result_rx.recv().ok()
    }
}

impl<T> Drop for JobHandle<T> {
    fn drop(&mut self) {
        if !self.finished {
            self.cancel.cancel();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn job_reports_progress_and_result() {
        let mut h = JobHandle::spawn("t", Arc::new(|| {}), |ctx| {
            for i in 0..3 {
                ctx.progress("step", i + 1, 3);
            }
            42
        });
        let v = loop {
            match h.poll() {
                Poll::Done(v) => break v,
                Poll::Running(_) => thread::sleep(Duration::from_millis(1)),
                Poll::Lost => panic!("lost"),
            }
        };
        assert_eq!(v, 42);
        assert_eq!(h.last_progress.as_ref().map(|p| p.done), Some(3));
    }

    #[test]
    fn cancel_stops_a_loop() {
        let h = JobHandle::spawn("c", Arc::new(|| {}), |ctx| {
            let mut n = 0u64;
            while ctx.check().is_ok() {
                n += 1;
                thread::sleep(Duration::from_millis(1));
            }
            n
        });
        thread::sleep(Duration::from_millis(20));
        h.cancel();
        let n = h.join().unwrap();
        assert!(n > 0);
    }

    #[test]
    fn progress_rate_and_eta() {
        let p = Progress {
            label: String::new(),
            done: 10,
            total: 30,
            elapsed_secs: 5.0,
        };
        assert_eq!(p.rate(), 2.0);
        assert_eq!(p.eta_secs(), Some(10.0));
        assert!((p.fraction() - 1.0 / 3.0).abs() < 1e-6);
    }
}

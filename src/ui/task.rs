//! The UI's plumbing for work off the UI thread, in one place: [`Task`] holds one job and
//! its last result (kept while a newer job runs, as rerun keeps the previous value, so a
//! panel never flickers empty), [`Dialog`] runs a native file dialog (rfd) on a thread, and
//! [`repainter`] wakes the UI when a worker has news.
//!
//! Nothing here blocks: [`Task::poll`] and [`Dialog::poll`] are called once per frame.

use std::sync::Arc;

use crossbeam_channel::Receiver;

use crate::jobs::{JobContext, JobHandle, Poll, Progress};

/// A callback that asks egui for a repaint (given to workers and dialogs).
pub fn repainter(ctx: &egui::Context) -> Arc<dyn Fn() + Send + Sync> {
    let ctx = ctx.clone();
    Arc::new(move || ctx.request_repaint())
}

/// What [`Task::poll`] saw this frame.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskEvent {
    /// Nothing new (idle, or still running).
    Nothing,
    /// A job finished; its value is now [`Task::value`].
    Finished,
    /// A job failed; the message (with its causes) is also kept as [`Task::error`].
    Failed(String),
}

/// One background job producing `T`, plus the last value a job produced.
///
/// Starting a job cancels the running one (its handle is dropped); the previous value stays
/// until the new one arrives. A failure keeps the previous value too, and records the error.
pub struct Task<T> {
    running: Option<JobHandle<anyhow::Result<T>>>,
    progress: Option<Progress>,
    value: Option<T>,
    error: Option<String>,
}

impl<T> Default for Task<T> {
    fn default() -> Self {
        Self {
            running: None,
            progress: None,
            value: None,
            error: None,
        }
    }
}

impl<T: Send + 'static> Task<T> {
    /// Start `work` on a named worker thread (cancelling a running one).
    pub fn start<F>(&mut self, name: &str, ctx: &egui::Context, work: F)
    where
        F: FnOnce(&JobContext) -> anyhow::Result<T> + Send + 'static,
    {
        self.running = Some(JobHandle::spawn(name, repainter(ctx), work));
        self.progress = None;
        self.error = None;
    }

    /// Poll the running job; call once per frame.
    pub fn poll(&mut self) -> TaskEvent {
        let Some(job) = &mut self.running else {
            return TaskEvent::Nothing;
        };
        match job.poll() {
            Poll::Running(p) => {
                if p.is_some() {
                    self.progress = p;
                }
                TaskEvent::Nothing
            }
            Poll::Done(result) => {
                self.running = None;
                self.progress = None;
                match result {
                    Ok(v) => {
                        self.value = Some(v);
                        TaskEvent::Finished
                    }
                    Err(e) => self.fail(crate::report::error_line(e.as_ref())),
                }
            }
            Poll::Lost => {
                self.running = None;
                self.progress = None;
                self.fail("the worker stopped unexpectedly".into())
            }
        }
    }

    fn fail(&mut self, message: String) -> TaskEvent {
        self.error = Some(message.clone());
        TaskEvent::Failed(message)
    }
}

impl<T> Task<T> {
    pub fn value(&self) -> Option<&T> {
        self.value.as_ref()
    }
    /// Take the value out (for results that are handed on, not kept here).
    pub fn take(&mut self) -> Option<T> {
        self.value.take()
    }
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }
    /// The running job's latest progress.
    pub fn progress(&self) -> Option<&Progress> {
        self.progress.as_ref()
    }
    /// The last job's failure, until the next job starts.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }
    /// Record a failure found before any job could start (e.g. bad input in a form).
    pub fn set_error(&mut self, message: impl Into<String>) {
        self.error = Some(message.into());
    }
    /// Cancel the running job, if any (the value stays; dropping the handle cancels it).
    pub fn cancel(&mut self) {
        self.running = None;
        self.progress = None;
    }
    /// Cancel and forget everything.
    pub fn clear(&mut self) {
        self.cancel();
        self.value = None;
        self.error = None;
    }
}

/// A native file dialog running on its own thread (rfd's xdg-portal backend may be driven
/// from any thread on Linux; on the UI thread it would block the frame loop). `T` is what the
/// caller makes of the picked path.
pub struct Dialog<T> {
    rx: Option<Receiver<Option<T>>>,
}

/// What [`Dialog::poll`] saw.
#[derive(Debug, Clone, PartialEq)]
pub enum DialogEvent<T> {
    /// Idle, or still open.
    Nothing,
    Picked(T),
    Cancelled,
    /// The dialog could not be shown (its thread ended without an answer: no portal or
    /// zenity on Linux).
    Failed,
}

impl<T> DialogEvent<T> {
    /// The pick, if there was one.
    pub fn picked(self) -> Option<T> {
        match self {
            DialogEvent::Picked(v) => Some(v),
            _ => None,
        }
    }
}

impl<T> Default for Dialog<T> {
    fn default() -> Self {
        Self { rx: None }
    }
}

impl<T: Send + 'static> Dialog<T> {
    /// Open a dialog: `show` runs on the dialog thread and returns `None` when cancelled.
    /// Does nothing while this dialog is already open.
    pub fn open<F>(&mut self, name: &str, ctx: &egui::Context, show: F)
    where
        F: FnOnce() -> Option<T> + Send + 'static,
    {
        if self.rx.is_some() {
            return;
        }
        let (tx, rx) = crossbeam_channel::bounded(1);
        let wake = repainter(ctx);
        let spawned = std::thread::Builder::new()
            .name(format!("kestrel-{name}"))
            .spawn(move || {
                let _ = tx.send(show());
                wake();
            });
        match spawned {
            Ok(_) => self.rx = Some(rx),
            Err(e) => log::error!("cannot start the {name} dialog: {e}"),
        }
    }

    /// What happened since the last frame.
    pub fn poll(&mut self) -> DialogEvent<T> {
        let Some(rx) = self.rx.as_ref() else {
            return DialogEvent::Nothing;
        };
        match rx.try_recv() {
            Ok(picked) => {
                self.rx = None;
                picked.map_or(DialogEvent::Cancelled, DialogEvent::Picked)
            }
            Err(crossbeam_channel::TryRecvError::Empty) => DialogEvent::Nothing,
            Err(crossbeam_channel::TryRecvError::Disconnected) => {
                self.rx = None;
                DialogEvent::Failed
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn wait<T: Send + 'static>(t: &mut Task<T>) -> TaskEvent {
        let start = Instant::now();
        loop {
            let e = t.poll();
            if e != TaskEvent::Nothing || !t.is_running() {
                return e;
            }
            assert!(start.elapsed() < Duration::from_secs(10), "task hangs");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn keeps_the_previous_value_while_a_new_job_runs_and_after_a_failure() {
        let ctx = egui::Context::default();
        let mut t = Task::default();
        t.start("a", &ctx, |_| Ok(1));
        assert_eq!(wait(&mut t), TaskEvent::Finished);
        assert_eq!(t.value(), Some(&1));
        let (go_tx, go_rx) = crossbeam_channel::bounded::<()>(1);
        t.start("b", &ctx, move |_| {
            go_rx.recv().ok();
            Ok(2)
        });
        assert_eq!(t.poll(), TaskEvent::Nothing);
        assert!(t.is_running());
        assert_eq!(
            t.value(),
            Some(&1),
            "the old value stays while the new job runs"
        );
        go_tx.send(()).unwrap();
        assert_eq!(wait(&mut t), TaskEvent::Finished);
        assert_eq!(t.value(), Some(&2));
        t.start(
            "c",
            &ctx,
            |_| Err(anyhow::anyhow!("inner").context("outer")),
        );
        assert_eq!(wait(&mut t), TaskEvent::Failed("outer: inner".into()));
        assert_eq!(t.value(), Some(&2));
        assert_eq!(t.error(), Some("outer: inner"));
    }

    #[test]
    fn a_new_job_cancels_the_running_one() {
        let ctx = egui::Context::default();
        let mut t: Task<u32> = Task::default();
        let (seen_tx, seen_rx) = crossbeam_channel::bounded(1);
        t.start("slow", &ctx, move |jc| {
            while !jc.cancel.is_cancelled() {
                std::thread::sleep(Duration::from_millis(1));
            }
            seen_tx.send(()).ok();
            Ok(0)
        });
        t.start("fast", &ctx, |_| Ok(7));
        seen_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the first job saw its cancellation");
        assert_eq!(wait(&mut t), TaskEvent::Finished);
        assert_eq!(t.value(), Some(&7));
    }
}

//! File › Export map view…: the map as drawn (layers, heatmaps, footprints, scale bar)
//! saved as a georeferenced GeoTIFF or PNG. The frame is captured with egui's screenshot
//! command, cut to the map's rectangle on a worker and written by
//! [`crate::export::view_image`] in Web Mercator, the map's own projection (the same writer
//! as `kestrel render`).

use std::path::PathBuf;
use std::sync::Arc;

use crossbeam_channel::Receiver;

use super::KestrelApp;
use crate::export::view_image::{ImageFormat, write_view_image};
use crate::raster::Bounds;
use crate::ui::swipe::CompareMode;
use crate::ui::task::{DialogEvent, TaskEvent};

/// A screenshot asked for, and where its map part goes.
pub(super) struct PendingCapture {
    path: PathBuf,
    format: ImageFormat,
    /// The map's rectangle (points) and what it showed.
    rect: egui::Rect,
    bounds: Bounds,
    pixels_per_point: f32,
    rx: Receiver<Arc<egui::ColorImage>>,
}

impl KestrelApp {
    /// Save the map as it is drawn now to `path` (`.tif`/`.tiff` or `.png`).
    pub fn export_view_to(&mut self, path: PathBuf, ctx: &egui::Context) {
        let Some(format) = ImageFormat::from_path(&path) else {
            self.error(format!(
                "{}: a map view is saved as .tif or .png",
                path.display()
            ));
            return;
        };
        if self
            .layer_swipe
            .is_some_and(|s| s.mode == CompareMode::SideBySide)
        {
            self.error("the two maps side by side are not one georeferenced view: switch to one map to export it");
            return;
        }
        let Some(bounds) = self.view_bounds_3857 else {
            self.error("the map has not been drawn yet");
            return;
        };
        let (tx, rx) = crossbeam_channel::bounded(1);
        let wake = ctx.clone();
        ctx.send_viewport_cmd(egui::ViewportCommand::Screenshot(
            egui::ScreenshotCallback::new(move |image| {
                let _ = tx.send(image);
                wake.request_repaint();
            }),
        ));
        self.capture = Some(PendingCapture {
            path,
            format,
            rect: self.map_rect,
            bounds,
            pixels_per_point: ctx.pixels_per_point(),
            rx,
        });
    }

    /// Whether a map view is being captured or written.
    pub fn view_export_busy(&self) -> bool {
        self.capture.is_some() || self.view_export_job.is_running()
    }

    pub(super) fn ask_export_view(&mut self, ctx: &egui::Context) {
        self.view_export_dialog.open("export-view-dialog", ctx, || {
            rfd::FileDialog::new()
                .set_file_name("kestrel-view.tif")
                .add_filter("GeoTIFF", &["tif", "tiff"])
                .add_filter("PNG with world file", &["png"])
                .save_file()
        });
    }

    /// The dialog's answer, the screenshot when it arrives, the write when it is done.
    pub(super) fn poll_view_export(&mut self, ctx: &egui::Context) {
        match self.view_export_dialog.poll() {
            DialogEvent::Picked(p) => self.export_view_to(p, ctx),
            DialogEvent::Failed => {
                self.error("the file dialog could not be shown (no portal or zenity)")
            }
            DialogEvent::Nothing | DialogEvent::Cancelled => {}
        }
        if let Some(c) = &self.capture
            && let Ok(image) = c.rx.try_recv()
        {
            let c = self.capture.take().expect("checked above");
            self.view_export_job.start("export-view", ctx, move |_| {
                let (rgba, w, h) = crop(&image, c.rect, c.pixels_per_point);
                write_view_image(&c.path, &rgba, w, h, &c.bounds, c.format)?;
                Ok(c.path)
            });
        }
        match self.view_export_job.poll() {
            TaskEvent::Finished => {
                if let Some(p) = self.view_export_job.take() {
                    self.info(format!("map view saved to {}", p.display()));
                }
            }
            TaskEvent::Failed(e) => self.error(e),
            TaskEvent::Nothing => {}
        }
    }
}

/// The pixels of `rect` (points) in a screenshot taken at `ppp` pixels per point, as RGBA
/// rows, with their width and height.
fn crop(image: &egui::ColorImage, rect: egui::Rect, ppp: f32) -> (Vec<u8>, usize, usize) {
    let [iw, ih] = image.size;
    let x0 = ((rect.left() * ppp).round().max(0.0) as usize).min(iw);
    let y0 = ((rect.top() * ppp).round().max(0.0) as usize).min(ih);
    let x1 = ((rect.right() * ppp).round().max(0.0) as usize).clamp(x0, iw);
    let y1 = ((rect.bottom() * ppp).round().max(0.0) as usize).clamp(y0, ih);
    let (w, h) = (x1 - x0, y1 - y0);
    let mut out = Vec::with_capacity(w * h * 4);
    for y in y0..y1 {
        for p in &image.pixels[y * iw + x0..y * iw + x1] {
            out.extend_from_slice(&p.to_srgba_unmultiplied());
        }
    }
    (out, w, h)
}

//! The pixel inspector: click the map to read every band of the selected scene at that
//! point (on a worker), then show coordinates, raw and harmonised values, reflectance and
//! the spectral profile.

use std::sync::Arc;

use egui::{RichText, Ui};
use egui_plot::{Line, Plot, PlotPoints, Points};

use super::task::Task;
use crate::raster::Scene;
use crate::raster::pixel::{PixelQuery, PixelReport};

#[derive(Default)]
pub struct Inspector {
    /// The last pixel read (kept while the next one is read, and after a failure).
    report: Task<PixelReport>,
    /// Where the user clicked (lon, lat), drawn as a marker.
    pub marker: Option<(f64, f64)>,
}

impl Inspector {
    pub fn inspect(&mut self, scene: Arc<Scene>, lon: f64, lat: f64, ctx: &egui::Context) {
        self.marker = Some((lon, lat));
        self.report.start("inspect", ctx, move |jc| {
            Ok(scene.pixel_values(PixelQuery::LonLat { lon, lat }, &jc.cancel)?)
        });
    }

    pub fn poll(&mut self) {
        self.report.poll();
    }

    /// The last pixel read.
    pub fn report(&self) -> Option<&PixelReport> {
        self.report.value()
    }

    pub fn ui(&self, ui: &mut Ui) {
        if self.report.is_running() {
            ui.spinner();
        }
        if let Some(e) = self.report.error() {
            ui.colored_label(egui::Color32::from_rgb(255, 120, 120), e);
        }
        let Some(r) = self.report.value() else {
            ui.label("Click the map to inspect a pixel of the selected scene.");
            return;
        };
        ui.label(format!("lat {:.6}°, lon {:.6}°", r.lat, r.lon));
        ui.label(format!(
            "scene x {:.1}, y {:.1}  (col {}, row {})",
            r.x, r.y, r.col, r.row
        ));
        if !r.inside {
            ui.label(RichText::new("outside the scene").italics());
            return;
        }
        egui::Grid::new("pixel-values")
            .num_columns(4)
            .striped(true)
            .show(ui, |ui| {
                ui.label(RichText::new("band").strong());
                ui.label(RichText::new("raw").strong());
                ui.label(RichText::new("×10000").strong());
                ui.label(RichText::new("refl.").strong());
                ui.end_row();
                for v in &r.values {
                    ui.label(&v.name);
                    ui.label(v.raw.map_or("nodata".into(), |x| format!("{x}")));
                    ui.label(v.value.map_or(String::new(), |x| format!("{x:.0}")));
                    match (v.reflectance, v.class_name) {
                        (Some(x), _) => ui.label(format!("{x:.4}")),
                        (None, Some(c)) => ui.label(c),
                        _ => ui.label(""),
                    };
                    ui.end_row();
                }
            });
        if r.profile.len() >= 2 {
            ui.label(RichText::new("Spectral profile").small());
            Plot::new("spectral-profile")
                .height(150.0)
                .x_axis_label("wavelength (nm)")
                .allow_scroll(false)
                .include_y(0.0)
                .show(ui, |plot| {
                    let pts: Vec<[f64; 2]> = r.profile.iter().map(|(w, v)| [*w, *v]).collect();
                    plot.line(Line::new("reflectance", PlotPoints::from(pts.clone())));
                    plot.points(Points::new("bands", PlotPoints::from(pts)).radius(3.0));
                });
        }
    }
}

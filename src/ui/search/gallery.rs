//! The gallery of hits: the best visible tiles of a ranking as image chips cut from the
//! scene's overview texture already on the GPU (no read, no worker: a chip is a UV
//! rectangle of that texture), each with its rank, score and label state; a click selects
//! the tile and centres the map on it, + / − label it.

use egui::{Color32, RichText, Ui};

use super::SearchPanel;
use crate::raster::georef::lonlat_to_web_mercator;
use crate::search::index::TileIndex;
use crate::search::labels::Label;
use crate::ui::LayerId;
use crate::ui::command::Command;
use crate::ui::scene_layer::GeoTexture;

/// Chips in the gallery at most.
const MAX_CHIPS: usize = 12;
const CHIP_PX: f32 = 64.0;

/// The UV rectangle of a lon/lat bounding box in a Web Mercator texture.
fn chip_uv(tex: &GeoTexture, lonlat_bbox: [f64; 4]) -> Option<egui::Rect> {
    let b = &tex.bounds;
    let (w, h) = (b.max_x - b.min_x, b.max_y - b.min_y);
    if w <= 0.0 || h <= 0.0 {
        return None;
    }
    let (x0, y0) = lonlat_to_web_mercator(lonlat_bbox[0], lonlat_bbox[1]);
    let (x1, y1) = lonlat_to_web_mercator(lonlat_bbox[2], lonlat_bbox[3]);
    let u = |x: f64| ((x - b.min_x) / w) as f32;
    let v = |y: f64| ((b.max_y - y) / h) as f32;
    Some(egui::Rect::from_min_max(
        egui::pos2(u(x0), v(y1)),
        egui::pos2(u(x1), v(y0)),
    ))
}

impl SearchPanel {
    pub(super) fn gallery_ui(
        &mut self,
        ui: &mut Ui,
        layer: LayerId,
        hits: &[(usize, f32)],
        index: &TileIndex,
        overview: Option<&GeoTexture>,
        commands: &mut Vec<Command>,
    ) {
        egui::CollapsingHeader::new("Gallery of hits")
            .default_open(true)
            .show(ui, |ui| {
                let Some(tex) = overview else {
                    ui.label("(the scene preview is still rendering)");
                    return;
                };
                ui.horizontal_wrapped(|ui| {
                    for (rank, &(i, score)) in hits.iter().enumerate().take(MAX_CHIPS) {
                        let Some(t) = index.tiles.get(i) else {
                            continue;
                        };
                        let Some(uv) = t.bounds_wgs84().and_then(|b| chip_uv(tex, b)) else {
                            continue;
                        };
                        let label = self.labels_of(layer).and_then(|s| s.get(t)).cloned();
                        let frame = match &label {
                            Some(Label::Positive) => Color32::from_rgb(60, 220, 90),
                            Some(Label::Negative) => Color32::from_rgb(240, 70, 70),
                            Some(Label::Class(_)) => Color32::from_rgb(250, 210, 90),
                            None if self.selected == Some(i) => Color32::WHITE,
                            None => Color32::from_gray(70),
                        };
                        // a fixed cell, so the wrapped row knows when to break
                        let cell = egui::vec2(CHIP_PX + 8.0, CHIP_PX + 48.0);
                        ui.allocate_ui_with_layout(
                            cell,
                            egui::Layout::top_down(egui::Align::Min),
                            |ui| {
                                ui.set_max_width(cell.x);
                                let img = egui::Image::new((
                                    tex.texture.id(),
                                    egui::vec2(CHIP_PX, CHIP_PX),
                                ))
                                .uv(uv)
                                .sense(egui::Sense::click());
                                let resp = egui::Frame::new()
                                    .stroke(egui::Stroke::new(2.0, frame))
                                    .inner_margin(1.0)
                                    .show(ui, |ui| ui.add(img))
                                    .inner;
                                let mark = match &label {
                                    Some(Label::Positive) => " +",
                                    Some(Label::Negative) => " −",
                                    Some(Label::Class(_)) => " •",
                                    None => "",
                                };
                                let text = ui.selectable_label(
                                    self.selected == Some(i),
                                    RichText::new(format!("#{} {score:.3}{mark}", rank + 1))
                                        .small(),
                                );
                                if resp.clicked() || text.clicked() {
                                    self.selected = Some(i);
                                    commands.push(Command::CentreOn {
                                        lon: t.centre_lonlat[0],
                                        lat: t.centre_lonlat[1],
                                    });
                                }
                                ui.horizontal(|ui| {
                                    if ui
                                        .small_button("+")
                                        .on_hover_text("label positive")
                                        .clicked()
                                    {
                                        self.label_tile(layer, i, Some(Label::Positive));
                                    }
                                    if ui
                                        .small_button("−")
                                        .on_hover_text("label negative")
                                        .clicked()
                                    {
                                        self.label_tile(layer, i, Some(Label::Negative));
                                    }
                                });
                            },
                        );
                    }
                });
            });
    }
}

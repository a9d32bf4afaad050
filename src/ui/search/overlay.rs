//! The search results on the map: the heatmap (viridis over the visible ranked tiles) or
//! the class map, skipped tiles as grey outlines, example and selected tiles outlined; the
//! tile under the pointer and its tooltip.

use egui::Color32;
use walkers::Projector;

use super::{Mode, SearchPanel, class_color};
use crate::raster::colormap;
use crate::search::record::TileRecord;
use crate::search::tiling::point_in_ring;
use crate::ui::overlays::draw_lonlat_ring;
use crate::ui::{LayerId, geo};

impl SearchPanel {
    /// The ranked tiles that pass the threshold and the top-N filter.
    pub fn visible_ranked(&self, layer: LayerId) -> Vec<(usize, f32)> {
        let top = if self.settings.top_n_only {
            self.settings.top_n
        } else {
            usize::MAX
        };
        self.result_for(layer)
            .map(|r| r.visible(self.threshold, top).collect())
            .unwrap_or_default()
    }

    /// Draw the heatmap or class map of `layer` on the map.
    pub fn draw_overlay(&self, painter: &egui::Painter, projector: &Projector, layer: LayerId) {
        let Some(index) = self.index_of(layer) else {
            return;
        };
        let alpha = if self.heat_hidden {
            0.0
        } else {
            self.settings.heat_opacity
        };
        match self.mode {
            Mode::Search => {
                if let (Some(_), Some((lo, hi))) = (self.result_for(layer), self.heat_range(layer))
                {
                    let fill_a = |p: &egui::Painter| {
                        let ranked = self.visible_ranked(layer);
                        fill_heat(p, projector, &index.tiles, ranked, (lo, hi), alpha);
                    };
                    // comparing two models by swipe: A left of the divider, B right
                    if !self.draw_swipe(painter, projector, layer, &fill_a) {
                        fill_a(painter);
                    }
                }
            }
            Mode::Classify => {
                if let Some(r) = self.classes_for(layer) {
                    for (i, t) in index.tiles.iter().enumerate() {
                        if let Some(k) = r.top(i) {
                            fill_tile(painter, projector, t, class_color(k).gamma_multiply(alpha));
                        }
                    }
                }
            }
        }
        // skipped tiles: grey outlines so they are visibly not searched
        for t in &index.tiles {
            if t.embedding.is_none() {
                draw_lonlat_ring(
                    painter,
                    projector,
                    &t.polygon_wgs84,
                    egui::Stroke::new(1.0, Color32::from_gray(120)),
                );
            }
        }
        if self.examples_layer != Some(layer) {
            return;
        }
        for (set, color) in [
            (&self.positives, Color32::from_rgb(60, 220, 90)),
            (&self.negatives, Color32::from_rgb(240, 70, 70)),
        ] {
            for &i in set {
                if let Some(t) = index.tiles.get(i) {
                    draw_lonlat_ring(
                        painter,
                        projector,
                        &t.polygon_wgs84,
                        egui::Stroke::new(2.0, color),
                    );
                }
            }
        }
        if let Some(t) = self.selected.and_then(|i| index.tiles.get(i)) {
            draw_lonlat_ring(
                painter,
                projector,
                &t.polygon_wgs84,
                egui::Stroke::new(2.5, Color32::WHITE),
            );
        }
    }

    /// The tile of `layer` under a lon/lat point.
    pub fn tile_at(&self, layer: LayerId, lon: f64, lat: f64) -> Option<usize> {
        let index = self.index_of(layer)?;
        index
            .tiles
            .iter()
            .position(|t| point_in_ring(lon, lat, &t.polygon_wgs84))
    }

    /// Tooltip text for a tile under the pointer.
    pub fn hover_text(&self, layer: LayerId, tile: usize) -> Option<String> {
        let index = self.index_of(layer)?;
        let t = index.tiles.get(tile)?;
        let mut s = format!("tile r{} c{} ({})", t.row, t.col, t.status);
        if let Some(c) = t.cloud_fraction {
            s.push_str(&format!("\ncloud {:.0} %", c * 100.0));
        }
        s.push_str(&format!("\nnodata {:.0} %", t.nodata_fraction * 100.0));
        match self.mode {
            Mode::Search => {
                if let Some(Some(v)) = self.result_for(layer).and_then(|r| r.scores.get(tile)) {
                    s.push_str(&format!("\nscore {v:.4}"));
                }
            }
            Mode::Classify => {
                if let Some(r) = self.classes_for(layer)
                    && let Some(Some(p)) = r.probs.get(tile)
                {
                    for (c, v) in r.classes.iter().zip(p) {
                        s.push_str(&format!("\n{c}: {v:.3}"));
                    }
                }
            }
        }
        Some(s)
    }
}

/// Fill `ranked` tiles of `tiles` with viridis over the score range `lo_hi`.
pub(super) fn fill_heat(
    painter: &egui::Painter,
    projector: &Projector,
    tiles: &[TileRecord],
    ranked: impl IntoIterator<Item = (usize, f32)>,
    (lo, hi): (f32, f32),
    alpha: f32,
) {
    let ramp = colormap::viridis();
    for (i, s) in ranked {
        let c = ramp.color_scaled(s, lo, hi).unwrap_or([0, 0, 0]);
        if let Some(t) = tiles.get(i) {
            fill_tile(
                painter,
                projector,
                t,
                Color32::from_rgb(c[0], c[1], c[2]).gamma_multiply(alpha),
            );
        }
    }
}

fn fill_tile(painter: &egui::Painter, projector: &Projector, t: &TileRecord, color: Color32) {
    // The ring is closed and starts at the top-left corner; tiles are small enough that the
    // quad of their projected outline is convex.
    let pts: Vec<egui::Pos2> = t
        .polygon_wgs84
        .iter()
        .take(t.polygon_wgs84.len().saturating_sub(1))
        .map(|p| geo::lonlat_to_screen(projector, p[0], p[1]))
        .collect();
    if pts.len() >= 3 {
        painter.add(egui::Shape::convex_polygon(pts, color, egui::Stroke::NONE));
    }
}

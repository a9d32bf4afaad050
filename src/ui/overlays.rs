//! Drawing on top of the map: georeferenced images (scene renders, heatmaps), tile outlines,
//! the graticule, the attribution and the scale bar. Pure painting; no state, no I/O.

use egui::{Align2, Color32, FontId, Mesh, Painter, Rect, Shape, Stroke, TextureId, pos2};
use walkers::Projector;

use super::geo::{lonlat_to_screen, merc_rect_to_screen};
use crate::raster::Bounds;

/// Draw a texture that covers `bounds` (EPSG:3857) exactly.
pub fn draw_georef_image(
    painter: &Painter,
    projector: &Projector,
    tex: TextureId,
    bounds: &Bounds,
    opacity: f32,
) {
    let rect = merc_rect_to_screen(projector, bounds);
    if !rect.intersects(painter.clip_rect()) {
        return;
    }
    let tint = Color32::from_white_alpha((opacity.clamp(0.0, 1.0) * 255.0).round() as u8);
    let mut mesh = Mesh::with_texture(tex);
    mesh.add_rect_with_uv(
        rect,
        Rect::from_min_max(pos2(0.0, 0.0), pos2(1.0, 1.0)),
        tint,
    );
    painter.add(Shape::mesh(mesh));
}

/// Draw a closed lon/lat ring as an outline.
pub fn draw_lonlat_ring(
    painter: &Painter,
    projector: &Projector,
    ring: &[[f64; 2]],
    stroke: Stroke,
) {
    if ring.len() < 2 {
        return;
    }
    let pts: Vec<_> = ring
        .iter()
        .map(|p| lonlat_to_screen(projector, p[0], p[1]))
        .collect();
    painter.add(Shape::closed_line(pts, stroke));
}

/// Graticule spacing in degrees for the current zoom: the finest "nice" step whose lines
/// are still at least 100 points apart.
pub fn graticule_step_deg(zoom: f64) -> f64 {
    const STEPS: [f64; 12] = [
        0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0,
    ];
    // At zoom z the world is 2^z * 256 points wide.
    let px_per_deg = 2f64.powf(zoom) * 256.0 / 360.0;
    STEPS
        .into_iter()
        .find(|s| s * px_per_deg >= 100.0)
        .unwrap_or(30.0)
}

/// Lines of latitude and longitude with labels; drawn when there is no basemap.
pub fn draw_graticule(painter: &Painter, projector: &Projector) {
    let clip = painter.clip_rect();
    let nw = projector.unproject(clip.min.to_vec2());
    let se = projector.unproject(clip.max.to_vec2());
    let (lon0, lon1) = (nw.x().max(-180.0), se.x().min(180.0));
    let (lat0, lat1) = (se.y().max(-85.0), nw.y().min(85.0));
    if lon0 >= lon1 || lat0 >= lat1 {
        return;
    }
    let step = graticule_step_deg(projector.zoom());
    let stroke = Stroke::new(1.0, Color32::from_gray(90));
    let text_color = Color32::from_gray(150);
    let font = FontId::monospace(10.0);
    let decimals = if step >= 1.0 {
        0
    } else if step >= 0.1 {
        1
    } else {
        2
    };
    let mut lon = (lon0 / step).floor() * step;
    while lon <= lon1 {
        let a = lonlat_to_screen(projector, lon, lat0);
        let b = lonlat_to_screen(projector, lon, lat1);
        painter.line_segment([a, b], stroke);
        painter.text(
            pos2(a.x + 2.0, clip.max.y - 14.0),
            Align2::LEFT_TOP,
            format!("{lon:.decimals$}°"),
            font.clone(),
            text_color,
        );
        lon += step;
    }
    let mut lat = (lat0 / step).floor() * step;
    while lat <= lat1 {
        let a = lonlat_to_screen(projector, lon0, lat);
        let b = lonlat_to_screen(projector, lon1, lat);
        painter.line_segment([a, b], stroke);
        painter.text(
            pos2(clip.min.x + 2.0, a.y - 12.0),
            Align2::LEFT_TOP,
            format!("{lat:.decimals$}°"),
            font.clone(),
            text_color,
        );
        lat += step;
    }
}

/// A scale bar in the lower-left corner.
pub fn draw_scale_bar(painter: &Painter, projector: &Projector) {
    let clip = painter.clip_rect();
    let anchor = pos2(clip.min.x + 12.0, clip.max.y - 28.0);
    let here = projector.unproject(anchor.to_vec2());
    let px_per_m = f64::from(projector.scale_pixel_per_meter(here));
    if !(px_per_m.is_finite() && px_per_m > 0.0) {
        return;
    }
    let target_m = 120.0 / px_per_m;
    let mag = 10f64.powf(target_m.log10().floor());
    let nice = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|k| k * mag)
        .rfind(|v| *v <= target_m)
        .unwrap_or(mag);
    let len_px = (nice * px_per_m) as f32;
    let label = if nice >= 1000.0 {
        format!("{} km", nice / 1000.0)
    } else {
        format!("{nice} m")
    };
    let stroke = Stroke::new(2.0, Color32::WHITE);
    let bg = Rect::from_min_max(
        pos2(anchor.x - 4.0, anchor.y - 16.0),
        pos2(anchor.x + len_px + 4.0, anchor.y + 6.0),
    );
    painter.rect_filled(bg, 3.0, Color32::from_black_alpha(140));
    painter.line_segment([anchor, pos2(anchor.x + len_px, anchor.y)], stroke);
    painter.line_segment([anchor, pos2(anchor.x, anchor.y - 5.0)], stroke);
    painter.line_segment(
        [
            pos2(anchor.x + len_px, anchor.y),
            pos2(anchor.x + len_px, anchor.y - 5.0),
        ],
        stroke,
    );
    painter.text(
        pos2(anchor.x + len_px / 2.0, anchor.y - 4.0),
        Align2::CENTER_BOTTOM,
        label,
        FontId::proportional(11.0),
        Color32::WHITE,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graticule_step_shrinks_with_zoom() {
        let coarse = graticule_step_deg(3.0);
        let fine = graticule_step_deg(12.0);
        assert!(coarse > fine, "{coarse} {fine}");
        // at zoom 12 one degree is ~2913 points; 0.05° is ~146 points apart
        assert_eq!(fine, 0.05);
    }
}

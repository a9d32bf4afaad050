//! Small geographic helpers for the map view: conversion between Web Mercator
//! (EPSG:3857) rectangles, lon/lat points and the screen through walkers' projector. The
//! Mercator maths itself is [`crate::raster::georef`]'s.

use egui::{Pos2, Rect};
use walkers::{Projector, lon_lat};

use crate::raster::Bounds;
use crate::raster::georef::{lonlat_to_web_mercator, web_mercator_to_lonlat};

/// Screen position of a point given in EPSG:3857.
pub fn merc_to_screen(projector: &Projector, x: f64, y: f64) -> Pos2 {
    let (lon, lat) = web_mercator_to_lonlat(x, y);
    projector.project(lon_lat(lon, lat)).to_pos2()
}

/// Screen position of a lon/lat point.
pub fn lonlat_to_screen(projector: &Projector, lon: f64, lat: f64) -> Pos2 {
    projector.project(lon_lat(lon, lat)).to_pos2()
}

/// Screen rectangle of a Mercator rectangle (exact: the map itself is Web Mercator).
pub fn merc_rect_to_screen(projector: &Projector, r: &Bounds) -> Rect {
    let a = merc_to_screen(projector, r.min_x, r.max_y);
    let b = merc_to_screen(projector, r.max_x, r.min_y);
    Rect::from_two_pos(a, b)
}

/// Mercator rectangle currently visible in `rect` (usually the map's clip rect).
pub fn visible_merc_rect(projector: &Projector, rect: Rect) -> Bounds {
    let nw = projector.unproject(rect.min.to_vec2());
    let se = projector.unproject(rect.max.to_vec2());
    let (x0, y0) = lonlat_to_web_mercator(nw.x(), nw.y());
    let (x1, y1) = lonlat_to_web_mercator(se.x(), se.y());
    Bounds::new(x0.min(x1), y0.min(y1), x0.max(x1), y0.max(y1))
}

/// Web Mercator zoom level that fits `r` into a viewport of `size` screen points
/// (walkers uses 256 px tiles: zoom z shows 2^z * 256 points around the world).
pub fn zoom_to_fit(r: &Bounds, size: egui::Vec2) -> f64 {
    let world = 2.0 * crate::raster::georef::WEB_MERCATOR_HALF_WORLD;
    let zx = (f64::from(size.x.max(1.0)) * world / (256.0 * r.width().max(1.0))).log2();
    let zy = (f64::from(size.y.max(1.0)) * world / (256.0 * r.height().max(1.0))).log2();
    (zx.min(zy) - 0.2).clamp(1.0, 19.0)
}

/// Centre of a Mercator rectangle as lon/lat.
pub fn centre_lonlat(r: &Bounds) -> (f64, f64) {
    let (x, y) = r.center();
    web_mercator_to_lonlat(x, y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zoom_to_fit_a_demo_sized_scene() {
        // the demo scene: about 15.4 x 12.7 km in Web Mercator at 52.5 N
        let r = Bounds::new(1_389_000.0, 6_883_000.0, 1_414_300.0, 6_895_700.0);
        let z = zoom_to_fit(&r, egui::vec2(800.0, 600.0));
        // 2^z * 256 / 40075016 m per point must fit 25.3 km into 800 points
        let fitted_m =
            800.0 * crate::raster::georef::WEB_MERCATOR_HALF_WORLD * 2.0 / (256.0 * 2f64.powf(z));
        assert!(fitted_m >= r.width(), "{z}: {fitted_m}");
        assert!(z > 11.0 && z < 13.0, "{z}");
        let (lon, lat) = centre_lonlat(&r);
        assert!(
            (lon - 12.59).abs() < 0.05 && (lat - 52.49).abs() < 0.1,
            "{lon} {lat}"
        );
    }
}

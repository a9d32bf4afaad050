//! Small geographic helpers for the map view: spherical Web Mercator (EPSG:3857) maths and
//! conversion between map coordinates and screen rectangles through walkers' projector.

use egui::{Pos2, Rect};
use walkers::{Projector, lon_lat};

/// Earth radius used by Web Mercator (EPSG:3857), metres.
pub const R: f64 = 6_378_137.0;
/// Latitude limit of Web Mercator.
pub const MAX_LAT: f64 = 85.051_128_779_806_59;

/// A rectangle in EPSG:3857 metres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MercRect {
    pub min_x: f64,
    pub min_y: f64,
    pub max_x: f64,
    pub max_y: f64,
}

impl MercRect {
    pub fn width(&self) -> f64 {
        self.max_x - self.min_x
    }
    pub fn height(&self) -> f64 {
        self.max_y - self.min_y
    }
    pub fn intersect(&self, o: &MercRect) -> Option<MercRect> {
        let r = MercRect {
            min_x: self.min_x.max(o.min_x),
            min_y: self.min_y.max(o.min_y),
            max_x: self.max_x.min(o.max_x),
            max_y: self.max_y.min(o.max_y),
        };
        (r.min_x < r.max_x && r.min_y < r.max_y).then_some(r)
    }
    pub fn contains(&self, o: &MercRect) -> bool {
        o.min_x >= self.min_x
            && o.max_x <= self.max_x
            && o.min_y >= self.min_y
            && o.max_y <= self.max_y
    }
    pub fn from_bounds(b: &crate::raster::Bounds) -> Self {
        Self {
            min_x: b.min_x,
            min_y: b.min_y,
            max_x: b.max_x,
            max_y: b.max_y,
        }
    }
    pub fn from_array(a: [f64; 4]) -> Self {
        Self {
            min_x: a[0],
            min_y: a[1],
            max_x: a[2],
            max_y: a[3],
        }
    }
    pub fn to_array(self) -> [f64; 4] {
        [self.min_x, self.min_y, self.max_x, self.max_y]
    }
}

pub fn lonlat_to_merc(lon: f64, lat: f64) -> (f64, f64) {
    let lat = lat.clamp(-MAX_LAT, MAX_LAT);
    let x = R * lon.to_radians();
    let y = R
        * (std::f64::consts::FRAC_PI_4 + lat.to_radians() / 2.0)
            .tan()
            .ln();
    (x, y)
}

pub fn merc_to_lonlat(x: f64, y: f64) -> (f64, f64) {
    let lon = (x / R).to_degrees();
    let lat = (2.0 * (y / R).exp().atan() - std::f64::consts::FRAC_PI_2).to_degrees();
    (lon, lat)
}

/// Screen position of a point given in EPSG:3857.
pub fn merc_to_screen(projector: &Projector, x: f64, y: f64) -> Pos2 {
    let (lon, lat) = merc_to_lonlat(x, y);
    projector.project(lon_lat(lon, lat)).to_pos2()
}

/// Screen position of a lon/lat point.
pub fn lonlat_to_screen(projector: &Projector, lon: f64, lat: f64) -> Pos2 {
    projector.project(lon_lat(lon, lat)).to_pos2()
}

/// Screen rectangle of a Mercator rectangle (exact: the map itself is Web Mercator).
pub fn merc_rect_to_screen(projector: &Projector, r: &MercRect) -> Rect {
    let a = merc_to_screen(projector, r.min_x, r.max_y);
    let b = merc_to_screen(projector, r.max_x, r.min_y);
    Rect::from_two_pos(a, b)
}

/// Mercator rectangle currently visible in `rect` (usually the map's clip rect).
pub fn visible_merc_rect(projector: &Projector, rect: Rect) -> MercRect {
    let nw = projector.unproject(rect.min.to_vec2());
    let se = projector.unproject(rect.max.to_vec2());
    let (x0, y0) = lonlat_to_merc(nw.x(), nw.y());
    let (x1, y1) = lonlat_to_merc(se.x(), se.y());
    MercRect {
        min_x: x0.min(x1),
        min_y: y0.min(y1),
        max_x: x0.max(x1),
        max_y: y0.max(y1),
    }
}

/// Web Mercator zoom level that fits `r` into a viewport of `size` screen points
/// (walkers uses 256 px tiles: zoom z shows 2^z * 256 points around the world).
pub fn zoom_to_fit(r: &MercRect, size: egui::Vec2) -> f64 {
    let world = 2.0 * std::f64::consts::PI * R;
    let zx = (f64::from(size.x.max(1.0)) * world / (256.0 * r.width().max(1.0))).log2();
    let zy = (f64::from(size.y.max(1.0)) * world / (256.0 * r.height().max(1.0))).log2();
    (zx.min(zy) - 0.2).clamp(1.0, 19.0)
}

/// Centre of a Mercator rectangle as lon/lat.
pub fn centre_lonlat(r: &MercRect) -> (f64, f64) {
    merc_to_lonlat((r.min_x + r.max_x) / 2.0, (r.min_y + r.max_y) / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mercator_round_trip_and_known_values() {
        let (x, y) = lonlat_to_merc(12.61, 52.49);
        // gdaltransform -s_srs EPSG:4326 -t_srs EPSG:3857 <<< "12.61 52.49"
        assert!((x - 1_403_738.778_903).abs() < 1e-3, "{x}");
        assert!((y - 6_889_213.309_215).abs() < 1e-3, "{y}");
        let (lon, lat) = merc_to_lonlat(x, y);
        assert!((lon - 12.61).abs() < 1e-9 && (lat - 52.49).abs() < 1e-9);
    }

    #[test]
    fn rect_ops() {
        let a = MercRect::from_array([0.0, 0.0, 10.0, 10.0]);
        let b = MercRect::from_array([5.0, 5.0, 20.0, 20.0]);
        assert_eq!(
            a.intersect(&b),
            Some(MercRect::from_array([5.0, 5.0, 10.0, 10.0]))
        );
        assert!(
            a.intersect(&MercRect::from_array([11.0, 11.0, 12.0, 12.0]))
                .is_none()
        );
        assert!(b.contains(&MercRect::from_array([6.0, 6.0, 7.0, 7.0])));
    }
}

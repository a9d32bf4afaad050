//! The bundled offline basemap: Natural Earth 1:110m country outlines (public domain),
//! drawn as lines when OpenStreetMap tiles are unavailable or switched off.

use std::io::Read as _;

use egui::{Color32, Painter, Pos2, Shape, Stroke};
use walkers::Projector;

use crate::ui::geo::lonlat_to_screen;

static COUNTRIES_GZ: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/basemap/ne_110m_countries.geojson.gz"
));

/// One outline ring with its lon/lat bounding box (for culling).
struct Ring {
    bbox: [f64; 4],
    points: Vec<[f64; 2]>,
}

/// Country outlines in lon/lat.
pub struct WorldOutline {
    rings: Vec<Ring>,
}

impl WorldOutline {
    /// Decode the bundled outlines. Returns `None` (and logs) if the asset is unreadable,
    /// which would be a build defect, not a user error.
    pub fn bundled() -> Option<Self> {
        let mut json = String::new();
        if let Err(e) = flate2::read::GzDecoder::new(COUNTRIES_GZ).read_to_string(&mut json) {
            log::error!("bundled basemap is unreadable: {e}");
            return None;
        }
        match Self::from_geojson(&json) {
            Ok(w) => Some(w),
            Err(e) => {
                log::error!("bundled basemap is invalid: {e}");
                None
            }
        }
    }

    fn from_geojson(json: &str) -> Result<Self, serde_json::Error> {
        let v: serde_json::Value = serde_json::from_str(json)?;
        let mut rings = Vec::new();
        let features = v["features"].as_array().cloned().unwrap_or_default();
        for f in features {
            let geom = &f["geometry"];
            let polys: Vec<serde_json::Value> = match geom["type"].as_str() {
                Some("Polygon") => vec![geom["coordinates"].clone()],
                Some("MultiPolygon") => geom["coordinates"].as_array().cloned().unwrap_or_default(),
                _ => continue,
            };
            for poly in polys {
                for ring in poly.as_array().into_iter().flatten() {
                    let points: Vec<[f64; 2]> = ring
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|p| Some([p.get(0)?.as_f64()?, p.get(1)?.as_f64()?]))
                        .collect();
                    if points.len() < 2 {
                        continue;
                    }
                    let mut bbox = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
                    for p in &points {
                        bbox = [
                            bbox[0].min(p[0]),
                            bbox[1].min(p[1]),
                            bbox[2].max(p[0]),
                            bbox[3].max(p[1]),
                        ];
                    }
                    rings.push(Ring { bbox, points });
                }
            }
        }
        Ok(Self { rings })
    }

    pub fn ring_count(&self) -> usize {
        self.rings.len()
    }

    /// Draw the outlines that intersect the visible area.
    pub fn draw(&self, painter: &Painter, projector: &Projector) {
        let clip = painter.clip_rect();
        let nw = projector.unproject(clip.min.to_vec2());
        let se = projector.unproject(clip.max.to_vec2());
        let view = [nw.x(), se.y(), se.x(), nw.y()];
        let stroke = Stroke::new(1.0, Color32::from_rgb(110, 130, 150));
        for r in &self.rings {
            if r.bbox[2] < view[0]
                || r.bbox[0] > view[2]
                || r.bbox[3] < view[1]
                || r.bbox[1] > view[3]
            {
                continue;
            }
            let pts: Vec<Pos2> = r
                .points
                .iter()
                .map(|p| lonlat_to_screen(projector, p[0], p[1]))
                .collect();
            painter.add(Shape::line(pts, stroke));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_outlines_decode() {
        let w = WorldOutline::bundled().expect("bundled basemap");
        // Natural Earth 110m admin-0: 177 countries, more rings (islands).
        assert!(w.ring_count() > 250, "{}", w.ring_count());
        // Germany's ring is inside Europe's bounds.
        assert!(
            w.rings.iter().any(|r| r.bbox[0] > 5.0
                && r.bbox[2] < 16.0
                && r.bbox[1] > 47.0
                && r.bbox[3] < 56.0)
        );
    }
}

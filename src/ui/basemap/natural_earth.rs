//! The bundled regional basemap: Natural Earth coastlines and country borders at 1:110m,
//! 1:50m and 1:10m (public domain), and GeoNames places of 15,000 or more inhabitants
//! (CC BY 4.0), from `assets/basemap/natural_earth.bin.gz` (made by
//! `packaging/basemap/make_basemap.py`, whose docstring describes the format).
//!
//! Decoding takes a few hundred milliseconds, so it runs once on a worker
//! ([`NaturalEarth::bundled`] is called from a `Task`), never per frame. Drawing picks the
//! level of detail from the zoom, draws only the line pieces whose box meets the view, and
//! labels places most populous first, leaving out a label that would overlap one already
//! placed.

use std::io::Read as _;
use std::time::{Duration, Instant};

use egui::{Align2, Color32, FontId, Painter, Pos2, Rect, Shape, Stroke, pos2, vec2};
use walkers::Projector;

use crate::ui::geo::lonlat_to_screen;

static ASSET_GZ: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/basemap/natural_earth.bin.gz"
));

/// What a line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    Coast,
    Border,
}

/// A piece of a line (at most [`PIECE`] points), with its lon/lat box for culling.
struct Piece {
    kind: LineKind,
    /// W, S, E, N.
    bbox: [f32; 4],
    points: Vec<[f32; 2]>,
}

/// Lines longer than this are cut into pieces, so that culling leaves out most of a long
/// coastline that is mostly off the map.
const PIECE: usize = 64;

/// One level of detail (one Natural Earth scale).
struct Level {
    pieces: Vec<Piece>,
}

/// A named place.
#[derive(Debug, Clone)]
pub struct Place {
    pub lon: f32,
    pub lat: f32,
    pub population: u32,
    pub name: String,
}

/// The decoded basemap.
pub struct NaturalEarth {
    /// 1:110m, 1:50m, 1:10m.
    levels: Vec<Level>,
    /// Most populous first.
    places: Vec<Place>,
}

/// What one frame drew (for tests and the debug log).
#[derive(Debug, Clone, Copy, Default)]
pub struct DrawStats {
    /// Index of the level of detail (0 = 1:110m, 2 = 1:10m).
    pub level: usize,
    pub pieces: usize,
    pub labels: usize,
    pub time: Duration,
}

/// The level of detail for a map zoom: 1:110m for the world, 1:50m for a continent, 1:10m
/// from about a country upwards.
pub fn level_for_zoom(zoom: f64) -> usize {
    if zoom < 3.0 {
        0
    } else if zoom < 5.0 {
        1
    } else {
        2
    }
}

/// The smallest population labelled at a zoom (place names only from zoom 4).
fn min_population(zoom: f64) -> Option<u32> {
    Some(match zoom {
        z if z < 4.0 => return None,
        z if z < 5.0 => 1_000_000,
        z if z < 6.0 => 300_000,
        z if z < 7.0 => 100_000,
        z if z < 8.0 => 40_000,
        _ => 0,
    })
}

/// At most this many labels in a frame (a dense region stays readable and cheap).
const MAX_LABELS: usize = 120;

const COAST: Color32 = Color32::from_rgb(70, 110, 160);
const BORDER: Color32 = Color32::from_rgb(150, 120, 150);
const PLACE: Color32 = Color32::from_rgb(60, 60, 70);

struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, String> {
        let b = *self.data.get(self.at).ok_or("the data ends early")?;
        self.at += 1;
        Ok(b)
    }
    fn bytes(&mut self, n: usize) -> Result<&[u8], String> {
        let s = self
            .data
            .get(self.at..self.at + n)
            .ok_or("the data ends early")?;
        self.at += n;
        Ok(s)
    }
    fn f64(&mut self) -> Result<f64, String> {
        let b = self.bytes(8)?;
        Ok(f64::from_le_bytes(b.try_into().expect("8 bytes")))
    }
    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("a number is too long".into())
    }
    fn zigzag(&mut self) -> Result<i64, String> {
        let v = self.varint()?;
        Ok((v >> 1) as i64 ^ -((v & 1) as i64))
    }
    fn count(&mut self) -> Result<usize, String> {
        let n = self.varint()?;
        // nothing in the asset is larger than its own length
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= self.data.len())
            .ok_or_else(|| format!("a count of {n} is not plausible"))
    }
}

impl NaturalEarth {
    /// Decode the bundled asset (a build defect if it fails, not a user error).
    pub fn bundled() -> Result<Self, String> {
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(ASSET_GZ)
            .read_to_end(&mut raw)
            .map_err(|e| format!("the bundled basemap is unreadable: {e}"))?;
        Self::decode(&raw).map_err(|e| format!("the bundled basemap is invalid: {e}"))
    }

    fn decode(raw: &[u8]) -> Result<Self, String> {
        let mut r = Reader { data: raw, at: 0 };
        if r.bytes(4)? != b"KNEB" || r.byte()? != 1 {
            return Err("not a version 1 basemap".into());
        }
        let nlevels = r.byte()?;
        let mut levels = Vec::new();
        for _ in 0..nlevels {
            let (sx, sy, tx, ty) = (r.f64()?, r.f64()?, r.f64()?, r.f64()?);
            let nlines = r.count()?;
            let mut pieces = Vec::new();
            for _ in 0..nlines {
                let kind = match r.byte()? {
                    0 => LineKind::Coast,
                    1 => LineKind::Border,
                    k => return Err(format!("line kind {k}")),
                };
                let n = r.count()?;
                let (mut x, mut y) = (0i64, 0i64);
                let mut points = Vec::with_capacity(n);
                for _ in 0..n {
                    x += r.zigzag()?;
                    y += r.zigzag()?;
                    points.push([(tx + x as f64 * sx) as f32, (ty + y as f64 * sy) as f32]);
                }
                // pieces share their end points, so the line stays unbroken
                let mut start = 0;
                while start + 1 < points.len() {
                    let end = (start + PIECE).min(points.len() - 1);
                    let pts = points[start..=end].to_vec();
                    pieces.push(Piece {
                        kind,
                        bbox: bbox(&pts),
                        points: pts,
                    });
                    start = end;
                }
            }
            levels.push(Level { pieces });
        }
        let nplaces = r.count()?;
        let mut places = Vec::with_capacity(nplaces);
        for _ in 0..nplaces {
            let lon = r.zigzag()? as f32 / 1e4;
            let lat = r.zigzag()? as f32 / 1e4;
            let population = u32::try_from(r.varint()?).unwrap_or(u32::MAX);
            let len = r.count()?;
            let name = String::from_utf8_lossy(r.bytes(len)?).into_owned();
            places.push(Place {
                lon,
                lat,
                population,
                name,
            });
        }
        if levels.is_empty() {
            return Err("no lines".into());
        }
        Ok(Self { levels, places })
    }

    /// Line pieces per level of detail.
    pub fn piece_counts(&self) -> Vec<usize> {
        self.levels.iter().map(|l| l.pieces.len()).collect()
    }

    pub fn places(&self) -> &[Place] {
        &self.places
    }

    /// Draw coastlines, borders and place names for the visible area of `painter`.
    pub fn draw(&self, painter: &Painter, projector: &Projector, zoom: f64) -> DrawStats {
        let t0 = Instant::now();
        let clip = painter.clip_rect();
        let nw = projector.unproject(clip.min.to_vec2());
        let se = projector.unproject(clip.max.to_vec2());
        let view = [nw.x() as f32, se.y() as f32, se.x() as f32, nw.y() as f32];
        let level = level_for_zoom(zoom).min(self.levels.len() - 1);
        let coast = Stroke::new(1.2, COAST);
        let border = Stroke::new(1.0, BORDER);
        let mut pieces = 0;
        for p in &self.levels[level].pieces {
            if !intersects(&p.bbox, &view) {
                continue;
            }
            pieces += 1;
            let pts: Vec<Pos2> = p
                .points
                .iter()
                .map(|q| lonlat_to_screen(projector, f64::from(q[0]), f64::from(q[1])))
                .collect();
            let stroke = match p.kind {
                LineKind::Coast => coast,
                LineKind::Border => border,
            };
            painter.add(Shape::line(pts, stroke));
        }
        let labels = match min_population(zoom) {
            Some(min) => self.draw_places(painter, projector, &view, min),
            None => 0,
        };
        let stats = DrawStats {
            level,
            pieces,
            labels,
            time: t0.elapsed(),
        };
        log::debug!("offline basemap: {stats:?}");
        stats
    }

    /// Label the visible places of at least `min` inhabitants, most populous first, none
    /// overlapping another; returns how many.
    fn draw_places(
        &self,
        painter: &Painter,
        projector: &Projector,
        view: &[f32; 4],
        min: u32,
    ) -> usize {
        let font = FontId::proportional(12.0);
        let clip = painter.clip_rect();
        let mut taken: Vec<Rect> = Vec::new();
        for p in &self.places {
            if p.population < min || taken.len() >= MAX_LABELS {
                break;
            }
            if p.lon < view[0] || p.lon > view[2] || p.lat < view[1] || p.lat > view[3] {
                continue;
            }
            let at = lonlat_to_screen(projector, f64::from(p.lon), f64::from(p.lat));
            // the label's box, guessed from the name's length, for the overlap test (laying
            // the text out first would cost a galley per candidate)
            let w = 6.5 * p.name.chars().count() as f32 + 8.0;
            let rect = Rect::from_min_size(pos2(at.x - 3.0, at.y - 8.0), vec2(w, 16.0));
            if !clip.intersects(rect) || taken.iter().any(|t| t.intersects(rect)) {
                continue;
            }
            taken.push(rect);
            painter.circle_filled(at, 2.5, PLACE);
            let text_at = pos2(at.x + 5.0, at.y);
            // a light halo keeps the name readable over lines and imagery
            for d in [
                vec2(-1.0, 0.0),
                vec2(1.0, 0.0),
                vec2(0.0, -1.0),
                vec2(0.0, 1.0),
            ] {
                painter.text(
                    text_at + d,
                    Align2::LEFT_CENTER,
                    &p.name,
                    font.clone(),
                    Color32::from_white_alpha(200),
                );
            }
            painter.text(text_at, Align2::LEFT_CENTER, &p.name, font.clone(), PLACE);
        }
        taken.len()
    }
}

fn bbox(points: &[[f32; 2]]) -> [f32; 4] {
    points
        .iter()
        .fold([f32::MAX, f32::MAX, f32::MIN, f32::MIN], |b, p| {
            [
                b[0].min(p[0]),
                b[1].min(p[1]),
                b[2].max(p[0]),
                b[3].max(p[1]),
            ]
        })
}

fn intersects(a: &[f32; 4], b: &[f32; 4]) -> bool {
    a[2] >= b[0] && a[0] <= b[2] && a[3] >= b[1] && a[1] <= b[3]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_basemap_decodes_with_three_levels_and_ranked_places() {
        let t0 = Instant::now();
        let ne = NaturalEarth::bundled().unwrap();
        eprintln!(
            "decoded in {:?}: pieces {:?}",
            t0.elapsed(),
            ne.piece_counts()
        );
        let counts = ne.piece_counts();
        assert_eq!(counts.len(), 3);
        assert!(counts[0] < counts[1] && counts[1] < counts[2], "{counts:?}");
        // most populous first; Berlin is there, near its true place
        assert!(
            ne.places
                .windows(2)
                .all(|w| w[0].population >= w[1].population)
        );
        assert!(ne.places.len() > 30_000);
        let berlin = ne.places.iter().find(|p| p.name == "Berlin").unwrap();
        assert!((berlin.lon - 13.41).abs() < 0.05 && (berlin.lat - 52.52).abs() < 0.05);
        // the 1:10m coast passes near Rügen's Kap Arkona (13.43 E, 54.68 N)
        let near = ne.levels[2].pieces.iter().any(|p| {
            p.kind == LineKind::Coast
                && p.points
                    .iter()
                    .any(|q| (q[0] - 13.43).abs() < 0.03 && (q[1] - 54.68).abs() < 0.03)
        });
        assert!(near);
        // a border: Germany and Poland meet on the Oder near Frankfurt (14.55 E, 52.34 N)
        assert!(
            ne.levels[2]
                .pieces
                .iter()
                .any(|p| p.kind == LineKind::Border
                    && intersects(&p.bbox, &[14.4, 52.2, 14.7, 52.5]))
        );
    }

    #[test]
    fn a_truncated_asset_is_refused() {
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(ASSET_GZ)
            .read_to_end(&mut raw)
            .unwrap();
        assert!(NaturalEarth::decode(&raw[..raw.len() / 2]).is_err());
        assert!(NaturalEarth::decode(b"KNEB\x02").is_err());
    }
}

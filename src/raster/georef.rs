//! Georeferencing: geotransforms (pixel ↔ scene CRS), bounds, and coordinate transforms
//! between the scene CRS, WGS84 (lon/lat) and Web Mercator (EPSG:3857).
//!
//! WGS84 ↔ Web Mercator is closed-form ([`lonlat_to_web_mercator`]) and needs no GDAL.
//! Transforms involving the scene CRS go through PROJ: [`CrsTransformer`] owns GDAL
//! objects that are not `Send`, so create one on the thread that uses it (cheap). Its
//! errors ([`GeorefError`]) carry PROJ's message; callers name the file.

use gdal::spatial_ref::{AxisMappingStrategy, CoordTransform, SpatialRef};
use serde::Serialize;

use super::error::gdal_message;

/// Why GDAL/PROJ refused a coordinate reference system or a transformation.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GeorefError {
    /// The CRS definition (WKT, `EPSG:n`) is not understood.
    #[error("CRS not recognised: {0}")]
    Crs(String),
    /// There is no transformation between two CRSs.
    #[error("no transformation between the CRSs: {0}")]
    Transform(String),
    /// Points or bounds could not be transformed (e.g. outside the CRS's area of use).
    #[error("coordinates cannot be transformed: {0}")]
    Coordinates(String),
}

/// Earth radius of the spherical Web Mercator projection (EPSG:3857), metres.
pub const WEB_MERCATOR_RADIUS: f64 = 6_378_137.0;
/// Half the width of the Web Mercator world, metres.
pub const WEB_MERCATOR_HALF_WORLD: f64 = std::f64::consts::PI * WEB_MERCATOR_RADIUS;

/// An axis-aligned rectangle.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct Bounds {
    pub min_x: f64,
    pub min_y: f64,
    pub max_x: f64,
    pub max_y: f64,
}

impl Bounds {
    pub fn new(min_x: f64, min_y: f64, max_x: f64, max_y: f64) -> Bounds {
        Bounds {
            min_x,
            min_y,
            max_x,
            max_y,
        }
    }
    /// The Web Mercator rectangle of a lon/lat box (latitudes clamped to ±85°, where the
    /// projection ends).
    pub fn web_mercator_of_lonlat(west: f64, south: f64, east: f64, north: f64) -> Bounds {
        let (x0, y0) = lonlat_to_web_mercator(west, south.clamp(-85.0, 85.0));
        let (x1, y1) = lonlat_to_web_mercator(east, north.clamp(-85.0, 85.0));
        Bounds::new(x0.min(x1), y0.min(y1), x0.max(x1), y0.max(y1))
    }

    pub fn width(&self) -> f64 {
        self.max_x - self.min_x
    }
    pub fn height(&self) -> f64 {
        self.max_y - self.min_y
    }
    pub fn center(&self) -> (f64, f64) {
        (
            (self.min_x + self.max_x) / 2.0,
            (self.min_y + self.max_y) / 2.0,
        )
    }
    pub fn intersects(&self, o: &Bounds) -> bool {
        self.min_x < o.max_x && o.min_x < self.max_x && self.min_y < o.max_y && o.min_y < self.max_y
    }
    pub fn contains(&self, x: f64, y: f64) -> bool {
        x >= self.min_x && x <= self.max_x && y >= self.min_y && y <= self.max_y
    }
    /// The overlap of two rectangles, if they overlap.
    pub fn intersection(&self, o: &Bounds) -> Option<Bounds> {
        let r = Bounds::new(
            self.min_x.max(o.min_x),
            self.min_y.max(o.min_y),
            self.max_x.min(o.max_x),
            self.max_y.min(o.max_y),
        );
        (r.min_x < r.max_x && r.min_y < r.max_y).then_some(r)
    }
}

/// A north-up pixel grid: size plus GDAL geotransform
/// `[origin_x, pixel_width, 0, origin_y, 0, -pixel_height]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Grid {
    pub width: usize,
    pub height: usize,
    pub geo_transform: [f64; 6],
}

impl Grid {
    /// Pixel size in CRS units (positive).
    pub fn resolution(&self) -> f64 {
        self.geo_transform[1].abs()
    }

    /// CRS coordinates of a pixel-space position (`col`, `row` may be fractional:
    /// `(0, 0)` is the top-left corner of the first pixel, `(0.5, 0.5)` its centre).
    pub fn pixel_to_crs(&self, col: f64, row: f64) -> (f64, f64) {
        let g = &self.geo_transform;
        (
            g[0] + col * g[1] + row * g[2],
            g[3] + col * g[4] + row * g[5],
        )
    }

    /// Pixel-space position of CRS coordinates (north-up grids).
    pub fn crs_to_pixel(&self, x: f64, y: f64) -> (f64, f64) {
        let g = &self.geo_transform;
        ((x - g[0]) / g[1], (y - g[3]) / g[5])
    }

    pub fn bounds(&self) -> Bounds {
        let (x0, y0) = self.pixel_to_crs(0.0, 0.0);
        let (x1, y1) = self.pixel_to_crs(self.width as f64, self.height as f64);
        Bounds::new(x0.min(x1), y0.min(y1), x0.max(x1), y0.max(y1))
    }

    /// Points along the outline of the grid, `per_edge` per edge, clockwise from the
    /// top-left corner, closed (first point repeated).
    pub fn outline(&self, per_edge: usize) -> Vec<(f64, f64)> {
        let n = per_edge.max(1);
        let (w, h) = (self.width as f64, self.height as f64);
        let mut pts = Vec::with_capacity(4 * n + 1);
        for i in 0..n {
            pts.push((w * i as f64 / n as f64, 0.0));
        }
        for i in 0..n {
            pts.push((w, h * i as f64 / n as f64));
        }
        for i in 0..n {
            pts.push((w * (1.0 - i as f64 / n as f64), h));
        }
        for i in 0..n {
            pts.push((0.0, h * (1.0 - i as f64 / n as f64)));
        }
        pts.push((0.0, 0.0));
        pts.into_iter()
            .map(|(c, r)| self.pixel_to_crs(c, r))
            .collect()
    }
}

/// WGS84 lon/lat (degrees) → Web Mercator metres.
pub fn lonlat_to_web_mercator(lon: f64, lat: f64) -> (f64, f64) {
    let lat = lat.clamp(-85.051_128_779_806_6, 85.051_128_779_806_6);
    let x = WEB_MERCATOR_RADIUS * lon.to_radians();
    let y = WEB_MERCATOR_RADIUS
        * (std::f64::consts::FRAC_PI_4 + lat.to_radians() / 2.0)
            .tan()
            .ln();
    (x, y)
}

/// Web Mercator metres → WGS84 lon/lat (degrees).
pub fn web_mercator_to_lonlat(x: f64, y: f64) -> (f64, f64) {
    let lon = (x / WEB_MERCATOR_RADIUS).to_degrees();
    let lat =
        (2.0 * (y / WEB_MERCATOR_RADIUS).exp().atan() - std::f64::consts::FRAC_PI_2).to_degrees();
    (lon, lat)
}

/// Spatial reference from WKT (or any GDAL definition), with lon/lat axis order.
pub fn spatial_ref(def: &str) -> Result<SpatialRef, GeorefError> {
    let mut srs =
        SpatialRef::from_definition(def).map_err(|e| GeorefError::Crs(gdal_message(&e)))?;
    srs.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    Ok(srs)
}

/// WGS84 with lon/lat axis order.
pub fn wgs84() -> Result<SpatialRef, GeorefError> {
    spatial_ref("EPSG:4326")
}

/// Web Mercator.
pub fn web_mercator() -> Result<SpatialRef, GeorefError> {
    spatial_ref("EPSG:3857")
}

/// WKT of EPSG:3857 (for grids in Web Mercator).
pub fn web_mercator_wkt() -> String {
    web_mercator()
        .and_then(|s| s.to_wkt().map_err(|e| GeorefError::Crs(gdal_message(&e))))
        .unwrap_or_default()
}

/// Coordinate transforms between the scene CRS and WGS84 / Web Mercator. Not `Send`:
/// create it on the thread that uses it.
pub struct CrsTransformer {
    to_wgs84: CoordTransform,
    from_wgs84: CoordTransform,
    to_3857: CoordTransform,
    from_3857: CoordTransform,
}

impl CrsTransformer {
    /// Transforms for the CRS given as WKT.
    pub fn new(crs_wkt: &str) -> Result<CrsTransformer, GeorefError> {
        let scene = spatial_ref(crs_wkt)?;
        let ll = wgs84()?;
        let wm = web_mercator()?;
        let t = |a: &SpatialRef, b: &SpatialRef| {
            CoordTransform::new(a, b).map_err(|e| GeorefError::Transform(gdal_message(&e)))
        };
        Ok(CrsTransformer {
            to_wgs84: t(&scene, &ll)?,
            from_wgs84: t(&ll, &scene)?,
            to_3857: t(&scene, &wm)?,
            from_3857: t(&wm, &scene)?,
        })
    }

    fn apply(t: &CoordTransform, pts: &[(f64, f64)]) -> Result<Vec<(f64, f64)>, GeorefError> {
        let mut xs: Vec<f64> = pts.iter().map(|p| p.0).collect();
        let mut ys: Vec<f64> = pts.iter().map(|p| p.1).collect();
        t.transform_coords(&mut xs, &mut ys, &mut [])
            .map_err(|e| GeorefError::Coordinates(gdal_message(&e)))?;
        Ok(xs.into_iter().zip(ys).collect())
    }

    /// Scene CRS → lon/lat.
    pub fn to_wgs84(&self, pts: &[(f64, f64)]) -> Result<Vec<(f64, f64)>, GeorefError> {
        Self::apply(&self.to_wgs84, pts)
    }
    /// Lon/lat → scene CRS.
    pub fn from_wgs84(&self, pts: &[(f64, f64)]) -> Result<Vec<(f64, f64)>, GeorefError> {
        Self::apply(&self.from_wgs84, pts)
    }
    /// Scene CRS → Web Mercator.
    pub fn to_web_mercator(&self, pts: &[(f64, f64)]) -> Result<Vec<(f64, f64)>, GeorefError> {
        Self::apply(&self.to_3857, pts)
    }
    /// Web Mercator → scene CRS.
    pub fn from_web_mercator(&self, pts: &[(f64, f64)]) -> Result<Vec<(f64, f64)>, GeorefError> {
        Self::apply(&self.from_3857, pts)
    }

    fn bounds_with(t: &CoordTransform, b: &Bounds) -> Result<Bounds, GeorefError> {
        let r = t
            .transform_bounds(&[b.min_x, b.min_y, b.max_x, b.max_y], 21)
            .map_err(|e| GeorefError::Coordinates(gdal_message(&e)))?;
        Ok(Bounds::new(r[0], r[1], r[2], r[3]))
    }

    /// Bounds of a scene-CRS rectangle in lon/lat (edges densified, 21 points each).
    pub fn bounds_to_wgs84(&self, b: &Bounds) -> Result<Bounds, GeorefError> {
        Self::bounds_with(&self.to_wgs84, b)
    }
    /// Bounds of a scene-CRS rectangle in Web Mercator (edges densified).
    pub fn bounds_to_web_mercator(&self, b: &Bounds) -> Result<Bounds, GeorefError> {
        Self::bounds_with(&self.to_3857, b)
    }
    /// Bounds of a Web Mercator rectangle in the scene CRS (edges densified).
    pub fn bounds_from_web_mercator(&self, b: &Bounds) -> Result<Bounds, GeorefError> {
        Self::bounds_with(&self.from_3857, b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn web_mercator_round_trip() {
        let (x, y) = lonlat_to_web_mercator(180.0, 0.0);
        assert!((x - WEB_MERCATOR_HALF_WORLD).abs() < 1e-6);
        assert!(y.abs() < 1e-6);
        // gdaltransform -s_srs EPSG:4326 -t_srs EPSG:3857: 12.5 52.5 → 1391493.635 6891041.724
        let (x, y) = lonlat_to_web_mercator(12.5, 52.5);
        assert!((x - 1_391_493.635).abs() < 0.01, "{x}");
        assert!((y - 6_891_041.724).abs() < 0.01, "{y}");
        let (lon, lat) = web_mercator_to_lonlat(x, y);
        assert!((lon - 12.5).abs() < 1e-9 && (lat - 52.5).abs() < 1e-9);
    }

    #[test]
    fn grid_maps_pixels() {
        let g = Grid {
            width: 219,
            height: 218,
            geo_transform: [315040.0, 10.0, 0.0, 6961370.0, 0.0, -10.0],
        };
        assert_eq!(g.pixel_to_crs(0.5, 0.5), (315045.0, 6961365.0));
        assert_eq!(g.crs_to_pixel(315045.0, 6961365.0), (0.5, 0.5));
        assert_eq!(
            g.bounds(),
            Bounds::new(315040.0, 6959190.0, 317230.0, 6961370.0)
        );
        let o = g.outline(2);
        assert_eq!(o.len(), 9);
        assert_eq!(o[0], o[8]);
        assert_eq!(o[2], (317230.0, 6961370.0));
    }

    #[test]
    fn errors_say_what_failed() {
        let e = CrsTransformer::new("not a CRS").err();
        assert!(matches!(e, Some(GeorefError::Crs(_))), "{e:?}");
        let msg = e.map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.starts_with("CRS not recognised: "), "{msg}");
    }
}

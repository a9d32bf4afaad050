//! The model tile grid over a scene's 10 m reference grid, and the point-in-tile test
//! ([`point_in_ring`]) the map uses to find the tile under the pointer.
//!
//! Tiles are `size` pixels square (224 = 2.24 km at 10 m) placed every `stride` pixels
//! (224, or 112 for 50 % overlap), starting at the scene's top-left pixel. The grid always
//! covers the whole scene: where the last column/row would stop short of the edge, one more
//! tile is added that extends past it, and the part outside the scene is read as nodata.
//! Such edge tiles are therefore never dropped silently; their nodata fraction records
//! how much of them is outside, and the indexer decides (by the user's threshold) whether
//! they are embedded or shown as skipped.

/// One tile of the grid: its grid position and pixel window on the reference grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TileWindow {
    pub row: u32,
    pub col: u32,
    /// Top-left pixel (may be inside the scene only; the window may extend past the
    /// right/bottom edge).
    pub x0: i64,
    pub y0: i64,
    pub size: u32,
}

impl TileWindow {
    /// Fraction of the window's pixels that lie outside a `width`×`height` scene.
    pub fn outside_fraction(&self, width: u64, height: u64) -> f32 {
        let s = i64::from(self.size);
        let w_in = (width as i64 - self.x0).clamp(0, s);
        let h_in = (height as i64 - self.y0).clamp(0, s);
        1.0 - (w_in * h_in) as f32 / (s * s) as f32
    }
}

/// Tile grid parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TileGrid {
    pub scene_width: u64,
    pub scene_height: u64,
    pub size: u32,
    pub stride: u32,
}

impl TileGrid {
    pub fn new(scene_width: u64, scene_height: u64, size: u32, stride: u32) -> Self {
        Self {
            scene_width,
            scene_height,
            size: size.max(1),
            stride: stride.clamp(1, size.max(1)),
        }
    }

    fn count(extent: u64, size: u32, stride: u32) -> u32 {
        let (size, stride) = (u64::from(size), u64::from(stride));
        if extent <= size {
            1
        } else {
            // tiles needed so that the last one reaches the edge
            (1 + (extent - size).div_ceil(stride)) as u32
        }
    }

    pub fn cols(&self) -> u32 {
        Self::count(self.scene_width, self.size, self.stride)
    }

    pub fn rows(&self) -> u32 {
        Self::count(self.scene_height, self.size, self.stride)
    }

    pub fn len(&self) -> usize {
        self.cols() as usize * self.rows() as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn tile(&self, row: u32, col: u32) -> TileWindow {
        TileWindow {
            row,
            col,
            x0: i64::from(col) * i64::from(self.stride),
            y0: i64::from(row) * i64::from(self.stride),
            size: self.size,
        }
    }

    /// All tiles, row by row.
    pub fn tiles(&self) -> impl Iterator<Item = TileWindow> + '_ {
        (0..self.rows()).flat_map(move |r| (0..self.cols()).map(move |c| self.tile(r, c)))
    }
}

/// Even-odd point-in-polygon test on a lon/lat ring (a tile's `polygon_wgs84`).
pub fn point_in_ring(x: f64, y: f64, ring: &[[f64; 2]]) -> bool {
    let mut inside = false;
    let n = ring.len();
    if n < 3 {
        return false;
    }
    let mut j = n - 1;
    for i in 0..n {
        let (xi, yi) = (ring[i][0], ring[i][1]);
        let (xj, yj) = (ring[j][0], ring[j][1]);
        if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
            inside = !inside;
        }
        j = i;
    }
    inside
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_sentinel2_tile() {
        let g = TileGrid::new(10980, 10980, 224, 224);
        // 49 full tiles (49*224 = 10976) plus one edge column/row of 4 px inside.
        assert_eq!((g.cols(), g.rows()), (50, 50));
        let last = g.tile(49, 49);
        assert_eq!((last.x0, last.y0), (10976, 10976));
        let f = last.outside_fraction(10980, 10980);
        assert!((f - (1.0 - 16.0 / 50176.0)).abs() < 1e-6, "{f}");
        assert_eq!(g.tile(10, 10).outside_fraction(10980, 10980), 0.0);
    }

    #[test]
    fn scene_smaller_than_a_tile_is_one_padded_tile() {
        let g = TileGrid::new(219, 218, 224, 224);
        assert_eq!(g.len(), 1);
        let t = g.tile(0, 0);
        let f = t.outside_fraction(219, 218);
        assert!((f - (1.0 - (219.0 * 218.0) / 50176.0)).abs() < 1e-6);
    }

    #[test]
    fn overlap_stride() {
        let g = TileGrid::new(1536, 768, 224, 112);
        // (1536-224)/112 = 11.71 -> 12 more -> 13 columns; (768-224)/112 = 4.86 -> 6 rows
        assert_eq!((g.cols(), g.rows()), (13, 6));
        assert_eq!(g.tile(0, 12).x0, 1344);
        assert_eq!(g.tiles().count(), 78);
    }

    #[test]
    fn exact_fit_adds_no_edge_tile() {
        let g = TileGrid::new(896, 448, 224, 224);
        assert_eq!((g.cols(), g.rows()), (4, 2));
        assert!(g.tiles().all(|t| t.outside_fraction(896, 448) == 0.0));
    }

    #[test]
    fn point_in_square() {
        let ring = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]];
        assert!(point_in_ring(0.5, 0.5, &ring));
        assert!(!point_in_ring(1.5, 0.5, &ring));
    }
}

//! How much two rankings of the same scene agree, e.g. two models asked the same query: the
//! overlap of their top-N lists (shared tiles, Jaccard index) and, over the tiles both
//! scored, Spearman's rank correlation of the scores. Tiles are matched by scene and pixel
//! window, not by position in an index, so two indexes of one scene (one per model) compare
//! even when one skipped a tile the other kept. Shared by the viewer's comparison and
//! `kestrel compare`. No egui here.

use std::collections::HashMap;

use super::record::TileRecord;
use super::session::Ranking;

/// A tile's identity across indexes of one scene: the scene and the tile's pixel window
/// origin on the scene's 10 m grid.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileKey {
    pub scene_id: String,
    pub px_x0: i64,
    pub px_y0: i64,
}

impl TileKey {
    pub fn of(t: &TileRecord) -> Self {
        Self {
            scene_id: t.scene_id.clone(),
            px_x0: t.px_x0,
            px_y0: t.px_y0,
        }
    }
}

/// One ranked tile: its key, a label for people (`r3 c4`) and its score.
#[derive(Debug, Clone, PartialEq)]
pub struct RankedKey {
    pub key: TileKey,
    pub label: String,
    pub score: f32,
}

impl RankedKey {
    /// The ranked tiles of `ranking` over `tiles`, best first.
    pub fn list(tiles: &[TileRecord], ranking: &Ranking) -> Vec<Self> {
        ranking
            .ranked
            .iter()
            .filter_map(|&(i, score)| {
                let t = tiles.get(i)?;
                Some(Self {
                    key: TileKey::of(t),
                    label: format!("r{} c{}", t.row, t.col),
                    score,
                })
            })
            .collect()
    }
}

/// A tile in both top-N lists, with its rank (1-based) in each.
#[derive(Debug, Clone, PartialEq)]
pub struct SharedTile {
    pub key: TileKey,
    pub label: String,
    pub rank_a: usize,
    pub rank_b: usize,
}

/// The agreement of ranking A and ranking B.
#[derive(Debug, Clone, PartialEq)]
pub struct Agreement {
    /// The N of top-N (the lists may be shorter when fewer tiles were scored).
    pub n: usize,
    /// Tiles in A's top-N / B's top-N.
    pub top_a: usize,
    pub top_b: usize,
    /// Tiles in both top-N lists, in A's order.
    pub shared: Vec<SharedTile>,
    /// |A ∩ B| / |A ∪ B| of the top-N sets (1 when both are empty).
    pub jaccard: f64,
    /// Spearman's ρ of the two scores over every tile both rankings scored (average ranks
    /// for ties); `None` with fewer than two such tiles or when one side is constant.
    pub spearman: Option<f64>,
    /// How many tiles both rankings scored.
    pub common: usize,
}

impl Agreement {
    /// Compare two rankings, each best first (as [`RankedKey::list`] gives them), on their
    /// top `n`.
    pub fn of(a: &[RankedKey], b: &[RankedKey], n: usize) -> Self {
        let top_a = &a[..n.min(a.len())];
        let top_b = &b[..n.min(b.len())];
        let rank_in_b: HashMap<&TileKey, usize> = top_b
            .iter()
            .enumerate()
            .map(|(i, r)| (&r.key, i + 1))
            .collect();
        let shared: Vec<SharedTile> = top_a
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                rank_in_b.get(&r.key).map(|&rank_b| SharedTile {
                    key: r.key.clone(),
                    label: r.label.clone(),
                    rank_a: i + 1,
                    rank_b,
                })
            })
            .collect();
        let union = top_a.len() + top_b.len() - shared.len();
        let jaccard = if union == 0 {
            1.0
        } else {
            shared.len() as f64 / union as f64
        };
        let score_b: HashMap<&TileKey, f32> = b.iter().map(|r| (&r.key, r.score)).collect();
        let pairs: Vec<(f64, f64)> = a
            .iter()
            .filter_map(|r| {
                score_b
                    .get(&r.key)
                    .map(|&sb| (f64::from(r.score), f64::from(sb)))
            })
            .collect();
        Self {
            n,
            top_a: top_a.len(),
            top_b: top_b.len(),
            shared,
            jaccard,
            spearman: spearman(&pairs),
            common: pairs.len(),
        }
    }

    /// Compare two rankings of one scene, each over its own index's tiles.
    pub fn of_rankings(
        tiles_a: &[TileRecord],
        a: &Ranking,
        tiles_b: &[TileRecord],
        b: &Ranking,
        n: usize,
    ) -> Self {
        Self::of(
            &RankedKey::list(tiles_a, a),
            &RankedKey::list(tiles_b, b),
            n,
        )
    }

    /// One line for people: `top 20: 14 shared (Jaccard 0.54), Spearman 0.81 over 21 tiles`.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "top {}: {} shared (Jaccard {:.2})",
            self.n,
            self.shared.len(),
            self.jaccard
        );
        match self.spearman {
            Some(rho) => s.push_str(&format!(", Spearman {rho:.2} over {} tiles", self.common)),
            None => s.push_str(&format!(", {} tiles scored by both", self.common)),
        }
        s
    }
}

/// 1-based average ranks (ties share the mean of their ranks).
fn ranks(v: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
    let mut out = vec![0.0; v.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && v[order[j + 1]] == v[order[i]] {
            j += 1;
        }
        let mean = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            out[k] = mean;
        }
        i = j + 1;
    }
    out
}

/// Spearman's ρ: Pearson's correlation of the average ranks.
fn spearman(pairs: &[(f64, f64)]) -> Option<f64> {
    if pairs.len() < 2 {
        return None;
    }
    let ra = ranks(&pairs.iter().map(|p| p.0).collect::<Vec<_>>());
    let rb = ranks(&pairs.iter().map(|p| p.1).collect::<Vec<_>>());
    let n = pairs.len() as f64;
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in ra.iter().zip(&rb) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    (saa > 0.0 && sbb > 0.0).then(|| sab / (saa * sbb).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(ids: &[(i64, f32)]) -> Vec<RankedKey> {
        ids.iter()
            .map(|&(x, score)| RankedKey {
                key: TileKey {
                    scene_id: "s".into(),
                    px_x0: x,
                    px_y0: 0,
                },
                label: format!("c{x}"),
                score,
            })
            .collect()
    }

    #[test]
    fn overlap_jaccard_and_ranks_of_the_shared_tiles() {
        // A: 1 2 3 4 5; B: 3 1 9 2 8 — top 3: {1,2,3} vs {3,1,9}: shared 1 and 3
        let a = list(&[(1, 0.9), (2, 0.8), (3, 0.7), (4, 0.6), (5, 0.5)]);
        let b = list(&[(3, 0.95), (1, 0.9), (9, 0.5), (2, 0.4), (8, 0.1)]);
        let g = Agreement::of(&a, &b, 3);
        assert_eq!((g.top_a, g.top_b), (3, 3));
        let shared: Vec<(&str, usize, usize)> = g
            .shared
            .iter()
            .map(|s| (s.label.as_str(), s.rank_a, s.rank_b))
            .collect();
        assert_eq!(shared, [("c1", 1, 2), ("c3", 3, 1)]);
        assert!((g.jaccard - 2.0 / 4.0).abs() < 1e-12);
        // common tiles 1, 2, 3: A ranks them 3,2,1 (by score), B 2,1,3 → ρ = 1 - 6·Σd²/(n(n²-1))
        // d = (1, 1, -2) → Σd² = 6 → ρ = 1 - 36/24 = -0.5
        assert_eq!(g.common, 3);
        assert!((g.spearman.unwrap() + 0.5).abs() < 1e-12);
        assert_eq!(
            g.summary(),
            "top 3: 2 shared (Jaccard 0.50), Spearman -0.50 over 3 tiles"
        );
    }

    #[test]
    fn identical_rankings_agree_fully_and_ties_share_ranks() {
        let a = list(&[(1, 0.5), (2, 0.5), (3, 0.1)]);
        let g = Agreement::of(&a, &a, 20);
        assert_eq!(g.shared.len(), 3);
        assert_eq!(g.jaccard, 1.0);
        assert!((g.spearman.unwrap() - 1.0).abs() < 1e-12);
        assert_eq!(ranks(&[0.5, 0.5, 0.1]), [2.5, 2.5, 1.0]);
    }

    #[test]
    fn nothing_in_common() {
        let g = Agreement::of(&list(&[(1, 1.0)]), &list(&[(2, 1.0)]), 5);
        assert!(g.shared.is_empty());
        assert_eq!(g.jaccard, 0.0);
        assert_eq!((g.common, g.spearman), (0, None));
        let empty = Agreement::of(&[], &[], 5);
        assert_eq!(empty.jaccard, 1.0);
    }
}

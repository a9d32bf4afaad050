//! Retrieval maths, the one family every caller uses (the search session, the CLI, the
//! zero-shot classifier and the parity tests): cosine similarity of L2-normalised
//! embeddings (a dot product: the towers return unit vectors), ranking, argmax, and
//! query-by-example (Rocchio-style refinement with positive and negative example tiles).
//! Pure maths over already computed embeddings; re-querying an indexed scene is one
//! text-tower pass plus this.

/// Dot product; the cosine similarity of two unit vectors.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Cosine score of every item against a unit `query` (`None` for items without an
/// embedding, and where the score is not finite: a NaN embedding is no embedding).
pub fn score<'a>(
    embeddings: impl IntoIterator<Item = Option<&'a [f32]>>,
    query: &[f32],
) -> Vec<Option<f32>> {
    embeddings
        .into_iter()
        .map(|e| e.map(|e| dot(e, query)).filter(|s| s.is_finite()))
        .collect()
}

/// Indices of scored items, best first; ties keep the lower index first. Non-finite
/// scores count as no score.
pub fn rank(scores: &[Option<f32>]) -> Vec<(usize, f32)> {
    let mut v: Vec<(usize, f32)> = scores
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.filter(|s| s.is_finite()).map(|s| (i, s)))
        .collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

/// Weights of the query refinement (Rocchio): `q = α·text + β·mean(positives) − γ·mean(negatives)`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RefineWeights {
    pub text: f32,
    pub positive: f32,
    pub negative: f32,
}

impl Default for RefineWeights {
    fn default() -> Self {
        Self {
            text: 1.0,
            positive: 1.0,
            negative: 0.5,
        }
    }
}

/// Build a query vector from an optional text embedding and example tile embeddings.
/// Returns `None` when there is nothing to search for (no text and no positive example).
pub fn combine_query(
    text: Option<&[f32]>,
    positives: &[&[f32]],
    negatives: &[&[f32]],
    w: RefineWeights,
) -> Option<Vec<f32>> {
    let dim = text
        .map(<[f32]>::len)
        .or_else(|| positives.first().map(|p| p.len()))?;
    if text.is_none() && positives.is_empty() {
        return None;
    }
    let mut q = vec![0.0f32; dim];
    if let Some(t) = text {
        q.iter_mut().zip(t).for_each(|(a, b)| *a += w.text * b);
    }
    let add_mean = |q: &mut [f32], set: &[&[f32]], weight: f32| {
        if set.is_empty() {
            return;
        }
        let k = weight / set.len() as f32;
        for e in set {
            q.iter_mut().zip(e.iter()).for_each(|(a, b)| *a += k * b);
        }
    };
    add_mean(&mut q, positives, w.positive);
    add_mean(&mut q, negatives, -w.negative);
    Some(crate::clip::normalize(&q))
}

/// Index of the largest value (first on ties).
pub fn argmax(v: &[f32]) -> Option<usize> {
    v.iter()
        .enumerate()
        .fold(None, |best: Option<(usize, f32)>, (i, &x)| match best {
            Some((_, b)) if b >= x => best,
            _ => Some((i, x)),
        })
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_orders_by_score_then_index_and_skips_missing() {
        let scores = [Some(0.1), None, Some(0.5), Some(0.1), Some(-0.2)];
        assert_eq!(rank(&scores), vec![(2, 0.5), (0, 0.1), (3, 0.1), (4, -0.2)]);
    }

    #[test]
    fn non_finite_scores_are_never_ranked() {
        let nan = [f32::NAN, 0.0];
        let s = score([Some(&nan[..]), Some(&[0.0, 1.0][..])], &[0.0, 1.0]);
        assert_eq!(s, vec![None, Some(1.0)]);
        let scores = [Some(f32::NAN), Some(0.3), Some(f32::INFINITY), None];
        assert_eq!(rank(&scores), vec![(1, 0.3)]);
    }

    #[test]
    fn score_is_cosine_of_unit_vectors() {
        let a = [0.6f32, 0.8];
        let b = [1.0f32, 0.0];
        let s = score([Some(&a[..]), None, Some(&b[..])], &[0.0, 1.0]);
        assert_eq!(s, vec![Some(0.8), None, Some(0.0)]);
    }

    #[test]
    fn combine_query_rocchio() {
        let t = [1.0f32, 0.0, 0.0];
        let p1 = [0.0f32, 1.0, 0.0];
        let n1 = [0.0f32, 0.0, 1.0];
        let q = combine_query(Some(&t), &[&p1], &[&n1], RefineWeights::default()).unwrap();
        // (1, 1, -0.5) normalised
        let norm = (1.0f32 + 1.0 + 0.25).sqrt();
        assert!(
            (q[0] - 1.0 / norm).abs() < 1e-6
                && (q[1] - 1.0 / norm).abs() < 1e-6
                && (q[2] + 0.5 / norm).abs() < 1e-6
        );
        // examples alone
        let q = combine_query(None, &[&p1], &[], RefineWeights::default()).unwrap();
        assert_eq!(q, vec![0.0, 1.0, 0.0]);
        assert!(combine_query(None, &[], &[&n1], RefineWeights::default()).is_none());
    }

    #[test]
    fn argmax_takes_the_first_maximum() {
        assert_eq!(argmax(&[0.1, 0.7, 0.2]), Some(1));
        assert_eq!(argmax(&[0.5, 0.5]), Some(0));
        assert_eq!(argmax(&[]), None);
    }
}

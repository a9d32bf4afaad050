//! A linear probe: L2-regularised logistic regression on the embeddings of labelled tiles,
//! the light classifier an analyst trains on their labels and applies to every tile.
//!
//! With `x` an embedding, `y` ∈ {0, 1} its label and `z = w·x + b`, [`fit`] minimises
//!
//! ```text
//! J(w, b) = 1/n Σᵢ [ log(1 + exp(zᵢ)) − yᵢ zᵢ ] + λ/2 ‖w‖²
//! ```
//!
//! (the bias is not penalised). `J` is strictly convex for λ > 0, so the minimum is unique;
//! it is found by Nesterov-accelerated gradient descent with adaptive restart, step `1/L`
//! with `L` = ¼·mean(‖x‖² + 1) + λ (a bound on the curvature), in f64, until the gradient
//! norm is under the tolerance. Sizes here are small (labelled tiles × embedding size),
//! so this takes milliseconds. The scores are `σ(w·x + b)`, a probability per tile. Pure
//! Rust, no I/O; runs on the caller's thread.

/// Settings of [`fit`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProbeOptions {
    /// λ, the L2 penalty on the weights (> 0).
    pub l2: f64,
    /// Stop when the gradient norm is below this.
    pub tolerance: f64,
    pub max_iterations: usize,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        Self {
            l2: 1e-2,
            tolerance: 1e-9,
            max_iterations: 200_000,
        }
    }
}

/// Why a probe cannot be fitted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProbeError {
    #[error(
        "the probe needs labelled tiles of both classes, got {positives} positive and {negatives} negative"
    )]
    OneClass { positives: usize, negatives: usize },
    #[error("the L2 penalty must be a positive number, got {0}")]
    BadPenalty(f64),
    #[error("embeddings of different sizes ({0} and {1})")]
    Ragged(usize, usize),
}

/// A fitted probe.
#[derive(Debug, Clone, PartialEq)]
pub struct LogisticProbe {
    pub weights: Vec<f64>,
    pub bias: f64,
    /// Gradient steps taken, and whether the tolerance was reached.
    pub iterations: usize,
    pub converged: bool,
    /// The objective at the solution.
    pub objective: f64,
}

fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// `log(1 + exp(z))` without overflow.
fn softplus(z: f64) -> f64 {
    if z > 0.0 {
        z + (-z).exp().ln_1p()
    } else {
        z.exp().ln_1p()
    }
}

struct Problem<'a> {
    x: &'a [&'a [f32]],
    y: &'a [bool],
    l2: f64,
}

impl Problem<'_> {
    fn z(&self, w: &[f64], b: f64, x: &[f32]) -> f64 {
        b + w.iter().zip(x).map(|(w, x)| w * f64::from(*x)).sum::<f64>()
    }

    /// Objective and gradient (weights, then bias) at `p` = (w, b).
    fn eval(&self, p: &[f64], grad: &mut [f64]) -> f64 {
        let d = p.len() - 1;
        let (w, b) = (&p[..d], p[d]);
        let n = self.x.len() as f64;
        grad.fill(0.0);
        let mut loss = 0.0;
        for (x, &y) in self.x.iter().zip(self.y) {
            let z = self.z(w, b, x);
            let t = if y { 1.0 } else { 0.0 };
            loss += softplus(z) - t * z;
            let r = (sigmoid(z) - t) / n;
            for (g, x) in grad[..d].iter_mut().zip(x.iter()) {
                *g += r * f64::from(*x);
            }
            grad[d] += r;
        }
        let mut pen = 0.0;
        for (g, w) in grad[..d].iter_mut().zip(w) {
            *g += self.l2 * w;
            pen += w * w;
        }
        loss / n + 0.5 * self.l2 * pen
    }
}

/// Fit the probe to embeddings `x` labelled `y` (true = positive).
pub fn fit(x: &[&[f32]], y: &[bool], opts: &ProbeOptions) -> Result<LogisticProbe, ProbeError> {
    if !(opts.l2 > 0.0 && opts.l2.is_finite()) {
        return Err(ProbeError::BadPenalty(opts.l2));
    }
    let positives = y.iter().filter(|v| **v).count();
    let negatives = y.len() - positives;
    if positives == 0 || negatives == 0 || x.len() != y.len() {
        return Err(ProbeError::OneClass {
            positives,
            negatives,
        });
    }
    let d = x[0].len();
    if let Some(e) = x.iter().find(|e| e.len() != d) {
        return Err(ProbeError::Ragged(d, e.len()));
    }
    let prob = Problem { x, y, l2: opts.l2 };
    let mean_sq = x
        .iter()
        .map(|e| 1.0 + e.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>())
        .sum::<f64>()
        / x.len() as f64;
    let step = 1.0 / (0.25 * mean_sq + opts.l2);
    let mut p = vec![0.0; d + 1];
    let mut prev = p.clone();
    let mut q = p.clone(); // the extrapolated point
    let mut g = vec![0.0; d + 1];
    let mut k = 0usize; // iterations since the last restart
    let mut f_prev = f64::INFINITY;
    for it in 0..opts.max_iterations {
        prob.eval(&q, &mut g);
        prev.copy_from_slice(&p);
        for ((p, q), g) in p.iter_mut().zip(&q).zip(&g) {
            *p = q - step * g;
        }
        let f = prob.eval(&p, &mut g);
        let gnorm = g.iter().map(|v| v * v).sum::<f64>().sqrt();
        if gnorm < opts.tolerance {
            return Ok(LogisticProbe {
                bias: p[d],
                weights: p[..d].to_vec(),
                iterations: it + 1,
                converged: true,
                objective: f,
            });
        }
        // adaptive restart (O'Donoghue & Candès): drop the momentum when it stops helping
        if f > f_prev {
            k = 0;
            q.copy_from_slice(&p);
        } else {
            k += 1;
            let beta = (k as f64 - 1.0) / (k as f64 + 2.0);
            for ((q, p), o) in q.iter_mut().zip(&p).zip(&prev) {
                *q = p + beta * (p - o);
            }
        }
        f_prev = f;
    }
    let f = prob.eval(&p, &mut g);
    Ok(LogisticProbe {
        bias: p[d],
        weights: p[..d].to_vec(),
        iterations: opts.max_iterations,
        converged: false,
        objective: f,
    })
}

impl LogisticProbe {
    /// The predicted probability that `embedding` is positive.
    pub fn probability(&self, embedding: &[f32]) -> f32 {
        let z = self.bias
            + self
                .weights
                .iter()
                .zip(embedding)
                .map(|(w, x)| w * f64::from(*x))
                .sum::<f64>();
        sigmoid(z) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separable_points_get_the_right_side_and_the_gradient_vanishes() {
        let xs: Vec<Vec<f32>> = vec![
            vec![1.0, 0.0],
            vec![0.9, 0.1],
            vec![0.0, 1.0],
            vec![0.2, 0.8],
            vec![0.6, 0.4],
        ];
        let x: Vec<&[f32]> = xs.iter().map(Vec::as_slice).collect();
        let y = [true, true, false, false, true];
        let p = fit(&x, &y, &ProbeOptions::default()).unwrap();
        assert!(p.converged, "{p:?}");
        for (x, y) in x.iter().zip(y) {
            assert_eq!(p.probability(x) > 0.5, y);
        }
        // stationarity: the gradient at the solution, recomputed here, is ~0
        let prob = Problem {
            x: &x,
            y: &y,
            l2: 1e-2,
        };
        let mut g = vec![0.0; 3];
        let mut at = p.weights.clone();
        at.push(p.bias);
        prob.eval(&at, &mut g);
        assert!(g.iter().all(|v| v.abs() < 1e-8), "{g:?}");
    }

    #[test]
    fn one_class_or_bad_penalty_is_an_error() {
        let e = [1.0f32, 0.0];
        let x: Vec<&[f32]> = vec![&e, &e];
        assert_eq!(
            fit(&x, &[true, true], &ProbeOptions::default()),
            Err(ProbeError::OneClass {
                positives: 2,
                negatives: 0
            })
        );
        let opts = ProbeOptions {
            l2: 0.0,
            ..ProbeOptions::default()
        };
        assert_eq!(
            fit(&x, &[true, false], &opts),
            Err(ProbeError::BadPenalty(0.0))
        );
    }
}

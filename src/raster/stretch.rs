//! Contrast stretches and histograms of band values, computed from a sample (a
//! decimated read of the scene or the current view), never from a full-resolution read.
//! NaN values are nodata and ignored everywhere. Pure functions, no GDAL.

use serde::{Deserialize, Serialize};

/// Linear-interpolated quantile `q` ∈ [0, 1] of an ascending, NaN-free slice.
pub fn quantile_sorted(sorted: &[f32], q: f64) -> f32 {
    match sorted.len() {
        0 => f32::NAN,
        1 => sorted[0],
        n => {
            let pos = q.clamp(0.0, 1.0) * (n - 1) as f64;
            let lo = pos.floor() as usize;
            let hi = (lo + 1).min(n - 1);
            let t = (pos - lo as f64) as f32;
            sorted[lo] + (sorted[hi] - sorted[lo]) * t
        }
    }
}

/// How the display range of a channel is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StretchMethod {
    /// Cut at two percentiles (default 2 and 98).
    Percentile { low: f32, high: f32 },
    /// Full range of the sample.
    MinMax,
    /// Mean ± k standard deviations.
    StdDev { k: f32 },
    /// A fixed range in the band's units (e.g. 0–3000 DN).
    Fixed { min: f32, max: f32 },
}

impl Default for StretchMethod {
    fn default() -> Self {
        StretchMethod::Percentile {
            low: 2.0,
            high: 98.0,
        }
    }
}

/// The resolved stretch of one channel: values map linearly from `min..max` to 0..1,
/// are clamped, then raised to `1/gamma`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ChannelStretch {
    pub min: f32,
    pub max: f32,
    pub gamma: f32,
}

impl ChannelStretch {
    /// Map one value to 0..=255 (NaN → None).
    pub fn apply(&self, v: f32) -> Option<u8> {
        if !v.is_finite() {
            return None;
        }
        let span = self.max - self.min;
        let mut t = if span > 0.0 {
            (v - self.min) / span
        } else if v >= self.max {
            1.0
        } else {
            0.0
        };
        t = t.clamp(0.0, 1.0);
        if self.gamma > 0.0 && (self.gamma - 1.0).abs() > 1e-6 {
            t = t.powf(1.0 / self.gamma);
        }
        Some((t * 255.0 + 0.5) as u8)
    }
}

/// Summary statistics of the valid values of a sample.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelStats {
    pub count: usize,
    pub nodata: usize,
    pub min: f32,
    pub max: f32,
    pub mean: f32,
    pub std: f32,
    sorted: Vec<f32>,
}

impl ChannelStats {
    pub fn from_values(values: &[f32]) -> ChannelStats {
        let mut sorted: Vec<f32> = values.iter().copied().filter(|v| v.is_finite()).collect();
        sorted.sort_by(f32::total_cmp);
        let n = sorted.len();
        let (mean, std) = if n == 0 {
            (f32::NAN, f32::NAN)
        } else {
            let mean = sorted.iter().map(|v| f64::from(*v)).sum::<f64>() / n as f64;
            let var = sorted
                .iter()
                .map(|v| (f64::from(*v) - mean).powi(2))
                .sum::<f64>()
                / n as f64;
            (mean as f32, var.sqrt() as f32)
        };
        ChannelStats {
            count: n,
            nodata: values.len() - n,
            min: sorted.first().copied().unwrap_or(f32::NAN),
            max: sorted.last().copied().unwrap_or(f32::NAN),
            mean,
            std,
            sorted,
        }
    }

    /// Percentile `p` ∈ [0, 100].
    pub fn percentile(&self, p: f32) -> f32 {
        quantile_sorted(&self.sorted, f64::from(p) / 100.0)
    }

    /// Resolve a stretch method on these statistics.
    pub fn stretch(&self, method: StretchMethod, gamma: f32) -> ChannelStretch {
        let (min, max) = match method {
            StretchMethod::Percentile { low, high } => {
                (self.percentile(low), self.percentile(high))
            }
            StretchMethod::MinMax => (self.min, self.max),
            StretchMethod::StdDev { k } => (self.mean - k * self.std, self.mean + k * self.std),
            StretchMethod::Fixed { min, max } => (min, max),
        };
        let (min, max) = if min.is_finite() && max.is_finite() {
            (min, max)
        } else {
            (0.0, 1.0)
        };
        ChannelStretch { min, max, gamma }
    }
}

/// Histogram of a sample with equal-width bins over `min..=max`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Histogram {
    pub min: f32,
    pub max: f32,
    pub counts: Vec<u64>,
    /// NaN (nodata) values skipped.
    pub nodata: u64,
    /// Valid values outside `min..=max` (when a range was given).
    pub outside: u64,
}

impl Histogram {
    /// `bins` equal bins over `range`, or over the sample's own min..max.
    pub fn compute(values: &[f32], bins: usize, range: Option<(f32, f32)>) -> Histogram {
        let bins = bins.max(1);
        let (min, max) = range.unwrap_or_else(|| {
            values
                .iter()
                .filter(|v| v.is_finite())
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), v| {
                    (a.min(*v), b.max(*v))
                })
        });
        let mut h = Histogram {
            min,
            max,
            counts: vec![0; bins],
            nodata: 0,
            outside: 0,
        };
        if !(min.is_finite() && max.is_finite()) {
            h.nodata = values.len() as u64;
            h.min = 0.0;
            h.max = 0.0;
            return h;
        }
        let width = f64::from(max - min);
        for &v in values {
            if !v.is_finite() {
                h.nodata += 1;
            } else if v < min || v > max {
                h.outside += 1;
            } else {
                let i = if width > 0.0 {
                    ((f64::from(v - min) / width) * bins as f64) as usize
                } else {
                    0
                };
                h.counts[i.min(bins - 1)] += 1;
            }
        }
        h
    }

    pub fn bin_width(&self) -> f32 {
        (self.max - self.min) / self.counts.len() as f32
    }

    /// Centre of bin `i` (for plotting).
    pub fn bin_center(&self, i: usize) -> f32 {
        self.min + (i as f32 + 0.5) * self.bin_width()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate() {
        let v: Vec<f32> = (0..=100).map(|i| i as f32).collect();
        assert_eq!(quantile_sorted(&v, 0.02), 2.0);
        assert_eq!(quantile_sorted(&v, 0.985), 98.5);
        assert!(quantile_sorted(&[], 0.5).is_nan());
    }

    #[test]
    fn percentile_stretch_ignores_nodata() {
        let mut v: Vec<f32> = (0..=1000).map(|i| i as f32).collect();
        v.extend([f32::NAN; 500]);
        let s = ChannelStats::from_values(&v);
        assert_eq!(s.count, 1001);
        assert_eq!(s.nodata, 500);
        let st = s.stretch(StretchMethod::default(), 1.0);
        assert_eq!((st.min, st.max), (20.0, 980.0));
        assert_eq!(st.apply(20.0), Some(0));
        assert_eq!(st.apply(980.0), Some(255));
        assert_eq!(st.apply(500.0), Some(128));
        assert_eq!(st.apply(-5.0), Some(0));
        assert_eq!(st.apply(f32::NAN), None);
        let mm = s.stretch(StretchMethod::MinMax, 1.0);
        assert_eq!((mm.min, mm.max), (0.0, 1000.0));
        let sd = s.stretch(StretchMethod::StdDev { k: 2.0 }, 1.0);
        assert!((sd.min - (500.0 - 2.0 * 288.964)).abs() < 0.01, "{sd:?}");
    }

    #[test]
    fn gamma_brightens_midtones() {
        let st = ChannelStretch {
            min: 0.0,
            max: 1.0,
            gamma: 2.0,
        };
        // 0.25^(1/2) = 0.5
        assert_eq!(st.apply(0.25), Some(128));
    }

    #[test]
    fn histogram_counts() {
        let v = [0.0, 0.5, 1.0, 1.5, 2.0, f32::NAN, 7.0];
        let h = Histogram::compute(&v, 2, Some((0.0, 2.0)));
        assert_eq!(h.counts, vec![2, 3]);
        assert_eq!(h.nodata, 1);
        assert_eq!(h.outside, 1);
        assert_eq!(h.bin_center(0), 0.5);
        let h = Histogram::compute(&v, 4, None);
        assert_eq!((h.min, h.max), (0.0, 7.0));
        assert_eq!(h.counts.iter().sum::<u64>(), 6);
    }
}

//! Feature scaling fitted on training rows only and replayed at prediction time.

use serde::{Deserialize, Serialize};

use crate::data::Features;

/// Per-column `(x - mean) / std`, as scikit-learn's `StandardScaler` (population std). A
/// column whose training values are all equal gets scale 1, so it becomes 0 everywhere it
/// keeps its training value, as scikit-learn does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Standardizer {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    /// The columns that were constant in the training rows (callers warn about them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constant_columns: Vec<usize>,
}

impl Standardizer {
    /// Column statistics of `features`; pass only the training rows.
    pub fn fit(features: &Features) -> Self {
        let n = features.len().max(1) as f64;
        let columns = features.n_features();
        let mut sum = vec![0f64; columns];
        let (mut low, mut high) = (
            vec![f32::INFINITY; columns],
            vec![f32::NEG_INFINITY; columns],
        );
        for row in features.rows() {
            for (c, &v) in row.iter().enumerate() {
                sum[c] += v as f64;
                low[c] = low[c].min(v);
                high[c] = high[c].max(v);
            }
        }
        let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
        // Deviations from the mean in a second pass: `E[x²] − E[x]²` cancels catastrophically
        // for a column with a large offset and a small spread.
        let mut squares = vec![0f64; columns];
        for row in features.rows() {
            for (c, &v) in row.iter().enumerate() {
                squares[c] += (v as f64 - mean[c]).powi(2);
            }
        }
        let constant_columns: Vec<usize> = (0..columns).filter(|&c| low[c] == high[c]).collect();
        let std = (0..columns)
            .map(|c| {
                if constant_columns.contains(&c) {
                    1.0
                } else {
                    (squares[c] / n).sqrt() as f32
                }
            })
            .collect();
        Self {
            mean: mean.into_iter().map(|m| m as f32).collect(),
            std,
            constant_columns,
        }
    }

    pub fn transform(&self, features: &mut Features) {
        features.map_columns(|c, v| (v - self.mean[c]) / self.std[c]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standardises_with_population_statistics() {
        let mut f = Features::new(vec![1.0, 10.0, 3.0, 10.5, 5.0, 11.0], 2).unwrap();
        let s = Standardizer::fit(&f);
        assert_eq!(s.mean, vec![3.0, 10.5]);
        assert!((s.std[0] - (8.0f32 / 3.0).sqrt()).abs() < 1e-6);
        s.transform(&mut f);
        let column0: Vec<f32> = f.rows().map(|r| r[0]).collect();
        assert!((column0.iter().sum::<f32>()).abs() < 1e-6);
        let column1: Vec<f32> = f.rows().map(|r| r[1]).collect();
        assert!((column1[2] - 0.5 / s.std[1]).abs() < 1e-5, "{column1:?}");
    }

    #[test]
    fn constant_columns_become_zero_and_are_listed() {
        let mut f = Features::new(vec![1.0, 7.0, 0.0, 2.0, 7.0, 0.0], 3).unwrap();
        let s = Standardizer::fit(&f);
        assert_eq!(s.constant_columns, [1, 2]);
        assert_eq!((s.mean[1], s.std[1]), (7.0, 1.0));
        s.transform(&mut f);
        assert_eq!(f.values(), &[-1.0, 0.0, 0.0, 1.0, 0.0, 0.0]);
        // A value the training rows never had still shows as a deviation.
        let mut unseen = Features::new(vec![1.5, 8.0, 0.0], 3).unwrap();
        s.transform(&mut unseen);
        assert_eq!(unseen.values(), &[0.0, 1.0, 0.0]);
    }

    #[test]
    fn a_large_offset_with_a_small_spread_keeps_its_spread() {
        let values: Vec<f32> = (0..100).map(|i| 1.0e5 + (i % 2) as f32 * 0.25).collect();
        let s = Standardizer::fit(&Features::new(values, 1).unwrap());
        assert!((s.std[0] - 0.125).abs() < 1e-6, "{:?}", s.std);
        assert!(s.constant_columns.is_empty());
    }
}

//! Feature scaling fitted on training rows only and replayed at prediction time.

use serde::{Deserialize, Serialize};

use crate::data::Features;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "column {column} is constant ({value}) in the training rows, so it cannot be standardised; drop it"
)]
pub struct ConstantColumn {
    pub column: usize,
    pub value: f32,
}

/// Per-column `(x - mean) / std`, as scikit-learn's `StandardScaler` (population std).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Standardizer {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl Standardizer {
    /// Column statistics of `features`; pass only the training rows.
    pub fn fit(features: &Features) -> Result<Self, ConstantColumn> {
        let n = features.len() as f64;
        let columns = features.n_features();
        let mut sum = vec![0f64; columns];
        let mut sum_sq = vec![0f64; columns];
        for row in features.rows() {
            for (c, &v) in row.iter().enumerate() {
                sum[c] += v as f64;
                sum_sq[c] += (v as f64) * (v as f64);
            }
        }
        let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
        let mut std = Vec::with_capacity(columns);
        for c in 0..columns {
            let variance = (sum_sq[c] / n - mean[c] * mean[c]).max(0.0);
            let sd = variance.sqrt();
            if sd <= 1e-12 * mean[c].abs().max(1.0) {
                return Err(ConstantColumn {
                    column: c,
                    value: mean[c] as f32,
                });
            }
            std.push(sd as f32);
        }
        Ok(Self {
            mean: mean.into_iter().map(|m| m as f32).collect(),
            std,
        })
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
        let s = Standardizer::fit(&f).unwrap();
        assert_eq!(s.mean, vec![3.0, 10.5]);
        assert!((s.std[0] - (8.0f32 / 3.0).sqrt()).abs() < 1e-6);
        s.transform(&mut f);
        let column0: Vec<f32> = f.rows().map(|r| r[0]).collect();
        assert!((column0.iter().sum::<f32>()).abs() < 1e-6);
        let column1: Vec<f32> = f.rows().map(|r| r[1]).collect();
        assert!((column1[2] - 0.5 / s.std[1]).abs() < 1e-5, "{column1:?}");
    }

    #[test]
    fn constant_column_is_an_error() {
        let f = Features::new(vec![1.0, 7.0, 2.0, 7.0], 2).unwrap();
        assert_eq!(
            Standardizer::fit(&f),
            Err(ConstantColumn {
                column: 1,
                value: 7.0
            })
        );
    }
}

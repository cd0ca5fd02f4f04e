//! Linear regression: `y = Σ wᵢxᵢ + b`, any number of inputs and outputs.

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;

use crate::batch::Inputs;
use crate::config::{ConfigError, ensure};
use crate::data::Features;
use crate::sparse;
use crate::summary::{LayerSummary, Summary};

#[derive(Config, Debug, PartialEq)]
pub struct LinearRegressionConfig {
    /// Number of input features.
    pub n_inputs: usize,
    /// Number of regression targets.
    #[config(default = 1)]
    pub n_outputs: usize,
}

/// One dense layer with no activation: the output is the prediction itself.
#[derive(Module, Debug)]
pub struct LinearRegression {
    pub linear: Linear,
}

impl LinearRegressionConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        ensure(
            self.n_inputs > 0,
            "linear regression: n_inputs must be at least 1",
        )?;
        ensure(
            self.n_outputs > 0,
            "linear regression: n_outputs must be at least 1",
        )
    }

    pub fn init(&self, device: &Device) -> LinearRegression {
        LinearRegression {
            linear: LinearConfig::new(self.n_inputs, self.n_outputs).init(device),
        }
    }

    pub fn summary(&self) -> Summary {
        Summary::new(
            "LinearRegression",
            vec![self.n_inputs],
            vec![LayerSummary::dense("linear", self.n_inputs, self.n_outputs)],
        )
    }
}

impl LinearRegression {
    /// `[batch, n_inputs]` → `[batch, n_outputs]`.
    pub fn forward(&self, input: impl Into<Inputs>) -> Tensor<2> {
        sparse::dense_layer(&self.linear, input.into())
    }

    /// The fitted coefficients: `weights[output][input]` and one intercept per output.
    pub fn coefficients(&self) -> (Vec<Vec<f32>>, Vec<f32>) {
        let [n_inputs, n_outputs] = self.linear.weight.val().dims();
        let w: Vec<f32> = self
            .linear
            .weight
            .val()
            .into_data()
            .try_to_vec()
            .expect("f32 weights");
        let weights = (0..n_outputs)
            .map(|o| (0..n_inputs).map(|i| w[i * n_outputs + o]).collect())
            .collect();
        let bias = match &self.linear.bias {
            Some(b) => b.val().into_data().try_to_vec().expect("f32 bias"),
            None => vec![0.0; n_outputs],
        };
        (weights, bias)
    }
}
/// The exact ordinary-least-squares fit of `y ≈ x·w + b` (one output): the reference that
/// gradient descent on [`LinearRegression`] should reach. Solves the centred normal equations
/// `(XcᵀXc) w = Xcᵀyc` by Cholesky in f64. A column that is (to 1e-5 of its length) a linear
/// combination of the columns before it, a constant column among them, gets weight 0: the
/// fitted values are those of any least-squares solution.
pub fn least_squares(features: &Features, targets: &[f32]) -> (Vec<f64>, f64) {
    let (n, p) = (features.len(), features.n_features());
    assert_eq!(n, targets.len(), "least_squares: one target per row");
    let column_mean = |c: usize| features.rows().map(|r| r[c] as f64).sum::<f64>() / n as f64;
    let x_mean: Vec<f64> = (0..p).map(column_mean).collect();
    let y_mean = targets.iter().map(|&y| y as f64).sum::<f64>() / n as f64;
    let mut gram = vec![vec![0.0f64; p]; p];
    let mut moment = vec![0.0f64; p];
    for (row, &y) in features.rows().zip(targets) {
        let centred: Vec<f64> = row
            .iter()
            .zip(&x_mean)
            .map(|(&v, m)| v as f64 - m)
            .collect();
        for i in 0..p {
            moment[i] += centred[i] * (y as f64 - y_mean);
            for j in 0..=i {
                gram[i][j] += centred[i] * centred[j];
            }
        }
    }
    // Cholesky: gram = L·Lᵀ, in place in the lower triangle. A dependent column's pivot is
    // (nearly) zero; its column of L stays zero, which drops it from both solves.
    let mut kept = vec![true; p];
    for j in 0..p {
        let diagonal = gram[j][j] - (0..j).map(|k| gram[j][k] * gram[j][k]).sum::<f64>();
        if diagonal <= 1e-10 * gram[j][j] || diagonal <= 0.0 {
            kept[j] = false;
            (j..p).for_each(|i| gram[i][j] = 0.0);
            continue;
        }
        gram[j][j] = diagonal.sqrt();
        for i in j + 1..p {
            gram[i][j] =
                (gram[i][j] - (0..j).map(|k| gram[i][k] * gram[j][k]).sum::<f64>()) / gram[j][j];
        }
    }
    // Solve L z = moment, then Lᵀ w = z, over the kept columns.
    let mut z = vec![0.0; p];
    for i in (0..p).filter(|&i| kept[i]) {
        z[i] = (moment[i] - (0..i).map(|k| gram[i][k] * z[k]).sum::<f64>()) / gram[i][i];
    }
    let mut w = vec![0.0; p];
    for i in (0..p).rev().filter(|&i| kept[i]) {
        w[i] = (z[i] - (i + 1..p).map(|k| gram[k][i] * w[k]).sum::<f64>()) / gram[i][i];
    }
    let bias = y_mean - w.iter().zip(&x_mean).map(|(w, m)| w * m).sum::<f64>();
    (w, bias)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_squares_recovers_exact_coefficients() {
        // y = 2·x0 − 3·x1 + 0.5, on points that are not collinear.
        let rows: Vec<Vec<f32>> = (0..20)
            .map(|i| vec![i as f32, ((i * 7) % 5) as f32])
            .collect();
        let y: Vec<f32> = rows.iter().map(|r| 2.0 * r[0] - 3.0 * r[1] + 0.5).collect();
        let (w, b) = least_squares(&Features::from_rows(&rows).unwrap(), &y);
        assert!(
            (w[0] - 2.0).abs() < 1e-9 && (w[1] + 3.0).abs() < 1e-9 && (b - 0.5).abs() < 1e-9,
            "{w:?} {b}"
        );
    }

    #[test]
    fn dependent_and_constant_columns_get_weight_zero() {
        // x1 = 2·x0 and x2 constant: y = 3·x0 + 1 is fitted through x0 alone.
        let rows: Vec<Vec<f32>> = (0..6)
            .map(|i| vec![i as f32, 2.0 * i as f32, 4.0])
            .collect();
        let y: Vec<f32> = (0..6).map(|i| 3.0 * i as f32 + 1.0).collect();
        let (w, b) = least_squares(&Features::from_rows(&rows).unwrap(), &y);
        assert!(
            (w[0] - 3.0).abs() < 1e-9 && w[1] == 0.0 && w[2] == 0.0,
            "{w:?}"
        );
        assert!((b - 1.0).abs() < 1e-9, "{b}");
    }
}

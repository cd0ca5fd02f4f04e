//! Linear regression: `y = Σ wᵢxᵢ + b`, any number of inputs and outputs.

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;

use crate::config::{ConfigError, ensure};
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
    pub fn forward(&self, input: Tensor<2>) -> Tensor<2> {
        self.linear.forward(input)
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

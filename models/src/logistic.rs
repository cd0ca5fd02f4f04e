//! Logistic regression: one sigmoid output for two classes, a softmax over K outputs for more.

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;

use crate::batch::Inputs;
use crate::config::{ConfigError, ensure};
use crate::sparse;
use crate::summary::{LayerSummary, Summary};
use crate::task::Task;

#[derive(Config, Debug, PartialEq)]
pub struct LogisticRegressionConfig {
    /// Number of input features.
    pub n_inputs: usize,
    /// Number of classes: 2 gives binary logistic regression with a single sigmoid output,
    /// more gives multinomial (softmax) regression with one output per class.
    pub n_classes: usize,
}

/// A dense layer whose outputs are logits; [`Task::probabilities`] turns them into class
/// probabilities (sigmoid for binary, softmax for multinomial), and the losses take logits for
/// numerical stability.
#[derive(Module, Debug)]
pub struct LogisticRegression {
    pub linear: Linear,
}

impl LogisticRegressionConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        ensure(
            self.n_inputs > 0,
            "logistic regression: n_inputs must be at least 1",
        )?;
        ensure(
            self.n_classes >= 2,
            "logistic regression: n_classes must be at least 2",
        )
    }

    /// The classification task this model solves.
    pub fn task(&self) -> Task {
        Task::classification(self.n_classes)
    }

    pub fn init(&self, device: &Device) -> LogisticRegression {
        let outputs = self.task().output_width();
        LogisticRegression {
            linear: LinearConfig::new(self.n_inputs, outputs).init(device),
        }
    }

    pub fn summary(&self) -> Summary {
        let outputs = self.task().output_width();
        let activation = if outputs == 1 { "sigmoid" } else { "softmax" };
        Summary::new(
            "LogisticRegression",
            vec![self.n_inputs],
            vec![
                LayerSummary::dense("linear", self.n_inputs, outputs),
                LayerSummary::parameterless(activation, "Activation", vec![outputs]),
            ],
        )
    }
}

impl LogisticRegression {
    /// `[batch, n_inputs]` → logits `[batch, 1]` (binary) or `[batch, n_classes]`.
    pub fn forward(&self, input: impl Into<Inputs>) -> Tensor<2> {
        sparse::dense_layer(&self.linear, input.into())
    }
}

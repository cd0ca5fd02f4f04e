//! What the model's outputs mean: regression values, or class logits. The task picks the loss,
//! the output activation and the metrics, so the models themselves stay plain layers.

use burn::nn::loss::{BinaryCrossEntropyLossConfig, CrossEntropyLossConfig, MseLoss, Reduction};
use burn::prelude::*;
use burn::tensor::activation::{sigmoid, softmax};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Task {
    /// Real-valued targets, mean squared error loss.
    Regression { n_outputs: usize },
    /// Two classes with a single logit: sigmoid + binary cross-entropy.
    Binary,
    /// K > 2 classes with one logit each: softmax + cross-entropy.
    Multiclass { n_classes: usize },
}

/// The targets of one batch, on the device.
#[derive(Clone, Debug)]
pub enum BatchTargets {
    /// Class indices, `[batch]`.
    Classes(Tensor<1, Int>),
    /// Regression values, `[batch, n_outputs]`.
    Values(Tensor<2>),
}

impl Task {
    /// Binary for two classes, multiclass otherwise.
    pub fn classification(n_classes: usize) -> Task {
        if n_classes == 2 {
            Task::Binary
        } else {
            Task::Multiclass { n_classes }
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Task::Regression { .. } => "regression",
            Task::Binary => "binary",
            Task::Multiclass { .. } => "multiclass",
        }
    }

    /// How many values the model must output per example.
    pub fn output_width(&self) -> usize {
        match *self {
            Task::Regression { n_outputs } => n_outputs,
            Task::Binary => 1,
            Task::Multiclass { n_classes } => n_classes,
        }
    }

    /// Values per example in [`Task::probabilities`]: one probability per class (two for a
    /// binary task), or the regression outputs.
    pub fn prediction_width(&self) -> usize {
        self.n_classes().unwrap_or(self.output_width())
    }

    /// Number of classes, or `None` for regression.
    pub fn n_classes(&self) -> Option<usize> {
        match *self {
            Task::Regression { .. } => None,
            Task::Binary => Some(2),
            Task::Multiclass { n_classes } => Some(n_classes),
        }
    }

    /// Mean loss over the batch: MSE, binary cross-entropy or cross-entropy, all computed
    /// from raw outputs (logits), which is the numerically stable form of "sigmoid/softmax
    /// output + cross-entropy".
    ///
    /// Panics if the targets do not match the task; [`crate::data::Subsets::check_task`]
    /// rules that out before training.
    pub fn loss(&self, outputs: Tensor<2>, targets: &BatchTargets) -> Tensor<1> {
        let device = outputs.device();
        match (self, targets) {
            (Task::Regression { .. }, BatchTargets::Values(values)) => {
                MseLoss::new().forward(outputs, values.clone(), Reduction::Mean)
            }
            (Task::Binary, BatchTargets::Classes(classes)) => {
                let [batch] = classes.dims();
                BinaryCrossEntropyLossConfig::new()
                    .with_logits(true)
                    .init(&device)
                    .forward(outputs, classes.clone().reshape([batch, 1]))
            }
            (Task::Multiclass { .. }, BatchTargets::Classes(classes)) => {
                CrossEntropyLossConfig::new()
                    .init(&device)
                    .forward(outputs, classes.clone())
            }
            (task, _) => panic!("targets do not match the {} task", task.name()),
        }
    }

    /// Turns raw outputs into what users read: class probabilities `[batch, n_classes]`
    /// (binary gives `[1 - p, p]`), or the regression values unchanged.
    pub fn probabilities(&self, outputs: Tensor<2>) -> Tensor<2> {
        match self {
            Task::Regression { .. } => outputs,
            Task::Binary => {
                let p = sigmoid(outputs);
                Tensor::cat(vec![p.clone().neg() + 1.0, p], 1)
            }
            Task::Multiclass { .. } => softmax(outputs, 1),
        }
    }

    /// Predicted class of each example, `[batch]`; `None` for regression.
    pub fn predicted_classes(&self, outputs: Tensor<2>) -> Option<Tensor<1, Int>> {
        let [batch, _] = outputs.dims();
        match self {
            Task::Regression { .. } => None,
            // p >= 0.5 exactly when the logit is >= 0, as Keras' binary accuracy counts it.
            Task::Binary => Some(outputs.greater_equal_elem(0.0).int().reshape([batch])),
            Task::Multiclass { .. } => Some(outputs.argmax(1).reshape([batch])),
        }
    }
}

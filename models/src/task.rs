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

    /// [`Task::loss`] with each example's loss weighted by its class's weight in
    /// `class_weights` (one per class): the mean over the batch of weight × loss, as Keras'
    /// `class_weight` computes it and not divided by the batch's sum of weights as PyTorch's
    /// weighted cross-entropy is, so that batches and chunks add up to the weighted mean over
    /// the training set (scikit-learn's objective for balanced weights). Regression ignores
    /// them; `FitConfig::check_model` refuses that before training.
    pub fn weighted_loss(
        &self,
        outputs: Tensor<2>,
        targets: &BatchTargets,
        class_weights: Option<&[f32]>,
    ) -> Tensor<1> {
        let (Some(weights), BatchTargets::Classes(classes)) = (class_weights, targets) else {
            return self.loss(outputs, targets);
        };
        let device = outputs.device();
        let [batch] = classes.dims();
        match self {
            Task::Regression { .. } => self.loss(outputs, targets),
            // Burn's binary cross-entropy on one logit per example weighs each by its class's
            // weight and takes the plain mean.
            Task::Binary => BinaryCrossEntropyLossConfig::new()
                .with_logits(true)
                .with_weights(Some(weights.to_vec()))
                .init(&device)
                .forward(outputs.reshape([batch]), classes.clone()),
            // Burn's weighted cross-entropy divides by the batch's sum of weights: times that
            // sum over the batch size, the mean of weight × loss.
            Task::Multiclass { .. } => {
                let batch_weight = Tensor::<1>::from_floats(weights, &device)
                    .gather(0, classes.clone())
                    .sum()
                    / batch as f32;
                CrossEntropyLossConfig::new()
                    .with_weights(Some(weights.to_vec()))
                    .init(&device)
                    .forward(outputs, classes.clone())
                    * batch_weight
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::BackendKind;

    /// The mean over the batch of weight × the example's loss, computed one example at a time.
    fn weighted_by_hand(task: Task, outputs: &[Vec<f32>], labels: &[i64], weights: &[f32]) -> f32 {
        let device = BackendKind::default_for_build().device().unwrap();
        let terms: Vec<f32> = outputs
            .iter()
            .zip(labels)
            .map(|(row, &label)| {
                let output =
                    Tensor::<2>::from_data(TensorData::new(row.clone(), [1, row.len()]), &device);
                let target = BatchTargets::Classes(Tensor::from_ints([label], &device));
                weights[label as usize] * task.loss(output, &target).into_scalar::<f32>()
            })
            .collect();
        terms.iter().sum::<f32>() / terms.len() as f32
    }

    #[test]
    fn class_weights_weigh_each_example_and_average_over_the_batch() {
        let device = BackendKind::default_for_build().device().unwrap();
        let cases = [
            (
                Task::Binary,
                vec![vec![0.3], vec![-1.2], vec![2.0]],
                vec![1, 0, 1],
                vec![0.5, 4.0],
            ),
            (
                Task::Multiclass { n_classes: 3 },
                vec![
                    vec![0.3, -0.1, 1.0],
                    vec![-1.2, 0.4, 0.0],
                    vec![2.0, 1.0, -1.0],
                ],
                vec![2, 0, 0],
                vec![0.25, 3.0, 2.0],
            ),
        ];
        for (task, outputs, labels, weights) in cases {
            let width = outputs[0].len();
            let batch = Tensor::<2>::from_data(
                TensorData::new(outputs.concat(), [outputs.len(), width]),
                &device,
            );
            let targets = BatchTargets::Classes(Tensor::from_data(
                TensorData::new(labels.clone(), [labels.len()]),
                &device,
            ));
            let weighted = task
                .weighted_loss(batch.clone(), &targets, Some(&weights))
                .into_scalar::<f32>();
            let expected = weighted_by_hand(task, &outputs, &labels, &weights);
            assert!(
                (weighted - expected).abs() < 1e-5,
                "{}: {weighted} vs {expected}",
                task.name()
            );
            // Weights of 1 are the plain loss.
            let ones = vec![1.0; weights.len()];
            let plain = task.loss(batch.clone(), &targets).into_scalar::<f32>();
            let unit = task
                .weighted_loss(batch, &targets, Some(&ones))
                .into_scalar::<f32>();
            assert!((plain - unit).abs() < 1e-6, "{plain} vs {unit}");
        }
    }
}

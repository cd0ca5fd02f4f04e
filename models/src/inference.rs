//! `predict` and `evaluate`: no gradients, batch by batch, on whatever device holds the model.

use std::collections::BTreeMap;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::batch::FeatureSource;
use crate::config::ensure;
use crate::data::{Subsets, TargetData, check_feature_count};
use crate::dataset::ToExampleSet;
use crate::error::{Error, Result};
use crate::metrics::{
    ClassificationReport, RegressionReport, classification_report, regression_report,
};
use crate::model::Model;
use crate::task::Task;

/// What the model says about each example: class probabilities (`width` = number of classes)
/// or regression values (`width` = number of outputs), row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Predictions {
    pub task: Task,
    pub values: Vec<f32>,
    pub width: usize,
}

impl Predictions {
    pub fn len(&self) -> usize {
        self.values.len() / self.width
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn row(&self, i: usize) -> &[f32] {
        &self.values[i * self.width..(i + 1) * self.width]
    }

    /// The most probable class of each example (`None` for regression). For a binary task the
    /// positive class wins when its probability is at least 0.5, as during training.
    pub fn classes(&self) -> Option<Vec<usize>> {
        let rows = self.values.chunks_exact(self.width);
        match self.task {
            Task::Regression { .. } => None,
            Task::Binary => Some(rows.map(|p| usize::from(p[1] >= 0.5)).collect()),
            Task::Multiclass { .. } => Some(
                rows.map(|p| {
                    p.iter()
                        .enumerate()
                        .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
                            if v > best.1 { (i, v) } else { best }
                        })
                        .0
                })
                .collect(),
            ),
        }
    }
}

/// Loss and metrics of a model on a labelled set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub loss: f64,
    pub metrics: Metrics,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Metrics {
    Classification(ClassificationReport),
    Regression(RegressionReport),
}

impl Evaluation {
    /// The figures worth a column in a log line: loss, then accuracy and macro-F1, or MSE,
    /// MAE and R².
    pub fn headline(&self) -> BTreeMap<&'static str, f64> {
        let mut figures = BTreeMap::from([("loss", self.loss)]);
        match &self.metrics {
            Metrics::Classification(r) => {
                figures.insert("accuracy", r.accuracy);
                figures.insert("macro_f1", r.macro_f1);
            }
            Metrics::Regression(r) => {
                figures.insert("mse", r.mse);
                figures.insert("mae", r.mae);
                figures.insert("r2", r.r2);
            }
        }
        figures
    }
}

fn check_batch_size(batch_size: usize) -> Result<()> {
    Ok(ensure(batch_size > 0, "batch size must be at least 1")?)
}

fn read_f32(tensor: Tensor<2>) -> Result<Vec<f32>> {
    tensor
        .into_data()
        .try_to_vec::<f32>()
        .map_err(|e| Error::Device(format!("{e:?}")))
}

/// Runs the model over `features` (a matrix in memory, sparse rows, or any source) batch by
/// batch and returns probabilities or values.
pub fn predict(
    model: &Model,
    task: Task,
    features: &dyn FeatureSource,
    batch_size: usize,
) -> Result<Predictions> {
    check_batch_size(batch_size)?;
    check_feature_count(features.n_features(), model.n_inputs())?;
    let device = model.device();
    let mut values =
        Vec::with_capacity(features.len() * task.n_classes().unwrap_or(task.output_width()));
    for start in (0..features.len()).step_by(batch_size) {
        let rows: Vec<usize> = (start..(start + batch_size).min(features.len())).collect();
        let outputs = model.forward(features.inputs(&rows, &device)?);
        values.extend(read_f32(task.probabilities(outputs))?);
    }
    let width = task.n_classes().unwrap_or(task.output_width());
    Ok(Predictions {
        task,
        values,
        width,
    })
}

/// Mean loss and the task's metrics over a labelled set.
pub fn evaluate<E: ToExampleSet + ?Sized>(
    model: &Model,
    task: Task,
    data: &E,
    batch_size: usize,
) -> Result<Evaluation> {
    check_batch_size(batch_size)?;
    let data = data.to_example_set();
    data.check_task(&task, model.n_inputs())?;
    let device = model.device();
    let n = data.len();
    let mut loss_sum = 0.0;
    let mut values = Vec::new();
    let indices: Vec<usize> = (0..n).collect();
    for chunk in indices.chunks(batch_size) {
        let batch = data.batch(chunk, &device)?;
        let outputs = model.forward(batch.inputs);
        let loss = task.loss(outputs.clone(), &batch.targets);
        loss_sum += loss.into_scalar::<f32>() as f64 * chunk.len() as f64;
        values.extend(read_f32(task.probabilities(outputs))?);
    }
    let width = task.n_classes().unwrap_or(task.output_width());
    let predictions = Predictions {
        task,
        values,
        width,
    };
    let metrics = match data.targets() {
        TargetData::Classes { labels, n_classes } => {
            let predicted = predictions.classes().expect("classification task");
            Metrics::Classification(classification_report(&predicted, labels, *n_classes))
        }
        TargetData::Values { values, n_outputs } => {
            Metrics::Regression(regression_report(&predictions.values, values, *n_outputs))
        }
    };
    Ok(Evaluation {
        loss: loss_sum / n as f64,
        metrics,
    })
}

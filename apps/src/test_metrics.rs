//! What a model scores on a test set, the same for every app: loss and the task's metrics,
//! regression errors in the target's own units; what `train` saves as `metrics.json`'s `test`
//! and `evaluate` prints.

use serde::{Deserialize, Serialize};
use zoo_models::data::{DataError, Inputs, TargetData};
use zoo_models::dataset::{ExampleSet, FeatureSource};
use zoo_models::inference::{Evaluation, Metrics, evaluate, predict};
use zoo_models::metrics::regression_report;
use zoo_models::model::Model;
use zoo_models::prelude::Device;
use zoo_models::task::Task;

use crate::preprocessing::Preprocessing;

/// Batch size of `evaluate` and `predict`: inference only, so bigger than a training batch.
pub const INFERENCE_BATCH: usize = 256;

/// Precision, recall and F1 of one class, under its name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassFigures {
    pub class: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
}

/// Test-set figures: loss and the task's metrics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TestMetrics {
    Classification {
        loss: f64,
        accuracy: f64,
        macro_f1: f64,
        per_class: Vec<ClassFigures>,
        /// `confusion[true class][predicted class]`.
        confusion: Vec<Vec<usize>>,
    },
    Regression {
        loss: f64,
        mse: f64,
        mae: f64,
        r2: f64,
    },
}

impl TestMetrics {
    pub fn new(evaluation: &Evaluation, class_names: &[String]) -> Self {
        match &evaluation.metrics {
            Metrics::Classification(report) => TestMetrics::Classification {
                loss: evaluation.loss,
                accuracy: report.accuracy,
                macro_f1: report.macro_f1,
                per_class: report
                    .per_class
                    .iter()
                    .enumerate()
                    .map(|(c, m)| ClassFigures {
                        class: class_names.get(c).cloned().unwrap_or_else(|| c.to_string()),
                        precision: m.precision,
                        recall: m.recall,
                        f1: m.f1,
                        support: m.support,
                    })
                    .collect(),
                confusion: report.confusion.clone(),
            },
            Metrics::Regression(report) => TestMetrics::Regression {
                loss: evaluation.loss,
                mse: report.mse,
                mae: report.mae,
                r2: report.r2,
            },
        }
    }

    pub fn task(&self) -> &'static str {
        match self {
            TestMetrics::Classification { .. } => "classification",
            TestMetrics::Regression { .. } => "regression",
        }
    }

    /// A table in the layout of scikit-learn's `classification_report`, or the regression
    /// figures one per line.
    pub fn table(&self) -> String {
        match self {
            TestMetrics::Classification {
                loss,
                accuracy,
                macro_f1,
                per_class,
                ..
            } => {
                let width = per_class
                    .iter()
                    .map(|c| c.class.chars().count())
                    .max()
                    .unwrap_or(0)
                    .max(9);
                let support: usize = per_class.iter().map(|c| c.support).sum();
                let mut table = format!("{:>width$}  precision  recall  f1-score  support\n\n", "");
                for c in per_class {
                    table += &format!(
                        "{:>width$}  {:>9.4}  {:>6.4}  {:>8.4}  {:>7}\n",
                        c.class, c.precision, c.recall, c.f1, c.support
                    );
                }
                table += &format!(
                    "\n{:>width$}  {:>9}  {:>6}  {accuracy:>8.4}  {support:>7}\n",
                    "accuracy", "", ""
                );
                table += &format!(
                    "{:>width$}  {:>9}  {:>6}  {macro_f1:>8.4}  {support:>7}\n",
                    "macro avg", "", ""
                );
                table += &format!("{:>width$}  {loss:.4}\n", "loss");
                table
            }
            TestMetrics::Regression { loss, mse, mae, r2 } => {
                format!("loss {loss:.4}\nmse  {mse:.4}\nmae  {mae:.4}\nr2   {r2:.4}\n")
            }
        }
    }
}

/// The test figures of `model` on `test`: its evaluation, with a regression's errors in the
/// target's own units (`preprocessing` undoes the target's scaling).
pub fn measure(
    model: &Model,
    task: Task,
    class_names: &[String],
    test: &ExampleSet,
    preprocessing: &dyn Preprocessing,
) -> anyhow::Result<TestMetrics> {
    let evaluation = evaluate(model, task, test, INFERENCE_BATCH)?;
    let TargetData::Values { values, n_outputs } = test.targets() else {
        return Ok(TestMetrics::new(&evaluation, class_names));
    };
    let unscale = |v: &f32| preprocessing.output_value(*v);
    let predicted: Vec<f32> = predict(model, task, &TestRows(test), INFERENCE_BATCH)?
        .values
        .iter()
        .map(unscale)
        .collect();
    let actual: Vec<f32> = values.iter().map(unscale).collect();
    let report = regression_report(&predicted, &actual, *n_outputs);
    Ok(TestMetrics::Regression {
        loss: evaluation.loss,
        mse: report.mse,
        mae: report.mae,
        r2: report.r2,
    })
}

/// A test set's rows, for `predict`.
struct TestRows<'a>(&'a ExampleSet);

impl FeatureSource for TestRows<'_> {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn n_features(&self) -> usize {
        self.0.n_features()
    }

    fn inputs(&self, indices: &[usize], device: &Device) -> Result<Inputs, DataError> {
        Ok(self.0.batch(indices, device)?.inputs)
    }
}

/// What `evaluate` prints: the table, or JSON for machines.
pub fn print_test_metrics(metrics: &TestMetrics, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(metrics)?);
    } else {
        print!("{}", metrics.table());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use zoo_models::metrics::classification_report;

    #[test]
    fn classification_table_names_classes_and_totals() {
        let evaluation = Evaluation {
            loss: 0.25,
            metrics: Metrics::Classification(classification_report(
                &[0, 1, 1, 1],
                &[0, 1, 1, 0],
                2,
            )),
        };
        let names = ["ham".to_string(), "spam".to_string()];
        let metrics = TestMetrics::new(&evaluation, &names);
        let table = metrics.table();
        assert!(
            table.contains("      ham     1.0000  0.5000    0.6667        2"),
            "{table}"
        );
        assert!(
            table.contains("     spam     0.6667  1.0000    0.8000        2"),
            "{table}"
        );
        assert!(
            table.contains(" accuracy                       0.7500        4"),
            "{table}"
        );
        let json = serde_json::to_value(&metrics).unwrap();
        assert_eq!(json["per_class"][1]["class"], "spam");
        assert_eq!(json["accuracy"], 0.75);
        let back: TestMetrics = serde_json::from_value(json).unwrap();
        assert_eq!(back, metrics);
    }
}

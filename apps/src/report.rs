//! What `train` leaves in `--out` and what `evaluate` prints, the same for every app:
//! `model.bpk` + `model.json` (the model), `history.json` (per-epoch figures), `metrics.json`
//! (test-set figures), `split.json` (which examples trained, validated and tested it),
//! `learning-curve.png` and, for classifiers, `confusion-matrix.png`.

use std::path::Path;

use anyhow::Context;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use zoo_models::backend::BackendKind;
use zoo_models::inference::{Evaluation, Metrics, Predictions, evaluate};
use zoo_models::interop;
use zoo_models::model::Model;
use zoo_models::prelude::Device;
use zoo_models::store::{self, MANIFEST_FILE, ModelManifest, write_atomic, write_json_atomic};
use zoo_models::train::{FitConfig, History, StopReason, fit_data_parallel};

use crate::cli::{InitialWeights, TrainingDevices};
use crate::error::LoadError;
use crate::plots;
use crate::preprocessing::Preprocessing;
use crate::split::{DataSplit, SPLIT_FILE, SplitIds};

/// Batch size of `evaluate` and `predict`: inference only, so bigger than a training batch.
pub const INFERENCE_BATCH: usize = 256;
pub const HISTORY_FILE: &str = "history.json";
pub const METRICS_FILE: &str = "metrics.json";
pub const LEARNING_CURVE_FILE: &str = "learning-curve.png";
pub const CONFUSION_MATRIX_FILE: &str = "confusion-matrix.png";

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

/// The contents of `metrics.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricsFile {
    pub task: String,
    pub model: String,
    pub backend: BackendKind,
    pub test: TestMetrics,
    pub epochs_run: usize,
    pub train_seconds: f64,
    pub train_samples_per_second: f64,
    pub stop: StopReason,
}

/// Saves a trained model and everything that documents its training into `out`. Each file is
/// written atomically; the model comes first, so an interrupted run keeps the usable part.
pub fn save_training_run(
    out: &Path,
    model: &Model,
    manifest: &ModelManifest,
    history: &History,
    test: &TestMetrics,
    split: &SplitIds,
    backend: BackendKind,
) -> anyhow::Result<MetricsFile> {
    store::save(out, model, manifest)?;
    write_json_atomic(&out.join(HISTORY_FILE), history)?;
    write_json_atomic(&out.join(SPLIT_FILE), split)?;
    let metrics = MetricsFile {
        task: test.task().to_string(),
        model: manifest.model.name().to_string(),
        backend,
        test: test.clone(),
        epochs_run: history.epochs_run(),
        train_seconds: history.train_seconds,
        train_samples_per_second: history.train_samples_per_second,
        stop: history.stop.clone(),
    };
    write_json_atomic(&out.join(METRICS_FILE), &metrics)?;
    let curve = plots::learning_curve(history).map_err(anyhow::Error::msg)?;
    write_atomic(&out.join(LEARNING_CURVE_FILE), &curve)?;
    if let TestMetrics::Classification { confusion, .. } = test {
        let png = plots::confusion_matrix(confusion, &manifest.class_names)
            .map_err(anyhow::Error::msg)
            .context(CONFUSION_MATRIX_FILE)?;
        write_atomic(&out.join(CONFUSION_MATRIX_FILE), &png)?;
    }
    Ok(metrics)
}

/// The part of `train` every app shares: the model is initialised from the seed on
/// `backend`, fitted on the split's training and validation examples, tested on its test
/// examples, then saved into `out` with all the files above.
pub fn fit_test_and_save(
    manifest: ModelManifest,
    split: &DataSplit,
    fit_config: &FitConfig,
    devices: &TrainingDevices,
    initial_weights: Option<&InitialWeights>,
    out: &Path,
) -> anyhow::Result<MetricsFile> {
    fit_test_and_save_with(
        manifest,
        split,
        fit_config,
        devices,
        initial_weights,
        out,
        |_, evaluation, names| Ok(TestMetrics::new(evaluation, names)),
    )
}

/// Says so when a run meant to converge ran out of epochs first.
fn warn_unconverged(history: &History, fit_config: &FitConfig) {
    if let (Some(convergence), StopReason::EpochBudget) = (&fit_config.convergence, &history.stop) {
        let last_change = match history.epochs.as_slice() {
            [.., before, last] => (before.loss - last.loss) / before.loss.abs(),
            _ => f64::NAN,
        };
        eprintln!(
            "warning: training did not converge within {} epochs (the loss fell by {:.1e} of \
             itself in the last one; convergence is {} epochs in a row below {:.0e}); raise \
             --epochs",
            history.epochs_run(),
            last_change,
            convergence.patience,
            convergence.tol
        );
    }
}

/// [`fit_test_and_save`] with the app's own test figures, computed from the trained model and
/// its evaluation (the tabular app reports regression errors in the target's own units).
pub fn fit_test_and_save_with(
    manifest: ModelManifest,
    split: &DataSplit,
    fit_config: &FitConfig,
    devices: &TrainingDevices,
    initial_weights: Option<&InitialWeights>,
    out: &Path,
    test_metrics: impl FnOnce(&Model, &Evaluation, &[String]) -> anyhow::Result<TestMetrics>,
) -> anyhow::Result<MetricsFile> {
    let device = &devices.main;
    device.seed(fit_config.seed);
    let mut model = manifest.model.init(device)?;
    // A resumed run's weights come from its checkpoint.
    if let Some(weights) = initial_weights.filter(|_| !fit_config.resume) {
        interop::load_pytorch(&mut model, &weights.path, &weights.renames)?;
    }
    // The split already holds the validation part out.
    let fit_config = FitConfig {
        validation_split: 0.0,
        ..fit_config.clone()
    };
    let fitted = fit_data_parallel(
        model,
        &devices.replicas,
        manifest.task,
        &split.train,
        split.validation.as_ref(),
        &fit_config,
    )?;
    warn_unconverged(&fitted.history, &fit_config);
    let evaluation = evaluate(&fitted.model, manifest.task, &split.test, INFERENCE_BATCH)?;
    let metrics = test_metrics(&fitted.model, &evaluation, &manifest.class_names)?;
    save_training_run(
        out,
        &fitted.model,
        &manifest,
        &fitted.history,
        &metrics,
        &split.ids,
        devices.backend,
    )
    .with_context(|| format!("saving to {}", out.display()))
}

/// The `top` most probable classes of example `i`, most probable first, with their
/// probabilities.
pub fn ranked_classes(
    predictions: &Predictions,
    class_names: &[String],
    i: usize,
    top: usize,
) -> Vec<(String, f32)> {
    let mut ranked: Vec<(String, f32)> = class_names
        .iter()
        .cloned()
        .zip(predictions.row(i).iter().copied())
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    ranked.truncate(top.max(1));
    ranked
}

/// `input: 7 0.9981, 9 0.0012, …`, the line `predict` prints for one input.
pub fn ranked_line(input: &str, ranked: &[(String, f32)]) -> String {
    let classes: Vec<String> = ranked
        .iter()
        .map(|(class, p)| format!("{class} {p:.4}"))
        .collect();
    format!("{input}: {}", classes.join(", "))
}

/// What `train` prints when done: the test figures and where the run was saved.
pub fn print_training_summary(metrics: &MetricsFile, out: &Path) {
    println!("{}", metrics.test.table());
    println!(
        "{} epochs in {:.1}s ({:.0} samples/s); saved to {}",
        metrics.epochs_run,
        metrics.train_seconds,
        metrics.train_samples_per_second,
        out.display()
    );
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

/// A model saved by an app's `train`, with that app's preprocessing state `P`.
pub struct SavedModel<P> {
    pub model: Model,
    pub manifest: ModelManifest,
    pub preprocessing: P,
}

impl<P: Preprocessing + DeserializeOwned> SavedModel<P> {
    /// Loads a model folder onto `device`; a folder written by another app, or whose
    /// preprocessing does not fit its model, is an error.
    pub fn load(dir: &Path, device: &Device, app: &str) -> anyhow::Result<Self> {
        let (model, manifest) = store::load(dir, device)?;
        let manifest_error = |message: String| LoadError::new(&dir.join(MANIFEST_FILE), message);
        let preprocessing: P = serde_json::from_value(manifest.preprocessing.clone())
            .map_err(|e| manifest_error(format!("not a model of {app}: {e}")))?;
        preprocessing
            .check(model.n_inputs())
            .map_err(manifest_error)?;
        Ok(Self {
            model,
            manifest,
            preprocessing,
        })
    }
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

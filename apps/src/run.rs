//! What `train` leaves in `--out`, the same for every app: `model.bpk` + `model.json` (the
//! model), `history.json` (per-epoch figures), `metrics.json` (test-set figures), `split.json`
//! (which examples trained, validated and tested it), `learning-curve.png` and, for
//! classifiers, `confusion-matrix.png`; and the training run that makes them.

use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use zoo_models::backend::BackendKind;
use zoo_models::interop;
use zoo_models::model::Model;
use zoo_models::store::{self, ModelManifest, write_atomic, write_json_atomic};
use zoo_models::train::{
    FitConfig, FoldScore, History, StopReason, cross_validate, fit_data_parallel,
};

use crate::cli::{InitialWeights, TrainingDevices};
use crate::plots;
use crate::preprocessing::Preprocessing;
use crate::split::{DataSplit, SPLIT_FILE, SplitIds};
use crate::test_metrics::{TestMetrics, measure};

pub const HISTORY_FILE: &str = "history.json";
pub const CV_FILE: &str = "cv.json";
pub const METRICS_FILE: &str = "metrics.json";
pub const LEARNING_CURVE_FILE: &str = "learning-curve.png";
pub const CONFUSION_MATRIX_FILE: &str = "confusion-matrix.png";

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

/// `cv.json`: the scores of a cross-validation of the training rows.
#[derive(Serialize)]
struct CvFile<'a> {
    k: usize,
    metric: &'static str,
    mean: f64,
    std: f64,
    /// Each fold's held-out rows (positions in `split.json`'s `train` list) and score.
    folds: &'a [FoldScore],
}

/// Cross-validates `manifest`'s model on `split`'s training rows in `k` folds with
/// `fit_config` (on the main device; the validation rows are not used), prints the scores and
/// writes them into `out`'s `cv.json`.
pub fn cross_validate_and_save(
    manifest: &ModelManifest,
    split: &DataSplit,
    fit_config: &FitConfig,
    devices: &TrainingDevices,
    k: usize,
    out: &Path,
) -> anyhow::Result<()> {
    let fit_config = FitConfig {
        validation_split: 0.0,
        ..fit_config.clone()
    };
    let cv = cross_validate(
        &manifest.model,
        manifest.task,
        &split.train,
        &fit_config,
        k,
        &devices.main,
    )?;
    for (fold, score) in cv.folds.iter().enumerate() {
        println!(
            "fold {}/{k}: {} {:.4} on {} rows",
            fold + 1,
            cv.metric,
            score.score,
            score.test_rows.len()
        );
    }
    println!(
        "cross-validation {}: {:.4} ± {:.4} ({k} folds)",
        cv.metric,
        cv.mean(),
        cv.std()
    );
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let file = CvFile {
        k,
        metric: cv.metric,
        mean: cv.mean(),
        std: cv.std(),
        folds: &cv.folds,
    };
    write_json_atomic(&out.join(CV_FILE), &file)?;
    Ok(())
}

/// The part of `train` every app shares: the model is initialised from the seed on the main
/// device, fitted on the split's training and validation examples, tested on its test
/// examples, then saved into `out` with all the files above.
pub fn fit_test_and_save(
    manifest: ModelManifest,
    split: &DataSplit,
    fit_config: &FitConfig,
    devices: &TrainingDevices,
    initial_weights: Option<&InitialWeights>,
    out: &Path,
    preprocessing: &dyn Preprocessing,
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
    let metrics = measure(
        &fitted.model,
        manifest.task,
        &manifest.class_names,
        &split.test,
        preprocessing,
    )?;
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

//! K-fold cross-validation, as scikit-learn's `cross_val_score`: `k` models, each trained on
//! all folds but one and scored on that one. The folds are index sets over one `ExampleSet`
//! (no features are copied, so it works at the sizes `fit` handles out of memory), stratified
//! for classification and seeded (`TargetData::folds`).

use burn::prelude::Device;
use serde::Serialize;

use super::config::FitConfig;
use super::fit::fit;
use crate::config::ensure;
use crate::dataset::ExampleSet;
use crate::error::Result;
use crate::inference::{Metrics, evaluate};
use crate::model::ModelConfig;
use crate::task::Task;

/// One fold's held-out examples and the score of the model trained without them.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FoldScore {
    /// Positions in the cross-validated set.
    pub test_rows: Vec<usize>,
    pub score: f64,
}

/// The folds' scores: accuracy for classification, R² for regression (`cross_val_score`'s
/// default scorers).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CrossValidation {
    pub metric: &'static str,
    pub folds: Vec<FoldScore>,
}

impl CrossValidation {
    pub fn mean(&self) -> f64 {
        self.folds.iter().map(|f| f.score).sum::<f64>() / self.folds.len() as f64
    }

    /// The scores' standard deviation (over the folds, not an estimate: NumPy's default, what
    /// `scores.std()` prints).
    pub fn std(&self) -> f64 {
        let mean = self.mean();
        let variance = self
            .folds
            .iter()
            .map(|f| (f.score - mean).powi(2))
            .sum::<f64>()
            / self.folds.len() as f64;
        variance.sqrt()
    }
}

/// Trains `k` models of `model` for `task` on `data` with `config` (each on all folds but one,
/// its weights seeded with `config.seed` on `device`, no checkpoints, logs or resume) and scores
/// each on its held-out fold.
pub fn cross_validate(
    model: &ModelConfig,
    task: Task,
    data: &ExampleSet,
    config: &FitConfig,
    k: usize,
    device: &Device,
) -> Result<CrossValidation> {
    ensure(
        k >= 2 && k <= data.len(),
        format!(
            "cross-validation needs 2 to {} folds for {} examples, not {k}",
            data.len(),
            data.len()
        ),
    )?;
    let config = FitConfig {
        checkpoints: None,
        log_dir: None,
        resume: false,
        ..config.clone()
    };
    let folds = data.targets().folds(k, config.seed);
    let mut scores = Vec::with_capacity(k);
    for (held_out, test_rows) in folds.iter().enumerate() {
        let train_rows: Vec<usize> = folds
            .iter()
            .enumerate()
            .filter(|(fold, _)| *fold != held_out)
            .flat_map(|(_, rows)| rows.iter().copied())
            .collect();
        device.seed(config.seed);
        let fitted = fit(
            model.init(device)?,
            task,
            &data.select(&train_rows),
            None,
            &config,
        )?;
        let evaluation = evaluate(
            &fitted.model,
            task,
            &data.select(test_rows),
            config.batch_size,
        )?;
        let score = match evaluation.metrics {
            Metrics::Classification(report) => report.accuracy,
            Metrics::Regression(report) => report.r2,
        };
        scores.push(FoldScore {
            test_rows: test_rows.clone(),
            score,
        });
    }
    let metric = match task {
        Task::Regression { .. } => "r2",
        _ => "accuracy",
    };
    Ok(CrossValidation {
        metric,
        folds: scores,
    })
}

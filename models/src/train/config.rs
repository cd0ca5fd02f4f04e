//! The training settings: the optimizer, the stopping rules and [`FitConfig`], each checked
//! before anything is built or trained, as linfa checks its hyper-parameters.

use std::path::PathBuf;

use burn::optim::momentum::MomentumConfig;
use burn::optim::{ModuleOptimizer, SgdConfig};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, ensure};
use crate::data::Holdout;
use crate::model::Model;
use crate::task::Task;

/// The optimizer and its hyper-parameters (the learning rate lives in [`FitConfig`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum OptimizerConfig {
    Adam {
        beta_1: f32,
        beta_2: f32,
        epsilon: f32,
    },
    Sgd {
        momentum: f64,
        nesterov: bool,
    },
    /// Burn's L-BFGS with a strong-Wolfe line search, on the whole training set at once: the
    /// optimiser for convex problems (linear and logistic regression), as scikit-learn's
    /// default solver. One epoch is one L-BFGS iteration; the batch size is unused (the training
    /// and validation sets go through in chunks of [`super::full_batch_chunk`] rows) and the
    /// learning rate is the line search's first step (1 is the usual choice).
    Lbfgs {
        /// Steps remembered, at most: fewer when they would take more than
        /// [`super::LBFGS_HISTORY_BYTES`].
        history_size: usize,
    },
}

impl OptimizerConfig {
    /// Adam with Keras' defaults, including its epsilon of 1e-7 (Burn's default is 1e-5).
    pub fn adam() -> Self {
        OptimizerConfig::Adam {
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-7,
        }
    }

    /// L-BFGS remembering the last 100 steps, as PyTorch's default, within
    /// [`super::LBFGS_HISTORY_BYTES`].
    pub fn lbfgs() -> Self {
        OptimizerConfig::Lbfgs { history_size: 100 }
    }

    /// Whether each step sees the whole training set.
    pub fn is_full_batch(&self) -> bool {
        matches!(self, OptimizerConfig::Lbfgs { .. })
    }

    /// SGD with classical momentum (no dampening, as in Keras and PyTorch); 0 for plain SGD.
    pub fn sgd(momentum: f64) -> Self {
        OptimizerConfig::Sgd {
            momentum,
            nesterov: false,
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        match *self {
            OptimizerConfig::Adam {
                beta_1,
                beta_2,
                epsilon,
            } => {
                ensure(
                    (0.0..1.0).contains(&beta_1),
                    "adam: beta_1 must be in [0, 1)",
                )?;
                ensure(
                    (0.0..1.0).contains(&beta_2),
                    "adam: beta_2 must be in [0, 1)",
                )?;
                ensure(epsilon > 0.0, "adam: epsilon must be positive")
            }
            OptimizerConfig::Sgd { momentum, .. } => ensure(
                (0.0..1.0).contains(&momentum),
                "sgd: momentum must be in [0, 1)",
            ),
            OptimizerConfig::Lbfgs { history_size } => ensure(
                history_size > 0,
                "lbfgs: the history size must be at least 1",
            ),
        }
    }

    /// The mini-batch optimizer; `None` for L-BFGS, which steps with a closure instead.
    pub(crate) fn init(&self) -> Option<ModuleOptimizer> {
        match *self {
            OptimizerConfig::Adam {
                beta_1,
                beta_2,
                epsilon,
            } => Some(ModuleOptimizer::from(super::adam::Adam::new(
                beta_1, beta_2, epsilon,
            ))),
            OptimizerConfig::Sgd { momentum, nesterov } => {
                let momentum = (momentum > 0.0).then(|| {
                    MomentumConfig::new()
                        .with_momentum(momentum)
                        .with_dampening(0.0)
                        .with_nesterov(nesterov)
                });
                Some(SgdConfig::new().with_momentum(momentum).init())
            }
            OptimizerConfig::Lbfgs { .. } => None,
        }
    }
}

/// Keras' `EarlyStopping`: stop when the monitored loss has not improved by more than
/// `min_delta` for `patience` epochs.
#[derive(Config, Debug, PartialEq)]
pub struct EarlyStoppingConfig {
    pub patience: usize,
    #[config(default = 0.0)]
    pub min_delta: f64,
    /// Return the weights of the best epoch rather than the last one.
    #[config(default = true)]
    pub restore_best_weights: bool,
}

/// Stop when training has converged: the training loss has not fallen by more than `tol`
/// (relative to its best value so far) for `patience` epochs in a row, as scikit-learn's `tol`
/// and `n_iter_no_change`; or, with `gradient_tol`, as soon as no component of the gradient of
/// the full-batch objective is larger than it, as scikit-learn's L-BFGS solver stops (its `tol`
/// is SciPy's `gtol`). The epoch budget then only caps a run that does not converge.
#[derive(Config, Debug, PartialEq)]
pub struct ConvergenceConfig {
    #[config(default = 1e-4)]
    pub tol: f64,
    #[config(default = 3)]
    pub patience: usize,
    /// Full-batch training (L-BFGS) only: a mini-batch's gradient is not the objective's.
    pub gradient_tol: Option<f64>,
}

#[derive(Config, Debug, PartialEq)]
pub struct FitConfig {
    #[config(default = 10)]
    pub epochs: usize,
    #[config(default = 32)]
    pub batch_size: usize,
    #[config(default = 1e-3)]
    pub learning_rate: f64,
    #[config(default = "OptimizerConfig::adam()")]
    pub optimizer: OptimizerConfig,
    /// This fraction of the training data is held out for validation, as `validation_holdout`
    /// says. 0 holds nothing out.
    #[config(default = 0.0)]
    pub validation_split: f64,
    /// Which examples `validation_split` holds out: a stratified, seeded share (the default), or
    /// Keras' last fraction in order.
    #[config(default = "Holdout::Stratified")]
    pub validation_holdout: Holdout,
    /// scikit-learn's `C`: the inverse strength of an L2 penalty on the weights (not the
    /// biases). The loss minimised is `mean loss + Σ w² / (2 · C · n_train)`, the same
    /// objective as scikit-learn's `C · Σ loss + ½ Σ w²`, so a `C` carries over from it.
    /// `None` for no penalty.
    pub penalty_c: Option<f64>,
    /// Classification only: each class's weight in the training loss (one per class; the
    /// validation loss is not weighted), as Keras' and scikit-learn's `class_weight`;
    /// [`crate::data::TargetData::balanced_class_weights`] gives scikit-learn's `balanced`.
    pub class_weights: Option<Vec<f32>>,
    /// Seeds the shuffling and the device's random generator (dropout).
    #[config(default = 42)]
    pub seed: u64,
    /// Shuffle the training examples at every epoch.
    #[config(default = true)]
    pub shuffle: bool,
    /// Stop on the validation loss (the training loss without validation data).
    pub early_stopping: Option<EarlyStoppingConfig>,
    /// Stop as soon as an epoch's training loss is at or below this value.
    pub target_loss: Option<f64>,
    /// Stop once the training loss no longer improves.
    pub convergence: Option<ConvergenceConfig>,
    /// Print a progress bar (on a terminal) and one line per epoch to stderr.
    #[config(default = true)]
    pub progress: bool,
    /// Write a checkpoint into this folder at the end of every epoch (and when
    /// [`super::request_stop`] stops training), keeping the last two and the best epoch's.
    pub checkpoints: Option<PathBuf>,
    /// Write checkpoints no more often than this (seconds of wall time since the last one), as
    /// Lightning's `train_time_interval`: an L-BFGS checkpoint holds its history (ten steps of
    /// two model-sized vectors: 440 MB for a logistic regression on 100,000 terms × 50
    /// classes), which took longer to write than the iteration took to train. The first epoch,
    /// the last, a stopped one and a new best epoch whose weights early stopping would restore
    /// are always written. `None`: every epoch.
    pub checkpoint_interval: Option<f64>,
    /// Write TensorBoard event files and a CSV log of every epoch into this folder (see
    /// [`super::CSV_LOG_FILE`]), as Keras' `TensorBoard` and `CSVLogger` callbacks.
    pub log_dir: Option<PathBuf>,
    /// Go on from the last complete checkpoint in `checkpoints` rather than from the start
    /// (from the start when it holds none yet). The model, the data and the settings must be
    /// the checkpoint's, but for a larger `epochs`.
    #[config(default = false)]
    pub resume: bool,
}

impl FitConfig {
    /// Full-batch L-BFGS until the largest component of the gradient is at most 1e-4 (the
    /// objective being the mean loss plus the penalty, as scikit-learn's, whose L-BFGS stops on
    /// the same test) or the training loss stops falling (relative tolerance 1e-4 over 3
    /// iterations), within a budget of 1,000 iterations: how scikit-learn trains logistic
    /// regression, and what the apps use for linear and logistic regression.
    pub fn lbfgs_until_converged() -> Self {
        FitConfig::new()
            .with_optimizer(OptimizerConfig::lbfgs())
            .with_learning_rate(1.0)
            .with_epochs(1000)
            .with_convergence(Some(ConvergenceConfig::new().with_gradient_tol(Some(1e-4))))
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        ensure(self.epochs > 0, "epochs must be at least 1")?;
        ensure(self.batch_size > 0, "batch size must be at least 1")?;
        ensure(
            self.learning_rate.is_finite() && self.learning_rate > 0.0,
            format!(
                "learning rate must be a positive number, got {}",
                self.learning_rate
            ),
        )?;
        ensure(
            (0.0..1.0).contains(&self.validation_split),
            format!(
                "validation split must be in [0, 1), got {}",
                self.validation_split
            ),
        )?;
        if let Some(es) = &self.early_stopping {
            ensure(
                es.min_delta.is_finite() && es.min_delta >= 0.0,
                format!(
                    "min_delta must be a non-negative number, got {}",
                    es.min_delta
                ),
            )?;
        }
        if let Some(target) = self.target_loss {
            ensure(
                target.is_finite() && target >= 0.0,
                format!("target loss must be a non-negative number, got {target}"),
            )?;
        }
        if let Some(c) = self.penalty_c {
            ensure(
                c > 0.0,
                format!("C (the inverse L2 penalty) must be positive, got {c}"),
            )?;
        }
        if let Some(convergence) = &self.convergence {
            ensure(
                convergence.tol.is_finite() && convergence.tol >= 0.0,
                format!(
                    "the convergence tolerance must be a non-negative number, got {}",
                    convergence.tol
                ),
            )?;
            ensure(
                convergence.patience > 0,
                "the convergence patience must be at least 1 epoch",
            )?;
            if let Some(tol) = convergence.gradient_tol {
                ensure(
                    tol.is_finite() && tol >= 0.0,
                    format!("the gradient tolerance must be a non-negative number, got {tol}"),
                )?;
            }
        }
        if let Some(weights) = &self.class_weights {
            ensure(
                weights.iter().all(|w| w.is_finite() && *w > 0.0),
                format!("class weights must be positive numbers, got {weights:?}"),
            )?;
        }
        if let Some(seconds) = self.checkpoint_interval {
            ensure(
                seconds.is_finite() && seconds >= 0.0,
                format!(
                    "the checkpoint interval must be a non-negative number of seconds, got {seconds}"
                ),
            )?;
        }
        ensure(
            !self.resume || self.checkpoints.is_some(),
            "resuming needs the folder of the checkpoints",
        )?;
        self.optimizer.validate()
    }

    /// Why `model` cannot train for `task` with these settings, if it cannot.
    pub(crate) fn check_model(&self, model: &Model, task: Task) -> Result<(), ConfigError> {
        if model.n_outputs() != task.output_width() {
            return Err(ConfigError(format!(
                "the model outputs {} values but a {} task needs {}",
                model.n_outputs(),
                task.name(),
                task.output_width()
            )));
        }
        if let Some(weights) = &self.class_weights {
            match task.n_classes() {
                None => {
                    return Err(ConfigError(
                        "class weights weigh classes: a regression has none".into(),
                    ));
                }
                Some(n_classes) if n_classes != weights.len() => {
                    return Err(ConfigError(format!(
                        "{} class weights for {n_classes} classes",
                        weights.len()
                    )));
                }
                Some(_) => {}
            }
        }
        if self.optimizer.is_full_batch() && model.dropout() > 0.0 {
            return Err(ConfigError(format!(
                "L-BFGS needs the same loss at every evaluation, and dropout ({}) draws new masks \
                 each time; train this model with Adam, or without dropout",
                model.dropout()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn early_stopping_needs_a_finite_min_delta_and_target() {
        let bad_delta = FitConfig::new()
            .with_early_stopping(Some(EarlyStoppingConfig::new(2).with_min_delta(-1.0)));
        assert!(bad_delta.validate().unwrap_err().0.contains("min_delta"));
        let bad_target = FitConfig::new().with_target_loss(Some(f64::NAN));
        assert!(bad_target.validate().unwrap_err().0.contains("target loss"));
    }
}

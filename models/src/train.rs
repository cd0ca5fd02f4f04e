//! `fit`: the Keras training workflow on Burn's optimizers and data loader.
//!
//! A hand-written loop rather than burn-train's `Learner`: the zoo needs Keras' validation
//! split (the last fraction, unshuffled), a stop on a target training loss, `min_delta` and
//! best-weight restoring for early stopping, and a history it can return to the caller and
//! test in-process. The loop is the one Burn's custom-training-loop example teaches; the parts
//! that do the work are Burn's (`DataLoaderBuilder`, `ModuleOptimizer`, the losses).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use burn::data::dataloader::DataLoaderBuilder;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer, SgdConfig};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, ensure};
use crate::data::{Batch, ExampleBatcher, Examples, IndexDataset};
use crate::error::{Error, Result};
use crate::inference::evaluate;
use crate::model::Model;
use crate::progress::Progress;
use crate::task::{BatchTargets, Task};

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
        }
    }

    pub(crate) fn init(&self) -> ModuleOptimizer {
        match *self {
            OptimizerConfig::Adam {
                beta_1,
                beta_2,
                epsilon,
            } => AdamConfig::new()
                .with_beta_1(beta_1)
                .with_beta_2(beta_2)
                .with_epsilon(epsilon)
                .init(),
            OptimizerConfig::Sgd { momentum, nesterov } => {
                let momentum = (momentum > 0.0).then(|| {
                    MomentumConfig::new()
                        .with_momentum(momentum)
                        .with_dampening(0.0)
                        .with_nesterov(nesterov)
                });
                SgdConfig::new().with_momentum(momentum).init()
            }
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
    /// Keras' `validation_split`: this last fraction of the training data, before shuffling,
    /// is held out for validation. 0 holds nothing out.
    #[config(default = 0.0)]
    pub validation_split: f64,
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
    /// Print a progress bar (on a terminal) and one line per epoch to stderr.
    #[config(default = true)]
    pub progress: bool,
}

impl FitConfig {
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
        self.optimizer.validate()
    }
}

/// One epoch of the history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    /// Mean training loss over the epoch's batches, weighted by batch size.
    pub loss: f64,
    /// Training accuracy over the epoch (classification only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub accuracy: Option<f64>,
    /// `val_loss` and the validation metrics (`val_accuracy`, `val_macro_f1` or `val_mse`,
    /// `val_mae`, `val_r2`), when there is validation data.
    #[serde(flatten)]
    pub validation: BTreeMap<String, f64>,
    /// Wall time of the epoch, validation included.
    pub seconds: f64,
    /// Training throughput (validation excluded).
    pub samples_per_second: f64,
}

impl EpochRecord {
    pub fn val_loss(&self) -> Option<f64> {
        self.validation.get("val_loss").copied()
    }

    /// The Keras-style log line: `Epoch 3/10 - 1.2s - 5123 samples/s - loss: 0.1234 - …`.
    pub fn line(&self, epochs: usize) -> String {
        let mut line = format!(
            "Epoch {}/{epochs} - {:.2}s - {:.0} samples/s - loss: {:.4}",
            self.epoch, self.seconds, self.samples_per_second, self.loss
        );
        if let Some(accuracy) = self.accuracy {
            line += &format!(" - accuracy: {accuracy:.4}");
        }
        for (name, value) in &self.validation {
            line += &format!(" - {name}: {value:.4}");
        }
        line
    }
}

/// Why training stopped.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum StopReason {
    /// All epochs ran.
    EpochBudget,
    /// The monitored loss did not improve for `patience` epochs.
    EarlyStopping {
        patience: usize,
        best_epoch: usize,
        best_loss: f64,
        restored_best_weights: bool,
    },
    /// The training loss reached the target.
    TargetLoss { target: f64, loss: f64 },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub epochs: Vec<EpochRecord>,
    pub stop: StopReason,
    /// Which loss early stopping and `best_epoch` watch: `val_loss` or `loss`.
    pub monitor: String,
    /// The epoch with the lowest monitored loss.
    pub best_epoch: usize,
    pub train_seconds: f64,
    /// Training examples per second over the whole run (validation excluded).
    pub train_samples_per_second: f64,
}

impl History {
    pub fn epochs_run(&self) -> usize {
        self.epochs.len()
    }
}

/// A trained model (on the device it was trained on, without autodiff) and how it got there.
#[derive(Debug)]
pub struct Fitted {
    pub model: Model,
    pub history: History,
}

fn add<const D: usize, K: burn::tensor::kind::Numeric>(
    sum: Option<Tensor<D, K>>,
    term: Tensor<D, K>,
) -> Tensor<D, K> {
    match sum {
        Some(sum) => sum + term,
        None => term,
    }
}

/// What one training step computed, detached from the autodiff graph.
pub(crate) struct StepOutcome {
    /// The batch's mean loss before the update.
    pub loss: Tensor<1>,
    /// The model's outputs on the batch before the update.
    pub outputs: Tensor<2>,
}

/// One optimisation step of `model` (on an autodiff device) on `batch`: forward, loss,
/// backward, update. `fit` and the benchmark share it, so the benchmark times what users run.
pub(crate) fn step(
    model: Model,
    optimizer: &mut ModuleOptimizer,
    task: Task,
    batch: Batch,
    learning_rate: f64,
) -> (Model, StepOutcome) {
    let outputs = model.forward(batch.inputs);
    let loss = task.loss(outputs.clone(), &batch.targets);
    let outcome = StepOutcome {
        loss: loss.clone().detach(),
        outputs: outputs.detach(),
    };
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    (optimizer.step(learning_rate, model, grads), outcome)
}

/// Trains `model` on `train` for `task` and returns the trained model with its history.
///
/// Validation data comes from `validation` or from `config.validation_split`, not both. The
/// model trains on its device's autodiff twin; the returned model has no autodiff.
///
/// On a CPU backend, call [`crate::cpu::flush_subnormals_to_zero`] once before training (the
/// apps do): without it Adam's decaying moments turn subnormal and training slows down by a
/// third or more within a few epochs.
pub fn fit(
    model: Model,
    task: Task,
    train: &Examples,
    validation: Option<&Examples>,
    config: &FitConfig,
) -> Result<Fitted> {
    config.validate()?;
    if model.n_outputs() != task.output_width() {
        return Err(ConfigError(format!(
            "the model outputs {} values but a {} task needs {}",
            model.n_outputs(),
            task.name(),
            task.output_width()
        ))
        .into());
    }
    let split;
    let (train, validation) = match (validation, config.validation_split > 0.0) {
        (Some(_), true) => {
            return Err(
                ConfigError("give validation data or a validation split, not both".into()).into(),
            );
        }
        (Some(v), false) => (train.clone(), Some(v)),
        (None, true) => {
            split = train.split_last(config.validation_split)?;
            (split.0, Some(&split.1))
        }
        (None, false) => (train.clone(), None),
    };
    train.check_task(&task, model.n_inputs())?;
    if let Some(v) = validation {
        v.check_task(&task, model.n_inputs())?;
    }

    // `train()` puts the parameters on the autodiff twin of their device and turns the
    // training behaviour (dropout) on.
    let mut model = model.train();
    let device = model.device();
    device.seed(config.seed);
    let mut optimizer = config.optimizer.init();
    let n_train = train.len();
    let n_batches = n_train.div_ceil(config.batch_size);
    let mut loader = DataLoaderBuilder::new(ExampleBatcher(Arc::new(train)))
        .batch_size(config.batch_size)
        .set_device(device.clone())
        // One worker gathers the next batch while the model trains on this one; a single
        // worker keeps the batch order, and so the run, deterministic.
        .num_workers(1);
    if config.shuffle {
        loader = loader.shuffle(config.seed);
    }
    let loader = loader.build(IndexDataset(n_train));

    let monitor = if validation.is_some() {
        "val_loss"
    } else {
        "loss"
    };
    let mut progress = Progress::new(config.progress, config.epochs);
    let mut records: Vec<EpochRecord> = Vec::new();
    let mut best: Option<(f64, usize, Model)> = None;
    let mut epochs_without_improvement = 0;
    let mut stop = StopReason::EpochBudget;
    let mut train_seconds = 0.0;

    for epoch in 1..=config.epochs {
        let epoch_start = Instant::now();
        progress.start_epoch(epoch, n_train);
        let mut loss_sum: Option<Tensor<1>> = None;
        let mut correct: Option<Tensor<1, Int>> = None;
        let mut seen = 0;
        for (index, batch) in loader.iter().enumerate() {
            let batch = batch.map_err(|e| Error::Device(format!("data loader: {e}")))?;
            let batch_len = batch.inputs.dims()[0];
            let targets = batch.targets.clone();
            let outcome;
            (model, outcome) = step(model, &mut optimizer, task, batch, config.learning_rate);
            loss_sum = Some(add(loss_sum, outcome.loss * batch_len as f32));
            if let (Some(predicted), BatchTargets::Classes(targets)) =
                (task.predicted_classes(outcome.outputs), &targets)
            {
                correct = Some(add(correct, predicted.equal(targets.clone()).int().sum()));
            }
            seen += batch_len;
            let running = progress.wants_loss(index, n_batches).then(|| {
                loss_sum
                    .clone()
                    .map_or(0.0, |s| s.into_scalar::<f32>() as f64)
                    / seen as f64
            });
            progress.advance(seen, running);
        }
        let train_time = epoch_start.elapsed().as_secs_f64();
        train_seconds += train_time;
        let loss = loss_sum.map_or(f64::NAN, |s| s.into_scalar::<f32>() as f64) / n_train as f64;
        if !loss.is_finite() {
            return Err(Error::NonFiniteLoss { epoch, loss });
        }
        let accuracy = correct.map(|c| c.into_scalar::<i64>() as f64 / n_train as f64);
        let evaluation = match validation {
            Some(v) => Some(evaluate(&model.valid(), task, v, config.batch_size)?),
            None => None,
        };
        let validation_figures: BTreeMap<String, f64> = evaluation
            .iter()
            .flat_map(|e| e.headline())
            .map(|(name, value)| (format!("val_{name}"), value))
            .collect();
        let record = EpochRecord {
            epoch,
            loss,
            accuracy,
            validation: validation_figures,
            seconds: epoch_start.elapsed().as_secs_f64(),
            samples_per_second: n_train as f64 / train_time,
        };
        progress.end_epoch(&record);
        let monitored = record.val_loss().unwrap_or(loss);
        if let Some(val_loss) = record.val_loss()
            && !val_loss.is_finite()
        {
            return Err(Error::NonFiniteLoss {
                epoch,
                loss: val_loss,
            });
        }
        records.push(record);

        let min_delta = config
            .early_stopping
            .as_ref()
            .map_or(0.0, |es| es.min_delta);
        if best
            .as_ref()
            .is_none_or(|(best_loss, ..)| monitored < best_loss - min_delta)
        {
            best = Some((monitored, epoch, model.valid()));
            epochs_without_improvement = 0;
        } else {
            epochs_without_improvement += 1;
        }

        if let Some(target) = config.target_loss
            && loss <= target
        {
            stop = StopReason::TargetLoss { target, loss };
            break;
        }
        if let Some(es) = &config.early_stopping
            && epochs_without_improvement >= es.patience.max(1)
        {
            let (best_loss, best_epoch, _) = best.as_ref().expect("set after the first epoch");
            stop = StopReason::EarlyStopping {
                patience: es.patience,
                best_epoch: *best_epoch,
                best_loss: *best_loss,
                restored_best_weights: es.restore_best_weights,
            };
            break;
        }
    }

    let records_len = records.len();
    let (_, best_epoch, best_model) = best.expect("at least one epoch ran");
    let restore = matches!(
        stop,
        StopReason::EarlyStopping {
            restored_best_weights: true,
            ..
        }
    );
    let model = if restore { best_model } else { model.valid() };
    Ok(Fitted {
        model,
        history: History {
            epochs: records,
            stop,
            monitor: monitor.to_string(),
            best_epoch,
            train_seconds,
            train_samples_per_second: (n_train * records_len) as f64 / train_seconds,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_line_reads_like_keras() {
        let record = EpochRecord {
            epoch: 3,
            loss: 0.123456,
            accuracy: Some(0.9),
            validation: BTreeMap::from([
                ("val_loss".to_string(), 0.2),
                ("val_accuracy".to_string(), 0.85),
            ]),
            seconds: 1.234,
            samples_per_second: 5123.4,
        };
        assert_eq!(
            record.line(10),
            "Epoch 3/10 - 1.23s - 5123 samples/s - loss: 0.1235 - accuracy: 0.9000 \
             - val_accuracy: 0.8500 - val_loss: 0.2000"
        );
    }

    #[test]
    fn early_stopping_needs_a_finite_min_delta_and_target() {
        let bad_delta = FitConfig::new()
            .with_early_stopping(Some(EarlyStoppingConfig::new(2).with_min_delta(-1.0)));
        assert!(bad_delta.validate().unwrap_err().0.contains("min_delta"));
        let bad_target = FitConfig::new().with_target_loss(Some(f64::NAN));
        assert!(bad_target.validate().unwrap_err().0.contains("target loss"));
    }
}

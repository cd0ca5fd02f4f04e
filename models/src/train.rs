//! `fit`: the Keras training workflow on Burn's optimizers and data loader.
//!
//! A hand-written loop rather than burn-train's `Learner`: the zoo needs a validation split
//! (stratified, or Keras' last fraction), a stop on a target training loss, `min_delta` and
//! best-weight restoring for early stopping, a stop on convergence for convex models, and a
//! history it can return to the caller and test in-process. The loop is the one Burn's
//! custom-training-loop example teaches; the parts that do the work are Burn's
//! (`DataLoaderBuilder`, `ModuleOptimizer`, L-BFGS, the losses).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::data::dataloader::DataLoaderBuilder;
use burn::module::{ModuleVisitor, Param};
use burn::optim::momentum::MomentumConfig;
use burn::optim::{
    AdamConfig, GradientsAccumulator, GradientsParams, LBFGS, LBFGSConfig, LineSearchFn,
    ModuleOptimizer, OptimizerRecord, SgdConfig,
};
use burn::prelude::*;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{
    self, CheckpointState, DataFingerprint, LoopCounters, PartialEpoch, SetFingerprint,
    model_signature,
};
use crate::config::{ConfigError, ensure};
use crate::data::{Batch, DataError, Holdout, classes_without_training};
use crate::dataset::{ExampleBatcher, ExampleSet, OrderDataset, ToExampleSet};
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
    /// Burn's L-BFGS with a strong-Wolfe line search, on the whole training set at once: the
    /// optimiser for convex problems (linear and logistic regression), as scikit-learn's
    /// default solver. One epoch is one L-BFGS iteration; the batch size is unused (the training
    /// and validation sets go through in chunks of [`full_batch_chunk`] rows) and the learning
    /// rate is the line search's first step (1 is the usual choice).
    Lbfgs {
        /// Steps remembered, at most: fewer when they would take more than
        /// [`LBFGS_HISTORY_BYTES`].
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
    /// [`LBFGS_HISTORY_BYTES`].
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
            } => Some(
                AdamConfig::new()
                    .with_beta_1(beta_1)
                    .with_beta_2(beta_2)
                    .with_epsilon(epsilon)
                    .init(),
            ),
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
/// and `n_iter_no_change`. The epoch budget then only caps a run that does not converge.
#[derive(Config, Debug, PartialEq)]
pub struct ConvergenceConfig {
    #[config(default = 1e-4)]
    pub tol: f64,
    #[config(default = 3)]
    pub patience: usize,
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
    /// [`request_stop`] stops training), keeping the last two and the best epoch's.
    pub checkpoints: Option<PathBuf>,
    /// Go on from the last complete checkpoint in `checkpoints` rather than from the start. The
    /// model, the data and the settings must be the checkpoint's, but for a larger `epochs`.
    #[config(default = false)]
    pub resume: bool,
}

impl FitConfig {
    /// Full-batch L-BFGS until the training loss stops falling (relative tolerance 1e-4 over 3
    /// iterations), within a budget of 1,000 iterations: how scikit-learn trains linear and
    /// logistic regression, and what the apps use for them.
    pub fn lbfgs_until_converged() -> Self {
        FitConfig::new()
            .with_optimizer(OptimizerConfig::lbfgs())
            .with_learning_rate(1.0)
            .with_epochs(1000)
            .with_convergence(Some(ConvergenceConfig::new()))
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
        }
        ensure(
            !self.resume || self.checkpoints.is_some(),
            "resuming needs the folder of the checkpoints",
        )?;
        self.optimizer.validate()
    }
}

/// Set by [`request_stop`]; read by `fit` after every batch.
static STOP_REQUESTED: AtomicBool = AtomicBool::new(false);

/// Asks the running `fit` to stop at the end of its current batch (or L-BFGS iteration): it
/// writes a checkpoint, when it writes them, and returns [`Error::Interrupted`]. Safe to call
/// from a signal handler's thread.
pub fn request_stop() {
    STOP_REQUESTED.store(true, Ordering::SeqCst);
}

fn stop_requested() -> bool {
    STOP_REQUESTED.load(Ordering::SeqCst)
}

/// The error `fit` returns on a stop request, which it clears, so that a later `fit` in the
/// process trains.
fn interrupted(checkpoint: Option<PathBuf>) -> Error {
    STOP_REQUESTED.store(false, Ordering::SeqCst);
    Error::Interrupted { checkpoint }
}

/// A seed for one stream of random numbers of a run: `seed` mixed with the stream's position
/// (an epoch's shuffle, a batch's dropout masks) by SplitMix64. Seeding each from its position
/// rather than drawing them all from one generator is what lets a resumed run go on exactly:
/// nothing but the position needs saving.
fn stream_seed(seed: u64, position: &[u64]) -> u64 {
    let mix = |mut z: u64| {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    position.iter().fold(mix(seed), |state, &part| {
        mix(state ^ part.wrapping_add(0x9e37_79b9_7f4a_7c15))
    })
}

/// The order in which an epoch visits the training examples: shuffled by a seed of its own.
fn epoch_order(n_train: usize, config: &FitConfig, epoch: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n_train).collect();
    if config.shuffle {
        let seed = stream_seed(config.seed, &[SHUFFLE_STREAM, epoch as u64]);
        order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
    }
    order
}

/// Stream names for [`stream_seed`].
const SHUFFLE_STREAM: u64 = 1;
const DROPOUT_STREAM: u64 = 2;

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
    /// The training loss stopped improving by more than `tol` (relative) for `patience` epochs.
    Converged {
        tol: f64,
        patience: usize,
        loss: f64,
    },
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

/// The L2 penalty per unit of `Σ w² / 2` that `C` means for `n_train` examples.
fn l2_penalty(penalty_c: Option<f64>, n_train: usize) -> f64 {
    penalty_c.map_or(0.0, |c| 1.0 / (c * n_train as f64))
}

/// The task's loss on `outputs`, plus the L2 penalty on `model`'s weights when there is one.
fn objective(
    model: &Model,
    task: Task,
    outputs: Tensor<2>,
    targets: &BatchTargets,
    l2_penalty: f64,
) -> Tensor<1> {
    let loss = task.loss(outputs, targets);
    if l2_penalty > 0.0 {
        loss + model.squared_weight_norm() * (l2_penalty / 2.0)
    } else {
        loss
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
    l2_penalty: f64,
) -> (Model, StepOutcome) {
    let outputs = model.forward(batch.inputs);
    let loss = objective(&model, task, outputs.clone(), &batch.targets, l2_penalty);
    let outcome = StepOutcome {
        loss: loss.clone().detach(),
        outputs: outputs.detach(),
    };
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    (optimizer.step(learning_rate, model, grads), outcome)
}

/// How many of `outputs`' rows `task` classifies as `targets` says; `None` for regression.
fn correct_count(task: Task, outputs: Tensor<2>, targets: &BatchTargets) -> Option<Tensor<1, Int>> {
    match (task.predicted_classes(outputs), targets) {
        (Some(predicted), BatchTargets::Classes(targets)) => {
            Some(predicted.equal(targets.clone()).int().sum())
        }
        _ => None,
    }
}

/// One data-parallel optimisation step: shard `k` of a batch runs on `model`'s device (`k` = 0)
/// or on `replicas[k - 1]`, each on its own thread with its own autodiff graph. A shard's loss
/// is weighted by its share of the batch (the penalty counts once, on the first), so the
/// gradients gathered on `model`'s device sum to the gradient of the whole batch's mean loss,
/// as one device computes it; one optimizer step then updates `model`. Returns the batch's
/// mean loss and correct count on `model`'s device.
fn data_parallel_step(
    model: Model,
    replicas: &[Device],
    optimizer: &mut ModuleOptimizer,
    task: Task,
    shards: Vec<Batch>,
    learning_rate: f64,
    l2_penalty: f64,
) -> (Model, Tensor<1>, Option<Tensor<1, Int>>) {
    let device = model.device();
    let n = shards.iter().map(|b| b.inputs.n_rows()).sum::<usize>() as f64;
    let results: Vec<_> = std::thread::scope(|scope| {
        let workers: Vec<_> = shards
            .into_iter()
            .enumerate()
            .map(|(k, shard)| {
                let replica = match k {
                    0 => model.clone(),
                    _ => model.clone().fork(&replicas[k - 1]),
                };
                scope.spawn(move || {
                    let share = shard.inputs.n_rows() as f64 / n;
                    let penalty = if k == 0 { l2_penalty / share } else { 0.0 };
                    let outputs = replica.forward(shard.inputs);
                    let loss =
                        objective(&replica, task, outputs.clone(), &shard.targets, penalty) * share;
                    let correct = correct_count(task, outputs.detach(), &shard.targets);
                    let grads = GradientsParams::from_grads(loss.backward(), &replica);
                    (loss.detach(), correct, grads)
                })
            })
            .collect();
        workers
            .into_iter()
            // A worker's panic (a remote device lost) goes on as this thread's.
            .map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|p| std::panic::resume_unwind(p))
            })
            .collect()
    });
    let mut gradients = GradientsAccumulator::<Model>::new();
    let mut loss = None;
    let mut correct = None;
    for (shard_loss, shard_correct, grads) in results {
        gradients.accumulate(&model, grads.to_device(&device, &model));
        loss = Some(add(loss, shard_loss.to_device(&device)));
        if let Some(c) = shard_correct {
            correct = Some(add(correct, c.to_device(&device)));
        }
    }
    let model = optimizer.step(learning_rate, model, gradients.grads());
    (model, loss.expect("a batch has a shard"), correct)
}

/// Full-batch training goes through the examples in chunks of at least this many rows, and of
/// more when rows are narrow (see [`full_batch_chunk`]), so its memory is bounded by a chunk,
/// not by the training set (a sparse layer's intermediate is stored values × outputs).
pub const FULL_BATCH_CHUNK_ROWS: usize = 2048;
/// A chunk of dense rows holds up to this many values (64 MiB of `f32`).
const FULL_BATCH_CHUNK_VALUES: usize = 1 << 24;
/// Training sets that take up to this much on the device (1 GiB) stay there between L-BFGS
/// evaluations, as their chunks' batches; larger ones, and sources whose size is not known
/// ([`crate::dataset::FeatureSource::device_bytes`]), are batched again at every evaluation.
const FULL_BATCH_CACHE_BYTES: usize = 1 << 30;

/// What L-BFGS may spend remembering steps (64 MiB): each step is two vectors of the model's
/// size, and Burn's L-BFGS goes through all of them at every iteration. A TF-IDF logistic
/// regression of 100,000 terms × 50 classes would take 4 GB for 100 steps (1.4 GB, and half its
/// training time in vector arithmetic, after 40 iterations); on 37,000 terms 18 steps took 3.4 s
/// where 10 took 2.5 s, in the same 33 iterations. Such models remember 10 steps, SciPy's
/// default, which scikit-learn's solver runs, and the least kept; MNIST's logistic regression
/// keeps 100 (with 10 it needed 208 iterations rather than 109).
pub const LBFGS_HISTORY_BYTES: usize = 64 << 20;

/// The steps L-BFGS remembers for a model of `n_params` parameters: `wanted`, or as many as
/// [`LBFGS_HISTORY_BYTES`] holds, but at least 10.
fn lbfgs_history(wanted: usize, n_params: usize) -> usize {
    let affordable = LBFGS_HISTORY_BYTES / (2 * size_of::<f32>() * n_params.max(1));
    wanted.min(affordable.max(10))
}

/// Rows per chunk of full-batch training for rows of `n_features` values.
pub fn full_batch_chunk(n_features: usize) -> usize {
    (FULL_BATCH_CHUNK_VALUES / n_features.max(1)).max(FULL_BATCH_CHUNK_ROWS)
}

/// How an epoch updates the model: mini-batches from Burn's data loader for Adam and SGD, or
/// one L-BFGS iteration on the whole training set, its loss and gradients summed over chunks.
// One per `fit`: the size of its variants does not matter.
#[allow(clippy::large_enum_variant)]
enum Trainer {
    MiniBatch {
        optimizer: ModuleOptimizer,
        batcher: ExampleBatcher,
        n_train: usize,
        l2_penalty: f64,
    },
    FullBatch {
        optimizer: LBFGS,
        chunks: FullBatchChunks,
        l2_penalty: f64,
    },
}

/// How an epoch ended.
enum EpochEnd {
    /// All of it ran: its mean training loss (penalty included) and, for classification, its
    /// training accuracy.
    Complete { loss: f64, accuracy: Option<f64> },
    /// [`request_stop`] stopped it after this part.
    Stopped(PartialEpoch),
}

/// The training set of full-batch training, in chunks: held on the device, or batched anew at
/// every pass.
enum FullBatchChunks {
    OnDevice(Vec<Batch>),
    PerPass { train: ExampleSet, rows: usize },
}

impl FullBatchChunks {
    fn new(train: ExampleSet, device: &Device) -> Result<Self, DataError> {
        let fits = train
            .device_bytes()
            .is_some_and(|bytes| bytes <= FULL_BATCH_CACHE_BYTES);
        let rows = full_batch_chunk(train.n_features());
        let chunks = FullBatchChunks::PerPass { train, rows };
        if !fits {
            return Ok(chunks);
        }
        let batches = chunks.batches(device).collect::<Result<_, _>>()?;
        Ok(FullBatchChunks::OnDevice(batches))
    }

    fn n_rows(&self) -> usize {
        match self {
            FullBatchChunks::OnDevice(batches) => batches.iter().map(|b| b.inputs.n_rows()).sum(),
            FullBatchChunks::PerPass { train, .. } => train.len(),
        }
    }

    /// The chunks' batches, in order, on `device` (when they are made anew).
    fn batches<'a>(
        &'a self,
        device: &'a Device,
    ) -> Box<dyn Iterator<Item = Result<Batch, DataError>> + 'a> {
        match self {
            FullBatchChunks::OnDevice(batches) => Box::new(batches.iter().cloned().map(Ok)),
            FullBatchChunks::PerPass { train, rows } => {
                let n = train.len();
                Box::new((0..n).step_by(*rows).map(move |start| {
                    let indices: Vec<usize> = (start..(start + rows).min(n)).collect();
                    train.batch(&indices, device)
                }))
            }
        }
    }
}

/// The full-batch objective of `model` on `chunks` (the mean loss plus the penalty) and its
/// gradients, accumulated chunk by chunk.
fn full_batch_objective(
    model: &Model,
    task: Task,
    chunks: &FullBatchChunks,
    l2_penalty: f64,
) -> Result<(f64, GradientsParams), DataError> {
    let device = model.device();
    let n = chunks.n_rows() as f64;
    let mut total = 0.0;
    let mut accumulator = GradientsAccumulator::<Model>::new();
    for (i, batch) in chunks.batches(&device).enumerate() {
        let batch = batch?;
        // Each chunk's mean loss weighs by its share of the examples; the penalty counts once
        // (scaled up here by as much as the share scales it down).
        let share = batch.inputs.n_rows() as f64 / n;
        let penalty = if i == 0 { l2_penalty / share } else { 0.0 };
        let outputs = model.forward(batch.inputs);
        let loss = objective(model, task, outputs, &batch.targets, penalty) * share;
        total += loss.clone().into_scalar::<f64>();
        accumulator.accumulate(model, GradientsParams::from_grads(loss.backward(), model));
    }
    Ok((total, accumulator.grads()))
}

/// A gradient of zero for every parameter of `model`.
fn zero_gradients(model: &Model) -> GradientsParams {
    struct SumOfAll(Option<Tensor<1>>);
    impl ModuleVisitor for SumOfAll {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0 = Some(add(self.0.take(), param.val().sum()));
        }
    }
    let mut sum = SumOfAll(None);
    model.visit(&mut sum);
    let sum = sum.0.expect("every zoo model has parameters");
    GradientsParams::from_grads((sum * 0.0).backward(), model)
}

/// The share of the examples that `model` (on an autodiff device) classifies right, from a
/// forward pass without autodiff; `None` for regression.
fn full_batch_accuracy(model: &Model, task: Task, chunks: &FullBatchChunks) -> Result<Option<f64>> {
    let device = model.device();
    let model = model.valid();
    let mut correct = 0;
    for batch in chunks.batches(&device) {
        let batch = batch?;
        match (
            &batch.targets,
            task.predicted_classes(model.forward(batch.inputs.inner())),
        ) {
            (BatchTargets::Classes(targets), Some(predicted)) => {
                correct += predicted
                    .equal(targets.clone().inner())
                    .int()
                    .sum()
                    .into_scalar::<i64>();
            }
            _ => return Ok(None),
        }
    }
    Ok(Some(correct as f64 / chunks.n_rows() as f64))
}

impl Trainer {
    /// The trainer of `config`'s optimizer; mini-batches are split across `model`'s device and
    /// `replicas` (autodiff devices).
    fn new(
        train: ExampleSet,
        model: &Model,
        replicas: Vec<Device>,
        config: &FitConfig,
    ) -> Result<Trainer> {
        let n_train = train.len();
        let l2_penalty = l2_penalty(config.penalty_c, n_train);
        match (config.optimizer.init(), &config.optimizer) {
            (Some(optimizer), _) => Ok(Trainer::MiniBatch {
                optimizer,
                batcher: ExampleBatcher {
                    set: train,
                    replicas,
                },
                n_train,
                l2_penalty,
            }),
            (None, OptimizerConfig::Lbfgs { .. }) if !replicas.is_empty() => Err(ConfigError(
                "data-parallel training splits mini-batches across the devices; L-BFGS takes \
                 full-batch steps on one device: train with Adam or SGD, or on one device"
                    .into(),
            )
            .into()),
            (None, OptimizerConfig::Lbfgs { history_size }) => {
                let optimizer = LBFGSConfig::new()
                    .with_max_iter(1)
                    .with_history_size(lbfgs_history(*history_size, model.num_params()))
                    // One function evaluation starts the iteration; the line search may take up
                    // to 25 more, as in PyTorch.
                    .with_max_eval(Some(26))
                    .with_line_search_fn(LineSearchFn::StrongWolfe)
                    .init();
                Ok(Trainer::FullBatch {
                    optimizer,
                    chunks: FullBatchChunks::new(train, &model.device())?,
                    l2_penalty,
                })
            }
            (None, _) => unreachable!("only L-BFGS steps without a module optimizer"),
        }
    }

    /// The optimizer's state, as Burn records it.
    fn optimizer_record(&self) -> OptimizerRecord {
        match self {
            Trainer::MiniBatch { optimizer, .. } => optimizer.to_record(),
            Trainer::FullBatch { optimizer, .. } => optimizer.to_record(),
        }
    }

    /// Takes the optimizer's state from a checkpoint's record file.
    fn load_optimizer(&mut self, path: &std::path::Path, device: &Device) -> Result<()> {
        match self {
            Trainer::MiniBatch { optimizer, .. } => {
                let empty = AdamConfig::new().init();
                let current = std::mem::replace(optimizer, empty);
                *optimizer = checkpoint::load_optimizer_record(path, device, |record| {
                    current.load_record(record)
                })?;
            }
            Trainer::FullBatch { optimizer, .. } => {
                let current = optimizer.clone();
                *optimizer = checkpoint::load_optimizer_record(path, device, |record| {
                    current.load_record(record)
                })?;
            }
        }
        Ok(())
    }

    /// Trains `model` for epoch `epoch`, going on from `partial` when an earlier run stopped
    /// inside it.
    fn epoch(
        &mut self,
        mut model: Model,
        task: Task,
        config: &FitConfig,
        epoch: usize,
        partial: Option<PartialEpoch>,
        progress: &mut Progress,
    ) -> Result<(Model, EpochEnd)> {
        let start = Instant::now();
        match self {
            Trainer::MiniBatch {
                optimizer,
                batcher,
                n_train,
                l2_penalty,
            } => {
                let device = model.device();
                let n_batches = n_train.div_ceil(config.batch_size);
                let order = epoch_order(*n_train, config, epoch);
                let done = partial.as_ref().map_or(0, |p| p.batches);
                let rest = order[(done * config.batch_size).min(order.len())..].to_vec();
                // One worker gathers the next batch while the model trains on this one; a
                // single worker keeps the batch order, and so the run, deterministic.
                let loader = DataLoaderBuilder::new(batcher.clone())
                    .batch_size(config.batch_size)
                    .set_device(device.clone())
                    .num_workers(1)
                    .build(OrderDataset(rest));
                let mut loss_sum: Option<Tensor<1>> = partial
                    .as_ref()
                    .map(|p| Tensor::from_floats([p.loss_sum], &device));
                let mut correct: Option<Tensor<1, Int>> = partial
                    .as_ref()
                    .and_then(|p| p.correct)
                    .map(|c| Tensor::from_ints([c], &device));
                let mut seen = partial.as_ref().map_or(0, |p| p.seen);
                let earlier_seconds = partial.as_ref().map_or(0.0, |p| p.seconds);
                for (index, shards) in (done..).zip(loader.iter()) {
                    let mut shards =
                        shards.map_err(|e| Error::Device(format!("data loader: {e}")))??;
                    let batch_len = shards.iter().map(|b| b.inputs.n_rows()).sum::<usize>();
                    // Dropout masks come from a seed of the batch's own (and the shard's).
                    device.seed(stream_seed(
                        config.seed,
                        &[DROPOUT_STREAM, epoch as u64, index as u64],
                    ));
                    for (shard, replica) in (1..).zip(&batcher.replicas) {
                        replica.seed(stream_seed(
                            config.seed,
                            &[DROPOUT_STREAM, epoch as u64, index as u64, shard],
                        ));
                    }
                    let (loss, batch_correct);
                    if shards.len() == 1 {
                        let batch = shards.remove(0);
                        let targets = batch.targets.clone();
                        let outcome;
                        (model, outcome) = step(
                            model,
                            optimizer,
                            task,
                            batch,
                            config.learning_rate,
                            *l2_penalty,
                        );
                        loss = outcome.loss;
                        batch_correct = correct_count(task, outcome.outputs, &targets);
                    } else {
                        (model, loss, batch_correct) = data_parallel_step(
                            model,
                            &batcher.replicas,
                            optimizer,
                            task,
                            shards,
                            config.learning_rate,
                            *l2_penalty,
                        );
                    }
                    loss_sum = Some(add(loss_sum, loss * batch_len as f32));
                    if let Some(batch_correct) = batch_correct {
                        correct = Some(add(correct, batch_correct));
                    }
                    seen += batch_len;
                    let running = progress.wants_loss(index, n_batches).then(|| {
                        loss_sum
                            .clone()
                            .map_or(0.0, |s| s.into_scalar::<f32>() as f64)
                            / seen as f64
                    });
                    progress.advance(seen, running);
                    if stop_requested() && index + 1 < n_batches {
                        let partial = PartialEpoch {
                            batches: index + 1,
                            seen,
                            loss_sum: loss_sum.map_or(0.0, |s| s.into_scalar::<f32>()),
                            correct: correct.map(|c| c.into_scalar::<i64>()),
                            seconds: earlier_seconds + start.elapsed().as_secs_f64(),
                        };
                        return Ok((model, EpochEnd::Stopped(partial)));
                    }
                }
                let n = *n_train as f64;
                let loss = loss_sum.map_or(f64::NAN, |s| s.into_scalar::<f32>() as f64) / n;
                let accuracy = correct.map(|c| c.into_scalar::<i64>() as f64 / n);
                Ok((model, EpochEnd::Complete { loss, accuracy }))
            }
            Trainer::FullBatch {
                optimizer,
                chunks,
                l2_penalty,
            } => {
                // L-BFGS calls the objective with no way to fail: the first error ends the
                // iteration (a NaN loss with zero gradients, on which L-BFGS stops) and is
                // returned after it.
                let mut failure = None;
                let objective_and_gradients = |candidate: Model| match full_batch_objective(
                    &candidate,
                    task,
                    chunks,
                    *l2_penalty,
                ) {
                    Ok(evaluated) => evaluated,
                    Err(e) => {
                        failure.get_or_insert(e);
                        (f64::NAN, zero_gradients(&candidate))
                    }
                };
                let (model, loss) =
                    optimizer.step(config.learning_rate, model, objective_and_gradients);
                if let Some(e) = failure {
                    return Err(e.into());
                }
                // The accuracy of the weights the iteration ended on.
                let accuracy = full_batch_accuracy(&model, task, chunks)?;
                progress.advance(chunks.n_rows(), Some(loss));
                Ok((model, EpochEnd::Complete { loss, accuracy }))
            }
        }
    }
}

/// Counts the epochs since the training loss last fell by more than the tolerance.
struct ConvergenceWatch<'a> {
    config: &'a ConvergenceConfig,
    best: f64,
    epochs_without_progress: usize,
}

impl<'a> ConvergenceWatch<'a> {
    /// A watch with the counts of `saved` (best loss, epochs without progress), or a new one.
    fn new(config: &'a ConvergenceConfig, saved: Option<(f64, usize)>) -> Self {
        let (best, epochs_without_progress) = saved.unwrap_or((f64::INFINITY, 0));
        Self {
            config,
            best,
            epochs_without_progress,
        }
    }

    /// Records an epoch's training loss; true once `patience` epochs in a row brought no
    /// relative improvement above `tol`. Small improvements still lower the best loss, as in
    /// scikit-learn, so a slow but steady descent converges too.
    fn converged(&mut self, loss: f64) -> bool {
        if loss < self.best - self.config.tol * self.best.abs() || !self.best.is_finite() {
            self.epochs_without_progress = 0;
        } else {
            self.epochs_without_progress += 1;
        }
        self.best = self.best.min(loss);
        self.epochs_without_progress >= self.config.patience
    }
}

fn resume_error(dir: &std::path::Path, message: impl Into<String>) -> Error {
    Error::Resume {
        checkpoint: dir.to_path_buf(),
        message: message.into(),
    }
}

/// Trains `model` on `train` for `task` and returns the trained model with its history.
///
/// Validation data comes from `validation` or from `config.validation_split`, not both. The
/// model trains on its device's autodiff twin; the returned model has no autodiff.
///
/// With `config.checkpoints`, a checkpoint is written at the end of every epoch, and
/// `config.resume` goes on from the last one: on a CPU backend the result is then the same,
/// bit for bit, as that of a run never interrupted. [`request_stop`] ends training early with
/// [`Error::Interrupted`], after writing a checkpoint of where it stopped.
///
/// On a CPU backend, call [`crate::cpu::flush_subnormals_to_zero`] once before training (the
/// apps do): without it Adam's decaying moments turn subnormal and training slows down by a
/// third or more within a few epochs.
pub fn fit<E: ToExampleSet + ?Sized>(
    model: Model,
    task: Task,
    train: &E,
    validation: Option<&E>,
    config: &FitConfig,
) -> Result<Fitted> {
    fit_data_parallel(model, &[], task, train, validation, config)
}

/// [`fit`] on several devices: every mini-batch is split into consecutive shards, one on the
/// model's device and one on each of `replicas` (local or remote devices, not autodiff ones),
/// each computing its shard's gradients on a thread of its own; the gradients are gathered on
/// the model's device and summed, weighted by the shards' sizes, and one optimizer step
/// updates the model. This is burn-train's multi-device strategy: Burn's collectives run on
/// CUDA only, and this needs none. Without dropout the weights are those of [`fit`] on one
/// device, up to the rounding of summing a batch's gradients in parts. L-BFGS (full-batch)
/// runs on one device only.
pub fn fit_data_parallel<E: ToExampleSet + ?Sized>(
    model: Model,
    replicas: &[Device],
    task: Task,
    train: &E,
    validation: Option<&E>,
    config: &FitConfig,
) -> Result<Fitted> {
    let train = train.to_example_set();
    let validation = validation.map(ToExampleSet::to_example_set);
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
    if config.optimizer.is_full_batch() && model.dropout() > 0.0 {
        return Err(ConfigError(format!(
            "L-BFGS needs the same loss at every evaluation, and dropout ({}) draws new masks \
             each time; train this model with Adam, or without dropout",
            model.dropout()
        ))
        .into());
    }
    let (train, validation) = match (validation, config.validation_split > 0.0) {
        (Some(_), true) => {
            return Err(
                ConfigError("give validation data or a validation split, not both".into()).into(),
            );
        }
        (Some(v), false) => (train, Some(v)),
        (None, true) => {
            let (kept, held_out) = train.split(
                config.validation_split,
                config.validation_holdout,
                config.seed,
            )?;
            let untrained = classes_without_training(kept.targets(), held_out.targets())?;
            if !untrained.is_empty() {
                eprintln!(
                    "warning: the validation split leaves class(es) {untrained:?} without \
                     training examples"
                );
            }
            (kept, Some(held_out))
        }
        (None, false) => (train, None),
    };
    train.check_task(&task, model.n_inputs())?;
    if let Some(v) = &validation {
        v.check_task(&task, model.n_inputs())?;
    }

    // What a checkpoint records of the run, to refuse resuming another one from it.
    let run = match &config.checkpoints {
        Some(dir) => {
            let device = model.device();
            let data = DataFingerprint {
                train: SetFingerprint::of(&train, &device)?,
                validation: validation
                    .as_ref()
                    .map(|v| SetFingerprint::of(v, &device))
                    .transpose()?,
            };
            Some((dir.clone(), model_signature(&model), data))
        }
        None => None,
    };
    let (mut model, resumed) = match (&run, config.resume) {
        (Some((dir, signature, data)), true) => {
            let latest = checkpoint::latest(dir)?;
            latest
                .state
                .check(config, signature, data)
                .map_err(|message| resume_error(&latest.dir, message))?;
            let model = checkpoint::load_model(model, &latest.dir.join(checkpoint::MODEL_FILE))?;
            if config.progress {
                eprintln!("resuming from {}", latest.dir.display());
            }
            (model, Some(latest))
        }
        _ => (model, None),
    };
    // The weights of the best epoch so far, kept for `restore_best_weights`.
    let mut best_model: Option<Model> = match &resumed {
        Some(latest) => match latest.state.counters.best {
            Some((_, epoch)) => {
                let path = latest
                    .dir
                    .with_file_name(format!("epoch-{epoch:04}"))
                    .join(checkpoint::MODEL_FILE);
                Some(checkpoint::load_model(model.clone(), &path)?)
            }
            None => None,
        },
        None => None,
    };

    // `train()` puts the parameters on the autodiff twin of their device and turns the
    // training behaviour (dropout) on.
    model = model.train();
    let device = model.device();
    let n_train = train.len();
    let replicas = replicas.iter().map(|d| d.clone().autodiff()).collect();
    let mut trainer = Trainer::new(train, &model, replicas, config)?;
    if let Some(latest) = &resumed {
        trainer.load_optimizer(&latest.dir.join(checkpoint::OPTIMIZER_FILE), &device)?;
    }

    let monitor = if validation.is_some() {
        "val_loss"
    } else {
        "loss"
    };
    // Full-batch training evaluates the validation part in its chunks too.
    let validation_batch = if config.optimizer.is_full_batch() {
        full_batch_chunk(model.n_inputs())
    } else {
        config.batch_size
    };
    let mut progress = Progress::new(config.progress, config.epochs);
    let (mut records, mut counters, mut partial, saved_stop, epochs_done) = match resumed {
        Some(latest) => (
            latest.state.history,
            latest.state.counters,
            latest.state.partial,
            latest.state.stop,
            latest.state.epochs_done,
        ),
        None => (Vec::new(), LoopCounters::default(), None, None, 0),
    };
    let mut convergence = config
        .convergence
        .as_ref()
        .map(|c| ConvergenceWatch::new(c, counters.convergence));
    // A run resumed after it stopped has nothing left to train.
    let first_epoch = if saved_stop.is_some() {
        config.epochs + 1
    } else {
        epochs_done + 1
    };
    let mut stop = saved_stop.clone().unwrap_or(StopReason::EpochBudget);
    let checkpoint_state = |records: &[EpochRecord],
                            counters: &LoopCounters,
                            epochs_done: usize,
                            partial: Option<PartialEpoch>,
                            stop: Option<StopReason>| {
        run.as_ref().map(|(_, signature, data)| CheckpointState {
            format: checkpoint::FORMAT_VERSION,
            epochs_done,
            partial,
            history: records.to_vec(),
            counters: counters.clone(),
            stop,
            config: config.clone(),
            model: signature.clone(),
            data: data.clone(),
        })
    };
    let write_checkpoint =
        |model: &Model, state: Option<CheckpointState>, trainer: &Trainer| match (&run, state) {
            (Some((dir, ..)), Some(state)) => {
                checkpoint::write(dir, model, trainer.optimizer_record(), &state).map(Some)
            }
            _ => Ok(None),
        };

    for epoch in first_epoch..=config.epochs {
        let epoch_start = Instant::now();
        progress.start_epoch(epoch, n_train);
        let earlier_seconds = partial.as_ref().map_or(0.0, |p| p.seconds);
        let end;
        (model, end) = trainer.epoch(model, task, config, epoch, partial.take(), &mut progress)?;
        let (loss, accuracy) = match end {
            EpochEnd::Complete { loss, accuracy } => (loss, accuracy),
            EpochEnd::Stopped(part) => {
                let state = checkpoint_state(&records, &counters, epoch - 1, Some(part), None);
                let checkpoint = write_checkpoint(&model, state, &trainer)?;
                return Err(interrupted(checkpoint));
            }
        };
        let train_time = earlier_seconds + epoch_start.elapsed().as_secs_f64();
        counters.train_seconds += train_time;
        if !loss.is_finite() {
            return Err(Error::NonFiniteLoss { epoch, loss });
        }
        let evaluation = match &validation {
            Some(v) => Some(evaluate(&model.valid(), task, v, validation_batch)?),
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
            seconds: earlier_seconds + epoch_start.elapsed().as_secs_f64(),
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
        if counters
            .best
            .is_none_or(|(best_loss, _)| monitored < best_loss - min_delta)
        {
            counters.best = Some((monitored, epoch));
            best_model = Some(model.valid());
            counters.epochs_without_improvement = 0;
        } else {
            counters.epochs_without_improvement += 1;
        }

        let converged = convergence.as_mut().is_some_and(|watch| {
            let converged = watch.converged(loss);
            counters.convergence = Some((watch.best, watch.epochs_without_progress));
            converged
        });
        let stopped = if let Some(target) = config.target_loss
            && loss <= target
        {
            Some(StopReason::TargetLoss { target, loss })
        } else if let (true, Some(watch)) = (converged, &convergence) {
            Some(StopReason::Converged {
                tol: watch.config.tol,
                patience: watch.config.patience,
                loss,
            })
        } else if let Some(es) = &config.early_stopping
            && counters.epochs_without_improvement >= es.patience.max(1)
        {
            let (best_loss, best_epoch) = counters.best.expect("set after the first epoch");
            Some(StopReason::EarlyStopping {
                patience: es.patience,
                best_epoch,
                best_loss,
                restored_best_weights: es.restore_best_weights,
            })
        } else {
            None
        };
        let state = checkpoint_state(&records, &counters, epoch, None, stopped.clone());
        let checkpoint = write_checkpoint(&model, state, &trainer)?;
        if let Some(reason) = stopped {
            stop = reason;
            break;
        }
        if stop_requested() && epoch < config.epochs {
            return Err(interrupted(checkpoint));
        }
    }

    if let Some(last) = records.last() {
        progress.finish(last);
    }
    // A stop asked for during the last batch came too late to stop anything; it must not stop
    // the next `fit`.
    STOP_REQUESTED.store(false, Ordering::SeqCst);
    let records_len = records.len();
    let (_, best_epoch) = counters.best.expect("at least one epoch ran");
    let restore = matches!(
        stop,
        StopReason::EarlyStopping {
            restored_best_weights: true,
            ..
        }
    );
    let model = match (restore, best_model) {
        (true, Some(best)) => best,
        _ => model.valid(),
    };
    Ok(Fitted {
        model,
        history: History {
            epochs: records,
            stop,
            monitor: monitor.to_string(),
            best_epoch,
            train_seconds: counters.train_seconds,
            train_samples_per_second: (n_train * records_len) as f64 / counters.train_seconds,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lbfgs_remembers_fewer_steps_of_large_models() {
        assert_eq!(lbfgs_history(100, 7_850), 100);
        assert_eq!(lbfgs_history(100, 500_000), 16);
        assert_eq!(lbfgs_history(100, 1_844_950), 10);
        assert_eq!(lbfgs_history(100, 100_000_000), 10);
        assert_eq!(lbfgs_history(5, 100_000_000), 5);
    }

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

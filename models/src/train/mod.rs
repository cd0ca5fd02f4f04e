//! `fit`: the Keras training workflow on Burn's optimizers and data loader.
//!
//! A hand-written loop rather than burn-train's `Learner`: the zoo needs a validation split
//! (stratified, or Keras' last fraction), a stop on a target training loss, `min_delta` and
//! best-weight restoring for early stopping, a stop on convergence for convex models, and a
//! history it can return to the caller and test in-process. The loop is the one Burn's
//! custom-training-loop example teaches; the parts that do the work are Burn's
//! (`DataLoaderBuilder`, `ModuleOptimizer`, L-BFGS, the losses).
//!
//! One file per concern, each importing only those above it: `adam` (the optimizer the zoo
//! builds for Adam), `config` (the settings),
//! `history` (what training returns), `stopping` (the stopping rules and the interrupter),
//! `progress` (the terminal), `checkpointer` (saving and resuming), `step` (one optimisation
//! step), `epoch` (a mini-batch or full-batch epoch), `training_log` (TensorBoard and CSV logs), `fit` (the
//! loop) and `cross_validation` (k models by `fit`).

mod adam;
pub mod checkpointer;
mod config;
mod cross_validation;
mod epoch;
mod fit;
mod history;
mod progress;
mod step;
mod stopping;
mod training_log;

pub use config::{ConvergenceConfig, EarlyStoppingConfig, FitConfig, OptimizerConfig};
pub use cross_validation::{CrossValidation, FoldScore, cross_validate};
pub use epoch::{FULL_BATCH_CHUNK_ROWS, LBFGS_HISTORY_BYTES, full_batch_chunk};
pub use fit::{fit, fit_data_parallel};
pub use history::{EpochRecord, Fitted, History, StopReason};
pub(crate) use step::{Loss, lazy_sparse_updates, step};
pub use stopping::{Interrupter, request_stop};
pub use training_log::CSV_LOG_FILE;

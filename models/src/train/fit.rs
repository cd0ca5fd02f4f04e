//! `fit` and `fit_data_parallel`: the checks, the validation split, and the loop they share.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use burn::prelude::*;

use super::checkpointer::{Checkpointer, Restored, RunState};
use super::config::FitConfig;
use super::epoch::{EpochEnd, Run, Trainer, full_batch_chunk};
use super::history::{EpochRecord, Fitted, History, StopReason};
use super::progress::Progress;
use super::stopping::{EpochOutcome, Interrupter, StoppingStrategy, stop_reason, stopping_rules};
use super::training_log::TrainingLog;
use crate::config::ConfigError;
use crate::data::{Subsets, classes_without_training};
use crate::dataset::{ExampleSet, ToExampleSet};
use crate::error::{Error, Result};
use crate::inference::evaluate;
use crate::model::Model;
use crate::task::Task;

/// Trains `model` on `train` for `task` and returns the trained model with its history.
///
/// Validation data comes from `validation` or from `config.validation_split`, not both. The
/// model trains on its device's autodiff twin; the returned model has no autodiff.
///
/// With `config.checkpoints`, a checkpoint is written at the end of every epoch, and
/// `config.resume` goes on from the last one (or starts over when there is none yet): on a
/// CPU backend the result is then the same, bit for bit, as that of a run never interrupted.
/// [`super::request_stop`] ends training early with [`Error::Interrupted`], after writing a
/// checkpoint of where it stopped.
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
    config.check_model(&model, task)?;
    let (train, validation) = validation_data(train, validation, config)?;
    train.check_task(&task, model.n_inputs())?;
    if let Some(v) = &validation {
        v.check_task(&task, model.n_inputs())?;
    }
    let run = Run {
        task,
        config,
        interrupter: &Interrupter::process(),
    };
    train_loop(model, replicas, train, validation.as_ref(), &run)
}

/// The training and validation sets: `validation`, or the share of `train` that
/// `config.validation_split` holds out.
fn validation_data(
    train: ExampleSet,
    validation: Option<ExampleSet>,
    config: &FitConfig,
) -> Result<(ExampleSet, Option<ExampleSet>)> {
    match (validation, config.validation_split > 0.0) {
        (Some(_), true) => {
            Err(ConfigError("give validation data or a validation split, not both".into()).into())
        }
        (Some(v), false) => Ok((train, Some(v))),
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
            Ok((kept, Some(held_out)))
        }
        (None, false) => Ok((train, None)),
    }
}

/// The epochs of a run, from its first (or from where its checkpoint left it) to a stop.
fn train_loop(
    model: Model,
    replicas: &[Device],
    train: ExampleSet,
    validation: Option<&ExampleSet>,
    run: &Run,
) -> Result<Fitted> {
    let (mut model, mut training) = Training::start(model, replicas, train, validation, run)?;
    // A run resumed after it stopped has nothing left to train.
    let first_epoch = match training.state.stop {
        Some(_) => run.config.epochs + 1,
        None => training.state.epochs_done + 1,
    };
    for epoch in first_epoch..=run.config.epochs {
        model = training.epoch(model, epoch)?;
        if training.state.stop.is_some() {
            break;
        }
    }
    if let Some(last) = training.state.history.last() {
        training.progress.finish(last);
    }
    // A stop asked for during the last batch came too late to stop anything; it must not stop
    // the next `fit`.
    run.interrupter.reset();
    Ok(training.fitted(model))
}

/// What the loop carries from epoch to epoch, besides the model.
struct Training<'a> {
    run: &'a Run<'a>,
    validation: Option<&'a ExampleSet>,
    n_train: usize,
    trainer: Trainer,
    checkpointer: Option<Checkpointer>,
    state: RunState,
    /// The weights of the best epoch so far, kept for `restore_best_weights`.
    best_model: Option<Model>,
    rules: Vec<Box<dyn StoppingStrategy>>,
    progress: Progress,
    log: Option<TrainingLog>,
    /// When this run last wrote a checkpoint.
    last_checkpoint: Option<Instant>,
}

impl<'a> Training<'a> {
    /// A new run, or the one its checkpoint left off when `config.resume` says so: returns
    /// the model to train, on its autodiff device.
    fn start(
        model: Model,
        replicas: &[Device],
        train: ExampleSet,
        validation: Option<&'a ExampleSet>,
        run: &'a Run<'a>,
    ) -> Result<(Model, Self)> {
        let config = run.config;
        let checkpointer = Checkpointer::open(config, &model, &train, validation)?;
        let (model, restored) = match &checkpointer {
            Some(checkpointer) if config.resume => checkpointer.restore(model)?,
            _ => (model, None),
        };
        // `train()` puts the parameters on the autodiff twin of their device and turns the
        // training behaviour (dropout) on.
        let model = model.train();
        let n_train = train.len();
        let replicas = replicas.iter().map(|d| d.clone().autodiff()).collect();
        let mut trainer = Trainer::new(train, &model, replicas, config)?;
        let (state, best_model) = match restored {
            Some(Restored {
                best_model,
                state,
                optimizer_file,
            }) => {
                trainer.load_optimizer(&optimizer_file, &model.device())?;
                (state, best_model)
            }
            None => (RunState::default(), None),
        };
        let training = Training {
            run,
            validation,
            n_train,
            trainer,
            checkpointer,
            state,
            best_model,
            rules: stopping_rules(config),
            progress: Progress::new(config.progress, config.epochs),
            log: config
                .log_dir
                .as_deref()
                .map(|dir| TrainingLog::new(dir, config.learning_rate)),
            last_checkpoint: None,
        };
        Ok((model, training))
    }

    /// Trains epoch `epoch`, records it, decides whether to stop and saves a checkpoint.
    fn epoch(&mut self, model: Model, epoch: usize) -> Result<Model> {
        let (run, config) = (self.run, self.run.config);
        let start = Instant::now();
        self.progress.start_epoch(epoch, self.n_train);
        let partial = self.state.partial.take();
        let earlier_seconds = partial.as_ref().map_or(0.0, |p| p.seconds);
        let (model, end) = self
            .trainer
            .epoch(model, run, epoch, partial, &mut self.progress)?;
        let (loss, accuracy, gradient_max) = match end {
            EpochEnd::Complete {
                loss,
                accuracy,
                gradient_max,
            } => (loss, accuracy, gradient_max),
            EpochEnd::Stopped(part) => {
                self.state.partial = Some(part);
                let checkpoint = self.save(&model)?;
                return Err(interrupted(run.interrupter, checkpoint));
            }
        };
        let train_seconds = earlier_seconds + start.elapsed().as_secs_f64();
        self.state.counters.train_seconds += train_seconds;
        if !loss.is_finite() {
            return Err(Error::NonFiniteLoss { epoch, loss });
        }
        let record = EpochRecord {
            epoch,
            loss,
            accuracy,
            validation: validation_figures(&model, run.task, self.validation, config)?,
            seconds: earlier_seconds + start.elapsed().as_secs_f64(),
            samples_per_second: self.n_train as f64 / train_seconds,
        };
        self.progress.end_epoch(&record);
        if let Some(val_loss) = record.val_loss()
            && !val_loss.is_finite()
        {
            return Err(Error::NonFiniteLoss {
                epoch,
                loss: val_loss,
            });
        }
        let monitored = record.val_loss().unwrap_or(loss);
        self.state.history.push(record);
        if let Some(log) = &mut self.log {
            log.record(&self.state.history)?;
        }
        let min_delta = config
            .early_stopping
            .as_ref()
            .map_or(0.0, |es| es.min_delta);
        let improved = self
            .state
            .counters
            .record_monitored(monitored, epoch, min_delta);
        if improved {
            self.best_model = Some(model.valid());
        }
        let outcome = EpochOutcome { loss, gradient_max };
        self.state.stop = stop_reason(&self.rules, &outcome, &mut self.state.counters);
        self.state.epochs_done = epoch;
        let last = self.state.stop.is_some() || epoch == config.epochs;
        let interrupting = !last && run.interrupter.stop_requested_by_epoch_end();
        let restorable_best = improved
            && config
                .early_stopping
                .as_ref()
                .is_some_and(|e| e.restore_best_weights);
        let due = match (config.checkpoint_interval, self.last_checkpoint) {
            (Some(seconds), Some(written)) => written.elapsed().as_secs_f64() >= seconds,
            _ => true,
        };
        let checkpoint = if last || interrupting || restorable_best || due {
            self.save(&model)?
        } else {
            None
        };
        if interrupting {
            return Err(interrupted(run.interrupter, checkpoint));
        }
        Ok(model)
    }

    /// Writes a checkpoint of where the run is, when it writes them; returns its folder.
    fn save(&mut self, model: &Model) -> Result<Option<PathBuf>> {
        let Some(checkpointer) = &self.checkpointer else {
            return Ok(None);
        };
        let folder = checkpointer.save(model, self.trainer.optimizer_record(), &self.state)?;
        self.last_checkpoint = Some(Instant::now());
        Ok(Some(folder))
    }

    /// The trained model (the best epoch's when early stopping restores it) and its history.
    fn fitted(self, model: Model) -> Fitted {
        let state = self.state;
        let stop = state.stop.unwrap_or(StopReason::EpochBudget);
        let (_, best_epoch) = state.counters.best.expect("at least one epoch ran");
        let restore = matches!(
            stop,
            StopReason::EarlyStopping {
                restored_best_weights: true,
                ..
            }
        );
        let model = match (restore, self.best_model) {
            (true, Some(best)) => best,
            _ => model.valid(),
        };
        let monitor = if self.validation.is_some() {
            "val_loss"
        } else {
            "loss"
        };
        let train_seconds = state.counters.train_seconds;
        let examples_seen = self.n_train * state.history.len();
        Fitted {
            model,
            history: History {
                epochs: state.history,
                stop,
                monitor: monitor.to_string(),
                best_epoch,
                train_seconds,
                train_samples_per_second: examples_seen as f64 / train_seconds,
            },
        }
    }
}

/// `val_loss` and the validation metrics of `model` (on an autodiff device) on `validation`.
fn validation_figures(
    model: &Model,
    task: Task,
    validation: Option<&ExampleSet>,
    config: &FitConfig,
) -> Result<BTreeMap<String, f64>> {
    let Some(validation) = validation else {
        return Ok(BTreeMap::new());
    };
    // Full-batch training evaluates the validation set in its chunks too.
    let batch_size = if config.optimizer.is_full_batch() {
        full_batch_chunk(model.n_inputs())
    } else {
        config.batch_size
    };
    let evaluation = evaluate(&model.valid(), task, validation, batch_size)?;
    Ok(evaluation
        .headline()
        .into_iter()
        .map(|(name, value)| (format!("val_{name}"), value))
        .collect())
}

/// The error `fit` returns on a stop request, which it clears, so that a later `fit` in the
/// process trains.
fn interrupted(interrupter: &Interrupter, checkpoint: Option<PathBuf>) -> Error {
    interrupter.reset();
    Error::Interrupted { checkpoint }
}

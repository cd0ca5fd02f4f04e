//! When training stops: the stopping rules behind one trait (as burn-train's
//! `EarlyStoppingStrategy`), the counters they keep between epochs (saved in every checkpoint),
//! and the interrupter that stops a run on request, as burn-train's `Interrupter` (the apps
//! trigger it on Ctrl-C).

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, LazyLock};

use serde::{Deserialize, Serialize};

use super::config::{ConvergenceConfig, EarlyStoppingConfig, FitConfig};
use super::history::StopReason;

/// A stop request that any thread may make and a running `fit` reads after every batch (a
/// stop at the end of the batch) and every epoch (a stop at the end of the epoch too). A
/// cloneable handle: a Ctrl-C handler keeps one, `fit` another.
#[derive(Clone, Debug)]
pub struct Interrupter(Arc<AtomicU8>);

/// [`Interrupter`]'s states: no request, a stop at the end of the epoch, at the end of the batch.
const NO_REQUEST: u8 = 0;
const AT_EPOCH_END: u8 = 1;
const AT_BATCH_END: u8 = 2;

/// The process's one interrupter, as there is one Ctrl-C.
static PROCESS_INTERRUPTER: LazyLock<Interrupter> =
    LazyLock::new(|| Interrupter(Arc::new(AtomicU8::new(NO_REQUEST))));

impl Interrupter {
    /// The interrupter that [`fit`](super::fit) and [`fit_data_parallel`](super::fit_data_parallel)
    /// watch.
    pub fn process() -> Interrupter {
        PROCESS_INTERRUPTER.clone()
    }

    /// Asks the running `fit` to stop at the end of its current batch (or L-BFGS iteration): it
    /// writes a checkpoint, when it writes them, and returns [`crate::Error::Interrupted`].
    /// Safe to call from a signal handler's thread.
    pub fn stop(&self) {
        self.0.store(AT_BATCH_END, Ordering::SeqCst);
    }

    /// Asks the running `fit` to stop once its current epoch is complete, as [`Self::stop`]
    /// does after a batch: a checkpoint on an epoch boundary (what an elastic run waits for
    /// before it takes back a device). Never delays a stop asked for at the end of the batch.
    pub fn stop_at_epoch_end(&self) {
        let _ =
            self.0
                .compare_exchange(NO_REQUEST, AT_EPOCH_END, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// Whether a stop at the end of the current batch is asked for.
    pub fn stop_requested(&self) -> bool {
        self.0.load(Ordering::SeqCst) == AT_BATCH_END
    }

    /// Whether any stop is asked for, which the end of an epoch honours.
    pub(crate) fn stop_requested_by_epoch_end(&self) -> bool {
        self.0.load(Ordering::SeqCst) != NO_REQUEST
    }

    /// Forgets a request once `fit` has stopped on it, or ended before it could, so that a
    /// later `fit` in the process trains.
    pub(crate) fn reset(&self) {
        self.0.store(NO_REQUEST, Ordering::SeqCst);
    }
}

/// Stops the running `fit`: [`Interrupter::stop`] on the process's interrupter.
pub fn request_stop() {
    Interrupter::process().stop();
}

/// What the stopping rules count from epoch to epoch: a checkpoint saves them, so that a
/// resumed run stops where the uninterrupted one would.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LoopCounters {
    /// The lowest monitored loss and its epoch.
    pub best: Option<(f64, usize)>,
    pub epochs_without_improvement: usize,
    /// The convergence rule's best training loss and the epochs since it last fell enough.
    pub convergence: Option<(f64, usize)>,
    pub train_seconds: f64,
}

impl LoopCounters {
    /// Records `epoch`'s monitored loss (the validation loss, or the training loss without
    /// validation data); true when it beats the best so far by more than `min_delta`.
    pub(crate) fn record_monitored(
        &mut self,
        monitored: f64,
        epoch: usize,
        min_delta: f64,
    ) -> bool {
        if self
            .best
            .is_none_or(|(best_loss, _)| monitored < best_loss - min_delta)
        {
            self.best = Some((monitored, epoch));
            self.epochs_without_improvement = 0;
            true
        } else {
            self.epochs_without_improvement += 1;
            false
        }
    }
}

/// A rule that ends training at the end of an epoch. Its state lives in the [`LoopCounters`],
/// which checkpoints save.
pub(crate) trait StoppingStrategy {
    /// Takes note of the epoch that just ended (its monitored loss is already in `counters`)
    /// and says why training stops now, if it does.
    fn should_stop(&self, epoch: &EpochOutcome, counters: &mut LoopCounters) -> Option<StopReason>;
}

/// What the stopping rules see of an epoch.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EpochOutcome {
    /// The training loss.
    pub loss: f64,
    /// The largest component (in magnitude) of the objective's gradient at the weights the
    /// epoch ended on: full-batch training only.
    pub gradient_max: Option<f64>,
}

/// Stop as soon as an epoch's training loss is at or below the target.
struct TargetLoss(f64);

impl StoppingStrategy for TargetLoss {
    fn should_stop(&self, epoch: &EpochOutcome, _: &mut LoopCounters) -> Option<StopReason> {
        let (target, loss) = (self.0, epoch.loss);
        (loss <= target).then_some(StopReason::TargetLoss { target, loss })
    }
}

impl StoppingStrategy for ConvergenceConfig {
    /// Counts the epochs since the training loss last fell by more than `tol` (relative to
    /// its best); stops after `patience` in a row. Small improvements still lower the best
    /// loss, as in scikit-learn, so a slow but steady descent converges too.
    /// With `gradient_tol`, a small enough gradient stops training at once.
    fn should_stop(&self, epoch: &EpochOutcome, counters: &mut LoopCounters) -> Option<StopReason> {
        let loss = epoch.loss;
        let (best, mut epochs_without_progress) =
            counters.convergence.unwrap_or((f64::INFINITY, 0));
        if loss < best - self.tol * best.abs() || !best.is_finite() {
            epochs_without_progress = 0;
        } else {
            epochs_without_progress += 1;
        }
        counters.convergence = Some((best.min(loss), epochs_without_progress));
        if let (Some(gradient_tol), Some(gradient_max)) = (self.gradient_tol, epoch.gradient_max)
            && gradient_max <= gradient_tol
        {
            return Some(StopReason::GradientConverged {
                gradient_tol,
                gradient_max,
            });
        }
        (epochs_without_progress >= self.patience).then_some(StopReason::Converged {
            tol: self.tol,
            patience: self.patience,
            loss,
        })
    }
}

impl StoppingStrategy for EarlyStoppingConfig {
    /// Stops once the monitored loss has not improved for `patience` epochs.
    fn should_stop(&self, _: &EpochOutcome, counters: &mut LoopCounters) -> Option<StopReason> {
        if counters.epochs_without_improvement < self.patience.max(1) {
            return None;
        }
        let (best_loss, best_epoch) = counters.best.expect("set after the first epoch");
        Some(StopReason::EarlyStopping {
            patience: self.patience,
            best_epoch,
            best_loss,
            restored_best_weights: self.restore_best_weights,
        })
    }
}

/// The rules `config` sets, in the order their reasons take precedence.
pub(crate) fn stopping_rules(config: &FitConfig) -> Vec<Box<dyn StoppingStrategy>> {
    let mut rules: Vec<Box<dyn StoppingStrategy>> = Vec::new();
    if let Some(target) = config.target_loss {
        rules.push(Box::new(TargetLoss(target)));
    }
    if let Some(convergence) = &config.convergence {
        rules.push(Box::new(convergence.clone()));
    }
    if let Some(early_stopping) = &config.early_stopping {
        rules.push(Box::new(early_stopping.clone()));
    }
    rules
}

/// The first reason `rules` give to stop after `epoch`. Every rule sees every epoch, so that
/// its counts go on while another one stops.
pub(crate) fn stop_reason(
    rules: &[Box<dyn StoppingStrategy>],
    epoch: &EpochOutcome,
    counters: &mut LoopCounters,
) -> Option<StopReason> {
    rules.iter().fold(None, |first, rule| {
        let reason = rule.should_stop(epoch, counters);
        first.or(reason)
    })
}

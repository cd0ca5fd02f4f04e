//! Terminal progress: a bar per epoch (samples/s, running loss) when stderr is a terminal, and
//! one plain line per epoch either way, like Keras' `verbose=1`/`verbose=2`. Budgets of more
//! than 100 epochs (L-BFGS iterations, mostly) show the first ten lines, then one in every
//! hundredth of the budget, and the last.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

use super::history::EpochRecord;

pub(crate) struct Progress {
    enabled: bool,
    epochs: usize,
    bar: Option<ProgressBar>,
}

impl Progress {
    pub fn new(enabled: bool, epochs: usize) -> Self {
        Self {
            enabled,
            epochs,
            bar: None,
        }
    }

    pub fn start_epoch(&mut self, epoch: usize, samples: usize) {
        if !self.enabled || !std::io::stderr().is_terminal() {
            return;
        }
        let bar = ProgressBar::new(samples as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "Epoch {prefix} [{bar:30}] {pos}/{len} {per_sec} eta {eta} {msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_prefix(format!("{epoch}/{}", self.epochs));
        self.bar = Some(bar);
    }

    /// Whether reading the running loss (a device sync) is worth it at this batch: only when a
    /// bar shows it, and about twenty times an epoch.
    pub fn wants_loss(&self, batch: usize, batches: usize) -> bool {
        self.bar.is_some() && batch.is_multiple_of(batches.div_ceil(20).max(1))
    }

    pub fn advance(&self, samples_done: usize, running_loss: Option<f64>) {
        if let Some(bar) = &self.bar {
            bar.set_position(samples_done as u64);
            if let Some(loss) = running_loss {
                bar.set_message(format!("loss {loss:.4}"));
            }
        }
    }

    fn shows(&self, epoch: usize) -> bool {
        self.epochs <= 100 || epoch <= 10 || epoch.is_multiple_of(self.epochs / 100)
    }

    pub fn end_epoch(&mut self, record: &EpochRecord) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        if self.enabled && self.shows(record.epoch) {
            eprintln!("{}", record.line(self.epochs));
        }
    }

    /// The last epoch's line, when [`Progress::end_epoch`] skipped it.
    pub fn finish(&self, last: &EpochRecord) {
        if self.enabled && !self.shows(last.epoch) {
            eprintln!("{}", last.line(self.epochs));
        }
    }
}

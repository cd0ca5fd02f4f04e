//! What training returns: a line per epoch, why it stopped, and the trained model.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::Model;

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
    /// No component of the full-batch gradient was larger than `gradient_tol`.
    GradientConverged {
        gradient_tol: f64,
        gradient_max: f64,
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
}

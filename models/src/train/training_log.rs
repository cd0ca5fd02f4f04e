//! `FitConfig::log_dir`: what Keras' `TensorBoard` and `CSVLogger` callbacks write, at the
//! end of every epoch. TensorBoard's event files go into `train/` (loss, accuracy, learning
//! rate) and `validation/` (the validation figures under the same names), Keras' layout, so
//! that TensorBoard draws each figure's training and validation curves in one chart;
//! `history.csv` holds a row per epoch.

use std::path::{Path, PathBuf};

use super::history::EpochRecord;
use crate::error::{Error, Result};
use crate::store::write_atomic;
use crate::tensorboard::EventWriter;

/// The CSV log, in the log folder.
pub const CSV_LOG_FILE: &str = "history.csv";

/// The logs of one training run.
pub(crate) struct TrainingLog {
    dir: PathBuf,
    learning_rate: f64,
    /// The event files, opened at the first epoch this process trains.
    writers: Option<(EventWriter, EventWriter)>,
}

impl TrainingLog {
    pub(crate) fn new(dir: &Path, learning_rate: f64) -> Self {
        TrainingLog {
            dir: dir.to_path_buf(),
            learning_rate,
            writers: None,
        }
    }

    /// Logs the last epoch of `history`. The CSV file is rewritten whole (atomically), so
    /// that a resumed run's file holds each epoch once; a resumed run's event files start with
    /// a session start at its first epoch, which makes TensorBoard drop what the stopped run
    /// logged past its checkpoint.
    pub(crate) fn record(&mut self, history: &[EpochRecord]) -> Result<()> {
        let Some(last) = history.last() else {
            return Ok(());
        };
        let (train, validation) = match &mut self.writers {
            Some(writers) => writers,
            None => {
                let mut train = EventWriter::create(&self.dir.join("train"))?;
                let mut validation = EventWriter::create(&self.dir.join("validation"))?;
                train.start_session(last.epoch)?;
                validation.start_session(last.epoch)?;
                self.writers.insert((train, validation))
            }
        };
        let mut train_scalars = vec![
            ("epoch_loss", last.loss),
            ("epoch_learning_rate", self.learning_rate),
        ];
        if let Some(accuracy) = last.accuracy {
            train_scalars.push(("epoch_accuracy", accuracy));
        }
        train.scalars(last.epoch, &train_scalars)?;
        let validation_tags: Vec<(String, f64)> = last
            .validation
            .iter()
            .map(|(name, value)| {
                let name = name.strip_prefix("val_").unwrap_or(name);
                (format!("epoch_{name}"), *value)
            })
            .collect();
        if !validation_tags.is_empty() {
            let scalars: Vec<(&str, f64)> = validation_tags
                .iter()
                .map(|(tag, value)| (tag.as_str(), *value))
                .collect();
            validation.scalars(last.epoch, &scalars)?;
        }
        write_atomic(&self.dir.join(CSV_LOG_FILE), &self.csv(history)?)
    }

    /// Keras' `CSVLogger` columns: the epoch, the training figures, the validation ones and
    /// the learning rate; then the epoch's time.
    fn csv(&self, history: &[EpochRecord]) -> Result<Vec<u8>> {
        let csv_error = |e: csv::Error| Error::Store {
            path: self.dir.join(CSV_LOG_FILE),
            message: e.to_string(),
        };
        let mut writer = csv::Writer::from_writer(Vec::new());
        let first = &history[0];
        let mut header = vec!["epoch".to_string(), "loss".to_string()];
        if first.accuracy.is_some() {
            header.push("accuracy".into());
        }
        header.extend(first.validation.keys().cloned());
        header.extend(["learning_rate".into(), "seconds".into()]);
        writer.write_record(&header).map_err(csv_error)?;
        for record in history {
            let mut row = vec![record.epoch.to_string(), record.loss.to_string()];
            row.extend(record.accuracy.map(|a| a.to_string()));
            row.extend(record.validation.values().map(f64::to_string));
            row.extend([self.learning_rate.to_string(), record.seconds.to_string()]);
            writer.write_record(&row).map_err(csv_error)?;
        }
        writer.into_inner().map_err(|e| Error::Store {
            path: self.dir.join(CSV_LOG_FILE),
            message: e.to_string(),
        })
    }
}

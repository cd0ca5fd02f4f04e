//! The audio models' fitted preprocessing, as `model.json` keeps it: the MFCC front end and
//! clip shaping, and where the recordings came from and how they were split (so that
//! `evaluate` finds the same test set).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::clips::{ClipInput, ClipShaping, LabelSource, extract_bytes};
use super::mfcc::MfccConfig;
use crate::error::LoadError;
use crate::preprocessing::{Input, InputKind, ModelInput, Preprocessing, check_width};

/// Which recordings form the test set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TestSplit {
    /// FSDD's official split: takes 0–4.
    Official,
    Stratified {
        fraction: f64,
        seed: u64,
    },
}

/// An audio model's part of `model.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AudioPreprocessing {
    pub mfcc: MfccConfig,
    pub shaping: ClipShaping,
    pub data: PathBuf,
    pub labels: LabelSource,
    pub test: TestSplit,
    pub skip_bad: bool,
}

impl AudioPreprocessing {
    /// The app that trains audio models.
    pub const APP: &str = "audio-classifier";

    /// The model input of a WAV file's bytes: read, resampled, its MFCCs shaped into one row
    /// as in training. `name` is the path errors show.
    pub fn clip_input(&self, name: &Path, bytes: &[u8]) -> Result<Vec<f32>, LoadError> {
        Ok(self.shaping.row(&extract_bytes(name, bytes, &self.mfcc)?))
    }
}

impl Preprocessing for AudioPreprocessing {
    fn app(&self) -> &'static str {
        Self::APP
    }

    fn input_kind(&self) -> InputKind {
        InputKind::Wav
    }

    fn check(&self, n_inputs: usize) -> Result<(), String> {
        self.mfcc.validate()?;
        let stats = &self.shaping.stats;
        if stats.mean.len() != self.mfcc.width() || stats.std.len() != self.mfcc.width() {
            return Err(format!(
                "the coefficient statistics have {} means and {} deviations for {} coefficients",
                stats.mean.len(),
                stats.std.len(),
                self.mfcc.width()
            ));
        }
        let width = match self.shaping.input {
            ClipInput::Matrix => stats.mean.len().checked_mul(self.shaping.max_frames),
            ClipInput::Stats => stats.mean.len().checked_mul(2),
        };
        check_width(width, n_inputs)
    }

    fn prepare(&self, input: Input) -> Result<ModelInput, String> {
        match input {
            Input::File { name, bytes } => self
                .clip_input(name, bytes)
                .map(ModelInput::Dense)
                .map_err(|e| e.to_string()),
            _ => Err(self.wrong_input()),
        }
    }
}

//! The tabular models' fitted preprocessing, as `model.json` keeps it: feature and target
//! standardisation, and the table the model was trained and tested on.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use zoo_models::data::{Examples, Features, TargetData};
use zoo_models::preprocess::Standardizer;

use super::source::{TableSource, TaskKind};
use crate::preprocessing::{Input, InputKind, ModelInput, Preprocessing, check_width};

/// Standardisation of a regression target, undone for reporting and prediction.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TargetScaling {
    pub mean: f32,
    pub std: f32,
}

/// A tabular model's part of `model.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TabularPreprocessing {
    pub features: Standardizer,
    pub target: Option<TargetScaling>,
    pub source: TableSource,
    pub task: TaskKind,
    pub test_data: Option<PathBuf>,
    pub test_split: f64,
    pub seed: u64,
}

/// How far from its training mean, in standard deviations, a feature value may be.
pub const FEATURE_RANGE_STDS: f64 = 1e6;

impl TabularPreprocessing {
    /// The app that trains tabular models.
    pub const APP: &str = "tabular";

    /// The values every feature may take: those within [`FEATURE_RANGE_STDS`] standard
    /// deviations of every feature's training mean. Wider values would overflow f32 once
    /// standardised (or drive the model's outputs to infinity); none is a measurement.
    pub fn value_range(&self) -> (f64, f64) {
        let s = &self.features;
        s.mean
            .iter()
            .zip(&s.std)
            .map(|(&mean, &std)| {
                let spread = FEATURE_RANGE_STDS * std as f64;
                (mean as f64 - spread, mean as f64 + spread)
            })
            .fold((f64::MIN, f64::MAX), |(lo, hi), (l, h)| {
                (lo.max(l), hi.min(h))
            })
    }

    /// The model input of one row of feature values: checked, then standardised as in
    /// training.
    pub fn row_input(&self, row: &[f64]) -> Result<Vec<f32>, String> {
        let n = self.features.mean.len();
        if row.len() != n {
            return Err(format!(
                "{} values, the model takes {n} features",
                row.len()
            ));
        }
        let (lo, hi) = self.value_range();
        if let Some((c, v)) = row
            .iter()
            .enumerate()
            .find(|(_, v)| !(lo..=hi).contains(*v))
        {
            return Err(format!(
                "the value {v} of feature {c} is outside [{lo}, {hi}], the range this model \
                 takes ({FEATURE_RANGE_STDS:e} standard deviations of the training data)"
            ));
        }
        let mut features =
            Features::new(row.iter().map(|&v| v as f32).collect(), n).map_err(|e| e.to_string())?;
        self.features.transform(&mut features);
        Ok(features.values().to_vec())
    }

    /// Scales examples as training did: features standardised, a regression target too.
    pub fn scale(&self, examples: &mut Examples) {
        self.features.transform(&mut examples.features);
        if let (Some(s), TargetData::Values { values, .. }) = (self.target, &mut examples.targets) {
            values.iter_mut().for_each(|v| *v = (*v - s.mean) / s.std);
        }
    }

    /// A model output in the target's own units (regression targets were standardised).
    pub fn target_value(&self, output: f32) -> f32 {
        self.target.map_or(output, |s| output * s.std + s.mean)
    }
}

impl Preprocessing for TabularPreprocessing {
    fn app(&self) -> &'static str {
        Self::APP
    }

    fn input_kind(&self) -> InputKind {
        InputKind::Row
    }

    fn check(&self, n_inputs: usize) -> Result<(), String> {
        let features = &self.features;
        if features.std.len() != features.mean.len() {
            return Err(format!(
                "the feature scaling has {} means and {} deviations",
                features.mean.len(),
                features.std.len()
            ));
        }
        check_width(Some(features.mean.len()), n_inputs)
    }

    fn prepare(&self, input: Input) -> Result<ModelInput, String> {
        match input {
            Input::Row(row) => self.row_input(row).map(ModelInput::Dense),
            _ => Err(self.wrong_input()),
        }
    }

    fn output_value(&self, value: f32) -> f32 {
        self.target_value(value)
    }

    fn value_range(&self) -> Option<(f64, f64)> {
        Some(TabularPreprocessing::value_range(self))
    }
}

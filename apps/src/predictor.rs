//! The one path from a user's raw input to a prediction, for every app. Each app's `predict`
//! and `zoo-serve` both go through [`Preprocessing::prepare`] (raw input → model input) and
//! [`Predictor::predict`] (model inputs → ranked classes or values), so a prediction over HTTP
//! is the command line's for the same file. The predictor knows the data kinds' preprocessing
//! states, never the apps.

use std::path::Path;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use zoo_models::dataset::FeatureSource;
use zoo_models::prelude::*;
use zoo_models::sparse::SparseFeatures;
use zoo_models::store::{self, MANIFEST_FILE};

use crate::audio::preprocessing::AudioPreprocessing;
use crate::error::LoadError;
use crate::preprocessing::{ModelInput, Preprocessing};
use crate::saved::SavedModel;
use crate::table::preprocessing::TabularPreprocessing;
use crate::test_metrics::INFERENCE_BATCH;
use crate::text::preprocessing::TextPreprocessing;
use crate::vision::preprocessing::ImagePreprocessing;

/// What a model says about one input.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// Every class with its probability, the most probable first.
    Classes(Vec<(String, f32)>),
    /// Regression values, in the target's own units.
    Values(Vec<f32>),
}

impl Output {
    /// The `top` most probable classes (all values of a regression).
    pub fn top(mut self, top: usize) -> Self {
        if let Output::Classes(classes) = &mut self {
            classes.truncate(top.max(1));
        }
        self
    }

    /// The ranked classes; none for a regression.
    pub fn into_classes(self) -> Vec<(String, f32)> {
        match self {
            Output::Classes(classes) => classes,
            Output::Values(_) => Vec::new(),
        }
    }
}

/// The preprocessing state `manifest` holds, whichever data kind's it is, checked against a
/// model of `n_inputs`.
pub fn preprocessing_of(
    manifest: &ModelManifest,
    n_inputs: usize,
) -> Result<Arc<dyn Preprocessing>, String> {
    fn parse<P: Preprocessing + DeserializeOwned + 'static>(
        manifest: &ModelManifest,
        n_inputs: usize,
    ) -> Option<Result<Arc<dyn Preprocessing>, String>> {
        let state: P = serde_json::from_value(manifest.preprocessing.clone()).ok()?;
        Some(
            state
                .check(n_inputs)
                .map(|()| Arc::new(state) as Arc<dyn Preprocessing>),
        )
    }
    // Each state has fields no other has, so at most one of them parses.
    parse::<ImagePreprocessing>(manifest, n_inputs)
        .or_else(|| parse::<TextPreprocessing>(manifest, n_inputs))
        .or_else(|| parse::<AudioPreprocessing>(manifest, n_inputs))
        .or_else(|| parse::<TabularPreprocessing>(manifest, n_inputs))
        .unwrap_or_else(|| {
            Err(format!(
                "not the model of an app: its `preprocessing` is none of {}, {}, {} or {}'s (a \
                 model saved by `train` of one of them is)",
                ImagePreprocessing::APP,
                TextPreprocessing::APP,
                AudioPreprocessing::APP,
                TabularPreprocessing::APP
            ))
        })
}

/// A saved model of any app with its preprocessing, ready to predict. The preprocessing is
/// shared (`Arc`) so that inputs can be prepared on other threads than the model's.
pub struct Predictor {
    pub model: Model,
    pub manifest: ModelManifest,
    pub preprocessing: Arc<dyn Preprocessing>,
}

impl<P: Preprocessing + 'static> From<SavedModel<P>> for Predictor {
    fn from(saved: SavedModel<P>) -> Self {
        Self {
            model: saved.model,
            manifest: saved.manifest,
            preprocessing: Arc::new(saved.preprocessing),
        }
    }
}

impl Predictor {
    /// Loads a model folder saved by any app's `train` onto `device`, telling the app from
    /// its preprocessing state.
    pub fn load(dir: &Path, device: &Device) -> anyhow::Result<Self> {
        let (model, manifest) = store::load(dir, device)?;
        let preprocessing = preprocessing_of(&manifest, model.n_inputs())
            .map_err(|e| LoadError::new(&dir.join(MANIFEST_FILE), e))?;
        Ok(Self {
            model,
            manifest,
            preprocessing,
        })
    }

    /// Class names in label order (empty for a regression).
    pub fn class_names(&self) -> &[String] {
        &self.manifest.class_names
    }

    /// The model's outputs for `inputs` (made by [`Preprocessing::prepare`]), one per input,
    /// in batches of [`INFERENCE_BATCH`].
    pub fn predict(&self, inputs: &[ModelInput]) -> anyhow::Result<Vec<Output>> {
        if inputs.is_empty() {
            return Ok(Vec::new());
        }
        let width = self.model.n_inputs();
        let features: Box<dyn FeatureSource> = match &inputs[0] {
            ModelInput::Dense(_) => {
                let mut values = Vec::with_capacity(inputs.len() * width);
                for input in inputs {
                    let ModelInput::Dense(row) = input else {
                        anyhow::bail!("dense and sparse inputs in one batch");
                    };
                    values.extend_from_slice(row);
                }
                Box::new(Features::new(values, width)?)
            }
            ModelInput::Sparse(_) => {
                let mut rows = SparseFeatures::new(width)?;
                for input in inputs {
                    let ModelInput::Sparse(row) = input else {
                        anyhow::bail!("dense and sparse inputs in one batch");
                    };
                    rows.push_row(row.iter().copied())?;
                }
                Box::new(rows)
            }
        };
        let task = self.manifest.task;
        let predictions = predict(&self.model, task, features.as_ref(), INFERENCE_BATCH)?;
        Ok((0..predictions.len())
            .map(|i| match task {
                Task::Regression { .. } => Output::Values(
                    predictions
                        .row(i)
                        .iter()
                        .map(|&v| self.preprocessing.output_value(v))
                        .collect(),
                ),
                _ => Output::Classes(ranked_classes(
                    &predictions,
                    self.class_names(),
                    i,
                    usize::MAX,
                )),
            })
            .collect())
    }
}

/// The `top` most probable classes of example `i`, most probable first, with their
/// probabilities.
pub fn ranked_classes(
    predictions: &Predictions,
    class_names: &[String],
    i: usize,
    top: usize,
) -> Vec<(String, f32)> {
    let mut ranked: Vec<(String, f32)> = class_names
        .iter()
        .cloned()
        .zip(predictions.row(i).iter().copied())
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    ranked.truncate(top.max(1));
    ranked
}

/// `input: 7 0.9981, 9 0.0012, …`, the line `predict` prints for one input.
pub fn ranked_line(input: &str, ranked: &[(String, f32)]) -> String {
    let classes: Vec<String> = ranked
        .iter()
        .map(|(class, p)| format!("{class} {p:.4}"))
        .collect();
    format!("{input}: {}", classes.join(", "))
}

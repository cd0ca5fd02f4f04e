//! The one path from a user's raw input to a prediction, for every app. Each app's `predict`
//! and `zoo-serve` both go through [`AppPreprocessing::prepare`] (raw input → model input) and
//! [`Predictor::predict`] (model inputs → ranked classes or values), so a prediction over HTTP
//! is the command line's for the same file.

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;
use zoo_models::dataset::FeatureSource;
use zoo_models::prelude::*;
use zoo_models::sparse::SparseFeatures;
use zoo_models::store::{self, MANIFEST_FILE};

use crate::audio_classifier::{self, AudioPreprocessing};
use crate::error::LoadError;
use crate::image_classifier::{self, ImagePreprocessing};
use crate::report::{self, INFERENCE_BATCH, Preprocessing, SavedModel};
use crate::tabular::{self, TabularPreprocessing};
use crate::text_classifier::{self, TextPreprocessing};

/// What a model takes as one input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InputKind {
    /// A PNG or JPEG file, of any size and colour (converted to the model's).
    Image,
    /// A text.
    Text,
    /// A WAV file.
    Wav,
    /// A row of numbers, one per feature.
    Row,
}

/// One raw input as a user gives it.
#[derive(Clone, Copy, Debug)]
pub enum Input<'a> {
    /// A file's bytes (an image or a WAV file); `name` is the path errors show.
    File {
        name: &'a Path,
        bytes: &'a [u8],
    },
    Text(&'a str),
    /// Feature values, read as f64 so that range checks are exact; the model takes f32.
    Row(&'a [f64]),
}

/// The model's input made from one raw input: a dense row, or (text) the non-zero entries of a
/// sparse one.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelInput {
    Dense(Vec<f32>),
    Sparse(Vec<(u32, f32)>),
}

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

/// An app's preprocessing state: which app saved a model, and how its raw inputs become the
/// model's inputs.
#[derive(Clone, Debug, PartialEq)]
pub enum AppPreprocessing {
    Image(ImagePreprocessing),
    Text(TextPreprocessing),
    Audio(AudioPreprocessing),
    Tabular(TabularPreprocessing),
}

impl AppPreprocessing {
    /// The app's name, as its binary is called.
    pub fn app(&self) -> &'static str {
        match self {
            AppPreprocessing::Image(_) => image_classifier::APP,
            AppPreprocessing::Text(_) => text_classifier::APP,
            AppPreprocessing::Audio(_) => audio_classifier::APP,
            AppPreprocessing::Tabular(_) => tabular::APP,
        }
    }

    pub fn input_kind(&self) -> InputKind {
        match self {
            AppPreprocessing::Image(_) => InputKind::Image,
            AppPreprocessing::Text(_) => InputKind::Text,
            AppPreprocessing::Audio(_) => InputKind::Wav,
            AppPreprocessing::Tabular(_) => InputKind::Row,
        }
    }

    /// The state of whichever app saved `manifest`, checked against a model of `n_inputs`.
    pub fn from_manifest(manifest: &ModelManifest, n_inputs: usize) -> Result<Self, String> {
        fn parse<P: Preprocessing>(
            manifest: &ModelManifest,
            n_inputs: usize,
        ) -> Option<Result<P, String>> {
            let state: P = serde_json::from_value(manifest.preprocessing.clone()).ok()?;
            Some(state.check(n_inputs).map(|()| state))
        }
        // Each app's state has fields no other app's has, so at most one of them parses.
        if let Some(state) = parse(manifest, n_inputs) {
            return state.map(AppPreprocessing::Image);
        }
        if let Some(state) = parse(manifest, n_inputs) {
            return state.map(AppPreprocessing::Text);
        }
        if let Some(state) = parse(manifest, n_inputs) {
            return state.map(AppPreprocessing::Audio);
        }
        if let Some(state) = parse(manifest, n_inputs) {
            return state.map(AppPreprocessing::Tabular);
        }
        Err(format!(
            "not the model of an app: its `preprocessing` is none of {}, {}, {} or {}'s (a \
             model saved by `train` of one of them is)",
            image_classifier::APP,
            text_classifier::APP,
            audio_classifier::APP,
            tabular::APP
        ))
    }

    /// The model input of one raw input; an input of another kind, or one that cannot be
    /// read, is an error saying why.
    pub fn prepare(&self, input: Input) -> Result<ModelInput, String> {
        let text = |e: LoadError| e.to_string();
        match (self, input) {
            (AppPreprocessing::Image(p), Input::File { name, bytes }) => p
                .image_input(name, bytes)
                .map(ModelInput::Dense)
                .map_err(text),
            (AppPreprocessing::Audio(p), Input::File { name, bytes }) => p
                .clip_input(name, bytes)
                .map(ModelInput::Dense)
                .map_err(text),
            (AppPreprocessing::Text(p), Input::Text(t)) => Ok(ModelInput::Sparse(p.text_input(t))),
            (AppPreprocessing::Tabular(p), Input::Row(row)) => {
                p.row_input(row).map(ModelInput::Dense)
            }
            (state, _) => Err(format!(
                "a model of {} takes {} inputs",
                state.app(),
                match state.input_kind() {
                    InputKind::Image => "PNG or JPEG image",
                    InputKind::Text => "text",
                    InputKind::Wav => "WAV file",
                    InputKind::Row => "row-of-numbers",
                }
            )),
        }
    }

    /// The model input of the image or WAV file at `path`.
    pub fn prepare_file(&self, path: &Path) -> anyhow::Result<ModelInput> {
        let bytes =
            std::fs::read(path).map_err(|e| LoadError::new(path, format!("cannot read: {e}")))?;
        let input = Input::File {
            name: path,
            bytes: &bytes,
        };
        self.prepare(input).map_err(anyhow::Error::msg)
    }

    /// A regression output in the target's own units.
    fn output_value(&self, value: f32) -> f32 {
        match self {
            AppPreprocessing::Tabular(p) => p.target_value(value),
            _ => value,
        }
    }
}

impl From<ImagePreprocessing> for AppPreprocessing {
    fn from(state: ImagePreprocessing) -> Self {
        AppPreprocessing::Image(state)
    }
}

impl From<TextPreprocessing> for AppPreprocessing {
    fn from(state: TextPreprocessing) -> Self {
        AppPreprocessing::Text(state)
    }
}

impl From<AudioPreprocessing> for AppPreprocessing {
    fn from(state: AudioPreprocessing) -> Self {
        AppPreprocessing::Audio(state)
    }
}

impl From<TabularPreprocessing> for AppPreprocessing {
    fn from(state: TabularPreprocessing) -> Self {
        AppPreprocessing::Tabular(state)
    }
}

/// A saved model of any app with its preprocessing, ready to predict. The preprocessing is
/// shared (`Arc`) so that inputs can be prepared on other threads than the model's.
pub struct Predictor {
    pub model: Model,
    pub manifest: ModelManifest,
    pub preprocessing: Arc<AppPreprocessing>,
}

impl<P: Preprocessing + Into<AppPreprocessing>> From<SavedModel<P>> for Predictor {
    fn from(saved: SavedModel<P>) -> Self {
        Self {
            model: saved.model,
            manifest: saved.manifest,
            preprocessing: Arc::new(saved.preprocessing.into()),
        }
    }
}

impl Predictor {
    /// Loads a model folder saved by any app's `train` onto `device`, telling the app from
    /// its preprocessing state.
    pub fn load(dir: &Path, device: &Device) -> anyhow::Result<Self> {
        let (model, manifest) = store::load(dir, device)?;
        let preprocessing = AppPreprocessing::from_manifest(&manifest, model.n_inputs())
            .map_err(|e| LoadError::new(&dir.join(MANIFEST_FILE), e))?;
        Ok(Self {
            model,
            manifest,
            preprocessing: Arc::new(preprocessing),
        })
    }

    /// Class names in label order (empty for a regression).
    pub fn class_names(&self) -> &[String] {
        &self.manifest.class_names
    }

    /// The model's outputs for `inputs` (made by [`AppPreprocessing::prepare`]), one per input,
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
                _ => Output::Classes(report::ranked_classes(
                    &predictions,
                    self.class_names(),
                    i,
                    usize::MAX,
                )),
            })
            .collect())
    }
}

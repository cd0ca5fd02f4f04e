//! The text models' fitted preprocessing, as `model.json` keeps it: the TF-IDF vectorizer, and
//! the file the texts came from with how to read it (so that `evaluate` finds the same test
//! set).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::TableFormat;
use super::features::TfidfVectorizer;
use crate::preprocessing::{Input, InputKind, ModelInput, Preprocessing, check_width};

/// Where the test set of a training run came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TestSource {
    File(PathBuf),
    Split { fraction: f64, seed: u64 },
}

/// A text model's part of `model.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TextPreprocessing {
    pub vectorizer: TfidfVectorizer,
    pub data: PathBuf,
    pub format: TableFormat,
    pub test: TestSource,
}

impl TextPreprocessing {
    /// The app that trains text models.
    pub const APP: &str = "text-classifier";

    /// The model input of one text: its TF-IDF row, as (column, value) pairs.
    pub fn text_input(&self, text: &str) -> Vec<(u32, f32)> {
        self.vectorizer.sparse_row(text)
    }
}

impl Preprocessing for TextPreprocessing {
    fn app(&self) -> &'static str {
        Self::APP
    }

    fn input_kind(&self) -> InputKind {
        InputKind::Text
    }

    fn check(&self, n_inputs: usize) -> Result<(), String> {
        let vectorizer = &self.vectorizer;
        vectorizer.config.validate()?;
        if vectorizer.idf.len() != vectorizer.vocabulary.len() {
            return Err(format!(
                "the vocabulary has {} terms but {} IDF values",
                vectorizer.vocabulary.len(),
                vectorizer.idf.len()
            ));
        }
        check_width(Some(vectorizer.n_features()), n_inputs)
    }

    fn prepare(&self, input: Input) -> Result<ModelInput, String> {
        match input {
            Input::Text(text) => Ok(ModelInput::Sparse(self.text_input(text))),
            _ => Err(self.wrong_input()),
        }
    }
}

//! The image models' fitted preprocessing, as `model.json` keeps it: how pixels become inputs,
//! and where the training images came from (so that `evaluate` finds the same test set).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::folder;
use super::{ImageLayout, PixelScaling};
use crate::error::LoadError;
use crate::preprocessing::{Input, InputKind, ModelInput, Preprocessing, check_width};

/// Where the training run's images came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "format", rename_all = "lowercase")]
pub enum DataSource {
    Idx {
        dir: PathBuf,
    },
    Folder {
        dir: PathBuf,
        /// The held-out fraction and its seed; absent when the folder has train/ and test/.
        test_split: Option<f64>,
        seed: u64,
    },
}

/// An image model's part of `model.json`: how pixels become inputs and where the data came
/// from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImagePreprocessing {
    pub pixels: PixelScaling,
    pub source: DataSource,
}

impl ImagePreprocessing {
    /// The app that trains image models.
    pub const APP: &str = "image-classifier";

    /// The model input of a PNG or JPEG file's bytes, of any size and colour: converted to
    /// the model's layout, then scaled as in training. `name` is the path errors show.
    pub fn image_input(&self, name: &Path, bytes: &[u8]) -> Result<Vec<f32>, LoadError> {
        let pixels = folder::decode_image_bytes(name, bytes, self.pixels.layout)?;
        Ok(self.pixels.inputs(&pixels))
    }
}

impl Preprocessing for ImagePreprocessing {
    fn app(&self) -> &'static str {
        Self::APP
    }

    fn input_kind(&self) -> InputKind {
        InputKind::Image
    }

    fn check(&self, n_inputs: usize) -> Result<(), String> {
        let layout = self.pixels.layout;
        let values = layout
            .channels()
            .checked_mul(layout.height)
            .and_then(|v| v.checked_mul(layout.width));
        check_width(values, n_inputs)?;
        match &self.pixels.normalization {
            Some(n) if n.mean.len() != layout.channels() || n.std.len() != layout.channels() => {
                Err(format!(
                    "the normalisation has {} means and {} deviations for {} channels",
                    n.mean.len(),
                    n.std.len(),
                    layout.channels()
                ))
            }
            _ => Ok(()),
        }
    }

    fn prepare(&self, input: Input) -> Result<ModelInput, String> {
        match input {
            Input::File { name, bytes } => self
                .image_input(name, bytes)
                .map(ModelInput::Dense)
                .map_err(|e| e.to_string()),
            _ => Err(self.wrong_input()),
        }
    }

    fn image_layout(&self) -> Option<ImageLayout> {
        Some(self.pixels.layout)
    }
}

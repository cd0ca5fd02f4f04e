//! What every data kind's fitted preprocessing state does, behind one trait: say which inputs
//! it takes, check itself against the model it was saved with, and turn one raw input into the
//! model's input. Each data room (`vision`, `text`, `audio`, `table`) implements it beside its
//! loaders; the predictor and zoo-serve use only the trait.

use std::fmt::Debug;
use std::path::Path;

use serde::Serialize;

use crate::error::LoadError;
use crate::vision::ImageLayout;

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

impl InputKind {
    /// What an error says a model takes: "a model of APP takes … inputs".
    fn described(self) -> &'static str {
        match self {
            InputKind::Image => "PNG or JPEG image",
            InputKind::Text => "text",
            InputKind::Wav => "WAV file",
            InputKind::Row => "row-of-numbers",
        }
    }
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

/// A data kind's fitted preprocessing state, as `model.json` stores it: how raw inputs become
/// the model's inputs, exactly as in training.
pub trait Preprocessing: Debug + Send + Sync {
    /// The app that trains models with this preprocessing, as its binary is called.
    fn app(&self) -> &'static str;

    fn input_kind(&self) -> InputKind;

    /// Why this state cannot feed a model of `n_inputs` inputs, if it cannot: a hand-edited or
    /// corrupt `model.json` must fail at load, not when an input is shaped by it.
    fn check(&self, n_inputs: usize) -> Result<(), String>;

    /// The model input of one raw input; an input of another kind, or one that cannot be
    /// read, is an error saying why.
    fn prepare(&self, input: Input) -> Result<ModelInput, String>;

    /// A regression output in the target's own units.
    fn output_value(&self, value: f32) -> f32 {
        value
    }

    /// The size and colour images are converted to (image models only).
    fn image_layout(&self) -> Option<ImageLayout> {
        None
    }

    /// The smallest and largest feature value taken (row models only).
    fn value_range(&self) -> Option<(f64, f64)> {
        None
    }

    /// The error for an input of another kind than [`Preprocessing::input_kind`].
    fn wrong_input(&self) -> String {
        format!(
            "a model of {} takes {} inputs",
            self.app(),
            self.input_kind().described()
        )
    }

    /// The model input of the image or WAV file at `path`.
    fn prepare_file(&self, path: &Path) -> anyhow::Result<ModelInput> {
        let bytes =
            std::fs::read(path).map_err(|e| LoadError::new(path, format!("cannot read: {e}")))?;
        let input = Input::File {
            name: path,
            bytes: &bytes,
        };
        self.prepare(input).map_err(anyhow::Error::msg)
    }
}

/// `Err` saying that preprocessing makes `made` features (`None`: more than fit in memory)
/// where the model takes `n_inputs`.
pub fn check_width(made: Option<usize>, n_inputs: usize) -> Result<(), String> {
    match made {
        Some(width) if width == n_inputs => Ok(()),
        Some(width) => Err(format!(
            "the preprocessing makes {width} features but the model takes {n_inputs}"
        )),
        None => Err("the preprocessing's sizes overflow".into()),
    }
}

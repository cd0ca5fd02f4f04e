use std::path::PathBuf;

use crate::backend::BackendError;
use crate::batch::DataError;
use crate::config::ConfigError;

/// Everything that can go wrong in the library, each with a message fit for an end user.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error(
        "training diverged: the loss of epoch {epoch} is {loss}; lower the learning rate or \
         check the data for extreme values"
    )]
    NonFiniteLoss { epoch: usize, loss: f64 },
    #[error("{}: {message}", path.display())]
    Store { path: PathBuf, message: String },
    /// An export that failed: an operation ONNX cannot express, or a file not written.
    #[error("cannot export: {0}")]
    Export(String),
    #[error("the device failed: {0}")]
    Device(String),
    /// Training stopped on [`crate::train::request_stop`] (the apps call it on Ctrl-C).
    #[error("training interrupted{}", checkpoint.as_ref().map_or(String::new(), |c| format!("; checkpoint saved in {}", c.display())))]
    Interrupted { checkpoint: Option<PathBuf> },
    #[error("cannot resume from {}: {message}", checkpoint.display())]
    Resume {
        checkpoint: PathBuf,
        message: String,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

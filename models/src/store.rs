//! Saving and loading a trained model: weights as burnpack (`model.bpk`) and everything needed
//! to rebuild the model and its preprocessing as JSON (`model.json`). Both are written to a
//! temporary file in the same folder and renamed into place, so a crash never leaves a
//! half-written file behind. Weights are stored as plain f32 tensors, so a model saved on one
//! backend loads on any other.

use std::io::Write;
use std::path::Path;

use burn::prelude::*;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::backend::BackendKind;
use crate::error::{Error, Result};
use crate::model::{Model, ModelConfig};
use crate::task::Task;

pub const WEIGHTS_FILE: &str = "model.bpk";
pub const MANIFEST_FILE: &str = "model.json";
const FORMAT_VERSION: u32 = 1;

/// The contents of `model.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelManifest {
    /// Layout version of this file, for readers to reject what they do not understand.
    pub format: u32,
    pub model: ModelConfig,
    pub task: Task,
    /// Names of the classes, in label order (empty for regression).
    #[serde(default)]
    pub class_names: Vec<String>,
    /// The app's preprocessing state (scaling statistics, vocabularies…), replayed by
    /// `predict` so that it sees inputs exactly as training did.
    #[serde(default)]
    pub preprocessing: serde_json::Value,
    /// The backend the model was trained on (informational: any backend can load it).
    #[serde(default)]
    pub trained_on: Option<BackendKind>,
}

impl ModelManifest {
    pub fn new(model: ModelConfig, task: Task) -> Self {
        Self {
            format: FORMAT_VERSION,
            model,
            task,
            class_names: Vec::new(),
            preprocessing: serde_json::Value::Null,
            trained_on: None,
        }
    }
}

fn store_error(path: &Path, message: impl ToString) -> Error {
    Error::Store {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// Writes `value` as pretty JSON to `path` atomically (temporary file + rename).
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let json = serde_json::to_vec_pretty(value).map_err(|e| store_error(path, e))?;
    write_atomic(path, &json)
}

/// Writes `bytes` to `path` atomically: a temporary file in the same folder, renamed into
/// place once complete.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| store_error(dir, e))?;
    let mut builder = tempfile::Builder::new();
    // Temporary files are private (0600); the result should be an ordinary file, readable as
    // the umask allows.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    let mut file = builder.tempfile_in(dir).map_err(|e| store_error(dir, e))?;
    file.write_all(bytes).map_err(|e| store_error(path, e))?;
    file.as_file()
        .sync_all()
        .map_err(|e| store_error(path, e))?;
    file.persist(path).map_err(|e| store_error(path, e.error))?;
    Ok(())
}

/// Reads a JSON file, naming the file in any error.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| store_error(path, e))?;
    serde_json::from_str(&text).map_err(|e| store_error(path, format!("not a valid file: {e}")))
}

/// Saves the weights and the manifest into `dir` (created if needed).
pub fn save(dir: &Path, model: &Model, manifest: &ModelManifest) -> Result<()> {
    manifest.model.validate_for(manifest.task)?;
    let (config, model_io) = (&manifest.model, (model.n_inputs(), model.n_outputs()));
    if model_io != (config.n_inputs(), config.n_outputs()) {
        return Err(store_error(
            dir,
            format!(
                "the model ({} inputs, {} outputs) does not match its manifest ({} inputs, {} outputs)",
                model_io.0,
                model_io.1,
                config.n_inputs(),
                config.n_outputs()
            ),
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| store_error(dir, e))?;
    let weights = dir.join(WEIGHTS_FILE);
    // burnpack writes through a temporary file and renames it, like `write_atomic`.
    model
        .clone()
        .save_file(&weights)
        .map_err(|e| store_error(&weights, e))?;
    write_json_atomic(&dir.join(MANIFEST_FILE), manifest)
}

/// Loads a model saved by [`save`] onto `device`, whatever backend it was trained on.
pub fn load(dir: &Path, device: &Device) -> Result<(Model, ModelManifest)> {
    let manifest_path = dir.join(MANIFEST_FILE);
    let manifest: ModelManifest = read_json(&manifest_path)?;
    if manifest.format != FORMAT_VERSION {
        return Err(store_error(
            &manifest_path,
            format!(
                "format version {} is not supported (expected {FORMAT_VERSION})",
                manifest.format
            ),
        ));
    }
    manifest
        .model
        .validate_for(manifest.task)
        .map_err(|e| store_error(&manifest_path, e))?;
    let weights = dir.join(WEIGHTS_FILE);
    if !weights.is_file() {
        return Err(store_error(&weights, "weights file is missing"));
    }
    let model = load_weights(&manifest.model, &weights, device)?;
    Ok((model, manifest))
}

/// A `config` model on `device` with the weights of the burnpack file at `path`.
///
/// The file is read into memory first: Burn's file-backed burnpack reader is lazy, and a model
/// loaded with `Module::try_load_file` re-reads the file by path when a weight is first used,
/// so deleting the file (or replacing it by a newer training run) after loading would break
/// the model or, worse, give it the new file's weights.
pub fn load_weights(config: &ModelConfig, path: &Path, device: &Device) -> Result<Model> {
    use burn::store::{BurnpackStore, ModuleSnapshot};
    config.validate()?;
    // Weights are stored as f32: a file too small for the config's parameters cannot be its
    // weights, and the model is not allocated for it.
    let needed = config.summary().total_params() as u64 * size_of::<f32>() as u64;
    let size = std::fs::metadata(path)
        .map_err(|e| store_error(path, e))?
        .len();
    if size < needed {
        return Err(store_error(
            path,
            format!(
                "{size} bytes cannot hold the {} parameters the model's config has",
                config.summary().total_params()
            ),
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| store_error(path, e))?;
    let mut store = BurnpackStore::from_bytes(Some(burn::tensor::Bytes::from_bytes_vec(bytes)));
    let mut model = config.init(device)?;
    model
        .load_from(&mut store)
        .map_err(|e| store_error(path, e))?;
    Ok(model)
}

//! A model folder written by an app's `train`, loaded: the model (`model.bpk`) and its
//! `model.json`, with the app's preprocessing state checked against the model.

use std::path::Path;

use serde::de::DeserializeOwned;
use zoo_models::model::Model;
use zoo_models::prelude::Device;
use zoo_models::store::{self, MANIFEST_FILE, ModelManifest};

use crate::error::LoadError;
use crate::preprocessing::Preprocessing;

/// A model saved by an app's `train`, with that app's preprocessing state `P`.
pub struct SavedModel<P> {
    pub model: Model,
    pub manifest: ModelManifest,
    pub preprocessing: P,
}

impl<P: Preprocessing + DeserializeOwned> SavedModel<P> {
    /// Loads a model folder onto `device`; a folder written by another app, or whose
    /// preprocessing does not fit its model, is an error.
    pub fn load(dir: &Path, device: &Device, app: &str) -> anyhow::Result<Self> {
        let (model, manifest) = store::load(dir, device)?;
        let manifest_error = |message: String| LoadError::new(&dir.join(MANIFEST_FILE), message);
        let preprocessing: P = serde_json::from_value(manifest.preprocessing.clone())
            .map_err(|e| manifest_error(format!("not a model of {app}: {e}")))?;
        preprocessing
            .check(model.n_inputs())
            .map_err(manifest_error)?;
        Ok(Self {
            model,
            manifest,
            preprocessing,
        })
    }
}

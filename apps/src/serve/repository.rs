//! The models a server serves, by name and version, and the model repository that changes
//! them while it serves. The [`Catalog`] is an immutable snapshot: a request takes the current
//! one (an `Arc`) and keeps the model it picked until it is answered, so a swap never fails or
//! delays a request in flight; a change builds a new catalog beside the old one and replaces it
//! in one step. With `--model-repository DIR`, every `DIR/NAME/VERSION/` folder (VERSION a
//! positive integer, as Triton's repositories) is served; a poller loads new versions in the
//! background, checks them (the model, its preprocessing and the two together, as `Predictor`
//! loads them) and swaps them in; a version that fails is reported and the others keep serving.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use zoo_models::prelude::Device;

use super::api::{ModelInfo, ServedModel, ServerState};
use super::batcher::{BatchPolicy, Batcher};
use super::metrics::Metrics;
use super::openapi;
use crate::predictor::Predictor;

/// One model's versions.
#[derive(Clone, Default)]
pub struct ModelVersions {
    pub loaded: BTreeMap<u64, Arc<ServedModel>>,
    /// Versions that failed to load, with why.
    pub failed: BTreeMap<u64, String>,
}

impl ModelVersions {
    /// The version served when a request names none: the newest loaded.
    pub fn newest(&self) -> Option<(u64, &Arc<ServedModel>)> {
        self.loaded.iter().next_back().map(|(v, m)| (*v, m))
    }
}

/// What the server serves at one moment.
#[derive(Clone)]
pub struct Catalog {
    pub models: BTreeMap<String, ModelVersions>,
    /// The OpenAPI document of the newest versions.
    pub openapi: Value,
}

impl Catalog {
    pub fn new(models: BTreeMap<String, ModelVersions>, secured: bool) -> Self {
        let infos: Vec<&ModelInfo> = models
            .values()
            .filter_map(|m| m.newest().map(|(_, model)| &model.info))
            .collect();
        let openapi = openapi::document(&infos, secured);
        Catalog { models, openapi }
    }
}

/// Loads the model folder `dir` as `name` onto `device` and starts its worker.
pub fn load(
    name: &str,
    dir: &Path,
    device: &Device,
    policy: BatchPolicy,
    metrics: &Metrics,
) -> anyhow::Result<ServedModel> {
    let start = Instant::now();
    let predictor = Predictor::load(dir, device)?;
    let info = ModelInfo::new(name, &predictor);
    let preprocessing = predictor.preprocessing.clone();
    let batcher = Batcher::spawn(name, predictor, policy, metrics.model(name))?;
    metrics.loaded(name, start.elapsed().as_secs_f64());
    Ok(ServedModel::new(info, preprocessing, batcher))
}

/// `--model-repository DIR`: where the models come from, and how they are loaded.
pub struct Repository {
    pub dir: PathBuf,
    device: Device,
    policy: BatchPolicy,
    /// Models unloaded by request, which the poller leaves alone until loaded again.
    unloaded: Mutex<BTreeSet<String>>,
    /// One change at a time (the poller, a load request).
    changing: Mutex<()>,
}

/// Why a load request failed.
pub enum LoadError {
    NoSuchModel,
    Failed(String),
}

impl Repository {
    pub fn new(dir: PathBuf, device: Device, policy: BatchPolicy) -> Self {
        Repository {
            dir,
            device,
            policy,
            unloaded: Mutex::default(),
            changing: Mutex::default(),
        }
    }

    /// Each model's version folders on disk, `NAME/VERSION/`; anything else is skipped.
    fn on_disk(&self) -> BTreeMap<String, BTreeSet<u64>> {
        let mut models = BTreeMap::new();
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return models;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !super::valid_name(&name) || !entry.path().is_dir() {
                continue;
            }
            let versions: BTreeSet<u64> = std::fs::read_dir(entry.path())
                .into_iter()
                .flatten()
                .flatten()
                .filter(|v| v.path().is_dir())
                .filter_map(|v| v.file_name().to_str()?.parse::<u64>().ok())
                .filter(|&v| v > 0)
                .collect();
            models.insert(name, versions);
        }
        models
    }

    /// Brings the served models in line with the disk: new versions loaded (a failed one is
    /// tried again only when `retry` names its model), removed ones dropped; models unloaded
    /// by request stay out. Loading happens before the swap, outside any lock requests take.
    pub fn sync(&self, state: &ServerState, retry: Option<&str>) {
        let _changing = self.changing.lock().unwrap_or_else(|e| e.into_inner());
        let unloaded = self
            .unloaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let current = state.catalog();
        let mut models: BTreeMap<String, ModelVersions> = BTreeMap::new();
        for (name, versions) in self.on_disk() {
            if unloaded.contains(&name) {
                continue;
            }
            let before = current.models.get(&name).cloned().unwrap_or_default();
            let mut now = ModelVersions::default();
            for version in versions {
                if let Some(model) = before.loaded.get(&version) {
                    now.loaded.insert(version, model.clone());
                    continue;
                }
                if let Some(reason) = before.failed.get(&version)
                    && retry != Some(name.as_str())
                {
                    now.failed.insert(version, reason.clone());
                    continue;
                }
                let dir = self.dir.join(&name).join(version.to_string());
                match load(&name, &dir, &self.device, self.policy, &state.metrics) {
                    Ok(model) => {
                        eprintln!("loaded {name} version {version} from {}", dir.display());
                        now.loaded.insert(version, Arc::new(model));
                    }
                    Err(error) => {
                        let reason = format!("{error:#}");
                        eprintln!(
                            "cannot load {name} version {version} (the others keep serving): \
                             {reason}"
                        );
                        state.metrics.load_failed(&name);
                        now.failed.insert(version, reason);
                    }
                }
            }
            models.insert(name, now);
        }
        state.replace_catalog(Catalog::new(models, state.token.is_some()));
    }

    /// `POST /v2/repository/models/{name}/load`: serves `name` again (if unloaded), with
    /// every version on disk, failed ones tried again.
    pub fn load_model(&self, state: &ServerState, name: &str) -> Result<(), LoadError> {
        if !self.on_disk().contains_key(name) {
            return Err(LoadError::NoSuchModel);
        }
        self.unloaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
        self.sync(state, Some(name));
        let catalog = state.catalog();
        let versions = catalog.models.get(name).cloned().unwrap_or_default();
        match versions.loaded.is_empty() {
            false => Ok(()),
            true => Err(LoadError::Failed(
                versions
                    .failed
                    .iter()
                    .map(|(v, reason)| format!("version {v}: {reason}"))
                    .collect::<Vec<_>>()
                    .join("; "),
            )),
        }
    }

    /// `POST /v2/repository/models/{name}/unload`: stops serving `name` until it is loaded
    /// again; requests in flight finish on it.
    pub fn unload_model(&self, state: &ServerState, name: &str) -> bool {
        if !state.catalog().models.contains_key(name) {
            return false;
        }
        self.unloaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string());
        self.sync(state, None);
        true
    }

    /// Checks the disk every `every`, for as long as the process runs.
    pub fn poll(self: Arc<Self>, state: Arc<ServerState>, every: Duration) {
        std::thread::Builder::new()
            .name("model repository".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(every);
                    self.sync(&state, None);
                }
            })
            .expect("a thread for the repository poller");
    }
}

//! Checkpoints of a training run, from which `fit` resumes exactly.
//!
//! A checkpoint is a folder (`epoch-0003`, or `epoch-0004-batch-000120` when Ctrl-C stopped
//! training inside epoch 4) holding the model and the optimizer state as burnpack records
//! (`Module::save_file`, `ModuleOptimizer::to_record`) and `state.json`: where the run is, its
//! history, the early-stopping and convergence counters, and what the run was started with, so
//! that resuming with other data, another model or other hyper-parameters is refused. Nothing
//! else is needed to go on exactly: each epoch's shuffle and each batch's device seed are
//! derived from the seed and their position (see `epoch::stream_seed`), not drawn from a
//! generator whose state would have to be saved.
//!
//! A folder is written under a temporary name and renamed when complete, so the last complete
//! checkpoint is always whole; a run keeps the last two and the best epoch's. `fit` opens a
//! [`Checkpointer`] once, restores from it when resuming, and saves through it every epoch.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::OptimizerRecord;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::config::FitConfig;
use super::history::{EpochRecord, StopReason};
use super::stopping::LoopCounters;
use crate::backend::BackendKind;
use crate::batch::DataError;
use crate::data::TargetData;
use crate::dataset::ExampleSet;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::store::{read_json, write_json_atomic};

pub const STATE_FILE: &str = "state.json";
pub const MODEL_FILE: &str = "model.bpk";
pub const OPTIMIZER_FILE: &str = "optimizer.bpk";
const FORMAT_VERSION: u32 = 1;
/// Rows of each set whose inputs `DataFingerprint` hashes, besides all the targets.
const FINGERPRINT_ROWS: usize = 32;

/// What identifies a training set without storing it: its size, a hash of every target and
/// of the first rows' model inputs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SetFingerprint {
    pub examples: usize,
    pub features: usize,
    pub targets_hash: u64,
    pub first_rows_hash: u64,
}

/// FNV-1a: a hash whose value is the same in every build (the standard library's is not).
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

impl SetFingerprint {
    pub fn of(set: &ExampleSet, device: &Device) -> Result<Self, DataError> {
        let mut targets = Fnv::new();
        match set.targets() {
            TargetData::Classes { labels, n_classes } => {
                targets.write(&(*n_classes as u64).to_le_bytes());
                for &label in labels {
                    targets.write(&(label as u64).to_le_bytes());
                }
            }
            TargetData::Values { values, n_outputs } => {
                targets.write(&(*n_outputs as u64).to_le_bytes());
                for value in values {
                    targets.write(&value.to_bits().to_le_bytes());
                }
            }
        }
        let first: Vec<usize> = (0..set.len().min(FINGERPRINT_ROWS)).collect();
        let mut rows = Fnv::new();
        if !first.is_empty() {
            let inputs = set.batch(&first, device)?.inputs.into_dense();
            for value in inputs.into_data().iter::<f32>() {
                rows.write(&value.to_bits().to_le_bytes());
            }
        }
        Ok(SetFingerprint {
            examples: set.len(),
            features: set.n_features(),
            targets_hash: targets.0,
            first_rows_hash: rows.0,
        })
    }

    /// How `self` (the checkpoint's) differs from `other` (this run's), if it does.
    fn difference(&self, other: &SetFingerprint, name: &str) -> Option<String> {
        if self.examples != other.examples {
            Some(format!(
                "the {name} set has {} examples here but {} in the checkpoint",
                other.examples, self.examples
            ))
        } else if self.features != other.features {
            Some(format!(
                "the {name} examples have {} features here but {} in the checkpoint",
                other.features, self.features
            ))
        } else if self.targets_hash != other.targets_hash {
            Some(format!(
                "the {name} set's targets differ from the checkpoint's"
            ))
        } else if self.first_rows_hash != other.first_rows_hash {
            Some(format!(
                "the {name} set's features differ from the checkpoint's"
            ))
        } else {
            None
        }
    }
}

/// The data a run trains and validates on, as a checkpoint records it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataFingerprint {
    pub train: SetFingerprint,
    pub validation: Option<SetFingerprint>,
}

impl DataFingerprint {
    fn difference(&self, other: &DataFingerprint) -> Option<String> {
        match (&self.validation, &other.validation) {
            (Some(_), None) => {
                return Some("the checkpoint's run had validation data; this one has none".into());
            }
            (None, Some(_)) => {
                return Some("this run has validation data; the checkpoint's had none".into());
            }
            (Some(then), Some(now)) => {
                if let Some(difference) = then.difference(now, "validation") {
                    return Some(difference);
                }
            }
            (None, None) => {}
        }
        self.train.difference(&other.train, "training")
    }
}

/// The sums of an epoch that Ctrl-C stopped before its end.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PartialEpoch {
    /// Batches of the epoch already trained on.
    pub batches: usize,
    /// Examples in them.
    pub seen: usize,
    /// Their losses, each times its batch's size, summed as the epoch sums them (f32).
    pub loss_sum: f32,
    /// Examples of them classified right (classification only).
    pub correct: Option<i64>,
    /// Training time spent on them.
    pub seconds: f64,
}

/// `state.json`: where a run is and what it was started with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointState {
    pub format: u32,
    /// Epochs completed.
    pub epochs_done: usize,
    /// The epoch after them, when it was stopped part-way.
    pub partial: Option<PartialEpoch>,
    pub history: Vec<EpochRecord>,
    pub counters: LoopCounters,
    /// Why training stopped, once it has.
    pub stop: Option<StopReason>,
    pub config: FitConfig,
    /// The model's kind and size (see [`model_signature`]).
    pub model: String,
    pub data: DataFingerprint,
}

/// The model's kind, inputs, outputs and parameter count: what must match to resume.
fn model_signature(model: &Model) -> String {
    format!(
        "{} with {} inputs, {} outputs and {} parameters",
        model.name(),
        model.n_inputs(),
        model.n_outputs(),
        model.num_params()
    )
}

/// Marks a float written as text in `state.json`.
const FLOAT_TAG: &str = "f64:";

/// `value` with every float replaced by the text Rust writes for it (`f64:0.1`): the shortest
/// that reads back to the same bits. serde_json, as Burn builds it (without
/// `float_roundtrip`), may read a float one unit off in the last place, and a resumed run
/// must see the very losses and settings that the interrupted one saw.
fn floats_as_text(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Number(n) if n.is_f64() => {
            Value::String(format!("{FLOAT_TAG}{:?}", n.as_f64().expect("an f64")))
        }
        Value::Array(items) => Value::Array(items.into_iter().map(floats_as_text).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(k, v)| (k, floats_as_text(v)))
                .collect(),
        ),
        other => other,
    }
}

/// The inverse of [`floats_as_text`].
fn floats_from_text(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(text) => match text
            .strip_prefix(FLOAT_TAG)
            .and_then(|t| t.parse::<f64>().ok())
            .and_then(serde_json::Number::from_f64)
        {
            Some(number) => Value::Number(number),
            None => Value::String(text),
        },
        Value::Array(items) => Value::Array(items.into_iter().map(floats_from_text).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(k, v)| (k, floats_from_text(v)))
                .collect(),
        ),
        other => other,
    }
}

fn write_state(path: &Path, state: &CheckpointState) -> Result<()> {
    let value = serde_json::to_value(state).map_err(|e| store_error(path, e))?;
    write_json_atomic(path, &floats_as_text(value))
}

fn read_state(path: &Path) -> Result<CheckpointState> {
    let value: serde_json::Value = read_json(path)?;
    serde_json::from_value(floats_from_text(value))
        .map_err(|e| store_error(path, format!("not a valid checkpoint state: {e}")))
}

fn store_error(path: &Path, message: impl ToString) -> Error {
    Error::Store {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// The FitConfig fields a resumed run may change: the epoch budget (to train longer), the
/// progress display, where and how often checkpoints go, and where the logs go.
fn comparable(config: &FitConfig) -> serde_json::Value {
    let mut value = serde_json::to_value(config).expect("a FitConfig is JSON");
    if let Some(fields) = value.as_object_mut() {
        for field in [
            "epochs",
            "progress",
            "checkpoints",
            "checkpoint_interval",
            "log_dir",
            "resume",
        ] {
            fields.remove(field);
        }
    }
    value
}

impl CheckpointState {
    /// Why this run cannot resume from the checkpoint, if it cannot.
    pub fn check(
        &self,
        config: &FitConfig,
        model: &str,
        data: &DataFingerprint,
    ) -> Result<(), String> {
        if self.model != model {
            return Err(format!(
                "the checkpoint's model is a {} but this one is a {model}",
                self.model
            ));
        }
        let (then, now) = (comparable(&self.config), comparable(config));
        if then != now {
            let (then, now) = (then.as_object(), now.as_object());
            let differing: Vec<String> = then
                .into_iter()
                .flatten()
                .filter(|(name, value)| now.and_then(|n| n.get(*name)) != Some(value))
                .map(|(name, value)| {
                    let here = now
                        .and_then(|n| n.get(name))
                        .unwrap_or(&serde_json::Value::Null);
                    format!("{name} is {here} here but {value} in the checkpoint")
                })
                .collect();
            return Err(format!(
                "the training settings differ from the checkpoint's: {}",
                differing.join("; ")
            ));
        }
        if let Some(difference) = self.data.difference(data) {
            return Err(difference);
        }
        if config.epochs < self.epochs_done {
            return Err(format!(
                "the checkpoint has {} epochs done; resume with at least as many epochs, not {}",
                self.epochs_done, config.epochs
            ));
        }
        Ok(())
    }
}

/// A complete checkpoint folder and its state.
pub struct Checkpoint {
    pub dir: PathBuf,
    pub state: CheckpointState,
}

fn folder_name(epochs_done: usize, partial: Option<&PartialEpoch>) -> String {
    match partial {
        None => format!("epoch-{epochs_done:04}"),
        Some(p) => format!("epoch-{:04}-batch-{:06}", epochs_done + 1, p.batches),
    }
}

/// Where the checkpoint ends training: epochs done, then batches of the next.
fn position(state: &CheckpointState) -> (usize, usize) {
    (
        state.epochs_done,
        state.partial.as_ref().map_or(0, |p| p.batches),
    )
}

/// The complete checkpoints in `dir`, earliest first. Temporary folders left by a run killed
/// while writing one are not checkpoints.
pub fn list(dir: &Path) -> Result<Vec<Checkpoint>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(store_error(dir, e)),
    };
    let mut checkpoints = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| store_error(dir, e))?.path();
        let is_checkpoint = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("epoch-"));
        if is_checkpoint && path.join(STATE_FILE).is_file() {
            let state = read_state(&path.join(STATE_FILE))?;
            checkpoints.push(Checkpoint { dir: path, state });
        }
    }
    checkpoints.sort_by_key(|c| position(&c.state));
    Ok(checkpoints)
}

/// The last complete checkpoint in `dir`.
pub fn latest(dir: &Path) -> Result<Checkpoint> {
    last(dir)?.ok_or_else(|| store_error(dir, "no complete checkpoint to resume from"))
}

/// The last complete checkpoint in `dir`, if it holds one.
fn last(dir: &Path) -> Result<Option<Checkpoint>> {
    let Some(last) = list(dir)?.pop() else {
        return Ok(None);
    };
    if last.state.format != FORMAT_VERSION {
        return Err(store_error(
            &last.dir,
            format!(
                "checkpoint format {} is not supported (expected {FORMAT_VERSION})",
                last.state.format
            ),
        ));
    }
    Ok(Some(last))
}

/// Writes a checkpoint of `model` (the training model) and `optimizer` with `state` into
/// `dir`, then deletes all but the last two and the best epoch's. Returns its folder.
fn write(
    dir: &Path,
    model: &Model,
    optimizer: OptimizerRecord,
    state: &CheckpointState,
) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| store_error(dir, e))?;
    let temporary = tempfile::Builder::new()
        .prefix(".writing-")
        .tempdir_in(dir)
        .map_err(|e| store_error(dir, e))?;
    let model_path = temporary.path().join(MODEL_FILE);
    model
        .valid()
        .save_file(&model_path)
        .map_err(|e| store_error(&model_path, e))?;
    let optimizer_path = temporary.path().join(OPTIMIZER_FILE);
    optimizer
        .save(&optimizer_path)
        .map_err(|e| store_error(&optimizer_path, e))?;
    // On disk before the folder is renamed into place, so that a complete-looking checkpoint
    // is complete after a power loss too (`write_state` syncs its own file).
    for path in [&model_path, &optimizer_path] {
        std::fs::File::open(path)
            .and_then(|file| file.sync_all())
            .map_err(|e| store_error(path, e))?;
    }
    write_state(&temporary.path().join(STATE_FILE), state)?;
    let folder = dir.join(folder_name(state.epochs_done, state.partial.as_ref()));
    if folder.exists() {
        std::fs::remove_dir_all(&folder).map_err(|e| store_error(&folder, e))?;
    }
    std::fs::rename(temporary.keep(), &folder).map_err(|e| store_error(&folder, e))?;
    prune(dir, state)?;
    Ok(folder)
}

/// Keeps the last two checkpoints and the best epoch's; removes the rest, and what runs
/// killed while writing left behind.
fn prune(dir: &Path, latest: &CheckpointState) -> Result<()> {
    let checkpoints = list(dir)?;
    let best = latest
        .counters
        .best
        .map(|(_, epoch)| folder_name(epoch, None));
    let keep_from = checkpoints.len().saturating_sub(2);
    for (i, checkpoint) in checkpoints.iter().enumerate() {
        let name = checkpoint.dir.file_name().and_then(|n| n.to_str());
        if i < keep_from && name != best.as_deref() {
            std::fs::remove_dir_all(&checkpoint.dir)
                .map_err(|e| store_error(&checkpoint.dir, e))?;
        }
    }
    for entry in std::fs::read_dir(dir)
        .map_err(|e| store_error(dir, e))?
        .flatten()
    {
        if entry.file_name().to_string_lossy().starts_with(".writing-") {
            // Another process may be writing it only if two runs share the folder, which
            // the apps never do; a failure to remove it is harmless.
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    Ok(())
}

/// `model` with the weights of the checkpoint model at `path` (their parameter ids too, which
/// the optimizer state is keyed by).
fn load_model(model: Model, path: &Path) -> Result<Model> {
    use burn::store::{BurnpackStore, ModuleSnapshot};
    let bytes = std::fs::read(path).map_err(|e| store_error(path, e))?;
    let mut store = BurnpackStore::from_bytes(Some(burn::tensor::Bytes::from_bytes_vec(bytes)));
    let mut model = model;
    model
        .load_from(&mut store)
        .map_err(|e| store_error(path, e))?;
    Ok(model)
}

/// The optimizer record at `path`, its tensors on `device`.
///
/// Burn puts a loaded optimizer state on the default device and moves it to each parameter's
/// at the next step. The default is the first compiled backend (wgpu in a default build), which
/// may have no adapter on a CPU machine; `BURN_DEVICE` pins it to the training backend while
/// the record loads.
pub(crate) fn load_optimizer_record<T>(
    path: &Path,
    device: &Device,
    load: impl FnOnce(OptimizerRecord) -> T,
) -> Result<T> {
    let record = OptimizerRecord::load(path).map_err(|e| store_error(path, e))?;
    let backend = BackendKind::cpu_backend_of(device).map(BackendKind::name);
    let previous = std::env::var_os("BURN_DEVICE");
    // SAFETY: set before training starts its loader thread; Burn reads the variable only
    // when it builds a default device, which happens here.
    if let Some(name) = backend {
        unsafe { std::env::set_var("BURN_DEVICE", name) };
    }
    let loaded = load(record);
    if backend.is_some() {
        match previous {
            // SAFETY: as above.
            Some(value) => unsafe { std::env::set_var("BURN_DEVICE", value) },
            None => unsafe { std::env::remove_var("BURN_DEVICE") },
        }
    }
    Ok(loaded)
}

/// Where a run stands: what every checkpoint saves, and what a resumed run goes on from.
#[derive(Clone, Debug, Default)]
pub(crate) struct RunState {
    /// Epochs completed.
    pub epochs_done: usize,
    /// The epoch after them, when it was stopped part-way.
    pub partial: Option<PartialEpoch>,
    pub history: Vec<EpochRecord>,
    pub counters: LoopCounters,
    /// Why training stopped, once it has.
    pub stop: Option<StopReason>,
}

/// A run's checkpoints, opened once per `fit` with what identifies the run (its settings,
/// model and data): each checkpoint records it, and resuming needs the same.
pub(crate) struct Checkpointer {
    dir: PathBuf,
    config: FitConfig,
    model: String,
    data: DataFingerprint,
}

/// What a resumed run goes on from, besides the model.
pub(crate) struct Restored {
    /// The best epoch's weights, kept for `restore_best_weights`.
    pub best_model: Option<Model>,
    pub state: RunState,
    /// The optimizer's record.
    pub optimizer_file: PathBuf,
}

impl Checkpointer {
    /// The checkpoints in `config.checkpoints` of a run of `config` training `model` on
    /// `train` and validating on `validation`; `None` for a run without checkpoints.
    pub fn open(
        config: &FitConfig,
        model: &Model,
        train: &ExampleSet,
        validation: Option<&ExampleSet>,
    ) -> Result<Option<Self>> {
        let Some(dir) = &config.checkpoints else {
            return Ok(None);
        };
        let device = model.device();
        let data = DataFingerprint {
            train: SetFingerprint::of(train, &device)?,
            validation: validation
                .map(|v| SetFingerprint::of(v, &device))
                .transpose()?,
        };
        Ok(Some(Checkpointer {
            dir: dir.clone(),
            config: config.clone(),
            model: model_signature(model),
            data,
        }))
    }

    /// `model` with the weights of the last complete checkpoint, and where its run stood;
    /// refused when the checkpoint is another run's. With no complete checkpoint yet (a run
    /// killed before or while writing its first), `model` as it is: the run starts over from
    /// its first epoch, as Keras' `BackupAndRestore` does, and, its model and seeds being the
    /// interrupted run's, ends as that run would have.
    pub fn restore(&self, model: Model) -> Result<(Model, Option<Restored>)> {
        let Some(latest) = last(&self.dir)? else {
            if self.config.progress {
                eprintln!(
                    "no complete checkpoint in {} yet: training starts from the first epoch",
                    self.dir.display()
                );
            }
            return Ok((model, None));
        };
        latest
            .state
            .check(&self.config, &self.model, &self.data)
            .map_err(|message| Error::Resume {
                checkpoint: latest.dir.clone(),
                message,
            })?;
        let model = load_model(model, &latest.dir.join(MODEL_FILE))?;
        if self.config.progress {
            eprintln!("resuming from {}", latest.dir.display());
        }
        // The best epoch's checkpoint is written when its weights may be restored, and only
        // then (see `FitConfig::checkpoint_interval`).
        let restores_best = self
            .config
            .early_stopping
            .as_ref()
            .is_some_and(|e| e.restore_best_weights);
        let best_model = match latest.state.counters.best {
            Some((_, epoch)) if restores_best => {
                let path = latest
                    .dir
                    .with_file_name(folder_name(epoch, None))
                    .join(MODEL_FILE);
                Some(load_model(model.clone(), &path)?)
            }
            _ => None,
        };
        let CheckpointState {
            epochs_done,
            partial,
            history,
            counters,
            stop,
            ..
        } = latest.state;
        let restored = Restored {
            best_model,
            state: RunState {
                epochs_done,
                partial,
                history,
                counters,
                stop,
            },
            optimizer_file: latest.dir.join(OPTIMIZER_FILE),
        };
        Ok((model, Some(restored)))
    }

    /// Writes a checkpoint of `model` (the training model) and `optimizer` at `state`, and
    /// returns its folder.
    pub fn save(
        &self,
        model: &Model,
        optimizer: OptimizerRecord,
        state: &RunState,
    ) -> Result<PathBuf> {
        let state = CheckpointState {
            format: FORMAT_VERSION,
            epochs_done: state.epochs_done,
            partial: state.partial.clone(),
            history: state.history.clone(),
            counters: state.counters.clone(),
            stop: state.stop.clone(),
            config: self.config.clone(),
            model: self.model.clone(),
            data: self.data.clone(),
        };
        write(&self.dir, model, optimizer, &state)
    }
}

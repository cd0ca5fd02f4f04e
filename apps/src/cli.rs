//! Command-line arguments shared by every binary and example.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use zoo_models::backend::BackendKind;
use zoo_models::data::{Holdout, TargetData};
use zoo_models::interop::KeyRenames;
use zoo_models::prelude::Device;
use zoo_models::train::{ConvergenceConfig, EarlyStoppingConfig, FitConfig, OptimizerConfig};

pub use crate::files::{absolute, data_dir};
use crate::preprocessing::Preprocessing;
pub use crate::resume::parse;
use crate::resume::{self, CHECKPOINT_INTERVAL_SECONDS, CHECKPOINTS_DIR, INTERRUPTED};
use crate::saved::SavedModel;

/// `--backend` (with `--remote` and `--remote-device`) and `--seed`.
#[derive(Args, Debug, Clone)]
pub struct RuntimeArgs {
    /// Backend to run on: ndarray, flex, wgpu, or remote (a zoo-device-server's device; built
    /// with `--features remote`) [default: the fastest compiled CPU backend].
    #[arg(long, default_value_t = BackendKind::default_for_build())]
    pub backend: BackendKind,
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// Seed for weight initialisation, data splits and shuffling.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

impl RuntimeArgs {
    /// The device to run on (for `--backend remote`, connected).
    pub fn device(&self) -> anyhow::Result<Device> {
        self.use_remote_servers()?;
        Ok(self.backend.device()?)
    }

    /// The `n` devices of a training run: the first holds the model; with more, each
    /// mini-batch is split across them (data-parallel).
    pub fn training_devices(&self, n: usize) -> anyhow::Result<TrainingDevices> {
        if n > 1 && self.remote.remote_device != 0 {
            bail!("--devices uses the servers' devices in order; leave --remote-device out");
        }
        self.use_remote_servers()?;
        let mut replicas = self.backend.devices(n)?;
        let main = replicas.remove(0);
        Ok(TrainingDevices {
            backend: self.backend,
            main,
            replicas,
        })
    }

    fn use_remote_servers(&self) -> anyhow::Result<()> {
        self.remote.use_for(self.backend)
    }
}

/// `--remote` and `--remote-device`: where `--backend remote` runs.
#[derive(Args, Debug, Clone)]
pub struct RemoteArgs {
    /// With --backend remote: the zoo-device-server to run on, as ws://HOST:PORT; repeat it to
    /// train on the devices of several servers (--devices). A server's token comes from
    /// BURN_ZOO_TOKEN.
    // The ids are the flags' names, as `CHANGEABLE_FLAGS` lists them.
    #[arg(long = "remote", id = "remote", value_name = "ws://HOST:PORT")]
    pub servers: Vec<String>,
    /// With --backend remote: which of the (first) server's devices to run on.
    #[arg(long = "remote-device", id = "remote-device", default_value_t = 0)]
    pub remote_device: u32,
}

impl RemoteArgs {
    /// Points the remote backend at the `--remote` servers when `backend` is the remote one;
    /// `--remote` with any other backend is an error.
    pub fn use_for(&self, backend: BackendKind) -> anyhow::Result<()> {
        match backend {
            BackendKind::Remote => self.use_servers(),
            _ if !self.servers.is_empty() => bail!("--remote is for --backend remote"),
            _ => Ok(()),
        }
    }

    /// Makes these servers the remote backend's (nothing without `--remote`); an error when
    /// the remote backend is not compiled in.
    pub fn use_servers(&self) -> anyhow::Result<()> {
        if self.servers.is_empty() {
            return Ok(());
        }
        #[cfg(feature = "remote")]
        zoo_models::remote::use_servers(zoo_models::remote::RemoteServers {
            urls: self.servers.clone(),
            device_index: self.remote_device,
            token: crate::token::client_token(),
        })?;
        #[cfg(not(feature = "remote"))]
        BackendKind::Remote.device()?;
        Ok(())
    }
}

/// Where a training run trains: `main` holds the model; mini-batches are split across it and
/// `replicas`.
pub struct TrainingDevices {
    pub backend: BackendKind,
    pub main: Device,
    pub replicas: Vec<Device>,
}

/// The exit code of a program whose remote device stopped answering: sysexits' EX_TEMPFAIL
/// ("try again later"), which an elastic run's supervisor tells from other failures.
pub const DEVICE_LOST: u8 = 75;

/// Runs a binary's work and ends it: prints the error chain on one line (no backtrace,
/// whatever `RUST_BACKTRACE` says) and exits non-zero: 130 when Ctrl-C stopped training, saying
/// how to resume. With the remote backend in use, a server lost in the middle of the work is
/// such an error too (Burn reports it with a panic), with exit code [`DEVICE_LOST`].
pub fn exit_code(work: impl FnOnce() -> anyhow::Result<()>) -> std::process::ExitCode {
    #[cfg(feature = "remote")]
    let result = zoo_models::remote::run_guarded(work);
    #[cfg(not(feature = "remote"))]
    let result = work();
    let Err(error) = result else {
        return std::process::ExitCode::SUCCESS;
    };
    eprintln!("error: {error:#}");
    #[cfg(feature = "remote")]
    if error.chain().any(|e| {
        matches!(
            e.downcast_ref(),
            Some(zoo_models::remote::RemoteError::Lost { .. })
        )
    }) {
        return std::process::ExitCode::from(DEVICE_LOST);
    }
    let interrupted = error.chain().find_map(|e| match e.downcast_ref() {
        Some(zoo_models::Error::Interrupted { checkpoint }) => Some(checkpoint.clone()),
        _ => None,
    });
    match interrupted {
        Some(checkpoint) => {
            // OUT/checkpoints/epoch-…: the run's folder is two levels up.
            if let Some(out) = checkpoint
                .as_deref()
                .and_then(Path::parent)
                .and_then(Path::parent)
            {
                let program = std::env::args().next().unwrap_or_default();
                eprintln!("resume with: {program} train --resume {}", out.display());
            }
            std::process::ExitCode::from(INTERRUPTED)
        }
        None => std::process::ExitCode::FAILURE,
    }
}

/// `--backend`, `--seed` and `--model-dir`: what `evaluate` and `predict` need to load a
/// model saved by `train`.
#[derive(Args, Debug, Clone)]
pub struct SavedModelArgs {
    #[command(flatten)]
    pub runtime: RuntimeArgs,
    /// A folder written by `train`.
    #[arg(long)]
    pub model_dir: PathBuf,
}

impl SavedModelArgs {
    /// The saved model on the chosen backend, with the app's preprocessing state `P`.
    pub fn load<P: Preprocessing + serde::de::DeserializeOwned>(
        &self,
        app: &str,
    ) -> anyhow::Result<SavedModel<P>> {
        SavedModel::load(&self.model_dir, &self.runtime.device()?, app)
    }
}

/// `--optimizer`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OptimizerKind {
    /// Adam on mini-batches.
    Adam,
    /// L-BFGS on the whole training set at once (for linear and logistic regression); one
    /// epoch is one iteration.
    Lbfgs,
}

impl OptimizerKind {
    fn of(config: &OptimizerConfig) -> Option<Self> {
        match config {
            OptimizerConfig::Adam { .. } => Some(OptimizerKind::Adam),
            OptimizerConfig::Lbfgs { .. } => Some(OptimizerKind::Lbfgs),
            OptimizerConfig::Sgd { .. } => None,
        }
    }

    /// The optimizer with its usual learning rate: Keras' 1e-3 for Adam, a first line-search
    /// step of 1 for L-BFGS.
    fn config(self) -> (OptimizerConfig, f64) {
        match self {
            OptimizerKind::Adam => (OptimizerConfig::adam(), 1e-3),
            OptimizerKind::Lbfgs => (OptimizerConfig::lbfgs(), 1.0),
        }
    }
}

/// The training flags every app shares. Unset values take the chosen model's defaults.
#[derive(Args, Debug, Clone)]
pub struct TrainArgs {
    /// Passes over the training data [default: per model].
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Examples per optimizer step [default: per model].
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Learning rate: Adam's step, or L-BFGS's first line-search step [default: per model].
    #[arg(long)]
    pub lr: Option<f64>,
    /// The optimizer [default: lbfgs for linear and logistic regression, adam otherwise].
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerKind>,
    /// scikit-learn's C: the inverse strength of an L2 penalty on the weights (the loss is
    /// mean loss + Σw²/(2·C·n)); `inf` for none [default: 1 for logistic regression, 10 on
    /// TF-IDF texts; none for the other models].
    #[arg(long = "c")]
    pub c: Option<f64>,
    /// Weigh each class's examples in the training loss (classifiers): `balanced`
    /// (scikit-learn's: n / (classes × the class's count), from the training rows), `none`, or
    /// a JSON file of class names and weights, `{"spam": 5}` (classes it leaves out weigh 1).
    #[arg(long, value_name = "balanced|none|FILE", default_value = "none")]
    pub class_weight: ClassWeight,
    /// Stop once the training loss falls by less than this fraction of itself for 3 epochs in
    /// a row; --epochs is then a budget [default: 1e-4 for linear and logistic regression and
    /// with --optimizer lbfgs, none otherwise]. L-BFGS also stops, as scikit-learn's, once no
    /// component of the gradient is larger than 1e-4.
    #[arg(long)]
    pub tol: Option<f64>,
    /// Cross-validate first: K models, each trained on all but one of K stratified, seeded
    /// folds of the training rows and scored on that fold; prints each fold's and the mean ±
    /// std of the test metric and writes `cv.json`, then trains the model on all the training
    /// rows as usual (scikit-learn's `cross_val_score`, then a refit).
    #[arg(long, value_name = "K")]
    pub cv: Option<usize>,
    /// Fraction of the training data held out for validation.
    #[arg(long, default_value_t = 0.1)]
    pub validation_split: f64,
    /// Which part --validation-split holds out: a seeded share of each class (stratified) or
    /// the last part of the data in file order (last, as Keras).
    #[arg(long, default_value_t = Holdout::Stratified)]
    pub validation_holdout: Holdout,
    /// Stop when the validation loss has not improved for this many epochs, and keep the
    /// weights of the best epoch.
    #[arg(long)]
    pub patience: Option<usize>,
    /// Stop as soon as an epoch's training loss is at or below this value.
    #[arg(long)]
    pub target_loss: Option<f64>,
    /// Folder for the model, its history, test metrics and charts [default: runs/APP-MODEL].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Log every epoch as Keras' TensorBoard and CSVLogger callbacks do: TensorBoard event
    /// files in DIR/train (loss, accuracy, learning rate) and DIR/validation (the validation
    /// figures), and DIR/history.csv; watch with `tensorboard --logdir DIR`.
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,
    /// No progress bar and no per-epoch lines.
    #[arg(long)]
    pub quiet: bool,
    /// Go on with the training run whose --out folder is DIR from its last checkpoint (one is
    /// written every epoch, and on Ctrl-C), with the arguments it started with: run it from
    /// the same folder. --epochs may be raised to train longer, and --backend, --remote,
    /// --remote-device, --devices and --elastic changed.
    #[arg(long, value_name = "DIR")]
    pub resume: Option<PathBuf>,
    /// Train data-parallel on this many devices (with --backend remote: the --remote servers'
    /// devices, in order): each mini-batch is split across them, and their gradients summed
    /// for one optimizer step. Not with L-BFGS.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub devices: u32,
    /// With --backend remote: keep training when a server stops answering (killed, or no
    /// answer within 5 s): go back to the last checkpoint and go on with the devices of the
    /// servers that remain, and take a server's devices back, at the end of an epoch, once it
    /// answers again; each change is recorded in history.json (`device_changes`). Linux only.
    #[arg(long)]
    pub elastic: bool,
    /// Start from these weights rather than fresh ones: a PyTorch state dict saved as
    /// .safetensors, or with torch.save as .pt/.pth. Its keys and shapes must be the model's
    /// PyTorch layout (README "PyTorch and ONNX"), after --map-key.
    #[arg(long, value_name = "FILE")]
    pub init_from: Option<PathBuf>,
    #[command(flatten)]
    pub key_map: KeyMapArgs,
}

/// `--map-key`: renaming a PyTorch file's keys to the zoo's.
#[derive(Args, Debug, Clone, Default)]
pub struct KeyMapArgs {
    /// Rename the weights file's keys before matching them to the model's: a regex and its
    /// replacement (`$1` for a group), e.g. `^fc\.=output.`; repeatable, applied in order.
    #[arg(long = "map-key", value_name = "REGEX=REPLACEMENT", value_parser = KeyRenames::parse_rule)]
    pub rules: Vec<(String, String)>,
}

impl KeyMapArgs {
    pub fn renames(&self) -> KeyRenames {
        KeyRenames(self.rules.clone())
    }
}

/// Weights a training run starts from (`--init-from`).
pub struct InitialWeights {
    pub path: PathBuf,
    pub renames: KeyRenames,
}

/// `--class-weight`.
#[derive(Clone, Debug, PartialEq)]
pub enum ClassWeight {
    None,
    Balanced,
    File(PathBuf),
}

impl std::str::FromStr for ClassWeight {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(match text {
            "none" => ClassWeight::None,
            "balanced" => ClassWeight::Balanced,
            path => ClassWeight::File(PathBuf::from(path)),
        })
    }
}

impl ClassWeight {
    /// One weight per class of `class_names` (in label order), for training on `train`; `None`
    /// for `none`. A file must name known classes with positive weights.
    pub fn weights(
        &self,
        train: &TargetData,
        class_names: &[String],
    ) -> anyhow::Result<Option<Vec<f32>>> {
        let regression = || anyhow::anyhow!("--class-weight weighs classes: a regression has none");
        match self {
            ClassWeight::None => Ok(None),
            ClassWeight::Balanced => train
                .balanced_class_weights()
                .map(Some)
                .ok_or_else(regression),
            ClassWeight::File(path) => {
                if class_names.is_empty() {
                    return Err(regression());
                }
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("--class-weight: reading {}", path.display()))?;
                let named: std::collections::BTreeMap<String, f64> = serde_json::from_str(&text)
                    .with_context(|| {
                        format!(
                            "--class-weight: {} is not a JSON object of class names and \
                             weights, e.g. {{\"spam\": 5}}",
                            path.display()
                        )
                    })?;
                let mut weights = vec![1.0f32; class_names.len()];
                for (name, weight) in named {
                    let Some(class) = class_names.iter().position(|c| *c == name) else {
                        bail!(
                            "--class-weight: {} names class `{name}`, which the data does not \
                             have (its classes: {})",
                            path.display(),
                            class_names.join(", ")
                        );
                    };
                    if !(weight.is_finite() && weight > 0.0) {
                        bail!(
                            "--class-weight: {} gives class `{name}` the weight {weight}; \
                             weights must be positive numbers",
                            path.display()
                        );
                    }
                    weights[class] = weight as f32;
                }
                Ok(Some(weights))
            }
        }
    }
}

impl TrainArgs {
    /// The model's defaults with the flags the user set on top.
    pub fn fit_config(&self, defaults: FitConfig, seed: u64) -> FitConfig {
        // Another optimizer than the model's brings its own learning rate and, for L-BFGS, a
        // stop on convergence.
        let (optimizer, learning_rate, convergence) = match self.optimizer {
            Some(kind) if Some(kind) != OptimizerKind::of(&defaults.optimizer) => {
                let (optimizer, learning_rate) = kind.config();
                let convergence = match kind {
                    OptimizerKind::Lbfgs => FitConfig::lbfgs_until_converged().convergence,
                    _ => defaults.convergence,
                };
                (optimizer, learning_rate, convergence)
            }
            _ => (
                defaults.optimizer,
                defaults.learning_rate,
                defaults.convergence,
            ),
        };
        FitConfig {
            epochs: self.epochs.unwrap_or(defaults.epochs),
            batch_size: self.batch_size.unwrap_or(defaults.batch_size),
            learning_rate: self.lr.unwrap_or(learning_rate),
            optimizer,
            penalty_c: match self.c {
                Some(c) if c.is_infinite() => None,
                Some(c) => Some(c),
                None => defaults.penalty_c,
            },
            // --tol sets the loss rule's tolerance; L-BFGS keeps its gradient rule.
            convergence: match self.tol {
                Some(tol) => Some(
                    convergence
                        .unwrap_or_else(ConvergenceConfig::new)
                        .with_tol(tol),
                ),
                None => convergence,
            },
            validation_split: self.validation_split,
            validation_holdout: self.validation_holdout,
            seed,
            early_stopping: self.patience.map(EarlyStoppingConfig::new),
            target_loss: self.target_loss,
            progress: !self.quiet,
            log_dir: self.log_dir.clone(),
            ..defaults
        }
    }

    /// `--init-from` with its key renames.
    pub fn initial_weights(&self) -> Option<InitialWeights> {
        self.init_from.clone().map(|path| InitialWeights {
            path,
            renames: self.key_map.renames(),
        })
    }

    /// The run's folder: the resumed one, --out, or `runs/APP-MODEL`.
    pub fn out_dir(&self, app: &str, model: &str) -> PathBuf {
        self.resume
            .clone()
            .or_else(|| self.out.clone())
            .unwrap_or_else(|| PathBuf::from(format!("runs/{app}-{model}")))
    }

    /// `config` writing checkpoints into `out`'s checkpoints folder, at most one every
    /// [`CHECKPOINT_INTERVAL_SECONDS`], resuming from them with --resume. A new run first
    /// removes the checkpoints of an earlier run in `out`, and records its arguments for a
    /// later --resume.
    pub fn checkpointing(&self, config: FitConfig, out: &Path) -> anyhow::Result<FitConfig> {
        let dir = out.join(CHECKPOINTS_DIR);
        if self.resume.is_none() && dir.exists() {
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("removing the earlier run's {}", dir.display()))?;
        }
        resume::record_arguments(&dir)?;
        Ok(FitConfig {
            checkpoints: Some(dir),
            checkpoint_interval: Some(CHECKPOINT_INTERVAL_SECONDS),
            resume: self.resume.is_some(),
            ..config
        })
    }
}

/// Parses `WIDTHxHEIGHT` (e.g. `28x28`) into `(width, height)`.
pub fn parse_size(text: &str) -> Result<(usize, usize), String> {
    let parse = |t: &str| t.trim().parse::<usize>().ok().filter(|&v| v > 0);
    text.split_once(['x', 'X', '×'])
        .and_then(|(w, h)| Some((parse(w)?, parse(h)?)))
        .ok_or_else(|| {
            format!("expected WIDTHxHEIGHT with positive numbers, e.g. 28x28, got `{text}`")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_as_width_by_height() {
        assert_eq!(parse_size("32x24"), Ok((32, 24)));
        assert_eq!(parse_size("8X8"), Ok((8, 8)));
        assert!(parse_size("0x8").is_err());
        assert!(parse_size("28").unwrap_err().contains("`28`"));
    }

    #[test]
    fn unset_flags_keep_the_model_defaults() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            train: TrainArgs,
        }
        use clap::Parser;
        let defaults = FitConfig::new().with_epochs(7).with_learning_rate(0.01);
        let cli = Cli::parse_from(["app", "--batch-size", "8", "--patience", "2"]);
        let config = cli.train.fit_config(defaults, 3);
        assert_eq!((config.epochs, config.batch_size, config.seed), (7, 8, 3));
        assert_eq!(config.learning_rate, 0.01);
        assert_eq!(config.early_stopping.map(|e| e.patience), Some(2));
        assert!(config.progress);
        assert_eq!(config.validation_holdout, Holdout::Stratified);
        assert_eq!((config.penalty_c, config.convergence), (None, None));
    }

    #[test]
    fn another_optimizer_brings_its_learning_rate_and_stop() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            train: TrainArgs,
        }
        use clap::Parser;
        let adam = FitConfig::new().with_learning_rate(0.01);
        let cli = Cli::parse_from(["app", "--optimizer", "lbfgs", "--c", "0.5"]);
        let config = cli.train.fit_config(adam, 3);
        assert_eq!(config.optimizer, OptimizerConfig::lbfgs());
        assert_eq!((config.learning_rate, config.penalty_c), (1.0, Some(0.5)));
        assert_eq!(
            config.convergence,
            FitConfig::lbfgs_until_converged().convergence,
            "L-BFGS's stops: the loss rule and scikit-learn's gradient rule"
        );

        let lbfgs = FitConfig::lbfgs_until_converged().with_penalty_c(Some(1.0));
        let cli = Cli::parse_from([
            "app",
            "--c",
            "inf",
            "--tol",
            "1e-6",
            "--validation-holdout",
            "last",
        ]);
        let config = cli.train.fit_config(lbfgs, 3);
        assert_eq!(config.penalty_c, None);
        let convergence = config.convergence.unwrap();
        assert_eq!(
            (convergence.tol, convergence.gradient_tol),
            (1e-6, Some(1e-4))
        );
        assert_eq!(config.validation_holdout, Holdout::Last);
    }
}

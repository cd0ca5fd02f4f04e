//! Command-line arguments shared by every binary and example.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, bail};
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, Parser, ValueEnum};
use serde::{Deserialize, Serialize};
use zoo_models::backend::BackendKind;
use zoo_models::data::Holdout;
use zoo_models::interop::KeyRenames;
use zoo_models::prelude::Device;
use zoo_models::store::{read_json, write_json_atomic};
use zoo_models::train::{
    ConvergenceConfig, EarlyStoppingConfig, FitConfig, OptimizerConfig, request_stop,
};

pub use crate::files::{absolute, data_dir};
use crate::preprocessing::Preprocessing;
use crate::report::SavedModel;

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

/// The exit code of a program stopped by Ctrl-C, as shells report it (128 + SIGINT).
const INTERRUPTED: u8 = 130;

/// Runs a binary's work and ends it: prints the error chain on one line (no backtrace,
/// whatever `RUST_BACKTRACE` says) and exits non-zero: 130 when Ctrl-C stopped training, saying
/// how to resume. With the remote backend in use, a server lost in the middle of the work is
/// such an error too (Burn reports it with a panic).
pub fn exit_code(work: impl FnOnce() -> anyhow::Result<()>) -> std::process::ExitCode {
    #[cfg(feature = "remote")]
    let result = zoo_models::remote::run_guarded(work);
    #[cfg(not(feature = "remote"))]
    let result = work();
    let Err(error) = result else {
        return std::process::ExitCode::SUCCESS;
    };
    eprintln!("error: {error:#}");
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

/// The checkpoints of a training run, in its `--out` folder.
pub const CHECKPOINTS_DIR: &str = "checkpoints";
/// The arguments the run was started with, in its checkpoints folder.
pub const COMMAND_FILE: &str = "command.json";

/// `command.json`.
#[derive(Debug, Serialize, Deserialize)]
struct RecordedCommand {
    /// The arguments after the program's name, `train` first.
    arguments: Vec<String>,
}

/// The arguments of the `train` command this process runs, to record with its checkpoints.
static TRAIN_ARGUMENTS: OnceLock<Vec<String>> = OnceLock::new();

/// Flags a resumed run may set anew (a longer budget, the display, the devices), by id, which
/// is also the flag's name; every other one must be the interrupted run's.
const CHANGEABLE_FLAGS: [&str; 6] = [
    "epochs",
    "quiet",
    "backend",
    "remote",
    "remote-device",
    "devices",
];

/// Parses an app's command line. `train --resume DIR` takes the arguments recorded in DIR's
/// checkpoints, with the flags of `CHANGEABLE_FLAGS` given anew; any other flag given must
/// have the recorded value. A `train` command stops on Ctrl-C at the end of its batch (see
/// [`stop_training_on_ctrl_c`]).
pub fn parse<C: Parser>() -> anyhow::Result<C> {
    let arguments: Vec<OsString> = std::env::args_os().collect();
    // Later occurrences of a flag override earlier ones, so that `--epochs` can follow the
    // recorded arguments.
    let command = C::command().mut_subcommand("train", |train| train.args_override_self(true));
    let matches = command.clone().get_matches_from(&arguments);
    let Some(("train", train)) = matches.subcommand() else {
        return Ok(C::from_arg_matches(&matches)?);
    };
    stop_training_on_ctrl_c()?;
    let Some(dir) = train.get_one::<PathBuf>("resume") else {
        let recorded = arguments[1..]
            .iter()
            .map(|a| a.to_string_lossy().into_owned());
        TRAIN_ARGUMENTS.get_or_init(|| recorded.collect());
        return Ok(C::from_arg_matches(&matches)?);
    };
    let path = dir.join(CHECKPOINTS_DIR).join(COMMAND_FILE);
    let recorded: RecordedCommand = read_json(&path)
        .with_context(|| format!("{} holds no resumable training run", dir.display()))?;
    let program = arguments[0].to_string_lossy().into_owned();
    let recorded_matches = command
        .clone()
        .try_get_matches_from(std::iter::once(program.clone()).chain(recorded.arguments.clone()))
        .with_context(|| format!("{}: the recorded arguments no longer parse", path.display()))?;
    let Some(("train", recorded_train)) = recorded_matches.subcommand() else {
        bail!("{}: the recorded command is not `train`", path.display());
    };
    check_same_flags(&command, train, recorded_train, dir)?;
    // A changeable flag given anew replaces the recorded one: its recorded occurrences go (a
    // repeatable one such as --remote would otherwise keep the old values), then come the new.
    let anew: Vec<&str> = CHANGEABLE_FLAGS
        .into_iter()
        .filter(|flag| train.value_source(flag) == Some(ValueSource::CommandLine))
        .collect();
    let mut resumed = Vec::new();
    let mut recorded_arguments = recorded.arguments.into_iter();
    while let Some(argument) = recorded_arguments.next() {
        let given_anew = anew.iter().find(|flag| {
            argument == format!("--{flag}") || argument.starts_with(&format!("--{flag}="))
        });
        match given_anew {
            Some(&flag) if flag != "quiet" && !argument.contains('=') => {
                recorded_arguments.next();
            }
            Some(_) => {}
            None => resumed.push(argument),
        }
    }
    for flag in anew {
        if flag == "quiet" {
            resumed.push("--quiet".into());
            continue;
        }
        for value in train.get_raw(flag).into_iter().flatten() {
            resumed.push(format!("--{flag}"));
            resumed.push(value.to_string_lossy().into_owned());
        }
    }
    TRAIN_ARGUMENTS.get_or_init(|| resumed.clone());
    let resumed_matches = command.try_get_matches_from(
        std::iter::once(program)
            .chain(resumed)
            .chain(["--resume".to_string(), dir.to_string_lossy().into_owned()]),
    )?;
    Ok(C::from_arg_matches(&resumed_matches)?)
}

/// Fails, naming the flag, when `train` gives a flag another value than the recorded run had.
fn check_same_flags(
    command: &clap::Command,
    train: &ArgMatches,
    recorded: &ArgMatches,
    dir: &Path,
) -> anyhow::Result<()> {
    let train_command = command
        .find_subcommand("train")
        .expect("the app has `train`");
    // Flattened argument structs appear among the ids as groups; only arguments count.
    let arguments = train
        .ids()
        .map(|id| id.as_str())
        .filter(|id| train_command.get_arguments().any(|a| a.get_id() == *id));
    for id in arguments {
        let changeable = id == "resume" || CHANGEABLE_FLAGS.contains(&id);
        if changeable || train.value_source(id) != Some(ValueSource::CommandLine) {
            continue;
        }
        let raw = |m: &ArgMatches| -> Vec<String> {
            m.try_get_raw(id)
                .ok()
                .flatten()
                .map(|values| values.map(|v| v.to_string_lossy().into_owned()).collect())
                .unwrap_or_default()
        };
        let (given, recorded) = (raw(train), raw(recorded));
        if given != recorded {
            let flag = train_command
                .get_arguments()
                .find(|a| a.get_id() == id)
                .and_then(|a| a.get_long())
                .map_or_else(|| id.to_string(), |long| format!("--{long}"));
            let shown = |values: &[String]| match values {
                [] => "unset".to_string(),
                values => values.join(" "),
            };
            bail!(
                "cannot resume the run in {}: {flag} is {} here but was {} when it started; a \
                 resumed run keeps its arguments (only --epochs, --quiet and --backend may change)",
                dir.display(),
                shown(&given),
                shown(&recorded)
            );
        }
    }
    Ok(())
}

/// The first Ctrl-C asks training to stop at the end of its batch and write a checkpoint;
/// a second one exits at once.
pub fn stop_training_on_ctrl_c() -> anyhow::Result<()> {
    static PRESSED: AtomicBool = AtomicBool::new(false);
    ctrlc::set_handler(|| {
        if PRESSED.swap(true, Ordering::SeqCst) {
            std::process::exit(INTERRUPTED.into());
        }
        eprintln!(
            "\nstopping at the end of this batch to save a checkpoint (Ctrl-C again quits at once)"
        );
        request_stop();
    })
    .context("cannot handle Ctrl-C")
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
    /// Stop once the training loss falls by less than this fraction of itself for 3 epochs in
    /// a row; --epochs is then a budget [default: 1e-4 for linear and logistic regression and
    /// with --optimizer lbfgs, none otherwise].
    #[arg(long)]
    pub tol: Option<f64>,
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
    /// No progress bar and no per-epoch lines.
    #[arg(long)]
    pub quiet: bool,
    /// Go on with the training run whose --out folder is DIR from its last checkpoint (one is
    /// written every epoch, and on Ctrl-C), with the arguments it started with: run it from
    /// the same folder. --epochs may be raised to train longer, and --backend, --remote,
    /// --remote-device and --devices changed.
    #[arg(long, value_name = "DIR")]
    pub resume: Option<PathBuf>,
    /// Train data-parallel on this many devices (with --backend remote: the --remote servers'
    /// devices, in order): each mini-batch is split across them, and their gradients summed
    /// for one optimizer step. Not with L-BFGS.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub devices: u32,
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

impl TrainArgs {
    /// The model's defaults with the flags the user set on top.
    pub fn fit_config(&self, defaults: FitConfig, seed: u64) -> FitConfig {
        // Another optimizer than the model's brings its own learning rate and, for L-BFGS, a
        // stop on convergence.
        let (optimizer, learning_rate, convergence) = match self.optimizer {
            Some(kind) if Some(kind) != OptimizerKind::of(&defaults.optimizer) => {
                let (optimizer, learning_rate) = kind.config();
                let convergence = (kind == OptimizerKind::Lbfgs)
                    .then(ConvergenceConfig::new)
                    .or(defaults.convergence);
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
            convergence: match self.tol {
                Some(tol) => Some(ConvergenceConfig::new().with_tol(tol)),
                None => convergence,
            },
            validation_split: self.validation_split,
            validation_holdout: self.validation_holdout,
            seed,
            early_stopping: self.patience.map(EarlyStoppingConfig::new),
            target_loss: self.target_loss,
            progress: !self.quiet,
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

    /// `config` writing checkpoints into `out`'s checkpoints folder, resuming from them with
    /// --resume. A new run first removes the checkpoints of an earlier run in `out`, and records
    /// its arguments for a later --resume.
    pub fn checkpointing(&self, config: FitConfig, out: &Path) -> anyhow::Result<FitConfig> {
        let dir = out.join(CHECKPOINTS_DIR);
        if self.resume.is_none() && dir.exists() {
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("removing the earlier run's {}", dir.display()))?;
        }
        if let Some(arguments) = TRAIN_ARGUMENTS.get() {
            let recorded = RecordedCommand {
                arguments: arguments.clone(),
            };
            write_json_atomic(&dir.join(COMMAND_FILE), &recorded)?;
        }
        Ok(FitConfig {
            checkpoints: Some(dir),
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
        assert_eq!(config.convergence, Some(ConvergenceConfig::new()));

        let lbfgs = FitConfig::new()
            .with_optimizer(OptimizerConfig::lbfgs())
            .with_penalty_c(Some(1.0));
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
        assert_eq!(config.convergence.map(|c| c.tol), Some(1e-6));
        assert_eq!(config.validation_holdout, Holdout::Last);
    }
}

//! Command-line arguments shared by every binary and example.

use std::path::PathBuf;

use clap::Args;
use zoo_models::backend::BackendKind;
use zoo_models::train::{EarlyStoppingConfig, FitConfig};

use crate::report::SavedModel;

/// `--backend` and `--seed`.
#[derive(Args, Debug, Clone)]
pub struct RuntimeArgs {
    /// Backend to run on: ndarray, flex or wgpu (default: the fastest compiled CPU backend).
    #[arg(long, default_value_t = BackendKind::default_for_build())]
    pub backend: BackendKind,
    /// Seed for weight initialisation, data splits and shuffling.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

/// The repository's `data/` folder, where the bundled datasets live; `BURN_ZOO_DATA`
/// overrides it.
pub fn data_dir() -> PathBuf {
    std::env::var_os("BURN_ZOO_DATA")
        .map(Into::into)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data"))
}

/// `path` made absolute (and resolved) when it exists, so that a path recorded in
/// `model.json` still works from another working directory.
pub fn absolute(path: &std::path::Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}

/// Ends a binary: prints the error chain on one line (no backtrace, whatever `RUST_BACKTRACE`
/// says) and exits non-zero.
pub fn exit_code(result: anyhow::Result<()>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
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
    pub fn load<P: serde::de::DeserializeOwned>(&self, app: &str) -> anyhow::Result<SavedModel<P>> {
        SavedModel::load(&self.model_dir, &self.runtime.backend.device()?, app)
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
    /// Learning rate of the Adam optimizer [default: per model].
    #[arg(long)]
    pub lr: Option<f64>,
    /// Fraction of the training data held out for validation: its last part, as in Keras.
    #[arg(long, default_value_t = 0.1)]
    pub validation_split: f64,
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
}

impl TrainArgs {
    /// The model's defaults with the flags the user set on top.
    pub fn fit_config(&self, defaults: FitConfig, seed: u64) -> FitConfig {
        FitConfig {
            epochs: self.epochs.unwrap_or(defaults.epochs),
            batch_size: self.batch_size.unwrap_or(defaults.batch_size),
            learning_rate: self.lr.unwrap_or(defaults.learning_rate),
            validation_split: self.validation_split,
            seed,
            early_stopping: self.patience.map(EarlyStoppingConfig::new),
            target_loss: self.target_loss,
            progress: !self.quiet,
            ..defaults
        }
    }

    pub fn out_dir(&self, app: &str, model: &str) -> PathBuf {
        self.out
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("runs/{app}-{model}")))
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
    }
}

//! One training skeleton for every app: the [`App`] trait says what is an app's own (its
//! arguments, reading its data kind into a split, its model, its preprocessing), and the one
//! generic [`train`], [`evaluate`] and [`run`] do the rest the same way for all four, as
//! Burn's text-classification example runs one generic `train` for several datasets.

use std::fmt::Debug;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use serde::Serialize;
use serde::de::DeserializeOwned;
use zoo_models::dataset::ExampleSet;
use zoo_models::model::ModelConfig;
use zoo_models::store::ModelManifest;
use zoo_models::task::Task;
use zoo_models::train::FitConfig;

use crate::cli::{RuntimeArgs, SavedModelArgs, TrainArgs};
use crate::preprocessing::Preprocessing;
use crate::run::{
    CV_FILE, MetricsFile, cross_validate_and_save, fit_test_and_save, print_training_summary,
};
use crate::saved::SavedModel;
use crate::split::DataSplit;
use crate::test_metrics::{TestMetrics, measure, print_test_metrics};
use crate::tune::{TuneCommand, tune};

/// What makes an app: its name and arguments, and how it reads its data kind into the
/// examples, model and preprocessing of a training run.
pub trait App: Debug + Sized + 'static {
    /// The binary's name.
    const NAME: &'static str;
    /// What `--help` says the app does.
    const ABOUT: &'static str;
    /// What `predict --help` says it does (no final period, as clap shows doc comments).
    const PREDICT_ABOUT: &'static str;

    /// `train`'s own arguments (the model, the data and how to read it, hyper-parameters);
    /// the runtime and training flags every app shares come around them.
    type TrainArgs: Args + Debug;
    /// `evaluate`'s own arguments (other test data).
    type EvaluateArgs: Args + Debug;
    /// `predict`'s own arguments (the inputs).
    type PredictArgs: Args + Debug;
    /// The fitted preprocessing state `model.json` keeps.
    type Preprocessing: Preprocessing + Serialize + DeserializeOwned + 'static;
    /// What `train` finds besides the test figures (the tabular app: the exact least-squares
    /// fit's R²).
    type Notes;

    /// The model `args` choose, with its training defaults; its hyper-parameters are checked
    /// here, before any data is read.
    fn model(args: &Self::TrainArgs) -> anyhow::Result<ModelChoice>;

    /// Reads the data, splits it (the validation part held out as `fit_config` says), fits
    /// the preprocessing on the training part, and configures the model.
    fn prepare(
        args: &Self::TrainArgs,
        fit_config: &FitConfig,
        seed: u64,
    ) -> anyhow::Result<Prepared<Self>>;

    /// Prints what `train` found besides the test figures.
    fn print_notes(_notes: &Self::Notes, _metrics: &MetricsFile) {}

    /// A saved model's test set: the training run's, or the one `args` name.
    fn test_set(
        saved: &SavedModel<Self::Preprocessing>,
        args: &Self::EvaluateArgs,
        seed: u64,
    ) -> anyhow::Result<ExampleSet>;

    /// The lines `predict` prints.
    fn predict(command: &PredictCommand<Self>) -> anyhow::Result<Vec<String>>;
}

/// The model an app trains, as `--model` chose it.
pub struct ModelChoice {
    /// Its name in the run's default folder, `runs/APP-NAME`.
    pub name: &'static str,
    pub fit_defaults: FitConfig,
}

/// What an app reads from its data for a training run.
pub struct Prepared<A: App> {
    pub split: DataSplit,
    pub model: ModelConfig,
    pub task: Task,
    /// Class names in label order; empty for a regression.
    pub class_names: Vec<String>,
    pub preprocessing: A::Preprocessing,
    /// What the examples are, in the progress line: `images`, `texts`, ….
    pub examples: &'static str,
    /// The rest of the progress line: `, 10 classes`, ….
    pub details: String,
    pub notes: A::Notes,
}

#[derive(Parser, Debug)]
#[command(name = A::NAME, about = A::ABOUT)]
pub struct Cli<A: App> {
    #[command(subcommand)]
    pub command: Command<A>,
}

// `train`'s many flags make its variant large; a command line is parsed once, so size is moot.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum Command<A: App> {
    /// Train a model, test it and save it with its history, metrics and charts.
    Train(TrainCommand<A>),
    /// Test a saved model.
    Evaluate(EvaluateCommand<A>),
    #[command(about = A::PREDICT_ABOUT)]
    Predict(PredictCommand<A>),
    /// Search hyper-parameters (random search, successive halving or Hyperband over `train`'s
    /// flags), rank the trials on a validation figure and refit the best: `tune --param
    /// lr=log:1e-4..1e-1 --param model=logistic/mlp -- TRAIN ARGUMENTS`.
    Tune(TuneCommand),
}

#[derive(Args, Debug)]
pub struct TrainCommand<A: App> {
    #[command(flatten)]
    pub runtime: RuntimeArgs,
    #[command(flatten)]
    pub app: A::TrainArgs,
    #[command(flatten)]
    pub train: TrainArgs,
}

#[derive(Args, Debug)]
pub struct EvaluateCommand<A: App> {
    #[command(flatten)]
    pub saved: SavedModelArgs,
    #[command(flatten)]
    pub app: A::EvaluateArgs,
    /// Print the metrics as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct PredictCommand<A: App> {
    #[command(flatten)]
    pub saved: SavedModelArgs,
    #[command(flatten)]
    pub app: A::PredictArgs,
}

/// Trains, tests and saves; returns what was written to `metrics.json`, the run's folder and
/// the app's notes.
pub fn train<A: App>(
    command: &TrainCommand<A>,
) -> anyhow::Result<(MetricsFile, PathBuf, A::Notes)> {
    let seed = command.runtime.seed;
    // Unusable devices and hyper-parameters fail before any data is read.
    let devices = command
        .runtime
        .training_devices(command.train.devices as usize)?;
    let choice = A::model(&command.app)?;
    let fit_config = command.train.fit_config(choice.fit_defaults, seed);
    fit_config.validate()?;

    let prepared = A::prepare(&command.app, &fit_config, seed)?;
    prepared.model.validate_for(prepared.task)?;
    let class_weights = command
        .train
        .class_weight
        .weights(prepared.split.train.targets(), &prepared.class_names)?;
    let fit_config = FitConfig {
        class_weights,
        ..fit_config
    };
    if fit_config.progress {
        let split = &prepared.split;
        eprintln!(
            "{} training, {} validation and {} test {}{}",
            split.train.len(),
            split.validation.as_ref().map_or(0, ExampleSet::len),
            split.test.len(),
            prepared.examples,
            prepared.details
        );
        eprintln!("{}", prepared.model.summary());
    }
    let mut manifest = ModelManifest::new(prepared.model, prepared.task);
    manifest.class_names = prepared.class_names;
    manifest.trained_on = Some(command.runtime.backend);
    manifest.preprocessing = serde_json::to_value(&prepared.preprocessing)?;
    let out = command.train.out_dir(A::NAME, choice.name);
    // A resumed run's cross-validation was done before its training began; a new run without
    // one leaves no earlier run's `cv.json` behind.
    let cv_file = out.join(CV_FILE);
    let resuming = command.train.resume.is_some();
    match command.train.cv {
        Some(k) if !(resuming && cv_file.is_file()) => {
            cross_validate_and_save(&manifest, &prepared.split, &fit_config, &devices, k, &out)?
        }
        None if !resuming && cv_file.is_file() => std::fs::remove_file(&cv_file)
            .with_context(|| format!("removing the earlier run's {}", cv_file.display()))?,
        _ => {}
    }
    let fit_config = command.train.checkpointing(fit_config, &out)?;
    let metrics = fit_test_and_save(
        manifest,
        &prepared.split,
        &fit_config,
        &devices,
        command.train.initial_weights().as_ref(),
        &out,
        &prepared.preprocessing,
    )?;
    Ok((metrics, out, prepared.notes))
}

/// The test-set figures of a saved model.
pub fn evaluate<A: App>(command: &EvaluateCommand<A>) -> anyhow::Result<TestMetrics> {
    let saved: SavedModel<A::Preprocessing> = command.saved.load(A::NAME)?;
    let test = A::test_set(&saved, &command.app, command.saved.runtime.seed)?;
    measure(
        &saved.model,
        saved.manifest.task,
        &saved.manifest.class_names,
        &test,
        &saved.preprocessing,
    )
}

/// `train --elastic`: the run, in a child process, outliving its remote devices.
fn train_elastic<A: App>(command: &TrainCommand<A>) -> anyhow::Result<()> {
    #[cfg(all(feature = "remote", target_os = "linux"))]
    {
        let model = A::model(&command.app)?;
        let out = command.train.out_dir(A::NAME, model.name);
        crate::elastic::supervise(&command.runtime, &command.train, &out)
    }
    #[cfg(not(all(feature = "remote", target_os = "linux")))]
    {
        let _ = command;
        anyhow::bail!(
            "--elastic needs the remote backend (a build with --features remote), on Linux"
        )
    }
}

/// Runs a parsed command line, printing its results.
pub fn run<A: App>(cli: Cli<A>) -> anyhow::Result<()> {
    match cli.command {
        Command::Train(command) if command.train.elastic => train_elastic(&command)?,
        Command::Train(command) => {
            let (metrics, out, notes) = train(&command)?;
            print_training_summary(&metrics, &out);
            A::print_notes(&notes, &metrics);
        }
        Command::Evaluate(command) => print_test_metrics(&evaluate(&command)?, command.json)?,
        Command::Predict(command) => {
            for line in A::predict(&command)? {
                println!("{line}");
            }
        }
        Command::Tune(command) => tune::<A>(&command)?,
    }
    Ok(())
}

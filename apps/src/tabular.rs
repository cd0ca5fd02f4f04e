//! `tabular`: linear regression, logistic regression or an MLP on numeric tables; `train`,
//! `evaluate` and `predict`. Linear regression is checked against the exact least-squares fit.

use std::io::Read;
use std::path::PathBuf;

use anyhow::bail;
use clap::{Args, Parser, Subcommand, ValueEnum};
use zoo_models::linear::least_squares;
use zoo_models::metrics::regression_report;
use zoo_models::prelude::*;
use zoo_models::preprocess::Standardizer;

use crate::cli::{RuntimeArgs, SavedModelArgs, TrainArgs, absolute};
use crate::delimiter::Delimiter;
use crate::error::LoadError;
use crate::predictor::{Output, Predictor};
use crate::preprocessing::Input;
use crate::report::{self, INFERENCE_BATCH, MetricsFile, TestMetrics, fit_test_and_save_with};
use crate::split::DataSplit;
use crate::table::preprocessing::{TabularPreprocessing, TargetScaling};
use crate::table::source::{Dataset, TableSource, Targets, TaskKind, load_with_test, split};
use crate::text::Column;

pub const APP: &str = TabularPreprocessing::APP;

#[derive(Parser, Debug)]
#[command(name = APP, about = "Regression and classification on numeric tables (CSV or whitespace-separated)")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// `train`'s many flags make its variant large; a command line is parsed once, so size is moot.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Train a model, test it and save it with its history, metrics and charts.
    Train(TrainCommand),
    /// Test a saved model.
    Evaluate(EvaluateCommand),
    /// Predict for rows of feature values read from a file or standard input.
    Predict(PredictCommand),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TabularModel {
    /// Linear regression (regression only).
    Linear,
    /// Logistic regression, binary or multinomial (classification only).
    Logistic,
    /// A multi-layer perceptron, for either task.
    Mlp,
}

impl TabularModel {
    pub fn name(self) -> &'static str {
        match self {
            TabularModel::Linear => "linear",
            TabularModel::Logistic => "logistic",
            TabularModel::Mlp => "mlp",
        }
    }

    /// Training defaults (see the README). Linear and logistic regression are convex: L-BFGS
    /// on the whole table trains them until the loss stops falling, within a generous budget
    /// of iterations, as scikit-learn's solvers do; logistic regression with scikit-learn's
    /// default penalty, C = 1.
    pub fn fit_defaults(self) -> FitConfig {
        match self {
            TabularModel::Linear => FitConfig::lbfgs_until_converged(),
            TabularModel::Logistic => FitConfig::lbfgs_until_converged().with_penalty_c(Some(1.0)),
            TabularModel::Mlp => FitConfig::new()
                .with_batch_size(32)
                .with_epochs(100)
                .with_learning_rate(3e-3),
        }
    }
}

/// Where the table is and how to read it.
#[derive(Args, Debug, Clone, PartialEq)]
pub struct SourceArgs {
    /// A bundled dataset [default: diabetes for regression, breast-cancer for classification].
    #[arg(long, value_enum, conflicts_with = "data")]
    pub dataset: Option<Dataset>,
    /// A numeric table: CSV (`.csv`, `.csv.gz`) or whitespace-separated.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// The target column: 0-based index or header name [default: the last column].
    #[arg(long)]
    pub target: Option<Column>,
    /// Read the targets from this file (one value per row) instead of a column of --data.
    #[arg(long, requires = "data", conflicts_with = "target")]
    pub target_file: Option<PathBuf>,
    /// The first line (after --skip-rows) names the columns.
    #[arg(long)]
    pub header: bool,
    /// Lines to skip at the start (scikit-learn's CSVs begin with a metadata line).
    #[arg(long, default_value_t = 0)]
    pub skip_rows: usize,
    /// Field delimiter: one character, `tab` or `whitespace` [default: detected from the first
    /// lines: `,`, `;`, tab or whitespace, whatever the file's name].
    #[arg(long)]
    pub delimiter: Option<Delimiter>,
}

impl SourceArgs {
    /// The table these flags name, as `model.json` records it: without --dataset or --data,
    /// the bundled dataset of `task`.
    fn table_source(&self, task: TaskKind) -> TableSource {
        let default = match task {
            TaskKind::Regression => Dataset::Diabetes,
            TaskKind::Classification => Dataset::BreastCancer,
        };
        TableSource {
            dataset: self.dataset.or(self.data.is_none().then_some(default)),
            data: self.data.clone(),
            target: self.target.clone(),
            target_file: self.target_file.clone(),
            header: self.header,
            skip_rows: self.skip_rows,
            delimiter: self.delimiter,
        }
    }
}

#[derive(Args, Debug)]
pub struct TrainCommand {
    #[command(flatten)]
    pub runtime: RuntimeArgs,
    /// [default: linear for regression, logistic for classification]
    #[arg(long, value_enum)]
    pub model: Option<TabularModel>,
    /// [default: the dataset's; else classification for logistic, regression otherwise]
    #[arg(long, value_enum)]
    pub task: Option<TaskKind>,
    #[command(flatten)]
    pub source: SourceArgs,
    /// Test on this table (same layout) instead of a split of the data.
    #[arg(long)]
    pub test_data: Option<PathBuf>,
    /// Fraction held out for testing (stratified for classification).
    #[arg(long, default_value_t = 0.2)]
    pub test_split: f64,
    /// Widths of the MLP's hidden layers.
    #[arg(long, value_delimiter = ',', default_value = "32")]
    pub hidden: Vec<usize>,
    #[command(flatten)]
    pub train: TrainArgs,
}

#[derive(Args, Debug)]
pub struct EvaluateCommand {
    #[command(flatten)]
    pub saved: SavedModelArgs,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct PredictCommand {
    #[command(flatten)]
    pub saved: SavedModelArgs,
    /// Rows of feature values separated by commas, semicolons or whitespace [default: standard
    /// input].
    #[arg(long)]
    pub data: Option<PathBuf>,
}

/// Trains, tests and saves; returns `metrics.json`, the folder and, for linear regression, the
/// test R² of the exact least-squares fit on the same split.
pub fn train(command: &TrainCommand) -> anyhow::Result<(MetricsFile, PathBuf, Option<f64>)> {
    let backend = command.runtime.backend;
    let seed = command.runtime.seed;
    let devices = command
        .runtime
        .training_devices(command.train.devices as usize)?;
    let task_kind = command
        .task
        .or(command.source.dataset.map(Dataset::task))
        .unwrap_or(if command.model == Some(TabularModel::Logistic) {
            TaskKind::Classification
        } else {
            TaskKind::Regression
        });
    let model_kind = command.model.unwrap_or(match task_kind {
        TaskKind::Regression => TabularModel::Linear,
        TaskKind::Classification => TabularModel::Logistic,
    });
    match (model_kind, task_kind) {
        (TabularModel::Linear, TaskKind::Classification) => {
            bail!("linear regression cannot classify; use --model logistic or mlp")
        }
        (TabularModel::Logistic, TaskKind::Regression) => {
            bail!("logistic regression cannot regress; use --model linear or mlp")
        }
        _ => {}
    }
    let fit_config = command.train.fit_config(model_kind.fit_defaults(), seed);
    fit_config.validate()?;
    let mut source = command.source.table_source(task_kind);
    let source_name = source.path();
    source.data = source.data.as_deref().map(absolute);
    source.target_file = source.target_file.as_deref().map(absolute);
    let (data, test_table) = load_with_test(&source, command.test_data.as_deref(), task_kind)?;
    let ((mut train_examples, train_ids), (mut test_examples, test_ids)) = split(
        &data,
        test_table.as_ref(),
        command.test_split,
        seed,
        &source_name,
    )?;

    let scaler = Standardizer::fit(&train_examples.features);
    if !scaler.constant_columns.is_empty() {
        let names: Vec<&str> = scaler
            .constant_columns
            .iter()
            .map(|&c| data.feature_names[c].as_str())
            .collect();
        eprintln!(
            "warning: {}: {} constant in the training rows: kept, standardised to 0",
            source_name.display(),
            match names.as_slice() {
                [one] => format!("column `{one}` is"),
                many => format!("columns `{}` are", many.join("`, `")),
            }
        );
    }
    scaler.transform(&mut train_examples.features);
    scaler.transform(&mut test_examples.features);
    let target_scaling = match &mut train_examples.targets {
        TargetData::Values { values, .. } => {
            let stats = Standardizer::fit(&Features::new(values.clone(), 1)?);
            if !stats.constant_columns.is_empty() {
                return Err(LoadError::new(
                    &source_name,
                    "the target is constant in the training rows: there is nothing to predict",
                )
                .into());
            }
            let scaling = TargetScaling {
                mean: stats.mean[0],
                std: stats.std[0],
            };
            values
                .iter_mut()
                .for_each(|v| *v = (*v - scaling.mean) / scaling.std);
            if let TargetData::Values { values, .. } = &mut test_examples.targets {
                values
                    .iter_mut()
                    .for_each(|v| *v = (*v - scaling.mean) / scaling.std);
            }
            Some(scaling)
        }
        TargetData::Classes { .. } => None,
    };

    let (task, class_names) = match &data.targets {
        Targets::Numbers(_) => (Task::Regression { n_outputs: 1 }, Vec::new()),
        Targets::Classes { names, .. } => (Task::classification(names.len()), names.clone()),
    };
    let n = train_examples.features.n_features();
    let config = match model_kind {
        TabularModel::Linear => ModelConfig::Linear(LinearRegressionConfig::new(n)),
        TabularModel::Logistic => {
            ModelConfig::Logistic(LogisticRegressionConfig::new(n, task.prediction_width()))
        }
        TabularModel::Mlp => ModelConfig::Mlp(MlpConfig::new(
            n,
            command.hidden.clone(),
            task.output_width(),
        )),
    };
    config.validate_for(task)?;
    let split = DataSplit::new(
        train_examples.clone(),
        train_ids,
        test_examples.clone(),
        test_ids,
        &fit_config,
        &class_names,
    )?;
    if fit_config.progress {
        eprintln!(
            "{} training, {} validation and {} test rows, {n} features",
            split.train.len(),
            split.validation.as_ref().map_or(0, ExampleSet::len),
            split.test.len()
        );
        eprintln!("{}", config.summary());
    }

    // The exact fit on the rows gradient descent fits (the validation part held out), tested
    // on the same test rows: what gradient descent should match.
    let closed_form_r2 = match (model_kind, split.train.targets(), &test_examples.targets) {
        (
            TabularModel::Linear,
            TargetData::Values { values: y, .. },
            TargetData::Values { values: y_test, .. },
        ) => {
            let (w, b) = least_squares(&train_examples.features.select(&split.train_rows), y);
            let predicted: Vec<f64> = test_examples
                .features
                .rows()
                .map(|r| b + r.iter().zip(&w).map(|(x, w)| *x as f64 * w).sum::<f64>())
                .collect();
            let actual: Vec<f64> = y_test.iter().map(|&v| v as f64).collect();
            Some(zoo_models::metrics::r2_score(&predicted, &actual))
        }
        _ => None,
    };

    let mut manifest = ModelManifest::new(config, task);
    manifest.class_names = class_names;
    manifest.trained_on = Some(backend);
    manifest.preprocessing = serde_json::to_value(TabularPreprocessing {
        features: scaler,
        target: target_scaling,
        source,
        task: task_kind,
        test_data: command.test_data.as_deref().map(absolute),
        test_split: command.test_split,
        seed,
    })?;
    let out = command.train.out_dir(APP, model_kind.name());
    let fit_config = command.train.checkpointing(fit_config, &out)?;
    let metrics = fit_test_and_save_with(
        manifest,
        &split,
        &fit_config,
        &devices,
        command.train.initial_weights().as_ref(),
        &out,
        |model, evaluation, names| {
            test_metrics(model, evaluation, names, &test_examples, target_scaling)
        },
    )?;
    Ok((metrics, out, closed_form_r2))
}

/// Test figures; regression errors in the target's own units.
fn test_metrics(
    model: &Model,
    evaluation: &Evaluation,
    names: &[String],
    test: &Examples,
    scaling: Option<TargetScaling>,
) -> anyhow::Result<TestMetrics> {
    let (Some(scaling), TargetData::Values { values, .. }) = (scaling, &test.targets) else {
        return Ok(TestMetrics::new(evaluation, names));
    };
    let unscale = |v: &f32| v * scaling.std + scaling.mean;
    let predicted: Vec<f32> = predict(
        model,
        Task::Regression { n_outputs: 1 },
        &test.features,
        INFERENCE_BATCH,
    )?
    .values
    .iter()
    .map(unscale)
    .collect();
    let actual: Vec<f32> = values.iter().map(unscale).collect();
    let report = regression_report(&predicted, &actual, 1);
    Ok(TestMetrics::Regression {
        loss: evaluation.loss,
        mse: report.mse,
        mae: report.mae,
        r2: report.r2,
    })
}

pub type SavedModel = report::SavedModel<TabularPreprocessing>;

/// The test-set figures of a saved model, on the training run's test set.
pub fn evaluate_saved(command: &EvaluateCommand) -> anyhow::Result<TestMetrics> {
    let saved: SavedModel = command.saved.load(APP)?;
    let p = &saved.preprocessing;
    let (data, test_table) = load_with_test(&p.source, p.test_data.as_deref(), p.task)?;
    let (_, (mut test, _)) = split(
        &data,
        test_table.as_ref(),
        p.test_split,
        p.seed,
        &p.source.path(),
    )?;
    p.features.transform(&mut test.features);
    if let (Some(s), TargetData::Values { values, .. }) = (p.target, &mut test.targets) {
        values.iter_mut().for_each(|v| *v = (*v - s.mean) / s.std);
    }
    let evaluation = evaluate(&saved.model, saved.manifest.task, &test, INFERENCE_BATCH)?;
    test_metrics(
        &saved.model,
        &evaluation,
        &saved.manifest.class_names,
        &test,
        p.target,
    )
}

/// One line of output per row: the value (in the target's units), or the class and its
/// probability.
pub fn predict_rows(command: &PredictCommand, input: &str) -> anyhow::Result<Vec<String>> {
    let saved: SavedModel = command.saved.load(APP)?;
    let name = command
        .data
        .as_ref()
        .map_or("standard input".to_string(), |d| d.display().to_string());
    let rows: Vec<Vec<f64>> = input
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, line)| {
            line.split(|c: char| c == ',' || c == ';' || c.is_whitespace())
                .filter(|c| !c.is_empty())
                .map(|cell| {
                    cell.parse::<f64>().map_err(|_| {
                        anyhow::anyhow!("{name}: line {}: `{cell}` is not a number", i + 1)
                    })
                })
                .collect()
        })
        .collect::<anyhow::Result<_>>()?;
    let predictor = Predictor::from(saved);
    let inputs = rows
        .iter()
        .enumerate()
        .map(|(i, row)| {
            predictor
                .preprocessing
                .prepare(Input::Row(row))
                .map_err(|e| anyhow::anyhow!("{name}: row {}: {e}", i + 1))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(predictor
        .predict(&inputs)?
        .into_iter()
        .map(|output| match output {
            Output::Classes(classes) => format!("{}\t{:.4}", classes[0].0, classes[0].1),
            Output::Values(values) => values
                .iter()
                .map(f32::to_string)
                .collect::<Vec<_>>()
                .join("\t"),
        })
        .collect())
}

/// Runs a parsed command line, printing its results.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Train(command) => {
            let (metrics, out, closed_form_r2) = train(&command)?;
            report::print_training_summary(&metrics, &out);
            if let (Some(exact), TestMetrics::Regression { r2, .. }) =
                (closed_form_r2, &metrics.test)
            {
                println!("test R²: gradient descent {r2:.4}, closed-form least squares {exact:.4}");
            }
        }
        Command::Evaluate(command) => {
            report::print_test_metrics(&evaluate_saved(&command)?, command.json)?;
        }
        Command::Predict(command) => {
            let input = match &command.data {
                Some(path) => std::fs::read_to_string(path)
                    .map_err(|e| LoadError::new(path, format!("cannot read: {e}")))?,
                None => {
                    let mut text = String::new();
                    std::io::stdin().read_to_string(&mut text)?;
                    text
                }
            };
            for line in predict_rows(&command, &input)? {
                println!("{line}");
            }
        }
    }
    Ok(())
}

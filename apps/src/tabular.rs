//! `tabular`: linear regression, logistic regression or an MLP on numeric tables; `train`,
//! `evaluate` and `predict`. Linear regression is checked against the exact least-squares fit.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::bail;
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::{Deserialize, Serialize};
use zoo_models::linear::least_squares;
use zoo_models::metrics::regression_report;
use zoo_models::prelude::*;
use zoo_models::preprocess::Standardizer;

use crate::cli::{RuntimeArgs, SavedModelArgs, TrainArgs, absolute, data_dir};
use crate::delimiter::Delimiter;
use crate::error::LoadError;
use crate::predictor::{Input, Output, Predictor};
use crate::report::{self, INFERENCE_BATCH, MetricsFile, TestMetrics, fit_test_and_save_with};
use crate::split::{DataSplit, ExampleId, rows, rows_at};
use crate::table::{TableOptions, read_table};
use crate::text::Column;

pub const APP: &str = "tabular";

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

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum TaskKind {
    Regression,
    Classification,
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

/// The bundled scikit-learn datasets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Dataset {
    /// 442 patients, 10 features, disease progression after a year (regression).
    Diabetes,
    /// 569 tumours, 30 features, malignant or benign.
    BreastCancer,
    /// 150 flowers, 4 features, 3 species.
    Iris,
}

impl Dataset {
    fn task(self) -> TaskKind {
        match self {
            Dataset::Diabetes => TaskKind::Regression,
            _ => TaskKind::Classification,
        }
    }
}

/// Where the table is and how to read it.
#[derive(Args, Debug, Clone, Serialize, Deserialize, PartialEq)]
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

/// Targets as read: numbers, or class labels with their names.
#[derive(Clone, Debug, PartialEq)]
pub enum Targets {
    Numbers(Vec<f32>),
    Classes {
        labels: Vec<usize>,
        names: Vec<String>,
    },
}

/// A table split into features and targets.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadedTable {
    pub features: Features,
    /// The feature columns' header names, or `column N` (N counts the file's columns from 0).
    pub feature_names: Vec<String>,
    pub targets: Targets,
}

/// Class names in order: numerically when every name is a number, else as text (mixing the
/// two orders would be no order at all: 9 < 10 by number, 10 < 5x < 9 as text).
fn sort_class_names(names: &mut Vec<String>) {
    names.sort();
    names.dedup();
    let numbers: Option<Vec<f64>> = names.iter().map(|n| n.parse::<f64>().ok()).collect();
    if let Some(numbers) = numbers {
        let mut by_number: Vec<(f64, String)> = numbers.into_iter().zip(names.drain(..)).collect();
        by_number.sort_by(|a, b| a.0.total_cmp(&b.0));
        names.extend(by_number.into_iter().map(|(_, name)| name));
    }
}

/// Gives a training table and its test table the same classes, the union of both, so a class
/// that only one of them holds keeps its meaning (and the split names it in a warning).
fn unify_classes(train: &mut LoadedTable, test: &mut LoadedTable) {
    let (
        Targets::Classes {
            labels: train_labels,
            names: train_names,
        },
        Targets::Classes {
            labels: test_labels,
            names: test_names,
        },
    ) = (&mut train.targets, &mut test.targets)
    else {
        return;
    };
    let mut names: Vec<String> = train_names
        .iter()
        .chain(test_names.iter())
        .cloned()
        .collect();
    sort_class_names(&mut names);
    for (labels, own) in [(train_labels, &*train_names), (test_labels, &*test_names)] {
        labels.iter_mut().for_each(|l| {
            *l = names
                .iter()
                .position(|n| *n == own[*l])
                .expect("in the union")
        });
    }
    *train_names = names.clone();
    *test_names = names;
}

fn number_targets(path: &Path, options: &TableOptions) -> Result<Vec<f32>, LoadError> {
    let table = read_table(path, options)?;
    if table.width() != 1 {
        return Err(LoadError::new(
            path,
            format!(
                "a target file needs one value per row, found {} columns",
                table.width()
            ),
        ));
    }
    (0..table.rows.len())
        .map(|r| table.number(r, 0, path))
        .collect()
}

/// Reads the table `source` describes, as `task`.
pub fn load(source: &SourceArgs, task: TaskKind) -> anyhow::Result<LoadedTable> {
    let bundled = |dir: &str| data_dir().join(dir);
    match (source.dataset, &source.data) {
        (Some(Dataset::BreastCancer | Dataset::Iris), _) => {
            let file = match source.dataset {
                Some(Dataset::Iris) => bundled("sklearn-iris/iris.csv"),
                _ => bundled("sklearn-breast-cancer/breast_cancer.csv"),
            };
            let data = crate::sklearn::load_classification_csv(&file)?;
            let TargetData::Classes { labels, .. } = data.examples.targets else {
                unreachable!("a classification file")
            };
            Ok(LoadedTable {
                feature_names: (0..data.examples.features.n_features())
                    .map(|c| format!("column {c}"))
                    .collect(),
                features: data.examples.features,
                targets: Targets::Classes {
                    labels,
                    names: data.class_names,
                },
            })
        }
        (Some(Dataset::Diabetes), _) => {
            let features = bundled("sklearn-diabetes/diabetes_data_raw.csv.gz");
            let targets = bundled("sklearn-diabetes/diabetes_target.csv.gz");
            // Despite their names, both files are whitespace-separated.
            let options = TableOptions {
                delimiter: Some(Delimiter::Whitespace),
                header: false,
                skip_rows: 0,
            };
            load_columns(&features, &options, None, Some(&targets), task)
        }
        (None, Some(path)) => {
            let options = TableOptions {
                delimiter: source.delimiter,
                header: source.header || matches!(source.target, Some(Column::Name(_))),
                skip_rows: source.skip_rows,
            };
            load_columns(
                path,
                &options,
                source.target.as_ref(),
                source.target_file.as_deref(),
                task,
            )
        }
        (None, None) => unreachable!("train fills in the default dataset"),
    }
}

fn load_columns(
    path: &Path,
    options: &TableOptions,
    target: Option<&Column>,
    target_file: Option<&Path>,
    task: TaskKind,
) -> anyhow::Result<LoadedTable> {
    let table = read_table(path, options)?;
    let target_column = match (target_file, target) {
        (Some(_), _) => None,
        (None, Some(column)) => Some(table.column(column, path)?),
        (None, None) => Some(table.width() - 1),
    };
    let feature_columns: Vec<usize> = (0..table.width())
        .filter(|c| Some(*c) != target_column)
        .collect();
    if feature_columns.is_empty() {
        return Err(LoadError::new(
            path,
            format!(
                "every row holds a single field, so there is no feature column besides the \
                 target: no {} separates the columns of this file; name the separator with \
                 --delimiter",
                match table.delimiter {
                    Delimiter::Whitespace => "`,`, `;`, tab or space".to_string(),
                    given => given.to_string(),
                }
            ),
        )
        .into());
    }
    let feature_names = feature_columns
        .iter()
        .map(|&c| match &table.header {
            Some(header) => header[c].clone(),
            None => format!("column {c}"),
        })
        .collect();
    let mut values = Vec::with_capacity(table.rows.len() * feature_columns.len());
    for row in 0..table.rows.len() {
        for &column in &feature_columns {
            values.push(table.number(row, column, path)?);
        }
    }
    let features = Features::new(values, feature_columns.len())?;
    let targets = match (task, target_file, target_column) {
        (TaskKind::Regression, Some(file), _) => {
            let options = TableOptions {
                delimiter: None,
                header: false,
                skip_rows: 0,
            };
            let numbers = number_targets(file, &options)?;
            if numbers.len() != features.len() {
                return Err(LoadError::new(
                    file,
                    format!(
                        "{} targets for the {} rows of {}",
                        numbers.len(),
                        features.len(),
                        path.display()
                    ),
                )
                .into());
            }
            Targets::Numbers(numbers)
        }
        (TaskKind::Regression, None, Some(column)) => Targets::Numbers(
            (0..table.rows.len())
                .map(|r| table.number(r, column, path))
                .collect::<Result<_, _>>()?,
        ),
        (TaskKind::Classification, None, Some(column)) => {
            let cells: Vec<&str> = table.rows.iter().map(|r| r[column].as_str()).collect();
            let mut names: Vec<String> = cells.iter().map(|c| c.to_string()).collect();
            sort_class_names(&mut names);
            let labels = cells
                .iter()
                .map(|c| names.iter().position(|n| n == c).expect("listed"))
                .collect();
            Targets::Classes { labels, names }
        }
        (TaskKind::Classification, Some(_), _) => {
            bail!("--target-file holds regression targets; use --target for classes")
        }
        (_, None, None) => unreachable!("a target column or file"),
    };
    Ok(LoadedTable {
        features,
        feature_names,
        targets,
    })
}

/// Standardisation of a regression target, undone for reporting and prediction.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TargetScaling {
    pub mean: f32,
    pub std: f32,
}

/// The app's part of `model.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TabularPreprocessing {
    pub features: Standardizer,
    pub target: Option<TargetScaling>,
    pub source: SourceArgs,
    pub task: TaskKind,
    pub test_data: Option<PathBuf>,
    pub test_split: f64,
    pub seed: u64,
}

/// Examples with the ids of their rows.
type Part = (Examples, Vec<ExampleId>);

/// Training and test examples, unscaled, in the split's order: a stratified (classification)
/// seeded share of the data, or all of it against the test table.
fn split(
    data: &LoadedTable,
    test_data: Option<&LoadedTable>,
    fraction: f64,
    seed: u64,
    path: &Path,
) -> anyhow::Result<(Part, Part)> {
    let examples = |t: &LoadedTable| -> anyhow::Result<Examples> {
        let targets = match &t.targets {
            Targets::Numbers(values) => TargetData::Values {
                values: values.clone(),
                n_outputs: 1,
            },
            Targets::Classes { labels, names } => TargetData::Classes {
                labels: labels.clone(),
                n_classes: names.len(),
            },
        };
        Ok(Examples::new(t.features.clone(), targets)?)
    };
    let all = examples(data)?;
    Ok(match test_data {
        Some(test) => {
            let test = examples(test)?;
            let test_ids = rows(test.len());
            ((all.clone(), rows(all.len())), (test, test_ids))
        }
        None => {
            let (train, test) = all
                .targets
                .train_test_indices(fraction, seed)
                .map_err(|e| LoadError::new(path, e.to_string()))?;
            (
                (all.select(&train), rows_at(&train)),
                (all.select(&test), rows_at(&test)),
            )
        }
    })
}

/// The table `source` names and the test table, when there is one, with the same classes.
fn load_with_test(
    source: &SourceArgs,
    test_data: Option<&Path>,
    task: TaskKind,
) -> anyhow::Result<(LoadedTable, Option<LoadedTable>)> {
    let mut data = load(source, task)?;
    let test = match test_data {
        Some(path) => {
            let test_source = SourceArgs {
                data: Some(path.to_path_buf()),
                dataset: None,
                ..source.clone()
            };
            let mut test = load(&test_source, task)?;
            unify_classes(&mut data, &mut test);
            Some(test)
        }
        None => None,
    };
    Ok((data, test))
}

fn source_path(source: &SourceArgs) -> PathBuf {
    source
        .data
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{:?}", source.dataset)))
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
    let mut source = command.source.clone();
    if source.data.is_none() && source.dataset.is_none() {
        source.dataset = Some(match task_kind {
            TaskKind::Regression => Dataset::Diabetes,
            TaskKind::Classification => Dataset::BreastCancer,
        });
    }
    let source_name = source_path(&source);
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

/// How far from its training mean, in standard deviations, a feature value may be.
pub const FEATURE_RANGE_STDS: f64 = 1e6;

impl TabularPreprocessing {
    /// The values every feature may take: those within [`FEATURE_RANGE_STDS`] standard
    /// deviations of every feature's training mean. Wider values would overflow f32 once
    /// standardised (or drive the model's outputs to infinity); none is a measurement.
    pub fn value_range(&self) -> (f64, f64) {
        let s = &self.features;
        s.mean
            .iter()
            .zip(&s.std)
            .map(|(&mean, &std)| {
                let spread = FEATURE_RANGE_STDS * std as f64;
                (mean as f64 - spread, mean as f64 + spread)
            })
            .fold((f64::MIN, f64::MAX), |(lo, hi), (l, h)| {
                (lo.max(l), hi.min(h))
            })
    }

    /// The model input of one row of feature values: checked, then standardised as in
    /// training.
    pub fn row_input(&self, row: &[f64]) -> Result<Vec<f32>, String> {
        let n = self.features.mean.len();
        if row.len() != n {
            return Err(format!(
                "{} values, the model takes {n} features",
                row.len()
            ));
        }
        let (lo, hi) = self.value_range();
        if let Some((c, v)) = row
            .iter()
            .enumerate()
            .find(|(_, v)| !(lo..=hi).contains(*v))
        {
            return Err(format!(
                "the value {v} of feature {c} is outside [{lo}, {hi}], the range this model \
                 takes ({FEATURE_RANGE_STDS:e} standard deviations of the training data)"
            ));
        }
        let mut features =
            Features::new(row.iter().map(|&v| v as f32).collect(), n).map_err(|e| e.to_string())?;
        self.features.transform(&mut features);
        Ok(features.values().to_vec())
    }

    /// A model output in the target's own units (regression targets were standardised).
    pub fn target_value(&self, output: f32) -> f32 {
        self.target.map_or(output, |s| output * s.std + s.mean)
    }
}

impl report::Preprocessing for TabularPreprocessing {
    fn check(&self, n_inputs: usize) -> Result<(), String> {
        let features = &self.features;
        if features.std.len() != features.mean.len() {
            return Err(format!(
                "the feature scaling has {} means and {} deviations",
                features.mean.len(),
                features.std.len()
            ));
        }
        report::check_width(Some(features.mean.len()), n_inputs)
    }
}

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
        &source_path(&p.source),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_names_sort_by_number_only_when_all_are_numbers() {
        let sorted = |names: &[&str]| {
            let mut names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
            sort_class_names(&mut names);
            names
        };
        assert_eq!(sorted(&["10", "9", "2.5", "9"]), ["2.5", "9", "10"]);
        assert_eq!(sorted(&["10", "9", "5x"]), ["10", "5x", "9"]);
    }
}

//! `tabular`: linear regression, logistic regression or an MLP on numeric tables; `train`,
//! `evaluate` and `predict`. Linear regression is checked against the exact least-squares fit.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::bail;
use clap::{Args, ValueEnum};
use zoo_models::linear::least_squares;
use zoo_models::metrics::r2_score;
use zoo_models::prelude::*;
use zoo_models::preprocess::Standardizer;

use crate::app::{self, App, ModelChoice, Prepared};
use crate::cli::absolute;
use crate::delimiter::Delimiter;
use crate::error::LoadError;
use crate::predictor::{Output, Predictor};
use crate::preprocessing::Input;
use crate::run::MetricsFile;
use crate::saved;
use crate::split::DataSplit;
use crate::table::preprocessing::{TabularPreprocessing, TargetScaling};
use crate::table::source::{
    Dataset, LoadedTable, TableSource, Targets, TaskKind, load_with_test, split,
};
use crate::test_metrics::TestMetrics;
use crate::text::Column;

pub use crate::app::run;

/// The tabular app, as an [`App`].
#[derive(Debug)]
pub struct Tabular;

pub const APP: &str = TabularPreprocessing::APP;
pub type Cli = app::Cli<Tabular>;
pub type Command = app::Command<Tabular>;
pub type PredictCommand = app::PredictCommand<Tabular>;
pub type SavedModel = saved::SavedModel<TabularPreprocessing>;

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

/// `train`'s own arguments.
#[derive(Args, Debug)]
pub struct AppTrainArgs {
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
}

impl AppTrainArgs {
    /// The model and the task: as given, or each from the other (and the dataset's task).
    fn model_and_task(&self) -> anyhow::Result<(TabularModel, TaskKind)> {
        let task = self
            .task
            .or(self.source.dataset.map(Dataset::task))
            .unwrap_or(if self.model == Some(TabularModel::Logistic) {
                TaskKind::Classification
            } else {
                TaskKind::Regression
            });
        let model = self.model.unwrap_or(match task {
            TaskKind::Regression => TabularModel::Linear,
            TaskKind::Classification => TabularModel::Logistic,
        });
        match (model, task) {
            (TabularModel::Linear, TaskKind::Classification) => {
                bail!("linear regression cannot classify; use --model logistic or mlp")
            }
            (TabularModel::Logistic, TaskKind::Regression) => {
                bail!("logistic regression cannot regress; use --model linear or mlp")
            }
            _ => Ok((model, task)),
        }
    }
}

/// `evaluate` takes no arguments of its own: it tests on the training run's test set.
#[derive(Args, Debug)]
pub struct AppEvaluateArgs {}

/// `predict`'s own arguments.
#[derive(Args, Debug)]
pub struct AppPredictArgs {
    /// Rows of feature values separated by commas, semicolons or whitespace [default: standard
    /// input].
    #[arg(long)]
    pub data: Option<PathBuf>,
}

/// The preprocessing fitted on `train`'s rows: features standardised, and a regression target
/// too. A constant feature is a warning naming it; a constant target, an error.
fn fit_preprocessing(
    train: &Examples,
    data: &LoadedTable,
    path: &Path,
) -> anyhow::Result<(Standardizer, Option<TargetScaling>)> {
    let scaler = Standardizer::fit(&train.features);
    if !scaler.constant_columns.is_empty() {
        let names: Vec<&str> = scaler
            .constant_columns
            .iter()
            .map(|&c| data.feature_names[c].as_str())
            .collect();
        eprintln!(
            "warning: {}: {} constant in the training rows: kept, standardised to 0",
            path.display(),
            match names.as_slice() {
                [one] => format!("column `{one}` is"),
                many => format!("columns `{}` are", many.join("`, `")),
            }
        );
    }
    let TargetData::Values { values, .. } = &train.targets else {
        return Ok((scaler, None));
    };
    let stats = Standardizer::fit(&Features::new(values.clone(), 1)?);
    if !stats.constant_columns.is_empty() {
        return Err(LoadError::new(
            path,
            "the target is constant in the training rows: there is nothing to predict",
        )
        .into());
    }
    let scaling = TargetScaling {
        mean: stats.mean[0],
        std: stats.std[0],
    };
    Ok((scaler, Some(scaling)))
}

/// The test R² of the exact least-squares fit on the rows gradient descent fits (the
/// validation part held out): what gradient descent should match. `train` holds the split's
/// training and validation rows, scaled.
fn closed_form_r2(train: &Examples, split: &DataSplit, test: &Examples) -> Option<f64> {
    let (TargetData::Values { values: y, .. }, TargetData::Values { values: y_test, .. }) =
        (split.train.targets(), &test.targets)
    else {
        return None;
    };
    let (w, b) = least_squares(&train.features.select(&split.train_rows), y);
    let predicted: Vec<f64> = test
        .features
        .rows()
        .map(|r| b + r.iter().zip(&w).map(|(x, w)| *x as f64 * w).sum::<f64>())
        .collect();
    let actual: Vec<f64> = y_test.iter().map(|&v| v as f64).collect();
    Some(r2_score(&predicted, &actual))
}

impl App for Tabular {
    const NAME: &'static str = APP;
    const ABOUT: &'static str =
        "Regression and classification on numeric tables (CSV or whitespace-separated)";
    const PREDICT_ABOUT: &'static str =
        "Predict for rows of feature values read from a file or standard input";
    type TrainArgs = AppTrainArgs;
    type EvaluateArgs = AppEvaluateArgs;
    type PredictArgs = AppPredictArgs;
    type Preprocessing = TabularPreprocessing;
    /// Linear regression's test R² of the exact least-squares fit on the same split.
    type Notes = Option<f64>;

    fn model(args: &AppTrainArgs) -> anyhow::Result<ModelChoice> {
        let (model, _) = args.model_and_task()?;
        Ok(ModelChoice {
            name: model.name(),
            fit_defaults: model.fit_defaults(),
        })
    }

    fn prepare(
        args: &AppTrainArgs,
        fit_config: &FitConfig,
        seed: u64,
    ) -> anyhow::Result<Prepared<Self>> {
        let (model_kind, task_kind) = args.model_and_task()?;
        let mut source = args.source.table_source(task_kind);
        let source_name = source.path();
        source.data = source.data.as_deref().map(absolute);
        source.target_file = source.target_file.as_deref().map(absolute);
        let (data, test_table) = load_with_test(&source, args.test_data.as_deref(), task_kind)?;
        let ((mut train, train_ids), (mut test, test_ids)) = split(
            &data,
            test_table.as_ref(),
            args.test_split,
            seed,
            &source_name,
        )?;
        let (features, target) = fit_preprocessing(&train, &data, &source_name)?;
        let preprocessing = TabularPreprocessing {
            features,
            target,
            source,
            task: task_kind,
            test_data: args.test_data.as_deref().map(absolute),
            test_split: args.test_split,
            seed,
        };
        preprocessing.scale(&mut train);
        preprocessing.scale(&mut test);

        let (task, class_names) = match &data.targets {
            Targets::Numbers(_) => (Task::Regression { n_outputs: 1 }, Vec::new()),
            Targets::Classes { names, .. } => (Task::classification(names.len()), names.clone()),
        };
        let n = train.features.n_features();
        let model = match model_kind {
            TabularModel::Linear => ModelConfig::Linear(LinearRegressionConfig::new(n)),
            TabularModel::Logistic => {
                ModelConfig::Logistic(LogisticRegressionConfig::new(n, task.prediction_width()))
            }
            TabularModel::Mlp => {
                ModelConfig::Mlp(MlpConfig::new(n, args.hidden.clone(), task.output_width()))
            }
        };
        let split = DataSplit::new(
            train.clone(),
            train_ids,
            test.clone(),
            test_ids,
            fit_config,
            &class_names,
        )?;
        let notes = match model_kind {
            TabularModel::Linear => closed_form_r2(&train, &split, &test),
            _ => None,
        };
        Ok(Prepared {
            split,
            model,
            task,
            class_names,
            preprocessing,
            examples: "rows",
            details: format!(", {n} features"),
            notes,
        })
    }

    fn print_notes(closed_form_r2: &Option<f64>, metrics: &MetricsFile) {
        if let (Some(exact), TestMetrics::Regression { r2, .. }) = (closed_form_r2, &metrics.test) {
            println!("test R²: gradient descent {r2:.4}, closed-form least squares {exact:.4}");
        }
    }

    /// The training run's test set.
    fn test_set(
        saved: &SavedModel,
        _args: &AppEvaluateArgs,
        _seed: u64,
    ) -> anyhow::Result<ExampleSet> {
        let p = &saved.preprocessing;
        let (data, test_table) = load_with_test(&p.source, p.test_data.as_deref(), p.task)?;
        let (_, (mut test, _)) = split(
            &data,
            test_table.as_ref(),
            p.test_split,
            p.seed,
            &p.source.path(),
        )?;
        p.scale(&mut test);
        Ok(test.into())
    }

    fn predict(command: &PredictCommand) -> anyhow::Result<Vec<String>> {
        let input = match &command.app.data {
            Some(path) => std::fs::read_to_string(path)
                .map_err(|e| LoadError::new(path, format!("cannot read: {e}")))?,
            None => {
                let mut text = String::new();
                std::io::stdin().read_to_string(&mut text)?;
                text
            }
        };
        predict_rows(command, &input)
    }
}

/// One line of output per row: the value (in the target's units), or the class and its
/// probability.
pub fn predict_rows(command: &PredictCommand, input: &str) -> anyhow::Result<Vec<String>> {
    let saved: SavedModel = command.saved.load(APP)?;
    let name = command
        .app
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

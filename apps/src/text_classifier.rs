//! `text-classifier`: logistic regression or an MLP on TF-IDF features of texts from a CSV or
//! TSV file with a label column and a text column; `train`, `evaluate` and `predict`.

use std::collections::BTreeSet;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, ValueEnum};
use zoo_models::prelude::*;

use crate::app::{self, App, ModelChoice, Prepared};
use crate::cli::{absolute, data_dir};
use crate::delimiter::Delimiter;
use crate::error::LoadError;
use crate::predictor::Predictor;
use crate::preprocessing::Input;
use crate::saved;
use crate::split::{DataSplit, rows, rows_at};
use crate::text::features::{IN_MEMORY_VALUES, TfidfConfig, TfidfVectorizer, text_features};
use crate::text::preprocessing::{TestSource, TextPreprocessing};
use crate::text::{Column, LabelledTexts, TableFormat, read_table};

pub use crate::app::run;

/// The text classifier, as an [`App`].
#[derive(Debug)]
pub struct TextClassifier;

pub const APP: &str = TextPreprocessing::APP;
pub type Cli = app::Cli<TextClassifier>;
pub type Command = app::Command<TextClassifier>;
pub type PredictCommand = app::PredictCommand<TextClassifier>;
/// A saved model with its vectorizer and data description.
pub type SavedModel = saved::SavedModel<TextPreprocessing>;

/// The default C of logistic regression on TF-IDF features. TF-IDF rows have unit length spread
/// over thousands of columns, so scikit-learn's C = 1 holds the weights back hard: on SMS spam
/// it gave test accuracy 0.9794 (spam F1 0.916), C = 10 gave 0.9857 (0.943) and the lowest
/// validation loss short of C = 100, which tested the same (README, "Text classifier").
const TEXT_LOGISTIC_C: f64 = 10.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TextModel {
    /// Logistic regression (binary or multinomial) on the TF-IDF features.
    Logistic,
    /// A multi-layer perceptron on the TF-IDF features.
    Mlp,
}

impl TextModel {
    pub fn name(self) -> &'static str {
        match self {
            TextModel::Logistic => "logistic",
            TextModel::Mlp => "mlp",
        }
    }

    /// Training defaults (see the README). Logistic regression is convex: L-BFGS on the whole
    /// training set trains it until the loss stops falling, with an L2 penalty, as
    /// scikit-learn's solver does. The MLP takes Adam on mini-batches for a few epochs.
    pub fn fit_defaults(self) -> FitConfig {
        match self {
            TextModel::Logistic => {
                FitConfig::lbfgs_until_converged().with_penalty_c(Some(TEXT_LOGISTIC_C))
            }
            TextModel::Mlp => FitConfig::new()
                .with_batch_size(32)
                .with_epochs(5)
                .with_learning_rate(1e-3),
        }
    }

    fn config(self, n_inputs: usize, task: Task, hidden: &[usize], dropout: f64) -> ModelConfig {
        match self {
            TextModel::Logistic => ModelConfig::Logistic(LogisticRegressionConfig::new(
                n_inputs,
                task.prediction_width(),
            )),
            TextModel::Mlp => ModelConfig::Mlp(
                MlpConfig::new(n_inputs, hidden.to_vec(), task.output_width())
                    .with_dropout(dropout),
            ),
        }
    }
}

/// Parses `MIN-MAX` (or a single `N`) into an inclusive range.
fn parse_range(text: &str) -> Result<(usize, usize), String> {
    let parse = |t: &str| {
        t.trim()
            .parse::<usize>()
            .map_err(|_| format!("`{text}` is not MIN-MAX, e.g. 1-2"))
    };
    match text.split_once('-') {
        Some((low, high)) => Ok((parse(low)?, parse(high)?)),
        None => parse(text).map(|n| (n, n)),
    }
}

/// `--char-ngrams`: a range, or none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CharNgrams(pub Option<(usize, usize)>);

fn parse_optional_range(text: &str) -> Result<CharNgrams, String> {
    match text {
        "none" => Ok(CharNgrams(None)),
        _ => parse_range(text).map(|r| CharNgrams(Some(r))),
    }
}

/// How to read the delimited files.
#[derive(Args, Debug, Clone)]
pub struct TableArgs {
    /// Field delimiter: one character, or `tab` [default: detected from the first lines: tab,
    /// `;` or `,`, whatever the file's name].
    #[arg(long)]
    pub delimiter: Option<Delimiter>,
    /// The label column: a 0-based index or a header name.
    #[arg(long, default_value = "0")]
    pub label_column: Column,
    /// The text column: a 0-based index or a header name.
    #[arg(long, default_value = "1")]
    pub text_column: Column,
    /// The first line names the columns [default: when a column is given by name].
    #[arg(long, conflicts_with = "no_header")]
    pub header: bool,
    #[arg(long)]
    pub no_header: bool,
    /// Fields may be "quoted" [default: for comma-separated files].
    #[arg(long, conflicts_with = "no_quoting")]
    pub quoting: bool,
    #[arg(long)]
    pub no_quoting: bool,
}

/// `--flag` / `--no-flag`: `Some` when either was given.
fn switch(on: bool, off: bool) -> Option<bool> {
    (on || off).then_some(on)
}

impl TableArgs {
    pub fn format(&self, path: &Path) -> Result<TableFormat, LoadError> {
        TableFormat::for_file(
            path,
            self.delimiter,
            switch(self.header, self.no_header),
            switch(self.quoting, self.no_quoting),
            self.label_column.clone(),
            self.text_column.clone(),
        )
    }
}

/// How texts become features.
#[derive(Args, Debug, Clone)]
pub struct FeatureArgs {
    /// Word n-gram lengths, MIN-MAX.
    #[arg(long, default_value = "1-2", value_parser = parse_range)]
    pub word_ngrams: (usize, usize),
    /// Character n-gram lengths within words, MIN-MAX (2-4, say), or `none`. They help where
    /// words are misspelt or run together, but multiply the stored values of a row by about
    /// nine, and with it the time and memory of training. With 100,000 terms, SMS spam tests
    /// better without them (README, "Text classifier").
    #[arg(long, default_value = "none", value_parser = parse_optional_range)]
    pub char_ngrams: CharNgrams,
    /// Keep terms found in at least this many training texts.
    #[arg(long, default_value_t = 2)]
    pub min_df: usize,
    /// Keep at most this many terms (the most frequent).
    #[arg(long, default_value_t = 100_000)]
    pub max_features: usize,
    /// Raw term counts instead of 1 + ln(count).
    #[arg(long)]
    pub raw_tf: bool,
}

impl FeatureArgs {
    pub fn config(&self) -> TfidfConfig {
        TfidfConfig {
            word_ngrams: self.word_ngrams,
            char_ngrams: self.char_ngrams.0,
            min_df: self.min_df,
            max_features: self.max_features,
            sublinear_tf: !self.raw_tf,
        }
    }
}

/// `train`'s own arguments.
#[derive(Args, Debug)]
pub struct AppTrainArgs {
    #[arg(long, value_enum, default_value_t = TextModel::Logistic)]
    pub model: TextModel,
    /// The labelled texts [default: the bundled SMS Spam Collection].
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Test on this file (same layout) instead of a split of --data.
    #[arg(long)]
    pub test_data: Option<PathBuf>,
    /// Fraction of --data held out for testing, stratified by label.
    #[arg(long, default_value_t = 0.2)]
    pub test_split: f64,
    #[command(flatten)]
    pub table: TableArgs,
    #[command(flatten)]
    pub features: FeatureArgs,
    /// Widths of the MLP's hidden layers.
    #[arg(long, value_delimiter = ',', default_value = "64")]
    pub hidden: Vec<usize>,
    /// Dropout before the MLP's output layer.
    #[arg(long, default_value_t = 0.2)]
    pub dropout: f64,
}

/// `evaluate`'s own arguments.
#[derive(Args, Debug)]
pub struct AppEvaluateArgs {
    /// Test on every row of this file (read like the training data) instead of the training
    /// run's test set.
    #[arg(long)]
    pub data: Option<PathBuf>,
}

/// `predict`'s own arguments.
#[derive(Args, Debug)]
pub struct AppPredictArgs {
    /// Texts to classify; without any, each line of standard input is one.
    pub texts: Vec<String>,
}

/// Sorted distinct labels of `sets`: the classes, in label order.
fn classes_of(sets: &[&LabelledTexts]) -> Vec<String> {
    sets.iter()
        .flat_map(|set| set.labels.iter().cloned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The indices of a stratified split of `data`, `(train, test)`, warning about labels too rare
/// to be on both sides.
fn split(
    data: &LabelledTexts,
    classes: &[String],
    fraction: f64,
    seed: u64,
    path: &Path,
) -> anyhow::Result<(Vec<usize>, Vec<usize>)> {
    let labels = data.class_indices(classes, path)?;
    for (class, name) in classes.iter().enumerate() {
        let count = labels.iter().filter(|&&l| l == class).count();
        if count < 2 {
            eprintln!(
                "warning: {}: label `{name}` occurs only once; it cannot be in both the training and the test set",
                path.display()
            );
        }
    }
    let targets = TargetData::Classes {
        labels,
        n_classes: classes.len(),
    };
    Ok(targets
        .train_test_indices(fraction, seed)
        .map_err(|e| LoadError::new(path, e.to_string()))?)
}

/// Every text of a file as examples: TF-IDF rows (in memory, or computed per batch for large
/// files; see [`text_features`]) and class targets. The texts move into the feature source.
fn examples(
    vectorizer: &Arc<TfidfVectorizer>,
    data: LabelledTexts,
    classes: &[String],
    path: &Path,
    progress: bool,
) -> anyhow::Result<ExampleSet> {
    let targets = TargetData::Classes {
        labels: data.class_indices(classes, path)?,
        n_classes: classes.len(),
    };
    let (features, in_memory) =
        text_features(vectorizer.clone(), Arc::new(data.texts), IN_MEMORY_VALUES);
    if progress && !in_memory {
        eprintln!(
            "{}: TF-IDF rows are computed batch by batch (they hold over {IN_MEMORY_VALUES} \
             values)",
            path.display()
        );
    }
    Ok(ExampleSet::new(features, targets)?)
}

/// `0..n`: every row of a file.
fn all_rows(n: usize) -> Vec<usize> {
    (0..n).collect()
}

impl App for TextClassifier {
    const NAME: &'static str = APP;
    const ABOUT: &'static str =
        "Classify texts: a CSV or TSV file with a label column and a text column";
    const PREDICT_ABOUT: &'static str =
        "Classify the texts given as arguments, or each line of standard input";
    type TrainArgs = AppTrainArgs;
    type EvaluateArgs = AppEvaluateArgs;
    type PredictArgs = AppPredictArgs;
    type Preprocessing = TextPreprocessing;
    type Notes = ();

    fn model(args: &AppTrainArgs) -> anyhow::Result<ModelChoice> {
        args.features
            .config()
            .validate()
            .map_err(anyhow::Error::msg)?;
        Ok(ModelChoice {
            name: args.model.name(),
            fit_defaults: args.model.fit_defaults(),
        })
    }

    fn prepare(
        command: &AppTrainArgs,
        fit_config: &FitConfig,
        seed: u64,
    ) -> anyhow::Result<Prepared<Self>> {
        let feature_config = command.features.config();
        let path = command
            .data
            .clone()
            .unwrap_or_else(|| data_dir().join("sms-spam/SMSSpamCollection"));
        let format = command.table.format(&path)?;
        let data = read_table(&path, &format)?;
        // The test texts: another file, or rows of this one. Training and test examples are then
        // index sets over the files' texts, which are held once.
        let test_file = match &command.test_data {
            Some(test_path) => Some((read_table(test_path, &format)?, test_path.clone())),
            None => None,
        };
        // The classes are those of both files, so that a test label training never saw is named
        // in a warning rather than refused.
        let classes = match &test_file {
            Some((test, _)) => classes_of(&[&data, test]),
            None => classes_of(&[&data]),
        };
        if classes.len() < 2 {
            return Err(LoadError::new(
                &path,
                format!("needs at least two labels, found only {}", classes.join("")),
            )
            .into());
        }
        let (train_rows, test_rows) = match &test_file {
            Some((test, _)) => (all_rows(data.len()), all_rows(test.len())),
            None => split(&data, &classes, command.test_split, seed, &path)?,
        };
        let training_texts: Vec<&str> =
            train_rows.iter().map(|&i| data.texts[i].as_str()).collect();
        let vectorizer = Arc::new(
            TfidfVectorizer::fit(feature_config, &training_texts)
                .map_err(|e| LoadError::new(&path, e))?,
        );
        drop(training_texts);
        let progress = fit_config.progress;
        let (split, test_source) = match test_file {
            Some((test, test_path)) => {
                let source = TestSource::File(absolute(&test_path));
                let train = examples(&vectorizer, data, &classes, &path, progress)?;
                let test = examples(&vectorizer, test, &classes, &test_path, progress)?;
                let (train_ids, test_ids) = (rows(train.len()), rows(test.len()));
                let split = DataSplit::new(train, train_ids, test, test_ids, fit_config, &classes)?;
                (split, source)
            }
            None => {
                let source = TestSource::Split {
                    fraction: command.test_split,
                    seed,
                };
                let all = examples(&vectorizer, data, &classes, &path, progress)?;
                let split = DataSplit::new(
                    all.select(&train_rows),
                    rows_at(&train_rows),
                    all.select(&test_rows),
                    rows_at(&test_rows),
                    fit_config,
                    &classes,
                )?;
                (split, source)
            }
        };

        let task = Task::classification(classes.len());
        let config = command.model.config(
            vectorizer.n_features(),
            task,
            &command.hidden,
            command.dropout,
        );
        Ok(Prepared {
            split,
            model: config,
            task,
            details: format!(
                ", {} classes, {} terms",
                classes.len(),
                vectorizer.n_features()
            ),
            class_names: classes,
            preprocessing: TextPreprocessing {
                vectorizer: (*vectorizer).clone(),
                data: absolute(&path),
                format,
                test: test_source,
            },
            examples: "texts",
            notes: (),
        })
    }

    /// The training run's test set, or all of `--data`.
    fn test_set(
        saved: &SavedModel,
        args: &AppEvaluateArgs,
        _seed: u64,
    ) -> anyhow::Result<ExampleSet> {
        let p = &saved.preprocessing;
        let classes = &saved.manifest.class_names;
        let vectorizer = Arc::new(p.vectorizer.clone());
        Ok(match (&args.data, &p.test) {
            (Some(path), _) | (None, TestSource::File(path)) => examples(
                &vectorizer,
                read_table(path, &p.format)?,
                classes,
                path,
                false,
            )?,
            (None, TestSource::Split { fraction, seed }) => {
                let data = read_table(&p.data, &p.format)?;
                let (_, test) = split(&data, classes, *fraction, *seed, &p.data)?;
                examples(&vectorizer, data, classes, &p.data, false)?.select(&test)
            }
        })
    }

    fn predict(command: &PredictCommand) -> anyhow::Result<Vec<String>> {
        let texts = if command.app.texts.is_empty() {
            std::io::stdin()
                .lock()
                .lines()
                .collect::<Result<Vec<_>, _>>()
                .context("reading texts from standard input")?
        } else {
            command.app.texts.clone()
        };
        let predictions = predict_texts(
            &command.saved.model_dir,
            &command.saved.runtime.device()?,
            &texts,
        )?;
        Ok(predictions
            .iter()
            .zip(&texts)
            .map(|((label, probability), text)| format!("{label}\t{probability:.4}\t{text}"))
            .collect())
    }
}

/// The most probable label of each text, with its probability.
pub fn predict_texts(
    model_dir: &Path,
    device: &Device,
    texts: &[String],
) -> anyhow::Result<Vec<(String, f32)>> {
    let predictor = Predictor::from(SavedModel::load(model_dir, device, APP)?);
    let inputs = texts
        .iter()
        .map(|text| predictor.preprocessing.prepare(Input::Text(text)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)?;
    Ok(predictor
        .predict(&inputs)?
        .into_iter()
        .map(|output| output.top(1).into_classes().remove(0))
        .collect())
}

//! A table as the tabular models read it: where it comes from (a bundled scikit-learn dataset
//! or the user's file, as `model.json` records it), its feature columns and targets, and the
//! training and test examples split from it.

use std::path::{Path, PathBuf};

use anyhow::bail;
use serde::{Deserialize, Serialize};
use zoo_models::prelude::*;

use super::{TableOptions, read_table};
use crate::delimiter::Delimiter;
use crate::error::LoadError;
use crate::files::data_dir;
use crate::split::{ExampleId, rows, rows_at};
use crate::text::Column;

/// Whether the target is a number to regress or a class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum TaskKind {
    Regression,
    Classification,
}

/// The bundled scikit-learn datasets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
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
    pub fn task(self) -> TaskKind {
        match self {
            Dataset::Diabetes => TaskKind::Regression,
            _ => TaskKind::Classification,
        }
    }
}

/// Where the table is and how to read it, as `model.json` records it: the command line's
/// `--dataset`, `--data`, `--target`, `--target-file`, `--header`, `--skip-rows` and
/// `--delimiter`, kept in a type of their own so that a flag can be renamed without changing
/// the file format.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TableSource {
    /// A bundled dataset.
    pub dataset: Option<Dataset>,
    /// A numeric table: CSV or whitespace-separated.
    pub data: Option<PathBuf>,
    /// The target column [`None`: the last column].
    pub target: Option<Column>,
    /// The targets, one value per row, when they are not a column of `data`.
    pub target_file: Option<PathBuf>,
    /// The first line (after `skip_rows`) names the columns.
    pub header: bool,
    /// Lines to skip at the start.
    pub skip_rows: usize,
    /// The field delimiter [`None`: detected].
    pub delimiter: Option<Delimiter>,
}

impl TableSource {
    /// The path warnings and errors name: the file, or the bundled dataset's name.
    pub fn path(&self) -> PathBuf {
        self.data
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("{:?}", self.dataset)))
    }
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
pub fn sort_class_names(names: &mut Vec<String>) {
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
pub fn load(source: &TableSource, task: TaskKind) -> anyhow::Result<LoadedTable> {
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
        (None, None) => bail!("the table source names neither a dataset nor a file"),
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

/// Examples with the ids of their rows.
pub type Part = (Examples, Vec<ExampleId>);

/// Training and test examples, unscaled, in the split's order: a stratified (classification)
/// seeded share of the data, or all of it against the test table.
pub fn split(
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
pub fn load_with_test(
    source: &TableSource,
    test_data: Option<&Path>,
    task: TaskKind,
) -> anyhow::Result<(LoadedTable, Option<LoadedTable>)> {
    let mut data = load(source, task)?;
    let test = match test_data {
        Some(path) => {
            let test_source = TableSource {
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

//! What trains, validates and tests a run: the validation part held out of the training
//! examples (one way for every app), warnings about classes a split leaves without training
//! examples, and `split.json`, which names every example so that the split can be replayed
//! elsewhere (`bench/sklearn_reference.py` does).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use zoo_models::data::classes_without_training;
use zoo_models::dataset::ExampleSet;
use zoo_models::train::FitConfig;

pub const SPLIT_FILE: &str = "split.json";

/// What identifies an example in the user's files: its row (0-based, after any header and
/// skipped lines) in the file it came from, or its own file, relative to the data folder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ExampleId {
    Row(usize),
    File(PathBuf),
}

/// Rows `0..n` of a file.
pub fn rows(n: usize) -> Vec<ExampleId> {
    (0..n).map(ExampleId::Row).collect()
}

/// The rows at `indices` of a file.
pub fn rows_at(indices: &[usize]) -> Vec<ExampleId> {
    indices.iter().map(|&i| ExampleId::Row(i)).collect()
}

/// The contents of `split.json`: which examples trained, validated and tested the model, in
/// the order the run used them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SplitIds {
    pub train: Vec<ExampleId>,
    pub validation: Vec<ExampleId>,
    pub test: Vec<ExampleId>,
}

/// The examples of a run, with their ids.
#[derive(Clone, Debug)]
pub struct DataSplit {
    pub train: ExampleSet,
    pub validation: Option<ExampleSet>,
    pub test: ExampleSet,
    pub ids: SplitIds,
    /// Which of the training examples given to [`DataSplit::new`] train (the others validate).
    pub train_rows: Vec<usize>,
}

/// Says which classes a split leaves without training examples, by name.
fn warn_untrained(split: &str, classes: &[usize], class_names: &[String]) {
    if classes.is_empty() {
        return;
    }
    let names: Vec<String> = classes
        .iter()
        .map(|&c| format!("`{}`", class_names.get(c).cloned().unwrap_or(c.to_string())))
        .collect();
    eprintln!(
        "warning: the {split} holds examples of {} but training has none: the model cannot \
         predict {}",
        names.join(", "),
        if names.len() == 1 { "it" } else { "them" }
    );
}

impl DataSplit {
    /// Holds the validation part out of `train` as `config` says (`validation_split`,
    /// `validation_holdout`, `seed`). A class that has validation or test examples but no
    /// training example is a warning naming it; training left with fewer than two classes is an
    /// error. `train_ids` and `test_ids` name the examples of `train` and `test`, in order.
    pub fn new(
        train: impl Into<ExampleSet>,
        train_ids: Vec<ExampleId>,
        test: impl Into<ExampleSet>,
        test_ids: Vec<ExampleId>,
        config: &FitConfig,
        class_names: &[String],
    ) -> anyhow::Result<Self> {
        let (train, test) = (train.into(), test.into());
        assert_eq!(train.len(), train_ids.len(), "one id per training example");
        assert_eq!(test.len(), test_ids.len(), "one id per test example");
        let (train, validation, ids, train_rows) = if config.validation_split > 0.0 {
            let (kept, held_out) = train
                .targets()
                .split_indices(
                    config.validation_split,
                    config.validation_holdout,
                    config.seed,
                )
                .map_err(|e| {
                    anyhow::anyhow!("validation: {e}; change --validation-split (0 for none)")
                })?;
            let pick = |indices: &[usize]| indices.iter().map(|&i| train_ids[i].clone()).collect();
            let ids = SplitIds {
                train: pick(&kept),
                validation: pick(&held_out),
                test: test_ids,
            };
            let validation = train.select(&held_out);
            let train = train.select(&kept);
            let untrained = classes_without_training(train.targets(), validation.targets())?;
            warn_untrained("validation split", &untrained, class_names);
            (train, Some(validation), ids, kept)
        } else {
            let ids = SplitIds {
                train: train_ids,
                validation: Vec::new(),
                test: test_ids,
            };
            let all = (0..train.len()).collect();
            (train, None, ids, all)
        };
        let untrained = classes_without_training(train.targets(), test.targets())?;
        warn_untrained("test set", &untrained, class_names);
        Ok(Self {
            train,
            validation,
            test,
            ids,
            train_rows,
        })
    }
}

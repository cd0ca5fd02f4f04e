//! Examples held in memory, targets, splits, and the batches a device receives.
//!
//! Every model of the zoo takes flat rows of `n_features` values (the CNN reshapes them to
//! channels × height × width), dense or sparse ([`Inputs`]). Data that does not fit in memory,
//! or is cheaper decoded when needed, is a [`FeatureSource`] instead. [`Subsets`] is what
//! [`Examples`] and [`crate::dataset::ExampleSet`] share: splits and checks, written once.

use std::ops::Range;
use std::str::FromStr;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::batch::FeatureSource;
pub use crate::batch::{Batch, DataError, Inputs};
use crate::task::{BatchTargets, Task};

/// How a validation or test set is held out of the training data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Holdout {
    /// A seeded random share of each class (of all examples, for regression): a file sorted
    /// by class still gives every class to both sides, and no class loses its last training
    /// example to the held-out side.
    #[default]
    Stratified,
    /// Keras' `validation_split`: the last fraction of the examples, in file order.
    Last,
}

impl FromStr for Holdout {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "stratified" => Ok(Holdout::Stratified),
            "last" => Ok(Holdout::Last),
            _ => Err(format!("`{text}` is not a holdout: use stratified or last")),
        }
    }
}

impl std::fmt::Display for Holdout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Holdout::Stratified => "stratified",
            Holdout::Last => "last",
        })
    }
}

/// NaN or infinity in a row-major matrix, reported by row and column.
fn check_finite(values: &[f32], width: usize) -> Result<(), DataError> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(DataError::NonFinite {
            row: i / width,
            column: i % width,
            value: values[i],
        }),
        None => Ok(()),
    }
}

/// A dense, row-major feature matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct Features {
    values: Vec<f32>,
    n_features: usize,
}

impl Features {
    pub fn new(values: Vec<f32>, n_features: usize) -> Result<Self, DataError> {
        if n_features == 0 {
            return Err(DataError::NoFeatures);
        }
        if !values.len().is_multiple_of(n_features) {
            return Err(DataError::Ragged {
                len: values.len(),
                n_features,
            });
        }
        check_finite(&values, n_features)?;
        Ok(Self { values, n_features })
    }

    pub fn from_rows(rows: &[Vec<f32>]) -> Result<Self, DataError> {
        let n_features = rows.first().map_or(0, Vec::len);
        if let Some((row, r)) = rows.iter().enumerate().find(|(_, r)| r.len() != n_features) {
            return Err(DataError::RaggedRow {
                row,
                found: r.len(),
                expected: n_features,
            });
        }
        Self::new(rows.concat(), n_features)
    }

    pub fn len(&self) -> usize {
        self.values.len() / self.n_features
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn n_features(&self) -> usize {
        self.n_features
    }

    pub fn row(&self, i: usize) -> &[f32] {
        &self.values[i * self.n_features..(i + 1) * self.n_features]
    }

    pub fn rows(&self) -> impl Iterator<Item = &[f32]> {
        self.values.chunks_exact(self.n_features)
    }

    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// Applies `f(column, value)` to every value in place (standardisation, scaling).
    pub fn map_columns(&mut self, f: impl Fn(usize, f32) -> f32) {
        let n = self.n_features;
        self.values
            .iter_mut()
            .enumerate()
            .for_each(|(i, v)| *v = f(i % n, *v));
    }

    pub fn select(&self, indices: &[usize]) -> Features {
        let values = indices
            .iter()
            .flat_map(|&i| self.row(i).iter().copied())
            .collect();
        Features {
            values,
            n_features: self.n_features,
        }
    }

    /// The rows `range` as a `[rows, n_features]` tensor.
    pub fn tensor(&self, range: Range<usize>, device: &Device) -> Tensor<2> {
        let values =
            self.values[range.start * self.n_features..range.end * self.n_features].to_vec();
        Tensor::from_data(
            TensorData::new(values, [range.len(), self.n_features]),
            device,
        )
    }

    fn gather_tensor(&self, indices: &[usize], device: &Device) -> Tensor<2> {
        let mut values = Vec::with_capacity(indices.len() * self.n_features);
        indices
            .iter()
            .for_each(|&i| values.extend_from_slice(self.row(i)));
        Tensor::from_data(
            TensorData::new(values, [indices.len(), self.n_features]),
            device,
        )
    }
}

impl FeatureSource for Features {
    fn len(&self) -> usize {
        Features::len(self)
    }

    fn n_features(&self) -> usize {
        self.n_features
    }

    fn device_bytes(&self) -> Option<usize> {
        Some(self.values.len() * size_of::<f32>())
    }

    fn inputs(&self, indices: &[usize], device: &Device) -> Result<Inputs, DataError> {
        Ok(Inputs::Dense(self.gather_tensor(indices, device)))
    }
}

/// What the model should predict for each example.
#[derive(Clone, Debug, PartialEq)]
pub enum TargetData {
    /// Class indices in `0..n_classes`.
    Classes {
        labels: Vec<usize>,
        n_classes: usize,
    },
    /// Regression values, row-major `[examples, n_outputs]`.
    Values { values: Vec<f32>, n_outputs: usize },
}

impl TargetData {
    pub fn len(&self) -> usize {
        match self {
            TargetData::Classes { labels, .. } => labels.len(),
            TargetData::Values { values, n_outputs } => values.len() / n_outputs.max(&1),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Indices of a split with `fraction` of the examples held out, as `holdout` says.
    /// Returns `(train, held_out)`: shuffled for [`Holdout::Stratified`], in order for
    /// [`Holdout::Last`].
    pub fn split_indices(
        &self,
        fraction: f64,
        holdout: Holdout,
        seed: u64,
    ) -> Result<(Vec<usize>, Vec<usize>), DataError> {
        let n = self.len();
        let (train, held_out) = match holdout {
            Holdout::Stratified => self.stratified_indices(fraction, seed),
            Holdout::Last => {
                // Keras' own arithmetic: `split_at = floor(n * (1 - validation_split))`.
                let n_train = ((n as f64 * (1.0 - fraction)).floor().max(0.0) as usize).min(n);
                ((0..n_train).collect(), (n_train..n).collect())
            }
        };
        if train.is_empty() || held_out.is_empty() {
            return Err(DataError::EmptySplit {
                fraction,
                examples: n,
            });
        }
        Ok((train, held_out))
    }

    /// A seeded train/test split with `test_fraction` of the examples in the test set,
    /// stratified for classification. Returns `(train, test)`, each in shuffled order.
    pub fn train_test_indices(
        &self,
        test_fraction: f64,
        seed: u64,
    ) -> Result<(Vec<usize>, Vec<usize>), DataError> {
        self.split_indices(test_fraction, Holdout::Stratified, seed)
    }

    /// Classes are split one by one, so both sides keep the class proportions: `round(n ·
    /// fraction)` examples (at least one) are held out in all, each class giving its share
    /// rounded down and the classes with the largest remainders one more, as scikit-learn's
    /// stratified splits do. A class keeps at least one training example. The shuffles draw
    /// from ChaCha12 by name, so a seed gives the same split on any machine and with any
    /// release of rand (which documents `StdRng`, the same algorithm today, as not portable).
    fn stratified_indices(&self, fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
        use rand::SeedableRng;
        use rand::seq::SliceRandom;
        let mut rng = rand_chacha::ChaCha12Rng::seed_from_u64(seed);
        let mut groups = self.class_groups();
        let capacity = |g: &Vec<usize>| g.len().saturating_sub(1);
        let shares: Vec<f64> = groups.iter().map(|g| g.len() as f64 * fraction).collect();
        let mut held: Vec<usize> = groups
            .iter()
            .zip(&shares)
            .map(|(g, share)| (share.floor() as usize).min(capacity(g)))
            .collect();
        let wanted = ((self.len() as f64 * fraction).round() as usize).max(1);
        let mut by_remainder: Vec<usize> = (0..groups.len()).collect();
        by_remainder.sort_by(|&a, &b| {
            (shares[b] - shares[b].floor()).total_cmp(&(shares[a] - shares[a].floor()))
        });
        for c in by_remainder {
            if held.iter().sum::<usize>() >= wanted {
                break;
            }
            if held[c] < capacity(&groups[c]) {
                held[c] += 1;
            }
        }
        let (mut train, mut held_out) = (Vec::new(), Vec::new());
        for (group, n_held) in groups.iter_mut().zip(held) {
            group.shuffle(&mut rng);
            held_out.extend_from_slice(&group[..n_held]);
            train.extend_from_slice(&group[n_held..]);
        }
        train.shuffle(&mut rng);
        held_out.shuffle(&mut rng);
        (train, held_out)
    }

    /// The examples' indices by class, in order (one group for regression): what stratified
    /// splits and folds deal from.
    fn class_groups(&self) -> Vec<Vec<usize>> {
        match self {
            TargetData::Classes { labels, n_classes } => {
                let mut groups = vec![Vec::new(); *n_classes];
                labels
                    .iter()
                    .enumerate()
                    .for_each(|(i, &l)| groups[l].push(i));
                groups
            }
            TargetData::Values { .. } => vec![(0..self.len()).collect()],
        }
    }

    /// `k` folds of the examples' indices, their sizes within one of each other: each class's
    /// examples (one group for regression), shuffled, dealt to the folds in turn, the deal
    /// going on from class to class, so that every fold keeps the class proportions within
    /// one example, as scikit-learn's `StratifiedKFold(shuffle=True)`. Seeded (ChaCha12, as
    /// the splits). A fold may miss a class with fewer than `k` examples.
    pub fn folds(&self, k: usize, seed: u64) -> Vec<Vec<usize>> {
        use rand::SeedableRng;
        use rand::seq::SliceRandom;
        let mut rng = rand_chacha::ChaCha12Rng::seed_from_u64(seed);
        let groups = self.class_groups();
        let k = k.max(1);
        let mut folds = vec![Vec::new(); k];
        let mut dealt = 0;
        for mut group in groups {
            group.shuffle(&mut rng);
            for i in group {
                folds[dealt % k].push(i);
                dealt += 1;
            }
        }
        folds
    }

    /// scikit-learn's `class_weight="balanced"`: class `c` weighs `n / (n_classes · count_c)`,
    /// so that every class adds up to the same share of the loss; a class without examples
    /// weighs 1 (it is never a target). `None` for regression.
    pub fn balanced_class_weights(&self) -> Option<Vec<f32>> {
        let TargetData::Classes { labels, n_classes } = self else {
            return None;
        };
        let mut counts = vec![0usize; *n_classes];
        labels.iter().for_each(|&l| counts[l] += 1);
        let n = labels.len() as f64;
        Some(
            counts
                .iter()
                .map(|&count| match count {
                    0 => 1.0,
                    _ => (n / (*n_classes as f64 * count as f64)) as f32,
                })
                .collect(),
        )
    }

    /// The distinct classes among the targets, in order; empty for regression.
    pub fn classes_present(&self) -> Vec<usize> {
        match self {
            TargetData::Classes { labels, n_classes } => {
                let mut present = vec![false; *n_classes];
                labels.iter().for_each(|&l| present[l] = true);
                (0..*n_classes).filter(|&c| present[c]).collect()
            }
            TargetData::Values { .. } => Vec::new(),
        }
    }

    /// Labels within range, values finite.
    pub(crate) fn check(&self) -> Result<(), DataError> {
        match self {
            TargetData::Classes { labels, n_classes } => {
                match labels.iter().enumerate().find(|(_, l)| **l >= *n_classes) {
                    Some((row, &label)) => Err(DataError::LabelOutOfRange {
                        row,
                        label,
                        n_classes: *n_classes,
                    }),
                    None => Ok(()),
                }
            }
            TargetData::Values { values, n_outputs } => check_finite(values, *n_outputs),
        }
    }

    /// Checks that the targets are what `task` needs.
    pub(crate) fn check_task(&self, task: &Task) -> Result<(), DataError> {
        match (task, self) {
            (
                Task::Regression { n_outputs },
                TargetData::Values {
                    n_outputs: found, ..
                },
            ) if n_outputs == found => Ok(()),
            (Task::Binary | Task::Multiclass { .. }, TargetData::Classes { n_classes, .. })
                if task.n_classes() == Some(*n_classes) =>
            {
                Ok(())
            }
            _ => Err(DataError::TaskMismatch(format!(
                "the targets ({}) do not fit a {} task with output width {}",
                match self {
                    TargetData::Classes { n_classes, .. } => format!("{n_classes} classes"),
                    TargetData::Values { n_outputs, .. } =>
                        format!("{n_outputs} regression outputs"),
                },
                task.name(),
                task.output_width()
            ))),
        }
    }

    pub fn select(&self, indices: &[usize]) -> TargetData {
        match self {
            TargetData::Classes { labels, n_classes } => TargetData::Classes {
                labels: indices.iter().map(|&i| labels[i]).collect(),
                n_classes: *n_classes,
            },
            TargetData::Values { values, n_outputs } => TargetData::Values {
                values: indices
                    .iter()
                    .flat_map(|&i| values[i * n_outputs..(i + 1) * n_outputs].iter().copied())
                    .collect(),
                n_outputs: *n_outputs,
            },
        }
    }

    pub(crate) fn tensor(&self, indices: &[usize], device: &Device) -> BatchTargets {
        match self.select(indices) {
            TargetData::Classes { labels, .. } => {
                let labels: Vec<i64> = labels.into_iter().map(|l| l as i64).collect();
                BatchTargets::Classes(Tensor::from_data(
                    TensorData::new(labels, [indices.len()]),
                    device,
                ))
            }
            TargetData::Values { values, n_outputs } => BatchTargets::Values(Tensor::from_data(
                TensorData::new(values, [indices.len(), n_outputs]),
                device,
            )),
        }
    }
}

/// Features with their targets: a training, validation or test set.
#[derive(Clone, Debug, PartialEq)]
pub struct Examples {
    pub features: Features,
    pub targets: TargetData,
}

impl Examples {
    pub fn new(features: Features, targets: TargetData) -> Result<Self, DataError> {
        check_examples(features.len(), &targets)?;
        Ok(Self { features, targets })
    }

    pub fn len(&self) -> usize {
        self.features.len()
    }

    pub fn is_empty(&self) -> bool {
        self.features.is_empty()
    }

    pub fn select(&self, indices: &[usize]) -> Examples {
        Examples {
            features: self.features.select(indices),
            targets: self.targets.select(indices),
        }
    }

    /// The examples at `indices` as one batch on `device`.
    pub fn batch(&self, indices: &[usize], device: &Device) -> Batch {
        Batch {
            inputs: Inputs::Dense(self.features.gather_tensor(indices, device)),
            targets: self.targets.tensor(indices, device),
        }
    }
}

impl Subsets for Examples {
    fn targets(&self) -> &TargetData {
        &self.targets
    }

    fn n_features(&self) -> usize {
        self.features.n_features()
    }

    fn select(&self, indices: &[usize]) -> Examples {
        Examples::select(self, indices)
    }
}

/// What [`Examples`] (in memory) and [`crate::dataset::ExampleSet`] (drawn from a source)
/// share: targets, and subsets picked by index. Splits and the task check are written once,
/// here.
pub trait Subsets: Sized {
    /// One target per example, in order.
    fn targets(&self) -> &TargetData;

    /// Width of every row.
    fn n_features(&self) -> usize;

    /// The examples at `indices`, in that order.
    fn select(&self, indices: &[usize]) -> Self;

    /// `fraction` of the examples held out as `holdout` says (see
    /// [`TargetData::split_indices`]). Returns `(train, held_out)`.
    fn split(&self, fraction: f64, holdout: Holdout, seed: u64) -> Result<(Self, Self), DataError> {
        let (train, held_out) = self.targets().split_indices(fraction, holdout, seed)?;
        Ok((self.select(&train), self.select(&held_out)))
    }

    /// A shuffled train/test split with `test_fraction` of the examples in the test set,
    /// stratified for classification (see [`TargetData::train_test_indices`]). Returns
    /// `(train, test)`.
    fn train_test_split(&self, test_fraction: f64, seed: u64) -> Result<(Self, Self), DataError> {
        self.split(test_fraction, Holdout::Stratified, seed)
    }

    /// Checks that the targets are what `task` needs and the features what the model takes.
    fn check_task(&self, task: &Task, n_inputs: usize) -> Result<(), DataError> {
        check_feature_count(self.n_features(), n_inputs)?;
        self.targets().check_task(task)
    }
}

/// Checks the targets of `n_rows` examples: one per row, at least one, labels in range and
/// values finite.
pub(crate) fn check_examples(n_rows: usize, targets: &TargetData) -> Result<(), DataError> {
    if n_rows != targets.len() {
        return Err(DataError::CountMismatch {
            features: n_rows,
            targets: targets.len(),
        });
    }
    if n_rows == 0 {
        return Err(DataError::Empty);
    }
    targets.check()
}

/// Data of `found` features for a model of `expected` inputs.
pub(crate) fn check_feature_count(found: usize, expected: usize) -> Result<(), DataError> {
    if found == expected {
        Ok(())
    } else {
        Err(DataError::FeatureCount { found, expected })
    }
}

/// Checks what a split leaves for training: an error when the training part holds fewer than
/// two classes, else the classes that have held-out examples but no training example (a model
/// cannot learn them; callers warn). Empty for regression.
pub fn classes_without_training(
    train: &TargetData,
    held_out: &TargetData,
) -> Result<Vec<usize>, DataError> {
    if matches!(train, TargetData::Values { .. }) {
        return Ok(Vec::new());
    }
    let trained = train.classes_present();
    if trained.len() < 2 {
        return Err(DataError::TooFewTrainingClasses {
            found: trained.len(),
        });
    }
    Ok(held_out
        .classes_present()
        .into_iter()
        .filter(|c| !trained.contains(c))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn examples(n: usize) -> Examples {
        let features = Features::new((0..n).map(|i| i as f32).collect(), 1).unwrap();
        Examples::new(
            features,
            TargetData::Classes {
                labels: vec![0; n],
                n_classes: 2,
            },
        )
        .unwrap()
    }

    #[test]
    fn folds_cover_every_example_once_and_keep_the_class_proportions() {
        // 30 of class 0, 12 of class 1, 3 of class 2, sorted as a file grouped by class.
        let targets = sorted_labels(&[30, 12, 3]);
        let folds = targets.folds(3, 5);
        let mut all: Vec<usize> = folds.concat();
        all.sort_unstable();
        assert_eq!(all, (0..45).collect::<Vec<_>>());
        let TargetData::Classes { labels, .. } = &targets else {
            unreachable!()
        };
        for fold in &folds {
            assert_eq!(fold.len(), 15);
            let count = |c| fold.iter().filter(|&&i| labels[i] == c).count();
            assert_eq!((count(0), count(1), count(2)), (10, 4, 1));
        }
        assert_eq!(folds, targets.folds(3, 5), "seeded");
        assert_ne!(folds, targets.folds(3, 6));
    }

    #[test]
    fn balanced_class_weights_are_scikit_learns() {
        // 8 examples: 6 of class 0, 2 of class 1, none of class 2.
        let targets = TargetData::Classes {
            labels: vec![0, 0, 1, 0, 0, 1, 0, 0],
            n_classes: 3,
        };
        // n / (n_classes · count): 8 / 18 and 8 / 6; the absent class weighs 1.
        assert_eq!(
            targets.balanced_class_weights(),
            Some(vec![8.0 / 18.0, 8.0 / 6.0, 1.0])
        );
        let values = TargetData::Values {
            values: vec![1.0],
            n_outputs: 1,
        };
        assert_eq!(values.balanced_class_weights(), None);
    }

    #[test]
    fn last_holdout_takes_the_last_fraction_in_order() {
        let (train, val) = examples(10).split(0.2, Holdout::Last, 1).unwrap();
        assert_eq!(train.features.values(), &[0., 1., 2., 3., 4., 5., 6., 7.]);
        assert_eq!(val.features.values(), &[8., 9.]);
    }

    /// Labels sorted as a file grouped by class: `counts[c]` examples of class `c` in a row.
    fn sorted_labels(counts: &[usize]) -> TargetData {
        TargetData::Classes {
            labels: counts
                .iter()
                .enumerate()
                .flat_map(|(c, &n)| std::iter::repeat_n(c, n))
                .collect(),
            n_classes: counts.len(),
        }
    }

    #[test]
    fn stratified_holdout_gives_every_class_to_training_on_sorted_data() {
        // Sorted by class, with a class of two examples and one of a single example.
        let targets = sorted_labels(&[50, 30, 2, 1, 7]);
        let (train, held) = targets.split_indices(0.5, Holdout::Stratified, 3).unwrap();
        let labels_of = |indices: &[usize]| -> Vec<usize> {
            let TargetData::Classes { labels, .. } = &targets else {
                unreachable!()
            };
            let mut counts = vec![0; 5];
            indices.iter().for_each(|&i| counts[labels[i]] += 1);
            counts
        };
        assert_eq!(labels_of(&train), [25, 15, 1, 1, 3]);
        assert_eq!(labels_of(&held), [25, 15, 1, 0, 4]);
        assert_eq!(
            classes_without_training(&targets.select(&train), &targets.select(&held)),
            Ok(vec![])
        );
        // Keras' holdout of the same file loses the last two classes entirely.
        let (train, held) = targets.split_indices(0.1, Holdout::Last, 3).unwrap();
        assert_eq!(
            classes_without_training(&targets.select(&train), &targets.select(&held)),
            Ok(vec![3, 4])
        );
    }

    #[test]
    fn a_split_that_leaves_one_training_class_is_an_error() {
        let targets = sorted_labels(&[8, 2]);
        let (train, held) = targets.split_indices(0.2, Holdout::Last, 0).unwrap();
        assert_eq!(
            classes_without_training(&targets.select(&train), &targets.select(&held)),
            Err(DataError::TooFewTrainingClasses { found: 1 })
        );
        assert_eq!("last".parse::<Holdout>(), Ok(Holdout::Last));
        assert!(
            "first"
                .parse::<Holdout>()
                .unwrap_err()
                .contains("stratified or last")
        );
    }

    #[test]
    fn train_test_split_is_stratified_and_seeded() {
        let features = Features::new((0..100).map(|i| i as f32).collect(), 1).unwrap();
        let labels = (0..100).map(|i| usize::from(i >= 80)).collect();
        let data = Examples::new(
            features,
            TargetData::Classes {
                labels,
                n_classes: 2,
            },
        )
        .unwrap();
        let (train, test) = data.train_test_split(0.25, 7).unwrap();
        assert_eq!((train.len(), test.len()), (75, 25));
        let positives = |e: &Examples| match &e.targets {
            TargetData::Classes { labels, .. } => labels.iter().filter(|&&l| l == 1).count(),
            _ => unreachable!(),
        };
        assert_eq!((positives(&train), positives(&test)), (15, 5));
        let mut all: Vec<f32> = train
            .features
            .values()
            .iter()
            .chain(test.features.values())
            .copied()
            .collect();
        all.sort_by(f32::total_cmp);
        assert_eq!(all, (0..100).map(|i| i as f32).collect::<Vec<_>>());
        assert_eq!(data.train_test_split(0.25, 7).unwrap().1, test);
        assert_ne!(data.train_test_split(0.25, 8).unwrap().1, test);
    }

    #[test]
    fn split_that_empties_a_side_is_an_error() {
        assert!(examples(3).split(1e-20, Holdout::Last, 0).is_err());
        assert!(examples(3).split(0.99, Holdout::Last, 0).is_err());
        let singletons = Examples::new(
            Features::new(vec![0.0, 1.0], 1).unwrap(),
            TargetData::Classes {
                labels: vec![0, 1],
                n_classes: 2,
            },
        )
        .unwrap();
        assert!(singletons.split(0.5, Holdout::Stratified, 0).is_err());
    }

    #[test]
    fn small_stratified_splits_still_hold_out_their_share() {
        // Four classes of five: a tenth is two examples, from two classes.
        let targets = sorted_labels(&[5, 5, 5, 5]);
        let (train, held) = targets.split_indices(0.1, Holdout::Stratified, 1).unwrap();
        assert_eq!((train.len(), held.len()), (18, 2));
        assert_eq!(
            examples(3)
                .split(0.1, Holdout::Stratified, 0)
                .unwrap()
                .1
                .len(),
            1
        );
    }

    #[test]
    fn bad_examples_are_rejected() {
        assert_eq!(
            Features::new(vec![1.0; 5], 2),
            Err(DataError::Ragged {
                len: 5,
                n_features: 2
            })
        );
        assert!(matches!(
            Features::from_rows(&[vec![1.0, 2.0], vec![3.0]]),
            Err(DataError::RaggedRow {
                row: 1,
                found: 1,
                expected: 2
            })
        ));
        assert!(matches!(
            Features::new(vec![1.0, f32::NAN], 1),
            Err(DataError::NonFinite {
                row: 1,
                column: 0,
                ..
            })
        ));
        let features = Features::new(vec![1.0, 2.0], 1).unwrap();
        assert_eq!(
            Examples::new(
                features.clone(),
                TargetData::Classes {
                    labels: vec![0, 3],
                    n_classes: 3
                }
            ),
            Err(DataError::LabelOutOfRange {
                row: 1,
                label: 3,
                n_classes: 3
            })
        );
        assert_eq!(
            Examples::new(
                features,
                TargetData::Classes {
                    labels: vec![0],
                    n_classes: 2
                }
            ),
            Err(DataError::CountMismatch {
                features: 2,
                targets: 1
            })
        );
        let empty = Features::new(vec![], 3).unwrap();
        assert_eq!(
            Examples::new(
                empty,
                TargetData::Classes {
                    labels: vec![],
                    n_classes: 2
                }
            ),
            Err(DataError::Empty)
        );
    }
}

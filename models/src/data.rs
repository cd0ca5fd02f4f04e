//! In-memory examples and how they become batches on a device.
//!
//! Every model of the zoo takes a flat `[batch, n_features]` input (the CNN reshapes it to
//! channels × height × width), so one feature matrix type serves all of them.

use std::ops::Range;
use std::sync::Arc;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::prelude::*;

use crate::task::{BatchTargets, Task};

/// Why a set of examples cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DataError {
    #[error("the dataset is empty")]
    Empty,
    #[error("feature rows must have at least one column")]
    NoFeatures,
    #[error("{len} feature values do not divide into rows of {n_features}")]
    Ragged { len: usize, n_features: usize },
    #[error("row {row} has {found} features, expected {expected}")]
    RaggedRow {
        row: usize,
        found: usize,
        expected: usize,
    },
    #[error("{features} feature rows but {targets} targets")]
    CountMismatch { features: usize, targets: usize },
    #[error("row {row}: label {label} is out of range for {n_classes} classes")]
    LabelOutOfRange {
        row: usize,
        label: usize,
        n_classes: usize,
    },
    #[error("row {row}: non-finite value {value} in column {column}")]
    NonFinite {
        row: usize,
        column: usize,
        value: f32,
    },
    #[error("data has {found} features but the model expects {expected}")]
    FeatureCount { found: usize, expected: usize },
    #[error("{0}")]
    TaskMismatch(String),
    #[error(
        "validation split {fraction} of {examples} examples leaves an empty training or validation set"
    )]
    EmptySplit { fraction: f64, examples: usize },
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

    /// Shuffled indices of a train/test split with `test_fraction` of the examples in the
    /// test set. Classes are split one by one (stratified), so both sides keep the class
    /// proportions. Returns `(train, test)`, each in shuffled order.
    pub fn train_test_indices(
        &self,
        test_fraction: f64,
        seed: u64,
    ) -> Result<(Vec<usize>, Vec<usize>), DataError> {
        use rand::SeedableRng;
        use rand::seq::SliceRandom;
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let groups: Vec<Vec<usize>> = match self {
            TargetData::Classes { labels, n_classes } => (0..*n_classes)
                .map(|c| (0..labels.len()).filter(|&i| labels[i] == c).collect())
                .collect(),
            TargetData::Values { .. } => vec![(0..self.len()).collect()],
        };
        let (mut train, mut test) = (Vec::new(), Vec::new());
        for mut group in groups {
            group.shuffle(&mut rng);
            let n_test = (group.len() as f64 * test_fraction).round() as usize;
            test.extend_from_slice(&group[..n_test]);
            train.extend_from_slice(&group[n_test..]);
        }
        if train.is_empty() || test.is_empty() {
            return Err(DataError::EmptySplit {
                fraction: test_fraction,
                examples: self.len(),
            });
        }
        train.shuffle(&mut rng);
        test.shuffle(&mut rng);
        Ok((train, test))
    }

    fn select(&self, indices: &[usize]) -> TargetData {
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

    fn tensor(&self, indices: &[usize], device: &Device) -> BatchTargets {
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
        if features.len() != targets.len() {
            return Err(DataError::CountMismatch {
                features: features.len(),
                targets: targets.len(),
            });
        }
        if features.is_empty() {
            return Err(DataError::Empty);
        }
        match &targets {
            TargetData::Classes { labels, n_classes } => {
                if let Some((row, &label)) =
                    labels.iter().enumerate().find(|(_, l)| **l >= *n_classes)
                {
                    return Err(DataError::LabelOutOfRange {
                        row,
                        label,
                        n_classes: *n_classes,
                    });
                }
            }
            TargetData::Values { values, n_outputs } => check_finite(values, *n_outputs)?,
        }
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

    /// Keras' `validation_split`: the *last* `fraction` of the examples, taken before any
    /// shuffling, becomes the validation set. Returns `(train, validation)`.
    pub fn split_last(&self, fraction: f64) -> Result<(Examples, Examples), DataError> {
        // Keras' own arithmetic: `split_at = floor(n * (1 - validation_split))`.
        let n_train =
            ((self.len() as f64 * (1.0 - fraction)).floor().max(0.0) as usize).min(self.len());
        if n_train == 0 || n_train == self.len() {
            return Err(DataError::EmptySplit {
                fraction,
                examples: self.len(),
            });
        }
        let train: Vec<usize> = (0..n_train).collect();
        let val: Vec<usize> = (n_train..self.len()).collect();
        Ok((self.select(&train), self.select(&val)))
    }

    /// A shuffled train/test split with `test_fraction` of the examples in the test set,
    /// stratified for classification (see [`TargetData::train_test_indices`]). Returns
    /// `(train, test)`.
    pub fn train_test_split(
        &self,
        test_fraction: f64,
        seed: u64,
    ) -> Result<(Examples, Examples), DataError> {
        let (train, test) = self.targets.train_test_indices(test_fraction, seed)?;
        Ok((self.select(&train), self.select(&test)))
    }

    /// Checks that the targets are what `task` needs and the features what the model takes.
    pub fn check_task(&self, task: &Task, n_inputs: usize) -> Result<(), DataError> {
        if self.features.n_features() != n_inputs {
            return Err(DataError::FeatureCount {
                found: self.features.n_features(),
                expected: n_inputs,
            });
        }
        match (task, &self.targets) {
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
                match &self.targets {
                    TargetData::Classes { n_classes, .. } => format!("{n_classes} classes"),
                    TargetData::Values { n_outputs, .. } =>
                        format!("{n_outputs} regression outputs"),
                },
                task.name(),
                task.output_width()
            ))),
        }
    }

    /// The examples at `indices` as one batch on `device`.
    pub fn batch(&self, indices: &[usize], device: &Device) -> Batch {
        Batch {
            inputs: self.features.gather_tensor(indices, device),
            targets: self.targets.tensor(indices, device),
        }
    }
}

/// One batch on a device.
#[derive(Clone, Debug)]
pub struct Batch {
    pub inputs: Tensor<2>,
    pub targets: BatchTargets,
}

/// The dataset Burn's data loader shuffles: example indices. The batcher gathers the rows, so
/// no example is copied until it is put into a batch.
pub(crate) struct IndexDataset(pub usize);

impl Dataset<usize> for IndexDataset {
    fn get(&self, index: usize) -> Result<usize, burn::data::dataset::DatasetError> {
        Ok(index)
    }

    fn len(&self) -> usize {
        self.0
    }
}

#[derive(Clone)]
pub(crate) struct ExampleBatcher(pub Arc<Examples>);

impl Batcher<usize, Batch> for ExampleBatcher {
    fn batch(&self, indices: Vec<usize>, device: &Device) -> Batch {
        self.0.batch(&indices, device)
    }
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
    fn validation_split_takes_the_last_fraction_in_order() {
        let (train, val) = examples(10).split_last(0.2).unwrap();
        assert_eq!(train.features.values(), &[0., 1., 2., 3., 4., 5., 6., 7.]);
        assert_eq!(val.features.values(), &[8., 9.]);
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
        assert!(examples(3).split_last(1e-20).is_err());
        assert!(examples(3).split_last(0.99).is_err());
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

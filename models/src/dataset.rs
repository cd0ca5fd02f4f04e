//! Examples as a dataset whose model inputs are produced on demand: what `fit`, `evaluate` and
//! `predict` draw their batches from.
//!
//! A [`FeatureSource`] turns row indices into one batch of model inputs: a matrix in memory
//! ([`crate::data::Features`]) copies rows, sparse rows ([`crate::sparse::SparseFeatures`])
//! stay sparse, and the apps' sources decode images, vectorise texts and read MFCC clips only
//! when a batch asks for them. Targets are always held in memory (a label or a few values per
//! example). Splits are index sets over their source ([`Subsets`]), so holding out validation
//! data copies no features.
//!
//! Training goes through Burn's `DataLoader`: it shuffles an index dataset and its worker
//! thread calls [`ExampleSet::batch`], so decoding overlaps the model's step on the
//! previous batch, and only the queued batches are ever decoded at once.

use std::sync::Arc;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::prelude::*;

pub use crate::batch::FeatureSource;
use crate::batch::{Batch, DataError, Inputs};
use crate::data::{Examples, Subsets, TargetData, check_examples};

/// Rows from any Burn [`Dataset`] whose items are feature rows (a `SqliteDataset`, a
/// transformed or composed dataset, ...): each item is produced when a batch asks for it.
/// An item of the wrong width or with a non-finite value is an error naming it.
pub struct DatasetRows<D> {
    dataset: D,
    n_features: usize,
}

impl<D: Dataset<Vec<f32>>> DatasetRows<D> {
    pub fn new(dataset: D, n_features: usize) -> Self {
        Self {
            dataset,
            n_features,
        }
    }
}

impl<D: Dataset<Vec<f32>>> FeatureSource for DatasetRows<D> {
    fn len(&self) -> usize {
        self.dataset.len()
    }

    fn n_features(&self) -> usize {
        self.n_features
    }

    fn inputs(&self, indices: &[usize], device: &Device) -> Result<Inputs, DataError> {
        let mut values = Vec::with_capacity(indices.len() * self.n_features);
        for &i in indices {
            let row = self
                .dataset
                .get(i)
                .map_err(|e| DataError::Source(format!("item {i}: {e}")))?;
            if row.len() != self.n_features {
                return Err(DataError::RaggedRow {
                    row: i,
                    found: row.len(),
                    expected: self.n_features,
                });
            }
            if let Some((column, &value)) = row.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                return Err(DataError::NonFinite {
                    row: i,
                    column,
                    value,
                });
            }
            values.extend(row);
        }
        Ok(Inputs::dense(values, self.n_features, device))
    }
}

/// Examples drawn from a feature source: a training, validation or test set of any size.
#[derive(Clone)]
pub struct ExampleSet {
    source: Arc<dyn FeatureSource>,
    /// The source's rows of this set, in order; `None` for all of them.
    rows: Option<Arc<[usize]>>,
    /// The targets of this set's examples, in order.
    targets: TargetData,
}

impl std::fmt::Debug for ExampleSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExampleSet")
            .field("len", &self.len())
            .field("n_features", &self.n_features())
            .finish()
    }
}

impl ExampleSet {
    /// All rows of `source`, with one target each.
    pub fn new(source: Arc<dyn FeatureSource>, targets: TargetData) -> Result<Self, DataError> {
        check_examples(source.len(), &targets)?;
        Ok(Self {
            source,
            rows: None,
            targets,
        })
    }

    pub fn len(&self) -> usize {
        self.targets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn n_features(&self) -> usize {
        self.source.n_features()
    }

    pub fn targets(&self) -> &TargetData {
        &self.targets
    }

    /// What this set's rows take on a device ([`FeatureSource::device_bytes`]), estimated as
    /// its share of the source's.
    pub fn device_bytes(&self) -> Option<usize> {
        let all = self.source.device_bytes()?;
        Some((all as f64 * self.len() as f64 / self.source.len().max(1) as f64).ceil() as usize)
    }

    /// The examples at `indices` (of this set), sharing the source.
    pub fn select(&self, indices: &[usize]) -> ExampleSet {
        let rows = match &self.rows {
            Some(rows) => indices.iter().map(|&i| rows[i]).collect(),
            None => indices.into(),
        };
        ExampleSet {
            source: self.source.clone(),
            rows: Some(rows),
            targets: self.targets.select(indices),
        }
    }

    /// The examples at `indices` (of this set) as one batch on `device`.
    pub fn batch(&self, indices: &[usize], device: &Device) -> Result<Batch, DataError> {
        let inputs = match &self.rows {
            Some(rows) => {
                let source_rows: Vec<usize> = indices.iter().map(|&i| rows[i]).collect();
                self.source.inputs(&source_rows, device)?
            }
            None => self.source.inputs(indices, device)?,
        };
        Ok(Batch {
            inputs,
            targets: self.targets.tensor(indices, device),
        })
    }
}

impl Subsets for ExampleSet {
    fn targets(&self) -> &TargetData {
        &self.targets
    }

    fn n_features(&self) -> usize {
        self.source.n_features()
    }

    fn select(&self, indices: &[usize]) -> ExampleSet {
        ExampleSet::select(self, indices)
    }
}

impl From<Examples> for ExampleSet {
    fn from(examples: Examples) -> Self {
        let Examples { features, targets } = examples;
        ExampleSet {
            source: Arc::new(features),
            rows: None,
            targets,
        }
    }
}

/// What `fit` and `evaluate` accept: an [`ExampleSet`], or [`Examples`] in memory (copied into
/// one).
pub trait ToExampleSet {
    fn to_example_set(&self) -> ExampleSet;
}

impl ToExampleSet for ExampleSet {
    fn to_example_set(&self) -> ExampleSet {
        self.clone()
    }
}

impl ToExampleSet for Examples {
    fn to_example_set(&self) -> ExampleSet {
        self.clone().into()
    }
}

/// The dataset Burn's data loader batches: example indices, in the epoch's order. The batcher
/// asks the example set for the rows, so no example is produced until it is put into a batch.
pub(crate) struct OrderDataset(pub Vec<usize>);

impl Dataset<usize> for OrderDataset {
    fn get(&self, index: usize) -> Result<usize, burn::data::dataset::DatasetError> {
        // Burn's contract: an index past the end panics.
        Ok(self.0[index])
    }

    fn len(&self) -> usize {
        self.0.len()
    }
}

/// Runs in the data loader's worker: the batch of the indices it drew, as one shard per device
/// of data-parallel training (consecutive, sizes differing by at most one; the first on the
/// loader's device, the others on `replicas`). Without replicas, the one shard is the batch.
#[derive(Clone)]
pub(crate) struct ExampleBatcher {
    pub set: ExampleSet,
    pub replicas: Vec<Device>,
}

impl Batcher<usize, Result<Vec<Batch>, DataError>> for ExampleBatcher {
    fn batch(&self, indices: Vec<usize>, device: &Device) -> Result<Vec<Batch>, DataError> {
        let devices: Vec<&Device> = std::iter::once(device).chain(&self.replicas).collect();
        let n = indices.len();
        let k = devices.len();
        (0..k)
            .map(|shard| (shard * n / k, (shard + 1) * n / k, devices[shard]))
            .filter(|(start, end, _)| start < end)
            .map(|(start, end, device)| self.set.batch(&indices[start..end], device))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Features;

    #[test]
    fn a_selection_of_a_selection_reads_the_right_rows() {
        let features = Features::new((0..10).map(|i| i as f32).collect(), 1).unwrap();
        let targets = TargetData::Values {
            values: (0..10).map(|i| i as f32 * 10.0).collect(),
            n_outputs: 1,
        };
        let set = ExampleSet::new(Arc::new(features), targets).unwrap();
        let picked = set.select(&[9, 7, 5, 3]).select(&[1, 3]);
        assert_eq!(picked.len(), 2);
        let device = crate::backend::BackendKind::default_for_build()
            .device()
            .unwrap();
        let batch = picked.batch(&[1, 0], &device).unwrap();
        let inputs: Vec<f32> = batch
            .inputs
            .into_dense()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert_eq!(inputs, [3.0, 7.0]);
        assert_eq!(
            picked.targets(),
            &TargetData::Values {
                values: vec![70.0, 30.0],
                n_outputs: 1
            }
        );
    }
}

//! The ground floor of the data rooms: what a batch is on a device ([`Batch`]: [`Inputs`], dense
//! or [`SparseRows`], and their targets), where a batch's inputs come from ([`FeatureSource`]),
//! and why data cannot be used ([`DataError`]). `data`, `dataset`, `sparse` and the kernels all
//! import these, which import none of them, so no two of them import each other (`dataset`
//! builds on `data`, one way).

use burn::prelude::*;
use burn::tensor::IndexingUpdateOp;

use crate::task::BatchTargets;

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
        "a split of {fraction} of {examples} examples leaves an empty training or held-out set"
    )]
    EmptySplit { fraction: f64, examples: usize },
    #[error(
        "the training part holds examples of {found} class(es) only; a classifier needs at least two"
    )]
    TooFewTrainingClasses { found: usize },
    /// A source that produces examples on demand could not (a file that no longer decodes,
    /// say): the message names what failed.
    #[error("{0}")]
    Source(String),
}

/// Where the model inputs of examples come from.
pub trait FeatureSource: Send + Sync {
    /// Number of examples.
    fn len(&self) -> usize;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Width of every row.
    fn n_features(&self) -> usize;

    /// The rows at `indices`, in that order, as one batch of model inputs on `device`. An error
    /// names the example that could not be produced.
    fn inputs(&self, indices: &[usize], device: &Device) -> Result<Inputs, DataError>;

    /// What all the rows take on a device as tensors, when that is known: full-batch training
    /// keeps a training set of up to 1 GiB there rather than producing its rows again at every
    /// pass over it.
    fn device_bytes(&self) -> Option<usize> {
        None
    }
}

/// The model inputs of a batch: dense rows, or sparse rows that the models' first dense layer
/// takes as they are ([`crate::sparse::linear`]).
// One per batch, moved a few times: the size of its variants (a tensor handle is 256 bytes,
// sparse rows hold three) does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Inputs {
    Dense(Tensor<2>),
    Sparse(SparseRows),
}

impl Inputs {
    /// Dense rows of `width` values from a row-major buffer, on `device`.
    pub fn dense(values: Vec<f32>, width: usize, device: &Device) -> Inputs {
        let n_rows = values.len() / width.max(1);
        Inputs::Dense(Tensor::from_data(
            TensorData::new(values, [n_rows, width]),
            device,
        ))
    }

    pub fn n_rows(&self) -> usize {
        match self {
            Inputs::Dense(x) => x.dims()[0],
            Inputs::Sparse(rows) => rows.n_rows,
        }
    }

    /// The inputs without autodiff.
    pub fn inner(self) -> Inputs {
        match self {
            Inputs::Dense(x) => Inputs::Dense(x.inner()),
            Inputs::Sparse(rows) => Inputs::Sparse(rows.inner()),
        }
    }

    /// Dense rows, building them from sparse ones.
    pub fn into_dense(self) -> Tensor<2> {
        match self {
            Inputs::Dense(x) => x,
            Inputs::Sparse(rows) => rows.to_dense(),
        }
    }
}

impl From<Tensor<2>> for Inputs {
    fn from(x: Tensor<2>) -> Self {
        Inputs::Dense(x)
    }
}

/// One batch on a device.
#[derive(Clone, Debug)]
pub struct Batch {
    pub inputs: Inputs,
    pub targets: BatchTargets,
}

/// A batch of sparse rows on a device, one entry per stored value: its row in the batch, its
/// column and its value.
#[derive(Clone, Debug)]
pub struct SparseRows {
    pub rows: Tensor<1, Int>,
    pub columns: Tensor<1, Int>,
    pub values: Tensor<1>,
    pub n_rows: usize,
    pub n_columns: usize,
}

impl SparseRows {
    pub(crate) fn nnz(&self) -> usize {
        self.values.dims()[0]
    }

    /// The rows without autodiff (the values are data, never trained).
    pub fn inner(self) -> SparseRows {
        SparseRows {
            values: self.values.inner(),
            rows: self.rows.inner(),
            columns: self.columns.inner(),
            ..self
        }
    }

    /// The same rows as a dense `[n_rows, n_columns]` tensor, for the layers that need one.
    pub fn to_dense(self) -> Tensor<2> {
        let device = self.values.device();
        let flat = Tensor::<1>::zeros([self.n_rows * self.n_columns], &device);
        if self.nnz() == 0 {
            return flat.reshape([self.n_rows, self.n_columns]);
        }
        let positions = self.rows * self.n_columns as i64 + self.columns;
        flat.select_assign(0, positions, self.values, IndexingUpdateOp::Add)
            .reshape([self.n_rows, self.n_columns])
    }
}

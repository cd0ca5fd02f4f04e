//! Sparse rows (a TF-IDF row is its term ids and weights) and the dense layer that takes them
//! without ever building the dense matrix: an embedding-bag. `x · W + b` for a sparse row `x`
//! is the sum of the rows of `W` at `x`'s columns, each scaled by its value, plus `b`. It is
//! written with Burn's `select` and `select_assign`, so it runs and differentiates on every
//! backend; `tests/conformance` checks outputs and gradients against `Linear` on the dense rows.
//! On flex the product runs as one of the zoo's kernels (`crate::kernels::sparse_product`).

use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::IndexingUpdateOp;

pub use crate::batch::SparseRows;
use crate::batch::{DataError, FeatureSource, Inputs};

/// Rows held as (column, value) pairs, compressed by row (CSR): the memory is proportional to
/// the stored values, not to rows × columns.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SparseFeatures {
    /// Row `i`'s entries are `columns[offsets[i]..offsets[i + 1]]` (and the same of `values`).
    offsets: Vec<usize>,
    columns: Vec<u32>,
    values: Vec<f32>,
    n_features: usize,
}

impl SparseFeatures {
    /// No rows yet, of `n_features` columns.
    pub fn new(n_features: usize) -> Result<Self, DataError> {
        if n_features == 0 {
            return Err(DataError::NoFeatures);
        }
        if n_features > u32::MAX as usize {
            return Err(DataError::Source(format!(
                "{n_features} columns: sparse rows hold at most {} columns",
                u32::MAX
            )));
        }
        Ok(Self {
            offsets: vec![0],
            columns: Vec::new(),
            values: Vec::new(),
            n_features,
        })
    }

    /// Appends a row given by its (column, value) entries, each column at most once.
    pub fn push_row(
        &mut self,
        entries: impl IntoIterator<Item = (u32, f32)>,
    ) -> Result<(), DataError> {
        let row = self.len();
        let start = self.columns.len();
        for (column, value) in entries {
            let bad = if column as usize >= self.n_features {
                Some(format!(
                    "row {row}: column {column} is out of range for {} features",
                    self.n_features
                ))
            } else if !value.is_finite() {
                Some(format!(
                    "row {row}: non-finite value {value} in column {column}"
                ))
            } else {
                None
            };
            if let Some(message) = bad {
                self.columns.truncate(start);
                self.values.truncate(start);
                return Err(DataError::Source(message));
            }
            self.columns.push(column);
            self.values.push(value);
        }
        self.offsets.push(self.columns.len());
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Stored values in all rows.
    pub fn nnz(&self) -> usize {
        self.values.len()
    }

    /// Row `i`'s columns and values.
    pub fn row(&self, i: usize) -> (&[u32], &[f32]) {
        let range = self.offsets[i]..self.offsets[i + 1];
        (&self.columns[range.clone()], &self.values[range])
    }

    /// Row `i` with its zeros, as `n_features` values.
    pub fn dense_row(&self, i: usize) -> Vec<f32> {
        let mut row = vec![0.0; self.n_features];
        let (columns, values) = self.row(i);
        columns
            .iter()
            .zip(values)
            .for_each(|(&c, &v)| row[c as usize] += v);
        row
    }
}

impl FeatureSource for SparseFeatures {
    fn len(&self) -> usize {
        SparseFeatures::len(self)
    }

    fn n_features(&self) -> usize {
        self.n_features
    }

    /// A row index, a column index (both `i64`) and a value per stored value.
    fn device_bytes(&self) -> Option<usize> {
        Some(self.nnz() * (2 * size_of::<i64>() + size_of::<f32>()))
    }

    fn inputs(&self, indices: &[usize], device: &Device) -> Result<Inputs, DataError> {
        let mut batch = SparseBatch::new(self.n_features);
        for &i in indices {
            let (columns, values) = self.row(i);
            batch.push_row(columns.iter().copied().zip(values.iter().copied()));
        }
        Ok(Inputs::Sparse(batch.to_device(device)))
    }
}

/// Sparse rows gathered on the host for one batch, before they go to a device: what a data
/// source that produces sparse rows on demand (a TF-IDF vectorizer, say) fills in.
#[derive(Clone, Debug, Default)]
pub struct SparseBatch {
    rows: Vec<i64>,
    columns: Vec<i64>,
    values: Vec<f32>,
    n_rows: usize,
    n_columns: usize,
}

impl SparseBatch {
    pub fn new(n_columns: usize) -> Self {
        Self {
            n_columns,
            ..Self::default()
        }
    }

    /// Appends a row; the caller keeps columns in range and values finite.
    pub fn push_row(&mut self, entries: impl IntoIterator<Item = (u32, f32)>) {
        for (column, value) in entries {
            self.rows.push(self.n_rows as i64);
            self.columns.push(column as i64);
            self.values.push(value);
        }
        self.n_rows += 1;
    }

    pub fn to_device(self, device: &Device) -> SparseRows {
        let nnz = self.values.len();
        SparseRows {
            rows: Tensor::from_data(TensorData::new(self.rows, [nnz]), device),
            columns: Tensor::from_data(TensorData::new(self.columns, [nnz]), device),
            values: Tensor::from_data(TensorData::new(self.values, [nnz]), device),
            n_rows: self.n_rows,
            n_columns: self.n_columns,
        }
    }
}

/// `layer` applied to sparse rows: `[n_rows, d_output]`, equal to `layer.forward` on the dense
/// rows. The weight rows of the stored columns are gathered, scaled and summed per row, so the
/// cost is stored values × outputs, not rows × columns × outputs.
pub fn linear(layer: &Linear, input: SparseRows) -> Tensor<2> {
    let weight = layer.weight.val();
    let [_, d_output] = weight.dims();
    let device = weight.device();
    #[cfg(feature = "flex")]
    let kernel = crate::kernels::sparse_product(&weight, &input);
    #[cfg(not(feature = "flex"))]
    let kernel = None;
    let sums = if let Some(product) = kernel {
        product
    } else if input.nnz() == 0 {
        Tensor::zeros([input.n_rows, d_output], &device)
    } else {
        let contributions = weight.select(0, input.columns) * input.values.unsqueeze_dim(1);
        Tensor::zeros([input.n_rows, d_output], &device).select_assign(
            0,
            input.rows,
            contributions,
            IndexingUpdateOp::Add,
        )
    };
    match &layer.bias {
        Some(bias) => sums + bias.val().unsqueeze_dim(0),
        None => sums,
    }
}

/// `layer` on dense or sparse inputs. Dense inputs on flex go through the zoo's fused dense
/// kernel (`kernels::dense`: the product accumulated onto the bias), elsewhere Burn's `Linear`.
pub fn dense_layer(layer: &Linear, input: Inputs) -> Tensor<2> {
    match input {
        #[cfg(feature = "flex")]
        Inputs::Dense(x) => {
            crate::kernels::dense(layer, &x, false, None).unwrap_or_else(|| layer.forward(x))
        }
        #[cfg(not(feature = "flex"))]
        Inputs::Dense(x) => layer.forward(x),
        Inputs::Sparse(rows) => linear(layer, rows),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_checked_and_a_bad_row_leaves_nothing_behind() {
        let mut rows = SparseFeatures::new(4).unwrap();
        rows.push_row([(0, 1.0), (3, 2.0)]).unwrap();
        let err = rows.push_row([(1, 1.0), (4, 1.0)]).unwrap_err();
        assert!(
            err.to_string().contains("column 4 is out of range"),
            "{err}"
        );
        let err = rows.push_row([(1, f32::NAN)]).unwrap_err();
        assert!(err.to_string().contains("non-finite"), "{err}");
        rows.push_row([]).unwrap();
        assert_eq!((rows.len(), rows.nnz()), (2, 2));
        assert_eq!(rows.dense_row(0), [1.0, 0.0, 0.0, 2.0]);
        assert_eq!(rows.dense_row(1), [0.0; 4]);
        assert!(SparseFeatures::new(0).is_err());
    }
}

//! Row-major matrix views of slices and the one call into `gemm` (the crate flex itself uses)
//! that every kernel's matrix product goes through.

/// A read-only matrix view of a slice, by strides.
#[derive(Clone, Copy)]
pub(super) struct Matrix<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> Matrix<'a> {
    pub(super) fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        assert!(data.len() >= rows * cols, "matrix data too short");
        Matrix {
            data,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    pub(super) fn transposed(self) -> Self {
        Matrix {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }
}

/// Which threads a product may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Threads {
    /// Only the calling thread: the caller already spreads its work over the pool.
    Calling,
    /// Rayon's pool for products of at least [`POOL_FROM`] multiply-adds. `gemm` splits the
    /// output into tiles and sums each tile's inner dimension in one order, so the result does
    /// not depend on the number of threads.
    Pool,
}

/// Smaller products run on the calling thread: handing them to the pool costs more than it
/// saves (measured: the logistic regression's inference at batch 256, 784 × 10, ran at half the
/// speed split over two threads). flex's own products use the same bound.
const POOL_FROM: usize = 192 * 192 * 192;

/// `out[m × n] = (out if accumulate) + lhs[m × k] · rhs[k × n]`, `out` row-major.
pub(super) fn matmul(
    out: &mut [f32],
    accumulate: bool,
    lhs: Matrix,
    rhs: Matrix,
    threads: Threads,
) {
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    assert_eq!(rhs.rows, k, "matrix product: inner sizes differ");
    assert!(out.len() >= m * n, "matrix product: output too short");
    if m == 0 || n == 0 {
        return;
    }
    let parallelism = match threads {
        Threads::Calling => gemm::Parallelism::None,
        Threads::Pool if m * n * k >= POOL_FROM => gemm::Parallelism::Rayon(0),
        Threads::Pool => gemm::Parallelism::None,
    };
    // SAFETY: the asserts above and in `Matrix::row_major` keep every index gemm reads or writes
    // (row · row_stride + col · col_stride for rows < m or k, cols < k or n) inside the slices;
    // `out` is borrowed mutably, so it aliases neither input.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.col_stride as isize,
            lhs.row_stride as isize,
            rhs.data.as_ptr(),
            rhs.col_stride as isize,
            rhs.row_stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

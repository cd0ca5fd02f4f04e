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

impl Matrix<'_> {
    /// Rows `range` of the matrix. The view's largest index is at most the whole matrix's.
    fn rows(self, range: std::ops::Range<usize>) -> Self {
        Matrix {
            data: &self.data[range.start * self.row_stride..],
            rows: range.len(),
            ..self
        }
    }

    /// Columns `range` of the matrix.
    fn cols(self, range: std::ops::Range<usize>) -> Self {
        Matrix {
            data: &self.data[range.start * self.col_stride..],
            cols: range.len(),
            ..self
        }
    }
}

/// Which threads a product may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Threads {
    /// Only the calling thread: the caller already spreads its work over the pool.
    Calling,
    /// Rayon's pool, for products large enough (see [`pieces`]).
    Pool,
}

/// Multiply-adds per piece of a product split over the pool, about: enough that a piece (tens
/// of microseconds) outweighs handing it to another thread.
const PIECE_WORK: usize = 1 << 21;

/// A piece's rows or columns come in multiples of this: whole tiles of gemm's AVX-512 kernels.
const PIECE_SIDE: usize = 16;

/// How many pieces to split an `m × k · k × n` product into, along its longer output side.
///
/// The zoo's products are small (the MLP's largest at batch 64 is 64 × 784 · 784 × 256), and
/// gemm's own splitting of such products over two threads gained little: the MLP trained as
/// fast on one thread as on two. Whole row or column blocks, each one serial gemm call, gain
/// more. The count depends on the shapes only, never on the number of threads, and every
/// output element is one serial gemm's sum over the full inner dimension: the bits are the same
/// on any number of threads.
fn pieces(m: usize, n: usize, k: usize) -> usize {
    let work = m * n * k;
    if work < 2 * PIECE_WORK {
        return 1;
    }
    (work / PIECE_WORK).min(m.max(n) / PIECE_SIDE).clamp(1, 16)
}

/// `[start, end)` of piece `piece` of `pieces` over `len`, in multiples of [`PIECE_SIDE`].
fn piece_range(len: usize, piece: usize, pieces: usize) -> std::ops::Range<usize> {
    let tiles = len.div_ceil(PIECE_SIDE);
    let bound = |p: usize| (tiles * p / pieces * PIECE_SIDE).min(len);
    bound(piece)..bound(piece + 1)
}

/// The output's address, shared by the pieces of one product, which write disjoint elements.
#[derive(Clone, Copy)]
struct Output(*mut f32);

// SAFETY: the pieces of a product write disjoint rows or columns of the output (see `matmul`).
unsafe impl Send for Output {}
unsafe impl Sync for Output {}

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
    let pieces = match threads {
        Threads::Calling => 1,
        Threads::Pool => pieces(m, n, k),
    };
    let output = Output(out.as_mut_ptr());
    let by_rows = m >= n;
    let piece = |p: usize| {
        let output = output;
        // SAFETY: `out` holds m × n elements (asserted above) and the views' largest indices are
        // within their slices (`Matrix::row_major`, `rows`, `cols`). Piece `p` writes rows or
        // columns `piece_range(.., p, pieces)` of the output only, which no other piece writes,
        // and `out` is borrowed mutably for the whole call, so nothing else reads it meanwhile.
        unsafe {
            if by_rows {
                let rows = piece_range(m, p, pieces);
                let dst = output.0.add(rows.start * n);
                product(dst, n, accumulate, lhs.rows(rows), rhs);
            } else {
                let cols = piece_range(n, p, pieces);
                let dst = output.0.add(cols.start);
                product(dst, n, accumulate, lhs, rhs.cols(cols));
            }
        }
    };
    if pieces == 1 {
        piece(0);
    } else {
        use rayon::prelude::*;
        (0..pieces).into_par_iter().for_each(piece);
    }
}

/// One serial gemm call: `dst[i · dst_row_stride + j] (+)= Σ lhs[i, l] · rhs[l, j]`.
///
/// # Safety
/// `dst` must be valid for writes (and reads, when `accumulate`) at every such index for
/// `i < lhs.rows`, `j < rhs.cols`, and no other thread may access those elements meanwhile.
unsafe fn product(
    dst: *mut f32,
    dst_row_stride: usize,
    accumulate: bool,
    lhs: Matrix,
    rhs: Matrix,
) {
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    if m == 0 || n == 0 {
        return;
    }
    // SAFETY: the caller's guarantee for `dst`; the views keep every index gemm reads
    // (row · row_stride + col · col_stride for rows < m or k, cols < k or n) inside their slices.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_row_stride as isize,
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
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_cover_the_output_in_whole_tiles() {
        for (len, pieces) in [(256, 6), (784, 6), (20, 3), (16, 1), (33, 2)] {
            let ranges: Vec<_> = (0..pieces).map(|p| piece_range(len, p, pieces)).collect();
            assert_eq!(ranges[0].start, 0);
            assert_eq!(ranges[pieces - 1].end, len);
            for pair in ranges.windows(2) {
                assert_eq!(pair[0].end, pair[1].start);
                assert_eq!(pair[0].end % PIECE_SIDE, 0, "{len} {pieces}: {ranges:?}");
            }
        }
        assert_eq!(pieces(64, 256, 784), 6);
        assert_eq!(pieces(256, 10, 784), 1);
    }

    #[test]
    fn a_product_split_into_pieces_equals_the_product_in_one_call() {
        // 64 × 300 · 300 × 400 in pieces of columns; its transpose-shaped twin in rows.
        for (m, k, n) in [(64, 300, 400), (400, 300, 64)] {
            let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.11).cos()).collect();
            let (lhs, rhs) = (Matrix::row_major(&a, m, k), Matrix::row_major(&b, k, n));
            assert!(pieces(m, n, k) > 1);
            let mut split = vec![1.0; m * n];
            matmul(&mut split, true, lhs, rhs, Threads::Pool);
            let mut whole = vec![1.0; m * n];
            matmul(&mut whole, true, lhs, rhs, Threads::Calling);
            let reference: Vec<f32> = (0..m * n)
                .map(|ij| {
                    let (i, j) = (ij / n, ij % n);
                    1.0 + (0..k).map(|l| a[i * k + l] * b[l * n + j]).sum::<f32>()
                })
                .collect();
            for (s, r) in split.iter().zip(&reference) {
                assert!((s - r).abs() <= 1e-3 * (1.0 + r.abs()), "{s} vs {r}");
            }
            assert_eq!(split, whole, "{m}×{k}·{k}×{n}");
        }
    }
}

//! The sparse rows × dense weight product on flex: each output row is the sum of the weight rows
//! of its stored columns, scaled by their values, written straight into the output (Burn's
//! `select` + `select_assign` build a stored-values × outputs intermediate first). The weight
//! gradient scatters the output gradient back the same way.
//!
//! Both are deterministic for any number of threads: forward splits the work by output row,
//! backward by weight row, and every sum runs in the order of the stored values.

use rayon::prelude::*;

/// The stored values of a batch: for entry `k`, its row, column and value.
pub struct Entries<'a> {
    pub rows: &'a [usize],
    pub columns: &'a [usize],
    pub values: &'a [f32],
}

/// `out[r] += v · weight[c]`, in place.
fn add_scaled(out: &mut [f32], v: f32, weight_row: &[f32]) {
    out.iter_mut()
        .zip(weight_row)
        .for_each(|(o, w)| *o += v * w);
}

/// Entry indices grouped by row (a counting sort): row `r`'s entries are
/// `order[starts[r]..starts[r + 1]]`, in their original order.
fn by_row(rows: &[usize], n_rows: usize) -> (Vec<usize>, Vec<usize>) {
    let mut starts = vec![0; n_rows + 1];
    rows.iter().for_each(|&r| starts[r + 1] += 1);
    for r in 0..n_rows {
        starts[r + 1] += starts[r];
    }
    let mut next = starts.clone();
    let mut order = vec![0; rows.len()];
    for (k, &r) in rows.iter().enumerate() {
        order[next[r]] = k;
        next[r] += 1;
    }
    (order, starts)
}

/// `[n_rows, d_output]`: the sparse rows times `weight` (`[d_input, d_output]`).
pub fn forward(weight: &[f32], d_output: usize, entries: &Entries, n_rows: usize) -> Vec<f32> {
    let mut out = vec![0.0; n_rows * d_output];
    if d_output == 0 {
        return out;
    }
    let (order, starts) = by_row(entries.rows, n_rows);
    out.par_chunks_mut(d_output)
        .enumerate()
        .for_each(|(r, out_row)| {
            for &k in &order[starts[r]..starts[r + 1]] {
                let c = entries.columns[k];
                add_scaled(
                    out_row,
                    entries.values[k],
                    &weight[c * d_output..(c + 1) * d_output],
                );
            }
        });
    out
}

/// `[d_input, d_output]`: the gradient of the weight, given the output's (`[n_rows,
/// d_output]`).
pub fn weight_gradient(
    grad_out: &[f32],
    d_input: usize,
    d_output: usize,
    entries: &Entries,
) -> Vec<f32> {
    let mut grad = vec![0.0; d_input * d_output];
    if d_output == 0 || d_input == 0 {
        return grad;
    }
    let weight_rows_per_task = d_input.div_ceil(rayon::current_num_threads().max(1));
    grad.par_chunks_mut(weight_rows_per_task * d_output)
        .enumerate()
        .for_each(|(task, block)| {
            let first = task * weight_rows_per_task;
            let last = first + block.len() / d_output;
            for k in 0..entries.values.len() {
                let c = entries.columns[k];
                if (first..last).contains(&c) {
                    let r = entries.rows[k];
                    add_scaled(
                        &mut block[(c - first) * d_output..(c - first + 1) * d_output],
                        entries.values[k],
                        &grad_out[r * d_output..(r + 1) * d_output],
                    );
                }
            }
        });
    grad
}

/// The nonzero rows of [`weight_gradient`]: the columns the entries touch, increasing, and the
/// gradient's row of each (`[columns, d_output]`), summed in the order of the stored values as
/// [`weight_gradient`] sums it, so the values are the same to the bit.
pub fn weight_gradient_rows(
    grad_out: &[f32],
    d_output: usize,
    entries: &Entries,
) -> (Vec<usize>, Vec<f32>) {
    let mut order: Vec<usize> = (0..entries.values.len()).collect();
    // Stable: a column's entries stay in their order.
    order.sort_by_key(|&k| entries.columns[k]);
    let (mut columns, mut grads) = (Vec::new(), Vec::new());
    for k in order {
        let (c, r) = (entries.columns[k], entries.rows[k]);
        if columns.last() != Some(&c) {
            columns.push(c);
            grads.resize(grads.len() + d_output, 0.0);
        }
        let start = grads.len() - d_output;
        add_scaled(
            &mut grads[start..],
            entries.values[k],
            &grad_out[r * d_output..(r + 1) * d_output],
        );
    }
    (columns, grads)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_and_gradient_match_the_dense_arithmetic() {
        // Two outputs; row 1 is empty; row 2's entries arrive before row 0's.
        let weight = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let entries = Entries {
            rows: &[2, 0, 0, 2],
            columns: &[1, 0, 2, 1],
            values: &[0.5, 2.0, -1.0, 1.5],
        };
        let out = forward(&weight, 2, &entries, 3);
        // Row 0: 2·[1, 2] − [5, 6]; row 2: (0.5 + 1.5)·[3, 4].
        assert_eq!(out, [-3.0, -2.0, 0.0, 0.0, 6.0, 8.0]);
        let grad_out = [1.0, 0.0, 9.0, 9.0, 0.0, 1.0];
        let grad = weight_gradient(&grad_out, 3, 2, &entries);
        // Column 0: 2·[1, 0]; column 1: (0.5 + 1.5)·[0, 1]; column 2: −[1, 0].
        assert_eq!(grad, [2.0, 0.0, 0.0, 2.0, -1.0, 0.0]);
        // The same rows, without the zeros.
        let (columns, rows) = weight_gradient_rows(&grad_out, 2, &entries);
        assert_eq!(columns, [0, 1, 2]);
        assert_eq!(rows, grad);
        let only_row_2 = Entries {
            rows: &[2, 2],
            columns: &[2, 2],
            values: &[0.5, 0.25],
        };
        let (columns, rows) = weight_gradient_rows(&grad_out, 2, &only_row_2);
        assert_eq!((columns, rows), (vec![2], vec![0.0, 0.75]));
    }
}

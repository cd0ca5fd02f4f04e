//! A dense layer fused: `x · weight + bias`, then ReLU and dropout in the product's epilogue,
//! forward and backward, on contiguous row-major f32 slices.
//!
//! Burn runs the layer as a product, a broadcast bias add, a ReLU, and in training a Bernoulli
//! mask drawn element by element, a product with it and a scaling: a pass over memory and an
//! allocation each, and the profile of the MLP's training step had the mask's generator alone at
//! a seventh of the step (README, "Performance"). Here the product accumulates onto the bias, and
//! one pass applies ReLU and dropout and records one byte per output saying whether its gradient
//! passes. The backward pass gates the output gradient by those bytes (the pre-activation
//! gradient) and sums it per output (the bias gradient), then two products give the weight and
//! the input gradients.

use std::borrow::Cow;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::matrix::{Matrix, Threads, matmul};

/// Rows whose dropout draws come from one stream of the generator: the mask depends on the seed
/// and the shape only, not on the number of threads.
const ROWS_PER_STREAM: usize = 8;

/// The shapes of one dense layer on a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DenseShape {
    pub rows: usize,
    pub inputs: usize,
    pub outputs: usize,
}

/// Dropout as the kernel applies it: each output kept with probability `1 − probability` and
/// scaled by `1 / (1 − probability)`, as Burn's `Dropout` does, the masks drawn from a ChaCha8
/// generator seeded with `seed`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DropoutDraw {
    pub probability: f64,
    pub seed: u64,
}

impl DropoutDraw {
    /// What a kept output is multiplied by (Burn's `1 / prob_keep`, rounded to f32 the same way).
    pub fn scale(&self) -> f32 {
        (1.0 / (1.0 - self.probability)) as f32
    }

    /// Draws below this are dropped.
    fn threshold(&self) -> u32 {
        (self.probability * 4_294_967_296.0).min(u32::MAX as f64) as u32
    }
}

/// The forward pass: `[rows, outputs]`, and when `record_passes` (a backward pass will follow)
/// and the epilogue changed anything (ReLU or dropout), one byte per output, 1 where the
/// output's gradient passes.
pub fn forward(
    x: &[f32],
    weight: &[f32],
    bias: &[f32],
    shape: DenseShape,
    epilogue: Epilogue,
    record_passes: bool,
) -> (Vec<f32>, Option<Vec<u8>>) {
    assert_eq!(x.len(), shape.rows * shape.inputs, "dense: input size");
    assert_eq!(
        weight.len(),
        shape.inputs * shape.outputs,
        "dense: weight size"
    );
    assert_eq!(bias.len(), shape.outputs, "dense: bias size");
    let mut out = Vec::with_capacity(shape.rows * shape.outputs);
    for _ in 0..shape.rows {
        out.extend_from_slice(bias);
    }
    matmul(
        &mut out,
        true,
        Matrix::row_major(x, shape.rows, shape.inputs),
        Matrix::row_major(weight, shape.inputs, shape.outputs),
        Threads::Pool,
    );
    if epilogue.is_identity() {
        return (out, None);
    }
    let mut passes = record_passes.then(|| vec![0u8; out.len()]);
    let block = ROWS_PER_STREAM * shape.outputs;
    if block > 0 {
        let apply = |stream: usize, out: &mut [f32], passes: Option<&mut [u8]>| {
            epilogue.apply(out, passes, stream as u64)
        };
        let in_pool = out.len() >= super::ELEMENTWISE_POOL_FROM;
        match (passes.as_deref_mut(), in_pool) {
            (Some(passes), true) => out
                .par_chunks_mut(block)
                .zip(passes.par_chunks_mut(block))
                .enumerate()
                .for_each(|(stream, (out, passes))| apply(stream, out, Some(passes))),
            (Some(passes), false) => out
                .chunks_mut(block)
                .zip(passes.chunks_mut(block))
                .enumerate()
                .for_each(|(stream, (out, passes))| apply(stream, out, Some(passes))),
            (None, true) => out
                .par_chunks_mut(block)
                .enumerate()
                .for_each(|(stream, out)| apply(stream, out, None)),
            (None, false) => out
                .chunks_mut(block)
                .enumerate()
                .for_each(|(stream, out)| apply(stream, out, None)),
        }
    }
    (out, passes)
}

/// What follows the product and the bias.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Epilogue {
    pub relu: bool,
    pub dropout: Option<DropoutDraw>,
}

impl Epilogue {
    fn is_identity(&self) -> bool {
        !self.relu && self.dropout.is_none()
    }

    /// ReLU and dropout on one block of rows, drawing from stream `stream` of the seed's
    /// generator. Each loop is branch-free, so the compiler vectorises it.
    fn apply(&self, out: &mut [f32], mut passes: Option<&mut [u8]>, stream: u64) {
        match passes.as_deref_mut() {
            Some(passes) if self.relu => {
                for (value, pass) in out.iter_mut().zip(passes.iter_mut()) {
                    let positive = *value > 0.0;
                    *value = if positive { *value } else { 0.0 };
                    *pass = positive as u8;
                }
            }
            Some(passes) => passes.fill(1),
            None if self.relu => out
                .iter_mut()
                .for_each(|value| *value = if *value > 0.0 { *value } else { 0.0 }),
            None => {}
        }
        let Some(dropout) = self.dropout else {
            return;
        };
        let mut rng = ChaCha8Rng::seed_from_u64(dropout.seed);
        rng.set_stream(stream);
        // One draw for every output, dropped or not, so that ReLU never shifts later draws.
        let mut draws = vec![0u32; out.len()];
        rng.fill(&mut draws[..]);
        let (threshold, scale) = (dropout.threshold(), dropout.scale());
        for (value, &draw) in out.iter_mut().zip(&draws) {
            *value = if draw >= threshold {
                *value * scale
            } else {
                0.0
            };
        }
        if let Some(passes) = passes {
            for (pass, &draw) in passes.iter_mut().zip(&draws) {
                *pass &= (draw >= threshold) as u8;
            }
        }
    }
}

/// The gradients of one dense layer's backward pass.
pub struct DenseGradients {
    /// `[rows, inputs]`, when asked for.
    pub input: Option<Vec<f32>>,
    /// `[inputs, outputs]`.
    pub weight: Vec<f32>,
    /// `[outputs]`.
    pub bias: Vec<f32>,
}

/// The backward pass from the output's gradient `grad_out` `[rows, outputs]`, the forward
/// pass's `passes` (`None` for a plain product plus bias) and its dropout `scale` (1 without).
pub fn backward(
    x: &[f32],
    weight: &[f32],
    grad_out: &[f32],
    passes: Option<&[u8]>,
    scale: f32,
    shape: DenseShape,
    input_wanted: bool,
) -> DenseGradients {
    assert_eq!(
        grad_out.len(),
        shape.rows * shape.outputs,
        "dense: gradient size"
    );
    let (pre_activation, bias) = gate_and_sum(grad_out, passes, scale, shape.outputs);
    // weight_grad[I × O] = xᵀ[I × N] · pre_activation[N × O]
    let mut weight_grad = vec![0.0; shape.inputs * shape.outputs];
    matmul(
        &mut weight_grad,
        false,
        Matrix::row_major(x, shape.rows, shape.inputs).transposed(),
        Matrix::row_major(&pre_activation, shape.rows, shape.outputs),
        Threads::Pool,
    );
    let input = input_wanted.then(|| {
        // input_grad[N × I] = pre_activation[N × O] · weightᵀ[O × I]
        let mut input_grad = vec![0.0; shape.rows * shape.inputs];
        matmul(
            &mut input_grad,
            false,
            Matrix::row_major(&pre_activation, shape.rows, shape.outputs),
            Matrix::row_major(weight, shape.inputs, shape.outputs).transposed(),
            Threads::Pool,
        );
        input_grad
    });
    DenseGradients {
        input,
        weight: weight_grad,
        bias,
    }
}

/// Rows whose bias-gradient partial sum is formed together. The partial sums are then added in
/// order, so the bias gradient is the same on any number of threads.
const ROWS_PER_PARTIAL: usize = 64;

/// In one pass over the output gradient: the pre-activation gradient (the output gradient
/// where `passes` lets it through, times `scale`; the output gradient itself without `passes`)
/// and its sum over rows, the bias gradient.
fn gate_and_sum<'a>(
    grad_out: &'a [f32],
    passes: Option<&[u8]>,
    scale: f32,
    outputs: usize,
) -> (Cow<'a, [f32]>, Vec<f32>) {
    if outputs == 0 {
        return (grad_out.into(), Vec::new());
    }
    let block = ROWS_PER_PARTIAL * outputs;
    let in_pool = grad_out.len() >= super::ELEMENTWISE_POOL_FROM;
    let (gated, partials): (Cow<[f32]>, Vec<Vec<f32>>) = match passes {
        None => {
            let sum = |grad: &[f32]| row_sums(grad, outputs);
            let partials = if in_pool {
                grad_out.par_chunks(block).map(sum).collect()
            } else {
                grad_out.chunks(block).map(sum).collect()
            };
            (Cow::Borrowed(grad_out), partials)
        }
        Some(passes) => {
            let mut gated = vec![0.0; grad_out.len()];
            let gate = |((grad, passes), gated): ((&[f32], &[u8]), &mut [f32])| {
                for ((out, &g), &pass) in gated.iter_mut().zip(grad).zip(passes) {
                    *out = if pass == 1 { g * scale } else { 0.0 };
                }
                row_sums(gated, outputs)
            };
            let partials = if in_pool {
                grad_out
                    .par_chunks(block)
                    .zip(passes.par_chunks(block))
                    .zip(gated.par_chunks_mut(block))
                    .map(gate)
                    .collect()
            } else {
                grad_out
                    .chunks(block)
                    .zip(passes.chunks(block))
                    .zip(gated.chunks_mut(block))
                    .map(gate)
                    .collect()
            };
            (Cow::Owned(gated), partials)
        }
    };
    let mut bias = vec![0.0; outputs];
    for partial in partials {
        bias.iter_mut().zip(partial).for_each(|(b, p)| *b += p);
    }
    (gated, bias)
}

/// The sum of the rows of a row-major block `outputs` wide, row by row in order.
fn row_sums(block: &[f32], outputs: usize) -> Vec<f32> {
    let mut sums = vec![0.0; outputs];
    for row in block.chunks_exact(outputs) {
        sums.iter_mut().zip(row).for_each(|(s, g)| *s += g);
    }
    sums
}

#[cfg(test)]
mod tests {
    use super::super::in_threads;
    use super::*;

    const SHAPE: DenseShape = DenseShape {
        rows: 19,
        inputs: 5,
        outputs: 7,
    };

    fn inputs() -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let values = |n: usize, k: f32| (0..n).map(|i| (i as f32 * k).sin()).collect();
        (
            values(SHAPE.rows * SHAPE.inputs, 0.7),
            values(SHAPE.inputs * SHAPE.outputs, 1.3),
            values(SHAPE.outputs, 2.1),
        )
    }

    #[test]
    fn dropout_keeps_its_share_and_its_mask_follows_the_seed_only() {
        let (x, w, b) = inputs();
        let draw = |seed| DropoutDraw {
            probability: 0.25,
            seed,
        };
        let run = |dropout| {
            let epilogue = Epilogue {
                relu: false,
                dropout,
            };
            forward(&x, &w, &b, SHAPE, epilogue, true)
        };
        let (plain, _) = run(None);
        let (dropped, passes) = run(Some(draw(3)));
        let passes = passes.unwrap();
        for ((&p, &d), &pass) in plain.iter().zip(&dropped).zip(&passes) {
            let expected = if pass == 1 { p * draw(3).scale() } else { 0.0 };
            assert_eq!(d, expected);
        }
        let kept = passes.iter().filter(|&&p| p == 1).count() as f64 / passes.len() as f64;
        assert!((0.6..0.9).contains(&kept), "kept {kept}");
        let in_one_thread = in_threads(1, || run(Some(draw(3))));
        assert_eq!(in_one_thread, (dropped.clone(), Some(passes.clone())));
        let (other, _) = run(Some(draw(4)));
        assert_ne!(other, dropped);
    }

    #[test]
    fn masks_drawn_on_the_pool_are_the_masks_drawn_on_one_thread() {
        // 300 × 300 outputs: enough for the epilogue to run on the pool.
        let shape = DenseShape {
            rows: 300,
            inputs: 3,
            outputs: 300,
        };
        let x: Vec<f32> = (0..900).map(|i| (i as f32 * 0.37).sin()).collect();
        let w: Vec<f32> = (0..900).map(|i| (i as f32 * 0.11).cos()).collect();
        let b = vec![0.1; 300];
        let epilogue = Epilogue {
            relu: true,
            dropout: Some(DropoutDraw {
                probability: 0.3,
                seed: 11,
            }),
        };
        let run = |threads| in_threads(threads, || forward(&x, &w, &b, shape, epilogue, true));
        assert_eq!(run(1), run(2));
    }

    #[test]
    fn the_backward_pass_on_the_pool_gives_the_bits_of_one_thread() {
        // 300 rows × 300 outputs: five blocks of partial bias sums, gated on the pool.
        let shape = DenseShape {
            rows: 300,
            inputs: 3,
            outputs: 300,
        };
        let x: Vec<f32> = (0..900).map(|i| (i as f32 * 0.37).sin()).collect();
        let w: Vec<f32> = (0..900).map(|i| (i as f32 * 0.11).cos()).collect();
        let grad_out: Vec<f32> = (0..90_000).map(|i| (i as f32 * 0.013).sin()).collect();
        let passes: Vec<u8> = (0..90_000).map(|i| (i % 3 != 0) as u8).collect();
        let run = |threads| {
            in_threads(threads, || {
                let g = backward(&x, &w, &grad_out, Some(&passes), 1.25, shape, true);
                (g.input, g.weight, g.bias)
            })
        };
        let (one, two) = (run(1), run(2));
        assert_eq!(one, two);
        for (o, &bias) in one.2.iter().enumerate() {
            let expected: f32 = (0..300)
                .map(|r| r * 300 + o)
                .filter(|&k| passes[k] == 1)
                .map(|k| grad_out[k] * 1.25)
                .sum();
            assert!((bias - expected).abs() <= 1e-4 * (1.0 + expected.abs()));
        }
    }

    #[test]
    fn dropped_and_clipped_outputs_pass_no_gradient() {
        let (x, w, b) = inputs();
        let draw = DropoutDraw {
            probability: 0.5,
            seed: 1,
        };
        let (out, passes) = forward(
            &x,
            &w,
            &b,
            SHAPE,
            Epilogue {
                relu: true,
                dropout: Some(draw),
            },
            true,
        );
        let passes = passes.unwrap();
        assert!(out.iter().all(|&v| v >= 0.0));
        let grad_out = vec![1.0; out.len()];
        let grads = backward(&x, &w, &grad_out, Some(&passes), draw.scale(), SHAPE, true);
        let expected_bias: Vec<f32> = (0..SHAPE.outputs)
            .map(|o| {
                (0..SHAPE.rows)
                    .map(|r| passes[r * SHAPE.outputs + o] as f32 * draw.scale())
                    .sum()
            })
            .collect();
        assert_eq!(grads.bias, expected_bias);
        assert_eq!(grads.input.unwrap().len(), x.len());
    }
}

//! The CNN block fused: 3×3 "same" convolution + bias + ReLU + 2×2 max-pool, forward and
//! backward, on contiguous NCHW f32 slices.
//!
//! One image at a time, so that its im2col columns (`channels·9 × height·width`, 113 KB for
//! MNIST's second block) stay in cache: the columns, one matrix product with the weight (the
//! `gemm` crate flex itself uses), then one pass that pools, applies ReLU and records each
//! window's winner in a byte. Images run in parallel on Rayon's pool. The backward pass rebuilds
//! the columns instead of keeping them (a batch of them would be megabytes), derives the
//! pre-activation gradient from the winners, and forms the weight gradient, the bias gradient and
//! (when the input needs one) the input gradient by matrix products and col2im.

use rayon::prelude::*;

use super::matrix::{Matrix, Threads, matmul};
use super::pool;

/// Taps of the 3×3 kernel.
const TAPS: usize = 9;

/// Images whose weight and bias gradients are summed into one partial sum. The partial sums are
/// then added in a fixed order, so gradients are bit-for-bit the same whatever the number of
/// threads or the order they finish in (`--seed` reproducibility).
const IMAGES_PER_PARTIAL: usize = 8;

/// The shapes of one fused block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockShape {
    pub batch: usize,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub outputs: usize,
}

impl BlockShape {
    fn plane(&self) -> usize {
        self.height * self.width
    }

    fn input_image(&self) -> usize {
        self.channels * self.plane()
    }

    fn rows(&self) -> usize {
        self.channels * TAPS
    }

    /// `[height, width]` after pooling.
    pub fn pooled(&self) -> [usize; 2] {
        [self.height / 2, self.width / 2]
    }

    fn pooled_plane(&self) -> usize {
        let [h, w] = self.pooled();
        h * w
    }

    /// Elements of the output (and of its winner codes).
    pub fn output_len(&self) -> usize {
        self.batch * self.outputs * self.pooled_plane()
    }
}

/// The gradients of one block's backward pass.
pub struct BlockGradients {
    /// `[batch, channels, height, width]`, when asked for.
    pub input: Option<Vec<f32>>,
    /// `[outputs, channels, 3, 3]`.
    pub weight: Vec<f32>,
    /// `[outputs]`.
    pub bias: Vec<f32>,
}

/// Forward pass: returns the pooled activations `[batch, outputs, height/2, width/2]` and each
/// window's winner (or [`pool::NO_GRADIENT`]).
pub fn forward(
    input: &[f32],
    weight: &[f32],
    bias: &[f32],
    shape: BlockShape,
) -> (Vec<f32>, Vec<u8>) {
    check_lengths(input, weight, bias, shape);
    let mut out = vec![0.0; shape.output_len()];
    let mut codes = vec![0; shape.output_len()];
    let image_out = shape.outputs * shape.pooled_plane();
    if image_out == 0 {
        return (out, codes);
    }
    out.par_chunks_mut(image_out)
        .zip(codes.par_chunks_mut(image_out))
        .zip(input.par_chunks(shape.input_image()))
        .for_each_init(
            || Scratch::new(shape),
            |scratch, ((out, codes), image)| {
                im2col(image, shape, &mut scratch.columns);
                pre_activation(weight, bias, shape, scratch);
                for ((plane, out), codes) in scratch
                    .pre_activation
                    .chunks_exact(shape.plane())
                    .zip(out.chunks_exact_mut(shape.pooled_plane()))
                    .zip(codes.chunks_exact_mut(shape.pooled_plane()))
                {
                    pool::forward_plane::<true>(plane, shape.width, out, codes);
                }
            },
        );
    (out, codes)
}

/// Backward pass from the gradient of the pooled output and the winners [`forward`] recorded.
/// The input gradient is computed only when `input_gradient` is set (the first block's input
/// is data and needs none).
pub fn backward(
    input: &[f32],
    weight: &[f32],
    grad_out: &[f32],
    codes: &[u8],
    shape: BlockShape,
    input_gradient: bool,
) -> BlockGradients {
    assert_eq!(grad_out.len(), shape.output_len(), "output gradient size");
    assert_eq!(codes.len(), shape.output_len(), "winner codes size");
    let image_out = shape.outputs * shape.pooled_plane();
    let chunk_in = IMAGES_PER_PARTIAL * shape.input_image();
    let chunk_out = IMAGES_PER_PARTIAL * image_out;
    let mut input_grad = input_gradient.then(|| vec![0.0; input.len()]);
    let input_grad_chunks: Vec<Option<&mut [f32]>> = match &mut input_grad {
        Some(grad) => grad.chunks_mut(chunk_in.max(1)).map(Some).collect(),
        None => input.chunks(chunk_in.max(1)).map(|_| None).collect(),
    };
    let partials: Vec<(Vec<f32>, Vec<f32>)> = input_grad_chunks
        .into_par_iter()
        .zip(input.par_chunks(chunk_in.max(1)))
        .zip(grad_out.par_chunks(chunk_out.max(1)))
        .zip(codes.par_chunks(chunk_out.max(1)))
        .map(|(((mut input_grad, images), grad_out), codes)| {
            let mut scratch = Scratch::new(shape);
            let mut weight_grad = vec![0.0; weight.len()];
            let mut bias_grad = vec![0.0; shape.outputs];
            for (k, image) in images.chunks_exact(shape.input_image()).enumerate() {
                let grad_out = &grad_out[k * image_out..][..image_out];
                let codes = &codes[k * image_out..][..image_out];
                // The pre-activation gradient, plane by plane, and the bias gradient as its sums.
                for (((grad_plane, grad_out), codes), bias_grad) in scratch
                    .pre_activation
                    .chunks_exact_mut(shape.plane())
                    .zip(grad_out.chunks_exact(shape.pooled_plane()))
                    .zip(codes.chunks_exact(shape.pooled_plane()))
                    .zip(bias_grad.iter_mut())
                {
                    pool::backward_plane(grad_out, codes, shape.width, grad_plane);
                    *bias_grad += grad_out
                        .iter()
                        .zip(codes)
                        .filter(|&(_, &code)| code != pool::NO_GRADIENT)
                        .map(|(grad, _)| grad)
                        .sum::<f32>();
                }
                im2col(image, shape, &mut scratch.columns);
                // weight_grad[O × C·9] += grad[O × HW] · columnsᵀ[HW × C·9]
                matmul(
                    &mut weight_grad,
                    true,
                    Matrix::row_major(&scratch.pre_activation, shape.outputs, shape.plane()),
                    Matrix::row_major(&scratch.columns, shape.rows(), shape.plane()).transposed(),
                    Threads::Calling,
                );
                if let Some(input_grad) = input_grad.as_deref_mut() {
                    // columns_grad[C·9 × HW] = weightᵀ[C·9 × O] · grad[O × HW], then col2im.
                    matmul(
                        &mut scratch.columns,
                        false,
                        Matrix::row_major(weight, shape.outputs, shape.rows()).transposed(),
                        Matrix::row_major(&scratch.pre_activation, shape.outputs, shape.plane()),
                        Threads::Calling,
                    );
                    let image_grad =
                        &mut input_grad[k * shape.input_image()..][..shape.input_image()];
                    col2im(&scratch.columns, shape, image_grad);
                }
            }
            (weight_grad, bias_grad)
        })
        .collect();
    let mut weight_grad = vec![0.0; weight.len()];
    let mut bias_grad = vec![0.0; shape.outputs];
    for (weight_part, bias_part) in partials {
        add_assign(&mut weight_grad, &weight_part);
        add_assign(&mut bias_grad, &bias_part);
    }
    BlockGradients {
        input: input_grad,
        weight: weight_grad,
        bias: bias_grad,
    }
}

fn add_assign(sum: &mut [f32], part: &[f32]) {
    sum.iter_mut().zip(part).for_each(|(s, p)| *s += p);
}

fn check_lengths(input: &[f32], weight: &[f32], bias: &[f32], shape: BlockShape) {
    assert_eq!(input.len(), shape.batch * shape.input_image(), "input size");
    assert_eq!(weight.len(), shape.outputs * shape.rows(), "weight size");
    assert_eq!(bias.len(), shape.outputs, "bias size");
}

/// One image's working memory, reused from image to image.
struct Scratch {
    /// `[channels·9, height·width]` (also the columns' gradient in the backward pass).
    columns: Vec<f32>,
    /// `[outputs, height·width]`: the convolution plus bias (its gradient in the backward pass).
    pre_activation: Vec<f32>,
}

impl Scratch {
    fn new(shape: BlockShape) -> Self {
        Scratch {
            columns: vec![0.0; shape.rows() * shape.plane()],
            pre_activation: vec![0.0; shape.outputs * shape.plane()],
        }
    }
}

/// `pre_activation[O × HW] = bias + weight[O × C·9] · columns[C·9 × HW]`.
fn pre_activation(weight: &[f32], bias: &[f32], shape: BlockShape, scratch: &mut Scratch) {
    for (row, &b) in scratch
        .pre_activation
        .chunks_exact_mut(shape.plane())
        .zip(bias)
    {
        row.fill(b);
    }
    matmul(
        &mut scratch.pre_activation,
        true,
        Matrix::row_major(weight, shape.outputs, shape.rows()),
        Matrix::row_major(&scratch.columns, shape.rows(), shape.plane()),
        Threads::Calling,
    );
}

/// The 3×3 neighbourhoods of one `[channels, height, width]` image as rows
/// `channel·9 + kernel row·3 + kernel column` (the order of the weight `[O, C, 3, 3]` flattened)
/// and columns `y·width + x`, zero outside the image ("same" padding).
fn im2col(image: &[f32], shape: BlockShape, columns: &mut [f32]) {
    let (height, width) = (shape.height, shape.width);
    let mut rows = columns.chunks_exact_mut(shape.plane());
    for channel in image.chunks_exact(shape.plane()) {
        for dy in 0..3 {
            for dx in 0..3 {
                let row = rows.next().expect("columns hold channels·9 rows");
                for (y, out) in row.chunks_exact_mut(width).enumerate() {
                    let Some(source_y) = (y + dy).checked_sub(1).filter(|&s| s < height) else {
                        out.fill(0.0);
                        continue;
                    };
                    let source = &channel[source_y * width..][..width];
                    match dx {
                        0 => {
                            out[0] = 0.0;
                            out[1..].copy_from_slice(&source[..width - 1]);
                        }
                        1 => out.copy_from_slice(source),
                        _ => {
                            out[..width - 1].copy_from_slice(&source[1..]);
                            out[width - 1] = 0.0;
                        }
                    }
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: adds each column entry back onto the pixel it was copied from.
/// `image_grad` must be zero on entry.
fn col2im(columns: &[f32], shape: BlockShape, image_grad: &mut [f32]) {
    let (height, width) = (shape.height, shape.width);
    let mut rows = columns.chunks_exact(shape.plane());
    for channel in image_grad.chunks_exact_mut(shape.plane()) {
        for dy in 0..3 {
            for dx in 0..3 {
                let row = rows.next().expect("columns hold channels·9 rows");
                for (y, source) in row.chunks_exact(width).enumerate() {
                    let Some(target_y) = (y + dy).checked_sub(1).filter(|&t| t < height) else {
                        continue;
                    };
                    let target = &mut channel[target_y * width..][..width];
                    let (target, source) = match dx {
                        0 => (&mut target[..width - 1], &source[1..]),
                        1 => (&mut target[..], source),
                        _ => (&mut target[1..], &source[..width - 1]),
                    };
                    add_assign(target, source);
                }
            }
        }
    }
}

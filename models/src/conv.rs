//! The CNN's "same" convolutions, computed the fastest way each backend offers, where the zoo's
//! fused flex kernel (`kernels::conv_block`, which replaces the whole conv + ReLU + pool block)
//! does not apply: on ndarray, on wgpu, and on flex for shapes the kernel does not take.
//!
//! Burn 0.22's CPU backends are slow at `Conv2d` training (README, "Performance"): both derive
//! the weight gradient as a convolution whose kernel is the whole image, and NdArray's input
//! gradient (a transposed convolution) takes ~10x the forward pass. Written as im2col + one
//! matrix product, the convolution's backward pass is matrix products and slices, which they
//! do well. The weights stay those of Burn's [`Conv2d`], so records, save/load and the other
//! backends are unaffected; `tests/foundation` checks both paths give the same outputs and
//! gradients.

use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::ops::PadMode;

use crate::backend::BackendKind;

/// Where the matrix-product form is faster than [`Conv2d::forward`], as measured with
/// `zoo-bench` on the zoo's CNNs: training on a CPU backend (NdArray 8x, Flex about the same
/// or slightly faster). For inference both CPU backends' own conv is faster than the im2col
/// copies, and GPUs keep their conv kernels.
pub fn prefers_matmul(device: &Device) -> bool {
    device.is_autodiff() && BackendKind::cpu_backend_of(device).is_some()
}

/// `conv` applied to `x` (`[batch, channels, height, width]`), by whichever form is faster on
/// `x`'s device. `conv` must have stride 1, dilation 1, one group and "same" padding of an odd
/// kernel, as the CNN's convolutions do.
pub fn forward(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    if prefers_matmul(&x.device()) {
        same_by_matmul(conv, x)
    } else {
        conv.forward(x)
    }
}

/// The "same" convolution as im2col + one batched matrix product: the k×k shifted copies of
/// the zero-padded input are stacked into `[batch, channels·k·k, height·width]` columns, whose
/// row order (channel, then kernel row, then kernel column) is that of the weight
/// `[outputs, channels, k, k]` flattened, so the weight needs no reordering.
pub fn same_by_matmul(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let [batch, channels, height, width] = x.dims();
    let [outputs, _, kernel_h, kernel_w] = conv.weight.dims();
    let (pad_h, pad_w) = (kernel_h / 2, kernel_w / 2);
    let padded = x.pad([(pad_h, pad_h), (pad_w, pad_w)], PadMode::Constant(0.0));
    let shifted: Vec<Tensor<4>> = (0..kernel_h)
        .flat_map(|i| (0..kernel_w).map(move |j| (i, j)))
        .map(|(i, j)| {
            padded
                .clone()
                .slice([0..batch, 0..channels, i..i + height, j..j + width])
        })
        .collect();
    let columns: Tensor<3> = Tensor::stack::<5>(shifted, 2).reshape([
        batch,
        channels * kernel_h * kernel_w,
        height * width,
    ]);
    let weight: Tensor<3> = conv
        .weight
        .val()
        .reshape([1, outputs, channels * kernel_h * kernel_w]);
    let mut out = weight.matmul(columns);
    if let Some(bias) = &conv.bias {
        out = out + bias.val().reshape([1, outputs, 1]);
    }
    out.reshape([batch, outputs, height, width])
}

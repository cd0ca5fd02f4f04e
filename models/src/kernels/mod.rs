//! The zoo's own CPU kernels for the CNN's and the sparse layer's hot paths on flex, added to Burn through its public
//! backend-extension API (the `extension` feature and `#[backend_extension]`), with hand-written
//! autodiff backward passes. No Burn crate is forked or patched.
//!
//! Why: flex's max-pool is a scalar loop writing an i64 index per output, and flex has no
//! convolution backward of its own (Burn's default derives the weight gradient as a convolution
//! whose kernel is the whole image). README "Performance" has the measurements.
//!
//! - [`max_pool2x2`]: 2×2 stride-2 max-pooling with a one-byte winner per output.
//! - [`conv_block`]: 3×3 "same" convolution + bias + ReLU + 2×2 max-pool in one operation.
//! - [`sparse_product`]: sparse rows × a dense layer's weight, without the intermediate of
//!   Burn's gather-scale-scatter (`crate::sparse::linear`), whose cost in memory traffic made
//!   TF-IDF logistic regression slower than the dense product it replaced.
//!
//! Both return `None` when they do not apply (not flex, not f32, another kind of convolution,
//! a plane smaller than 2×2, or the kernels switched off with [`set_enabled`]), and the caller
//! keeps Burn's layers: every backend still runs every model. The results match Burn's `Conv2d`,
//! `relu` and `MaxPool2d` (`tests/foundation`).

mod conv_block;
mod flex;
mod pool;
mod sparse;

use std::sync::atomic::{AtomicBool, Ordering};

use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::{Backend, Dispatch, backend_extension};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::DType;

use crate::backend::BackendKind;

/// Operations the zoo adds to flex (plain and with autodiff).
#[backend_extension(Autodiff, Flex)]
pub trait ZooKernels: Backend {
    /// `[n, c, h, w]` → `[n, c, h/2, w/2]`: `MaxPool2d` with kernel and stride 2, no padding.
    fn max_pool2x2(x: FloatTensor<Self>) -> FloatTensor<Self>;

    /// `[n, c, h, w]` → `[n, o, h/2, w/2]`: max-pool 2×2 of ReLU of the 3×3 "same" convolution of
    /// `x` with `weight` `[o, c, 3, 3]` and `bias` `[o]`.
    fn conv3x3_relu_pool2x2(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// `[n_rows, d_output]`: sparse rows given by their entries (`rows`, `columns`, `values`,
    /// one each per stored value) times `weight` `[d_input, d_output]`. Differentiates with
    /// respect to the weight only: the values are data.
    fn sparse_product(
        weight: FloatTensor<Self>,
        rows: IntTensor<Self>,
        columns: IntTensor<Self>,
        values: FloatTensor<Self>,
        n_rows: usize,
    ) -> FloatTensor<Self>;
}

static ENABLED: AtomicBool = AtomicBool::new(true);

/// Switches the kernels on (the default) or off for the whole process; off, the CNN runs Burn's
/// own layers on flex too. `zoo-bench --burn-layers` measures what the kernels bring this way.
pub fn set_enabled(enabled: bool) {
    ENABLED.store(enabled, Ordering::Relaxed);
}

/// Whether the kernels are switched on ([`set_enabled`]).
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Whether the kernels can run on `x`: switched on, and an f32 tensor on flex (with or without
/// autodiff).
fn applies_to_f32_on_flex<const D: usize>(x: &Tensor<D>) -> bool {
    enabled()
        && x.dtype() == DType::F32
        && BackendKind::cpu_backend_of(&x.device()) == Some(BackendKind::Flex)
}

/// Whether the image kernels can run on `x`: [`applies_to_f32_on_flex`], with planes that hold
/// at least one 2×2 window.
fn applies_to(x: &Tensor<4>) -> bool {
    let [_, _, height, width] = x.dims();
    height >= 2 && width >= 2 && applies_to_f32_on_flex(x)
}

/// `MaxPool2d` with a 2×2 kernel and stride 2 on flex; `None` where the kernel does not apply.
pub fn max_pool2x2(x: &Tensor<4>) -> Option<Tensor<4>> {
    applies_to(x).then(|| {
        Tensor::from_dispatch(<Dispatch as ZooKernels>::max_pool2x2(
            x.clone().into_dispatch(),
        ))
    })
}

/// `conv` → ReLU → max-pool 2×2 (stride 2) on `x` in one operation on flex; `None` where the
/// kernel does not apply: `conv` must be 3×3 with "same" (or 1-pixel explicit) padding, stride 1,
/// dilation 1, one group and a bias.
pub fn conv_block(conv: &Conv2d, x: &Tensor<4>) -> Option<Tensor<4>> {
    let fits = conv.kernel_size == [3, 3]
        && conv.stride == [1, 1]
        && conv.dilation == [1, 1]
        && conv.groups == 1
        && matches!(
            conv.padding,
            PaddingConfig2d::Same | PaddingConfig2d::Explicit(1, 1, 1, 1)
        )
        && conv.weight.val().dtype() == DType::F32;
    let bias = conv.bias.as_ref().filter(|_| fits && applies_to(x))?;
    Some(Tensor::from_dispatch(
        <Dispatch as ZooKernels>::conv3x3_relu_pool2x2(
            x.clone().into_dispatch(),
            conv.weight.val().into_dispatch(),
            bias.val().into_dispatch(),
        ),
    ))
}

/// `rows · weight` for sparse rows on flex (`[n_rows, d_output]`, no bias); `None` where the
/// kernel does not apply.
pub fn sparse_product(weight: &Tensor<2>, rows: &crate::batch::SparseRows) -> Option<Tensor<2>> {
    (applies_to_f32_on_flex(weight) && applies_to_f32_on_flex(&rows.values)).then(|| {
        Tensor::from_dispatch(<Dispatch as ZooKernels>::sparse_product(
            weight.clone().into_dispatch(),
            rows.rows.clone().into_dispatch(),
            rows.columns.clone().into_dispatch(),
            rows.values.clone().into_dispatch(),
            rows.n_rows,
        ))
    })
}

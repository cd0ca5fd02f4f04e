//! The zoo's own CPU kernels for the CNN's and the sparse layer's hot paths on flex, added to Burn through its public
//! backend-extension API (the `extension` feature and `#[backend_extension]`), with hand-written
//! autodiff backward passes. No Burn crate is forked or patched.
//!
//! Why: flex's max-pool is a scalar loop writing an i64 index per output, and flex has no
//! convolution backward of its own (Burn's default derives the weight gradient as a convolution
//! whose kernel is the whole image). README "Performance" has the measurements.
//!
//! - [`dense`]: a dense layer with its bias, ReLU and dropout in the product's epilogue, keeping
//!   one byte per output for the backward pass instead of the pre-activation and the mask.
//! - [`max_pool2x2`]: 2×2 stride-2 max-pooling with a one-byte winner per output.
//! - [`conv_block`]: 3×3 "same" convolution + bias + ReLU + 2×2 max-pool in one operation.
//! - [`sparse_product`]: sparse rows × a dense layer's weight, without the intermediate of
//!   Burn's gather-scale-scatter (`crate::sparse::linear`), whose cost in memory traffic made
//!   TF-IDF logistic regression slower than the dense product it replaced.
//!
//! - [`adam_step`]: the Adam step in one pass per parameter tensor (moments, bias correction,
//!   update) instead of Burn's chain of whole-tensor operations; [`adam_step_rows`] the same on
//!   the rows of a sparse layer's weight that a batch touches (lazy Adam, [`row_sparse_updates`]).
//!
//! They return `None` when they do not apply (not flex, not f32, another kind of convolution,
//! a plane smaller than 2×2, or the kernels switched off with [`set_enabled`]), and the caller
//! keeps Burn's layers: every backend still runs every model. The results match Burn's `Conv2d`,
//! `relu` and `MaxPool2d` (`tests/foundation`).

mod adam;
mod conv_block;
mod dense;
mod flex;
mod matrix;
mod pool;
mod row_sparse;
mod sparse;

use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, Ordering};

use burn::backend::flex::FlexTensor;
use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::{Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::nn::conv::Conv2d;
use burn::nn::{Dropout, Linear, PaddingConfig2d};
use burn::optim::AdaptiveMomentumState;
use burn::prelude::*;
use burn::tensor::{DType, Distribution};

use crate::backend::BackendKind;

/// Operations the zoo adds to flex (plain and with autodiff).
#[backend_extension(Autodiff, Flex)]
pub trait ZooKernels: Backend {
    /// `[n, inputs]` → `[n, outputs]`: `x · weight + bias` (`weight` `[inputs, outputs]`, as
    /// Burn's `Linear` holds it), then ReLU when `relu`, then dropout when `dropout_probability`
    /// is above 0, its mask drawn from a generator seeded with `dropout_seed`.
    fn dense(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        relu: bool,
        dropout_probability: f64,
        dropout_seed: u64,
    ) -> FloatTensor<Self>;

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

/// Element-wise passes over fewer elements run on the calling thread: the caller is not one of
/// Rayon's threads, so a parallel pass wakes the pool and waits for it, which the MLP's profile
/// showed costing more than passes of this size take.
const ELEMENTWISE_POOL_FROM: usize = 1 << 16;

/// The environment variable that switches the kernels off for a whole process, any zoo binary
/// (`BURN_ZOO_KERNELS=off`; any other value leaves them on): to measure what they bring, or to
/// rule them out when a result looks wrong.
pub const SWITCH_VARIABLE: &str = "BURN_ZOO_KERNELS";

/// `work` run in a pool of `threads` threads: the kernels' tests compare one thread with two.
#[cfg(test)]
fn in_threads<T: Send>(threads: usize, work: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a thread pool")
        .install(work)
}

/// Read from the environment once, at the first kernel call.
static ENABLED: LazyLock<AtomicBool> = LazyLock::new(|| {
    AtomicBool::new(std::env::var_os(SWITCH_VARIABLE).is_none_or(|value| value != "off"))
});

/// Switches the kernels on (the default, unless [`SWITCH_VARIABLE`] says off) or off for the
/// whole process; off, every model runs Burn's own layers and Adam on flex too.
/// `zoo-bench --burn-layers` measures what the kernels bring this way.
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

/// `layer` on `x`, then ReLU when `relu`, then `dropout` where Burn's `Dropout` would apply it
/// (a training device, the layer not frozen, a probability above 0), in one operation on flex;
/// `None` where the kernel does not apply (not flex or not f32, or a layer without a bias).
///
/// The dropout mask is not the one Burn's `Dropout` would draw (the kernel draws from its own
/// generator), but it is as random and as reproducible: its seed comes from the device's
/// generator, which `--seed` seeds.
pub fn dense(
    layer: &Linear,
    x: &Tensor<2>,
    relu: bool,
    dropout: Option<&Dropout>,
) -> Option<Tensor<2>> {
    let weight = layer.weight.val();
    let bias = layer
        .bias
        .as_ref()
        .filter(|_| applies_to_f32_on_flex(x) && weight.dtype() == DType::F32)?;
    let device = x.device();
    let probability = dropout
        .filter(|d| d.training.is_enabled() && device.is_autodiff())
        .map_or(0.0, |d| d.prob);
    let seed = if probability > 0.0 {
        dropout_seed(&device)
    } else {
        0
    };
    Some(Tensor::from_dispatch(<Dispatch as ZooKernels>::dense(
        x.clone().into_dispatch(),
        weight.into_dispatch(),
        bias.val().into_dispatch(),
        relu,
        probability,
        seed,
    )))
}

/// A seed for one dropout mask, drawn from `device`'s generator.
fn dropout_seed(device: &Device) -> u64 {
    let draws = Tensor::<1>::random([3], Distribution::Default, device)
        .into_data()
        .try_to_vec::<f32>()
        .expect("a float tensor reads back as f32");
    draws.iter().fold(0, |seed, draw| {
        seed.rotate_left(23) ^ u64::from(draw.to_bits())
    })
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

pub use adam::AdamStep;

/// Whether [`adam_step`] can update `param`: the kernels switched on, and the parameter, its
/// gradient and any moments f32 tensors on flex without autodiff (what an optimizer receives),
/// without AMSGrad's extra moment.
pub fn adam_applies<const D: usize>(
    param: &Tensor<D>,
    grad: &Tensor<D>,
    momentum: Option<&AdaptiveMomentumState<D>>,
) -> bool {
    let plain_f32 = |t: &Tensor<D>| applies_to_f32_on_flex(t) && !t.device().is_autodiff();
    plain_f32(param)
        && plain_f32(grad)
        && momentum.is_none_or(|m| {
            plain_f32(&m.moment_1) && plain_f32(&m.moment_2) && m.max_moment_2.is_none()
        })
}

/// One Adam step of `param` from `grad` in one pass (`AdamStep::time` is ignored: it follows
/// `momentum`, 1 without): the updated parameter and moments, as Burn's `Adam` computes them.
/// The caller checks [`adam_applies`] first.
pub fn adam_step<const D: usize>(
    param: Tensor<D>,
    grad: Tensor<D>,
    momentum: Option<AdaptiveMomentumState<D>>,
    hyper: AdamStep,
) -> (Tensor<D>, AdaptiveMomentumState<D>) {
    let grad = grad
        .try_into_primitive::<Flex>()
        .expect("adam_applies checked that the tensors live on flex");
    in_place_adam(
        param,
        momentum,
        hyper,
        |param, moment_1, moment_2, hyper, first_step| {
            let grad = flex::elements(&grad);
            adam::step(param, &grad, moment_1, moment_2, hyper, first_step)
        },
    )
}

/// What [`adam_step`] and [`adam_step_rows`] share: `param` and its moments (zeros on the first
/// step) as f32 slices to update in place, this step's number in `hyper`, and the updated
/// tensors and state back. The tensors are on flex (the callers' checks).
fn in_place_adam<const D: usize>(
    param: Tensor<D>,
    momentum: Option<AdaptiveMomentumState<D>>,
    hyper: AdamStep,
    update: impl FnOnce(&mut [f32], &mut [f32], &mut [f32], AdamStep, bool),
) -> (Tensor<D>, AdaptiveMomentumState<D>) {
    let shape = param.shape();
    let flex = |t: Tensor<D>| {
        t.try_into_primitive::<Flex>()
            .expect("the fused Adam steps take tensors on flex")
    };
    let param = flex(param);
    let first_step = momentum.is_none();
    let (time, moment_1, moment_2) = match momentum {
        Some(m) => (m.time + 1, flex(m.moment_1), flex(m.moment_2)),
        None => {
            let zeros = || FlexTensor::zeros(shape.clone(), DType::F32);
            (1, zeros(), zeros())
        }
    };
    let [mut param, mut moment_1, mut moment_2] = [param, moment_1, moment_2].map(exclusive);
    update(
        param.storage_mut(),
        moment_1.storage_mut(),
        moment_2.storage_mut(),
        AdamStep { time, ..hyper },
        first_step,
    );
    let tensor = |t: FlexTensor| Tensor::from_primitive::<Flex>(t);
    (
        tensor(param),
        AdaptiveMomentumState::new(time, tensor(moment_1), tensor(moment_2)),
    )
}

pub use row_sparse::{RowGradient, updates as row_sparse_updates};

/// The row-sparse gradient `grad` stands for (see [`row_sparse_updates`]), taken: the caller
/// must apply it with [`adam_step_rows`].
pub fn take_row_gradient<const D: usize>(grad: &Tensor<D>) -> Option<RowGradient> {
    let grad = grad.clone().try_into_primitive::<Flex>().ok()?;
    row_sparse::take(&grad)
}

/// One lazy Adam step of `param` (`[rows, width]`, on flex, as its moments): the rows of
/// `gradient` take [`adam_step`]'s step, the others keep their weights and moments.
pub fn adam_step_rows<const D: usize>(
    param: Tensor<D>,
    gradient: RowGradient,
    momentum: Option<AdaptiveMomentumState<D>>,
    hyper: AdamStep,
) -> (Tensor<D>, AdaptiveMomentumState<D>) {
    let width = param.dims()[D - 1];
    in_place_adam(
        param,
        momentum,
        hyper,
        |param, moment_1, moment_2, hyper, first_step| {
            adam::step_rows(
                param,
                &gradient.rows,
                &gradient.values,
                width,
                moment_1,
                moment_2,
                hyper,
                first_step,
            )
        },
    )
}

/// `tensor` as the only owner of a buffer holding exactly its elements in order (moved as it is
/// when it already is one, copied otherwise), so that it can be written in place.
fn exclusive(tensor: FlexTensor) -> FlexTensor {
    let whole = tensor
        .as_slice::<f32>()
        .is_some_and(|s| std::mem::size_of_val(s) == tensor.bytes().len());
    if whole && tensor.is_unique() {
        tensor
    } else {
        let shape = tensor.shape();
        FlexTensor::from_data(TensorData::new(flex::elements(&tensor).into_owned(), shape))
    }
}

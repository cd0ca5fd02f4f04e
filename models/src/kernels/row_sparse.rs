//! Row-sparse weight gradients, handed from the sparse product's backward pass to the zoo's Adam
//! without a dense gradient in between: lazy Adam, as PyTorch's `SparseAdam` and TensorFlow
//! Addons' `LazyAdam`.
//!
//! The weight gradient of a sparse layer is zero but for the rows of the batch's terms (about
//! 1,500 of 100,000 for 32 texts). As a dense tensor it costs a zeroed buffer of the weight's
//! size per step, and Adam then reads and writes the weight, both moments and the gradient in
//! full: about 180 MB of memory traffic per step for 100,000 terms × 64, where the rows of the
//! batch are 0.4 MB. Inside [`updates`], the backward pass registers for the weight a marker
//! instead (one zero broadcast to the weight's shape, no allocation) and keeps the nonzero rows
//! here, keyed by the marker's address; the zoo's Adam takes them back and steps those rows only.
//!
//! Semantics (lazy moments): a row in the batch takes exactly Adam's step (the step count `t`
//! counts every step, as the dense step's bias correction does); a row not in the batch keeps
//! its weights and both moments unchanged, where dense Adam would decay its moments and go on
//! moving it by its momentum. The first step is the same either way.
//!
//! Only the step that sets it up may consume the markers: anything that added to one (an L2
//! penalty's gradient, another device's shard) would lose the rows. So [`updates`] is used only
//! where the sparse product's gradient goes straight to the zoo's Adam, and it checks that every
//! row-sparse gradient it produced was applied.

use std::cell::RefCell;

use burn::backend::flex::{FlexTensor, Layout};
use burn::prelude::Shape;
use burn::tensor::TensorData;

/// The nonzero rows of a weight's gradient.
#[derive(Debug)]
pub struct RowGradient {
    /// The rows, increasing.
    pub rows: Vec<usize>,
    /// Their gradients, `[rows.len(), width]`.
    pub values: Vec<f32>,
}

thread_local! {
    /// `None` outside [`updates`]; inside, the row-sparse gradients registered and not yet
    /// applied, by the address of their marker's one element.
    static PENDING: RefCell<Option<Vec<(usize, RowGradient)>>> = const { RefCell::new(None) };
}

/// Runs `step`, a backward pass and the zoo's Adam step on this thread, with sparse layers'
/// weight gradients kept row-sparse; panics if one of them was not applied (a step that added to
/// one would have lost it).
pub fn updates<R>(step: impl FnOnce() -> R) -> R {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            PENDING.set(None);
        }
    }
    let _reset = Reset;
    PENDING.set(Some(Vec::new()));
    let result = step();
    let left = PENDING.take().map_or(0, |pending| pending.len());
    assert_eq!(left, 0, "row-sparse gradients the optimizer did not apply");
    result
}

/// Whether a backward pass running now may register row-sparse gradients.
pub(super) fn wanted() -> bool {
    PENDING.with_borrow(Option::is_some)
}

/// Keeps `gradient` for the weight of `shape` and returns the marker to register as its
/// gradient. Call only when [`wanted`].
pub(super) fn register(gradient: RowGradient, shape: [usize; 2]) -> FlexTensor {
    let zero = FlexTensor::from_data(TensorData::new(vec![0.0f32], [1]));
    let marker = zero.with_layout(Layout::new(Shape::new(shape), vec![0, 0], 0));
    let key = address(&marker);
    PENDING.with_borrow_mut(|pending| {
        pending
            .as_mut()
            .expect("register only when row-sparse gradients are wanted")
            .push((key, gradient))
    });
    marker
}

/// The row-sparse gradient whose marker `grad` is, taken out of the pending ones.
pub(super) fn take(grad: &FlexTensor) -> Option<RowGradient> {
    if grad.layout().strides().iter().any(|&s| s != 0) {
        return None;
    }
    let key = address(grad);
    PENDING.with_borrow_mut(|pending| {
        let pending = pending.as_mut()?;
        let at = pending.iter().position(|(k, _)| *k == key)?;
        Some(pending.swap_remove(at).1)
    })
}

fn address(tensor: &FlexTensor) -> usize {
    tensor.bytes().as_ptr() as usize
}

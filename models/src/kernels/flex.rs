//! [`ZooKernels`] on flex tensors: the plain forward passes, and for `Autodiff<Flex>` the same
//! forward passes recorded with hand-written backward steps.

use std::borrow::Cow;
use std::sync::Arc;

use burn::backend::Flex;
use burn::backend::TensorMetadata;
use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::tensor::{DType, TensorData};
use rayon::prelude::*;

use super::ZooKernels;
use super::conv_block::{self, BlockShape};
use super::dense::{self, DenseShape, DropoutDraw, Epilogue};
use super::pool;
use super::row_sparse::{self, RowGradient};
use super::sparse::{self, Entries};

/// The tensor's f32 elements in row-major order, borrowed when it is already laid out so (a
/// broadcast gradient, say, is not).
pub(super) fn elements(tensor: &FlexTensor) -> Cow<'_, [f32]> {
    match tensor.as_slice::<f32>() {
        Some(slice) => Cow::Borrowed(slice),
        None => Cow::Owned(
            tensor
                .to_contiguous()
                .as_slice::<f32>()
                .expect("the zoo's kernels take f32 tensors (`kernels::applies_to` checks)")
                .to_vec(),
        ),
    }
}

fn dims<const D: usize>(tensor: &FlexTensor) -> [usize; D] {
    tensor.shape().dims::<D>()
}

fn flex_tensor<const D: usize>(values: Vec<f32>, shape: [usize; D]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

/// Max-pooling of every `[h, w]` plane of `x` (`[n, c, h, w]`): the output and the winners.
fn pool_forward(x: &FlexTensor) -> (FlexTensor, Arc<[u8]>) {
    let [n, c, h, w] = dims(x);
    let (pooled_h, pooled_w) = (h / 2, w / 2);
    let input = elements(x);
    let mut out = vec![0.0; n * c * pooled_h * pooled_w];
    let mut codes = vec![0; out.len()];
    if !out.is_empty() {
        out.par_chunks_mut(pooled_h * pooled_w)
            .zip(codes.par_chunks_mut(pooled_h * pooled_w))
            .zip(input.par_chunks(h * w))
            .for_each(|((out, codes), plane)| pool::forward_plane::<false>(plane, w, out, codes));
    }
    (flex_tensor(out, [n, c, pooled_h, pooled_w]), codes.into())
}

/// An integer tensor's elements as indices.
fn indices(tensor: &FlexTensor) -> Vec<usize> {
    let tensor = tensor.to_contiguous();
    match tensor.dtype() {
        DType::I64 => tensor
            .as_slice::<i64>()
            .map(|s| s.iter().map(|&i| i as usize).collect()),
        DType::I32 => tensor
            .as_slice::<i32>()
            .map(|s| s.iter().map(|&i| i as usize).collect()),
        _ => None,
    }
    .expect("sparse rows index with i64 or i32 tensors")
}

/// What the sparse product keeps for its backward pass: the entries, and the weight's shape.
#[derive(Clone, Debug)]
struct SparseState {
    rows: Arc<[usize]>,
    columns: Arc<[usize]>,
    values: Arc<[f32]>,
    weight_dims: [usize; 2],
}

impl SparseState {
    fn new(
        weight: &FlexTensor,
        rows: &FlexTensor,
        columns: &FlexTensor,
        values: &FlexTensor,
    ) -> Self {
        let state = SparseState {
            rows: indices(rows).into(),
            columns: indices(columns).into(),
            values: elements(values).into(),
            weight_dims: dims(weight),
        };
        let [d_input, _] = state.weight_dims;
        assert!(
            state.columns.iter().all(|&c| c < d_input),
            "sparse_product: a column is out of range for {d_input} weight rows"
        );
        state
    }

    fn entries(&self) -> Entries<'_> {
        Entries {
            rows: &self.rows,
            columns: &self.columns,
            values: &self.values,
        }
    }

    fn forward(&self, weight: &FlexTensor, n_rows: usize) -> FlexTensor {
        assert!(
            self.rows.iter().all(|&r| r < n_rows),
            "sparse_product: a row is out of range for {n_rows} rows"
        );
        let [_, d_output] = self.weight_dims;
        let out = sparse::forward(&elements(weight), d_output, &self.entries(), n_rows);
        flex_tensor(out, [n_rows, d_output])
    }
}

fn block_shape(x: &FlexTensor, weight: &FlexTensor) -> BlockShape {
    let [batch, channels, height, width] = dims(x);
    let [outputs, weight_channels, 3, 3] = dims(weight) else {
        panic!("conv3x3_relu_pool2x2: the weight must be [outputs, channels, 3, 3]");
    };
    assert_eq!(
        weight_channels, channels,
        "conv3x3_relu_pool2x2: channels differ"
    );
    BlockShape {
        batch,
        channels,
        height,
        width,
        outputs,
    }
}

fn block_forward(
    x: &FlexTensor,
    weight: &FlexTensor,
    bias: &FlexTensor,
) -> (FlexTensor, Arc<[u8]>) {
    let shape = block_shape(x, weight);
    let (out, codes) = conv_block::forward(&elements(x), &elements(weight), &elements(bias), shape);
    let [pooled_h, pooled_w] = shape.pooled();
    (
        flex_tensor(out, [shape.batch, shape.outputs, pooled_h, pooled_w]),
        codes.into(),
    )
}

fn dense_shape(x: &FlexTensor, weight: &FlexTensor) -> DenseShape {
    let [rows, inputs] = dims(x);
    let [weight_inputs, outputs] = dims(weight);
    assert_eq!(
        weight_inputs, inputs,
        "dense: the weight's rows differ from the inputs"
    );
    DenseShape {
        rows,
        inputs,
        outputs,
    }
}

/// What `dense` was asked to do after the product.
fn epilogue(relu: bool, dropout_probability: f64, dropout_seed: u64) -> Epilogue {
    Epilogue {
        relu,
        dropout: (dropout_probability > 0.0).then_some(DropoutDraw {
            probability: dropout_probability,
            seed: dropout_seed,
        }),
    }
}

/// What the dense layer's backward pass keeps: the input, the weight, where gradients pass
/// (after ReLU or dropout) and the dropout's scale.
#[derive(Clone, Debug)]
struct DenseState {
    x: FlexTensor,
    weight: FlexTensor,
    passes: Option<Arc<[u8]>>,
    scale: f32,
}

/// The dense layer's output, and what its backward pass needs (where gradients pass only when
/// `record_passes`).
fn dense_forward(
    x: FlexTensor,
    weight: FlexTensor,
    bias: &FlexTensor,
    epilogue: Epilogue,
    record_passes: bool,
) -> (FlexTensor, DenseState) {
    let shape = dense_shape(&x, &weight);
    let (out, passes) = dense::forward(
        &elements(&x),
        &elements(&weight),
        &elements(bias),
        shape,
        epilogue,
        record_passes,
    );
    let state = DenseState {
        x,
        weight,
        passes: passes.map(Into::into),
        scale: epilogue.dropout.map_or(1.0, |d| d.scale()),
    };
    (flex_tensor(out, [shape.rows, shape.outputs]), state)
}

impl ZooKernels for Flex {
    fn dense(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        relu: bool,
        dropout_probability: f64,
        dropout_seed: u64,
    ) -> FloatTensor<Self> {
        let epilogue = epilogue(relu, dropout_probability, dropout_seed);
        dense_forward(x, weight, &bias, epilogue, false).0
    }

    fn max_pool2x2(x: FloatTensor<Self>) -> FloatTensor<Self> {
        pool_forward(&x).0
    }

    fn conv3x3_relu_pool2x2(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        block_forward(&x, &weight, &bias).0
    }

    fn sparse_product(
        weight: FloatTensor<Self>,
        rows: IntTensor<Self>,
        columns: IntTensor<Self>,
        values: FloatTensor<Self>,
        n_rows: usize,
    ) -> FloatTensor<Self> {
        SparseState::new(&weight, &rows, &columns, &values).forward(&weight, n_rows)
    }
}

#[derive(Debug)]
struct SparseProductBackward;

impl Backward<Flex, 1> for SparseProductBackward {
    type State = SparseState;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad_out = grads.consume::<Flex>(&ops.node);
        let [Some(weight_node)] = ops.parents else {
            return;
        };
        let state = ops.state;
        let [d_input, d_output] = state.weight_dims;
        let grad_out = elements(&grad_out);
        let grad = if row_sparse::wanted() {
            let (rows, values) =
                sparse::weight_gradient_rows(&grad_out, d_output, &state.entries());
            row_sparse::register(RowGradient { rows, values }, state.weight_dims)
        } else {
            let grad = sparse::weight_gradient(&grad_out, d_input, d_output, &state.entries());
            flex_tensor(grad, state.weight_dims)
        };
        grads.register::<Flex>(weight_node.id, grad);
    }
}

#[derive(Debug)]
struct DenseBackward;

impl Backward<Flex, 3> for DenseBackward {
    type State = DenseState;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad_out = grads.consume::<Flex>(&ops.node);
        let [x_node, weight_node, bias_node] = ops.parents;
        let state = ops.state;
        let shape = dense_shape(&state.x, &state.weight);
        let gradients = dense::backward(
            &elements(&state.x),
            &elements(&state.weight),
            &elements(&grad_out),
            state.passes.as_deref(),
            state.scale,
            shape,
            x_node.is_some(),
        );
        if let (Some(node), Some(input)) = (x_node, gradients.input) {
            grads.register::<Flex>(node.id, flex_tensor(input, [shape.rows, shape.inputs]));
        }
        if let Some(node) = weight_node {
            grads.register::<Flex>(
                node.id,
                flex_tensor(gradients.weight, [shape.inputs, shape.outputs]),
            );
        }
        if let Some(node) = bias_node {
            grads.register::<Flex>(node.id, flex_tensor(gradients.bias, [shape.outputs]));
        }
    }
}

#[derive(Debug)]
struct MaxPool2x2Backward;

impl Backward<Flex, 1> for MaxPool2x2Backward {
    /// The input's shape and the winner of each window.
    type State = ([usize; 4], Arc<[u8]>);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad_out = grads.consume::<Flex>(&ops.node);
        let [Some(parent)] = ops.parents else {
            return;
        };
        let ([n, c, h, w], codes) = ops.state;
        let pooled_plane = (h / 2) * (w / 2);
        let grad_out = elements(&grad_out);
        let mut grad_in = vec![0.0; n * c * h * w];
        if pooled_plane > 0 {
            grad_in
                .par_chunks_mut(h * w)
                .zip(grad_out.par_chunks(pooled_plane))
                .zip(codes.par_chunks(pooled_plane))
                .for_each(|((grad_in, grad_out), codes)| {
                    pool::backward_plane(grad_out, codes, w, grad_in)
                });
        }
        grads.register::<Flex>(parent.id, flex_tensor(grad_in, [n, c, h, w]));
    }
}

#[derive(Debug)]
struct ConvBlockBackward;

impl Backward<Flex, 3> for ConvBlockBackward {
    /// The input, the weight and the winner of each window (ReLU-clipped ones marked).
    type State = (FlexTensor, FlexTensor, Arc<[u8]>);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad_out = grads.consume::<Flex>(&ops.node);
        let [x_node, weight_node, bias_node] = ops.parents;
        let (x, weight, codes) = ops.state;
        let shape = block_shape(&x, &weight);
        let gradients = conv_block::backward(
            &elements(&x),
            &elements(&weight),
            &elements(&grad_out),
            &codes,
            shape,
            x_node.is_some(),
        );
        if let (Some(node), Some(input)) = (x_node, gradients.input) {
            grads.register::<Flex>(node.id, flex_tensor(input, dims::<4>(&x)));
        }
        if let Some(node) = weight_node {
            grads.register::<Flex>(node.id, flex_tensor(gradients.weight, dims::<4>(&weight)));
        }
        if let Some(node) = bias_node {
            grads.register::<Flex>(node.id, flex_tensor(gradients.bias, [shape.outputs]));
        }
    }
}

impl<C: CheckpointStrategy> ZooKernels for Autodiff<Flex, C> {
    fn dense(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        relu: bool,
        dropout_probability: f64,
        dropout_seed: u64,
    ) -> FloatTensor<Self> {
        let prepared = DenseBackward
            .prepare::<C>([x.node(), weight.node(), bias.node()])
            .compute_bound()
            .stateful();
        let epilogue = epilogue(relu, dropout_probability, dropout_seed);
        let tracked = matches!(prepared, OpsKind::Tracked(_));
        let (out, state) = dense_forward(
            x.into_primitive(),
            weight.into_primitive(),
            &bias.into_primitive(),
            epilogue,
            tracked,
        );
        match prepared {
            OpsKind::Tracked(prep) => prep.finish(state, out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }

    fn max_pool2x2(x: FloatTensor<Self>) -> FloatTensor<Self> {
        match MaxPool2x2Backward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let x = x.into_primitive();
                let (out, codes) = pool_forward(&x);
                prep.finish((dims(&x), codes), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(pool_forward(&x.into_primitive()).0),
        }
    }

    fn conv3x3_relu_pool2x2(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let prepared = ConvBlockBackward
            .prepare::<C>([x.node(), weight.node(), bias.node()])
            .compute_bound()
            .stateful();
        let (x, weight, bias) = (
            x.into_primitive(),
            weight.into_primitive(),
            bias.into_primitive(),
        );
        let (out, codes) = block_forward(&x, &weight, &bias);
        match prepared {
            OpsKind::Tracked(prep) => prep.finish((x, weight, codes), out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }

    fn sparse_product(
        weight: FloatTensor<Self>,
        rows: IntTensor<Self>,
        columns: IntTensor<Self>,
        values: FloatTensor<Self>,
        n_rows: usize,
    ) -> FloatTensor<Self> {
        // Only the weight is a parent: the values are data, never trained.
        let prepared = SparseProductBackward
            .prepare::<C>([weight.node()])
            .compute_bound()
            .stateful();
        let weight = weight.into_primitive();
        let state = SparseState::new(&weight, &rows, &columns, &values.into_primitive());
        let out = state.forward(&weight, n_rows);
        match prepared {
            OpsKind::Tracked(prep) => prep.finish(state, out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }
}

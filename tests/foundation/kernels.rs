//! The zoo's flex kernels (`zoo_models::kernels`) against Burn's own layers: outputs and input,
//! weight and bias gradients, on random shapes, ties, ReLU-clipped windows and NaN; the dense
//! kernel's dropout and its independence from the number of threads.
#![cfg(feature = "flex")]

use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::MaxPool2dConfig;
use burn::nn::{DropoutConfig, Linear, LinearConfig, PaddingConfig2d, Relu};
use burn::prelude::*;
use rand::Rng;
use zoo_models::backend::BackendKind;
use zoo_models::cnn::SmallCnnConfig;
use zoo_models::kernels;
use zoo_tests::{cpu_backends, exclusive_rng, rng, wgpu_device};

/// `[batch, channels, height, width]` of an input, and the block's output channels.
#[derive(Clone, Copy, Debug)]
struct Case {
    batch: usize,
    channels: usize,
    outputs: usize,
    height: usize,
    width: usize,
}

impl Case {
    fn input(&self) -> [usize; 4] {
        [self.batch, self.channels, self.height, self.width]
    }

    fn weight(&self) -> [usize; 4] {
        [self.outputs, self.channels, 3, 3]
    }

    fn pooled(&self, channels: usize) -> [usize; 4] {
        [self.batch, channels, self.height / 2, self.width / 2]
    }
}

/// Random shapes covering batch 1, odd batches and more than 8 images (the backward pass sums
/// weight gradients in groups of 8), 1, 3 and 16 input channels, odd heights and widths, and
/// rows of fewer and of more than 8 windows (pooling works on 8 windows at a time).
fn cases(seed: u64) -> Vec<Case> {
    let mut rng = rng(seed);
    let mut cases = Vec::new();
    for batch in [1, 3, 17] {
        for channels in [1, 3, 16] {
            cases.push(Case {
                batch,
                channels,
                outputs: rng.random_range(1..=8),
                height: rng.random_range(2..=11),
                width: rng.random_range(2..=40),
            });
        }
    }
    cases
}

/// How test values are drawn.
#[derive(Clone, Copy)]
enum Values {
    /// -2..=2: every sum is exact in f32 whatever the order of summation, so pooling windows
    /// hold exact ties that both sides must break alike, and many windows are all negative.
    SmallIntegers,
    /// Uniform in [-1, 1).
    Continuous,
}

impl Values {
    fn draw(self, rng: &mut impl Rng) -> f32 {
        match self {
            Values::SmallIntegers => rng.random_range(-2..=2) as f32,
            Values::Continuous => rng.random_range(-1.0..1.0),
        }
    }
}

fn data(shape: [usize; 4], rng: &mut impl Rng, values: Values) -> TensorData {
    let n = shape.iter().product();
    TensorData::new(
        (0..n).map(|_| values.draw(rng)).collect::<Vec<f32>>(),
        shape,
    )
}

fn bias(outputs: usize, rng: &mut impl Rng, values: Values) -> Vec<f32> {
    (0..outputs).map(|_| values.draw(rng)).collect()
}

/// Element-wise agreement, NaN matching NaN.
fn assert_close(what: &str, ours: Tensor<4>, reference: Tensor<4>) {
    assert_eq!(ours.dims(), reference.dims(), "{what}: shapes");
    let ours = ours.into_data().try_to_vec::<f32>().unwrap();
    let reference = reference.into_data().try_to_vec::<f32>().unwrap();
    for (i, (a, b)) in ours.iter().zip(&reference).enumerate() {
        let same = (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-4 * (1.0 + b.abs());
        assert!(same, "{what}: element {i} is {a}, Burn gives {b}");
    }
}

fn conv_with(weight: &TensorData, bias: &[f32], device: &Device) -> Conv2d {
    let [outputs, channels, ..] = weight.shape().dims::<4>();
    let mut conv = Conv2dConfig::new([channels, outputs], [3, 3])
        .with_padding(PaddingConfig2d::Same)
        .init(device);
    conv.weight = Param::from_tensor(Tensor::from_data(weight.clone(), device));
    conv.bias = Some(Param::from_tensor(Tensor::from_floats(bias, device)));
    conv
}

/// The block's output and the gradients of a weighted sum of it (every output position counts
/// differently): input (when `input_needs_grad`), weight and bias.
struct Outcome {
    output: Tensor<4>,
    input_grad: Option<Tensor<4>>,
    weight_grad: Tensor<4>,
    bias_grad: Tensor<4>,
}

fn run_block(
    device: &Device,
    x: &TensorData,
    weight: &TensorData,
    bias: &[f32],
    output_weights: &TensorData,
    input_needs_grad: bool,
    block: impl Fn(&Conv2d, Tensor<4>) -> Tensor<4>,
) -> Outcome {
    let device = device.clone().autodiff();
    let conv = conv_with(weight, bias, &device);
    let mut x = Tensor::<4>::from_data(x.clone(), &device);
    if input_needs_grad {
        x = x.require_grad();
    }
    let y = block(&conv, x.clone());
    let grads = (y.clone() * Tensor::from_data(output_weights.clone(), &device))
        .sum()
        .backward();
    let bias_grad = conv.bias.as_ref().unwrap().val().grad(&grads).unwrap();
    Outcome {
        output: y.inner(),
        input_grad: x.grad(&grads),
        weight_grad: conv.weight.val().grad(&grads).unwrap(),
        bias_grad: bias_grad.reshape([1, 1, 1, -1]),
    }
}

fn burn_block(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let pool = MaxPool2dConfig::new([2, 2]).init();
    pool.forward(Relu::new().forward(conv.forward(x)))
}

fn kernel_block(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    kernels::conv_block(conv, &x).expect("the fused kernel applies on flex")
}

fn flex() -> Device {
    BackendKind::Flex.device().unwrap()
}

/// Runs the fused kernel on flex and Burn's layers on every CPU backend, and compares.
fn check_block(case: Case, x: &TensorData, weight: &TensorData, bias: &[f32], seed: u64) {
    let output_weights = data(
        case.pooled(case.outputs),
        &mut rng(seed),
        Values::Continuous,
    );
    for input_needs_grad in [true, false] {
        let ours = run_block(
            &flex(),
            x,
            weight,
            bias,
            &output_weights,
            input_needs_grad,
            kernel_block,
        );
        for (backend, device) in cpu_backends() {
            let what =
                |part: &str| format!("{case:?} input grad {input_needs_grad}, {part} vs {backend}");
            let burn = run_block(
                &device,
                x,
                weight,
                bias,
                &output_weights,
                input_needs_grad,
                burn_block,
            );
            assert_close(&what("output"), ours.output.clone(), burn.output);
            assert_close(
                &what("weight grad"),
                ours.weight_grad.clone(),
                burn.weight_grad,
            );
            assert_close(&what("bias grad"), ours.bias_grad.clone(), burn.bias_grad);
            match (&ours.input_grad, burn.input_grad) {
                (Some(a), Some(b)) => assert_close(&what("input grad"), a.clone(), b),
                (None, None) => assert!(!input_needs_grad),
                _ => panic!(
                    "{}: only one side has an input gradient",
                    what("input grad")
                ),
            }
        }
    }
    // The inference path (no autodiff) runs the same forward pass.
    let conv = conv_with(weight, bias, &flex());
    let x = Tensor::<4>::from_data(x.clone(), &flex());
    assert_close(
        &format!("{case:?} inference"),
        kernel_block(&conv, x.clone()),
        burn_block(&conv, x),
    );
}

/// [`check_block`] on the random cases drawn with `seed`, inputs and parameters from `values`.
fn check_random_blocks(seed: u64, values: Values) {
    for (k, case) in cases(seed).into_iter().enumerate() {
        let mut rng = rng(100 * seed + k as u64);
        let x = data(case.input(), &mut rng, values);
        let weight = data(case.weight(), &mut rng, values);
        let bias = bias(case.outputs, &mut rng, values);
        check_block(case, &x, &weight, &bias, k as u64);
    }
}

#[test]
fn fused_block_matches_conv2d_relu_max_pool_with_exact_ties() {
    let _rng = exclusive_rng();
    check_random_blocks(1, Values::SmallIntegers);
}

#[test]
fn fused_block_matches_on_continuous_values() {
    let _rng = exclusive_rng();
    check_random_blocks(2, Values::Continuous);
}

#[test]
fn fused_block_clips_negative_only_windows_and_passes_no_gradient_through_them() {
    let _rng = exclusive_rng();
    let case = Case {
        batch: 3,
        channels: 3,
        outputs: 4,
        height: 6,
        width: 7,
    };
    let mut rng = rng(3);
    let x = data(case.input(), &mut rng, Values::SmallIntegers);
    let weight = data(case.weight(), &mut rng, Values::SmallIntegers);
    // Two channels whose every pre-activation is negative, two mixed.
    let bias = [-1000.0, 0.0, -1000.0, 1.0];
    check_block(case, &x, &weight, &bias, 3);
    let ours = run_block(
        &flex(),
        &x,
        &weight,
        &bias,
        &data(case.pooled(case.outputs), &mut rng, Values::Continuous),
        true,
        kernel_block,
    );
    let clipped = ours.output.clone().slice([0..3, 0..1, 0..3, 0..3]);
    assert_eq!(clipped.abs().max().into_scalar::<f32>(), 0.0);
    let weight_grad = ours.weight_grad.slice([0..1, 0..3, 0..3, 0..3]);
    assert_eq!(weight_grad.abs().max().into_scalar::<f32>(), 0.0);
}

#[test]
fn fused_block_propagates_nan_like_burn_on_flex() {
    let _rng = exclusive_rng();
    let case = Case {
        batch: 2,
        channels: 3,
        outputs: 3,
        height: 6,
        width: 6,
    };
    let mut rng = rng(4);
    let mut values = data(case.input(), &mut rng, Values::SmallIntegers)
        .try_to_vec::<f32>()
        .unwrap();
    values[7] = f32::NAN;
    values[80] = f32::NAN;
    let x = TensorData::new(values, case.input());
    let weight = data(case.weight(), &mut rng, Values::SmallIntegers);
    let output_weights = data(case.pooled(case.outputs), &mut rng, Values::Continuous);
    let run = |block: fn(&Conv2d, Tensor<4>) -> Tensor<4>| {
        run_block(
            &flex(),
            &x,
            &weight,
            &[0.5, -0.5, 1.0],
            &output_weights,
            true,
            block,
        )
    };
    let (ours, burn) = (run(kernel_block), run(burn_block));
    let nan_outputs = ours
        .output
        .clone()
        .is_nan()
        .int()
        .sum()
        .into_scalar::<i64>();
    assert!(nan_outputs > 0, "the NaN inputs reach the output");
    assert_close("output", ours.output, burn.output);
    assert_close(
        "input grad",
        ours.input_grad.unwrap(),
        burn.input_grad.unwrap(),
    );
    assert_close("weight grad", ours.weight_grad, burn.weight_grad);
    assert_close("bias grad", ours.bias_grad, burn.bias_grad);
}

/// `MaxPool2d` 2×2 by the kernel on flex and by Burn on `device`: output and input gradient.
fn pool_outcome(
    device: &Device,
    x: &TensorData,
    output_weights: &TensorData,
    ours: bool,
) -> [Tensor<4>; 2] {
    let device = device.clone().autodiff();
    let x = Tensor::<4>::from_data(x.clone(), &device).require_grad();
    let y = if ours {
        kernels::max_pool2x2(&x).expect("the pooling kernel applies on flex")
    } else {
        MaxPool2dConfig::new([2, 2]).init().forward(x.clone())
    };
    let grads = (y.clone() * Tensor::from_data(output_weights.clone(), &device))
        .sum()
        .backward();
    [y.inner(), x.grad(&grads).unwrap()]
}

#[test]
fn max_pool_matches_burns_max_pool2d_with_ties_and_odd_sizes() {
    let _rng = exclusive_rng();
    for (k, case) in cases(5).into_iter().enumerate() {
        let mut rng = rng(500 + k as u64);
        // Few distinct values: most windows hold ties, some hold only negatives.
        let x = data(case.input(), &mut rng, Values::SmallIntegers);
        let output_weights = data(case.pooled(case.channels), &mut rng, Values::Continuous);
        let [output, grad] = pool_outcome(&flex(), &x, &output_weights, true);
        for (backend, device) in cpu_backends() {
            let [burn_output, burn_grad] = pool_outcome(&device, &x, &output_weights, false);
            assert_close(
                &format!("{case:?} output vs {backend}"),
                output.clone(),
                burn_output,
            );
            assert_close(
                &format!("{case:?} input grad vs {backend}"),
                grad.clone(),
                burn_grad,
            );
        }
        let x = Tensor::<4>::from_data(x, &flex());
        assert_close(
            &format!("{case:?} inference"),
            kernels::max_pool2x2(&x).unwrap(),
            MaxPool2dConfig::new([2, 2]).init().forward(x),
        );
    }
}

#[test]
fn max_pool_follows_flex_nan_rule() {
    let _rng = exclusive_rng();
    let shape = [2, 2, 4, 5];
    let mut values = data(shape, &mut rng(6), Values::SmallIntegers)
        .try_to_vec::<f32>()
        .unwrap();
    // One NaN alone in its window, two NaN in another, one in the dropped last column.
    for i in [0, 21, 26, 44] {
        values[i] = f32::NAN;
    }
    let x = TensorData::new(values, shape);
    let output_weights = data([2, 2, 2, 2], &mut rng(7), Values::Continuous);
    let [output, grad] = pool_outcome(&flex(), &x, &output_weights, true);
    let [burn_output, burn_grad] = pool_outcome(&flex(), &x, &output_weights, false);
    assert!(output.clone().is_nan().any().into_scalar::<bool>());
    assert_close("output", output, burn_output);
    assert_close("input grad", grad, burn_grad);
}

#[test]
fn kernels_apply_only_where_they_compute_the_same_thing() {
    let _rng = exclusive_rng();
    let x = |device: &Device| Tensor::<4>::ones([1, 2, 4, 4], device);
    let conv = |device: &Device, config: Conv2dConfig| config.init(device);
    let same_3x3 = Conv2dConfig::new([2, 3], [3, 3]).with_padding(PaddingConfig2d::Same);
    let flex = flex();
    assert!(kernels::conv_block(&conv(&flex, same_3x3.clone()), &x(&flex)).is_some());
    assert!(
        kernels::conv_block(
            &conv(&flex.clone().autodiff(), same_3x3.clone()),
            &x(&flex.clone().autodiff())
        )
        .is_some()
    );
    for (what, config) in [
        ("no bias", same_3x3.clone().with_bias(false)),
        (
            "5x5",
            Conv2dConfig::new([2, 3], [5, 5]).with_padding(PaddingConfig2d::Same),
        ),
        ("stride 2", same_3x3.clone().with_stride([2, 2])),
        ("valid padding", Conv2dConfig::new([2, 3], [3, 3])),
        ("dilation 2", same_3x3.clone().with_dilation([2, 2])),
    ] {
        assert!(
            kernels::conv_block(&conv(&flex, config), &x(&flex)).is_none(),
            "{what}"
        );
    }
    let one_row = Tensor::<4>::ones([1, 2, 1, 4], &flex);
    assert!(kernels::conv_block(&conv(&flex, same_3x3.clone()), &one_row).is_none());
    assert!(kernels::max_pool2x2(&one_row).is_none());
    for (backend, device) in cpu_backends()
        .into_iter()
        .filter(|(b, _)| *b != BackendKind::Flex)
    {
        assert!(
            kernels::conv_block(&conv(&device, same_3x3.clone()), &x(&device)).is_none(),
            "{backend}"
        );
        assert!(kernels::max_pool2x2(&x(&device)).is_none(), "{backend}");
    }
    if let Some(device) = wgpu_device("kernels_apply_only_where_they_compute_the_same_thing") {
        assert!(kernels::conv_block(&conv(&device, same_3x3), &x(&device)).is_none());
        assert!(kernels::max_pool2x2(&x(&device)).is_none());
    }
}

#[test]
fn the_cnn_runs_every_block_through_the_fused_kernel_on_flex() {
    let _rng = exclusive_rng();
    // MNIST's and the MFCC app's shapes, odd sizes included (13 MFCC rows).
    for (channels, height, width) in [(1, 28, 28), (1, 13, 40), (3, 8, 8)] {
        let config = SmallCnnConfig::new(channels, height, width, 10);
        let cnn = config.init(&flex());
        let mut x = Tensor::<4>::ones([2, channels, height, width], &flex());
        for block in &cnn.blocks {
            let fused = kernels::conv_block(&block.conv, &x).expect("every CNN block fuses");
            assert_close("block", fused.clone(), block.layers_forward(x));
            x = fused;
        }
    }
}

/// A dense layer's output and the gradients of a weighted sum of it: input (when asked), weight
/// and bias.
fn dense_outcome(
    device: &Device,
    layer: &(TensorData, Vec<f32>),
    x: &TensorData,
    output_weights: &TensorData,
    input_needs_grad: bool,
    forward: impl Fn(&Linear, Tensor<2>) -> Tensor<2>,
) -> [Option<Tensor<4>>; 4] {
    let device = device.clone().autodiff();
    let [inputs, outputs] = layer.0.shape().dims::<2>();
    let mut linear = LinearConfig::new(inputs, outputs).init(&device);
    linear.weight = Param::from_tensor(Tensor::from_data(layer.0.clone(), &device));
    linear.bias = Some(Param::from_tensor(Tensor::from_floats(
        layer.1.as_slice(),
        &device,
    )));
    let mut x = Tensor::<2>::from_data(x.clone(), &device);
    if input_needs_grad {
        x = x.require_grad();
    }
    let y = forward(&linear, x.clone());
    let grads = (y.clone() * Tensor::from_data(output_weights.clone(), &device))
        .sum()
        .backward();
    let as_4d = |t: Tensor<2>| t.unsqueeze::<4>();
    [
        Some(as_4d(y.inner())),
        x.grad(&grads).map(as_4d),
        linear.weight.val().grad(&grads).map(as_4d),
        linear
            .bias
            .as_ref()
            .unwrap()
            .val()
            .grad(&grads)
            .map(|b| b.reshape([1, 1, 1, -1])),
    ]
}

#[test]
fn fused_dense_layer_matches_linear_and_relu_with_their_gradients() {
    let _rng = exclusive_rng();
    let parts = ["output", "input grad", "weight grad", "bias grad"];
    // Batch 1, odd sizes, a product large enough to run on the pool (64 × 784 × 256).
    for (k, (rows, inputs, outputs)) in [(1, 3, 2), (17, 9, 5), (3, 1, 13), (64, 784, 256)]
        .into_iter()
        .enumerate()
    {
        let mut rng = rng(700 + k as u64);
        let values = Values::Continuous;
        let weight = data([1, 1, inputs, outputs], &mut rng, values);
        let layer = (
            TensorData::new(weight.try_to_vec::<f32>().unwrap(), [inputs, outputs]),
            bias(outputs, &mut rng, values),
        );
        let x = data([1, 1, rows, inputs], &mut rng, values);
        let x = TensorData::new(x.try_to_vec::<f32>().unwrap(), [rows, inputs]);
        let output_weights = data([1, 1, rows, outputs], &mut rng, values);
        let output_weights =
            TensorData::new(output_weights.try_to_vec::<f32>().unwrap(), [rows, outputs]);
        for (relu, input_needs_grad) in [(true, true), (true, false), (false, true)] {
            let ours = dense_outcome(
                &flex(),
                &layer,
                &x,
                &output_weights,
                input_needs_grad,
                |l, x| kernels::dense(l, &x, relu, None).expect("the dense kernel applies on flex"),
            );
            for (backend, device) in cpu_backends() {
                let burn = dense_outcome(
                    &device,
                    &layer,
                    &x,
                    &output_weights,
                    input_needs_grad,
                    |l, x| {
                        let y = l.forward(x);
                        if relu { Relu::new().forward(y) } else { y }
                    },
                );
                for ((part, a), b) in parts.iter().zip(&ours).zip(burn) {
                    let what = format!(
                        "{rows}x{inputs}->{outputs} relu {relu} input grad {input_needs_grad}: \
                         {part} vs {backend}"
                    );
                    match (a, b) {
                        (Some(a), Some(b)) => assert_close(&what, a.clone(), b),
                        (None, None) => assert!(!input_needs_grad, "{what}"),
                        _ => panic!("{what}: only one side has it"),
                    }
                }
            }
        }
    }
}

#[test]
fn fused_dense_dropout_is_seeded_by_the_device_and_absent_without_autodiff() {
    let _rng = exclusive_rng();
    let training = flex().autodiff();
    let layer = LinearConfig::new(30, 40).init(&training);
    let dropout = DropoutConfig::new(0.25).init();
    let x = Tensor::<2>::ones([50, 30], &training);
    let run = |seed| {
        training.seed(seed);
        kernels::dense(&layer, &x, true, Some(&dropout)).unwrap()
    };
    let plain = kernels::dense(&layer, &x, true, None).unwrap();
    let (first, again, other) = (run(1), run(1), run(2));
    assert_eq!(first.to_data(), again.to_data(), "same seed, same mask");
    assert_ne!(
        first.to_data(),
        other.to_data(),
        "another seed, another mask"
    );
    let plain = plain.into_data().try_to_vec::<f32>().unwrap();
    let dropped = first.into_data().try_to_vec::<f32>().unwrap();
    let mut kept = 0;
    for (&p, &d) in plain.iter().zip(&dropped) {
        assert!(
            d == 0.0 || (d - p / 0.75).abs() <= 1e-6 * p.abs(),
            "{d} from {p}"
        );
        kept += (p > 0.0 && d != 0.0) as usize;
    }
    let positive = plain.iter().filter(|&&p| p > 0.0).count();
    let share = kept as f64 / positive as f64;
    assert!(
        (0.65..0.85).contains(&share),
        "kept {share} of the positive outputs"
    );
    // Without autodiff (inference) and with the layer frozen, dropout does nothing, as Burn's.
    let inference = layer.valid();
    let x = x.inner();
    assert_eq!(
        kernels::dense(&inference, &x, true, Some(&dropout))
            .unwrap()
            .to_data(),
        kernels::dense(&inference, &x, true, None)
            .unwrap()
            .to_data()
    );
}

#[test]
fn fused_dense_layer_gives_the_same_bits_on_one_thread_and_on_two() {
    let _rng = exclusive_rng();
    let device = flex().autodiff();
    device.seed(5);
    let layer = LinearConfig::new(784, 256).init(&device);
    let x =
        Tensor::<2>::random([64, 784], burn::tensor::Distribution::Default, &device).require_grad();
    // Without dropout: its masks are the unit tests' (`kernels::dense`), which draw them on one
    // thread and on two.
    let run = || {
        let y = kernels::dense(&layer, &x, true, None).unwrap();
        let grads = (y.clone() * y.clone()).sum().backward();
        (
            y.into_data(),
            x.grad(&grads).unwrap().into_data(),
            layer.weight.val().grad(&grads).unwrap().into_data(),
        )
    };
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(run);
    let two = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap()
        .install(run);
    assert_eq!(one, two);
}

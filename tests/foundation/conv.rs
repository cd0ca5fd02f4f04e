use burn::module::Module;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::prelude::*;
use burn::tensor::Distribution;
use zoo_models::conv::{prefers_matmul, same_by_matmul};
use zoo_tests::{cpu_backends, exclusive_rng, wgpu_device};

fn max_difference(a: Tensor<4>, b: Tensor<4>) -> f32 {
    (a - b).abs().max().into_scalar::<f32>()
}

/// Outputs and the gradients of a weighted sum of them (so every output position counts
/// differently) with respect to the input, the weight and the bias.
fn outputs_and_gradients(
    conv: &Conv2d,
    x: &Tensor<4>,
    output_weights: &Tensor<4>,
    forward: impl Fn(&Conv2d, Tensor<4>) -> Tensor<4>,
) -> [Tensor<4>; 4] {
    let y = forward(conv, x.clone());
    let grads = (y.clone() * output_weights.clone()).sum().backward();
    let bias = conv
        .bias
        .as_ref()
        .expect("a bias")
        .val()
        .grad(&grads)
        .unwrap();
    [
        y.inner(),
        x.grad(&grads).unwrap(),
        conv.weight.val().grad(&grads).unwrap(),
        bias.reshape([1, 1, 1, -1]),
    ]
}

#[test]
fn matmul_convolution_equals_burns_conv2d_in_outputs_and_gradients() {
    let _rng = exclusive_rng();
    // The matrix-product form only runs on the CPU backends (see the next test).
    for (_, device) in cpu_backends() {
        // Odd and even sizes, more than one channel in and out, kernels 3 and 5.
        for (channels, outputs, kernel, [height, width]) in
            [(1, 4, 3, [7, 9]), (3, 5, 3, [8, 6]), (2, 3, 5, [9, 10])]
        {
            let ad = device.clone().autodiff();
            ad.seed(3);
            let conv = Conv2dConfig::new([channels, outputs], [kernel, kernel])
                .with_padding(PaddingConfig2d::Same)
                .init(&ad)
                .train();
            let x = Tensor::<4>::random([2, channels, height, width], Distribution::Default, &ad)
                .require_grad();
            let output_weights = Tensor::<4>::random(
                [2, outputs, height, width],
                Distribution::Uniform(-1.0, 1.0),
                &ad,
            );
            let burn = outputs_and_gradients(&conv, &x, &output_weights, |c, x| c.forward(x));
            let ours = outputs_and_gradients(&conv, &x, &output_weights, same_by_matmul);
            for (what, (a, b)) in ["output", "input grad", "weight grad", "bias grad"]
                .iter()
                .zip(burn.into_iter().zip(ours))
            {
                let difference = max_difference(a, b);
                assert!(
                    difference < 1e-4,
                    "{device:?}, {channels}->{outputs}, kernel {kernel}: {what} differs by {difference}"
                );
            }
        }
    }
}

#[test]
fn the_matmul_form_runs_only_when_training_on_a_cpu() {
    for (backend, device) in cpu_backends() {
        assert!(prefers_matmul(&device.clone().autodiff()), "{backend}");
        assert!(
            !prefers_matmul(&device),
            "{backend}: inference keeps Conv2d"
        );
    }
    if let Some(device) = wgpu_device("the_matmul_form_runs_only_when_training_on_a_cpu") {
        assert!(!prefers_matmul(&device.autodiff()));
    }
}

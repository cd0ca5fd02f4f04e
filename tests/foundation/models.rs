use burn::module::{Module, Param};
use burn::prelude::*;
use zoo_models::cnn::SmallCnnConfig;
use zoo_models::linear::LinearRegressionConfig;
use zoo_models::logistic::LogisticRegressionConfig;
use zoo_models::mlp::{ActivationKind, MlpConfig};
use zoo_models::model::{Model, ModelConfig};
use zoo_models::task::Task;
use zoo_tests::{cpu_backends, exclusive_rng};

/// Each model with the parameter count worked out by hand from its layer sizes.
fn zoo() -> Vec<(ModelConfig, usize)> {
    vec![
        // 5×2 weights + 2 biases
        (
            ModelConfig::Linear(LinearRegressionConfig::new(5).with_n_outputs(2)),
            12,
        ),
        // binary: one output, 4 weights + 1 bias
        (
            ModelConfig::Logistic(LogisticRegressionConfig::new(4, 2)),
            5,
        ),
        // multinomial: 4×3 + 3
        (
            ModelConfig::Logistic(LogisticRegressionConfig::new(4, 3)),
            15,
        ),
        // (30·10 + 10) + (10·1 + 1)
        (ModelConfig::Mlp(MlpConfig::new(30, vec![10], 1)), 321),
        // (784·128 + 128) + (128·64 + 64) + (64·10 + 10)
        (
            ModelConfig::Mlp(
                MlpConfig::new(784, vec![128, 64], 10).with_activation(ActivationKind::Tanh),
            ),
            109_386,
        ),
        // conv 1→16: 144+16; conv 16→32: 4608+32; 28→14→7: flat 32·7·7 = 1568;
        // dense 1568·128+128; output 128·10+10
        (
            ModelConfig::Cnn(SmallCnnConfig::new(1, 28, 28, 10)),
            160 + 4_640 + 200_832 + 1_290,
        ),
        // three blocks on 8×8 digits: 8→4→2→1, conv 32→64: 18432+64, flat 64
        (
            ModelConfig::Cnn(SmallCnnConfig::new(1, 8, 8, 10).with_conv_channels(vec![16, 32, 64])),
            160 + 4_640 + 18_496 + (64 * 128 + 128) + 1_290,
        ),
        // a 13×40 MFCC matrix: 13→6→3, 40→20→10, flat 32·3·10 = 960
        (
            ModelConfig::Cnn(SmallCnnConfig::new(1, 13, 40, 10)),
            160 + 4_640 + (960 * 128 + 128) + 1_290,
        ),
        // RGB input
        (
            ModelConfig::Cnn(SmallCnnConfig::new(3, 8, 8, 2).with_dropout(0.5)),
            448 + 4_640 + (128 * 128 + 128) + 258,
        ),
    ]
}

#[test]
fn output_shapes_and_parameter_counts() {
    let _rng = exclusive_rng();
    for (backend, device) in cpu_backends() {
        for (config, expected_params) in zoo() {
            let model = config.init(&device).unwrap();
            let summary = config.summary();
            assert_eq!(model.num_params(), expected_params, "{backend} {config:?}");
            assert_eq!(
                summary.total_params(),
                expected_params,
                "summary of {config:?}"
            );
            assert_eq!(summary.output_shape(), &[config.n_outputs()]);
            assert_eq!(
                (model.n_inputs(), model.n_outputs()),
                (config.n_inputs(), config.n_outputs())
            );
            for batch in [1, 3] {
                let input = Tensor::<2>::ones([batch, config.n_inputs()], &device);
                assert_eq!(
                    model.forward(input).dims(),
                    [batch, config.n_outputs()],
                    "{backend} {config:?}"
                );
            }
        }
    }
}

#[test]
fn summary_prints_layers_shapes_and_total() {
    let _rng = exclusive_rng();
    let text = ModelConfig::Cnn(SmallCnnConfig::new(1, 28, 28, 10))
        .summary()
        .to_string();
    for expected in [
        "blocks.0.conv",
        "(batch, 16, 28, 28)",
        "(batch, 32, 7, 7)",
        "(batch, 1568)",
        "Total params: 206922",
    ] {
        assert!(
            text.contains(expected),
            "summary lacks {expected:?}:\n{text}"
        );
    }
}

fn set_linear(
    layer: &mut burn::nn::Linear,
    weights: [[f32; 2]; 2],
    bias: [f32; 2],
    device: &Device,
) {
    layer.weight = Param::from_tensor(Tensor::from_data(weights, device));
    layer.bias = Some(Param::from_tensor(Tensor::from_data(bias, device)));
}

fn values(t: Tensor<2>) -> Vec<f32> {
    t.into_data().try_to_vec().unwrap()
}

fn assert_close(actual: &[f32], expected: &[f32]) {
    assert_eq!(actual.len(), expected.len());
    for (a, e) in actual.iter().zip(expected) {
        assert!((a - e).abs() < 1e-5, "{actual:?} vs {expected:?}");
    }
}

#[test]
fn known_weights_forward_matches_hand_computation() {
    let _rng = exclusive_rng();
    for (backend, device) in cpu_backends() {
        // Linear: y = 2·x1 − 1·x2 + 0.5
        let Model::Linear(mut linear) = ModelConfig::Linear(LinearRegressionConfig::new(2))
            .init(&device)
            .unwrap()
        else {
            unreachable!()
        };
        linear.linear.weight = Param::from_tensor(Tensor::from_data([[2.0], [-1.0]], &device));
        linear.linear.bias = Some(Param::from_tensor(Tensor::from_data([0.5], &device)));
        let x = Tensor::<2>::from_data([[1.0, 2.0], [3.0, -1.0]], &device);
        assert_close(&values(linear.forward(x)), &[0.5, 7.5]);

        // MLP 2 → 2 (ReLU) → 1, weights stored [inputs, outputs]:
        // x = (1, 1):  h = relu(1+2, −1+1−1) = (3, 0),  y = 3·1 + 0·(−2) + 0.5 = 3.5
        // x = (−1, 2): h = relu(−1+4, 1+2−1) = (3, 2),  y = 3 − 4 + 0.5 = −0.5
        let Model::Mlp(mut mlp) = ModelConfig::Mlp(MlpConfig::new(2, vec![2], 1))
            .init(&device)
            .unwrap()
        else {
            unreachable!()
        };
        set_linear(
            &mut mlp.hidden[0],
            [[1.0, -1.0], [2.0, 1.0]],
            [0.0, -1.0],
            &device,
        );
        mlp.output.weight = Param::from_tensor(Tensor::from_data([[1.0], [-2.0]], &device));
        mlp.output.bias = Some(Param::from_tensor(Tensor::from_data([0.5], &device)));
        let x = Tensor::<2>::from_data([[1.0, 1.0], [-1.0, 2.0]], &device);
        assert_close(&values(mlp.forward(x)), &[3.5, -0.5]);

        // Binary logistic regression: p = sigmoid(x1 + x2); Task gives [1 − p, p].
        let Model::Logistic(mut logistic) =
            ModelConfig::Logistic(LogisticRegressionConfig::new(2, 2))
                .init(&device)
                .unwrap()
        else {
            unreachable!()
        };
        logistic.linear.weight = Param::from_tensor(Tensor::from_data([[1.0], [1.0]], &device));
        logistic.linear.bias = Some(Param::from_tensor(Tensor::from_data([0.0], &device)));
        let x = Tensor::<2>::from_data([[0.0, 0.0], [1.0, 1.0]], &device);
        let p = Task::Binary.probabilities(logistic.forward(x));
        let p2 = 1.0 / (1.0 + (-2.0f32).exp());
        assert_close(&values(p), &[0.5, 0.5, 1.0 - p2, p2]);

        // Multinomial: logits (0, ln 2, ln 3) → softmax (1/6, 2/6, 3/6).
        let logits = Tensor::<2>::from_data([[0.0, 2f32.ln(), 3f32.ln()]], &device);
        let p = Task::Multiclass { n_classes: 3 }.probabilities(logits);
        assert_close(&values(p), &[1.0 / 6.0, 2.0 / 6.0, 3.0 / 6.0]);
        eprintln!("{backend}: known-weights forward passes agree");
    }
}

#[test]
fn bad_model_configs_are_rejected_with_a_clear_message() {
    let _rng = exclusive_rng();
    let device = cpu_backends()[0].1.clone();
    let cases = [
        (
            ModelConfig::Mlp(MlpConfig::new(4, vec![8, 0], 2)),
            "hidden layer 2 has size 0",
        ),
        (
            ModelConfig::Mlp(MlpConfig::new(4, vec![8], 2).with_dropout(1.0)),
            "dropout must be in [0, 1)",
        ),
        (
            ModelConfig::Linear(LinearRegressionConfig::new(0)),
            "n_inputs must be at least 1",
        ),
        (
            ModelConfig::Logistic(LogisticRegressionConfig::new(3, 1)),
            "n_classes must be at least 2",
        ),
        (
            ModelConfig::Cnn(SmallCnnConfig::new(1, 7, 28, 10)),
            "at least 8x8",
        ),
        (
            ModelConfig::Cnn(SmallCnnConfig::new(1, 28, 28, 10).with_conv_channels(vec![8])),
            "2 or 3 conv blocks",
        ),
    ];
    for (config, expected) in cases {
        let err = config.init(&device).unwrap_err().to_string();
        assert!(
            err.contains(expected),
            "{err:?} should contain {expected:?}"
        );
    }
    let mismatch = ModelConfig::Mlp(MlpConfig::new(4, vec![8], 3))
        .validate_for(Task::Binary)
        .unwrap_err();
    assert!(mismatch.to_string().contains("needs 1"), "{mismatch}");
    let linear_classifier =
        ModelConfig::Linear(LinearRegressionConfig::new(4)).validate_for(Task::Binary);
    assert!(
        linear_classifier
            .unwrap_err()
            .to_string()
            .contains("cannot classify")
    );
}

#[test]
fn configs_round_trip_through_json() {
    let _rng = exclusive_rng();
    for (config, _) in zoo() {
        let json = serde_json::to_string(&config).unwrap();
        let back: ModelConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, config, "{json}");
    }
}

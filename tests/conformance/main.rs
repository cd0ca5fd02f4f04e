//! Every model of the zoo agrees with itself across every pair of compiled backends: outputs,
//! loss, gradients, 20 training steps, evaluation and predictions after save/load, within the
//! tolerances `zoo_models::conformance` states and explains. Edge shapes are part of each
//! check: a batch of 1, batches that do not divide the data, an 8×8 CNN input.

use zoo_models::backend::BackendKind;
#[cfg(feature = "flex")]
use zoo_models::conformance::compare_kernels;
use zoo_models::conformance::{cases, compare, compare_sparse};
use zoo_tests::{exclusive_rng, wgpu_device};

fn backends() -> Vec<(BackendKind, burn::prelude::Device)> {
    let mut backends = zoo_tests::cpu_backends();
    if let Some(device) = wgpu_device("conformance") {
        backends.push((BackendKind::Wgpu, device));
    }
    backends
}

/// Records `agreement`'s failed checks for `case` compared on `pair`, and prints its worst
/// difference.
fn record(
    failures: &mut Vec<String>,
    case: &str,
    pair: &str,
    agreement: zoo_models::conformance::Agreement,
) {
    eprintln!(
        "{case:<22} {pair:<30} worst difference {:.2e}",
        agreement.worst()
    );
    for check in agreement.failures() {
        failures.push(format!("{case} {pair}: {check} ({agreement:?})"));
    }
}

/// Flex with the zoo's kernels against flex with Burn's own layers: a comparison any build with
/// flex makes, CI's CPU-only build (flex, no other backend) included.
#[cfg(feature = "flex")]
fn flex_kernels_against_burn_layers(
    backends: &[(BackendKind, burn::prelude::Device)],
    failures: &mut Vec<String>,
) -> String {
    let (_, flex) = backends
        .iter()
        .find(|(kind, _)| *kind == BackendKind::Flex)
        .expect("flex is compiled, so it has a device");
    let pair = "flex kernels vs flex Burn layers".to_string();
    for case in cases() {
        let _rng = exclusive_rng();
        record(
            failures,
            case.name,
            &pair,
            compare_kernels(&case, flex, 7).unwrap(),
        );
    }
    pair
}

#[test]
fn every_model_agrees_on_every_pair_of_backends() {
    let backends = backends();
    let mut failures = Vec::new();
    let mut pairs = Vec::new();
    for (i, (kind_a, a)) in backends.iter().enumerate() {
        for (kind_b, b) in &backends[i + 1..] {
            let pair = format!("{kind_a} vs {kind_b}");
            for case in cases() {
                let _rng = exclusive_rng();
                record(
                    &mut failures,
                    case.name,
                    &pair,
                    compare(&case, a, b, 7).unwrap(),
                );
            }
            pairs.push(pair);
        }
    }
    #[cfg(feature = "flex")]
    pairs.push(flex_kernels_against_burn_layers(&backends, &mut failures));
    let expected = backends.len() * (backends.len() - 1) / 2 + usize::from(cfg!(feature = "flex"));
    assert!(
        expected > 0,
        "this build has nothing to compare: it needs flex or two backends"
    );
    assert_eq!(pairs.len(), expected, "pairs compared: {pairs:?}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn sparse_rows_give_what_dense_rows_give_on_every_backend() {
    let mut failures = Vec::new();
    for (kind, device) in backends() {
        for case in cases() {
            let _rng = exclusive_rng();
            let agreement = compare_sparse(&case, &device, 11).unwrap();
            eprintln!("{:<22} {kind:>7} sparse vs dense {agreement:?}", case.name);
            for check in agreement.failures() {
                failures.push(format!("{} on {kind}: {check} ({agreement:?})", case.name));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_wrong_sparse_column_is_caught() {
    // The sparse check must be able to fail: the same rows with one column shifted differ.
    let (_, device) = &zoo_tests::cpu_backends()[0];
    let case = &cases()[1];
    let _rng = exclusive_rng();
    device.seed(5);
    let model = case.config.init(device).unwrap();
    let (sparse, dense) = zoo_models::conformance::sparse_and_dense_examples(case, 6, 5);
    let mut shifted = zoo_models::sparse::SparseFeatures::new(8).unwrap();
    let rows: Vec<usize> = (0..6).collect();
    for i in 0..6 {
        let row = dense.features.row(i);
        shifted
            .push_row(
                row.iter()
                    .enumerate()
                    .filter(|(_, v)| **v != 0.0)
                    .map(|(j, &v)| (((j + 1) % 8) as u32, v)),
            )
            .unwrap();
    }
    let outputs = |source: &dyn zoo_models::dataset::FeatureSource| {
        model
            .forward(source.inputs(&rows, device).unwrap())
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
    };
    let expected = outputs(&dense.features);
    let difference = |got: Vec<f32>| {
        got.iter()
            .zip(&expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max)
    };
    let same_rows = sparse.batch(&rows, device).unwrap().inputs;
    assert!(
        difference(
            model
                .forward(same_rows)
                .into_data()
                .try_to_vec::<f32>()
                .unwrap()
        ) < 1e-5
    );
    assert!(
        difference(outputs(&shifted)) > zoo_models::conformance::FORWARD_TOLERANCE,
        "a shifted column must change the outputs"
    );
}

#[test]
fn a_wrong_weight_is_caught() {
    // The checks must be able to fail: one weight changed by 1e-2 shows in the forward check.
    let (_, device) = &zoo_tests::cpu_backends()[0];
    let case = &cases()[0];
    let _rng = exclusive_rng();
    device.seed(3);
    let model = case.config.init(device).unwrap();
    let data = zoo_models::conformance::examples(case, 5, 3);
    let zoo_models::model::Model::Linear(linear) = model.clone() else {
        unreachable!()
    };
    let mut weights = linear
        .linear
        .weight
        .val()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    weights[0] += 1e-2;
    let changed = burn::tensor::Tensor::<2>::from_data(
        burn::tensor::TensorData::new(weights, [8, 1]),
        device,
    );
    let mut altered = linear.clone();
    altered.linear.weight = burn::module::Param::from_tensor(changed);
    let outputs = |m: &zoo_models::model::Model| {
        m.forward(data.features.tensor(0..5, device))
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
    };
    let difference = outputs(&model)
        .iter()
        .zip(outputs(&zoo_models::model::Model::Linear(altered)))
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(
        difference > zoo_models::conformance::FORWARD_TOLERANCE,
        "{difference}"
    );
}

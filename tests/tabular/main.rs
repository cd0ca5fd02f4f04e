//! The tabular app: gradient descent against the exact least-squares fit, classification
//! accuracy on the bundled datasets, and standardisation fitted on training rows only.

use std::path::Path;

use clap::Parser;
use rand::Rng;
use zoo_apps::app::train;
use zoo_apps::tabular::{Cli, Command};
use zoo_apps::test_metrics::TestMetrics;
use zoo_tests::{exclusive_rng, rng};

fn train_run(args: &[&str]) -> (TestMetrics, Option<f64>) {
    let Command::Train(command) =
        Cli::parse_from(std::iter::once("tabular").chain(args.iter().copied())).command
    else {
        unreachable!()
    };
    let _rng = exclusive_rng();
    let (metrics, _, closed_form) = train(&command).unwrap();
    (metrics.test, closed_form)
}

fn r2(metrics: &TestMetrics) -> f64 {
    match metrics {
        TestMetrics::Regression { r2, .. } => *r2,
        TestMetrics::Classification { .. } => panic!("regression expected"),
    }
}

fn accuracy(metrics: &TestMetrics) -> f64 {
    match metrics {
        TestMetrics::Classification { accuracy, .. } => *accuracy,
        TestMetrics::Regression { .. } => panic!("classification expected"),
    }
}

#[test]
fn gradient_descent_matches_least_squares_on_diabetes() {
    let out = tempfile::tempdir().unwrap();
    let (metrics, closed_form) = train_run(&[
        "train",
        "--dataset",
        "diabetes",
        "--quiet",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    let closed_form = closed_form.expect("linear regression reports the exact fit");
    let gradient_descent = r2(&metrics);
    assert!(
        (gradient_descent - closed_form).abs() < 0.01,
        "GD {gradient_descent} vs exact {closed_form}"
    );
    assert!(gradient_descent > 0.3, "{gradient_descent}");
    let TestMetrics::Regression { mae, .. } = metrics else {
        unreachable!()
    };
    assert!(
        (30.0..70.0).contains(&mae),
        "MAE {mae} is in the target's units (disease progression)"
    );
}

/// `y = 2·x0 − 3.5·x1 + 0.5·x2 + 1.25` plus small noise, as a CSV with a header; x0 on a large
/// scale, so that only standardisation makes the problem well-conditioned.
fn write_synthetic(path: &Path, n: usize, seed: u64, x0_offset: f32) {
    let mut rng = rng(seed);
    let mut csv = String::from("x0,x1,x2,y\n");
    for _ in 0..n {
        let x: [f32; 3] = [
            x0_offset + rng.random_range(0.0..100.0),
            rng.random_range(-1.0..1.0),
            rng.random_range(-5.0..5.0),
        ];
        let y = 2.0 * x[0] - 3.5 * x[1] + 0.5 * x[2] + 1.25 + rng.random_range(-0.01..0.01);
        csv += &format!("{},{},{},{y}\n", x[0], x[1], x[2]);
    }
    std::fs::write(path, csv).unwrap();
}

#[test]
fn known_coefficients_are_recovered_and_agree_with_least_squares() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("synthetic.csv");
    write_synthetic(&data, 300, 5, 0.0);
    let out = dir.path().join("model");
    let (metrics, closed_form) = train_run(&[
        "train",
        "--data",
        data.to_str().unwrap(),
        "--target",
        "y",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        (r2(&metrics) - closed_form.unwrap()).abs() < 1e-3,
        "{metrics:?} vs {closed_form:?}"
    );
    assert!(r2(&metrics) > 0.9999, "{metrics:?}");

    // Predictions in the target's units: each unit vector gives its coefficient plus the intercept.
    let Command::Predict(predict) =
        Cli::parse_from(["tabular", "predict", "--model-dir", out.to_str().unwrap()]).command
    else {
        unreachable!()
    };
    let lines = zoo_apps::tabular::predict_rows(&predict, "0 0 0\n1,0,0\n0 1 0\n0 0 1\n").unwrap();
    let values: Vec<f32> = lines.iter().map(|l| l.parse().unwrap()).collect();
    for (value, expected) in values.iter().zip([1.25, 3.25, -2.25, 1.75]) {
        assert!((value - expected).abs() < 0.05, "{values:?}");
    }
}

#[test]
fn standardisation_uses_only_the_training_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (train_file, test_file) = (dir.path().join("train.csv"), dir.path().join("test.csv"));
    write_synthetic(&train_file, 100, 6, 0.0);
    // The test rows live far away on x0: had they been used, the mean would move by 500.
    write_synthetic(&test_file, 100, 7, 1000.0);
    let out = dir.path().join("model");
    train_run(&[
        "train",
        "--data",
        train_file.to_str().unwrap(),
        "--test-data",
        test_file.to_str().unwrap(),
        "--target",
        "y",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("model.json")).unwrap()).unwrap();
    let saved_mean = manifest["preprocessing"]["features"]["mean"][0]
        .as_f64()
        .unwrap();
    let text = std::fs::read_to_string(&train_file).unwrap();
    let x0: Vec<f64> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect();
    let train_mean = x0.iter().sum::<f64>() / x0.len() as f64;
    assert!(
        (saved_mean - train_mean).abs() < 1e-3,
        "saved {saved_mean}, training rows {train_mean}"
    );
    let target_mean = manifest["preprocessing"]["target"]["mean"]
        .as_f64()
        .unwrap();
    assert!(
        target_mean < 200.0,
        "the target statistics too come from the training rows: {target_mean}"
    );
}

#[test]
fn logistic_regression_reaches_the_promised_accuracy() {
    for (dataset, target) in [("breast-cancer", 0.96), ("iris", 0.93)] {
        let out = tempfile::tempdir().unwrap();
        let (metrics, _) = train_run(&[
            "train",
            "--dataset",
            dataset,
            "--quiet",
            "--out",
            out.path().to_str().unwrap(),
        ]);
        assert!(accuracy(&metrics) >= target, "{dataset}: {metrics:?}");
    }
}

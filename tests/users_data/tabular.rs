//! The tabular app on tables laid out as users' tables are.

use std::path::Path;

use clap::Parser;
use rand::Rng;
use zoo_apps::app::train;
use zoo_apps::tabular::{Cli, Command, predict_rows};
use zoo_apps::test_metrics::TestMetrics;
use zoo_tests::{exclusive_rng, rng};

use crate::{accuracy, read_json, write_windows_text};

fn train_run(args: &[&str]) -> anyhow::Result<(TestMetrics, Option<f64>)> {
    let Command::Train(command) =
        Cli::parse_from(std::iter::once("tabular").chain(args.iter().copied())).command
    else {
        unreachable!()
    };
    let _rng = exclusive_rng();
    let (metrics, _, closed_form) = train(&command)?;
    Ok((metrics.test, closed_form))
}

const SPECIES: [&str; 3] = ["Iris setosa", "Iris versicolor", "Nymphæa alba"];

/// Rows sorted by species: two informative columns, a constant one, one constant but for a
/// single row, and a large offset with a small spread. Semicolons, quoted header, BOM, CRLF.
fn write_flowers(path: &Path, per_species: &[usize], seed: u64) {
    let mut rng = rng(seed);
    let mut text = String::from(
        "\"petal length\";\"always zero\";\"almost constant\";\"offset\";\"species\"\n",
    );
    for (s, &n) in per_species.iter().enumerate() {
        for i in 0..n {
            let length = 1.0 + 2.0 * s as f32 + rng.random_range(-0.6..0.6);
            let almost = if s == 1 && i == 0 { 1.5 } else { 1.0 };
            let offset = 1.0e4 + s as f32 * 0.5 + rng.random_range(-0.2..0.2);
            text += &format!("{length};0;{almost};{offset};{}\n", SPECIES[s]);
        }
    }
    write_windows_text(path, &text);
}

#[test]
fn a_semicolon_table_with_constant_columns_sorted_by_label_trains() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("flowers.txt");
    // 1:50 imbalance in the third species.
    write_flowers(&data, &[200, 200, 4], 1);
    let out = dir.path().join("model");
    let (metrics, _) = train_run(&[
        "train",
        "--model",
        "logistic",
        "--data",
        data.to_str().unwrap(),
        "--target",
        "species",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ])
    .unwrap();
    assert!(accuracy(&metrics) >= 0.95, "{metrics:?}");
    let TestMetrics::Classification { per_class, .. } = &metrics else {
        unreachable!()
    };
    let names: Vec<&str> = per_class.iter().map(|c| c.class.as_str()).collect();
    assert_eq!(names, SPECIES);
    let features = &read_json(&out.join("model.json"))["preprocessing"]["features"];
    assert_eq!(features["constant_columns"], serde_json::json!([1]));
    assert_eq!(features["std"][1], 1.0);

    let Command::Predict(predict) =
        Cli::parse_from(["tabular", "predict", "--model-dir", out.to_str().unwrap()]).command
    else {
        unreachable!()
    };
    let lines = predict_rows(&predict, "5.0;0;1;10001\n1.0 0 1 10000\n").unwrap();
    assert!(lines[0].starts_with("Nymphæa alba\t"), "{lines:?}");
    assert!(lines[1].starts_with("Iris setosa\t"), "{lines:?}");
}

#[test]
fn a_test_table_with_fewer_classes_keeps_their_meaning() {
    let dir = tempfile::tempdir().unwrap();
    let (train_file, test_file) = (dir.path().join("train.tsv"), dir.path().join("test.tsv"));
    write_flowers(&train_file, &[60, 60, 60], 2);
    // The test table lacks the first species: its labels must not shift down by one.
    write_flowers(&test_file, &[0, 20, 20], 3);
    let out = dir.path().join("model");
    let (metrics, _) = train_run(&[
        "train",
        "--model",
        "logistic",
        "--data",
        train_file.to_str().unwrap(),
        "--test-data",
        test_file.to_str().unwrap(),
        "--target",
        "species",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ])
    .unwrap();
    assert!(accuracy(&metrics) >= 0.95, "{metrics:?}");
}

/// A table as hard for gradient descent as California housing is: x1 is x0 plus a little
/// noise (collinear), x2 and x3 so heavy-tailed (Pareto, α = 1.5, random sign) that once
/// standardised their bulk sits near 0 and needs large weights, and a target that is linear in
/// them but for a clipped term. Tab-separated, in a `.dat` file.
fn write_ill_conditioned(path: &Path, n: usize, seed: u64) {
    let mut rng = rng(seed);
    let mut heavy = move |alpha: f64| {
        let u: f64 = rng.random_range(1e-6..1.0);
        let sign = if rng.random_bool(0.5) { 1.0 } else { -1.0 };
        (sign * u.powf(-1.0 / alpha), rng.random_range(-1.0..1.0))
    };
    let mut text = String::new();
    for _ in 0..n {
        let ((x0, e0), (x2, e1), (x3, e2)) = (heavy(2.5), heavy(1.5), heavy(1.5));
        let x1 = x0 + 0.01 * e0;
        let y = 1.5 * x0 - 2.0 * x1 + 0.8 * x2.clamp(-50.0, 50.0) - 0.5 * x2 + x3 + e1 + e2;
        text += &format!("{x0}\t{x1}\t{x2}\t{x3}\t{y}\n");
    }
    std::fs::write(path, text).unwrap();
}

#[test]
fn linear_regression_converges_to_least_squares_on_an_ill_conditioned_table() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("collinear.dat");
    write_ill_conditioned(&data, 25_000, 4);
    let out = dir.path().join("model");
    let (metrics, closed_form) = train_run(&[
        "train",
        "--data",
        data.to_str().unwrap(),
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ])
    .unwrap();
    let TestMetrics::Regression { r2, .. } = metrics else {
        panic!("regression expected")
    };
    let exact = closed_form.unwrap();
    assert!(exact > 0.3, "the problem has signal: {exact}");
    assert!(
        (r2 - exact).abs() < 0.005,
        "gradient descent {r2}, least squares {exact}"
    );
    // Converged (a small gradient, or a loss that stopped falling), not out of budget.
    let history = read_json(&out.join("history.json"));
    let reason = history["stop"]["reason"].as_str().unwrap_or_default();
    assert!(
        ["gradient_converged", "converged"].contains(&reason),
        "{}",
        history["stop"]
    );
}

#[test]
fn a_table_no_delimiter_splits_is_an_error_naming_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("piped.csv");
    std::fs::write(&data, "1|2|3\n4|5|6\n7|8|10\n").unwrap();
    let out = dir.path().join("model");
    let err = train_run(&[
        "train",
        "--data",
        data.to_str().unwrap(),
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ])
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("piped.csv") && err.contains("--delimiter"),
        "{err}"
    );
}

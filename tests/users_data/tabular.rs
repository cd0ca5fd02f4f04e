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

/// Two overlapping classes, `ok` and `fault`, `n_ok` and `n_fault` rows: two columns, each
/// normal around 0 (ok) or 1.2 (fault).
fn write_faults(path: &Path, n_ok: usize, n_fault: usize, seed: u64) {
    let mut rng = rng(seed);
    let mut normal = move || {
        let (u, v): (f64, f64) = (rng.random_range(1e-9..1.0), rng.random());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    };
    let mut text = String::from("a,b,state\n");
    for (state, n, centre) in [("ok", n_ok, 0.0), ("fault", n_fault, 1.2)] {
        for _ in 0..n {
            text += &format!("{},{},{state}\n", centre + normal(), centre + normal());
        }
    }
    std::fs::write(path, text).unwrap();
}

#[test]
fn balanced_class_weights_raise_the_rare_class_recall() {
    let dir = tempfile::tempdir().unwrap();
    let (data, test) = (dir.path().join("faults.csv"), dir.path().join("test.csv"));
    // 1:50 in training; the test set is even, so that recall is measured on 400 faults.
    write_faults(&data, 5000, 100, 7);
    write_faults(&test, 400, 400, 8);
    let fault_recall = |class_weight: &str| {
        let out = dir.path().join(class_weight.replace('/', "_"));
        let (metrics, _) = train_run(&[
            "train",
            "--model",
            "logistic",
            "--data",
            data.to_str().unwrap(),
            "--test-data",
            test.to_str().unwrap(),
            "--target",
            "state",
            "--class-weight",
            class_weight,
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ])
        .unwrap();
        let TestMetrics::Classification { per_class, .. } = metrics else {
            panic!("classification expected")
        };
        per_class
            .iter()
            .find(|c| c.class == "fault")
            .unwrap()
            .recall
    };
    let (plain, balanced) = (fault_recall("none"), fault_recall("balanced"));
    assert!(
        balanced > plain + 0.3,
        "fault recall {plain} unweighted, {balanced} balanced"
    );
    // A file of weights: fault weighing 50, ok 1 (left out), is nearly balanced.
    let weights = dir.path().join("weights.json");
    std::fs::write(&weights, r#"{"fault": 50}"#).unwrap();
    let from_file = fault_recall(weights.to_str().unwrap());
    assert!(from_file > plain + 0.3, "{from_file} from the file");

    // Bad weights are errors naming what is wrong, before training.
    let train_with = |class_weight: &str, extra: &[&str]| {
        let out = dir.path().join("bad");
        let mut args = vec!["train", "--class-weight", class_weight, "--quiet"];
        args.extend_from_slice(extra);
        args.extend(["--out", out.to_str().unwrap()]);
        train_run(&args).unwrap_err().to_string()
    };
    let on_faults = [
        "--model",
        "logistic",
        "--data",
        data.to_str().unwrap(),
        "--target",
        "state",
    ];
    std::fs::write(&weights, r#"{"broken": 2}"#).unwrap();
    let err = train_with(weights.to_str().unwrap(), &on_faults);
    assert!(err.contains("`broken`") && err.contains("fault"), "{err}");
    std::fs::write(&weights, r#"{"fault": -1}"#).unwrap();
    let err = train_with(weights.to_str().unwrap(), &on_faults);
    assert!(err.contains("positive"), "{err}");
    std::fs::write(&weights, "[1, 2]").unwrap();
    let err = train_with(weights.to_str().unwrap(), &on_faults);
    assert!(err.contains("JSON object"), "{err}");
    let err = train_with("missing.json", &on_faults);
    assert!(err.contains("missing.json"), "{err}");
    let err = train_with("balanced", &["--model", "linear", "--dataset", "diabetes"]);
    assert!(err.contains("regression"), "{err}");
}

#[test]
fn cv_scores_folds_of_the_training_rows_then_trains_on_all_of_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("iris");
    let (metrics, _) = train_run(&[
        "train",
        "--model",
        "logistic",
        "--dataset",
        "iris",
        "--cv",
        "4",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ])
    .unwrap();
    let cv = read_json(&out.join("cv.json"));
    let split = read_json(&out.join("split.json"));
    let n_train = split["train"].as_array().unwrap().len();
    assert_eq!(
        (cv["k"].as_u64(), cv["metric"].as_str()),
        (Some(4), Some("accuracy"))
    );
    let folds = cv["folds"].as_array().unwrap();
    let mut rows: Vec<u64> = folds
        .iter()
        .flat_map(|f| {
            f["test_rows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_u64().unwrap())
        })
        .collect();
    rows.sort_unstable();
    assert_eq!(rows, (0..n_train as u64).collect::<Vec<_>>(), "{cv}");
    let scores: Vec<f64> = folds.iter().map(|f| f["score"].as_f64().unwrap()).collect();
    let mean = scores.iter().sum::<f64>() / 4.0;
    assert!((cv["mean"].as_f64().unwrap() - mean).abs() < 1e-12);
    assert!(mean > 0.85, "{scores:?}");
    // Then the usual run on all the training rows: its model, tested.
    assert!(out.join("model.bpk").is_file());
    assert!(accuracy(&metrics) > 0.85, "{metrics:?}");

    let err = train_run(&[
        "train",
        "--dataset",
        "iris",
        "--cv",
        "1",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ])
    .unwrap_err();
    assert!(err.to_string().contains("folds"), "{err}");
}

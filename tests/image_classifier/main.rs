//! The image classifier end to end: MNIST subsets on every model and backend, folders of
//! generated PNGs, and `predict` agreeing with `evaluate` on a saved model.

use std::path::{Path, PathBuf};

use clap::Parser;
use zoo_apps::app::train;
use zoo_apps::image_classifier::{Cli, Command, predict_files};
use zoo_apps::test_metrics::TestMetrics;
use zoo_apps::vision::idx::{self, Part};
use zoo_models::backend::BackendKind;
use zoo_tests::{exclusive_rng, wgpu_device};

mod folders;

fn mnist_dir() -> PathBuf {
    zoo_apps::cli::data_dir().join("mnist")
}

/// Writes the first `n_train` and `n_test` MNIST images as plain IDX files into `dir`.
pub fn write_mnist_subset(dir: &Path, n_train: usize, n_test: usize) {
    for (part, n, prefix) in [
        (Part::Train, n_train, "train"),
        (Part::Test, n_test, "t10k"),
    ] {
        let set = idx::load_part(&mnist_dir(), part, None).unwrap();
        let (rows, cols) = (set.layout.height as u32, set.layout.width as u32);
        let mut images = [0x0803u32, n as u32, rows, cols]
            .map(u32::to_be_bytes)
            .concat();
        (0..n).for_each(|i| images.extend_from_slice(&set.image(i).unwrap()));
        std::fs::write(dir.join(format!("{prefix}-images-idx3-ubyte")), images).unwrap();
        let mut labels = [0x0801u32, n as u32].map(u32::to_be_bytes).concat();
        labels.extend(set.labels[..n].iter().map(|&l| l as u8));
        std::fs::write(dir.join(format!("{prefix}-labels-idx1-ubyte")), labels).unwrap();
    }
}

/// Parses an `image-classifier` command line.
pub fn command(args: &[&str]) -> Command {
    Cli::parse_from(std::iter::once("image-classifier").chain(args.iter().copied())).command
}

pub fn train_run(args: &[&str]) -> zoo_apps::run::MetricsFile {
    let Command::Train(command) = command(args) else {
        panic!("not a train command")
    };
    train(&command).unwrap().0
}

pub fn accuracy(metrics: &TestMetrics) -> f64 {
    match metrics {
        TestMetrics::Classification { accuracy, .. } => *accuracy,
        TestMetrics::Regression { .. } => panic!("a classifier reports accuracy"),
    }
}

/// The backends this build and machine can run, wgpu included when it has an adapter.
fn backends(test: &str) -> Vec<BackendKind> {
    let mut backends: Vec<BackendKind> = zoo_tests::cpu_backends()
        .into_iter()
        .map(|(b, _)| b)
        .collect();
    if wgpu_device(test).is_some() {
        backends.push(BackendKind::Wgpu);
    }
    backends
}

#[test]
fn a_short_mnist_run_beats_chance_widely_on_every_model_and_backend() {
    let data = tempfile::tempdir().unwrap();
    write_mnist_subset(data.path(), 600, 300);
    let data_arg = data.path().to_str().unwrap();
    for backend in backends("short MNIST runs") {
        for model in ["logistic", "mlp", "cnn"] {
            let out = tempfile::tempdir().unwrap();
            let _rng = exclusive_rng();
            let metrics = train_run(&[
                "train",
                "--model",
                model,
                "--backend",
                backend.name(),
                "--data",
                data_arg,
                "--epochs",
                "5",
                "--lr",
                "0.003",
                "--quiet",
                "--out",
                out.path().to_str().unwrap(),
            ]);
            let accuracy = accuracy(&metrics.test);
            eprintln!(
                "{model} on {backend}: test accuracy {accuracy:.3} after 5 epochs on 600 images"
            );
            // Chance is 0.1; a working model of any kind is far above it after 5 epochs.
            assert!(accuracy >= 0.6, "{model} on {backend}: accuracy {accuracy}");
            assert_eq!(
                (metrics.model.as_str(), metrics.backend, metrics.epochs_run),
                (model, backend, 5)
            );
            for file in [
                "model.bpk",
                "model.json",
                "history.json",
                "metrics.json",
                "learning-curve.png",
                "confusion-matrix.png",
            ] {
                assert!(
                    out.path().join(file).is_file(),
                    "{model} on {backend}: {file} is missing"
                );
            }
        }
    }
}

#[test]
fn predict_gives_the_classes_evaluate_scores_even_on_another_backend() {
    let data = tempfile::tempdir().unwrap();
    write_mnist_subset(data.path(), 500, 200);
    let out = tempfile::tempdir().unwrap();
    let (data_arg, out_arg) = (data.path().to_str().unwrap(), out.path().to_str().unwrap());
    {
        let _rng = exclusive_rng();
        train_run(&[
            "train",
            "--model",
            "mlp",
            "--backend",
            "flex",
            "--data",
            data_arg,
            "--epochs",
            "3",
            "--quiet",
            "--out",
            out_arg,
        ]);
    }
    let test_file = data.path().join("t10k-images-idx3-ubyte");
    let labels = idx::read_labels(&data.path().join("t10k-labels-idx1-ubyte")).unwrap();
    let indices: Vec<String> = (0..200).map(|i| i.to_string()).collect();
    let mut checked = 0;
    for (backend, _) in zoo_tests::cpu_backends() {
        let Command::Evaluate(evaluate) = command(&[
            "evaluate",
            "--model-dir",
            out_arg,
            "--backend",
            backend.name(),
        ]) else {
            unreachable!()
        };
        let TestMetrics::Classification {
            confusion,
            accuracy,
            ..
        } = zoo_apps::app::evaluate(&evaluate).unwrap()
        else {
            panic!("classification metrics")
        };
        let Command::Predict(predict) = command(&[
            "predict",
            "--model-dir",
            out_arg,
            "--backend",
            backend.name(),
            "--top",
            "1",
            "--index",
            &indices.join(","),
            test_file.to_str().unwrap(),
        ]) else {
            unreachable!()
        };
        let predictions = predict_files(&predict).unwrap();
        assert_eq!(predictions.len(), 200);
        let mut predicted_confusion = vec![vec![0; 10]; 10];
        for (prediction, &label) in predictions.iter().zip(&labels) {
            let class: usize = prediction.top[0].0.parse().unwrap();
            predicted_confusion[label as usize][class] += 1;
        }
        assert_eq!(predicted_confusion, confusion, "on {backend}");
        assert!(accuracy > 0.5, "{accuracy}");
        checked += 1;
    }
    assert!(checked >= 1);
}

#[test]
fn predict_reads_png_files_like_the_idx_image_they_show() {
    let data = tempfile::tempdir().unwrap();
    write_mnist_subset(data.path(), 300, 20);
    let out = tempfile::tempdir().unwrap();
    let (data_arg, out_arg) = (data.path().to_str().unwrap(), out.path().to_str().unwrap());
    {
        let _rng = exclusive_rng();
        // Normalised inputs: `predict` must replay the training statistics on both paths.
        train_run(&[
            "train",
            "--model",
            "logistic",
            "--normalize",
            "--data",
            data_arg,
            "--epochs",
            "2",
            "--quiet",
            "--out",
            out_arg,
        ]);
    }
    let test = idx::load_part(data.path(), Part::Test, None).unwrap();
    let png = data.path().join("digit 3.png");
    image::GrayImage::from_raw(28, 28, test.image(3).unwrap().to_vec())
        .unwrap()
        .save(&png)
        .unwrap();
    let idx_file = data.path().join("t10k-images-idx3-ubyte");
    let Command::Predict(predict) = command(&[
        "predict",
        "--model-dir",
        out_arg,
        "--index",
        "3",
        png.to_str().unwrap(),
        idx_file.to_str().unwrap(),
    ]) else {
        unreachable!()
    };
    let predictions = predict_files(&predict).unwrap();
    assert_eq!(predictions.len(), 2);
    assert_eq!(
        predictions[0].top, predictions[1].top,
        "same pixels, same probabilities"
    );
    assert_eq!(predictions[1].input, format!("{}[3]", idx_file.display()));
    assert_eq!(predictions[0].top.len(), 3);
    let manifest = std::fs::read_to_string(out.path().join("model.json")).unwrap();
    assert!(manifest.contains("\"normalization\": {"), "{manifest}");
    let probabilities: Vec<f32> = predictions[0].top.iter().map(|t| t.1).collect();
    assert!(
        probabilities.windows(2).all(|w| w[0] >= w[1]),
        "most probable first: {probabilities:?}"
    );
}

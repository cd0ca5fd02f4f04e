//! `zoo-import`, `zoo-export` and `train --init-from` as a user runs them: PyTorch weights
//! (tests/fixtures/torch, made by bench/torch_interop.py) into a model folder the apps take,
//! back out again, and as the start of a training run.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::run_app;
use zoo_models::interop::{KeyRenames, model_from_pytorch};
use zoo_models::prelude::*;

/// The CPU device the apps use (`Device::default()` would be wgpu in a build with it).
fn cpu() -> Device {
    BackendKind::default_for_build().device().unwrap()
}

const TABULAR: &str = env!("CARGO_BIN_EXE_tabular");
const IMPORT: &str = env!("CARGO_BIN_EXE_zoo-import");
const EXPORT: &str = env!("CARGO_BIN_EXE_zoo-export");

fn fixture(file: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/torch")
        .join(file)
        .to_str()
        .unwrap()
        .to_string()
}

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program).args(args).output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `tabular predict`'s lines for a textbook setosa and virginica.
fn predict_iris(dir: &Path) -> String {
    let mut child = Command::new(TABULAR)
        .args(["predict", "--model-dir", dir.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"5.1,3.5,1.4,0.2\n7.7,3.0,6.1,2.3\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    String::from_utf8(output.stdout).unwrap()
}

fn text(path: &Path) -> String {
    path.to_str().unwrap().to_string()
}

/// A zoo iris classifier trained into `dir/zoo`; its model.json (the config, classes and the
/// app's scaling) is what PyTorch's iris weights are imported with.
fn zoo_iris_model_json(dir: &Path) -> String {
    let zoo = dir.join("zoo");
    run_app(
        TABULAR,
        &[
            "train",
            "--dataset",
            "iris",
            "--quiet",
            "--out",
            &text(&zoo),
        ],
    );
    text(&zoo.join("model.json"))
}

/// The logistic model of the PyTorch fixture with the weights of `file`.
fn logistic_from(file: &Path) -> Model {
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("logistic.json")).unwrap()).unwrap();
    let config: ModelConfig = serde_json::from_value(record["model"].clone()).unwrap();
    model_from_pytorch(&config, file, &KeyRenames::default(), &cpu()).unwrap()
}

#[test]
fn pytorch_weights_become_a_model_folder_and_go_back_out() {
    let dir = tempfile::tempdir().unwrap();
    let s = |p: &PathBuf| text(p);
    let config = zoo_iris_model_json(dir.path());

    let imported = dir.path().join("imported");
    let stdout = run_app(
        IMPORT,
        &[
            "--weights",
            &fixture("logistic.pt"),
            "--config",
            &config,
            "--out",
            &s(&imported),
        ],
    );
    assert!(stdout.contains("tabular evaluate"), "{stdout}");
    // PyTorch's classifier, behind the zoo's preprocessing, knows its irises.
    let predicted = predict_iris(&imported);
    let classes: Vec<&str> = predicted
        .lines()
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    assert_eq!(classes, ["setosa", "virginica"], "{predicted}");
    let evaluated = run_app(TABULAR, &["evaluate", "--model-dir", &s(&imported)]);
    assert!(evaluated.contains("accuracy"), "{evaluated}");

    // Out as safetensors, and in again with the model.json the export carries.
    let exported = dir.path().join("model.safetensors");
    let stdout = run_app(
        EXPORT,
        &[
            "--model-dir",
            &s(&imported),
            "--format",
            "safetensors",
            "--out",
            &s(&exported),
        ],
    );
    assert!(
        stdout.contains("[batch, 4] inputs") && stdout.contains("[batch, 3]"),
        "{stdout}"
    );
    let round_trip = dir.path().join("round-trip");
    run_app(
        IMPORT,
        &["--weights", &s(&exported), "--out", &s(&round_trip)],
    );
    assert_eq!(predict_iris(&round_trip), predicted);

    // The export is the PyTorch file's weights: read back, they give PyTorch's outputs.
    assert_eq!(
        outputs(&logistic_from(&exported)),
        outputs(&logistic_from(Path::new(&fixture("logistic.safetensors"))))
    );

    // ONNX, where this build has it.
    let onnx = dir.path().join("model.onnx");
    let output = run(
        EXPORT,
        &[
            "--model-dir",
            &s(&imported),
            "--format",
            "onnx",
            "--out",
            &s(&onnx),
        ],
    );
    if cfg!(feature = "onnx") {
        assert!(output.status.success(), "{}", stderr(&output));
        assert!(std::fs::metadata(&onnx).unwrap().len() > 0);
    } else {
        assert_eq!(output.status.code(), Some(1));
        assert!(
            stderr(&output).contains("--features onnx"),
            "{}",
            stderr(&output)
        );
        assert!(!onnx.exists());
    }
}

fn outputs(model: &Model) -> Vec<f32> {
    let device = cpu();
    let x = burn::prelude::Tensor::<2>::from_data(
        [[0.5, -1.0, 0.25, 2.0], [-0.3, 0.1, 1.5, -0.7]],
        &device,
    );
    model.forward(x).into_data().try_to_vec::<f32>().unwrap()
}

#[test]
fn import_refuses_what_does_not_fit_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = |p: &PathBuf| text(p);
    let config = zoo_iris_model_json(dir.path());
    let out = dir.path().join("out");

    // The MLP's weights for the logistic model: every key named.
    let output = run(
        IMPORT,
        &[
            "--weights",
            &fixture("mlp.pt"),
            "--config",
            &config,
            "--out",
            &s(&out),
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(
        message.contains("missing key `linear.weight` (a [3, 4] tensor)"),
        "{message}"
    );
    assert!(
        message.contains("unexpected key `hidden.0.weight`"),
        "{message}"
    );
    assert!(!message.contains("panicked"), "{message}");
    assert!(!out.exists());

    // A PyTorch pickle carries no model.json.
    let output = run(
        IMPORT,
        &["--weights", &fixture("logistic.pt"), "--out", &s(&out)],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("pass the model.json"),
        "{}",
        stderr(&output)
    );

    // A bad --map-key is a usage error.
    let output = run(
        IMPORT,
        &[
            "--weights",
            &fixture("logistic.pt"),
            "--config",
            &config,
            "--map-key",
            "(=x",
            "--out",
            &s(&out),
        ],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("not a valid regex"),
        "{}",
        stderr(&output)
    );
    assert!(!out.exists());
}

#[test]
fn train_starts_from_pytorch_weights() {
    let dir = tempfile::tempdir().unwrap();
    let s = |p: &PathBuf| text(p);
    let train = |out: &PathBuf, extra: &[&str]| {
        let mut args = vec![
            "train",
            "--dataset",
            "iris",
            "--model",
            "logistic",
            "--optimizer",
            "adam",
            "--lr",
            "1e-9",
            "--epochs",
            "1",
            "--quiet",
            "--out",
        ];
        let out = s(out);
        args.push(&out);
        args.extend_from_slice(extra);
        run(TABULAR, &args)
    };
    let from_torch = dir.path().join("from-torch");
    let output = train(
        &from_torch,
        &["--init-from", &fixture("logistic.safetensors")],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let fresh = dir.path().join("fresh");
    assert!(train(&fresh, &[]).status.success());

    // With a learning rate of 1e-9 the weights are PyTorch's after the epoch, not fresh ones.
    let device = cpu();
    let weights = |folder: &PathBuf| {
        let (model, _) = zoo_models::store::load(folder, &device).unwrap();
        outputs(&model)
    };
    let torch = outputs(&logistic_from(Path::new(&fixture("logistic.pt"))));
    let distance = |a: &[f32], b: &[f32]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    };
    assert!(distance(&weights(&from_torch), &torch) < 1e-4);
    assert!(distance(&weights(&fresh), &torch) > 0.1);

    // Weights of another model are refused by key before any training.
    let output = train(
        &dir.path().join("wrong"),
        &["--init-from", &fixture("cnn.pt")],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("missing key `linear.weight`"),
        "{}",
        stderr(&output)
    );
}

//! `train --resume`: a real `image-classifier train` process killed with SIGKILL (after its
//! first checkpoint, or before it), or stopped with Ctrl-C (SIGINT), then resumed, ends with
//! the same weights, history and test metrics as the run that was never interrupted.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::Duration;

mod common;
use common::wait_until;
use zoo_models::backend::BackendKind;
use zoo_models::conformance::parameters;

const BINARY: &str = env!("CARGO_BIN_EXE_image-classifier");

/// The MLP on the bundled MNIST: most of a second an epoch here, so that a signal sent when
/// the first epoch's checkpoint appears lands in the middle of the run.
fn train_args(out: &Path) -> Vec<String> {
    [
        "train", "--model", "mlp", "--epochs", "3", "--quiet", "--out",
    ]
    .into_iter()
    .map(String::from)
    .chain([out.display().to_string()])
    .collect()
}

fn run(args: &[String]) -> Output {
    Command::new(BINARY).args(args).output().unwrap()
}

fn succeeds(args: &[String]) -> Output {
    let output = run(args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{args:?}: {stderr}");
    output
}

/// Waits until `path` exists, the child still running.
fn wait_for(child: &mut Child, path: &Path) {
    wait_until(
        &path.display().to_string(),
        Duration::from_secs(300),
        || {
            assert!(
                child.try_wait().unwrap().is_none(),
                "training ended before {} appeared",
                path.display()
            );
            path.exists()
        },
    );
}

fn checkpoint(out: &Path, epoch: usize) -> PathBuf {
    out.join("checkpoints").join(format!("epoch-{epoch:04}"))
}

/// The losses and metrics of `history.json`, without the timings no two runs share.
fn figures(out: &Path) -> Vec<serde_json::Value> {
    let history: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("history.json")).unwrap()).unwrap();
    history["epochs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|epoch| {
            let mut epoch = epoch.clone();
            let fields = epoch.as_object_mut().unwrap();
            fields.remove("seconds");
            fields.remove("samples_per_second");
            epoch
        })
        .collect()
}

fn test_metrics(out: &Path) -> serde_json::Value {
    let metrics: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("metrics.json")).unwrap()).unwrap();
    metrics["test"].clone()
}

fn weights(out: &Path) -> Vec<f32> {
    let device = BackendKind::default_for_build().device().unwrap();
    let (model, _) = zoo_models::store::load(out, &device).unwrap();
    parameters(&model)
}

fn assert_same_run(resumed: &Path, straight: &Path) {
    assert!(weights(resumed) == weights(straight), "the weights differ");
    assert_eq!(figures(resumed), figures(straight));
    assert_eq!(test_metrics(resumed), test_metrics(straight));
}

#[test]
fn killed_or_interrupted_runs_resume_to_the_same_model() {
    let dir = tempfile::tempdir().unwrap();
    let straight = dir.path().join("straight");
    succeeds(&train_args(&straight));

    // SIGKILL once the first epoch's checkpoint is complete: the kill lands in epoch 2.
    let killed = dir.path().join("killed");
    let mut child = Command::new(BINARY)
        .args(train_args(&killed))
        .spawn()
        .unwrap();
    wait_for(&mut child, &checkpoint(&killed, 1));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !killed.join("model.bpk").exists(),
        "the run finished before the kill"
    );
    let resume = ["train", "--resume", killed.to_str().unwrap()].map(String::from);
    succeeds(&resume);
    assert_same_run(&killed, &straight);

    // SIGKILL as soon as the run has recorded its arguments, long before its first
    // checkpoint: the resumed run starts over and ends the same.
    let early = dir.path().join("killed-early");
    let mut child = Command::new(BINARY)
        .args(train_args(&early))
        .spawn()
        .unwrap();
    wait_for(&mut child, &early.join("checkpoints").join("command.json"));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !checkpoint(&early, 1).exists(),
        "the first checkpoint was written before the kill"
    );
    let resume = ["train", "--resume", early.to_str().unwrap()].map(String::from);
    succeeds(&resume);
    assert_same_run(&early, &straight);

    // Ctrl-C once the first epoch's checkpoint is complete: a checkpoint, exit code 130.
    let interrupted = dir.path().join("interrupted");
    let mut child = Command::new(BINARY)
        .args(train_args(&interrupted))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&mut child, &checkpoint(&interrupted, 1));
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("training interrupted; checkpoint saved in"),
        "{stderr}"
    );
    assert!(stderr.contains("train --resume"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let leftovers: Vec<_> = std::fs::read_dir(interrupted.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "half-written files: {leftovers:?}");
    let resume = ["train", "--resume", interrupted.to_str().unwrap()].map(String::from);
    succeeds(&resume);
    assert_same_run(&interrupted, &straight);
}

#[test]
fn resuming_with_other_arguments_names_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let mut args = train_args(&out);
    args[4] = "1".into(); // --epochs 1
    succeeds(&args);
    let other = [
        "train",
        "--resume",
        out.to_str().unwrap(),
        "--dropout",
        "0.5",
    ]
    .map(String::from);
    let output = run(&other);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--dropout is 0.5 here but was unset"),
        "{stderr}"
    );
    // The error names every flag a resumed run may change, as the code allows them.
    assert!(
        stderr.contains(
            "(only --epochs, --quiet, --backend, --remote, --remote-device, --devices and \
             --elastic may change)"
        ),
        "{stderr}"
    );

    // More epochs continue the finished run.
    let longer = ["train", "--resume", out.to_str().unwrap(), "--epochs", "2"].map(String::from);
    succeeds(&longer);
    assert_eq!(figures(&out).len(), 2);

    let nothing = dir.path().join("never-trained");
    let missing = ["train", "--resume", nothing.to_str().unwrap()].map(String::from);
    let output = run(&missing);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("holds no resumable training run"),
        "{stderr}"
    );
}

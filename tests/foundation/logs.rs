//! `FitConfig::log_dir`: TensorBoard's own reader (the `tensorboard` package's
//! `EventAccumulator`) loads the event files, with each epoch once even when a run logged past
//! its last checkpoint before it was resumed; the CSV log holds the history.

use std::path::{Path, PathBuf};

use zoo_models::mlp::MlpConfig;
use zoo_models::model::{Model, ModelConfig};
use zoo_models::prelude::*;
use zoo_models::train::CSV_LOG_FILE;
use zoo_models::train::checkpointer as checkpoint;
use zoo_tests::{cpu_backends, exclusive_rng, separable_blobs};

/// The Python with the `tensorboard` package that `.ci/run` installs, or
/// `BURN_ZOO_TENSORBOARD_PYTHON`.
fn tensorboard_python() -> Option<PathBuf> {
    let python = std::env::var_os("BURN_ZOO_TENSORBOARD_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/burn-zoo-tensorboard/bin/python"));
    let works = std::process::Command::new(&python)
        .args(["-c", "import tensorboard"])
        .output()
        .is_ok_and(|o| o.status.success());
    match works {
        true => Some(python),
        false if std::env::var_os("CI").is_some() => panic!(
            "CI must read the event files with TensorBoard: no tensorboard package for {}",
            python.display()
        ),
        false => {
            zoo_tests::not_run(
                &format!(
                    "reading the TensorBoard logs with TensorBoard (no tensorboard package for {})",
                    python.display()
                ),
                "`.ci/run` installs it there, or set BURN_ZOO_TENSORBOARD_PYTHON",
            );
            None
        }
    }
}

/// What TensorBoard's `EventAccumulator` reads in each of `runs`: a line per scalar tag, its
/// steps and values, `run tag step:value …`, sorted.
fn read_with_tensorboard(python: &Path, runs: &[PathBuf]) -> Vec<String> {
    let script = r#"
import sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
for run in sys.argv[1:]:
    accumulator = EventAccumulator(run)
    accumulator.Reload()
    for tag in sorted(accumulator.Tags()["scalars"]):
        events = accumulator.Scalars(tag)
        print(run.rsplit("/", 1)[-1], tag, " ".join(f"{e.step}:{e.value:.6g}" for e in events))
"#;
    let output = std::process::Command::new(python)
        .arg("-c")
        .arg(script)
        .args(runs)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn mlp(device: &Device) -> Model {
    device.seed(7);
    ModelConfig::Mlp(MlpConfig::new(2, vec![16], 4))
        .init(device)
        .unwrap()
}

#[test]
fn tensorboard_reads_each_epoch_once_after_a_resume_and_the_csv_holds_the_history() {
    let _rng = exclusive_rng();
    let data = separable_blobs(60, 4, 5);
    let task = Task::Multiclass { n_classes: 4 };
    let device = cpu_backends()[0].1.clone();
    let run = |dir: &Path, logs: &Path, epochs| {
        FitConfig::new()
            .with_progress(false)
            .with_epochs(epochs)
            .with_batch_size(16)
            .with_learning_rate(0.01)
            .with_validation_split(0.2)
            .with_checkpoints(Some(dir.to_path_buf()))
            // Epochs 2 to 4 come within the hour after epoch 1's: no checkpoint of theirs.
            .with_checkpoint_interval(Some(3600.0))
            .with_log_dir(Some(logs.to_path_buf()))
    };
    let straight_dir = tempfile::tempdir().unwrap();
    let straight_logs = straight_dir.path().join("logs");
    let straight = fit(
        mlp(&device),
        task,
        &data,
        None,
        &run(straight_dir.path(), &straight_logs, 5),
    )
    .unwrap();

    // A run killed after logging four epochs, its last checkpoint epoch 1's, then resumed.
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    fit(mlp(&device), task, &data, None, &run(dir.path(), &logs, 4)).unwrap();
    let kept = checkpoint::list(dir.path()).unwrap();
    std::fs::remove_dir_all(&kept.last().unwrap().dir).unwrap();
    assert_eq!(checkpoint::latest(dir.path()).unwrap().state.epochs_done, 1);
    let config = run(dir.path(), &logs, 5).with_resume(true);
    fit(mlp(&device), task, &data, None, &config).unwrap();

    // The CSV log: a header and one row per epoch, the figures of the history.
    let csv = std::fs::read_to_string(logs.join(CSV_LOG_FILE)).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(
        rows[0],
        "epoch,loss,accuracy,val_accuracy,val_loss,val_macro_f1,learning_rate,seconds"
    );
    assert_eq!(rows.len(), 6, "{csv}");
    for (row, record) in rows[1..].iter().zip(&straight.history.epochs) {
        let fields: Vec<&str> = row.split(',').collect();
        assert_eq!(fields[0], record.epoch.to_string());
        assert_eq!(fields[1].parse::<f64>().unwrap(), record.loss, "{row}");
        assert_eq!(fields[6], "0.01");
    }

    let Some(python) = tensorboard_python() else {
        return;
    };
    let runs = |logs: &Path| [logs.join("train"), logs.join("validation")];
    let read = read_with_tensorboard(&python, &runs(&logs));
    // Two event files per run: TensorBoard keeps epochs 2 to 4 of the second only.
    assert_eq!(std::fs::read_dir(&runs(&logs)[0]).unwrap().count(), 2);
    assert_eq!(read, read_with_tensorboard(&python, &runs(&straight_logs)));
    let tags: Vec<String> = read
        .iter()
        .map(|line| line.split(' ').take(2).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        tags,
        [
            "train epoch_accuracy",
            "train epoch_learning_rate",
            "train epoch_loss",
            "validation epoch_accuracy",
            "validation epoch_loss",
            "validation epoch_macro_f1",
        ]
    );
    let train_loss = &read[2];
    let steps: Vec<&str> = train_loss.split(' ').skip(2).collect();
    assert_eq!(steps.len(), 5, "each epoch once: {train_loss}");
    for (step, record) in steps.iter().zip(&straight.history.epochs) {
        let (epoch, value) = step.split_once(':').unwrap();
        assert_eq!(epoch, record.epoch.to_string());
        let value: f64 = value.parse().unwrap();
        // TensorBoard's scalars are f32, printed to 6 digits.
        assert!(
            (value - record.loss).abs() <= 1e-5 * record.loss.abs(),
            "epoch {epoch}: {value} vs {}",
            record.loss
        );
    }
}

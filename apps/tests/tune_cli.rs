//! `tune`: a real `tabular tune` process. A search killed with SIGKILL and resumed makes the
//! leaderboard of the search never interrupted; the search picks the MLP over logistic
//! regression where only the MLP can fit the data; TensorBoard's reader finds the HParams
//! sessions; a bad search space is an error before anything trains.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

mod common;

const BINARY: &str = env!("CARGO_BIN_EXE_tabular");

fn tune(out: &Path, search: &[&str], train: &[&str]) -> Vec<String> {
    let mut arguments = vec![
        "tune".to_string(),
        "--out".into(),
        out.display().to_string(),
    ];
    arguments.extend(search.iter().map(|a| a.to_string()));
    arguments.push("--".into());
    arguments.extend(train.iter().map(|a| a.to_string()));
    arguments
}

fn succeeds(arguments: &[String]) -> Output {
    let output = Command::new(BINARY).args(arguments).output().unwrap();
    assert!(
        output.status.success(),
        "{arguments:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// `trials.csv` without the wall times, which no two runs share.
fn leaderboard(out: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(out.join("trials.csv")).unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let seconds = reader
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "seconds")
        .unwrap();
    reader
        .records()
        .map(|row| {
            let row = row.unwrap();
            let kept: Vec<&str> = row
                .iter()
                .enumerate()
                .filter(|&(i, _)| i != seconds)
                .map(|(_, cell)| cell)
                .collect();
            kept.join(",")
        })
        .collect()
}

fn json(path: PathBuf) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

/// Hyperband (17 configurations, 22 runs of 3, 9 or 27 epochs) over the MLP's learning rate
/// and width on the breast-cancer table.
const SEARCH: [&str; 4] = [
    "--param",
    "lr=log:1e-4..1e-1",
    "--param",
    "hidden=4/16/32,16",
];
const DATA: [&str; 5] = [
    "--dataset",
    "breast-cancer",
    "--model",
    "mlp",
    "--epochs=27",
];

#[test]
fn a_killed_search_resumes_to_the_same_leaderboard_and_best_model() {
    let dir = tempfile::tempdir().unwrap();
    let straight = dir.path().join("straight");
    let output = succeeds(&tune(&straight, &SEARCH, &DATA));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("17 trials, 22 runs"), "{stdout}");
    assert!(stdout.contains("refitting trial"), "{stdout}");
    let rows = leaderboard(&straight);
    assert_eq!(rows.len(), 22, "{rows:#?}");
    assert!(straight.join("trials.png").is_file());
    assert!(straight.join("best/model.bpk").is_file());

    // SIGKILL to the search once its first trial is done: its running trial dies with it.
    let killed = dir.path().join("killed");
    let mut child = Command::new(BINARY)
        .args(tune(&killed, &SEARCH, &DATA))
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        let done = std::fs::read_to_string(killed.join("tune.json"))
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .is_some_and(|state| !state["results"].as_array().unwrap().is_empty());
        if done {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the search ended early"
        );
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no trial finished"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !killed.join("best").exists(),
        "the search finished before the kill"
    );
    assert!(leaderboard(&killed).len() < 22);
    // The trial the kill interrupted gets its SIGKILL from the kernel as its parent dies.
    std::thread::sleep(Duration::from_millis(500));

    let resume = ["tune", "--resume", killed.to_str().unwrap()].map(String::from);
    succeeds(&resume);
    assert_eq!(leaderboard(&killed), rows);
    assert_eq!(
        json(killed.join("best/metrics.json"))["test"],
        json(straight.join("best/metrics.json"))["test"]
    );

    // --resume takes no other arguments: the search's are recorded.
    let output = Command::new(BINARY)
        .args([
            "tune",
            "--resume",
            killed.to_str().unwrap(),
            "--parallel",
            "2",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("'--resume <DIR>' cannot be used with"),
        "{stderr}"
    );

    read_hparams_with_tensorboard(&straight);
}

/// TensorBoard's reader finds the experiment and each trial's hyper-parameters.
fn read_hparams_with_tensorboard(search: &Path) {
    let python = std::env::var_os("BURN_ZOO_TENSORBOARD_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/burn-zoo-tensorboard/bin/python"));
    let script = r#"
import sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2
def content(run, tag):
    accumulator = EventAccumulator(run)
    accumulator.Reload()
    data = accumulator.PluginTagToContent("hparams")[tag]
    return plugin_data_pb2.HParamsPluginData.FromString(data)
root = sys.argv[1]
experiment = content(root, "_hparams_/experiment").experiment
print(" ".join(info.name for info in experiment.hparam_infos))
print(experiment.metric_infos[0].name.group, experiment.metric_infos[0].name.tag)
session = content(root + "/001", "_hparams_/session_start_info").session_start_info
print(session.hparams["lr"].number_value, session.hparams["hidden"].string_value)
accumulator = EventAccumulator(root + "/001/validation")
accumulator.Reload()
print(len(accumulator.Scalars("epoch_accuracy")))
"#;
    let has_tensorboard = Command::new(&python)
        .args(["-c", "import tensorboard"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_tensorboard {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must read the HParams with TensorBoard: no tensorboard package for {}",
            python.display()
        );
        common::not_run(
            &format!(
                "reading tune's HParams with TensorBoard (no tensorboard package for {})",
                python.display()
            ),
            "`.ci/run` installs it there, or set BURN_ZOO_TENSORBOARD_PYTHON",
        );
        return;
    }
    let output = Command::new(&python)
        .arg("-c")
        .arg(script)
        .arg(search.join("tensorboard"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "lr hidden");
    assert_eq!(lines[1], "validation epoch_accuracy");
    let csv = std::fs::read_to_string(search.join("trials.csv")).unwrap();
    let trial_1: Vec<&str> = csv.lines().nth(1).unwrap().split(',').collect();
    let (lr, hidden) = (trial_1[trial_1.len() - 2], trial_1[trial_1.len() - 1]);
    assert_eq!(
        lines[2],
        format!(
            "{} {}",
            lr.parse::<f64>().unwrap(),
            hidden.trim_matches('"')
        )
    );
    // Trial 1 is in Hyperband's first bracket: 3 epochs, and 9 and 27 if promoted.
    assert!(["3", "9", "27"].contains(&lines[3]), "{stdout}");
}

/// Two interleaved rings: no straight line separates them, an MLP does.
fn write_rings(path: &Path) {
    let mut csv = String::from("x,y,ring\n");
    for i in 0..400 {
        let angle = i as f64 * 2.399_963; // the golden angle: points spread evenly
        let (radius, ring) = if i % 2 == 0 { (1.0, 0) } else { (2.0, 1) };
        let wobble = 0.15 * ((i * 7919 % 100) as f64 / 100.0 - 0.5);
        let r = radius + wobble;
        csv += &format!("{},{},{ring}\n", r * angle.cos(), r * angle.sin());
    }
    std::fs::write(path, csv).unwrap();
}

#[test]
fn the_search_picks_the_mlp_where_a_straight_line_cannot_separate_the_classes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("rings.csv");
    write_rings(&data);
    let out = dir.path().join("search");
    let output = succeeds(&tune(
        &out,
        &[
            "--strategy",
            "random",
            "--trials",
            "4",
            "--param",
            "model=logistic/mlp",
        ],
        &[
            "--data",
            data.to_str().unwrap(),
            "--header",
            "--target",
            "ring",
            "--task",
            "classification",
            "--epochs",
            "60",
        ],
    ));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let state = json(out.join("tune.json"));
    let results = state["results"].as_array().unwrap();
    let score = |trial: &serde_json::Value| trial["metric"].as_f64().unwrap();
    let models: Vec<String> = std::fs::read_to_string(out.join("trials.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|row| row.rsplit(',').next().unwrap().to_string())
        .collect();
    assert!(models.contains(&"logistic".to_string()) && models.contains(&"mlp".to_string()));
    let best = state["refitted"].as_u64().unwrap() as usize;
    assert_eq!(models[best - 1], "mlp", "{stdout}");
    let best_score = score(&results.iter().find(|r| r["trial"] == best).unwrap());
    for (trial, model) in models.iter().enumerate() {
        if model == "logistic" {
            let logistic = results.iter().find(|r| r["trial"] == trial + 1).unwrap();
            assert!(best_score > score(logistic) + 0.2, "{stdout}");
        }
    }
    let test = json(out.join("best/metrics.json"))["test"]["accuracy"]
        .as_f64()
        .unwrap();
    assert!(test > 0.9, "the refitted MLP's test accuracy: {test}");

    // Another search in the same folder starts clean: none of the earlier trials is resumed.
    succeeds(&tune(
        &out,
        &["--strategy", "random", "--trials", "2", "--param", "c=1/10"],
        &[
            "--data",
            data.to_str().unwrap(),
            "--header",
            "--target",
            "ring",
            "--task",
            "classification",
        ],
    ));
    assert_eq!(std::fs::read_dir(out.join("trials")).unwrap().count(), 2);
    assert_eq!(leaderboard(&out).len(), 2);
}

#[test]
fn bad_search_spaces_are_errors_before_anything_trains() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("search");
    let space = dir.path().join("space.json");
    std::fs::write(&space, r#"{"lr": true}"#).unwrap();
    let space = space.to_str().unwrap();
    let iris = ["--dataset", "iris", "--model", "mlp"];
    let cases: [(&[&str], &[&str], &str); 9] = [
        (
            &["--param", "lr=0.1..0.01"],
            &iris,
            "the range `0.1..0.01` is empty",
        ),
        (
            &["--param", "momentum=0.1/0.9"],
            &iris,
            "unexpected argument '--momentum'",
        ),
        (
            &["--param", "model=linear/mlp"],
            &["--dataset", "iris"],
            "linear regression cannot classify",
        ),
        (
            &["--param", "model=cnn/mlp"],
            &["--dataset", "iris"],
            "invalid value 'cnn'",
        ),
        (
            &["--param", "batch-size=0/8"],
            &iris,
            "batch size must be at least 1",
        ),
        (&["--param", "epochs=5/10"], &iris, "cannot be searched"),
        (&["--space", space], &iris, "must be a string"),
        (
            &["--param", "lr=1e-3/1e-2", "--metric", "val_r2"],
            &iris,
            "--metric val_r2",
        ),
        (
            &["--param", "lr=1e-3/1e-2", "--cv", "3"],
            &iris,
            "use it with --strategy random",
        ),
    ];
    for (search, train, expected) in cases {
        let output = Command::new(BINARY)
            .args(tune(&out, search, train))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{search:?}: {stderr}");
        assert!(stderr.contains(expected), "{search:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(!out.exists(), "{search:?} made the search's folder");
    }
}

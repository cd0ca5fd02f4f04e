//! Remote devices and data-parallel training against real `zoo-device-server` processes on
//! loopback ports: every kind of model trained, evaluated and used remotely as locally, data
//! parallelism over two servers, tokens, bad addresses, a server killed mid-run, and an
//! elastic run that goes on without it.
#![cfg(feature = "remote")]

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{Server, assert_close, exit_status, losses, tones, wait_until};
use zoo_models::conformance::{parameters, transfer};
use zoo_models::prelude::*;
use zoo_models::remote;

const DEVICE_SERVER: &str = env!("CARGO_BIN_EXE_zoo-device-server");
const TABULAR: &str = env!("CARGO_BIN_EXE_tabular");
const AUDIO: &str = env!("CARGO_BIN_EXE_audio-classifier");
const ZOO_CHECK: &str = env!("CARGO_BIN_EXE_zoo-check");
const TOKEN: &str = "remote-test-token-0123456789abcdef";

/// A `zoo-device-server` on a free loopback port, serving `devices` flex devices.
fn device_server(devices: u32, env: &[(&str, &str)]) -> Server {
    Server::start_program(
        DEVICE_SERVER,
        &[
            "--bind",
            "127.0.0.1:0",
            "--backend",
            "flex",
            "--devices",
            &devices.to_string(),
        ],
        env,
    )
}

fn url(server: &Server) -> String {
    format!("ws://{}", server.address)
}

/// Runs `program` with `args`; BURN_ZOO_TOKEN only as `token` says.
fn run(program: &str, args: &[&str], token: Option<&str>) -> Output {
    let mut command = Command::new(program);
    command.args(args).env_remove("BURN_ZOO_TOKEN");
    if let Some(token) = token {
        command.env("BURN_ZOO_TOKEN", token);
    }
    command.output().unwrap()
}

fn succeeded(program: &str, args: &[&str], token: Option<&str>) -> String {
    let output = run(program, args, token);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{program} {args:?}: {stderr}");
    String::from_utf8(output.stdout).unwrap()
}

/// Runs `program`, which must fail with exit code 1 and an error (not a panic); its stderr.
fn failed(program: &str, args: &[&str], token: Option<&str>) -> String {
    let output = run(program, args, token);
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert_eq!(
        output.status.code(),
        Some(1),
        "{program} {args:?}: {stderr}"
    );
    assert!(stderr.contains("error: "), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn every_kind_of_model_trains_evaluates_and_predicts_remotely_as_on_the_local_cpu() {
    let server = device_server(1, &[]);
    let remote = url(&server);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("tones");
    tones(&data);
    let data = data.to_str().unwrap();
    // Linear and logistic regression (L-BFGS), an MLP (Adam) and the CNN, each with the same
    // seed on both sides. A remote device runs Burn's operations on the server's flex, never
    // the zoo's kernels, so the local side runs with the kernels off (BURN_ZOO_KERNELS=off):
    // the same operations, and the same dropout masks, which the kernels draw from their own
    // generator. The kernels are compared with Burn's layers in `tests/conformance`.
    let cases: [(&str, &str, Vec<&str>, f64); 4] = [
        ("linear", TABULAR, vec!["--dataset", "diabetes"], 1e-6),
        ("logistic", TABULAR, vec!["--dataset", "iris"], 1e-6),
        (
            "mlp",
            TABULAR,
            vec!["--dataset", "iris", "--epochs", "5"],
            1e-6,
        ),
        ("cnn", AUDIO, vec!["--data", data, "--epochs", "3"], 1e-6),
    ];
    for (model, program, args, tolerance) in cases {
        let outs = ["local", "remote"].map(|side| dir.path().join(format!("{model}-{side}")));
        for (out, backend) in outs
            .iter()
            .zip([["--backend", "flex"], ["--backend", "remote"]])
        {
            let mut command = vec!["train", "--model", model, "--quiet"];
            command.extend(&args);
            command.extend(backend);
            if backend[1] == "remote" {
                command.extend(["--remote", &remote]);
            }
            command.extend(["--out", out.to_str().unwrap()]);
            if backend[1] == "remote" {
                succeeded(program, &command, None);
            } else {
                let output = Command::new(program)
                    .args(&command)
                    .env_remove("BURN_ZOO_TOKEN")
                    .env("BURN_ZOO_KERNELS", "off")
                    .output()
                    .unwrap();
                let stderr = String::from_utf8_lossy(&output.stderr);
                assert!(output.status.success(), "{program} {command:?}: {stderr}");
            }
        }
        assert_close(&losses(&outs[0]), &losses(&outs[1]), tolerance, model);
        // The remotely trained model, evaluated on the server and here.
        let evaluate = |backend: &[&str]| {
            let mut command = vec!["evaluate", "--model-dir", outs[1].to_str().unwrap()];
            command.extend(backend);
            if program == AUDIO {
                command.extend(["--data", data]);
            }
            succeeded(program, &command, None)
        };
        assert_eq!(
            evaluate(&["--backend", "remote", "--remote", &remote]),
            evaluate(&["--backend", "flex"]),
            "{model}"
        );
    }
    // Predictions on the server, from files read here.
    let clip = format!("{data}/high_x_0.wav");
    let predict = |backend: &[&str]| {
        let model_dir = dir.path().join("cnn-remote");
        let mut command = vec!["predict", "--model-dir", model_dir.to_str().unwrap()];
        command.extend(backend);
        command.push(&clip);
        succeeded(AUDIO, &command, None)
    };
    let here = predict(&["--backend", "flex"]);
    assert!(here.contains("high"), "{here}");
    assert_eq!(predict(&["--backend", "remote", "--remote", &remote]), here);
}

/// Three well-separated classes in 4-D, 200 examples.
fn blobs() -> Examples {
    let mut values = Vec::new();
    let mut labels = Vec::new();
    for i in 0..200 {
        let class = i % 3;
        for j in 0..4 {
            let jitter = ((i * 7 + j * 13) % 17) as f32 / 17.0 - 0.5;
            values.push(if j == class { 2.0 } else { 0.0 } + jitter);
        }
        labels.push(class);
    }
    Examples::new(
        Features::new(values, 4).unwrap(),
        TargetData::Classes {
            labels,
            n_classes: 3,
        },
    )
    .unwrap()
}

#[test]
fn data_parallel_training_over_two_servers_gives_the_weights_of_one_device() {
    let (a, b) = (device_server(1, &[]), device_server(1, &[]));
    let on_a = remote::connect(&url(&a), 0).unwrap();
    let on_b = remote::connect(&url(&b), 0).unwrap();
    let local = BackendKind::Flex.device().unwrap();
    let data = blobs();
    let task = Task::Multiclass { n_classes: 3 };
    // No dropout: the shards' gradients then sum to the whole batch's exactly but for the
    // order of the additions. 7 batches an epoch, the last of 20 (shards of 10 and 10).
    let config = ModelConfig::Mlp(MlpConfig::new(4, vec![16], 3));
    let fit_config = FitConfig::new()
        .with_epochs(10)
        .with_batch_size(30)
        .with_learning_rate(1e-2)
        .with_progress(false);
    let train = |main: &Device, replicas: &[Device]| {
        local.seed(3);
        // The same initial weights everywhere, moved as a user moves them (`to_device` on a
        // model not yet initialised would initialise it on `main`, from the server's generator).
        let model = transfer(&config.init(&local).unwrap(), &config, main).unwrap();
        let fitted = fit_data_parallel(model, replicas, task, &data, None, &fit_config).unwrap();
        (parameters(&fitted.model), fitted.history)
    };
    let (one_device, history) = train(&local, &[]);
    assert!(history.epochs.last().unwrap().loss < 0.1, "{history:?}");
    for (what, main, replicas) in [
        ("two shards on the local CPU", &local, vec![local.clone()]),
        (
            "one shard on each of two servers",
            &on_a,
            vec![on_b.clone()],
        ),
    ] {
        let (parallel, _) = train(main, &replicas);
        let worst = one_device
            .iter()
            .zip(&parallel)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        // f32 rounding: each step's gradient differs by a few ulps (sums split in two), and
        // 70 Adam steps of 1e-2 carry that to at most ~1e-5 on weights of size ~1.
        assert!(worst < 1e-4, "{what}: weights differ by {worst}");
    }
}

#[test]
fn the_apps_train_data_parallel_across_two_servers() {
    let (a, b) = (device_server(1, &[]), device_server(1, &[]));
    let dir = tempfile::tempdir().unwrap();
    let train = |name: &str, extra: &[&str]| {
        let out = dir.path().join(name);
        let mut command = vec![
            "train",
            "--dataset",
            "iris",
            "--model",
            "mlp",
            "--epochs",
            "5",
            "--quiet",
        ];
        command.extend(extra);
        command.extend(["--out", out.to_str().unwrap()]);
        succeeded(TABULAR, &command, None);
        losses(&out)
    };
    let local = train("local", &["--backend", "flex"]);
    let (url_a, url_b) = (url(&a), url(&b));
    let parallel = train(
        "parallel",
        &[
            "--backend",
            "remote",
            "--remote",
            &url_a,
            "--remote",
            &url_b,
            "--devices",
            "2",
        ],
    );
    assert_close(&local, &parallel, 1e-4, "two servers");
    // More devices than the servers host, and several devices on a local backend.
    let too_many = failed(
        TABULAR,
        &[
            "train",
            "--dataset",
            "iris",
            "--backend",
            "remote",
            "--remote",
            &url_a,
            "--devices",
            "3",
        ],
        None,
    );
    assert!(too_many.contains("3 devices asked for"), "{too_many}");
    let local_devices = failed(
        TABULAR,
        &[
            "train",
            "--dataset",
            "iris",
            "--backend",
            "flex",
            "--devices",
            "2",
        ],
        None,
    );
    assert!(local_devices.contains("has one here"), "{local_devices}");
}

#[test]
fn the_server_checks_the_token_and_clients_name_what_is_wrong() {
    let server = device_server(1, &[("BURN_ZOO_TOKEN", TOKEN)]);
    let remote = url(&server);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("iris");
    let out = out.to_str().unwrap();
    let train = |remote: &str, device: &str, token: Option<&str>| {
        let command = [
            "train",
            "--dataset",
            "iris",
            "--quiet",
            "--backend",
            "remote",
            "--remote",
            remote,
            "--remote-device",
            device,
            "--out",
            out,
        ];
        run(TABULAR, &command, token)
    };
    assert!(train(&remote, "0", Some(TOKEN)).status.success());
    for (remote, device, token, message) in [
        (
            &*remote,
            "0",
            Some("not-the-token-0123456789"),
            "refused the token",
        ),
        (&remote, "0", None, "asks for a token"),
        (&remote, "5", Some(TOKEN), "has no device 5 (it hosts 1)"),
        // Nothing listens on port 1; an address of another scheme.
        (
            "ws://127.0.0.1:1",
            "0",
            None,
            "cannot reach it: nothing answered",
        ),
        ("http://127.0.0.1:1", "0", None, "not a WebSocket address"),
    ] {
        let output = train(remote, device, token);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(message) && stderr.contains(remote) && !stderr.contains("panicked"),
            "{remote} {token:?}: {stderr}"
        );
    }
    let local = failed(
        TABULAR,
        &["train", "--dataset", "iris", "--remote", &remote],
        None,
    );
    assert!(
        local.contains("--remote is for --backend remote"),
        "{local}"
    );
}

#[test]
fn the_server_binds_beyond_loopback_only_with_a_token_and_stops_on_sigterm() {
    for (bind, token, message) in [
        ("0.0.0.0:0", None, "needs a token"),
        ("127.0.0.1:0", Some("short"), "use at least 16"),
    ] {
        let stderr = failed(DEVICE_SERVER, &["--bind", bind], token);
        assert!(stderr.contains(message), "{stderr}");
    }
    let mut server = Server::start_program(
        DEVICE_SERVER,
        &["--bind", "0.0.0.0:0"],
        &[("BURN_ZOO_TOKEN", TOKEN)],
    );
    server.terminate();
    let status = exit_status(&mut server.child, Duration::from_secs(10), "still serving");
    assert!(status.success(), "{status}");
}

#[test]
fn a_server_killed_in_the_middle_of_training_is_an_error_not_a_panic_or_a_hang() {
    let server = device_server(1, &[]);
    let remote = url(&server);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut client = Command::new(TABULAR)
        .args([
            "train",
            "--dataset",
            "iris",
            "--model",
            "mlp",
            "--epochs",
            "300",
            "--backend",
            "remote",
            "--remote",
            &remote,
            "--out",
            out.to_str().unwrap(),
        ])
        .env_remove("BURN_ZOO_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Kill the server once training is under way: a complete checkpoint is in place.
    wait_for_first_checkpoint(&out);
    drop(server);
    let status = exit_status(
        &mut client,
        Duration::from_secs(60),
        "the client hung after its server died",
    );
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut client.stderr.take().unwrap(), &mut stderr).unwrap();
    // sysexits' EX_TEMPFAIL, which an elastic run's supervisor tells from other failures.
    assert_eq!(status.code(), Some(75), "{stderr}");
    assert!(
        stderr.contains("the remote device stopped answering") && stderr.contains(&remote),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    // What was saved is not lost: the run goes on from its last checkpoint on another server.
    let other = device_server(1, &[]);
    let other_url = url(&other);
    let out = out.to_str().unwrap();
    succeeded(
        TABULAR,
        &["train", "--resume", out, "--quiet", "--remote", &other_url],
        None,
    );
    let epochs = losses(Path::new(out)).len();
    assert_eq!(epochs, 300);
}

/// Waits until the run in `out` has a complete checkpoint (its folder, epoch-NNNN with its
/// state.json, is renamed into place when written); returns its folder.
fn wait_for_first_checkpoint(out: &Path) -> std::path::PathBuf {
    let mut complete = None;
    wait_until("the first checkpoint", Duration::from_secs(60), || {
        complete = std::fs::read_dir(out.join("checkpoints"))
            .into_iter()
            .flatten()
            .flatten()
            .find(|entry| {
                entry.file_name().to_string_lossy().starts_with("epoch-")
                    && entry.path().join("state.json").is_file()
            });
        complete.is_some()
    });
    complete.unwrap().path()
}

fn weights(out: &Path) -> Vec<f32> {
    let (model, _) = zoo_models::store::load(out, &BackendKind::Flex.device().unwrap()).unwrap();
    parameters(&model)
}

#[test]
fn an_elastic_run_goes_on_without_a_killed_server_as_a_run_on_the_other_from_its_checkpoint() {
    let (a, b) = (device_server(1, &[]), device_server(1, &[]));
    let (url_a, url_b) = (url(&a), url(&b));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("elastic");
    let mut run = Command::new(TABULAR)
        .args([
            "train",
            "--dataset",
            "iris",
            "--model",
            "mlp",
            "--epochs",
            "300",
            "--quiet",
            "--backend",
            "remote",
            "--remote",
            &url_a,
            "--remote",
            &url_b,
            "--devices",
            "2",
            "--elastic",
            "--out",
            out.to_str().unwrap(),
        ])
        .env_remove("BURN_ZOO_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The first epoch's checkpoint, kept aside: the reference run goes on from it on one device.
    let first = wait_for_first_checkpoint(&out);
    let reference = dir.path().join("reference");
    std::fs::create_dir_all(reference.join("checkpoints")).unwrap();
    for file in ["model.bpk", "optimizer.bpk", "state.json"] {
        let kept = reference
            .join("checkpoints")
            .join(first.file_name().unwrap());
        std::fs::create_dir_all(&kept).unwrap();
        std::fs::copy(first.join(file), kept.join(file)).unwrap();
    }
    std::fs::copy(
        out.join("checkpoints/command.json"),
        reference.join("checkpoints/command.json"),
    )
    .unwrap();
    drop(b);

    let status = exit_status(
        &mut run,
        Duration::from_secs(120),
        "the elastic run hung after a server died",
    );
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut run.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(losses(&out).len(), 300, "{stderr}");
    let history: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("history.json")).unwrap()).unwrap();
    let changes = history["device_changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{history}");
    assert_eq!(changes[0]["epochs_done"], 1);
    assert_eq!(changes[0]["batches_done"], 0);
    assert_eq!(changes[0]["servers"], serde_json::json!([url_a]));
    assert_eq!(changes[0]["devices"], 1);
    let reason = changes[0]["reason"].as_str().unwrap();
    assert!(reason.contains(&url_b), "{reason}");

    succeeded(
        TABULAR,
        &[
            "train",
            "--resume",
            reference.to_str().unwrap(),
            "--quiet",
            "--remote",
            &url_a,
            "--devices",
            "1",
        ],
        None,
    );
    assert!(weights(&out) == weights(&reference), "the weights differ");
    assert_eq!(losses(&out), losses(&reference));

    // --elastic is for remote devices.
    let local = failed(
        TABULAR,
        &[
            "train",
            "--dataset",
            "iris",
            "--backend",
            "flex",
            "--elastic",
        ],
        None,
    );
    assert!(local.contains("--elastic"), "{local}");
}

#[test]
fn zoo_check_puts_the_remote_device_in_the_cross_backend_matrix() {
    let server = device_server(1, &[]);
    let report = succeeded(ZOO_CHECK, &["--json", "--remote", &url(&server)], None);
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    let remote_pairs: Vec<&serde_json::Value> = report["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|pair| pair["backends"][1] == "remote")
        .collect();
    // Every model, against each local CPU backend: outputs, gradients and a training step.
    assert!(remote_pairs.len() >= 4, "{report}");
    assert!(
        remote_pairs
            .iter()
            .any(|pair| pair["backends"][0] == "flex"),
        "{report}"
    );
    for pair in remote_pairs {
        assert_eq!(pair["failures"], serde_json::json!([]), "{pair}");
    }
}

#[test]
fn zoo_serve_answers_from_a_remote_device_as_from_the_local_one() {
    let device_server = device_server(1, &[]);
    let remote = url(&device_server);
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("iris");
    let model = model.to_str().unwrap();
    succeeded(
        TABULAR,
        &["train", "--dataset", "iris", "--quiet", "--out", model],
        None,
    );
    let answer = |backend: &[&str]| {
        let mut args = vec!["--bind", "127.0.0.1:0", "--model", model];
        args.extend(backend);
        let server = Server::start(&args, &[]);
        let mut response = ureq::Agent::new_with_defaults()
            .post(format!(
                "http://{}/v1/models/iris/predict?top=3",
                server.address
            ))
            .header("Content-Type", "application/json")
            .send(r#"{"rows": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}"#)
            .unwrap();
        response.body_mut().read_to_string().unwrap()
    };
    let local = answer(&["--backend", "flex"]);
    assert!(local.contains("setosa"), "{local}");
    assert_eq!(answer(&["--backend", "remote", "--remote", &remote]), local);
}

//! zoo-serve's `/metrics`: `promtool check metrics` (Prometheus' own linter) passes on it, the
//! Prometheus Python client's parser reads it, and a scripted run of requests moves every
//! counter and histogram by exactly what it should.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

mod common;
use common::Server;

/// The Python with `prometheus-client` that `.ci/run` installs (beside Triton's client), or
/// `BURN_ZOO_TRITON_PYTHON`.
fn python() -> Option<PathBuf> {
    let python = std::env::var_os("BURN_ZOO_TRITON_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/burn-zoo-triton/bin/python"));
    let works = Command::new(&python)
        .args(["-c", "import prometheus_client.parser"])
        .output()
        .is_ok_and(|o| o.status.success());
    match works {
        true => Some(python),
        false if std::env::var_os("CI").is_some() => {
            panic!(
                "CI must parse /metrics with prometheus-client: none for {}",
                python.display()
            )
        }
        false => {
            common::not_run(
                &format!(
                    "parsing /metrics with prometheus-client (none for {})",
                    python.display()
                ),
                "`.ci/run` installs it there, or set BURN_ZOO_TRITON_PYTHON",
            );
            None
        }
    }
}

fn get(address: &str, path: &str) -> String {
    let agent = ureq::Agent::new_with_defaults();
    agent
        .get(&format!("http://{address}{path}"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap()
}

fn post(address: &str, path: &str, body: &Value) -> u16 {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    agent
        .post(&format!("http://{address}{path}"))
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .unwrap()
        .status()
        .as_u16()
}

/// Every sample of an exposition, as Prometheus' Python client parses it: `name{k=v,…}` →
/// value.
fn parse(python: &PathBuf, text: &str) -> BTreeMap<String, f64> {
    let script = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
samples = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    for sample in family.samples:
        labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
        samples[f"{sample.name}{{{labels}}}"] = sample.value
print(json.dumps(samples))
"#;
    let mut child = Command::new(python)
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// `promtool check metrics` on `text`, when Debian's `prometheus` package is installed (CI
/// installs it).
fn promtool_check(text: &str) {
    let Ok(mut child) = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run promtool: no promtool"
        );
        common::not_run(
            "`promtool check metrics` on /metrics (no promtool)",
            "install Debian's `prometheus` package; `.ci/run` does",
        );
        return;
    };
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_metrics_pass_promtool_and_move_by_what_a_scripted_run_adds() {
    let root = tempfile::tempdir().unwrap();
    let iris = root.path().join("iris");
    common::run_app(
        env!("CARGO_BIN_EXE_tabular"),
        &[
            "train",
            "--dataset",
            "iris",
            "--quiet",
            "--out",
            iris.to_str().unwrap(),
        ],
    );
    let model = format!("iris={}", iris.display());
    let server = Server::start(&["--model", &model, "--bind", "127.0.0.1:0"], &[]);
    let address = &server.address;
    let before_text = get(address, "/metrics");
    promtool_check(&before_text);

    // The script: three predictions of two rows, two bad requests, one for a model that is not
    // served, two KServe v2 inferences of one row, one health check.
    let rows = json!({"rows": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]});
    for _ in 0..3 {
        assert_eq!(post(address, "/v1/models/iris/predict", &rows), 200);
    }
    for _ in 0..2 {
        assert_eq!(
            post(
                address,
                "/v1/models/iris/predict",
                &json!({"rows": [[1.0]]})
            ),
            400
        );
    }
    assert_eq!(post(address, "/v1/models/nope/predict", &rows), 404);
    let infer = json!({"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 4],
                                   "data": [5.1, 3.5, 1.4, 0.2]}]});
    for _ in 0..2 {
        assert_eq!(post(address, "/v2/models/iris/infer", &infer), 200);
    }
    get(address, "/healthz");
    let after_text = get(address, "/metrics");
    promtool_check(&after_text);
    // Prometheus itself asks for OpenMetrics.
    let agent = ureq::Agent::new_with_defaults();
    let openmetrics = agent
        .get(&format!("http://{address}/metrics"))
        .header("Accept", "application/openmetrics-text; version=1.0.0")
        .call()
        .unwrap();
    let media_type = openmetrics.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        media_type.starts_with("application/openmetrics-text"),
        "{media_type}"
    );

    let Some(python) = python() else {
        return;
    };
    let before = parse(&python, &before_text);
    let after = parse(&python, &after_text);
    let delta = |sample: &str| {
        after.get(sample).copied().unwrap_or(0.0) - before.get(sample).copied().unwrap_or(0.0)
    };
    let requests = |model: &str, route: &str, status: u16| {
        format!("zoo_serve_requests_total{{model={model},route={route},status={status}}}")
    };
    let predict = "/v1/models/{name}/predict";
    let v2 = "/v2/models/{name}/infer";
    assert_eq!(delta(&requests("iris", predict, 200)), 3.0);
    assert_eq!(delta(&requests("iris", predict, 400)), 2.0);
    assert_eq!(delta(&requests("", predict, 404)), 1.0);
    assert_eq!(delta(&requests("iris", v2, 200)), 2.0);
    assert_eq!(delta(&requests("", "/healthz", 200)), 1.0);
    // The first scrape is counted once it is answered, so the second sees it.
    assert_eq!(delta(&requests("", "/metrics", 200)), 1.0);
    assert_eq!(
        delta(&format!(
            "zoo_serve_request_duration_seconds_count{{model=iris,route={predict}}}"
        )),
        5.0
    );
    // One forward pass per request, one after the other: 3 of two inputs, 2 of one.
    assert_eq!(delta("zoo_serve_batch_size_count{model=iris}"), 5.0);
    assert_eq!(delta("zoo_serve_batch_size_sum{model=iris}"), 8.0);
    assert_eq!(delta("zoo_serve_batch_size_bucket{le=2.0,model=iris}"), 5.0);
    assert_eq!(delta("zoo_serve_batch_size_bucket{le=1.0,model=iris}"), 2.0);
    assert_eq!(delta("zoo_serve_queue_wait_seconds_count{model=iris}"), 5.0);
    assert_eq!(after["zoo_serve_queue_depth{model=iris}"], 0.0);
    assert!(after["zoo_serve_model_load_seconds{model=iris}"] > 0.0);
    assert!(after["zoo_serve_process_resident_memory_bytes{}"] > 1e6);
}

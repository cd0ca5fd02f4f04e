//! `zoo-serve --model-repository`: a real server under load while a new version is swapped in
//! fails no request, a broken version leaves the one before it serving (and says so in its
//! readiness and the metrics), and loading and unloading need the token.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

mod common;
use common::{Server, wait_until};

const TOKEN: &str = "0123456789abcdef0123";

fn train(out: &Path, model: &str) {
    common::run_app(
        env!("CARGO_BIN_EXE_tabular"),
        &[
            "train",
            "--dataset",
            "iris",
            "--model",
            model,
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ],
    );
}

fn request(
    address: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
    token: bool,
) -> (u16, Value) {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let url = format!("http://{address}{path}");
    let authorization = format!("Bearer {TOKEN}");
    let response = match (method, body) {
        ("GET", _) => {
            let mut request = agent.get(&url);
            if token {
                request = request.header("Authorization", &authorization);
            }
            request.call()
        }
        (_, body) => {
            let mut request = agent.post(&url).header("Content-Type", "application/json");
            if token {
                request = request.header("Authorization", &authorization);
            }
            request.send(body.map_or_else(String::new, Value::to_string))
        }
    };
    let mut response = response.unwrap();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn infer_body() -> Value {
    json!({"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 4], "data": [6.7, 3.0, 5.2, 2.3]}]})
}

#[test]
fn versions_swap_under_load_without_a_failed_request_and_a_broken_one_leaves_the_last_serving() {
    let root = tempfile::tempdir().unwrap();
    let repository = root.path().join("repository");
    std::fs::create_dir_all(repository.join("iris")).unwrap();
    train(&repository.join("iris").join("1"), "logistic");
    let server = Server::start(
        &[
            "--model-repository",
            repository.to_str().unwrap(),
            "--poll-seconds",
            "0.1",
            "--bind",
            "127.0.0.1:0",
        ],
        &[("BURN_ZOO_TOKEN", TOKEN)],
    );
    let address = Arc::new(server.address.clone());

    // Four clients asking as fast as they can, each answer's status and version kept.
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (address, stop) = (address.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut answers = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    let (status, body) = request(
                        &address,
                        "POST",
                        "/v2/models/iris/infer",
                        Some(&infer_body()),
                        true,
                    );
                    answers.push((
                        status,
                        body["model_version"].as_str().unwrap_or("").to_string(),
                        body,
                    ));
                }
                answers
            })
        })
        .collect();
    let version_served = |address: &str| {
        request(
            address,
            "POST",
            "/v2/models/iris/infer",
            Some(&infer_body()),
            true,
        )
        .1["model_version"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(version_served(&address), "1");

    // Version 2 (an MLP), written beside the repository and moved in at once, as a deployment
    // would: the poller loads it, checks it and swaps it in.
    let staging = root.path().join("staging-2");
    train(&staging, "mlp");
    std::fs::rename(&staging, repository.join("iris").join("2")).unwrap();
    wait_until("serving version 2", Duration::from_secs(60), || {
        version_served(&address) == "2"
    });
    std::thread::sleep(Duration::from_millis(300));

    // Version 3 is broken: it is reported, and version 2 goes on serving.
    let broken = root.path().join("staging-3");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("model.json"), "{ not json").unwrap();
    std::fs::rename(&broken, repository.join("iris").join("3")).unwrap();
    wait_until("version 3 reported", Duration::from_secs(60), || {
        request(
            &address,
            "GET",
            "/v2/models/iris/versions/3/ready",
            None,
            true,
        )
        .0 == 503
    });
    let (status, body) = request(
        &address,
        "GET",
        "/v2/models/iris/versions/3/ready",
        None,
        true,
    );
    assert_eq!(status, 503);
    assert!(
        body["error"].as_str().unwrap().contains("failed to load"),
        "{body}"
    );
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);
    let answers: Vec<(u16, String, Value)> = clients
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();

    let failed: Vec<_> = answers
        .iter()
        .filter(|(status, _, _)| *status != 200)
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed: {:?}",
        failed.len(),
        answers.len(),
        failed.first()
    );
    let versions: std::collections::BTreeSet<&str> =
        answers.iter().map(|(_, v, _)| v.as_str()).collect();
    assert_eq!(
        versions,
        ["1", "2"].into_iter().collect(),
        "{} requests",
        answers.len()
    );
    assert_eq!(
        request(
            &address,
            "GET",
            "/v2/models/iris/versions/2/ready",
            None,
            true
        )
        .0,
        200
    );
    assert_eq!(
        request(
            &address,
            "GET",
            "/v2/models/iris/versions/1/ready",
            None,
            true
        )
        .0,
        200
    );
    let (_, metadata) = request(&address, "GET", "/v2/models/iris", None, true);
    assert_eq!(metadata["versions"], json!(["1", "2"]));
    // Version 1 on request.
    let (status, body) = request(
        &address,
        "POST",
        "/v2/models/iris/versions/1/infer",
        Some(&infer_body()),
        true,
    );
    assert_eq!((status, body["model_version"].as_str()), (200, Some("1")));
    let (_, metrics) = request(&address, "GET", "/metrics", None, true);
    assert!(
        metrics
            .as_str()
            .unwrap()
            .contains("zoo_serve_model_load_failures_total{model=\"iris\"} 1"),
        "{metrics}"
    );

    // Management: the token, then unload and load.
    assert_eq!(
        request(
            &address,
            "POST",
            "/v2/repository/models/iris/unload",
            None,
            false
        )
        .0,
        401
    );
    let (status, body) = request(
        &address,
        "POST",
        "/v2/repository/models/iris/unload",
        None,
        true,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        request(
            &address,
            "POST",
            "/v2/models/iris/infer",
            Some(&infer_body()),
            true
        )
        .0,
        404
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        request(
            &address,
            "POST",
            "/v2/models/iris/infer",
            Some(&infer_body()),
            true
        )
        .0,
        404,
        "the poller brought an unloaded model back"
    );
    let (status, body) = request(
        &address,
        "POST",
        "/v2/repository/models/iris/load",
        None,
        true,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(version_served(&address), "2");
    let (status, _) = request(
        &address,
        "POST",
        "/v2/repository/models/nope/load",
        None,
        true,
    );
    assert_eq!(status, 404);
}

#[test]
fn management_needs_a_token_set_on_the_server() {
    let root = tempfile::tempdir().unwrap();
    let repository = root.path().join("repository");
    train(&repository.join("iris").join("1"), "logistic");
    let server = Server::start(
        &[
            "--model-repository",
            repository.to_str().unwrap(),
            "--bind",
            "127.0.0.1:0",
        ],
        &[],
    );
    let (status, body) = request(
        &server.address,
        "POST",
        "/v2/repository/models/iris/load",
        None,
        false,
    );
    assert_eq!(status, 403, "{body}");
    assert!(body["error"].as_str().unwrap().contains("needs a token"));
    let (status, _) = request(
        &server.address,
        "POST",
        "/v2/models/iris/infer",
        Some(&infer_body()),
        false,
    );
    assert_eq!(status, 200);
}

//! zoo-serve's KServe v2 (Open Inference Protocol) and TensorFlow Serving endpoints, driven
//! by clients nobody here wrote: Triton's `tritonclient.http` (PyPI) runs `infer` with binary
//! and JSON tensors against a real zoo-serve process serving a model of every app, and gets
//! what `/v1/models/{name}/predict` answers for the same inputs; bad requests are the
//! protocol's 4xx errors.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use serde_json::{Value, json};

mod common;
use common::Server;

/// The Python with `tritonclient[http]` that `.ci/run` installs, or
/// `BURN_ZOO_TRITON_PYTHON`.
fn triton_python() -> Option<PathBuf> {
    let python = std::env::var_os("BURN_ZOO_TRITON_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/burn-zoo-triton/bin/python"));
    let works = Command::new(&python)
        .args(["-c", "import tritonclient.http"])
        .output()
        .is_ok_and(|o| o.status.success());
    match works {
        true => Some(python),
        false if std::env::var_os("CI").is_some() => {
            panic!(
                "CI must run Triton's client: no tritonclient for {}",
                python.display()
            )
        }
        false => {
            common::not_run(
                &format!(
                    "Triton's client against zoo-serve (no tritonclient for {})",
                    python.display()
                ),
                "`.ci/run` installs it there, or set BURN_ZOO_TRITON_PYTHON",
            );
            None
        }
    }
}

/// For each model, with `tritonclient.http`: liveness, readiness, metadata, then `infer` with
/// binary tensors and with JSON ones (BYTES as JSON only where the bytes are text). Prints a
/// JSON object of what it got.
const CLIENT: &str = r#"
import base64, json, sys
import numpy as np
import tritonclient.http as httpclient

address, cases = sys.argv[1], json.load(sys.stdin)
client = httpclient.InferenceServerClient(url=address)
assert client.is_server_live() and client.is_server_ready()
results = {}
for case in cases:
    model = case["model"]
    assert client.is_model_ready(model) and client.is_model_ready(model, model_version="1")
    metadata = client.get_model_metadata(model)
    tensor = metadata["inputs"][0]
    if tensor["datatype"] == "FP32":
        array = np.array(case["rows"], dtype=np.float32)
    else:
        array = np.array([base64.b64decode(b) for b in case["bytes"]], dtype=np.object_)
    answers = {"metadata": metadata}
    modes = [True, False] if case["json_ok"] else [True]
    for binary in modes:
        data = httpclient.InferInput(tensor["name"], list(array.shape), tensor["datatype"])
        data.set_data_from_numpy(array, binary_data=binary)
        outputs = [httpclient.InferRequestedOutput(o["name"], binary_data=binary)
                   for o in metadata["outputs"]]
        result = client.infer(model, [data], outputs=outputs, request_id="r1")
        assert result.get_response()["id"] == "r1"
        got = {}
        for o in metadata["outputs"]:
            value = result.as_numpy(o["name"])
            got[o["name"]] = [v.decode() if isinstance(v, bytes) else v for v in value.tolist()]
        answers["binary" if binary else "json"] = got
    # No outputs named: all of them, in binary (the client's default).
    data = httpclient.InferInput(tensor["name"], list(array.shape), tensor["datatype"])
    data.set_data_from_numpy(array)
    result = client.infer(model, [data])
    answers["default"] = sorted(o["name"] for o in result.get_response()["outputs"])
    results[model] = answers
print(json.dumps(results))
"#;

fn v1_predict(address: &str, model: &str, body: Value) -> Value {
    let path = format!("/v1/models/{model}/predict?top=100");
    let headers = [("Content-Type", "application/json")];
    let (status, answer) = post(address, &path, body.to_string().as_bytes(), &headers);
    assert_eq!(status, 200, "{answer}");
    answer
}

/// The probabilities `/v1` gives each input, in the order of `classes`.
fn v1_probabilities(answer: &Value, classes: &[String]) -> Vec<Vec<f32>> {
    answer["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|prediction| {
            let top = prediction["top"].as_array().unwrap();
            classes
                .iter()
                .map(|class| {
                    let entry = top.iter().find(|t| t["class"] == *class.as_str()).unwrap();
                    entry["probability"].as_f64().unwrap() as f32
                })
                .collect()
        })
        .collect()
}

fn as_f32_rows(value: &Value) -> Vec<Vec<f32>> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect()
        })
        .collect()
}

fn classes(dir: &Path) -> Vec<String> {
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("model.json")).unwrap()).unwrap();
    manifest["class_names"]
        .as_array()
        .map(|c| c.iter().map(|n| n.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

#[test]
fn tritons_client_gets_what_v1_answers_for_a_model_of_every_app() {
    let Some(python) = triton_python() else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let models = common::every_app(root.path());
    let mut args = Vec::new();
    for (name, dir) in &models {
        args.push("--model".to_string());
        args.push(format!("{name}={}", dir.display()));
    }
    args.extend(["--bind".into(), "127.0.0.1:0".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::start(&args, &[]);
    let address = server.address.clone();

    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let pngs: Vec<Vec<u8>> = (0..3).map(|i| common::mnist_png(i).0).collect();
    let wavs: Vec<Vec<u8>> = ["low_x_0.wav", "high_x_1.wav"]
        .map(|f| std::fs::read(root.path().join("tones").join(f)).unwrap())
        .to_vec();
    let texts = [
        "WINNER! Call now to claim your free prize",
        "See you at lunch?",
    ];
    let iris = vec![vec![5.1, 3.5, 1.4, 0.2], vec![6.7, 3.0, 5.2, 2.3]];
    let diabetes = vec![vec![
        0.03, 0.05, 0.06, 0.02, -0.04, -0.03, -0.04, 0.0, 0.02, -0.02,
    ]];
    let cases = json!([
        {"model": "digits", "bytes": pngs.iter().map(|p| b64(p)).collect::<Vec<_>>(), "json_ok": false},
        {"model": "sms", "bytes": texts.map(|t| b64(t.as_bytes())), "json_ok": true},
        {"model": "tones-model", "bytes": wavs.iter().map(|w| b64(w)).collect::<Vec<_>>(), "json_ok": false},
        {"model": "iris", "rows": iris, "json_ok": true},
        {"model": "diabetes", "rows": diabetes, "json_ok": true},
    ]);
    let mut client = Command::new(&python)
        .arg("-c")
        .arg(CLIENT)
        .arg(&address)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    client
        .stdin
        .take()
        .unwrap()
        .write_all(cases.to_string().as_bytes())
        .unwrap();
    let output = client.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results: Value = serde_json::from_slice(&output.stdout).unwrap();

    // What /v1 answers for the same inputs, in one request as Triton's client sent them (the
    // batch's composition decides the last bits of a forward pass).
    let multipart_v1 = |model: &str, files: &[Vec<u8>]| -> Value {
        let boundary = "zoo-boundary-7d1f";
        let mut body = Vec::new();
        for (i, file) in files.iter().enumerate() {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"f{i}\"; \
                     filename=\"{i}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend_from_slice(file);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let content_type = format!("multipart/form-data; boundary={boundary}");
        let path = format!("/v1/models/{model}/predict?top=100");
        let (status, answer) = post(&address, &path, &body, &[("Content-Type", &content_type)]);
        assert_eq!(status, 200, "{answer}");
        answer
    };
    let v1 = [
        ("digits", multipart_v1("digits", &pngs)),
        ("sms", v1_predict(&address, "sms", json!({"texts": texts}))),
        ("tones-model", multipart_v1("tones-model", &wavs)),
        ("iris", v1_predict(&address, "iris", json!({"rows": iris}))),
    ];
    for (model, answer) in v1 {
        let dir = &models.iter().find(|(n, _)| n == model).unwrap().1;
        let classes = classes(dir);
        let expected = v1_probabilities(&answer, &classes);
        let got = &results[model];
        assert_eq!(
            got["metadata"]["outputs"][0]["name"], "probabilities",
            "{got}"
        );
        for mode in ["binary", "json"] {
            if got[mode].is_null() {
                continue;
            }
            assert_eq!(
                as_f32_rows(&got[mode]["probabilities"]),
                expected,
                "{model} {mode}"
            );
            let top: Vec<&str> = answer["predictions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["top"][0]["class"].as_str().unwrap())
                .collect();
            let class: Vec<&str> = got[mode]["class"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap())
                .collect();
            assert_eq!(class, top, "{model} {mode}");
        }
        assert_eq!(got["default"], json!(["class", "probabilities"]));
    }
    let regression = v1_predict(&address, "diabetes", json!({"rows": diabetes}));
    let values: Vec<Vec<f32>> = regression["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            p["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect()
        })
        .collect();
    for mode in ["binary", "json"] {
        assert_eq!(
            as_f32_rows(&results["diabetes"][mode]["values"]),
            values,
            "{mode}"
        );
    }
    assert_eq!(
        results["digits"]["metadata"]["inputs"][0],
        json!({"name": "image", "datatype": "BYTES", "shape": [-1]})
    );
    assert_eq!(
        results["iris"]["metadata"]["inputs"][0],
        json!({"name": "input", "datatype": "FP32", "shape": [-1, 4]})
    );
}

fn post(address: &str, path: &str, body: &[u8], headers: &[(&str, &str)]) -> (u16, Value) {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let mut request = agent.post(&format!("http://{address}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = request.send(body).unwrap();
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

#[test]
fn bad_inference_requests_are_4xx_with_the_protocols_error_body() {
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
    let infer = "/v2/models/iris/infer";
    let row = |datatype: &str, shape: Value, data: Value| {
        json!({"inputs": [{"name": "input", "datatype": datatype, "shape": shape, "data": data}]})
            .to_string()
    };
    let good = row("FP32", json!([1, 4]), json!([5.1, 3.5, 1.4, 0.2]));
    let (status, body) = post(address, infer, good.as_bytes(), &[]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["model_name"], "iris");
    assert_eq!(body["outputs"][1]["name"], "class");

    let cases: Vec<(&str, String, Vec<(&str, &str)>, u16, &str)> = vec![
        (infer, row("INT64", json!([1, 4]), json!([5, 3, 1, 0])), vec![], 400, "is FP32, not INT64"),
        (infer, row("FP32", json!([1, 3]), json!([5.1, 3.5, 1.4])), vec![], 400, "has shape [1, 3]"),
        (infer, row("FP32", json!([2, 4]), json!([5.1, 3.5, 1.4, 0.2])), vec![], 400, "4 values for its shape's 8"),
        (infer, row("FP32", json!([1, 4]), json!([5.1, "x", 1.4, 0.2])), vec![], 400, "is not a number"),
        ("/v2/models/nope/infer", good.clone(), vec![], 404, "no model `nope`"),
        ("/v2/models/iris/versions/2/infer", good.clone(), vec![], 404, "no version `2`"),
        (infer, "{\"inputs\": [".into(), vec![], 400, "not an inference request"),
        (infer, good.clone(), vec![("Inference-Header-Content-Length", "9999")], 400, "the body has"),
        (infer, good.clone(), vec![("Inference-Header-Content-Length", "x")], 400, "must be a number"),
        (
            infer,
            json!({"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 4],
                               "parameters": {"binary_data_size": 16}}]}).to_string(),
            vec![],
            400,
            "says 16 bytes of binary data",
        ),
        (
            infer,
            json!({"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]}],
                   "outputs": [{"name": "logits"}]}).to_string(),
            vec![],
            400,
            "unknown output `logits`",
        ),
        ("/v1/models/iris:predict", "{\"rows\": [[1, 2, 3, 4]]}".into(), vec![], 400, "instances"),
        ("/v1/models/iris:explain", "{}".into(), vec![], 405, "is not an endpoint"),
    ];
    for (path, body, headers, expected_status, expected) in cases {
        let (status, answer) = post(address, path, body.as_bytes(), &headers);
        assert_eq!(status, expected_status, "{path} {body}: {answer}");
        let message = answer["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{answer}"));
        assert!(message.contains(expected), "{path} {body}: {message}");
    }

    // The binary extension by hand: JSON, then the four f32s.
    let header = json!({"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 4],
                                     "parameters": {"binary_data_size": 16}}],
                        "outputs": [{"name": "probabilities", "parameters": {"binary_data": false}}]})
        .to_string();
    let mut body = header.clone().into_bytes();
    for v in [5.1f32, 3.5, 1.4, 0.2] {
        body.extend_from_slice(&v.to_le_bytes());
    }
    let length = header.len().to_string();
    let (status, binary) = post(
        address,
        infer,
        &body,
        &[("Inference-Header-Content-Length", &length)],
    );
    assert_eq!(status, 200, "{binary}");
    let (_, json) = post(address, infer, good.as_bytes(), &[]);
    assert_eq!(binary["outputs"][0]["data"], json["outputs"][0]["data"]);

    // TensorFlow Serving's form.
    let (status, answer) = post(
        address,
        "/v1/models/iris:predict",
        b"{\"instances\": [[5.1, 3.5, 1.4, 0.2]]}",
        &[],
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["predictions"][0]["class"],
        json["outputs"][1]["data"][0]
    );
    assert_eq!(
        answer["predictions"][0]["probabilities"],
        json["outputs"][0]["data"]
    );

    // Server metadata and health, open.
    let agent = ureq::Agent::new_with_defaults();
    let metadata = agent
        .get(&format!("http://{address}/v2"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    let metadata: Value = serde_json::from_str(&metadata).unwrap();
    assert_eq!(metadata["extensions"], json!(["binary_tensor_data"]));
}

//! `zoo-serve`'s API in-process (the `Router` through `tower::ServiceExt::oneshot`, no socket):
//! every endpoint, every error, predictions equal to each app's `predict` command, batching.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Method, Request, StatusCode, header};
use common::{every_app, mnist_png, run_app};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use zoo_apps::serve::batcher::BatchPolicy;
use zoo_apps::serve::{ModelSpec, api, load_models};
use zoo_models::backend::BackendKind;

const IMAGE: &str = env!("CARGO_BIN_EXE_image-classifier");
const TEXT: &str = env!("CARGO_BIN_EXE_text-classifier");
const AUDIO: &str = env!("CARGO_BIN_EXE_audio-classifier");
const TABULAR: &str = env!("CARGO_BIN_EXE_tabular");

/// Models of every app, trained once for all the tests by the apps' binaries.
struct Models {
    _dir: tempfile::TempDir,
    root: PathBuf,
    specs: Vec<ModelSpec>,
}

fn models() -> &'static Models {
    static MODELS: OnceLock<Models> = OnceLock::new();
    MODELS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let specs = every_app(&root)
            .into_iter()
            .map(|(name, dir)| ModelSpec { name, dir })
            .collect();
        Models {
            _dir: dir,
            root,
            specs,
        }
    })
}

const MAX_BODY: usize = 1 << 20;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

fn policy(max_batch: usize, max_wait_ms: u64) -> BatchPolicy {
    BatchPolicy {
        max_batch,
        max_wait: Duration::from_millis(max_wait_ms),
        queue: 64,
        power_of_two_batches: false,
    }
}

fn server_with(policy: BatchPolicy, token: Option<&str>) -> Router {
    let state = load_models(
        &models().specs,
        BackendKind::Flex,
        policy,
        token.map(str::to_string),
    )
    .unwrap();
    api::router(
        state,
        api::RequestLimits {
            max_body: MAX_BODY,
            timeout: REQUEST_TIMEOUT,
        },
    )
}

fn server() -> Router {
    server_with(policy(64, 2), None)
}

struct Reply {
    status: StatusCode,
    content_type: String,
    body: Bytes,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body[..self.body.len().min(200)])
            )
        })
    }

    /// The error message of a JSON error response with `status`.
    fn error(&self, status: StatusCode) -> String {
        assert_eq!(
            self.status,
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(self.content_type, "application/json");
        self.json()["error"].as_str().unwrap().to_string()
    }
}

async fn send(router: &Router, request: Request<Body>) -> Reply {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        content_type,
        body,
    }
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

fn post(uri: &str, content_type: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(uri)
        .header(header::CONTENT_TYPE, content_type)
        .body(body.into())
        .unwrap()
}

fn post_json(uri: &str, body: Value) -> Request<Body> {
    post(uri, "application/json", body.to_string())
}

/// A multipart/form-data body of `files` (name, bytes) and its content type.
fn multipart(files: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "zoo-test-boundary-7d2f";
    let mut body = Vec::new();
    for (name, bytes) in files {
        body.extend(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; \
                 filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{boundary}--\r\n").bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// The `input: class p, class p` lines `image-classifier`/`audio-classifier predict` print,
/// made from an HTTP response with the files' paths as names.
fn ranked_lines(response: &Value, names: &[String]) -> Vec<String> {
    response["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .zip(names)
        .map(|(prediction, name)| {
            let classes: Vec<String> = prediction["top"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    let p = c["probability"].as_f64().unwrap() as f32;
                    format!("{} {p:.4}", c["class"].as_str().unwrap())
                })
                .collect();
            format!("{name}: {}", classes.join(", "))
        })
        .collect()
}

/// `class\tprobability` of each prediction's most probable class, as `text-classifier` and
/// `tabular` print them.
fn best_classes(response: &Value) -> Vec<String> {
    response["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let top = &p["top"][0];
            let probability = top["probability"].as_f64().unwrap() as f32;
            format!("{}\t{probability:.4}", top["class"].as_str().unwrap())
        })
        .collect()
}

fn cli_lines(stdout: &str) -> Vec<String> {
    stdout.lines().map(str::to_string).collect()
}

fn dir_of(name: &str) -> String {
    models().root.join(name).to_str().unwrap().to_string()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_app_predicts_over_http_what_its_predict_command_prints() {
    let router = server();
    let scratch = tempfile::tempdir().unwrap();

    // Images: two MNIST test digits, as PNG files and as a JPEG.
    let (seven, _) = mnist_png(0);
    let (two, _) = mnist_png(1);
    let jpeg = {
        let decoded = image::load_from_memory(&two).unwrap();
        let mut bytes = Vec::new();
        decoded
            .write_to(
                &mut std::io::Cursor::new(&mut bytes),
                image::ImageFormat::Jpeg,
            )
            .unwrap();
        bytes
    };
    let files = [
        write(scratch.path(), "seven.png", &seven),
        write(scratch.path(), "two.png", &two),
        write(scratch.path(), "two.jpg", &jpeg),
    ];
    let cli = run_app(
        IMAGE,
        &[
            "predict",
            "--model-dir",
            &dir_of("digits"),
            "--top",
            "4",
            &files[0],
            &files[1],
            &files[2],
        ],
    );
    let (content_type, body) = multipart(&[
        ("seven.png", seven.as_slice()),
        ("two.png", two.as_slice()),
        ("two.jpg", jpeg.as_slice()),
    ]);
    let reply = send(
        &router,
        post("/v1/models/digits/predict?top=4", &content_type, body),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let response = reply.json();
    assert_eq!(ranked_lines(&response, &files), cli_lines(&cli));
    assert_eq!(response["predictions"][0]["input"], "seven.png");
    // A raw PNG body is one input named `body`, predicted alike.
    let reply = send(
        &router,
        post(
            "/v1/models/digits/predict?top=4",
            "image/png",
            seven.clone(),
        ),
    )
    .await;
    assert_eq!(
        ranked_lines(&reply.json(), &files[..1]),
        cli_lines(&cli)[..1]
    );

    // Texts: the label and probability `text-classifier predict` prints.
    let texts = [
        "WINNER!! You have been selected to receive a £900 prize reward! Call now",
        "Are we still meeting for lunch tomorrow?",
    ];
    let cli = run_app(
        TEXT,
        &["predict", "--model-dir", &dir_of("sms"), texts[0], texts[1]],
    );
    let reply = send(
        &router,
        post_json("/v1/models/sms/predict?top=1", json!({ "texts": texts })),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let http: Vec<String> = best_classes(&reply.json())
        .into_iter()
        .zip(texts)
        .map(|(best, text)| format!("{best}\t{text}"))
        .collect();
    assert_eq!(http, cli_lines(&cli));
    assert!(cli.starts_with("spam\t") && cli.lines().nth(1).unwrap().starts_with("ham\t"));

    // WAV files: as multipart, and one as the raw body.
    let tones = models().root.join("tones");
    let wavs = [
        tones.join("low_x_3.wav").to_str().unwrap().to_string(),
        tones.join("high_x_4.wav").to_str().unwrap().to_string(),
    ];
    let cli = run_app(
        AUDIO,
        &[
            "predict",
            "--model-dir",
            &dir_of("tones-model"),
            &wavs[0],
            &wavs[1],
        ],
    );
    let bytes = [
        std::fs::read(&wavs[0]).unwrap(),
        std::fs::read(&wavs[1]).unwrap(),
    ];
    let (content_type, body) = multipart(&[
        ("low_x_3.wav", bytes[0].as_slice()),
        ("high_x_4.wav", bytes[1].as_slice()),
    ]);
    let reply = send(
        &router,
        post("/v1/models/tones-model/predict", &content_type, body),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(ranked_lines(&reply.json(), &wavs), cli_lines(&cli));
    let reply = send(
        &router,
        post(
            "/v1/models/tones-model/predict",
            "audio/wav",
            bytes[1].clone(),
        ),
    )
    .await;
    assert_eq!(
        ranked_lines(&reply.json(), &wavs[1..]),
        cli_lines(&cli)[1..]
    );

    // Rows: iris classes, and diabetes progression in the target's own units.
    let iris = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]];
    let rows_file = write(
        scratch.path(),
        "iris.csv",
        b"5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n",
    );
    let cli = run_app(
        TABULAR,
        &[
            "predict",
            "--model-dir",
            &dir_of("iris"),
            "--data",
            &rows_file,
        ],
    );
    let reply = send(
        &router,
        post_json("/v1/models/iris/predict?top=1", json!({ "rows": iris })),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(best_classes(&reply.json()), cli_lines(&cli));

    // The first patient of the bundled (raw, unscaled) diabetes data; progression 151.
    let patient = "59,2,32.1,101.0,157,93.2,38.0,4.0,4.8598,87";
    let rows_file = write(scratch.path(), "patient.csv", patient.as_bytes());
    let cli = run_app(
        TABULAR,
        &[
            "predict",
            "--model-dir",
            &dir_of("diabetes"),
            "--data",
            &rows_file,
        ],
    );
    let row: Vec<f64> = patient.split(',').map(|v| v.parse().unwrap()).collect();
    let reply = send(
        &router,
        post_json("/v1/models/diabetes/predict", json!({ "rows": [row] })),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let value = reply.json()["predictions"][0]["values"][0]
        .as_f64()
        .unwrap() as f32;
    assert_eq!(value.to_string(), cli.trim());
    assert!(
        (75.0..300.0).contains(&value),
        "in the target's units (25-346), not standardised: {value}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_lists_its_models_and_documents_itself() {
    let router = server();
    let reply = send(&router, get("/healthz")).await;
    assert_eq!(
        (reply.status, reply.json()),
        (StatusCode::OK, json!({"status": "ok"}))
    );

    let reply = send(&router, get("/v1/models")).await;
    assert_eq!(reply.status, StatusCode::OK);
    let listed = reply.json()["models"].clone();
    let summary: Vec<(String, String, String)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_string(),
                m["app"].as_str().unwrap().to_string(),
                m["input"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected = [
        ("diabetes", "tabular", "row"),
        ("digits", "image-classifier", "image"),
        ("iris", "tabular", "row"),
        ("sms", "text-classifier", "text"),
        ("tones-model", "audio-classifier", "wav"),
    ]
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()));
    assert_eq!(summary, expected);

    let digits = send(&router, get("/v1/models/digits")).await.json();
    assert_eq!(digits["task"], "multiclass");
    assert_eq!(digits["model"], "mlp");
    assert_eq!(digits["n_inputs"], 784);
    assert_eq!(
        digits["image"],
        json!({"color": "gray", "height": 28, "width": 28})
    );
    assert_eq!(
        digits["classes"],
        json!(["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"])
    );
    assert_eq!(digits["served"]["requests"], 0);
    let diabetes = send(&router, get("/v1/models/diabetes")).await.json();
    assert_eq!(
        (diabetes["task"].clone(), diabetes["classes"].clone()),
        (json!("regression"), json!([]))
    );

    let document = send(&router, get("/openapi.json")).await.json();
    assert_eq!(document["openapi"], "3.0.3");
    for name in ["digits", "sms", "tones-model", "iris", "diabetes"] {
        let operation = &document["paths"][format!("/v1/models/{name}/predict")]["post"];
        assert!(operation["responses"]["200"].is_object(), "{name}");
    }
    let digits_body =
        &document["paths"]["/v1/models/digits/predict"]["post"]["requestBody"]["content"];
    assert!(digits_body["image/png"].is_object() && digits_body["multipart/form-data"].is_object());
    let iris_rows = &document["paths"]["/v1/models/iris/predict"]["post"]["requestBody"]["content"]
        ["application/json"]["schema"]["properties"]["rows"]["items"];
    assert_eq!(
        (iris_rows["minItems"].clone(), iris_rows["maxItems"].clone()),
        (json!(4), json!(4))
    );
    assert!(
        document["components"]["securitySchemes"].is_null(),
        "no token, no security"
    );

    let reply = send(&router, get("/")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.content_type.starts_with("text/html"));
    let page = String::from_utf8(reply.body.to_vec()).unwrap();
    assert!(page.contains("<canvas id=\"canvas\""));
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "self-contained: no CDN"
    );
}

/// The response statuses `document` lists for `method path` (none if it lists no such
/// operation).
fn documented(document: &Value, method: &str, path: &str) -> Vec<String> {
    document["paths"][path][method]["responses"]
        .as_object()
        .map(|responses| responses.keys().cloned().collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_json_errors_that_say_what_is_wrong_and_serving_goes_on() {
    let router = server();
    let document = send(&router, get("/openapi.json")).await.json();
    let (seven, _) = mnist_png(0);
    let wav = std::fs::read(models().root.join("tones").join("low_x_0.wav")).unwrap();
    let digits = "/v1/models/digits/predict";
    let (content_type, empty_png) = multipart(&[("empty.png", b"".as_slice())]);
    let text_part = multipart(&[("a.txt", b"hi".as_slice())]);
    let cases: Vec<(&str, Request<Body>, StatusCode, &str)> = vec![
        (
            "/v1/models/{name}",
            get("/v1/models/nope"),
            StatusCode::NOT_FOUND,
            "no model `nope`",
        ),
        (
            digits,
            post("/v1/models/nope/predict", "image/png", seven.clone()),
            StatusCode::NOT_FOUND,
            "no model `nope`",
        ),
        (
            digits,
            post(digits, "image/png", b"\x89PNG\r\n\x1a\n garbage".to_vec()),
            StatusCode::BAD_REQUEST,
            "body: not a readable image",
        ),
        (
            digits,
            post(digits, "image/png", Vec::new()),
            StatusCode::BAD_REQUEST,
            "the body is empty",
        ),
        (
            digits,
            post(digits, &content_type, empty_png),
            StatusCode::BAD_REQUEST,
            "empty.png: not a readable image",
        ),
        (
            digits,
            post(&format!("{digits}?top=0"), "image/png", seven.clone()),
            StatusCode::BAD_REQUEST,
            "top must be between 1 and 10000",
        ),
        (
            digits,
            post(&format!("{digits}?top=many"), "image/png", seven.clone()),
            StatusCode::BAD_REQUEST,
            "invalid digit",
        ),
        (
            digits,
            post(digits, "image/png", vec![0u8; MAX_BODY + 1]),
            StatusCode::PAYLOAD_TOO_LARGE,
            "length limit",
        ),
        (
            "/v1/models/tones-model/predict",
            post("/v1/models/tones-model/predict", "audio/wav", seven.clone()),
            StatusCode::BAD_REQUEST,
            "body: not a valid WAV file",
        ),
        (
            "/v1/models/tones-model/predict",
            post(
                "/v1/models/tones-model/predict",
                "audio/wav",
                wav[..60].to_vec(),
            ),
            StatusCode::BAD_REQUEST,
            "body: truncated",
        ),
        (
            "/v1/models/sms/predict",
            post(
                "/v1/models/sms/predict",
                "application/json",
                "{\"texts\": [\"unclosed",
            ),
            StatusCode::BAD_REQUEST,
            "not the JSON {\"texts\"",
        ),
        (
            "/v1/models/sms/predict",
            post_json("/v1/models/sms/predict", json!({"text": "hi"})),
            StatusCode::BAD_REQUEST,
            "unknown field `text`",
        ),
        (
            "/v1/models/sms/predict",
            post_json("/v1/models/sms/predict", json!({"texts": []})),
            StatusCode::BAD_REQUEST,
            "no inputs",
        ),
        (
            "/v1/models/sms/predict",
            post_json("/v1/models/sms/predict", json!({"texts": vec!["a"; 1025]})),
            StatusCode::BAD_REQUEST,
            "more than 1024 inputs",
        ),
        (
            "/v1/models/sms/predict",
            post("/v1/models/sms/predict", &text_part.0, text_part.1),
            StatusCode::BAD_REQUEST,
            "takes a JSON body",
        ),
        (
            "/v1/models/iris/predict",
            post_json(
                "/v1/models/iris/predict",
                json!({"rows": [[1, 2, 3, 4], [1, 2, 3]]}),
            ),
            StatusCode::BAD_REQUEST,
            "rows[1]: 3 values, the model takes 4 features",
        ),
        (
            "/v1/models/iris/predict",
            post_json("/v1/models/iris/predict", json!({"rows": [[1, 2, 3, "x"]]})),
            StatusCode::BAD_REQUEST,
            "rows[0][3]: \"x\" is not a number",
        ),
        (
            "/v1/models/iris/predict",
            post_json(
                "/v1/models/iris/predict",
                json!({"rows": [[1, 2, 3, 1e39]]}),
            ),
            StatusCode::BAD_REQUEST,
            "rows[0]: the value 1000000000000000000000000000000000000000 of feature 3 is outside",
        ),
    ];
    for (path, request, status, phrase) in cases {
        let what = format!("{} {}", request.method(), request.uri());
        let reply = send(&router, request).await;
        let message = reply.error(status);
        assert!(
            message.contains(phrase),
            "{what}: {message:?} should say {phrase:?}"
        );
        assert!(
            documented(&document, "post", path).contains(&status.as_str().to_string())
                || documented(&document, "get", path).contains(&status.as_str().to_string()),
            "{what}: {status} is not in the OpenAPI document"
        );
        // Every bad request leaves the server serving.
        let reply = send(&router, post(digits, "image/png", seven.clone())).await;
        assert_eq!(reply.status, StatusCode::OK, "after {what}");
    }

    let reply = send(&router, get("/no/such/page")).await;
    assert!(
        reply
            .error(StatusCode::NOT_FOUND)
            .contains("no such endpoint")
    );
    let reply = send(
        &router,
        Request::builder()
            .method(Method::DELETE)
            .uri("/v1/models")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
}

/// A body of `total` zero bytes sent in 64 KiB chunks, counting how many the server pulled.
struct CountingBody {
    left: usize,
    pulled: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

const CHUNK: usize = 64 * 1024;

impl http_body::Body for CountingBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        if self.left == 0 {
            return std::task::Poll::Ready(None);
        }
        let n = self.left.min(CHUNK);
        self.left -= n;
        self.pulled
            .fetch_add(n, std::sync::atomic::Ordering::SeqCst);
        std::task::Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from(vec![0; n])))))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_50_mb_body_is_refused_without_being_read_whole() {
    let router = server();
    let pulled = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let body = CountingBody {
        left: 50 << 20,
        pulled: pulled.clone(),
    };
    // No Content-Length: the server cannot refuse it up front, only stop reading.
    let request = Request::post("/v1/models/digits/predict")
        .header(header::CONTENT_TYPE, "image/png")
        .body(Body::new(body))
        .unwrap();
    let reply = send(&router, request).await;
    reply.error(StatusCode::PAYLOAD_TOO_LARGE);
    let read = pulled.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        read <= MAX_BODY + CHUNK,
        "read {read} bytes of a body over the {MAX_BODY}-byte limit"
    );

    // Declared too large: refused before any of it is read.
    let pulled = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let request = Request::post("/v1/models/digits/predict")
        .header(header::CONTENT_TYPE, "image/png")
        .header(header::CONTENT_LENGTH, 50 << 20)
        .body(Body::new(CountingBody {
            left: 50 << 20,
            pulled: pulled.clone(),
        }))
        .unwrap();
    send(&router, request)
        .await
        .error(StatusCode::PAYLOAD_TOO_LARGE);
    assert!(pulled.load(std::sync::atomic::Ordering::SeqCst) <= MAX_BODY + CHUNK);
}

/// A body that never sends a byte.
struct SilentBody;

impl http_body::Body for SilentBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Pending
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_never_arrives_gets_408_in_time() {
    let router = server();
    let started = std::time::Instant::now();
    let request = Request::post("/v1/models/digits/predict")
        .header(header::CONTENT_TYPE, "image/png")
        .body(Body::new(SilentBody))
        .unwrap();
    let message = send(&router, request)
        .await
        .error(StatusCode::REQUEST_TIMEOUT);
    assert!(message.contains("no response within 2.0 s"), "{message}");
    assert!(started.elapsed() < REQUEST_TIMEOUT * 3);
    let document = send(&router, get("/openapi.json")).await.json();
    assert!(
        documented(&document, "post", "/v1/models/digits/predict").contains(&"408".to_string())
    );
}

/// Sends 16 single-image requests at once; returns each reply's top class and probability,
/// and the model's counts afterwards.
async fn sixteen_at_once(router: &Router) -> (Vec<(String, f64)>, Value) {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..16 {
        let router = router.clone();
        let (png, _) = mnist_png(i);
        tasks.spawn(async move {
            let reply = send(&router, post("/v1/models/digits/predict", "image/png", png)).await;
            assert_eq!(reply.status, StatusCode::OK);
            let top = reply.json()["predictions"][0]["top"][0].clone();
            (
                i,
                top["class"].as_str().unwrap().to_string(),
                top["probability"].as_f64().unwrap(),
            )
        });
    }
    let mut results = tasks.join_all().await;
    results.sort_by_key(|r| r.0);
    let counts = send(router, get("/v1/models/digits")).await.json()["served"].clone();
    (
        results.into_iter().map(|(_, c, p)| (c, p)).collect(),
        counts,
    )
}

/// Each image's class is the same and its probability within 1e-5 `alone` and `other`wise.
fn assert_same_answers(alone: &[(String, f64)], other: &[(String, f64)], how: &str) {
    for (i, (a, b)) in alone.iter().zip(other).enumerate() {
        assert_eq!(a.0, b.0, "image {i}");
        assert!(
            (a.1 - b.1).abs() < 1e-5,
            "image {i}: {} alone, {} {how}",
            a.1,
            b.1
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_share_forward_passes_and_each_gets_its_own_answer() {
    let (unbatched, counts) = sixteen_at_once(&server_with(policy(1, 0), None)).await;
    assert_eq!(
        counts,
        json!({"requests": 16, "inputs": 16, "forward_passes": 16, "padding_inputs": 0, "largest_batch": 1})
    );
    // A generous wait, so that all sixteen are queued before the first batch runs.
    let (batched, counts) = sixteen_at_once(&server_with(policy(64, 500), None)).await;
    assert_eq!(
        (counts["requests"].clone(), counts["inputs"].clone()),
        (json!(16), json!(16))
    );
    let passes = counts["forward_passes"].as_u64().unwrap();
    assert!(
        passes <= 4,
        "16 concurrent requests took {passes} forward passes"
    );
    assert_same_answers(&unbatched, &batched, "in a batch");
    // Padded to powers of two (as on wgpu): the copies change no answer.
    let padded = BatchPolicy {
        power_of_two_batches: true,
        ..policy(64, 500)
    };
    let (answers, _) = sixteen_at_once(&server_with(padded, None)).await;
    assert_same_answers(&unbatched, &answers, "padded");
    // No forward pass takes more than `max_batch` inputs: a request that would overflow a
    // batch waits for the next one.
    let (small_batches, counts) = sixteen_at_once(&server_with(policy(3, 500), None)).await;
    assert_same_answers(&unbatched, &small_batches, "in batches of 3");
    assert!(counts["largest_batch"].as_u64().unwrap() <= 3, "{counts}");
    assert!(counts["forward_passes"].as_u64().unwrap() >= 6, "{counts}");
    let labels: Vec<String> = (0..16).map(|i| mnist_png(i).1.to_string()).collect();
    let right = batched
        .iter()
        .zip(&labels)
        .filter(|(p, l)| &p.0 == *l)
        .count();
    assert!(right >= 14, "{right}/16 right: {batched:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn padded_batches_answer_as_unpadded_ones() {
    // Three rows in one request: padded to a batch of four with a copy of the first.
    let rows = json!({"rows": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]});
    let plain = server();
    let padded = server_with(
        BatchPolicy {
            power_of_two_batches: true,
            ..policy(64, 2)
        },
        None,
    );
    let mut answers = Vec::new();
    for router in [&plain, &padded] {
        let reply = send(router, post_json("/v1/models/iris/predict", rows.clone())).await;
        assert_eq!(reply.status, StatusCode::OK);
        let predictions = reply.json()["predictions"].clone();
        let tops = predictions.as_array().unwrap().iter().map(|p| {
            let top = &p["top"][0];
            (
                top["class"].as_str().unwrap().to_string(),
                top["probability"].as_f64().unwrap(),
            )
        });
        answers.push(tops.collect::<Vec<_>>());
    }
    assert_eq!(answers[0].len(), 3);
    assert_same_answers(&answers[0], &answers[1], "padded");
    let served =
        |router| async move { send(router, get("/v1/models/iris")).await.json()["served"].clone() };
    assert_eq!(served(&plain).await["padding_inputs"], json!(0));
    let counts = served(&padded).await;
    assert_eq!(
        (
            counts["padding_inputs"].clone(),
            counts["largest_batch"].clone()
        ),
        (json!(1), json!(3)),
        "{counts}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_guards_the_api_but_not_the_page_or_health() {
    let token = "0123456789abcdef-token";
    let router = server_with(policy(64, 2), Some(token));
    let authorized = |uri: &str, token: &str| {
        Request::get(uri)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap()
    };
    for uri in ["/v1/models", "/v1/models/digits"] {
        let reply = send(&router, get(uri)).await;
        assert!(
            reply
                .error(StatusCode::UNAUTHORIZED)
                .contains("Authorization: Bearer")
        );
        let reply = send(&router, authorized(uri, "0123456789abcdef-wrong")).await;
        assert_eq!(reply.error(StatusCode::UNAUTHORIZED), "wrong token");
        assert_eq!(
            send(&router, authorized(uri, token)).await.status,
            StatusCode::OK
        );
    }
    let (seven, _) = mnist_png(0);
    let reply = send(
        &router,
        post("/v1/models/digits/predict", "image/png", seven.clone()),
    )
    .await;
    reply.error(StatusCode::UNAUTHORIZED);
    let request = Request::post("/v1/models/digits/predict")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::from(seven))
        .unwrap();
    assert_eq!(send(&router, request).await.status, StatusCode::OK);
    for open in ["/", "/healthz", "/openapi.json"] {
        assert_eq!(
            send(&router, get(open)).await.status,
            StatusCode::OK,
            "{open}"
        );
    }
    let document = send(&router, get("/openapi.json")).await.json();
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert!(documented(&document, "get", "/v1/models").contains(&"401".to_string()));
}

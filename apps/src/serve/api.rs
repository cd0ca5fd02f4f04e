//! The HTTP API: routes, reading each app's inputs from a request, and errors as JSON.

use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use constant_time_eq::constant_time_eq;
use serde::{Deserialize, Serialize};
use tower_http::catch_panic::CatchPanicLayer;

use super::batcher::{Arrival, BatchCounts, BatchError, Batcher};
use super::kserve;
use super::metrics::{self, Metrics};
use super::repository::{Catalog, Repository};
use crate::predictor::{Output, Predictor};
use crate::preprocessing::{Input, InputKind, ModelInput, Preprocessing};
use crate::vision::ImageLayout;

/// Inputs in one request, at most: a larger request is refused (400), so one client cannot
/// hold a model's worker for long.
pub const MAX_INPUTS: usize = 1024;
/// Classes listed per input unless `?top=` says otherwise (as the apps' `predict`).
pub const DEFAULT_TOP: usize = 3;
/// The largest `?top=`: more classes than any model here has.
pub const MAX_TOP: usize = 10_000;

/// The page at `/`, compiled into the binary: no file or CDN is needed at run time.
const PAGE: &str = include_str!("page.html");

/// What `GET /v1/models` says about a model.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelInfo {
    /// The name in its URLs.
    pub name: String,
    /// The app that trained it.
    pub app: &'static str,
    /// What its predict endpoint takes.
    pub input: InputKind,
    /// `multiclass`, `binary` or `regression`.
    pub task: &'static str,
    /// Class names in label order; empty for a regression.
    pub classes: Vec<String>,
    /// `logistic`, `linear`, `mlp` or `cnn`.
    pub model: &'static str,
    /// Features per input, after preprocessing.
    pub n_inputs: usize,
    /// The size and colour images are converted to (image models only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageLayout>,
    /// The smallest and largest feature value taken (row models only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_range: Option<(f64, f64)>,
    /// Values per input a prediction has: a probability per class, or the regression's
    /// targets (the KServe v2 outputs' width).
    #[serde(skip)]
    pub n_outputs: usize,
}

impl ModelInfo {
    pub fn new(name: &str, predictor: &Predictor) -> Self {
        let preprocessing = &*predictor.preprocessing;
        Self {
            name: name.to_string(),
            app: preprocessing.app(),
            input: preprocessing.input_kind(),
            task: predictor.manifest.task.name(),
            classes: predictor.class_names().to_vec(),
            model: predictor.manifest.model.name(),
            n_inputs: predictor.model.n_inputs(),
            image: preprocessing.image_layout(),
            value_range: preprocessing.value_range(),
            n_outputs: match predictor.class_names() {
                [] => predictor.manifest.task.output_width(),
                classes => classes.len(),
            },
        }
    }
}

/// A model being served: what clients are told about it, its preprocessing (run on the
/// blocking pool) and the worker that owns the model.
pub struct ServedModel {
    pub info: ModelInfo,
    preprocessing: Arc<dyn Preprocessing>,
    batcher: Batcher,
}

impl ServedModel {
    pub fn new(info: ModelInfo, preprocessing: Arc<dyn Preprocessing>, batcher: Batcher) -> Self {
        Self {
            info,
            preprocessing,
            batcher,
        }
    }

    /// The model's outputs for `inputs`, through the app's preprocessing and the model's
    /// batcher, whichever protocol the request came in: the one path every endpoint shares.
    pub(super) async fn run(
        &self,
        arrival: Arrival,
        inputs: RawInputs,
    ) -> Result<Vec<Output>, ApiError> {
        // Decoding images and computing MFCCs is CPU work: on the blocking pool, in parallel
        // with other requests, while the model's worker runs forward passes.
        let preprocessing = self.preprocessing.clone();
        let prepared = tokio::task::spawn_blocking(move || inputs.prepare(preprocessing.as_ref()))
            .await
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
            .map_err(ApiError::bad_request)?;
        self.batcher
            .predict(arrival, prepared)
            .await
            .map_err(|e| match e {
                BatchError::Busy => ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the model's queue is full; retry shortly",
                ),
                BatchError::Stopped => {
                    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the server is stopping")
                }
                BatchError::Failed(reason) => {
                    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, reason)
                }
            })
    }

    /// Marks a request as on its way, so that the worker waits for it (up to its maximum
    /// wait) before running a batch without it.
    pub(super) fn arriving(&self) -> Arrival {
        self.batcher.arriving()
    }
}

/// Everything the handlers share.
pub struct ServerState {
    /// What is served now: each request takes this snapshot, a change replaces it.
    catalog: RwLock<Arc<Catalog>>,
    /// The bearer token API requests must carry, when one is set.
    pub token: Option<String>,
    pub metrics: Metrics,
    /// Where the models come from, with `--model-repository`.
    pub repository: Option<Arc<Repository>>,
}

impl ServerState {
    pub fn new(
        catalog: Catalog,
        token: Option<String>,
        metrics: Metrics,
        repository: Option<Arc<Repository>>,
    ) -> Self {
        ServerState {
            catalog: RwLock::new(Arc::new(catalog)),
            token,
            metrics,
            repository,
        }
    }

    /// What is served now.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Serves `catalog` from now on; requests in flight keep the models they took.
    pub fn replace_catalog(&self, catalog: Catalog) {
        let mut current = self.catalog.write().unwrap_or_else(|e| e.into_inner());
        let replaced = std::mem::replace(&mut *current, Arc::new(catalog));
        drop(current);
        // A model no longer served stops its worker when its last request is answered; if
        // that is now, not while readers wait for the lock.
        drop(replaced);
    }
}

/// An error response: its status and a JSON body `{"error": "..."}` saying what is wrong.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub(super) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(ErrorBody {
                error: &self.message,
            }),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// What one request may take.
#[derive(Clone, Copy, Debug)]
pub struct RequestLimits {
    /// Bytes of body: larger bodies get 413 once that many bytes have been read, or at once
    /// when their length is declared.
    pub max_body: usize,
    /// Time from the request's head to its response, reading the body included: a client
    /// that sends its body slowly, or never, gets 408 rather than holding a connection (and a
    /// stopping server) forever.
    pub timeout: Duration,
}

/// The API and the page.
pub fn router(state: ServerState, limits: RequestLimits) -> Router {
    router_for(Arc::new(state), limits)
}

/// [`router`] for a state shared with something else (the repository's poller).
pub fn router_for(state: Arc<ServerState>, limits: RequestLimits) -> Router {
    let api = Router::new()
        .route("/v1/models", get(list_models))
        // TensorFlow Serving's `/v1/models/NAME:predict` is a POST to the same path segment.
        .route(
            "/v1/models/{name}",
            get(model_info).post(kserve::tf_serving_predict),
        )
        .route("/v1/models/{name}/predict", post(predict))
        .route("/metrics", get(metrics::metrics))
        .merge(kserve::model_routes())
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/", get(page))
        .route("/healthz", get(health))
        .route("/openapi.json", get(openapi))
        .merge(kserve::open_routes())
        .merge(api)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(limits.max_body))
        .layer(middleware::from_fn_with_state(limits.timeout, time_limit))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            metrics::record,
        ))
        .layer(CatchPanicLayer::custom(panic_response))
        .with_state(state)
}

async fn time_limit(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "no response within {:.1} s (a body that is slow to arrive counts)",
                limit.as_secs_f64()
            ),
        )
        .into_response(),
    }
}

/// A panic in a handler (there should be none) becomes a 500 with a JSON body; the server
/// keeps serving.
fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal error: the request handler panicked",
    )
    .into_response()
}

async fn require_token(
    State(state): State<Arc<ServerState>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(token) = &state.token {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let message = match given {
            None => "this server needs a token: send `Authorization: Bearer TOKEN`",
            // In a time that does not depend on where the tokens differ (a hand-written loop
            // gives no such promise: the optimiser may stop at the first difference).
            Some(given) if !constant_time_eq(given.as_bytes(), token.as_bytes()) => "wrong token",
            Some(_) => return next.run(request).await,
        };
        return ApiError::new(StatusCode::UNAUTHORIZED, message).into_response();
    }
    next.run(request).await
}

async fn page() -> Html<&'static str> {
    Html(PAGE)
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn openapi(State(state): State<Arc<ServerState>>) -> Json<serde_json::Value> {
    Json(state.catalog().openapi.clone())
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such endpoint: see /openapi.json")
}

#[derive(Serialize)]
struct ModelList<'a> {
    models: Vec<&'a ModelInfo>,
}

async fn list_models(State(state): State<Arc<ServerState>>) -> Response {
    let catalog = state.catalog();
    let models = catalog
        .models
        .values()
        .filter_map(|m| m.newest().map(|(_, model)| &model.info))
        .collect();
    Json(ModelList { models }).into_response()
}

/// The model `name` in `version` (its newest loaded when `None`), with its version.
pub(super) fn served_version(
    state: &ServerState,
    name: &str,
    version: Option<&str>,
) -> Result<(u64, Arc<ServedModel>), ApiError> {
    let catalog = state.catalog();
    let no_model = || {
        let names: Vec<&str> = catalog.models.keys().map(String::as_str).collect();
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no model `{name}`; this server has {}", names.join(", ")),
        )
    };
    let versions = catalog.models.get(name).ok_or_else(no_model)?;
    let Some(version) = version else {
        let (version, model) = versions.newest().ok_or_else(|| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "no version of `{name}` loaded: every one failed (see its versions' ready)"
                ),
            )
        })?;
        return Ok((version, model.clone()));
    };
    let number = version.parse::<u64>().ok();
    if let Some(model) = number.and_then(|v| versions.loaded.get(&v)) {
        return Ok((number.unwrap_or_default(), model.clone()));
    }
    if let Some(reason) = number.and_then(|v| versions.failed.get(&v)) {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("version {version} of `{name}` is not ready: it failed to load: {reason}"),
        ));
    }
    let loaded: Vec<String> = versions.loaded.keys().map(u64::to_string).collect();
    Err(ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "model `{name}` has no version `{version}`; it has {}",
            loaded.join(", ")
        ),
    ))
}

/// The model `name` in its newest version.
pub(super) fn served(state: &ServerState, name: &str) -> Result<Arc<ServedModel>, ApiError> {
    served_version(state, name, None).map(|(_, model)| model)
}

/// A model and what its worker has done so far.
#[derive(Serialize)]
struct ModelStatus<'a> {
    #[serde(flatten)]
    info: &'a ModelInfo,
    served: BatchCounts,
}

async fn model_info(
    State(state): State<Arc<ServerState>>,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    let model = served(&state, &name)?;
    Ok(Json(ModelStatus {
        info: &model.info,
        served: model.batcher.counts(),
    })
    .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PredictQuery {
    top: Option<usize>,
}

/// `{"texts": [...]}`, what a text model takes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TextsRequest {
    texts: Vec<String>,
}

/// `{"rows": [[...], ...]}`, what a tabular model takes. The numbers are kept as written and
/// read with Rust's exact parser: serde_json's own (as Burn builds it, without
/// `float_roundtrip`) can be one unit in the last place off, which would move a value at the
/// edge of the model's range across it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RowsRequest {
    rows: Vec<Vec<Box<serde_json::value::RawValue>>>,
}

impl RowsRequest {
    fn numbers(self) -> Result<Vec<Vec<f64>>, ApiError> {
        self.rows
            .iter()
            .enumerate()
            .map(|(i, row)| {
                row.iter()
                    .enumerate()
                    .map(|(j, value)| {
                        let text = value.get();
                        // A JSON number is also a Rust float literal; strings, `null` and
                        // the rest are not.
                        text.parse::<f64>().map_err(|_| {
                            ApiError::bad_request(format!("rows[{i}][{j}]: {text} is not a number"))
                        })
                    })
                    .collect()
            })
            .collect()
    }
}

/// A request's inputs as read from its body, each with the name its errors and its
/// prediction carry.
pub(super) enum RawInputs {
    Files(Vec<(String, Bytes)>),
    Texts(Vec<String>),
    Rows(Vec<Vec<f64>>),
}

impl RawInputs {
    pub(super) fn len(&self) -> usize {
        match self {
            RawInputs::Files(files) => files.len(),
            RawInputs::Texts(texts) => texts.len(),
            RawInputs::Rows(rows) => rows.len(),
        }
    }

    fn names(&self) -> Vec<String> {
        match self {
            RawInputs::Files(files) => files.iter().map(|(name, _)| name.clone()).collect(),
            RawInputs::Texts(texts) => (0..texts.len()).map(|i| format!("texts[{i}]")).collect(),
            RawInputs::Rows(rows) => (0..rows.len()).map(|i| format!("rows[{i}]")).collect(),
        }
    }

    /// The model inputs, through the app's one preprocessing path; the first input that
    /// cannot be read is the error.
    fn prepare(&self, preprocessing: &dyn Preprocessing) -> Result<Vec<ModelInput>, String> {
        let names = self.names();
        let prepare = |i: usize, input: Input| -> Result<ModelInput, String> {
            preprocessing.prepare(input).map_err(|e| match input {
                // A file's error names it already.
                Input::File { .. } => e,
                _ => format!("{}: {e}", names[i]),
            })
        };
        match self {
            RawInputs::Files(files) => files
                .iter()
                .enumerate()
                .map(|(i, (name, bytes))| {
                    let name = Path::new(name);
                    prepare(i, Input::File { name, bytes })
                })
                .collect(),
            RawInputs::Texts(texts) => texts
                .iter()
                .enumerate()
                .map(|(i, text)| prepare(i, Input::Text(text)))
                .collect(),
            RawInputs::Rows(rows) => rows
                .iter()
                .enumerate()
                .map(|(i, row)| prepare(i, Input::Row(row)))
                .collect(),
        }
    }
}

fn is_multipart(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        })
}

/// The body, or 413 when it is over the limit (400 when it cannot be read).
pub(super) async fn body_bytes(request: Request) -> Result<Bytes, ApiError> {
    Bytes::from_request(request, &())
        .await
        .map_err(|e| ApiError::new(e.status(), e.body_text()))
}

/// Every part of a multipart body as a file, named by its file name (else its field name).
async fn multipart_files(request: Request) -> Result<Vec<(String, Bytes)>, ApiError> {
    let mut multipart = Multipart::from_request(request, &())
        .await
        .map_err(|e| ApiError::new(e.status(), e.body_text()))?;
    let mut files = Vec::new();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| ApiError::new(e.status(), e.body_text()))?
    {
        let name = field
            .file_name()
            .or(field.name())
            .map_or_else(|| format!("part {}", files.len() + 1), str::to_string);
        let bytes = field
            .bytes()
            .await
            .map_err(|e| ApiError::new(e.status(), format!("{name}: {}", e.body_text())))?;
        files.push((name, bytes));
        if files.len() > MAX_INPUTS {
            break;
        }
    }
    Ok(files)
}

/// A JSON body of type `T`, or 400 saying where it is wrong.
fn json_body<T: for<'de> Deserialize<'de>>(bytes: &[u8], expected: &str) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad_request(format!(
            "the body is not the JSON {expected} this model takes: {e}"
        ))
    })
}

/// Reads the inputs the model's app takes from the request.
async fn read_inputs(kind: InputKind, request: Request) -> Result<RawInputs, ApiError> {
    let multipart = is_multipart(request.headers());
    let inputs = match kind {
        InputKind::Image | InputKind::Wav => {
            let what = if kind == InputKind::Image {
                "a PNG or JPEG image"
            } else {
                "a WAV file"
            };
            if multipart {
                RawInputs::Files(multipart_files(request).await?)
            } else {
                let body = body_bytes(request).await?;
                if body.is_empty() {
                    return Err(ApiError::bad_request(format!(
                        "the body is empty: send {what} as the body, or one or more as \
                         multipart/form-data"
                    )));
                }
                RawInputs::Files(vec![("body".to_string(), body)])
            }
        }
        InputKind::Text | InputKind::Row if multipart => {
            return Err(ApiError::bad_request(
                "this model takes a JSON body, not multipart/form-data",
            ));
        }
        InputKind::Text => {
            let body = body_bytes(request).await?;
            RawInputs::Texts(json_body::<TextsRequest>(&body, r#"{"texts": ["..."]}"#)?.texts)
        }
        InputKind::Row => {
            let body = body_bytes(request).await?;
            RawInputs::Rows(
                json_body::<RowsRequest>(&body, r#"{"rows": [[1.0, 2.0]]}"#)?.numbers()?,
            )
        }
    };
    match inputs.len() {
        0 => Err(ApiError::bad_request("no inputs: send at least one")),
        n if n > MAX_INPUTS => Err(ApiError::bad_request(format!(
            "more than {MAX_INPUTS} inputs in one request; split it"
        ))),
        _ => Ok(inputs),
    }
}

/// One class and its probability.
#[derive(Serialize)]
struct ClassProbability {
    class: String,
    probability: f32,
}

/// What the model says about one input: the most probable classes, or regression values.
#[derive(Serialize)]
struct PredictionBody {
    input: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    top: Option<Vec<ClassProbability>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    values: Option<Vec<f32>>,
}

#[derive(Serialize)]
struct PredictResponse {
    model: String,
    predictions: Vec<PredictionBody>,
}

async fn predict(
    State(state): State<Arc<ServerState>>,
    axum::extract::Path(name): axum::extract::Path<String>,
    query: Result<Query<PredictQuery>, QueryRejection>,
    request: Request<Body>,
) -> Result<Response, ApiError> {
    let model = served(&state, &name)?;
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let top = query.top.unwrap_or(DEFAULT_TOP);
    if !(1..=MAX_TOP).contains(&top) {
        return Err(ApiError::bad_request(format!(
            "top must be between 1 and {MAX_TOP}"
        )));
    }
    // From here the worker waits for this request (up to its maximum wait) before running a
    // batch without it.
    let arrival = model.batcher.arriving();
    let inputs = read_inputs(model.info.input, request).await?;
    let names = inputs.names();
    let outputs = model.run(arrival, inputs).await?;
    let predictions = names
        .into_iter()
        .zip(outputs)
        .map(|(input, output)| match output.top(top) {
            Output::Classes(classes) => PredictionBody {
                input,
                top: Some(
                    classes
                        .into_iter()
                        .map(|(class, probability)| ClassProbability { class, probability })
                        .collect(),
                ),
                values: None,
            },
            Output::Values(values) => PredictionBody {
                input,
                top: None,
                values: Some(values),
            },
        })
        .collect();
    Ok(Json(PredictResponse {
        model: name,
        predictions,
    })
    .into_response())
}

//! The Open Inference Protocol (KServe v2) over HTTP/REST, beside zoo-serve's own `/v1`:
//! server and model metadata, health and readiness, and `infer` with the protocol's JSON
//! tensors or its binary tensor extension (what Triton's client sends by default); and KServe
//! v1 / TensorFlow Serving's `POST /v1/models/{name}:predict` with `{"instances": [...]}`. Every
//! request goes through the model's batcher, as `/v1`'s do; errors are the protocol's
//! `{"error": "..."}` with a 4xx status.
//!
//! A model's tensors: one input, `input` (FP32, `[-1, features]`) for a table's rows, `text`,
//! `image` or `audio` (BYTES, `[-1]`: a text, or a PNG/JPEG or WAV file, per element); outputs
//! `probabilities` (FP32, `[-1, classes]`, in label order) and `class` (BYTES, the most probable
//! class's name) for a classifier, `values` (FP32, `[-1, targets]`) for a regression.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::api::{
    ApiError, MAX_INPUTS, ModelInfo, RawInputs, ServerState, body_bytes, served, served_version,
};
use super::repository::LoadError;
use crate::predictor::Output;
use crate::preprocessing::InputKind;

/// The binary tensor extension's header: the length of the JSON part of a body.
const HEADER_LENGTH: &str = "inference-header-content-length";

/// Server metadata and health: open, as `/healthz` is (load balancers probe them).
pub fn open_routes() -> Router<Arc<ServerState>> {
    Router::new()
        .route("/v2", get(server_metadata))
        .route("/v2/health/live", get(live))
        .route("/v2/health/ready", get(ready))
}

/// The model endpoints, behind the token as `/v1`'s are.
pub fn model_routes() -> Router<Arc<ServerState>> {
    Router::new()
        .route("/v2/models/{name}", get(metadata))
        .route(
            "/v2/models/{name}/versions/{version}",
            get(metadata_of_version),
        )
        .route("/v2/models/{name}/ready", get(model_ready))
        .route(
            "/v2/models/{name}/versions/{version}/ready",
            get(model_ready_of_version),
        )
        .route("/v2/models/{name}/infer", post(infer))
        .route(
            "/v2/models/{name}/versions/{version}/infer",
            post(infer_of_version),
        )
        .route("/v2/repository/models/{name}/load", post(load_model))
        .route("/v2/repository/models/{name}/unload", post(unload_model))
}

async fn server_metadata() -> Json<Value> {
    Json(json!({
        "name": "burn-zoo",
        "version": env!("CARGO_PKG_VERSION"),
        "extensions": ["binary_tensor_data"],
    }))
}

async fn live() -> Json<Value> {
    Json(json!({ "live": true }))
}

/// Every model is loaded before the server listens.
async fn ready() -> Json<Value> {
    Json(json!({ "ready": true }))
}

/// A tensor's name, datatype and shape, as model metadata lists them.
#[derive(Serialize)]
struct TensorMetadata {
    name: &'static str,
    datatype: &'static str,
    shape: Vec<i64>,
}

fn input_metadata(info: &ModelInfo) -> TensorMetadata {
    let (name, datatype, shape) = match info.input {
        InputKind::Row => ("input", "FP32", vec![-1, info.n_inputs as i64]),
        InputKind::Text => ("text", "BYTES", vec![-1]),
        InputKind::Image => ("image", "BYTES", vec![-1]),
        InputKind::Wav => ("audio", "BYTES", vec![-1]),
    };
    TensorMetadata {
        name,
        datatype,
        shape,
    }
}

fn output_metadata(info: &ModelInfo) -> Vec<TensorMetadata> {
    let width = info.n_outputs as i64;
    match info.classes.is_empty() {
        true => vec![TensorMetadata {
            name: "values",
            datatype: "FP32",
            shape: vec![-1, width],
        }],
        false => vec![
            TensorMetadata {
                name: "probabilities",
                datatype: "FP32",
                shape: vec![-1, width],
            },
            TensorMetadata {
                name: "class",
                datatype: "BYTES",
                shape: vec![-1],
            },
        ],
    }
}

fn model_metadata(
    state: &ServerState,
    name: &str,
    version: Option<&str>,
) -> Result<Json<Value>, ApiError> {
    let (_, model) = served_version(state, name, version)?;
    let catalog = state.catalog();
    let versions: Vec<String> = catalog
        .models
        .get(name)
        .map(|m| m.loaded.keys().map(u64::to_string).collect())
        .unwrap_or_default();
    Ok(Json(json!({
        "name": name,
        "versions": versions,
        "platform": format!("burn-zoo_{}", model.info.app),
        "inputs": [input_metadata(&model.info)],
        "outputs": output_metadata(&model.info),
    })))
}

async fn metadata(
    State(state): State<Arc<ServerState>>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    model_metadata(&state, &name, None)
}

async fn metadata_of_version(
    State(state): State<Arc<ServerState>>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    model_metadata(&state, &name, Some(&version))
}

/// Ready: 200; a version that failed to load: 503 saying why; unknown: 404.
async fn model_ready(
    State(state): State<Arc<ServerState>>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    served_version(&state, &name, None)?;
    Ok(Json(json!({ "name": name, "ready": true })))
}

async fn model_ready_of_version(
    State(state): State<Arc<ServerState>>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    served_version(&state, &name, Some(&version))?;
    Ok(Json(
        json!({ "name": name, "version": version, "ready": true }),
    ))
}

/// The repository a management call acts on; management needs a token, so that it is never
/// open to anyone who can reach the server.
fn repository(state: &ServerState) -> Result<Arc<super::repository::Repository>, ApiError> {
    if state.token.is_none() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "model management needs a token: start zoo-serve with BURN_ZOO_TOKEN or --token-file",
        ));
    }
    state.repository.clone().ok_or_else(|| {
        ApiError::bad_request("this server has no --model-repository to load models from")
    })
}

/// `POST /v2/repository/models/{name}/load`: every version of `name` on disk, failed ones
/// tried again; an unloaded model served again.
async fn load_model(
    State(state): State<Arc<ServerState>>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let repository = repository(&state)?;
    let shared = state.clone();
    let loading = name.clone();
    let loaded = tokio::task::spawn_blocking(move || repository.load_model(&shared, &loading))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    match loaded {
        Ok(()) => Ok(Json(json!({ "name": name, "loaded": true }))),
        Err(LoadError::NoSuchModel) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("the repository has no folder `{name}`"),
        )),
        Err(LoadError::Failed(reasons)) => Err(ApiError::bad_request(format!(
            "no version of `{name}` loads: {reasons}"
        ))),
    }
}

/// `POST /v2/repository/models/{name}/unload`: `name` is no longer served (requests in
/// flight finish on it) until loaded again.
async fn unload_model(
    State(state): State<Arc<ServerState>>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let repository = repository(&state)?;
    let shared = state.clone();
    let unloading = name.clone();
    let unloaded =
        tokio::task::spawn_blocking(move || repository.unload_model(&shared, &unloading))
            .await
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    match unloaded {
        true => Ok(Json(json!({ "name": name, "unloaded": true }))),
        false => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no model `{name}` is served"),
        )),
    }
}

/// `$inference_request`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InferRequest {
    id: Option<String>,
    #[serde(default)]
    parameters: Map<String, Value>,
    inputs: Vec<RequestInput>,
    outputs: Option<Vec<RequestOutput>>,
}

/// `$request_input`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestInput {
    name: String,
    shape: Vec<i64>,
    datatype: String,
    #[serde(default)]
    parameters: Map<String, Value>,
    data: Option<Value>,
}

/// `$request_output`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestOutput {
    name: String,
    #[serde(default)]
    parameters: Map<String, Value>,
}

async fn infer(
    State(state): State<Arc<ServerState>>,
    Path(name): Path<String>,
    request: Request<Body>,
) -> Result<Response, ApiError> {
    infer_version(state, name, None, request).await
}

async fn infer_of_version(
    State(state): State<Arc<ServerState>>,
    Path((name, version)): Path<(String, String)>,
    request: Request<Body>,
) -> Result<Response, ApiError> {
    infer_version(state, name, Some(version), request).await
}

async fn infer_version(
    state: Arc<ServerState>,
    name: String,
    version: Option<String>,
    request: Request<Body>,
) -> Result<Response, ApiError> {
    let (version, model) = served_version(&state, &name, version.as_deref())?;
    let arrival = model.arriving();
    let header_length = header_length(request.headers())?;
    let body = body_bytes(request).await?;
    let (json_part, binary) = match header_length {
        Some(length) if length > body.len() => {
            return Err(ApiError::bad_request(format!(
                "{HEADER_LENGTH} is {length} but the body has {} bytes",
                body.len()
            )));
        }
        Some(length) => (body.slice(..length), body.slice(length..)),
        None => (body, Bytes::new()),
    };
    let request: InferRequest = serde_json::from_slice(&json_part)
        .map_err(|e| ApiError::bad_request(format!("the body is not an inference request: {e}")))?;
    let inputs = request_inputs(&model.info, &request, binary)?;
    let requested = requested_outputs(&model.info, &request)?;
    let outputs = model.run(arrival, inputs).await?;
    Ok(response(
        &name,
        version,
        &model.info,
        request.id,
        &requested,
        &outputs,
    ))
}

/// The binary extension's JSON length, when the request has the header.
fn header_length(headers: &HeaderMap) -> Result<Option<usize>, ApiError> {
    headers
        .get(HEADER_LENGTH)
        .map(|value| {
            value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .ok_or_else(|| {
                    ApiError::bad_request(format!("{HEADER_LENGTH} must be a number of bytes"))
                })
        })
        .transpose()
}

/// The one input tensor, as the inputs the model's app takes: checked against the model's
/// metadata (name, datatype, shape), its data from JSON or from the binary part.
fn request_inputs(
    info: &ModelInfo,
    request: &InferRequest,
    mut binary: Bytes,
) -> Result<RawInputs, ApiError> {
    let expected = input_metadata(info);
    let [input] = request.inputs.as_slice() else {
        return Err(ApiError::bad_request(format!(
            "this model takes one input, `{}`; the request has {}",
            expected.name,
            request.inputs.len()
        )));
    };
    if input.name != expected.name {
        return Err(ApiError::bad_request(format!(
            "unknown input `{}`: this model's input is `{}`",
            input.name, expected.name
        )));
    }
    if input.datatype != expected.datatype {
        return Err(ApiError::bad_request(format!(
            "input `{}` is {}, not {}",
            input.name, expected.datatype, input.datatype
        )));
    }
    let rows = check_shape(&input.shape, &expected.shape, &input.name)?;
    if rows == 0 {
        return Err(ApiError::bad_request("no inputs: send at least one"));
    }
    if rows > MAX_INPUTS {
        return Err(ApiError::bad_request(format!(
            "more than {MAX_INPUTS} inputs in one request; split it"
        )));
    }
    let elements: usize = input.shape.iter().map(|&d| d as usize).product();
    let binary_size =
        match input.parameters.get("binary_data_size") {
            None => None,
            Some(size) => Some(size.as_u64().map(|s| s as usize).ok_or_else(|| {
                ApiError::bad_request("binary_data_size must be a number of bytes")
            })?),
        };
    let data = match (binary_size, &input.data) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(format!(
                "input `{}` has both data and binary_data_size",
                input.name
            )));
        }
        (Some(size), None) => {
            if size > binary.len() {
                return Err(ApiError::bad_request(format!(
                    "input `{}` says {size} bytes of binary data; the body has {} after its \
                     JSON",
                    input.name,
                    binary.len()
                )));
            }
            TensorData::Binary(binary.split_to(size))
        }
        (None, Some(data)) => TensorData::Json(data),
        (None, None) => {
            return Err(ApiError::bad_request(format!(
                "input `{}` has no data",
                input.name
            )));
        }
    };
    match info.input {
        InputKind::Row => {
            let values = data.fp32(elements, &input.name)?;
            let width = expected.shape[1] as usize;
            Ok(RawInputs::Rows(
                values
                    .chunks(width)
                    .map(|row| row.iter().map(|&v| f64::from(v)).collect())
                    .collect(),
            ))
        }
        InputKind::Text => {
            let texts = data.bytes(elements, &input.name)?;
            let texts = texts
                .into_iter()
                .enumerate()
                .map(|(i, bytes)| {
                    String::from_utf8(bytes.to_vec()).map_err(|_| {
                        ApiError::bad_request(format!("{}[{i}] is not UTF-8 text", input.name))
                    })
                })
                .collect::<Result<_, _>>()?;
            Ok(RawInputs::Texts(texts))
        }
        InputKind::Image | InputKind::Wav => {
            let files = data.bytes(elements, &input.name)?;
            Ok(RawInputs::Files(
                files
                    .into_iter()
                    .enumerate()
                    .map(|(i, bytes)| (format!("{}[{i}]", input.name), bytes))
                    .collect(),
            ))
        }
    }
}

/// The number of inputs in a tensor of `shape`, which must fit `expected` (`-1`: any size;
/// a BYTES vector may also come as `[n, 1]`, as clients often shape it).
fn check_shape(shape: &[i64], expected: &[i64], name: &str) -> Result<usize, ApiError> {
    let fits = match (shape, expected) {
        ([n], [-1]) | ([n, 1], [-1]) => *n >= 0,
        ([n, width], [-1, expected_width]) => *n >= 0 && width == expected_width,
        _ => false,
    };
    if !fits {
        return Err(ApiError::bad_request(format!(
            "input `{name}` has shape {shape:?}; this model takes {expected:?} (-1: any size)"
        )));
    }
    Ok(shape[0] as usize)
}

/// A tensor's data: the JSON `data` field, or its bytes in the binary part of the body.
enum TensorData<'a> {
    Json(&'a Value),
    Binary(Bytes),
}

impl TensorData<'_> {
    /// `n` FP32 values: a JSON array (nested as the shape, or flat) of numbers, or `n` little-
    /// endian f32s.
    fn fp32(self, n: usize, name: &str) -> Result<Vec<f32>, ApiError> {
        let values = match self {
            TensorData::Binary(bytes) => {
                if bytes.len() != 4 * n {
                    return Err(ApiError::bad_request(format!(
                        "input `{name}`: {} bytes of binary data for {n} FP32 values",
                        bytes.len()
                    )));
                }
                bytes
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect()
            }
            TensorData::Json(value) => {
                let mut values = Vec::with_capacity(n);
                flatten(value, &mut values, name)?;
                values
                    .into_iter()
                    .map(|v| {
                        v.as_f64().map(|v| v as f32).ok_or_else(|| {
                            ApiError::bad_request(format!(
                                "input `{name}`: {v} is not a number (FP32)"
                            ))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?
            }
        };
        if values.len() != n {
            return Err(ApiError::bad_request(format!(
                "input `{name}` has {} values for its shape's {n}",
                values.len()
            )));
        }
        Ok(values)
    }

    /// `n` byte strings: JSON strings, or each a 4-byte little-endian length and its bytes.
    fn bytes(self, n: usize, name: &str) -> Result<Vec<Bytes>, ApiError> {
        let elements = match self {
            TensorData::Binary(mut bytes) => {
                let mut elements = Vec::with_capacity(n);
                while !bytes.is_empty() {
                    if bytes.len() < 4 {
                        return Err(ApiError::bad_request(format!(
                            "input `{name}`: the binary data ends inside an element's length"
                        )));
                    }
                    let length = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
                    let length = length as usize;
                    if bytes.len() - 4 < length {
                        return Err(ApiError::bad_request(format!(
                            "input `{name}`: element {} says {length} bytes; {} are left",
                            elements.len(),
                            bytes.len() - 4
                        )));
                    }
                    let _ = bytes.split_to(4);
                    elements.push(bytes.split_to(length));
                }
                elements
            }
            TensorData::Json(value) => {
                let mut values = Vec::with_capacity(n);
                flatten(value, &mut values, name)?;
                values
                    .into_iter()
                    .map(|v| match v {
                        Value::String(text) => Ok(Bytes::copy_from_slice(text.as_bytes())),
                        other => Err(ApiError::bad_request(format!(
                            "input `{name}`: {other} is not a string (BYTES)"
                        ))),
                    })
                    .collect::<Result<Vec<_>, _>>()?
            }
        };
        if elements.len() != n {
            return Err(ApiError::bad_request(format!(
                "input `{name}` has {} elements for its shape's {n}",
                elements.len()
            )));
        }
        Ok(elements)
    }
}

/// The leaves of a JSON array, nested or flat, in order; more than [`MAX_INPUTS`] × a
/// generous width is refused before it is all copied.
fn flatten<'a>(value: &'a Value, out: &mut Vec<&'a Value>, name: &str) -> Result<(), ApiError> {
    match value {
        Value::Array(items) => {
            for item in items {
                flatten(item, out, name)?;
            }
            Ok(())
        }
        leaf if out.len() < (1 << 26) => {
            out.push(leaf);
            Ok(())
        }
        _ => Err(ApiError::bad_request(format!(
            "input `{name}` has too many values"
        ))),
    }
}

/// The outputs to answer with, each with whether it goes in the binary part: those the
/// request names, else all of the model's; binary as each asks, else as the request's
/// `binary_data_output` says.
fn requested_outputs(
    info: &ModelInfo,
    request: &InferRequest,
) -> Result<Vec<(&'static str, bool)>, ApiError> {
    let all = output_metadata(info);
    let default_binary = flag(&request.parameters, "binary_data_output")?;
    let Some(requested) = &request.outputs else {
        return Ok(all.iter().map(|o| (o.name, default_binary)).collect());
    };
    requested
        .iter()
        .map(|output| {
            let known = all.iter().find(|o| o.name == output.name).ok_or_else(|| {
                let names: Vec<&str> = all.iter().map(|o| o.name).collect();
                ApiError::bad_request(format!(
                    "unknown output `{}`: this model's are {}",
                    output.name,
                    names.join(", ")
                ))
            })?;
            if output.parameters.contains_key("classification") {
                return Err(ApiError::bad_request(
                    "the classification extension is not supported: request `class` and \
                     `probabilities`",
                ));
            }
            let binary = match output.parameters.get("binary_data") {
                Some(_) => flag(&output.parameters, "binary_data")?,
                None => default_binary,
            };
            Ok((known.name, binary))
        })
        .collect()
}

/// A boolean parameter, false when absent.
fn flag(parameters: &Map<String, Value>, name: &str) -> Result<bool, ApiError> {
    match parameters.get(name) {
        None => Ok(false),
        Some(Value::Bool(value)) => Ok(*value),
        Some(other) => Err(ApiError::bad_request(format!(
            "parameter `{name}` must be true or false, not {other}"
        ))),
    }
}

/// The response: each requested output in JSON, or its bytes after the JSON part (with the
/// length of that part in the binary extension's header).
fn response(
    name: &str,
    version: u64,
    info: &ModelInfo,
    id: Option<String>,
    requested: &[(&'static str, bool)],
    outputs: &[Output],
) -> Response {
    let rows = outputs.len();
    let mut binary = Vec::new();
    let tensors: Vec<Value> = requested
        .iter()
        .map(|&(output, in_binary)| {
            let (datatype, shape, data, bytes) = match output {
                "class" => {
                    let classes: Vec<String> = outputs
                        .iter()
                        .map(|o| match o {
                            Output::Classes(ranked) => ranked[0].0.clone(),
                            Output::Values(_) => String::new(),
                        })
                        .collect();
                    let mut bytes = Vec::new();
                    for class in &classes {
                        bytes.extend_from_slice(&(class.len() as u32).to_le_bytes());
                        bytes.extend_from_slice(class.as_bytes());
                    }
                    ("BYTES", vec![rows], json!(classes), bytes)
                }
                _ => {
                    let values: Vec<f32> = outputs
                        .iter()
                        .flat_map(|o| match o {
                            Output::Classes(ranked) => in_label_order(ranked, &info.classes),
                            Output::Values(values) => values.clone(),
                        })
                        .collect();
                    let width = values.len() / rows.max(1);
                    let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
                    ("FP32", vec![rows, width], json!(values), bytes)
                }
            };
            let mut tensor = json!({ "name": output, "datatype": datatype, "shape": shape });
            if in_binary {
                tensor["parameters"] = json!({ "binary_data_size": bytes.len() });
                binary.extend_from_slice(&bytes);
            } else {
                tensor["data"] = data;
            }
            tensor
        })
        .collect();
    let mut body = json!({
        "model_name": name,
        "model_version": version.to_string(),
        "outputs": tensors,
    });
    if let Some(id) = id {
        body["id"] = json!(id);
    }
    let json_part = serde_json::to_vec(&body).expect("JSON values serialise");
    if binary.is_empty() && requested.iter().all(|(_, b)| !b) {
        return (StatusCode::OK, Json(body)).into_response();
    }
    let length = json_part.len();
    let mut bytes = json_part;
    bytes.extend_from_slice(&binary);
    let mut response = (StatusCode::OK, bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(HEADER_LENGTH, HeaderValue::from(length));
    response
}

/// A classifier's probabilities in label order (the predictor ranks them).
fn in_label_order(ranked: &[(String, f32)], classes: &[String]) -> Vec<f32> {
    classes
        .iter()
        .map(|class| {
            ranked
                .iter()
                .find(|(name, _)| name == class)
                .map_or(0.0, |(_, p)| *p)
        })
        .collect()
}

/// KServe v1 / TensorFlow Serving's `POST /v1/models/{name}:predict`: `{"instances": [...]}`
/// (rows of numbers, texts, or `{"b64": "..."}` files) to `{"predictions": [...]}`, one per
/// instance: `{"class": ..., "probabilities": [...]}` for a classifier, the values for a
/// regression.
pub async fn tf_serving_predict(
    State(state): State<Arc<ServerState>>,
    Path(name_and_verb): Path<String>,
    request: Request<Body>,
) -> Result<Response, ApiError> {
    let Some(name) = name_and_verb.strip_suffix(":predict") else {
        // The path of a model's information, which takes GET only.
        let mut response = ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!(
                "POST /v1/models/{name_and_verb} is not an endpoint: predict with \
                 /v1/models/NAME/predict or /v1/models/NAME:predict"
            ),
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET"));
        return Ok(response);
    };
    let model = served(&state, name)?;
    let arrival = model.arriving();
    let body = body_bytes(request).await?;
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Instances {
        instances: Vec<Value>,
        #[serde(default)]
        #[allow(dead_code)] // TensorFlow Serving's, accepted and unused.
        signature_name: Option<String>,
    }
    let request: Instances = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "the body is not the JSON {{\"instances\": [...]}} of a :predict request: {e}"
        ))
    })?;
    let instances = request.instances;
    if instances.is_empty() || instances.len() > MAX_INPUTS {
        return Err(ApiError::bad_request(format!(
            "send 1 to {MAX_INPUTS} instances, not {}",
            instances.len()
        )));
    }
    let inputs = instances_as_inputs(&model.info, &instances)?;
    let outputs = model.run(arrival, inputs).await?;
    let predictions: Vec<Value> = outputs
        .iter()
        .map(|output| match output {
            Output::Classes(ranked) => json!({
                "class": ranked[0].0,
                "probabilities": in_label_order(ranked, &model.info.classes),
            }),
            Output::Values(values) => json!(values),
        })
        .collect();
    Ok(Json(json!({ "predictions": predictions })).into_response())
}

fn instances_as_inputs(info: &ModelInfo, instances: &[Value]) -> Result<RawInputs, ApiError> {
    let wrong = |i: usize, what: &str| {
        ApiError::bad_request(format!(
            "instances[{i}] is not {what}, what this model takes"
        ))
    };
    match info.input {
        InputKind::Row => instances
            .iter()
            .enumerate()
            .map(|(i, instance)| {
                let row = instance
                    .as_array()
                    .ok_or_else(|| wrong(i, "a row of numbers"))?;
                row.iter()
                    .map(|v| v.as_f64().ok_or_else(|| wrong(i, "a row of numbers")))
                    .collect()
            })
            .collect::<Result<_, _>>()
            .map(RawInputs::Rows),
        InputKind::Text => instances
            .iter()
            .enumerate()
            .map(|(i, instance)| {
                instance
                    .as_str()
                    .map(str::to_string)
                    .ok_or_else(|| wrong(i, "a text"))
            })
            .collect::<Result<_, _>>()
            .map(RawInputs::Texts),
        InputKind::Image | InputKind::Wav => instances
            .iter()
            .enumerate()
            .map(|(i, instance)| {
                use base64::Engine;
                let encoded = instance
                    .get("b64")
                    .and_then(Value::as_str)
                    .ok_or_else(|| wrong(i, "a file as {\"b64\": \"...\"}"))?;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .map_err(|e| wrong(i, &format!("base64 ({e})")))?;
                Ok((format!("instances[{i}]"), Bytes::from(bytes)))
            })
            .collect::<Result<_, _>>()
            .map(RawInputs::Files),
    }
}

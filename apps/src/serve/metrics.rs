//! `GET /metrics`: what a Prometheus server scrapes, through the Prometheus project's Rust
//! client (OpenMetrics, or the Prometheus text format for clients that do not ask for it): requests by model, route and status; request latency;
//! each model's queue wait, batch sizes, queue depth and load time; the process's resident
//! memory.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::api::{ApiError, ServerState};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    /// A served model's name; empty for other paths and for names no model has (so that
    /// clients cannot add label values at will).
    model: String,
    /// The route's template, `/v2/models/{name}/infer`; `unmatched` for a 404 of the router.
    route: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    model: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabels {
    model: String,
}

fn latency_histogram() -> Histogram {
    // 0.25 ms to about 8 s.
    Histogram::new(exponential_buckets(0.00025, 2.0, 16))
}

fn batch_histogram() -> Histogram {
    // 1, 2, 4, … 4096 inputs.
    Histogram::new(exponential_buckets(1.0, 2.0, 13))
}

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    queue_wait: Family<ModelLabels, Histogram>,
    batch_size: Family<ModelLabels, Histogram>,
    queue_depth: Family<ModelLabels, Gauge>,
    load_seconds: Family<ModelLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    load_failures: Family<ModelLabels, Counter>,
    resident_memory: Gauge,
}

/// One model's share, handed to its batcher.
#[derive(Clone)]
pub struct ModelMetrics {
    /// Seconds from a request's queueing to the start of its forward pass.
    pub queue_wait: Histogram,
    /// Requested inputs per forward pass.
    pub batch_size: Histogram,
    /// Requests queued, not yet taken by the worker.
    pub queue_depth: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("zoo_serve");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "HTTP requests answered, by model, route and status",
            requests.clone(),
        );
        let latency =
            Family::<RouteLabels, Histogram>::new_with_constructor(latency_histogram as fn() -> _);
        registry.register(
            "request_duration_seconds",
            "Time from a request's head to its response",
            latency.clone(),
        );
        let queue_wait =
            Family::<ModelLabels, Histogram>::new_with_constructor(latency_histogram as fn() -> _);
        registry.register(
            "queue_wait_seconds",
            "Time a request waited in its model's queue before its forward pass started",
            queue_wait.clone(),
        );
        let batch_size =
            Family::<ModelLabels, Histogram>::new_with_constructor(batch_histogram as fn() -> _);
        registry.register(
            "batch_size",
            "Requested inputs per forward pass (padding aside)",
            batch_size.clone(),
        );
        let queue_depth = Family::<ModelLabels, Gauge>::default();
        registry.register(
            "queue_depth",
            "Requests queued for a model's worker, not yet in a forward pass",
            queue_depth.clone(),
        );
        let load_seconds = Family::default();
        registry.register(
            "model_load_seconds",
            "Time taken to load a model and start its worker",
            load_seconds.clone(),
        );
        let load_failures = Family::<ModelLabels, Counter>::default();
        registry.register(
            "model_load_failures",
            "Model versions that failed to load (the repository's others keep serving)",
            load_failures.clone(),
        );
        let resident_memory = Gauge::default();
        registry.register(
            "process_resident_memory_bytes",
            "The server process's resident memory",
            resident_memory.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            queue_wait,
            batch_size,
            queue_depth,
            load_seconds,
            load_failures,
            resident_memory,
        }
    }
}

impl Metrics {
    /// The metrics of model `name`'s worker.
    pub fn model(&self, name: &str) -> ModelMetrics {
        let labels = ModelLabels {
            model: name.to_string(),
        };
        ModelMetrics {
            queue_wait: self.queue_wait.get_or_create(&labels).clone(),
            batch_size: self.batch_size.get_or_create(&labels).clone(),
            queue_depth: self.queue_depth.get_or_create(&labels).clone(),
        }
    }

    /// Records how long model `name` took to load.
    pub fn loaded(&self, name: &str, seconds: f64) {
        let labels = ModelLabels {
            model: name.to_string(),
        };
        self.load_seconds.get_or_create(&labels).set(seconds);
    }

    /// Records that a version of model `name` failed to load.
    pub fn load_failed(&self, name: &str) {
        let labels = ModelLabels {
            model: name.to_string(),
        };
        self.load_failures.get_or_create(&labels).inc();
    }

    fn encode(&self) -> Result<String, std::fmt::Error> {
        if let Some(bytes) = resident_memory_bytes() {
            self.resident_memory.set(bytes);
        }
        let mut text = String::new();
        encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// The resident set size, from `/proc/self/status` (Linux).
fn resident_memory_bytes() -> Option<i64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: i64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// OpenMetrics' media type, which Prometheus asks for first.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The older Prometheus text format, for every other client (`promtool check metrics`, curl).
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `GET /metrics`: OpenMetrics when the scraper accepts it (Prometheus does), else the
/// Prometheus text format.
pub async fn metrics(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let text = state
        .metrics
        .encode()
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    let (text, media_type) = match openmetrics {
        true => (text, OPENMETRICS),
        false => (prometheus_text(&text), PROMETHEUS_TEXT),
    };
    let mut response = text.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
    Ok(response)
}

/// The Prometheus text format of an OpenMetrics exposition. The two differ, for what is here,
/// in two things: a counter's family is named with its `_total` suffix (its samples have it in
/// both), and there is no `# EOF` line.
fn prometheus_text(openmetrics: &str) -> String {
    let counters: Vec<&str> = openmetrics
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.strip_suffix(" counter"))
        .collect();
    let mut text = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(&name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        text.push_str(renamed.as_deref().unwrap_or(line));
        text.push('\n');
    }
    text
}

/// Counts every response and times it, by route and model.
pub async fn record(
    State(state): State<Arc<ServerState>>,
    request: Request,
    next: Next,
) -> Response {
    let start = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_string();
    let model = served_model(&state, &route, request.uri().path());
    let response = next.run(request).await;
    let labels = RouteLabels { model, route };
    state
        .metrics
        .latency
        .get_or_create(&labels)
        .observe(start.elapsed().as_secs_f64());
    let RouteLabels { model, route } = labels;
    state
        .metrics
        .requests
        .get_or_create(&RequestLabels {
            model,
            route,
            status: response.status().as_u16().to_string(),
        })
        .inc();
    response
}

/// The model a request names (the path segment where the route has `{name}`, without
/// TensorFlow Serving's `:predict`), when a model of that name is served.
fn served_model(state: &ServerState, route: &str, path: &str) -> String {
    let position = route.split('/').position(|segment| segment == "{name}");
    let name = position.and_then(|i| path.split('/').nth(i));
    let name = name.map(|n| n.strip_suffix(":predict").unwrap_or(n));
    match name {
        Some(name) if state.catalog().models.contains_key(name) => name.to_string(),
        _ => String::new(),
    }
}

//! `zoo-serve`: saved models of any app over HTTP, with dynamic batching and a page to try
//! them. [`api::router`] builds the whole service (tests call it in-process); [`run`] binds it,
//! serves until SIGTERM or Ctrl-C, and drains the requests in flight.

pub mod api;
pub mod batcher;
pub mod kserve;
pub mod metrics;
pub mod openapi;
pub mod repository;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use zoo_models::backend::BackendKind;

use crate::token;
use api::{RequestLimits, ServerState};
use batcher::BatchPolicy;
use repository::{Catalog, ModelVersions, Repository};

#[derive(Parser, Debug, Clone)]
#[command(
    name = "zoo-serve",
    about = "Serve saved models over HTTP: a JSON API with dynamic batching, and a page to try them at /"
)]
pub struct ServeArgs {
    /// A model folder written by any app's `train` (its `--out`), served as
    /// /v1/models/<folder name>; `NAME=DIR` picks the name. Repeatable.
    #[arg(long = "model", required_unless_present = "model_repository", value_parser = parse_model_spec)]
    pub models: Vec<ModelSpec>,
    /// Serve every DIR/NAME/VERSION/ model folder (VERSION a positive integer): the newest
    /// version unless a request names one; new and removed versions are picked up while
    /// serving (--poll-seconds), each checked before it is swapped in.
    #[arg(long, value_name = "DIR", conflicts_with = "models")]
    pub model_repository: Option<PathBuf>,
    /// How often the model repository is checked for changes.
    #[arg(long, default_value_t = 5.0, value_parser = parse_poll_seconds)]
    pub poll_seconds: f64,
    /// Backend the models run on (remote: a zoo-device-server's device, see --remote).
    #[arg(long, default_value_t = BackendKind::default_for_build())]
    pub backend: BackendKind,
    #[command(flatten)]
    pub remote: crate::cli::RemoteArgs,
    /// Address and port to listen on. Any address but loopback needs a token (the
    /// BURN_ZOO_TOKEN environment variable, or --token-file).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// A file holding the bearer token API requests must carry (instead of BURN_ZOO_TOKEN).
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// Inputs gathered into one forward pass, at most; 1 turns batching off.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub max_batch: u32,
    /// Milliseconds a batch waits, at most, for requests still being read or decoded.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(0..=1000))]
    pub max_wait_ms: u64,
    /// Largest request body, in MiB; larger ones get 413.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub max_body_mib: u32,
    /// Seconds a request may take, reading its body included; slower ones get 408.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub request_timeout_s: u64,
}

fn parse_poll_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(seconds) if (0.05..=3600.0).contains(&seconds) => Ok(seconds),
        _ => Err(format!("`{text}`: give seconds between 0.05 and 3600")),
    }
}

/// `--model [NAME=]DIR`.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelSpec {
    pub name: String,
    pub dir: PathBuf,
}

/// Model names are URL path segments: letters, digits, `.`, `_` and `-`.
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn parse_model_spec(text: &str) -> Result<ModelSpec, String> {
    let (name, dir) = match text.split_once('=') {
        Some((name, dir)) => (name.to_string(), PathBuf::from(dir)),
        None => {
            let dir = PathBuf::from(text);
            let name = absolute_name(&dir)
                .ok_or_else(|| format!("`{text}` has no folder name; use NAME=DIR"))?;
            (name, dir)
        }
    };
    if !valid_name(&name) {
        return Err(format!(
            "model name `{name}`: use letters, digits, `.`, `_` and `-` (NAME=DIR picks one)"
        ));
    }
    Ok(ModelSpec { name, dir })
}

/// The folder's own name, after resolving `.` and `..`.
fn absolute_name(dir: &Path) -> Option<String> {
    let resolved = crate::cli::absolute(dir);
    Some(resolved.file_name()?.to_string_lossy().into_owned())
}

impl ServeArgs {
    pub fn batch_policy(&self) -> BatchPolicy {
        BatchPolicy {
            max_batch: self.max_batch as usize,
            max_wait: Duration::from_millis(self.max_wait_ms),
            queue: QUEUE_LENGTH,
            // CubeCL compiles a kernel for each new input shape: seconds each on a software
            // driver, so an unpadded batch size first seen under load stalls its requests.
            power_of_two_batches: self.backend == BackendKind::Wgpu,
        }
    }

    pub fn request_limits(&self) -> RequestLimits {
        RequestLimits {
            max_body: self.max_body_mib as usize * 1024 * 1024,
            timeout: Duration::from_secs(self.request_timeout_s),
        }
    }

    /// The token from `--token-file` or the environment; required unless the address is
    /// loopback.
    pub fn token(&self) -> anyhow::Result<Option<String>> {
        token::server_token(
            self.token_file.as_deref(),
            self.bind,
            "clients then send `Authorization: Bearer TOKEN`",
        )
    }
}

/// Requests waiting for one model's worker, at most, before 503.
pub const QUEUE_LENGTH: usize = 4096;

/// Loads every model onto `backend`'s device and starts its worker: the server's state, each
/// model served as version 1.
pub fn load_models(
    specs: &[ModelSpec],
    backend: BackendKind,
    policy: BatchPolicy,
    token: Option<String>,
) -> anyhow::Result<ServerState> {
    let device = backend.device()?;
    let metrics = metrics::Metrics::default();
    let mut models = BTreeMap::new();
    for spec in specs {
        if models.contains_key(&spec.name) {
            bail!(
                "two models are named `{}`; name them with NAME=DIR",
                spec.name
            );
        }
        let model = repository::load(&spec.name, &spec.dir, &device, policy, &metrics)
            .with_context(|| format!("model `{}`", spec.name))?;
        let mut versions = ModelVersions::default();
        versions.loaded.insert(1, Arc::new(model));
        models.insert(spec.name.clone(), versions);
    }
    let catalog = Catalog::new(models, token.is_some());
    Ok(ServerState::new(catalog, token, metrics, None))
}

/// The server's state for `--model-repository DIR`: what loads of it now (a version that
/// fails is reported and left out); `run` then polls it.
pub fn open_repository(
    dir: &Path,
    backend: BackendKind,
    policy: BatchPolicy,
    token: Option<String>,
) -> anyhow::Result<ServerState> {
    if !dir.is_dir() {
        bail!("--model-repository {}: no such folder", dir.display());
    }
    let repository = Arc::new(Repository::new(
        dir.to_path_buf(),
        backend.device()?,
        policy,
    ));
    let catalog = Catalog::new(BTreeMap::new(), token.is_some());
    let state = ServerState::new(
        catalog,
        token,
        metrics::Metrics::default(),
        Some(repository.clone()),
    );
    repository.sync(&state, None);
    Ok(state)
}

/// Serves until SIGTERM or Ctrl-C, then stops accepting connections, finishes the requests in
/// flight and returns.
pub fn run(args: &ServeArgs) -> anyhow::Result<()> {
    let token = args.token()?;
    args.remote.use_for(args.backend)?;
    let state = Arc::new(match &args.model_repository {
        Some(dir) => open_repository(dir, args.backend, args.batch_policy(), token)?,
        None => load_models(&args.models, args.backend, args.batch_policy(), token)?,
    });
    if let Some(repository) = &state.repository {
        repository
            .clone()
            .poll(state.clone(), Duration::from_secs_f64(args.poll_seconds));
    }
    let names: Vec<String> = state.catalog().models.keys().cloned().collect();
    let app = api::router_for(state, args.request_limits());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.bind)
            .await
            .with_context(|| format!("cannot listen on {}", args.bind))?;
        let address = listener.local_addr()?;
        // The first line of standard output is the address (with port 0, the one picked).
        println!("listening on http://{address}");
        eprintln!(
            "serving {} on {} (batches of up to {}, {} ms wait); the page is at http://{address}/",
            names.join(", "),
            args.backend,
            args.max_batch,
            args.max_wait_ms
        );
        axum::serve(listener, app)
            .with_graceful_shutdown(stop_signal())
            .await
            .context("the server failed")
    })?;
    eprintln!("stopped");
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
async fn stop_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {}
        _ = terminate => {}
    }
    eprintln!("stopping: finishing the requests in flight");
}

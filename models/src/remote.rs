//! Devices on other machines, over Burn's remote backend (its WebSocket transport): the client
//! side of `zoo-device-server`.
//!
//! A remote device is a [`Device`] like any other: `fit`, `evaluate`, `predict` and the store run
//! on it unchanged, the autodiff graph staying in this process and the tensor operations running
//! on the server. Which server [`BackendKind::Remote`](crate::backend::BackendKind::Remote) means
//! is set once per process with [`use_servers`], as a program's `--remote` flags say.
//!
//! Burn reports a server that goes away in the middle of a run as a panic on the next read; a
//! program that trains remotely runs its work through [`run_guarded`], which turns that panic
//! into [`RemoteError::Lost`] naming the server.
//!
//! Every failure here is a [`RemoteError`], which `backend` maps into its own error where a
//! device is asked for by backend: this file imports nothing else of the crate.

use std::panic::{AssertUnwindSafe, PanicHookInfo, catch_unwind, resume_unwind};
use std::sync::{Arc, Mutex, OnceLock};

use burn::prelude::Device;
use burn::remote::{ConnectError, RemoteHost};

/// Why a remote device cannot be used, or stopped answering: the message names the server.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// No server set, a malformed address, or a server that refuses or cannot be reached.
    #[error("{0}")]
    Connect(String),
    /// A server that went away in the middle of the work (Burn reports it with a panic).
    #[error("the device failed: the remote device stopped answering ({urls}): {message}")]
    Lost { urls: String, message: String },
}

/// The servers `--backend remote` uses, in order, and the device the run's main device is.
#[derive(Clone, PartialEq, Eq)]
pub struct RemoteServers {
    /// `ws://HOST:PORT` of each server.
    pub urls: Vec<String>,
    /// The main device's index on the first server.
    pub device_index: u32,
    /// What the servers' token authorizer checks, if they have one.
    pub token: Option<String>,
}

impl std::fmt::Debug for RemoteServers {
    // Never the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteServers")
            .field("urls", &self.urls)
            .field("device_index", &self.device_index)
            .finish_non_exhaustive()
    }
}

static SERVERS: OnceLock<RemoteServers> = OnceLock::new();

/// Sets the servers of this process's remote backend. Set once: a second, different call is an
/// error, since devices already connected keep their server.
pub fn use_servers(servers: RemoteServers) -> Result<(), RemoteError> {
    if servers.urls.is_empty() {
        return Err(RemoteError::Connect(
            "no server given: pass --remote ws://HOST:PORT".into(),
        ));
    }
    for url in &servers.urls {
        check_url(url)?;
    }
    let set = SERVERS.get_or_init(|| servers.clone());
    if *set != servers {
        return Err(RemoteError::Connect(format!(
            "this process already uses the remote servers {:?}",
            set.urls
        )));
    }
    Ok(())
}

/// The servers set with [`use_servers`], if any.
pub fn servers() -> Option<&'static RemoteServers> {
    SERVERS.get()
}

fn check_url(url: &str) -> Result<(), RemoteError> {
    let rest = url.strip_prefix("ws://").ok_or_else(|| {
        RemoteError::Connect(format!(
            "`{url}` is not a WebSocket address: expected ws://HOST:PORT (Burn's WebSocket \
             transport has no TLS; reach a server across an untrusted network through an SSH \
             or WireGuard tunnel)"
        ))
    })?;
    let has_port = rest
        .trim_end_matches('/')
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if has_port {
        Ok(())
    } else {
        Err(RemoteError::Connect(format!(
            "`{url}` has no port: expected ws://HOST:PORT"
        )))
    }
}

fn host(url: &str) -> RemoteHost {
    let host = RemoteHost::websocket(url);
    match servers().and_then(|s| s.token.clone()) {
        Some(token) => host.with_credential(token),
        None => host,
    }
}

/// Device `index` of the server at `url`, connected with the token of [`servers`]. Burn hands
/// back a device connected before with the session it already has.
pub fn connect(url: &str, index: u32) -> Result<Device, RemoteError> {
    check_url(url)?;
    Device::remote_options(&host(url))
        .device_index(index)
        .init()
        .map_err(|error| connect_error(url, index, error))
}

/// How many devices the server at `url` hosts.
pub fn device_count(url: &str) -> Result<usize, RemoteError> {
    check_url(url)?;
    host(url)
        .devices()
        .map(|devices| devices.len())
        .map_err(|error| connect_error(url, 0, error))
}

/// The main device of [`servers`].
pub fn main_device() -> Result<Device, RemoteError> {
    let servers = servers().ok_or_else(|| {
        RemoteError::Connect("backend `remote` needs a server: pass --remote ws://HOST:PORT".into())
    })?;
    connect(&servers.urls[0], servers.device_index)
}

/// The first `n` devices of [`servers`]: every device of the first server, then of the next.
pub fn devices(n: usize) -> Result<Vec<Device>, RemoteError> {
    let servers = servers().ok_or_else(|| {
        RemoteError::Connect("backend `remote` needs a server: pass --remote ws://HOST:PORT".into())
    })?;
    let mut devices = Vec::with_capacity(n);
    for url in &servers.urls {
        let count = device_count(url)?;
        for index in 0..count {
            if devices.len() == n {
                return Ok(devices);
            }
            devices.push(connect(url, index as u32)?);
        }
    }
    if devices.len() < n {
        return Err(RemoteError::Connect(format!(
            "{n} devices asked for, but the servers {:?} host {} in all",
            servers.urls,
            devices.len()
        )));
    }
    Ok(devices)
}

fn connect_error(url: &str, index: u32, error: ConnectError) -> RemoteError {
    let why = match &error {
        ConnectError::Unauthorized => match servers().and_then(|s| s.token.as_ref()) {
            Some(_) => "the server refused the token".to_string(),
            None => "the server asks for a token, and none was given".to_string(),
        },
        ConnectError::NoSuchDevice { device_count } => {
            format!("it has no device {index} (it hosts {device_count})")
        }
        ConnectError::IncompatibleProtocol { .. } => format!(
            "it runs another version of Burn's remote protocol ({error}); build the server \
             and this program from the same burn-zoo release"
        ),
        // Burn's reason ends by asking whether the server is running.
        ConnectError::Unreachable { reason } => format!("cannot reach it: {reason}"),
        _ => error.to_string(),
    };
    RemoteError::Connect(format!("remote device {index} at {url}: {why}"))
}

/// Runs `work`, turning the panic with which Burn reports a lost remote server into
/// [`RemoteError::Lost`] naming the servers; the panic's message goes into the error rather
/// than onto the terminal. Without remote servers in use, panics go on as they would.
pub fn run_guarded<T, E: From<RemoteError>>(work: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    static MESSAGE: Mutex<Option<String>> = Mutex::new(None);
    type Hook = dyn Fn(&PanicHookInfo<'_>) + Send + Sync + 'static;
    let previous: Arc<Hook> = Arc::from(std::panic::take_hook());
    let report = Arc::clone(&previous);
    std::panic::set_hook(Box::new(move |info| {
        if servers().is_none() {
            return report(info);
        }
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown failure".into());
        let mut first = MESSAGE.lock().unwrap_or_else(|p| p.into_inner());
        first.get_or_insert(message);
    }));
    let outcome = catch_unwind(AssertUnwindSafe(work));
    std::panic::set_hook(Box::new(move |info| previous(info)));
    match outcome {
        Ok(result) => result,
        Err(payload) if servers().is_none() => resume_unwind(payload),
        Err(_) => {
            let message = MESSAGE
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take()
                .unwrap_or_default();
            let urls = servers().map(|s| s.urls.join(", ")).unwrap_or_default();
            Err(RemoteError::Lost { urls, message }.into())
        }
    }
}

//! `zoo-device-server`: this machine's devices for other machines' programs, over Burn's remote
//! protocol (its WebSocket transport). A client trains, evaluates and predicts on them with
//! `--backend remote --remote ws://HOST:PORT`: its autodiff graph stays with it, and the tensor
//! operations run here.

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use burn::server::telemetry::{
    DrainStatus, TelemetryEvent, TelemetryProbe, TelemetrySubscription, TransferPhase,
};
use burn::server::{RemoteServer, TokenAuthorizer, WebSocketTransport};
use clap::Parser;
use tokio::signal::unix::{SignalKind, signal};
use tracing_subscriber::EnvFilter;
use zoo_models::backend::BackendKind;

use crate::token;

#[derive(Parser, Debug, Clone)]
#[command(
    name = "zoo-device-server",
    about = "Serve this machine's devices to burn-zoo programs elsewhere (--backend remote)"
)]
pub struct DeviceServerArgs {
    /// Address and port to listen on; port 0 picks a free one. Any address but loopback needs a
    /// token (the BURN_ZOO_TOKEN environment variable, or --token-file): Burn's WebSocket
    /// transport is unencrypted, so beyond a trusted network use an SSH or WireGuard tunnel.
    #[arg(long, default_value = "127.0.0.1:3000")]
    pub bind: SocketAddr,
    /// The backend whose devices are served (not `remote`).
    #[arg(long, default_value_t = BackendKind::default_for_build())]
    pub backend: BackendKind,
    /// How many devices to serve; clients pick one with --remote-device, or use several with
    /// --devices. Each is a session of its own, with its own thread, even on one CPU.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub devices: u32,
    /// A file holding the token clients must give (instead of BURN_ZOO_TOKEN).
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// On stopping, print what the clients had this server do: operations, reads (each a
    /// round trip the client waited for), syncs and transfers, from Burn's telemetry.
    #[arg(long)]
    pub stats: bool,
}

/// What clients had the server do, counted from Burn's telemetry events.
#[derive(Debug, Default)]
pub struct Traffic {
    pub sessions: u64,
    pub operations: u64,
    pub reads: u64,
    pub syncs: u64,
    pub transfers: u64,
    /// Events dropped because counting fell behind.
    pub missed: u64,
}

impl Traffic {
    fn count(&mut self, event: &TelemetryEvent) {
        match event {
            TelemetryEvent::SessionOpened { .. } => self.sessions += 1,
            TelemetryEvent::Op { .. } | TelemetryEvent::GraphExecuted { .. } => {
                self.operations += 1
            }
            TelemetryEvent::Read { .. } => self.reads += 1,
            TelemetryEvent::Sync { .. } => self.syncs += 1,
            TelemetryEvent::Transfer {
                phase: TransferPhase::Completed,
                ..
            } => self.transfers += 1,
            _ => {}
        }
    }
}

/// Counts the events of `subscription` on a thread of its own until `stop` is set.
fn count_traffic(
    mut subscription: TelemetrySubscription,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Traffic> {
    std::thread::spawn(move || {
        let mut traffic = Traffic::default();
        let mut events = Vec::new();
        loop {
            let stopping = stop.load(Ordering::SeqCst);
            let status = subscription.drain_into(&mut events);
            events.iter().for_each(|event| traffic.count(event));
            events.clear();
            match status {
                DrainStatus::Open { lagged } => traffic.missed += lagged,
                DrainStatus::Closed => return traffic,
            }
            if stopping {
                return traffic;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    })
}

/// Logs warnings and errors to stderr, or what `RUST_LOG` asks for. Burn's own server log
/// (which its blocking `serve` installs) writes to stdout and logs every tensor transfer at
/// `info`: megabytes an epoch when training data-parallel, enough to stall a server whose
/// stdout nobody reads.
fn install_logging() {
    // A client that exits without closing its session is normal; Burn warns about each one.
    let quiet = "warn,burn_remote::transport::websocket::server=error";
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(quiet));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Serves until SIGTERM or Ctrl-C. The first line on stdout is `listening on ws://ADDR`.
pub fn run(args: &DeviceServerArgs) -> anyhow::Result<()> {
    install_logging();
    if args.backend == BackendKind::Remote {
        anyhow::bail!("a remote device cannot be served again: pick a local --backend");
    }
    let token = token::server_token(
        args.token_file.as_deref(),
        args.bind,
        "clients then set BURN_ZOO_TOKEN to the same token",
    )?;
    let device = args.backend.device()?;
    let listener =
        TcpListener::bind(args.bind).with_context(|| format!("cannot listen on {}", args.bind))?;
    let address = listener.local_addr()?;
    let mut server = RemoteServer::new(vec![device; args.devices as usize]);
    if let Some(token) = token {
        let authorizer =
            TokenAuthorizer::new(token).map_err(|e| anyhow::anyhow!("the token: {e}"))?;
        server = server.with_authorizer(authorizer);
    }
    let stop_counting = Arc::new(AtomicBool::new(false));
    let counter = args.stats.then(|| {
        // Room for the events of a few seconds of training between two drains.
        let (probe, subscription) = TelemetryProbe::channel(1 << 20);
        server = server.clone().with_telemetry(probe);
        count_traffic(subscription, Arc::clone(&stop_counting))
    });
    // Burn's blocking `serve` installs its signal handlers only once it runs, so a SIGTERM
    // right after the address is printed would kill the process uncleanly: this process owns
    // its runtime and its handlers, set before the address is announced.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the server's runtime")?;
    let served = runtime.block_on(async {
        let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
        let serving = server.serve_async(WebSocketTransport::from_listener(listener));
        println!("listening on ws://{address}");
        std::io::stdout().flush()?;
        eprintln!(
            "serving {} {} device(s); SIGTERM or Ctrl-C stops",
            args.devices, args.backend
        );
        // Returning drops the serving future, which ends the sessions.
        tokio::select! {
            served = serving => served.map_err(|e| anyhow::anyhow!("serving on {address}: {e}")),
            _ = terminate.recv() => Ok(()),
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    });
    if let Some(counter) = counter {
        stop_counting.store(true, Ordering::SeqCst);
        let traffic = counter
            .join()
            .map_err(|_| anyhow::anyhow!("counting the traffic failed"))?;
        eprintln!(
            "served {} session(s): {} operations, {} reads, {} syncs, {} transfers{}",
            traffic.sessions,
            traffic.operations,
            traffic.reads,
            traffic.syncs,
            traffic.transfers,
            match traffic.missed {
                0 => String::new(),
                n => format!(" ({n} events not counted: counting fell behind)"),
            }
        );
    }
    served
}

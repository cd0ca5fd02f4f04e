//! Remote training across hosts: `zoo-device-server`s in network namespaces of their own,
//! reached from the client's namespace over links with delay and packet loss
//! (`tests/netns/hosts.py`): training over slow, lossy links, and an elastic run through a
//! partition. Needs root, iproute2 and nftables, as CI has; elsewhere it says that it did not
//! run.
#![cfg(feature = "remote")]

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use common::{Server, assert_close, exit_status, losses, wait_until};

const DEVICE_SERVER: &str = env!("CARGO_BIN_EXE_zoo-device-server");
const TABULAR: &str = env!("CARGO_BIN_EXE_tabular");
const TOKEN: &str = "hosts-test-token-0123456789abcdef";

fn harness() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/netns/hosts.py")
}

/// A client and `servers` server hosts, removed on drop.
struct Hosts {
    name: String,
    _turn: MutexGuard<'static, ()>,
}

/// One test's hosts at a time: servers, relays and training share the machine's cores, and
/// the elastic test's timing assumes they are not starved.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

impl Hosts {
    /// The hosts, or `None` (said where `cargo test` shows it) when this machine cannot make
    /// them.
    fn up(test: &str, servers: usize) -> Option<Hosts> {
        let check = Command::new("python3")
            .arg(harness())
            .arg("check")
            .output()
            .unwrap();
        if !check.status.success() {
            let why = String::from_utf8_lossy(&check.stdout);
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must run {test} across network namespaces: {why}"
            );
            common::not_run(
                &format!("{test} (remote training across network namespaces)"),
                &format!("{}; CI runs it as root", why.trim()),
            );
            return None;
        }
        // Unique among the tests of every process running at once.
        static MADE: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "zh{}-{}",
            std::process::id(),
            MADE.fetch_add(1, Ordering::SeqCst)
        );
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
        let hosts = Hosts { name, _turn: turn };
        hosts.harness(&["up", &hosts.name, "--servers", &servers.to_string()]);
        Some(hosts)
    }

    fn harness(&self, args: &[&str]) {
        let output = Command::new("python3")
            .arg(harness())
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "hosts.py {args:?}: {stderr}");
    }

    /// Sets server `k`'s link: one-way delay and loss, each way.
    fn link(&self, k: usize, delay_ms: f64, loss_percent: f64) {
        self.harness(&[
            "link",
            &self.name,
            &k.to_string(),
            "--delay-ms",
            &delay_ms.to_string(),
            "--loss-percent",
            &loss_percent.to_string(),
        ]);
    }

    /// A device server on server host `k`, bound beyond loopback (so with a token).
    fn device_server(&self, k: usize) -> Server {
        let namespace = format!("{}-s{k}", self.name);
        let bind = format!("10.78.{}.2:7000", k + 1);
        Server::start_program(
            "ip",
            &[
                "netns",
                "exec",
                &namespace,
                DEVICE_SERVER,
                "--bind",
                &bind,
                "--backend",
                "flex",
            ],
            &[("BURN_ZOO_TOKEN", TOKEN)],
        )
    }

    /// The address the client reaches server `k`'s device server at (through its link).
    fn url(&self, k: usize) -> String {
        format!("ws://10.78.0.1:{}", 7000 + k)
    }

    /// `program args`, to run on the client host.
    fn client_command(&self, program: &str, args: &[&str]) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &format!("{}-client", self.name), program])
            .args(args)
            .env("BURN_ZOO_TOKEN", TOKEN);
        command
    }

    /// `program args` run on the client host.
    fn on_client(&self, program: &str, args: &[&str]) -> std::process::Output {
        self.client_command(program, args).output().unwrap()
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        let _ = Command::new("python3")
            .arg(harness())
            .args(["down", &self.name])
            .status();
    }
}

#[test]
fn training_over_delayed_lossy_links_gives_the_local_answer() {
    let Some(hosts) = Hosts::up("training_over_links", 2) else {
        return;
    };
    hosts.link(0, 1.0, 1.0);
    hosts.link(1, 10.0, 1.0);
    let servers = [hosts.device_server(0), hosts.device_server(1)];
    let dir = tempfile::tempdir().unwrap();
    let train = |name: &str, extra: &[&str]| {
        let out = dir.path().join(name);
        let mut args = vec![
            "train",
            "--dataset",
            "iris",
            "--model",
            "mlp",
            "--epochs",
            "5",
            "--quiet",
        ];
        args.extend(extra);
        args.extend(["--out", out.to_str().unwrap()]);
        let output = hosts.on_client(TABULAR, &args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{args:?}: {stderr}");
        losses(&out)
    };
    let local = train("local", &["--backend", "flex"]);
    let (near, far) = (hosts.url(0), hosts.url(1));
    let remote = train("remote", &["--backend", "remote", "--remote", &near]);
    assert_close(&local, &remote, 1e-4, "one device 1 ms away, 1 % loss");
    let parallel = train(
        "parallel",
        &[
            "--backend",
            "remote",
            "--remote",
            &near,
            "--remote",
            &far,
            "--devices",
            "2",
        ],
    );
    assert_close(&local, &parallel, 1e-4, "two hosts 1 and 10 ms away");
    drop(servers);
}

/// The device changes an elastic run in `out` has recorded so far.
fn changes(out: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read(out.join("checkpoints/elastic.json"))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

#[test]
fn an_elastic_run_outlives_a_partition_and_takes_the_server_back_when_it_heals() {
    let Some(hosts) = Hosts::up("elastic_partition", 2) else {
        return;
    };
    let servers = [hosts.device_server(0), hosts.device_server(1)];
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("elastic");
    let (near, far) = (hosts.url(0), hosts.url(1));
    let mut run = hosts
        .client_command(
            TABULAR,
            &[
                "train",
                "--dataset",
                "iris",
                "--model",
                "mlp",
                "--epochs",
                "1000",
                "--quiet",
                "--backend",
                "remote",
                "--remote",
                &near,
                "--remote",
                &far,
                "--devices",
                "2",
                "--elastic",
                "--out",
                out.to_str().unwrap(),
            ],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let first_checkpoint = out.join("checkpoints/epoch-0001/state.json");
    wait_until("the first checkpoint", Duration::from_secs(60), || {
        first_checkpoint.is_file()
    });

    // A partition: the second server's packets are all dropped. Training would wait forever
    // for its answer; the supervisor's probe gets none within 5 s and goes on without it.
    hosts.link(1, 0.0, 100.0);
    let detected = wait_until(
        "going on without the cut-off server",
        Duration::from_secs(20),
        || !changes(&out).is_empty(),
    );
    let change = &changes(&out)[0];
    assert_eq!(change["devices"], 1, "{change}");
    assert_eq!(change["servers"], serde_json::json!([near]), "{change}");
    assert!(
        change["reason"]
            .as_str()
            .unwrap()
            .contains("did not answer within 5 s"),
        "{change}"
    );
    // The probe runs every second and waits 5 s for an answer.
    assert!(
        detected < Duration::from_secs(8),
        "detected after {detected:?}"
    );

    // Healed: the server is taken back at the end of an epoch.
    hosts.link(1, 0.0, 0.0);
    wait_until("taking the server back", Duration::from_secs(30), || {
        changes(&out).len() >= 2
    });
    let change = &changes(&out)[1];
    assert_eq!(change["devices"], 2, "{change}");
    assert_eq!(change["batches_done"], 0, "{change}");
    assert!(
        change["reason"].as_str().unwrap().contains(&far),
        "{change}"
    );

    let status = exit_status(&mut run, Duration::from_secs(600), "the run hung");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut run.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "{stderr}");
    assert_eq!(losses(&out).len(), 1000, "{stderr}");
    let history: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("history.json")).unwrap()).unwrap();
    assert_eq!(history["device_changes"].as_array().unwrap().len(), 2);
    drop(servers);
}

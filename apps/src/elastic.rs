//! `train --elastic`: a data-parallel run on remote devices that outlives them, as torchrun's
//! elastic agent restarts a job on the workers that remain. This process trains nothing itself:
//! it runs the `train` command as a child process and watches the servers. When one stops
//! answering (the child exits with [`DEVICE_LOST`], or a probe gets no answer within
//! [`PROBE_TIMEOUT`], as across a partition, where the child would wait forever), it stops the
//! child and runs `train --resume` from the last checkpoint on the devices of the servers that
//! remain; when a server answers again, it asks the child to stop at the end of its epoch
//! (SIGUSR1) and resumes with that server's devices back. Each change goes into
//! `checkpoints/elastic.json` as it happens, and into `history.json` (`device_changes`) at the
//! end. Resuming is exact, so a run that lost a device ends as a run that used the remaining
//! devices from that checkpoint on.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::process::{Child, Command, ExitStatus};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use zoo_models::backend::BackendKind;
use zoo_models::store::{read_json, write_json_atomic};
use zoo_models::train::{Interrupter, checkpointer};

use crate::cli::{DEVICE_LOST, RuntimeArgs, TrainArgs};
use crate::resume::{CHECKPOINTS_DIR, INTERRUPTED};
use crate::run::HISTORY_FILE;

/// How long a server has to answer a probe before it counts as gone.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the servers are probed.
const PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// Restarts in a row from the same checkpoint before the run gives up.
const MAX_RESTARTS_WITHOUT_PROGRESS: usize = 3;
/// The changes so far, in the run's checkpoints folder.
const CHANGES_FILE: &str = "elastic.json";

/// A change of the devices a run trains on.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeviceChange {
    /// Where the run went on from: epochs complete, then batches of the next.
    pub epochs_done: usize,
    pub batches_done: usize,
    /// The servers it went on with, and how many of their devices.
    pub servers: Vec<String>,
    pub devices: usize,
    /// Why: which servers stopped answering or answer again.
    pub reason: String,
}

/// A server and the devices it hosts.
struct Server {
    url: String,
    devices: usize,
}

/// Why the child stopped.
enum Outcome {
    Exited(ExitStatus),
    /// These servers did not answer a probe; the child was killed.
    Unanswered(Vec<String>),
}

/// Runs `train` (this process's arguments without `--elastic`) as an elastic run whose folder is
/// `out`; see the module's documentation.
pub fn supervise(runtime: &RuntimeArgs, train: &TrainArgs, out: &Path) -> anyhow::Result<()> {
    if runtime.backend != BackendKind::Remote || runtime.remote.servers.is_empty() {
        bail!(
            "--elastic keeps a run going when a remote device stops answering: it needs \
             --backend remote and --remote servers"
        );
    }
    if runtime.remote.remote_device != 0 {
        bail!("--elastic uses the servers' devices in order; leave --remote-device out");
    }
    runtime.remote.use_servers()?;
    let servers = runtime
        .remote
        .servers
        .iter()
        .map(|url| {
            Ok(Server {
                url: url.clone(),
                devices: device_count(url)?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let wanted = train.devices as usize;
    let hosted: usize = servers.iter().map(|s| s.devices).sum();
    if hosted < wanted {
        bail!("{wanted} devices asked for, but the --remote servers host {hosted} in all");
    }
    let checkpoints = out.join(CHECKPOINTS_DIR);
    let mut changes: Vec<DeviceChange> = match &train.resume {
        Some(_) if checkpoints.join(CHANGES_FILE).is_file() => {
            read_json(&checkpoints.join(CHANGES_FILE))?
        }
        _ => Vec::new(),
    };
    let program = std::env::current_exe().context("finding this program to run training")?;
    // This process's own arguments without --elastic: a new run, or `--resume` of one.
    let mut arguments: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--elastic")
        .collect();
    let mut live: Vec<bool> = vec![true; servers.len()];
    let mut restarts_here = (position(&checkpoints)?, 0);
    loop {
        let using = devices_of(&servers, &live, wanted);
        let mut child = spawn(&program, &arguments)?;
        let outcome = watch(&mut child, &servers, &live, using < wanted)?;
        let reason = match outcome {
            Outcome::Exited(status) if status.success() => break,
            Outcome::Exited(status) if status.code() == Some(i32::from(INTERRUPTED)) => {
                if Interrupter::process().stop_requested() {
                    // Ctrl-C, which the child had too: it saved a checkpoint.
                    let checkpoint = checkpointer::latest(&checkpoints).ok().map(|c| c.dir);
                    return Err(zoo_models::Error::Interrupted { checkpoint }.into());
                }
                let back = answering(&servers, |k| (!live[k]).then_some(PROBE_TIMEOUT));
                for &k in &back {
                    live[k] = true;
                }
                match back.is_empty() {
                    true => "stopped at the end of an epoch to take back a server that no \
                             longer answers"
                        .to_string(),
                    false => format!("{} answer(s) again", urls(&servers, &back)),
                }
            }
            Outcome::Exited(status) if status.code() == Some(i32::from(DEVICE_LOST)) => {
                let gone = answering(&servers, |k| live[k].then_some(PROBE_TIMEOUT));
                let gone: Vec<usize> = (0..servers.len())
                    .filter(|k| live[*k] && !gone.contains(k))
                    .collect();
                for &k in &gone {
                    live[k] = false;
                }
                match gone.is_empty() {
                    true => "a remote device stopped answering, and every server answers \
                             again"
                        .to_string(),
                    false => format!("{} stopped answering", urls(&servers, &gone)),
                }
            }
            Outcome::Exited(status) => bail!("training failed ({status})"),
            Outcome::Unanswered(gone) => {
                for k in 0..servers.len() {
                    if gone.contains(&servers[k].url) {
                        live[k] = false;
                    }
                }
                format!(
                    "{} did not answer within {} s",
                    gone.join(", "),
                    PROBE_TIMEOUT.as_secs()
                )
            }
        };
        if !live.contains(&true) {
            bail!(
                "no --remote server answers ({reason}); the checkpoints are kept: resume with \
                 `train --resume {} --elastic` once one does",
                out.display()
            );
        }
        let here = position(&checkpoints)?;
        restarts_here = match restarts_here {
            (at, n) if at == here => (at, n + 1),
            _ => (here, 1),
        };
        if restarts_here.1 > MAX_RESTARTS_WITHOUT_PROGRESS {
            bail!(
                "training stopped {} times without getting past epoch {} batch {} ({reason}); \
                 the checkpoints are kept: resume with `train --resume {} --elastic`",
                restarts_here.1,
                here.0,
                here.1,
                out.display()
            );
        }
        let devices = devices_of(&servers, &live, wanted);
        let remaining: Vec<String> = (0..servers.len())
            .filter(|k| live[*k])
            .map(|k| servers[k].url.clone())
            .collect();
        eprintln!(
            "elastic: {reason}; going on from epoch {} batch {} with {devices} device(s) on {}",
            here.0,
            here.1,
            remaining.join(", ")
        );
        changes.push(DeviceChange {
            epochs_done: here.0,
            batches_done: here.1,
            servers: remaining.clone(),
            devices,
            reason,
        });
        write_json_atomic(&checkpoints.join(CHANGES_FILE), &changes)?;
        arguments = resume_arguments(out, &remaining, devices, train.quiet);
    }
    if !changes.is_empty() {
        let path = out.join(HISTORY_FILE);
        let mut history: serde_json::Value = read_json(&path)?;
        history["device_changes"] = serde_json::to_value(&changes)?;
        write_json_atomic(&path, &history)?;
    }
    Ok(())
}

/// How many devices `--devices wanted` gets from the live servers, taken in order.
fn devices_of(servers: &[Server], live: &[bool], wanted: usize) -> usize {
    let hosted: usize = (0..servers.len())
        .filter(|k| live[*k])
        .map(|k| servers[k].devices)
        .sum();
    hosted.min(wanted)
}

fn urls(servers: &[Server], which: &[usize]) -> String {
    let urls: Vec<&str> = which.iter().map(|&k| servers[k].url.as_str()).collect();
    urls.join(", ")
}

/// `train --resume OUT` on `servers` with `devices` devices.
fn resume_arguments(out: &Path, servers: &[String], devices: usize, quiet: bool) -> Vec<String> {
    let mut arguments: Vec<String> = ["train", "--resume"]
        .map(String::from)
        .into_iter()
        .chain([out.to_string_lossy().into_owned()])
        .chain(["--backend".into(), "remote".into()])
        .collect();
    for url in servers {
        arguments.extend(["--remote".into(), url.clone()]);
    }
    arguments.extend(["--devices".into(), devices.to_string()]);
    if quiet {
        arguments.push("--quiet".into());
    }
    arguments
}

/// Where the run's last complete checkpoint is: epochs done, batches of the next (0, 0 with
/// none yet).
fn position(checkpoints: &Path) -> anyhow::Result<(usize, usize)> {
    Ok(checkpointer::list(checkpoints)?.last().map_or((0, 0), |c| {
        (
            c.state.epochs_done,
            c.state.partial.as_ref().map_or(0, |p| p.batches),
        )
    }))
}

/// Starts `train` as a child that dies with this process.
fn spawn(program: &Path, arguments: &[String]) -> anyhow::Result<Child> {
    let mut command = Command::new(program);
    command.args(arguments);
    // SAFETY: `prctl` is async-signal-safe, as `pre_exec` requires.
    unsafe {
        use std::os::unix::process::CommandExt;
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    command.spawn().context("starting training")
}

/// Waits for `child` to exit, probing the servers every [`PROBE_INTERVAL`]: a live one that
/// does not answer gets the child killed; with `short` of devices, a gone one that answers
/// again gets the child asked to stop at the end of its epoch.
fn watch(
    child: &mut Child,
    servers: &[Server],
    live: &[bool],
    short: bool,
) -> anyhow::Result<Outcome> {
    let mut asked_to_stop = false;
    loop {
        let next_probe = Instant::now() + PROBE_INTERVAL;
        while Instant::now() < next_probe {
            if let Some(status) = child.try_wait()? {
                return Ok(Outcome::Exited(status));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // A gone server is asked briefly: one that answers again does so at once, and one still
        // cut off must not hold up noticing that the child has exited.
        let answered = answering(servers, |k| match live[k] {
            true => Some(PROBE_TIMEOUT),
            false => Some(PROBE_INTERVAL),
        });
        let unanswered: Vec<String> = (0..servers.len())
            .filter(|k| live[*k] && !answered.contains(k))
            .map(|k| servers[k].url.clone())
            .collect();
        if !unanswered.is_empty() {
            // The child may have exited meanwhile, with its own account of the loss.
            if let Some(status) = child.try_wait()? {
                return Ok(Outcome::Exited(status));
            }
            let _ = child.kill();
            child.wait()?;
            return Ok(Outcome::Unanswered(unanswered));
        }
        let returned = answered.iter().any(|&k| !live[k]);
        if short && returned && !asked_to_stop {
            // SAFETY: signals a child this process started and has not yet waited for.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGUSR1) };
            asked_to_stop = true;
        }
    }
}

/// The servers that answer a probe, probed at once, each within the time `within` gives it
/// (`None`: not probed).
fn answering(servers: &[Server], within: impl Fn(usize) -> Option<Duration>) -> Vec<usize> {
    let (sender, receiver) = mpsc::channel();
    let mut longest = Duration::ZERO;
    let mut probed = 0;
    for (k, server) in servers.iter().enumerate() {
        let Some(timeout) = within(k) else { continue };
        let (sender, url) = (sender.clone(), server.url.clone());
        // A thread that hangs past the timeout (it should not: every call has one) is left.
        std::thread::spawn(move || {
            let _ = sender.send((k, answers(&url, timeout)));
        });
        longest = longest.max(timeout);
        probed += 1;
    }
    let deadline = Instant::now() + longest + Duration::from_secs(1);
    let mut answered = Vec::new();
    for _ in 0..probed {
        let left = deadline.saturating_duration_since(Instant::now());
        match receiver.recv_timeout(left) {
            Ok((k, true)) => answered.push(k),
            Ok((_, false)) => {}
            Err(_) => break,
        }
    }
    answered.sort_unstable();
    answered
}

/// Whether the server at `url` (ws://HOST:PORT) answers an HTTP request within `within`: its
/// WebSocket endpoint answers a plain GET (with an error status), which tells that its process
/// and the network to it are there, without opening a device session.
fn answers(url: &str, within: Duration) -> bool {
    let Some(address) = url.strip_prefix("ws://").map(|a| a.trim_end_matches('/')) else {
        return false;
    };
    let Some(socket) = address.to_socket_addrs().ok().and_then(|mut a| a.next()) else {
        return false;
    };
    let Ok(mut stream) = TcpStream::connect_timeout(&socket, within) else {
        return false;
    };
    let deadline = Instant::now() + within;
    let _ = stream.set_write_timeout(Some(within));
    let request = format!("GET / HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
        return false;
    }
    let mut first = [0u8; 1];
    matches!(stream.read(&mut first), Ok(1))
}

/// The devices the server at `url` hosts, asked within [`PROBE_TIMEOUT`].
fn device_count(url: &str) -> anyhow::Result<usize> {
    let (sender, receiver) = mpsc::channel();
    let asked = url.to_string();
    std::thread::spawn(move || {
        let _ = sender.send(zoo_models::remote::device_count(&asked));
    });
    match receiver.recv_timeout(PROBE_TIMEOUT) {
        Ok(count) => Ok(count?),
        Err(_) => bail!(
            "remote server {url} did not answer within {} s",
            PROBE_TIMEOUT.as_secs()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn a_probe_tells_a_server_that_answers_from_a_silent_or_absent_one() {
        let within = Duration::from_millis(300);
        // Answers any request, as an HTTP server does.
        let answering = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("ws://{}", answering.local_addr().unwrap());
        std::thread::spawn(move || {
            for stream in answering.incoming() {
                let mut stream = stream.unwrap();
                let mut request = [0u8; 256];
                let _ = stream.read(&mut request);
                let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
            }
        });
        assert!(answers(&url, within));
        // Accepts connections (the kernel does, from its backlog) but never answers, as a
        // server across a partition behind a relay.
        let silent = TcpListener::bind("127.0.0.1:0").unwrap();
        let silent_url = format!("ws://{}", silent.local_addr().unwrap());
        let start = Instant::now();
        assert!(!answers(&silent_url, within));
        assert!(start.elapsed() < within * 3, "{:?}", start.elapsed());
        // Nothing listening.
        let absent = TcpListener::bind("127.0.0.1:0").unwrap();
        let absent_url = format!("ws://{}", absent.local_addr().unwrap());
        drop(absent);
        assert!(!answers(&absent_url, within));
        assert!(!answers("http://127.0.0.1:1", within));
        drop(silent);
    }

    #[test]
    fn a_run_goes_on_with_the_devices_of_the_servers_that_remain() {
        let servers = [("ws://a:1", 2), ("ws://b:1", 1)].map(|(url, devices)| Server {
            url: url.into(),
            devices,
        });
        assert_eq!(devices_of(&servers, &[true, true], 2), 2);
        assert_eq!(devices_of(&servers, &[false, true], 2), 1);
        assert_eq!(devices_of(&servers, &[true, false], 3), 2);
        assert_eq!(
            resume_arguments(Path::new("runs/x"), &["ws://b:1".into()], 1, true),
            [
                "train",
                "--resume",
                "runs/x",
                "--backend",
                "remote",
                "--remote",
                "ws://b:1",
                "--devices",
                "1",
                "--quiet"
            ]
        );
    }
}

//! Running trials: each a `train` of this very binary in a process of its own, its output in
//! its folder's `train.log`, its result read from the `history.json` it saves.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use zoo_models::store::read_json;
use zoo_models::train::{History, StopReason, checkpointer};

use crate::resume::{CHECKPOINTS_DIR, INTERRUPTED};
use crate::run::{CV_FILE, HISTORY_FILE};

/// A trial's output, in its folder.
pub const TRIAL_LOG_FILE: &str = "train.log";

/// One rung of one trial, to run.
pub struct Job {
    pub trial: usize,
    pub bracket: usize,
    pub rung: usize,
    /// The epoch budget of the rung.
    pub epochs: usize,
    pub dir: PathBuf,
    /// `train`'s arguments.
    pub arguments: Vec<String>,
    /// The figure to read from the history.
    pub metric: String,
}

/// What one rung of one trial came to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrialResult {
    pub trial: usize,
    pub bracket: usize,
    pub rung: usize,
    /// The rung's budget.
    pub epochs: usize,
    /// The epochs trained (fewer when a stopping rule ended the run).
    pub epochs_run: usize,
    /// The epoch whose weights the run kept (early stopping may restore an earlier one).
    pub epochs_kept: usize,
    /// The ranking figure of the kept weights; none when the trial failed.
    pub metric: Option<f64>,
    /// Their validation loss, which breaks ties between equal figures (an accuracy on a few
    /// hundred examples often ties).
    pub val_loss: Option<f64>,
    /// `ok`, or why the trial failed.
    pub status: String,
    /// Wall time of the rung's process.
    pub seconds: f64,
}

impl TrialResult {
    /// The epochs a refit of this trial trains for: those of the weights early stopping
    /// restored, else the rung's budget (a run a stopping rule ended stops by the same rule).
    pub fn refit_epochs(&self) -> usize {
        match self.epochs_kept < self.epochs_run {
            true => self.epochs_kept,
            false => self.epochs,
        }
    }
}

/// Set by Ctrl-C: no new trial starts, the running ones stop at a checkpoint.
static STOP: AtomicBool = AtomicBool::new(false);

/// Whether `dir` holds a training run that can go on from a checkpoint.
pub fn resumable(dir: &Path) -> bool {
    let checkpoints = dir.join(CHECKPOINTS_DIR);
    checkpoints.join(crate::resume::COMMAND_FILE).is_file()
        && checkpointer::latest(&checkpoints).is_ok()
}

/// Runs `jobs`, `parallel` at a time, handing each result to `finished` as it comes. Ctrl-C
/// lets the running trials stop at a checkpoint (they receive it too) and ends the search
/// with an error saying how to resume; any other error kills the running trials.
pub fn run_jobs(
    jobs: Vec<Job>,
    parallel: usize,
    mut finished: impl FnMut(TrialResult) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    static HANDLER: std::sync::Once = std::sync::Once::new();
    HANDLER.call_once(|| {
        // Without a handler (another one set first), Ctrl-C ends tune at once; the trials
        // still stop at a checkpoint.
        let _ = ctrlc::set_handler(|| STOP.store(true, Ordering::SeqCst));
    });
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads_each = (threads / parallel).max(1);
    let mut pending = jobs.into_iter();
    let mut running: Vec<(Job, Child, Instant)> = Vec::new();
    let outcome = (|| -> anyhow::Result<()> {
        loop {
            while running.len() < parallel && !STOP.load(Ordering::SeqCst) {
                let Some(job) = pending.next() else { break };
                let child = spawn(&job, (parallel > 1).then_some(threads_each))?;
                running.push((job, child, Instant::now()));
            }
            if running.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
            let mut i = 0;
            while i < running.len() {
                let Some(status) = running[i].1.try_wait()? else {
                    i += 1;
                    continue;
                };
                let (job, _, start) = running.remove(i);
                if status.code() == Some(INTERRUPTED.into()) {
                    STOP.store(true, Ordering::SeqCst);
                    continue;
                }
                finished(result(&job, status, start.elapsed().as_secs_f64())?)?;
            }
        }
        if STOP.load(Ordering::SeqCst) {
            bail!(zoo_models::Error::Interrupted { checkpoint: None });
        }
        Ok(())
    })();
    for (_, mut child, _) in running {
        let _ = child.kill();
        let _ = child.wait();
    }
    outcome
}

/// Starts `job`'s `train`, its output appended to its folder's log; with `threads`, its
/// thread pool that large. On Linux the trial dies with the search: a killed search leaves no
/// trial writing into folders a resumed search would take over.
fn spawn(job: &Job, threads: Option<usize>) -> anyhow::Result<Child> {
    std::fs::create_dir_all(&job.dir).with_context(|| format!("creating {}", job.dir.display()))?;
    let log_path = job.dir.join(TRIAL_LOG_FILE);
    let log = File::options()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("opening {}", log_path.display()))?;
    let mut command = this_program()?;
    command
        .arg("train")
        .args(&job.arguments)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    if let Some(threads) = threads {
        command.env("RAYON_NUM_THREADS", threads.to_string());
    }
    #[cfg(target_os = "linux")]
    // SAFETY: `prctl` is async-signal-safe, as `pre_exec` requires.
    unsafe {
        use std::os::unix::process::CommandExt;
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    command
        .spawn()
        .with_context(|| format!("starting trial {}", job.trial))
}

fn this_program() -> anyhow::Result<std::process::Command> {
    let program = std::env::current_exe().context("finding this program to run trials")?;
    Ok(std::process::Command::new(program))
}

/// What `job`'s process left: its ranking figure from the history it saved, or why it failed.
fn result(job: &Job, status: ExitStatus, seconds: f64) -> anyhow::Result<TrialResult> {
    let mut result = TrialResult {
        trial: job.trial,
        bracket: job.bracket,
        rung: job.rung,
        epochs: job.epochs,
        epochs_run: 0,
        epochs_kept: 0,
        metric: None,
        val_loss: None,
        status: "ok".into(),
        seconds,
    };
    if !status.success() {
        result.status = format!("failed: {}", last_error(&job.dir.join(TRIAL_LOG_FILE)));
        return Ok(result);
    }
    let history: History = read_json(&job.dir.join(HISTORY_FILE))?;
    let kept = match history.stop {
        StopReason::EarlyStopping {
            best_epoch,
            restored_best_weights: true,
            ..
        } => best_epoch,
        _ => history.epochs_run(),
    };
    if job.metric.starts_with("cv_") {
        let cv: serde_json::Value = read_json(&job.dir.join(CV_FILE))?;
        result.metric = cv["mean"].as_f64().filter(|m| m.is_finite());
    }
    let record = history.epochs.iter().find(|r| r.epoch == kept);
    let figure = |name: &str| {
        record
            .and_then(|r| r.validation.get(name).copied())
            .filter(|f| f.is_finite())
    };
    result.epochs_run = history.epochs_run();
    result.epochs_kept = kept;
    if !job.metric.starts_with("cv_") {
        result.metric = figure(&job.metric);
    }
    result.val_loss = figure("val_loss");
    if result.metric.is_none() {
        result.status = format!("failed: no finite {} in its history", job.metric);
    }
    Ok(result)
}

/// The last `error:` line of a trial's log.
fn last_error(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .rev()
        .find_map(|line| line.strip_prefix("error: "))
        .unwrap_or("the process ended without an error message")
        .to_string()
}

/// Runs `train` with `arguments` in the foreground, its output shown; fails if it does.
pub fn refit(arguments: &[String]) -> anyhow::Result<()> {
    let status = this_program()?
        .arg("train")
        .args(arguments)
        .status()
        .context("starting the refit")?;
    match status.code() {
        Some(0) => Ok(()),
        Some(code) if code == i32::from(INTERRUPTED) => {
            bail!(zoo_models::Error::Interrupted { checkpoint: None })
        }
        _ => bail!("refitting the best configuration failed ({status})"),
    }
}

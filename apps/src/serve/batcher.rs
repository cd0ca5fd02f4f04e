//! Dynamic batching: requests to one model queue for its worker thread, which gathers what is
//! waiting into one forward pass, up to a maximum batch. While other requests are on their way
//! (accepted, their inputs being decoded) it waits for them, at most a maximum time; when none
//! is, it runs at once, so a lone client pays no wait. The model lives on that thread, off the
//! async runtime's threads: a forward pass is CPU work that would stall every other connection.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::oneshot;

use super::metrics::ModelMetrics;
use crate::predictor::{Output, Predictor};
use crate::preprocessing::ModelInput;

/// How requests are gathered into forward passes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchPolicy {
    /// Inputs in one forward pass, at most (1: no batching), padding aside. A request with
    /// more inputs runs alone; one that would take a batch past this waits for the next.
    pub max_batch: usize,
    /// How long the first request of a batch waits for requests on their way when fewer than
    /// `max_batch` inputs are queued.
    pub max_wait: Duration,
    /// Requests waiting for the worker, at most; more are refused (503) rather than queued
    /// without bound.
    pub queue: usize,
    /// Pad each batch to a power of two (repeating its first input) for backends that compile
    /// kernels for each new input shape: wgpu then compiles for 7 batch sizes up to 64, not 64.
    pub power_of_two_batches: bool,
}

/// Why a request got no outputs.
#[derive(Debug, PartialEq)]
pub enum BatchError {
    /// The queue is full.
    Busy,
    /// The worker is gone (the server is stopping).
    Stopped,
    /// The forward pass failed (or panicked), with the reason.
    Failed(String),
}

/// What a model's worker has done since the server started: with batching, fewer forward
/// passes than requests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BatchCounts {
    pub requests: u64,
    pub inputs: u64,
    pub forward_passes: u64,
    /// Copies of inputs added to pad batches to powers of two (`power_of_two_batches`).
    pub padding_inputs: u64,
    /// The most requested inputs one forward pass took, padding aside.
    pub largest_batch: u64,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    inputs: AtomicU64,
    forward_passes: AtomicU64,
    padding_inputs: AtomicU64,
    largest_batch: AtomicU64,
    /// Requests accepted whose inputs are still being prepared: worth waiting for.
    arriving: AtomicUsize,
}

/// A request on its way to the queue, counted as arriving until it is queued or given up.
pub struct Arrival {
    counters: Arc<Counters>,
}

impl Drop for Arrival {
    fn drop(&mut self) {
        self.counters.arriving.fetch_sub(1, Ordering::SeqCst);
    }
}

/// How often a worker waiting for arriving requests looks again whether any still are.
const WAIT_STEP: Duration = Duration::from_micros(200);

struct Job {
    inputs: Vec<ModelInput>,
    reply: oneshot::Sender<Result<Vec<Output>, BatchError>>,
    queued: Instant,
}

/// The sending side of one model's worker; dropping it stops the worker once the queue is
/// empty.
pub struct Batcher {
    /// `None` only while dropping.
    jobs: Option<SyncSender<Job>>,
    worker: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
    metrics: ModelMetrics,
}

impl Batcher {
    /// Starts the worker thread that owns `predictor`, recording into `metrics`.
    pub fn spawn(
        name: &str,
        predictor: Predictor,
        policy: BatchPolicy,
        metrics: ModelMetrics,
    ) -> std::io::Result<Self> {
        let (jobs, queue) = std::sync::mpsc::sync_channel(policy.queue.max(1));
        let counters = Arc::new(Counters::default());
        let worker_counters = counters.clone();
        let worker_metrics = metrics.clone();
        let worker = std::thread::Builder::new()
            .name(format!("model {name}"))
            .spawn(move || run(predictor, queue, policy, &worker_counters, &worker_metrics))?;
        Ok(Self {
            jobs: Some(jobs),
            worker: Some(worker),
            counters,
            metrics,
        })
    }

    pub fn counts(&self) -> BatchCounts {
        let c = &self.counters;
        BatchCounts {
            requests: c.requests.load(Ordering::Relaxed),
            inputs: c.inputs.load(Ordering::Relaxed),
            forward_passes: c.forward_passes.load(Ordering::Relaxed),
            padding_inputs: c.padding_inputs.load(Ordering::Relaxed),
            largest_batch: c.largest_batch.load(Ordering::Relaxed),
        }
    }

    /// Announces a request whose inputs are being prepared, so that the worker waits for it.
    pub fn arriving(&self) -> Arrival {
        self.counters.arriving.fetch_add(1, Ordering::SeqCst);
        Arrival {
            counters: self.counters.clone(),
        }
    }

    /// The outputs for `inputs` of the request `arrival` announced, once a forward pass that
    /// includes them has run.
    pub async fn predict(
        &self,
        arrival: Arrival,
        inputs: Vec<ModelInput>,
    ) -> Result<Vec<Output>, BatchError> {
        let (reply, outputs) = oneshot::channel();
        // No longer on its way once queued. Counted off just before, not after: a worker that
        // took this job at once and still saw it arriving would wait for it in vain.
        drop(arrival);
        // Counted before it is sent, so that the worker never takes it off a depth that
        // does not hold it yet.
        self.metrics.queue_depth.inc();
        let job = Job {
            inputs,
            reply,
            queued: Instant::now(),
        };
        let sent = self
            .jobs
            .as_ref()
            .ok_or(BatchError::Stopped)
            .and_then(|jobs| {
                jobs.try_send(job).map_err(|e| match e {
                    TrySendError::Full(_) => BatchError::Busy,
                    TrySendError::Disconnected(_) => BatchError::Stopped,
                })
            });
        if let Err(error) = sent {
            self.metrics.queue_depth.dec();
            return Err(error);
        }
        outputs.await.map_err(|_| BatchError::Stopped)?
    }
}

impl Drop for Batcher {
    fn drop(&mut self) {
        // Closing the queue ends the worker's loop after the jobs already queued; wait for it so
        // that no forward pass outlives the server.
        drop(self.jobs.take());
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

fn run(
    predictor: Predictor,
    queue: Receiver<Job>,
    policy: BatchPolicy,
    counters: &Counters,
    metrics: &ModelMetrics,
) {
    // As in the apps' binaries, so that a prediction here is theirs to the bit.
    zoo_models::cpu::flush_subnormals_to_zero();
    // A job that would have taken the last batch past `max_batch` starts the next one.
    let mut held_over: Option<Job> = None;
    while let Some(first) = held_over.take().or_else(|| queue.recv().ok()) {
        let mut rows = first.inputs.len();
        let mut jobs = vec![first];
        let deadline = Instant::now() + policy.max_wait;
        while rows < policy.max_batch {
            // What is already queued joins at once; then, while requests are on their way,
            // wait for them until the deadline.
            let next = match queue.try_recv() {
                Ok(job) => Ok(job),
                Err(_) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() || counters.arriving.load(Ordering::SeqCst) == 0 {
                        break;
                    }
                    // In short steps, so that a batch whose stragglers turned out to be bad
                    // requests does not wait out the whole deadline.
                    queue.recv_timeout(left.min(WAIT_STEP))
                }
            };
            match next {
                Ok(job) if rows + job.inputs.len() > policy.max_batch => {
                    held_over = Some(job);
                    break;
                }
                Ok(job) => {
                    rows += job.inputs.len();
                    jobs.push(job);
                }
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        counters
            .requests
            .fetch_add(jobs.len() as u64, Ordering::Relaxed);
        counters.inputs.fetch_add(rows as u64, Ordering::Relaxed);
        counters.forward_passes.fetch_add(1, Ordering::Relaxed);
        counters
            .largest_batch
            .fetch_max(rows as u64, Ordering::Relaxed);
        metrics.batch_size.observe(rows as f64);
        for job in &jobs {
            metrics.queue_depth.dec();
            metrics
                .queue_wait
                .observe(job.queued.elapsed().as_secs_f64());
        }
        run_batch(&predictor, jobs, &policy, counters);
    }
}

/// The batch size `n` inputs are padded to: the next power of two, unless that is past the
/// largest batch already (a request alone can be larger).
fn padded_size(n: usize, max_batch: usize) -> usize {
    let padded = n.next_power_of_two();
    if padded > max_batch.max(n) { n } else { padded }
}

/// One forward pass over every job's inputs; each job gets its own outputs back.
fn run_batch(predictor: &Predictor, jobs: Vec<Job>, policy: &BatchPolicy, counters: &Counters) {
    let mut inputs = Vec::with_capacity(jobs.iter().map(|j| j.inputs.len()).sum());
    let mut replies = Vec::with_capacity(jobs.len());
    for job in jobs {
        replies.push((job.inputs.len(), job.reply));
        inputs.extend(job.inputs);
    }
    if let (true, Some(first)) = (policy.power_of_two_batches, inputs.first().cloned()) {
        // Rows do not see each other in these models: the copies change no answer, and their
        // outputs are never sent (the replies take the first outputs only).
        let padded = padded_size(inputs.len(), policy.max_batch);
        counters
            .padding_inputs
            .fetch_add((padded - inputs.len()) as u64, Ordering::Relaxed);
        inputs.resize(padded, first);
    }
    // A panic in Burn must cost this batch, not the worker: later requests still get served.
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| predictor.predict(&inputs)))
        .map_err(|panic| {
            let reason = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("unknown");
            format!("the forward pass panicked: {reason}")
        })
        .and_then(|outputs| outputs.map_err(|e| format!("{e:#}")));
    match result {
        Ok(outputs) => {
            let mut outputs = outputs.into_iter();
            for (count, reply) in replies {
                // A client that went away has dropped its receiver; nothing to do.
                let _ = reply.send(Ok(outputs.by_ref().take(count).collect()));
            }
        }
        Err(reason) => {
            for (_, reply) in replies {
                let _ = reply.send(Err(BatchError::Failed(reason.clone())));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::padded_size;

    #[test]
    fn batches_are_padded_to_powers_of_two_within_the_largest_batch() {
        let sizes: Vec<usize> = (1..=9).map(|n| padded_size(n, 64)).collect();
        assert_eq!(sizes, [1, 2, 4, 4, 8, 8, 8, 8, 16]);
        assert_eq!(padded_size(40, 48), 40, "not past the largest batch");
        assert_eq!(padded_size(100, 64), 100, "a larger request runs as it is");
    }
}

//! Throughput of the zoo's models on a backend: training steps and inference in samples per
//! second, the cost of the first step, and peak memory. `zoo-bench` prints these, and
//! `bench/torch_reference.py` measures the same models the same way in PyTorch.
//!
//! A training step is the one `fit` runs ([`crate::train::step`]): a batch gathered from host
//! memory and copied to the device, forward, loss, backward and an Adam update. Inference is
//! `forward` without autodiff on a batch already on the device, read back to the host.

use std::time::Instant;

use burn::module::Module;
use burn::prelude::*;
use serde::Serialize;

use crate::cnn::SmallCnnConfig;
use crate::conformance::{Case, examples};
use crate::data::Examples;
use crate::error::{Error, Result};
use crate::linear::LinearRegressionConfig;
use crate::logistic::LogisticRegressionConfig;
use crate::mlp::MlpConfig;
use crate::model::ModelConfig;
use crate::task::Task;
use crate::train::{OptimizerConfig, step};

/// One model configuration to time, with the batch sizes its app trains with.
#[derive(Clone, Debug)]
pub struct BenchCase {
    pub case: Case,
    pub train_batch: usize,
    pub inference_batch: usize,
    pub learning_rate: f64,
}

/// The zoo's models in the configurations the apps train by default. The PyTorch reference
/// (`bench/torch_reference.py`) defines the same cases under the same names.
pub fn cases() -> Vec<BenchCase> {
    let case = |name, config, task, train_batch| BenchCase {
        case: Case { name, config, task },
        train_batch,
        inference_batch: 256,
        learning_rate: 1e-3,
    };
    let mnist = Task::Multiclass { n_classes: 10 };
    vec![
        // tabular on diabetes: 10 features, one target.
        case(
            "linear-diabetes",
            ModelConfig::Linear(LinearRegressionConfig::new(10)),
            Task::Regression { n_outputs: 1 },
            32,
        ),
        case(
            "logistic-mnist",
            ModelConfig::Logistic(LogisticRegressionConfig::new(784, 10)),
            mnist,
            64,
        ),
        case(
            "mlp-mnist",
            ModelConfig::Mlp(MlpConfig::new(784, vec![256, 128], 10).with_dropout(0.2)),
            mnist,
            64,
        ),
        case(
            "cnn-mnist",
            ModelConfig::Cnn(SmallCnnConfig::new(1, 28, 28, 10).with_dropout(0.2)),
            mnist,
            64,
        ),
        // A dense logistic regression at a text vocabulary's width: the text app itself trains
        // sparse TF-IDF rows (README, "Performance", says what this row measures).
        case(
            "text-logistic",
            ModelConfig::Logistic(LogisticRegressionConfig::new(20_000, 2)),
            Task::Binary,
            32,
        ),
        // audio-classifier's CNN: 13 MFCCs × 80 frames.
        case(
            "cnn-mfcc",
            ModelConfig::Cnn(SmallCnnConfig::new(1, 13, 80, 10).with_dropout(0.3)),
            mnist,
            32,
        ),
    ]
}

/// How long to measure: `rounds` rounds of at least `round_seconds` each, after `warmup_steps`
/// untimed steps.
#[derive(Clone, Debug, Serialize)]
pub struct BenchSettings {
    pub warmup_steps: usize,
    pub rounds: usize,
    pub round_seconds: f64,
}

impl Default for BenchSettings {
    fn default() -> Self {
        BenchSettings {
            warmup_steps: 3,
            rounds: 5,
            round_seconds: 1.0,
        }
    }
}

/// Median, smallest and largest of the per-round throughputs, in samples per second.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    /// `None` for no values or any value that is not a finite number.
    pub fn of(values: &[f64]) -> Option<Spread> {
        if values.is_empty() || values.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        Some(Spread {
            median,
            min: sorted[0],
            max: sorted[n - 1],
        })
    }
}

/// What [`measure`] found for one case on one device.
#[derive(Clone, Debug, Serialize)]
pub struct Measurement {
    pub case: String,
    pub parameters: usize,
    pub train_batch: usize,
    pub inference_batch: usize,
    /// Wall time of the very first training step: on wgpu it includes compiling shaders and
    /// autotuning kernels, so it shows what a short run pays on top of the steady rate.
    pub first_step_seconds: f64,
    pub train: Spread,
    pub inference: Spread,
    /// Peak resident memory of the process while this case ran (Linux; the GPU's own memory
    /// is not included).
    pub peak_memory_bytes: Option<u64>,
}

/// Times `rounds` rounds of `run` (each returning the samples it processed), each round
/// running until it lasted `round_seconds`; returns samples per second per round.
fn rounds(settings: &BenchSettings, run: &mut dyn FnMut() -> Result<usize>) -> Result<Vec<f64>> {
    (0..settings.rounds)
        .map(|_| {
            let start = Instant::now();
            let mut samples = 0;
            while samples == 0 || start.elapsed().as_secs_f64() < settings.round_seconds {
                samples += run()?;
            }
            Ok(samples as f64 / start.elapsed().as_secs_f64())
        })
        .collect()
}

/// Measures `bench` on `device` (without autodiff; training uses its autodiff twin).
pub fn measure(
    bench: &BenchCase,
    device: &Device,
    settings: &BenchSettings,
) -> Result<Measurement> {
    reset_peak_memory();
    device.seed(1);
    let case = &bench.case;
    let model = case.config.init(device)?;
    let parameters = model.num_params();
    let train_data = examples(case, bench.train_batch, 1);
    let train_indices: Vec<usize> = (0..bench.train_batch).collect();

    let mut trainable = model.clone().train();
    let mut optimizer = OptimizerConfig::adam()
        .init()
        .expect("a mini-batch optimizer");
    let mut train_step = || -> Result<usize> {
        let batch = train_data.batch(&train_indices, &trainable.device());
        let outcome;
        (trainable, outcome) = step(
            trainable.clone(),
            &mut optimizer,
            case.task,
            batch,
            bench.learning_rate,
            0.0,
        );
        // Reading the loss waits for the device, so the time covers the whole step.
        let loss = outcome.loss.into_scalar::<f32>();
        if !loss.is_finite() {
            return Err(Error::Device(format!(
                "{}: the loss became {loss}",
                case.name
            )));
        }
        Ok(bench.train_batch)
    };
    let start = Instant::now();
    train_step()?;
    let first_step_seconds = start.elapsed().as_secs_f64();
    for _ in 0..settings.warmup_steps {
        train_step()?;
    }
    let train = rounds(settings, &mut train_step)?;

    let inference_data: Examples = examples(case, bench.inference_batch, 2);
    let inputs = inference_data
        .features
        .tensor(0..bench.inference_batch, device);
    let mut infer = || -> Result<usize> {
        model
            .forward(inputs.clone())
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| Error::Device(format!("{e:?}")))?;
        Ok(bench.inference_batch)
    };
    for _ in 0..settings.warmup_steps.max(1) {
        infer()?;
    }
    let inference = rounds(settings, &mut infer)?;

    let spread = |values: &[f64]| {
        Spread::of(values).ok_or_else(|| Error::Device(format!("{}: no timings", case.name)))
    };
    Ok(Measurement {
        case: case.name.to_string(),
        parameters,
        train_batch: bench.train_batch,
        inference_batch: bench.inference_batch,
        first_step_seconds,
        train: spread(&train)?,
        inference: spread(&inference)?,
        peak_memory_bytes: peak_memory(),
    })
}

/// Resets the kernel's record of this process's peak resident memory (Linux ≥ 4.0), so that
/// [`peak_memory`] reports the peak since this call. Elsewhere it does nothing.
fn reset_peak_memory() {
    // Failure only means the peak covers the whole process so far.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident memory (VmHWM) of this process, where the system reports it.
fn peak_memory() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_takes_the_middle_value() {
        let spread = Spread::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!(
            spread,
            Spread {
                median: 2.0,
                min: 1.0,
                max: 3.0
            }
        );
        assert_eq!(Spread::of(&[4.0, 1.0, 2.0, 3.0]).unwrap().median, 2.5);
        assert_eq!(Spread::of(&[]), None);
        assert_eq!(Spread::of(&[1.0, f64::NAN]), None);
    }

    #[test]
    fn case_names_are_unique() {
        let mut names: Vec<_> = cases().iter().map(|c| c.case.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), cases().len());
    }
}

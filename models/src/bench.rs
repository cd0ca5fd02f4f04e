//! Throughput of the zoo's models on a backend: training steps and inference in samples per
//! second, the cost of the first step, and peak memory. `zoo-bench` prints these, and
//! `bench/torch_reference.py` measures the same models the same way in PyTorch.
//!
//! A training step is the one `fit` runs ([`crate::train::step`]): a batch gathered from host
//! memory and copied to the device, forward, loss, backward and an Adam update. Inference is
//! `forward` without autodiff on a batch already on the device, read back to the host.
//!
//! The roofline: [`Flops`] counts each model's floating-point operations per sample from its
//! layers, so a throughput becomes GFLOP/s, and [`measure_peak`] measures what this machine's
//! matrix-product crate reaches at best, the ceiling those GFLOP/s are a fraction of.

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
use crate::train::{Loss, OptimizerConfig, lazy_sparse_updates, step};

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

/// Floating-point operations per sample (a multiply-add counts two), from the model's layers:
/// dense products and 3×3 convolutions. Bias additions, activations, pooling, the loss and the
/// optimizer's update are left out: they move memory rather than compute. By arithmetic, the
/// element-wise passes would add at most about 2 % (the CNNs), and Adam's update, about ten
/// operations per weight per step, 0.5 % (CNNs) to 9 % (the 11-weight linear model at batch 32)
/// of the training count at the benchmark's batch sizes.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Flops {
    /// One forward pass.
    pub inference: f64,
    /// Forward, the weight gradients (as many operations as the forward pass) and the input
    /// gradients of every layer but the first (nothing asks for the data's gradient).
    pub train: f64,
}

impl Flops {
    /// The count for `config`.
    pub fn of(config: &ModelConfig) -> Flops {
        // Multiply-adds of each layer, input side first.
        let layers: Vec<f64> = match config {
            ModelConfig::Linear(c) => vec![(c.n_inputs * c.n_outputs) as f64],
            ModelConfig::Logistic(c) => vec![(c.n_inputs * c.task().output_width()) as f64],
            ModelConfig::Mlp(c) => {
                let widths: Vec<usize> = std::iter::once(c.n_inputs)
                    .chain(c.hidden.iter().copied())
                    .chain([c.n_outputs])
                    .collect();
                widths.windows(2).map(|w| (w[0] * w[1]) as f64).collect()
            }
            ModelConfig::Cnn(c) => {
                let (mut channels, mut h, mut w) = (c.channels, c.height, c.width);
                let mut layers = Vec::new();
                for &outputs in &c.conv_channels {
                    layers.push((outputs * channels * 9 * h * w) as f64);
                    (channels, h, w) = (outputs, h / 2, w / 2);
                }
                layers.push((channels * h * w * c.hidden) as f64);
                layers.push((c.hidden * c.n_outputs) as f64);
                layers
            }
        };
        let forward: f64 = layers.iter().sum();
        let input_gradients: f64 = layers.iter().skip(1).sum();
        Flops {
            inference: 2.0 * forward,
            train: 2.0 * (2.0 * forward + input_gradients),
        }
    }
}

/// What the matrix-product crate flex uses (`gemm`) reaches on this machine: the measured peak
/// the roofline's fractions refer to.
#[derive(Clone, Debug, Serialize)]
pub struct Peak {
    /// The side of the square f32 product timed.
    pub size: usize,
    pub threads: usize,
    /// GFLOP/s per round: median, smallest and largest.
    pub gflops: Spread,
    /// What the CPU could do at most, from its vector width, its cores and its clock, where
    /// the system says enough to tell (see [`theoretical_peak`]).
    pub theoretical: Option<TheoreticalPeak>,
}

/// The CPU's peak by arithmetic: cores × clock × lanes × 2 (a fused multiply-add is two
/// operations) × FMA units per core.
#[derive(Clone, Debug, Serialize)]
pub struct TheoreticalPeak {
    pub gflops: f64,
    pub cores: usize,
    pub ghz: f64,
    /// f32 lanes of the widest vectors: 16 with AVX-512, 8 with AVX2.
    pub lanes: usize,
    /// Assumed, not read: two, as on every x86 server core with AVX2 or AVX-512 of the last
    /// decade (some AVX-512 parts have one 512-bit unit; then the true peak is half).
    pub fma_units: usize,
}

/// Times `rounds` rounds of square `size`×`size` f32 products with `gemm` on all of Rayon's
/// threads, each round at least `round_seconds` long.
#[cfg(feature = "flex")]
pub fn measure_peak(size: usize, settings: &BenchSettings) -> Result<Peak> {
    let a: Vec<f32> = (0..size * size).map(|i| (i % 7) as f32 * 0.25).collect();
    let b: Vec<f32> = (0..size * size).map(|i| (i % 5) as f32 * 0.5).collect();
    let mut c = vec![0.0f32; size * size];
    let mut product = || -> Result<usize> {
        // SAFETY: three distinct buffers of size² elements, row-major strides within them.
        unsafe {
            gemm::gemm(
                size,
                size,
                size,
                c.as_mut_ptr(),
                1,
                size as isize,
                false,
                a.as_ptr(),
                1,
                size as isize,
                b.as_ptr(),
                1,
                size as isize,
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::Rayon(0),
            );
        }
        Ok(1)
    };
    for _ in 0..settings.warmup_steps.max(1) {
        product()?;
    }
    let per_round = rounds(settings, &mut product)?;
    let operations = 2.0 * (size as f64).powi(3);
    let gflops: Vec<f64> = per_round.iter().map(|p| p * operations / 1e9).collect();
    Ok(Peak {
        size,
        threads: rayon::current_num_threads(),
        gflops: Spread::of(&gflops).ok_or_else(|| Error::Device("no peak timings".into()))?,
        theoretical: theoretical_peak(rayon::current_num_threads()),
    })
}

/// The theoretical peak of `cores` cores of this CPU: the clock from `/proc/cpuinfo` (Linux;
/// in a virtual machine, what the host reports; often the nominal clock, below what turbo
/// reaches, so measured products can pass this figure), the vector width from the CPU's
/// features.
pub fn theoretical_peak(cores: usize) -> Option<TheoreticalPeak> {
    let lanes = vector_lanes()?;
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let mhz: f64 = cpuinfo
        .lines()
        .find(|l| l.starts_with("cpu MHz"))?
        .split(':')
        .nth(1)?
        .trim()
        .parse()
        .ok()?;
    let ghz = mhz / 1000.0;
    let fma_units = 2;
    Some(TheoreticalPeak {
        gflops: cores as f64 * ghz * lanes as f64 * 2.0 * fma_units as f64,
        cores,
        ghz,
        lanes,
        fma_units,
    })
}

fn vector_lanes() -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return Some(16);
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return Some(8);
        }
    }
    None
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
    pub flops_per_sample: Flops,
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
    let adam = OptimizerConfig::adam();
    let lazy_sparse = lazy_sparse_updates(&adam, 0.0);
    let mut optimizer = adam.init().expect("a mini-batch optimizer");
    let mut train_step = || -> Result<usize> {
        let batch = train_data.batch(&train_indices, &trainable.device());
        let outcome;
        (trainable, outcome) = step(
            trainable.clone(),
            &mut optimizer,
            Loss {
                task: case.task,
                class_weights: None,
            },
            batch,
            bench.learning_rate,
            0.0,
            lazy_sparse,
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
        flops_per_sample: Flops::of(&case.config),
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
    fn flops_count_every_layer_once_forward_and_as_training_adds_them() {
        // MLP 784 → 256 → 128 → 10: 200,704 + 32,768 + 1,280 multiply-adds.
        let mlp = ModelConfig::Mlp(MlpConfig::new(784, vec![256, 128], 10));
        let flops = Flops::of(&mlp);
        assert_eq!(flops.inference, 2.0 * 234_752.0);
        assert_eq!(flops.train, 2.0 * (2.0 * 234_752.0 + 32_768.0 + 1_280.0));
        // CNN on MNIST: conv 1→16 at 28×28, conv 16→32 at 14×14, dense 1568 → 128 → 10.
        let cnn = ModelConfig::Cnn(SmallCnnConfig::new(1, 28, 28, 10));
        let forward = 112_896.0 + 903_168.0 + 200_704.0 + 1_280.0;
        assert_eq!(Flops::of(&cnn).inference, 2.0 * forward);
        let binary = ModelConfig::Logistic(LogisticRegressionConfig::new(20, 2));
        assert_eq!(
            Flops::of(&binary).inference,
            2.0 * 20.0 * Task::Binary.output_width() as f64
        );
    }

    #[test]
    fn case_names_are_unique() {
        let mut names: Vec<_> = cases().iter().map(|c| c.case.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), cases().len());
    }
}

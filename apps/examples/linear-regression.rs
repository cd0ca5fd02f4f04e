//! Linear regression by gradient descent: fits `y = Σ wᵢxᵢ + b` on synthetic data drawn with
//! known weights and prints the recovered weights next to the true ones.
//!
//! `cargo run --release --example linear-regression [-- --backend ndarray]`

use clap::Parser;
use rand::{Rng, SeedableRng};
use zoo_apps::cli::{RuntimeArgs, exit_code};
use zoo_models::data::TargetData;
use zoo_models::prelude::*;

#[derive(Parser, Debug)]
#[command(about = "Recover known linear weights by gradient descent")]
struct Args {
    #[command(flatten)]
    runtime: RuntimeArgs,
    /// Number of synthetic examples.
    #[arg(long, default_value_t = 1000)]
    samples: usize,
    /// Standard deviation of the Gaussian-like noise added to y.
    #[arg(long, default_value_t = 0.05)]
    noise: f32,
}

const TRUE_WEIGHTS: [f32; 3] = [2.0, -3.5, 0.5];
const TRUE_BIAS: f32 = 1.25;

/// Draws `x ~ U(-1, 1)³` and `y = w·x + b + noise`.
fn synthetic(samples: usize, noise: f32, seed: u64) -> Examples {
    let mut rng = rand_chacha::ChaCha12Rng::seed_from_u64(seed);
    let mut x = Vec::with_capacity(samples * TRUE_WEIGHTS.len());
    let mut y = Vec::with_capacity(samples);
    for _ in 0..samples {
        let row: Vec<f32> = TRUE_WEIGHTS
            .iter()
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        // Sum of two uniforms: a cheap bell-shaped noise with the requested spread.
        let e = (rng.random_range(-1.0f32..1.0) + rng.random_range(-1.0f32..1.0)) * noise * 1.2247;
        y.push(
            row.iter()
                .zip(TRUE_WEIGHTS)
                .map(|(x, w)| x * w)
                .sum::<f32>()
                + TRUE_BIAS
                + e,
        );
        x.extend(row);
    }
    let features = Features::new(x, TRUE_WEIGHTS.len()).expect("finite values");
    Examples::new(
        features,
        TargetData::Values {
            values: y,
            n_outputs: 1,
        },
    )
    .expect("matching counts")
}

/// Fits the model and returns the recovered `(weights, bias)`.
fn run(args: &Args) -> anyhow::Result<(Vec<f32>, f32)> {
    let device = args.runtime.device()?;
    let data = synthetic(args.samples, args.noise, args.runtime.seed);
    let task = Task::Regression { n_outputs: 1 };
    let config = ModelConfig::Linear(LinearRegressionConfig::new(TRUE_WEIGHTS.len()));
    device.seed(args.runtime.seed);
    let model = config.init(&device)?;
    let fit_config = FitConfig::new()
        .with_optimizer(OptimizerConfig::sgd(0.9))
        .with_learning_rate(0.02)
        .with_epochs(60)
        .with_batch_size(64)
        .with_seed(args.runtime.seed);
    let fitted = fit(model, task, &data, None, &fit_config)?;
    let Model::Linear(linear) = fitted.model else {
        unreachable!("built as linear")
    };
    let (weights, bias) = linear.coefficients();
    Ok((weights[0].clone(), bias[0]))
}

fn main() -> std::process::ExitCode {
    exit_code(|| run(&Args::parse()).map(print_table))
}

fn print_table((weights, bias): (Vec<f32>, f32)) {
    println!("{:<10} {:>10} {:>10}", "", "true", "recovered");
    for (i, (t, w)) in TRUE_WEIGHTS.iter().zip(&weights).enumerate() {
        println!("{:<10} {t:>10.4} {w:>10.4}", format!("w{}", i + 1));
    }
    println!("{:<10} {TRUE_BIAS:>10.4} {bias:>10.4}", "b");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_the_true_weights() {
        let args = Args::parse_from(["linear-regression", "--backend", "flex"]);
        let (weights, bias) = run(&args).unwrap();
        for (w, t) in weights.iter().zip(TRUE_WEIGHTS) {
            assert!((w - t).abs() < 1e-2, "weight {w} vs {t}");
        }
        assert!(
            (bias - TRUE_BIAS).abs() < 1e-2,
            "bias {bias} vs {TRUE_BIAS}"
        );
    }
}

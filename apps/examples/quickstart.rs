//! The Keras quick start, line for line, on the bundled breast-cancer data:
//!
//! ```python
//! model = Sequential([Dense(10, activation="relu"), Dense(1, activation="sigmoid")])
//! model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
//! model.fit(X_train, y_train, epochs=10, batch_size=32, validation_split=0.2)
//! loss, accuracy = model.evaluate(X_test, y_test)
//! print(f"Loss: {loss}, Accuracy: {accuracy}")
//! ```
//!
//! `cargo run --release --example quickstart [-- --backend wgpu]`

use std::path::PathBuf;

use clap::Parser;
use zoo_apps::cli::{RuntimeArgs, data_dir, exit_code};
use zoo_apps::sklearn::load_classification_csv;
use zoo_models::metrics::ClassificationReport;
use zoo_models::prelude::*;
use zoo_models::preprocess::Standardizer;

#[derive(Parser, Debug)]
#[command(about = "The Keras quick start in Rust: a 10-unit MLP on breast-cancer data")]
struct Args {
    #[command(flatten)]
    runtime: RuntimeArgs,
    /// The breast-cancer CSV in scikit-learn's layout.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Also save the trained model (`model.bpk`, `model.json`) and `history.json` here.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Trains and evaluates; returns the test loss and accuracy.
fn run(args: &Args) -> anyhow::Result<(f64, f64)> {
    let device = args.runtime.device()?;
    let seed = args.runtime.seed;
    let path = args
        .data
        .clone()
        .unwrap_or_else(|| data_dir().join("sklearn-breast-cancer/breast_cancer.csv"));

    // X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2)
    let data = load_classification_csv(&path)?;
    let (mut train, mut test) = data.examples.train_test_split(0.2, seed)?;
    // StandardScaler().fit(X_train): statistics from the training part only.
    let scaler = Standardizer::fit(&train.features);
    scaler.transform(&mut train.features);
    scaler.transform(&mut test.features);

    // model = Sequential([Dense(10, activation="relu"), Dense(1, activation="sigmoid")])
    let task = Task::Binary;
    let config = ModelConfig::Mlp(
        MlpConfig::new(train.features.n_features(), vec![10], task.output_width())
            .with_activation(ActivationKind::Relu),
    );
    device.seed(seed);
    let model = config.init(&device)?;
    println!("{}", config.summary());

    // model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    // model.fit(X_train, y_train, epochs=10, batch_size=32, validation_split=0.2)
    let fit_config = FitConfig::new()
        .with_optimizer(OptimizerConfig::adam())
        .with_learning_rate(1e-3)
        .with_epochs(10)
        .with_batch_size(32)
        // Keras' validation_split: the last 20 % of the (already shuffled) training part.
        .with_validation_split(0.2)
        .with_validation_holdout(Holdout::Last)
        .with_seed(seed);
    let fitted = fit(model, task, &train, None, &fit_config)?;

    // loss, accuracy = model.evaluate(X_test, y_test)
    let evaluation = evaluate(&fitted.model, task, &test, 32)?;
    let Metrics::Classification(ClassificationReport { accuracy, .. }) = evaluation.metrics else {
        unreachable!("a binary task yields classification metrics")
    };

    // model.save(...)
    if let Some(out) = &args.out {
        let mut manifest = ModelManifest::new(config, task);
        manifest.class_names = data.class_names;
        manifest.preprocessing = serde_json::json!({ "standardizer": scaler });
        manifest.trained_on = Some(args.runtime.backend);
        zoo_models::store::save(out, &fitted.model, &manifest)?;
        zoo_models::store::write_json_atomic(&out.join("history.json"), &fitted.history)?;
        eprintln!("saved the model and its history to {}", out.display());
    }
    Ok((evaluation.loss, accuracy))
}

fn main() -> std::process::ExitCode {
    exit_code(|| {
        run(&Args::parse()).map(|(loss, accuracy)| {
            // print(f"Loss: {loss}, Accuracy: {accuracy}")
            println!("Loss: {loss:.4}, Accuracy: {accuracy:.4}");
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quickstart_reaches_the_promised_accuracy() {
        let out = tempfile::tempdir().unwrap();
        let out_arg = out.path().to_str().unwrap();
        let args = Args::parse_from(["quickstart", "--backend", "flex", "--out", out_arg]);
        let (loss, accuracy) = run(&args).unwrap();
        // 120 Adam steps leave the result to the seed (test accuracy 0.886–0.956 over seeds
        // 1–7), and seed 42's 0.9561 is one test example above 0.95: rounding on another CPU
        // could cross that. What holds on every seed, with room to spare: well above the
        // majority class (63 % benign), and a training loss that fell.
        assert!(accuracy >= 0.85, "accuracy {accuracy}");
        assert!(loss < 0.4, "loss {loss}");

        let history: History =
            zoo_models::store::read_json(&out.path().join("history.json")).unwrap();
        assert_eq!(history.epochs_run(), 10);
        let (first, last) = (&history.epochs[0], &history.epochs[9]);
        assert!(
            last.loss < first.loss * 0.7,
            "{} -> {}",
            first.loss,
            last.loss
        );
        let device = BackendKind::default_for_build().device().unwrap();
        let (model, manifest) = zoo_models::store::load(out.path(), &device).unwrap();
        assert_eq!(manifest.class_names, ["malignant", "benign"]);
        let scaler: Standardizer =
            serde_json::from_value(manifest.preprocessing["standardizer"].clone()).unwrap();
        assert_eq!(scaler.mean.len(), 30);
        assert_eq!(model.n_inputs(), 30);
    }
}

use zoo_models::Error;
use zoo_models::data::{Examples, TargetData};
use zoo_models::linear::LinearRegressionConfig;
use zoo_models::logistic::LogisticRegressionConfig;
use zoo_models::metrics::ClassificationReport;
use zoo_models::mlp::MlpConfig;
use zoo_models::model::{Model, ModelConfig};
use zoo_models::prelude::*;
use zoo_tests::{cpu_backends, exclusive_rng, linear_data, separable_blobs};

fn quiet() -> FitConfig {
    FitConfig::new().with_progress(false)
}

fn init(config: &ModelConfig, device: &Device, seed: u64) -> Model {
    device.seed(seed);
    config.init(device).unwrap()
}

/// A binary logistic regression on 2-D points, fitted on the first CPU backend.
fn fit_binary_logistic(
    data: &Examples,
    validation: Option<&Examples>,
    fit_config: &FitConfig,
) -> zoo_models::Result<Fitted> {
    let config = ModelConfig::Logistic(LogisticRegressionConfig::new(2, 2));
    let device = cpu_backends()[0].1.clone();
    fit(
        init(&config, &device, 1),
        Task::Binary,
        data,
        validation,
        fit_config,
    )
}

fn accuracy(model: &Model, task: Task, data: &Examples) -> f64 {
    match evaluate(model, task, data, 64).unwrap().metrics {
        Metrics::Classification(ClassificationReport { accuracy, .. }) => accuracy,
        Metrics::Regression(_) => unreachable!(),
    }
}

#[test]
fn linear_regression_recovers_known_weights() {
    let _rng = exclusive_rng();
    let weights = [1.5, -2.0, 0.25, 3.0];
    let data = linear_data(512, &weights, -0.75, 1);
    let task = Task::Regression { n_outputs: 1 };
    let config = ModelConfig::Linear(LinearRegressionConfig::new(4));
    for (backend, device) in cpu_backends() {
        let fit_config = quiet()
            .with_optimizer(OptimizerConfig::sgd(0.9))
            .with_learning_rate(0.05)
            .with_epochs(40);
        let fitted = fit(init(&config, &device, 3), task, &data, None, &fit_config).unwrap();
        let Model::Linear(linear) = fitted.model else {
            unreachable!()
        };
        let (w, b) = linear.coefficients();
        for (found, expected) in w[0].iter().zip(weights) {
            assert!(
                (found - expected).abs() < 1e-2,
                "{backend}: weight {found} vs {expected}"
            );
        }
        assert!((b[0] + 0.75).abs() < 1e-2, "{backend}: bias {}", b[0]);
    }
}

#[test]
fn logistic_regression_separates_separable_data() {
    let _rng = exclusive_rng();
    for (backend, device) in cpu_backends() {
        for classes in [2, 4] {
            let data = separable_blobs(50, classes, 5);
            let config = ModelConfig::Logistic(LogisticRegressionConfig::new(2, classes));
            let task = Task::classification(classes);
            let fitted = fit(
                init(&config, &device, 1),
                task,
                &data,
                None,
                &quiet().with_epochs(30).with_learning_rate(0.05),
            )
            .unwrap();
            assert_eq!(
                accuracy(&fitted.model, task, &data),
                1.0,
                "{backend}, {classes} classes"
            );
        }
    }
}

#[test]
fn stops_when_the_training_loss_reaches_the_target() {
    let _rng = exclusive_rng();
    let data = separable_blobs(40, 2, 9);
    let fit_config = quiet()
        .with_epochs(500)
        .with_learning_rate(0.01)
        .with_target_loss(Some(0.01));
    let history = fit_binary_logistic(&data, None, &fit_config)
        .unwrap()
        .history;
    let losses: Vec<f64> = history.epochs.iter().map(|e| e.loss).collect();
    let last = *losses.last().unwrap();
    assert!(
        matches!(history.stop, StopReason::TargetLoss { target, loss } if target == 0.01 && loss == last)
    );
    assert!(
        last <= 0.01 && losses.len() > 1 && losses.len() < 500,
        "{losses:?}"
    );
    assert!(
        losses[..losses.len() - 1].iter().all(|&l| l > 0.01),
        "stopped late: {losses:?}"
    );
}

/// Validation labels are the training labels flipped, so the validation loss is lowest after
/// the first epoch and rises while the model learns the training set.
fn flipped_validation() -> (Examples, Examples) {
    let train = separable_blobs(40, 2, 11);
    let mut validation = train.clone();
    if let TargetData::Classes { labels, .. } = &mut validation.targets {
        labels.iter_mut().for_each(|l| *l = 1 - *l);
    }
    (train, validation)
}

#[test]
fn early_stopping_waits_for_patience_and_restores_the_best_weights() {
    let _rng = exclusive_rng();
    let (train, validation) = flipped_validation();
    let fit_config = quiet()
        .with_epochs(50)
        .with_learning_rate(0.05)
        .with_early_stopping(Some(EarlyStoppingConfig::new(3)));
    let fitted = fit_binary_logistic(&train, Some(&validation), &fit_config).unwrap();
    let history = &fitted.history;
    assert_eq!(history.monitor, "val_loss");
    let val: Vec<f64> = history
        .epochs
        .iter()
        .map(|e| e.val_loss().unwrap())
        .collect();
    assert_eq!(
        val.len(),
        4,
        "best epoch 1, then 3 epochs without improvement: {val:?}"
    );
    assert!(matches!(
        history.stop,
        StopReason::EarlyStopping {
            best_epoch: 1,
            patience: 3,
            ..
        }
    ));
    assert_eq!(history.best_epoch, 1);
    // The returned weights are epoch 1's, not epoch 4's.
    let restored = evaluate(&fitted.model, Task::Binary, &validation, 64)
        .unwrap()
        .loss;
    assert!(
        (restored - val[0]).abs() < 1e-5,
        "restored {restored} vs best {}",
        val[0]
    );
    assert!((restored - val[3]).abs() > 1e-3);
}

#[test]
fn early_stopping_honours_min_delta() {
    let _rng = exclusive_rng();
    // Plain training data where the loss keeps falling, but never by more than min_delta = 10.
    let data = separable_blobs(40, 2, 12);
    let fit_config = quiet().with_epochs(50).with_early_stopping(Some(
        EarlyStoppingConfig::new(2)
            .with_min_delta(10.0)
            .with_restore_best_weights(false),
    ));
    let history = fit_binary_logistic(&data, None, &fit_config)
        .unwrap()
        .history;
    assert_eq!(history.monitor, "loss");
    assert_eq!(history.epochs.len(), 3);
    let losses: Vec<f64> = history.epochs.iter().map(|e| e.loss).collect();
    assert!(losses[2] < losses[0], "the loss did fall: {losses:?}");
}

#[test]
fn validation_split_holds_out_the_last_fraction() {
    let _rng = exclusive_rng();
    let data = separable_blobs(30, 2, 13);
    let n_val = 15; // a quarter of 60
    let last: Vec<usize> = (data.len() - n_val..data.len()).collect();
    let first: Vec<usize> = (0..n_val).collect();
    let config = ModelConfig::Mlp(MlpConfig::new(2, vec![4], 1));
    let device = cpu_backends()[0].1.clone();
    let fit_config = quiet().with_epochs(3).with_validation_split(0.25);
    let fitted = fit(
        init(&config, &device, 5),
        Task::Binary,
        &data,
        None,
        &fit_config,
    )
    .unwrap();
    let reported = fitted.history.epochs.last().unwrap().val_loss().unwrap();
    let on_last = evaluate(&fitted.model, Task::Binary, &data.select(&last), 64)
        .unwrap()
        .loss;
    let on_first = evaluate(&fitted.model, Task::Binary, &data.select(&first), 64)
        .unwrap()
        .loss;
    assert!(
        (reported - on_last).abs() < 1e-6,
        "val_loss {reported} vs last quarter {on_last}"
    );
    assert!(
        (reported - on_first).abs() > 1e-4,
        "the first quarter must differ for this test to mean anything"
    );
}

#[test]
fn same_seed_same_run_on_cpu() {
    let _rng = exclusive_rng();
    let data = separable_blobs(30, 3, 14);
    let config = ModelConfig::Mlp(MlpConfig::new(2, vec![8], 3).with_dropout(0.2));
    let task = Task::Multiclass { n_classes: 3 };
    for (backend, device) in cpu_backends() {
        let run = |seed: u64| {
            let fit_config = quiet()
                .with_epochs(3)
                .with_batch_size(16)
                .with_seed(seed)
                .with_validation_split(0.2);
            let fitted = fit(init(&config, &device, seed), task, &data, None, &fit_config).unwrap();
            let losses: Vec<f64> = fitted.history.epochs.iter().map(|e| e.loss).collect();
            let predictions = predict(&fitted.model, task, &data.features, 64)
                .unwrap()
                .values;
            (losses, predictions)
        };
        let (a, b, c) = (run(7), run(7), run(8));
        assert_eq!(a, b, "{backend}: same seed, different run");
        assert_ne!(a.0, c.0, "{backend}: the seed changes nothing");
    }
}

#[test]
fn diverging_training_is_an_error_not_nan_weights() {
    let _rng = exclusive_rng();
    let data = linear_data(64, &[1000.0, -1000.0], 0.0, 15);
    let config = ModelConfig::Linear(LinearRegressionConfig::new(2));
    let device = cpu_backends()[0].1.clone();
    let fit_config = quiet()
        .with_optimizer(OptimizerConfig::sgd(0.0))
        .with_learning_rate(1e6)
        .with_epochs(20);
    let err = fit(
        init(&config, &device, 1),
        Task::Regression { n_outputs: 1 },
        &data,
        None,
        &fit_config,
    )
    .unwrap_err();
    assert!(matches!(err, Error::NonFiniteLoss { .. }), "{err}");
    assert!(err.to_string().contains("lower the learning rate"));
}

#[test]
fn bad_fit_configs_are_rejected_with_a_clear_message() {
    let _rng = exclusive_rng();
    let data = separable_blobs(10, 2, 16);
    let cases = [
        (
            quiet().with_validation_split(1.5),
            "validation split must be in [0, 1), got 1.5",
        ),
        (quiet().with_batch_size(0), "batch size must be at least 1"),
        (quiet().with_epochs(0), "epochs must be at least 1"),
        (
            quiet().with_learning_rate(-1.0),
            "learning rate must be a positive number",
        ),
        (
            quiet().with_optimizer(OptimizerConfig::sgd(1.5)),
            "momentum must be in [0, 1)",
        ),
    ];
    for (fit_config, expected) in cases {
        let err = fit_binary_logistic(&data, None, &fit_config)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(expected),
            "{err:?} should contain {expected:?}"
        );
    }
    let both = fit_binary_logistic(&data, Some(&data), &quiet().with_validation_split(0.2));
    assert!(both.unwrap_err().to_string().contains("not both"));
    let binary = ModelConfig::Logistic(LogisticRegressionConfig::new(2, 2));
    let wrong_task = fit(
        init(&binary, &cpu_backends()[0].1, 1),
        Task::Multiclass { n_classes: 3 },
        &data,
        None,
        &quiet(),
    );
    assert!(wrong_task.unwrap_err().to_string().contains("needs 3"));
}

#[test]
fn history_serialises_like_keras() {
    let _rng = exclusive_rng();
    let data = separable_blobs(20, 2, 17);
    let fitted = fit_binary_logistic(
        &data,
        None,
        &quiet().with_epochs(2).with_validation_split(0.5),
    )
    .unwrap();
    let json = serde_json::to_value(&fitted.history).unwrap();
    let epoch = &json["epochs"][1];
    for key in [
        "epoch",
        "loss",
        "accuracy",
        "val_loss",
        "val_accuracy",
        "val_macro_f1",
        "seconds",
        "samples_per_second",
    ] {
        assert!(
            epoch.get(key).is_some(),
            "history epoch lacks {key}: {epoch}"
        );
    }
    assert_eq!(json["stop"]["reason"], "epoch_budget");
    let back: History = serde_json::from_value(json).unwrap();
    assert_eq!(back, fitted.history);
}

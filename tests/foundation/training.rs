use rand::Rng;
use zoo_models::Error;
use zoo_models::data::{Examples, Features, Holdout, TargetData};
use zoo_models::linear::LinearRegressionConfig;
use zoo_models::logistic::LogisticRegressionConfig;
use zoo_models::metrics::ClassificationReport;
use zoo_models::mlp::MlpConfig;
use zoo_models::model::{Model, ModelConfig};
use zoo_models::prelude::*;
use zoo_tests::{cpu_backends, exclusive_rng, linear_data, rng, separable_blobs};

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
    let fit_config = quiet()
        .with_epochs(3)
        .with_validation_split(0.25)
        .with_validation_holdout(Holdout::Last);
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

/// Four separable classes of `n` points each, sorted by class as files often are.
fn sorted_blobs(n: usize, seed: u64) -> Examples {
    let data = separable_blobs(n, 4, seed);
    let TargetData::Classes { labels, .. } = &data.targets else {
        unreachable!()
    };
    let mut order: Vec<usize> = (0..data.len()).collect();
    order.sort_by_key(|&i| labels[i]);
    data.select(&order)
}

fn class_accuracy(model: &Model, data: &Examples, class: usize) -> f64 {
    let TargetData::Classes { labels, .. } = &data.targets else {
        unreachable!()
    };
    let of_class: Vec<usize> = (0..data.len()).filter(|&i| labels[i] == class).collect();
    accuracy(
        model,
        Task::Multiclass { n_classes: 4 },
        &data.select(&of_class),
    )
}

#[test]
fn the_default_validation_split_is_stratified_so_sorted_files_train_every_class() {
    let _rng = exclusive_rng();
    let data = sorted_blobs(15, 18);
    let task = Task::Multiclass { n_classes: 4 };
    let config = ModelConfig::Logistic(LogisticRegressionConfig::new(2, 4));
    let device = cpu_backends()[0].1.clone();
    let run = |holdout: Holdout| {
        let fit_config = quiet()
            .with_epochs(40)
            .with_learning_rate(0.05)
            .with_validation_split(0.25)
            .with_validation_holdout(holdout)
            .with_seed(3);
        fit(init(&config, &device, 5), task, &data, None, &fit_config).unwrap()
    };
    // Keras' last quarter is exactly the last class: training never sees it.
    let keras = run(Holdout::Last);
    assert!(class_accuracy(&keras.model, &data, 3) < 0.5);

    let stratified = run(Holdout::Stratified);
    assert!(accuracy(&stratified.model, task, &data) > 0.95);
    assert!(class_accuracy(&stratified.model, &data, 3) > 0.9);
    // The validation figures are those of the stratified held-out quarter.
    let (_, held_out) = data.split(0.25, Holdout::Stratified, 3).unwrap();
    assert_eq!(held_out.targets.classes_present(), [0, 1, 2, 3]);
    let reported = stratified
        .history
        .epochs
        .last()
        .unwrap()
        .val_loss()
        .unwrap();
    let on_held_out = evaluate(&stratified.model, task, &held_out, 64)
        .unwrap()
        .loss;
    assert!(
        (reported - on_held_out).abs() < 1e-6,
        "{reported} vs {on_held_out}"
    );
}

#[test]
fn a_validation_split_that_leaves_one_training_class_is_an_error() {
    let _rng = exclusive_rng();
    // 8 of class 0 then 8 of class 1: Keras' last half holds every class-1 example.
    let mut data = separable_blobs(8, 2, 19);
    let TargetData::Classes { labels, .. } = &mut data.targets else {
        unreachable!()
    };
    labels
        .iter_mut()
        .enumerate()
        .for_each(|(i, l)| *l = usize::from(i >= 8));
    let err = fit_binary_logistic(
        &data,
        None,
        &quiet()
            .with_validation_split(0.5)
            .with_validation_holdout(Holdout::Last),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("examples of 1 class(es) only"),
        "{err}"
    );
}

/// `y = 1.5·x0 − 2·x1 + x2 + 0.5 + noise` where x1 is x0 plus a little noise (collinear) and
/// every column is heavy-tailed (Pareto with α = 2.5, random sign).
fn ill_conditioned(n: usize, seed: u64) -> Examples {
    let mut rng = rng(seed);
    let mut heavy = move || {
        let u: f32 = rng.random_range(1e-6..1.0);
        let sign = if rng.random_bool(0.5) { 1.0 } else { -1.0 };
        (sign * u.powf(-1.0 / 2.5), rng.random_range(-1.0f32..1.0))
    };
    let (mut values, mut targets) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let ((x0, e0), (x2, e1)) = (heavy(), heavy());
        let x1 = x0 + 0.01 * e0;
        values.extend([x0, x1, x2]);
        targets.push(1.5 * x0 - 2.0 * x1 + x2 + 0.5 + e1);
    }
    Examples::new(
        Features::new(values, 3).unwrap(),
        TargetData::Values {
            values: targets,
            n_outputs: 1,
        },
    )
    .unwrap()
}

#[test]
fn lbfgs_reaches_the_least_squares_fit_and_stops_on_convergence() {
    let _rng = exclusive_rng();
    let data = ill_conditioned(5000, 20);
    let task = Task::Regression { n_outputs: 1 };
    let config = ModelConfig::Linear(LinearRegressionConfig::new(3));
    let (exact_w, exact_b) = zoo_models::linear::least_squares(
        &data.features,
        match &data.targets {
            TargetData::Values { values, .. } => values,
            TargetData::Classes { .. } => unreachable!(),
        },
    );
    for (backend, device) in cpu_backends() {
        let fit_config = quiet()
            .with_optimizer(OptimizerConfig::lbfgs())
            .with_learning_rate(1.0)
            .with_epochs(500)
            .with_convergence(Some(ConvergenceConfig::new().with_tol(1e-6)));
        let fitted = fit(init(&config, &device, 2), task, &data, None, &fit_config).unwrap();
        assert!(
            matches!(fitted.history.stop, StopReason::Converged { .. }),
            "{backend}: {:?} after {} epochs",
            fitted.history.stop,
            fitted.history.epochs_run()
        );
        assert!(
            fitted.history.epochs_run() < 100,
            "{backend}: {}",
            fitted.history.epochs_run()
        );
        let Model::Linear(linear) = fitted.model else {
            unreachable!()
        };
        let (w, b) = linear.coefficients();
        // The collinear pair is only determined up to its sum; the rest exactly.
        let (sum, exact_sum) = (w[0][0] + w[0][1], exact_w[0] + exact_w[1]);
        assert!(
            (sum as f64 - exact_sum).abs() < 2e-3,
            "{backend}: {w:?} vs {exact_w:?}"
        );
        assert!(
            (w[0][2] as f64 - exact_w[2]).abs() < 2e-3,
            "{backend}: {w:?} vs {exact_w:?}"
        );
        assert!(
            (b[0] as f64 - exact_b).abs() < 2e-3,
            "{backend}: {b:?} vs {exact_b}"
        );
    }
}

#[test]
fn an_l2_penalty_with_scikit_learns_c_sets_the_optimum() {
    let _rng = exclusive_rng();
    // Overlapping classes: without a penalty the optimum is finite too, but C moves it.
    let mut rng = rng(21);
    let (mut values, mut labels) = (Vec::new(), Vec::new());
    for i in 0..400 {
        let class = i % 2;
        let centre = if class == 0 { -0.5 } else { 0.5 };
        values.extend([
            centre + rng.random_range(-1.5f32..1.5),
            rng.random_range(-1.0f32..1.0),
        ]);
        labels.push(class);
    }
    let data = Examples::new(
        Features::new(values, 2).unwrap(),
        TargetData::Classes {
            labels: labels.clone(),
            n_classes: 2,
        },
    )
    .unwrap();
    let weights = |c: f64| {
        let fit_config = quiet()
            .with_optimizer(OptimizerConfig::lbfgs())
            .with_learning_rate(1.0)
            .with_epochs(300)
            .with_penalty_c(Some(c))
            .with_convergence(Some(ConvergenceConfig::new().with_tol(1e-7)));
        let fitted = fit_binary_logistic(&data, None, &fit_config).unwrap();
        let probabilities = predict(&fitted.model, Task::Binary, &data.features, 64).unwrap();
        let Model::Logistic(logistic) = fitted.model else {
            unreachable!()
        };
        (
            logistic
                .linear
                .weight
                .val()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap(),
            probabilities,
        )
    };
    for c in [0.01, 1.0] {
        // At the optimum of C·Σ loss + ½‖w‖², w = C·Σ (yᵢ − pᵢ)·xᵢ, and the unpenalised bias
        // makes Σ (yᵢ − pᵢ) vanish. A stop on the f32 loss leaves the weights within a few
        // parts in a thousand; a wrong scale of the penalty would be off by far more.
        let (w, probabilities) = weights(c);
        let mut expected = [0.0f64; 2];
        let mut residual_sum = 0.0f64;
        for (i, row) in data.features.rows().enumerate() {
            let residual = labels[i] as f64 - probabilities.row(i)[1] as f64;
            residual_sum += residual;
            expected[0] += c * residual * row[0] as f64;
            expected[1] += c * residual * row[1] as f64;
        }
        for k in 0..2 {
            assert!(
                (w[k] as f64 - expected[k]).abs() < 1e-2 * expected[k].abs().max(1.0),
                "C = {c}: w = {w:?}, stationarity says {expected:?}"
            );
        }
        assert!(
            residual_sum.abs() < 0.05,
            "C = {c}: bias not at its optimum: {residual_sum}"
        );
    }
    let norm = |w: Vec<f32>| w.iter().map(|v| v * v).sum::<f32>();
    assert!(norm(weights(0.01).0) < 0.5 * norm(weights(1.0).0));
}

#[test]
fn convergence_stops_adam_too_and_the_budget_says_when_it_did_not() {
    let _rng = exclusive_rng();
    let data = separable_blobs(30, 2, 22);
    let converging = quiet()
        .with_learning_rate(0.05)
        .with_epochs(500)
        .with_penalty_c(Some(0.1))
        .with_convergence(Some(ConvergenceConfig::new().with_tol(1e-3)));
    let fitted = fit_binary_logistic(&data, None, &converging).unwrap();
    assert!(
        matches!(
            fitted.history.stop,
            StopReason::Converged { patience: 3, .. }
        ),
        "{:?}",
        fitted.history.stop
    );
    assert!(fitted.history.epochs_run() < 500);
    let short = converging.with_epochs(2);
    let fitted = fit_binary_logistic(&data, None, &short).unwrap();
    assert_eq!(fitted.history.stop, StopReason::EpochBudget);
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
        (
            quiet().with_penalty_c(Some(0.0)),
            "C (the inverse L2 penalty) must be positive",
        ),
        (
            quiet().with_convergence(Some(ConvergenceConfig::new().with_tol(-1.0))),
            "convergence tolerance must be a non-negative number",
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
    let with_dropout = ModelConfig::Mlp(MlpConfig::new(2, vec![4], 1).with_dropout(0.2));
    let lbfgs = fit(
        init(&with_dropout, &cpu_backends()[0].1, 1),
        Task::Binary,
        &data,
        None,
        &quiet().with_optimizer(OptimizerConfig::lbfgs()),
    );
    assert!(
        lbfgs
            .unwrap_err()
            .to_string()
            .contains("L-BFGS needs the same loss")
    );
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

#[test]
fn cross_validation_scores_every_fold_on_rows_its_model_never_saw() {
    let _rng = exclusive_rng();
    let data = separable_blobs(40, 2, 31);
    let set: ExampleSet = data.clone().into();
    let config = ModelConfig::Logistic(LogisticRegressionConfig::new(2, 2));
    let device = cpu_backends()[0].1.clone();
    let fit_config = FitConfig::lbfgs_until_converged()
        .with_penalty_c(Some(1.0))
        .with_progress(false);
    let cv = cross_validate(&config, Task::Binary, &set, &fit_config, 5, &device).unwrap();
    assert_eq!((cv.metric, cv.folds.len()), ("accuracy", 5));
    let mut rows: Vec<usize> = cv.folds.iter().flat_map(|f| f.test_rows.clone()).collect();
    rows.sort_unstable();
    assert_eq!(
        rows,
        (0..set.len()).collect::<Vec<_>>(),
        "each row in one fold"
    );
    // A fold's score is its own model's accuracy on its rows: trained again here on the
    // other folds, the model scores the same.
    let fold = &cv.folds[2];
    let others: Vec<usize> = (0..set.len())
        .filter(|i| !fold.test_rows.contains(i))
        .collect();
    device.seed(fit_config.seed);
    let model = config.init(&device).unwrap();
    let fitted = fit(model, Task::Binary, &set.select(&others), None, &fit_config).unwrap();
    let held_out = data.select(&fold.test_rows);
    assert_eq!(accuracy(&fitted.model, Task::Binary, &held_out), fold.score);
    assert!(cv.mean() > 0.8, "{:?}", cv.folds);
    let scores: Vec<f64> = cv.folds.iter().map(|f| f.score).collect();
    let mean = scores.iter().sum::<f64>() / 5.0;
    assert!((cv.mean() - mean).abs() < 1e-12);
    assert!(cv.std() <= scores.iter().map(|s| (s - mean).abs()).fold(0.0, f64::max));
    // Too many folds, or one, are errors.
    for k in [1, set.len() + 1] {
        let err = cross_validate(&config, Task::Binary, &set, &fit_config, k, &device).unwrap_err();
        assert!(err.to_string().contains("folds"), "{err}");
    }
}

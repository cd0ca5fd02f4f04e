//! Training from example sets whose inputs are produced per batch: sparse rows train the same
//! model as the same rows dense, full-batch L-BFGS sums its chunks into the whole-set objective,
//! and a source that fails mid-training is an error naming what failed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rand::Rng;
use zoo_models::data::{DataError, Features, Inputs, TargetData};
use zoo_models::dataset::{DatasetRows, ExampleSet, FeatureSource};
use zoo_models::logistic::LogisticRegressionConfig;
use zoo_models::mlp::MlpConfig;
use zoo_models::model::{Model, ModelConfig};
use zoo_models::prelude::*;
use zoo_models::sparse::SparseFeatures;
use zoo_models::train::full_batch_chunk;
use zoo_tests::{cpu_backends, exclusive_rng, rng};

/// `n` bag-of-words-like rows over `width` columns, about 5 stored values each, and 3 classes
/// that depend on which columns are present: once sparse, once dense.
fn sparse_texts(n: usize, width: usize, seed: u64) -> (ExampleSet, Examples) {
    let mut rng = rng(seed);
    let mut sparse = SparseFeatures::new(width).unwrap();
    let mut dense = vec![0.0; n * width];
    let mut labels = Vec::new();
    for i in 0..n {
        let class = i % 3;
        let mut columns: Vec<u32> = (0..5)
            .map(|_| {
                // A third of the columns lean to each class.
                let band = width / 3;
                if rng.random_bool(0.7) {
                    (class * band + rng.random_range(0..band)) as u32
                } else {
                    rng.random_range(0..width) as u32
                }
            })
            .collect();
        columns.sort_unstable();
        columns.dedup();
        let entries: Vec<(u32, f32)> = columns
            .iter()
            .map(|&c| (c, rng.random_range(0.1..1.0)))
            .collect();
        entries
            .iter()
            .for_each(|&(c, v)| dense[i * width + c as usize] = v);
        sparse.push_row(entries).unwrap();
        labels.push(class);
    }
    let targets = TargetData::Classes {
        labels,
        n_classes: 3,
    };
    let dense = Examples::new(Features::new(dense, width).unwrap(), targets.clone()).unwrap();
    (ExampleSet::new(Arc::new(sparse), targets).unwrap(), dense)
}

fn weights(model: &Model) -> Vec<f32> {
    let linear = match model {
        Model::Logistic(m) => &m.linear,
        Model::Mlp(m) => &m.hidden[0],
        _ => unreachable!("the models trained here"),
    };
    linear.weight.val().into_data().try_to_vec::<f32>().unwrap()
}

fn largest_difference(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn sparse_rows_train_the_model_dense_rows_train() {
    let _rng = exclusive_rng();
    // More rows than one full-batch chunk, so L-BFGS sums two chunks per evaluation.
    let width = 8192;
    let (sparse, dense) = sparse_texts(full_batch_chunk(width) + 300, width, 3);
    let logistic = ModelConfig::Logistic(LogisticRegressionConfig::new(width, 3));
    let mlp = ModelConfig::Mlp(MlpConfig::new(width, vec![8], 3));
    let task = Task::Multiclass { n_classes: 3 };
    for (kind, device) in cpu_backends() {
        for (config, fit_config) in [
            (
                &logistic,
                FitConfig::lbfgs_until_converged()
                    .with_epochs(15)
                    .with_penalty_c(Some(10.0)),
            ),
            (
                &mlp,
                // With an L2 penalty the weight's gradient is more than the sparse rows', and
                // Adam steps densely from sparse rows too (without one, its steps on flex are
                // lazy: rows no text of the batch has keep still, where dense Adam moves them
                // by their momentum; `train::adam`'s tests).
                FitConfig::new()
                    .with_epochs(3)
                    .with_batch_size(64)
                    .with_learning_rate(1e-2)
                    .with_penalty_c(Some(1e4)),
            ),
        ] {
            let fit_config = fit_config.with_progress(false).with_validation_split(0.1);
            let train = |data: &ExampleSet| {
                device.seed(4);
                let model = config.init(&device).unwrap();
                fit(model, task, data, None, &fit_config).unwrap()
            };
            let from_sparse = train(&sparse);
            let from_dense = train(&dense.clone().into());
            let difference =
                largest_difference(&weights(&from_sparse.model), &weights(&from_dense.model));
            assert!(
                difference < 1e-3,
                "{kind} {}: weights differ by {difference}",
                config.name()
            );
            let loss = |f: &Fitted| f.history.epochs.last().unwrap().loss;
            assert!((loss(&from_sparse) - loss(&from_dense)).abs() < 1e-4);
            let accuracy = match evaluate(&from_sparse.model, task, &sparse, 64)
                .unwrap()
                .metrics
            {
                Metrics::Classification(report) => report.accuracy,
                Metrics::Regression(_) => unreachable!(),
            };
            assert!(
                accuracy > 0.8,
                "{kind} {}: accuracy {accuracy}",
                config.name()
            );
        }
    }
}

#[test]
fn a_burn_dataset_of_rows_trains_as_the_same_rows_in_memory() {
    let _rng = exclusive_rng();
    let (_, dense) = sparse_texts(300, 20, 7);
    let rows: Vec<Vec<f32>> = dense.features.rows().map(<[f32]>::to_vec).collect();
    let dataset = burn::data::dataset::InMemDataset::new(rows);
    let from_dataset = ExampleSet::new(
        Arc::new(DatasetRows::new(dataset, 20)),
        dense.targets.clone(),
    )
    .unwrap();
    let config = ModelConfig::Mlp(MlpConfig::new(20, vec![8], 3));
    let task = Task::Multiclass { n_classes: 3 };
    let device = cpu_backends()[0].1.clone();
    let fit_config = FitConfig::new()
        .with_epochs(2)
        .with_batch_size(32)
        .with_progress(false);
    let train = |data: &ExampleSet| {
        device.seed(2);
        let model = config.init(&device).unwrap();
        fit(model, task, data, None, &fit_config).unwrap()
    };
    let (a, b) = (train(&from_dataset), train(&dense.clone().into()));
    assert_eq!(
        weights(&a.model),
        weights(&b.model),
        "the same batches, the same steps"
    );

    // An item of another width is an error naming it, not a panic.
    let mut rows: Vec<Vec<f32>> = dense.features.rows().map(<[f32]>::to_vec).collect();
    rows[40].pop();
    let ragged = ExampleSet::new(
        Arc::new(DatasetRows::new(
            burn::data::dataset::InMemDataset::new(rows),
            20,
        )),
        dense.targets.clone(),
    )
    .unwrap();
    device.seed(2);
    let err = fit(
        config.init(&device).unwrap(),
        task,
        &ragged,
        None,
        &fit_config,
    )
    .unwrap_err();
    assert!(err.to_string().contains("row 40 has 19 features"), "{err}");
}

/// Rows from another source, failing from the `fail_after`-th batch on.
struct Failing {
    rows: Features,
    batches: AtomicUsize,
    fail_after: usize,
}

impl FeatureSource for Failing {
    fn len(&self) -> usize {
        self.rows.len()
    }

    fn n_features(&self) -> usize {
        self.rows.n_features()
    }

    fn inputs(&self, indices: &[usize], device: &Device) -> Result<Inputs, DataError> {
        if self.batches.fetch_add(1, Ordering::SeqCst) >= self.fail_after {
            return Err(DataError::Source(format!(
                "images/cat/{}.png: not a readable image",
                indices[0]
            )));
        }
        self.rows.inputs(indices, device)
    }
}

#[test]
fn a_source_that_fails_mid_training_is_an_error_naming_it() {
    let _rng = exclusive_rng();
    let (_, dense) = sparse_texts(200, 12, 5);
    let device = cpu_backends()[0].1.clone();
    let config = ModelConfig::Logistic(LogisticRegressionConfig::new(12, 3));
    let task = Task::Multiclass { n_classes: 3 };
    for fit_config in [
        FitConfig::new().with_batch_size(16),
        FitConfig::lbfgs_until_converged(),
    ] {
        let failing = Failing {
            rows: dense.features.clone(),
            batches: AtomicUsize::new(0),
            fail_after: 5,
        };
        let data = ExampleSet::new(Arc::new(failing), dense.targets.clone()).unwrap();
        device.seed(1);
        let model = config.init(&device).unwrap();
        let err = fit(model, task, &data, None, &fit_config.with_progress(false)).unwrap_err();
        assert!(err.to_string().contains("not a readable image"), "{err}");
    }
}

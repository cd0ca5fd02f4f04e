//! Checkpoints: a run resumed from one ends exactly where the uninterrupted run ends (from a
//! kill at any point, its first checkpoint's write included), and a checkpoint refuses another
//! run's model, data or settings.

use zoo_models::conformance::parameters as weights;
use zoo_models::data::Examples;
use zoo_models::mlp::MlpConfig;
use zoo_models::model::{Model, ModelConfig};
use zoo_models::prelude::*;
use zoo_models::train::EpochRecord;
use zoo_models::train::checkpointer as checkpoint;
use zoo_tests::{cpu_backends, exclusive_rng, separable_blobs};

/// The history without its timings, which no two runs share.
fn figures(epochs: &[EpochRecord]) -> Vec<String> {
    // Debug prints each f64 so that it parses back to the same bits.
    epochs
        .iter()
        .map(|r| format!("{:?}", (r.epoch, r.loss, r.accuracy, &r.validation)))
        .collect()
}

fn mlp_run(dir: &std::path::Path, epochs: usize) -> FitConfig {
    FitConfig::new()
        .with_progress(false)
        .with_epochs(epochs)
        .with_batch_size(16)
        .with_validation_split(0.2)
        .with_checkpoints(Some(dir.to_path_buf()))
}

fn mlp(device: &Device) -> Model {
    device.seed(7);
    let config = MlpConfig::new(2, vec![16], 4).with_dropout(0.3);
    ModelConfig::Mlp(config).init(device).unwrap()
}

#[test]
fn an_interval_writes_the_first_and_last_epochs_and_the_run_still_resumes_exactly() {
    let _rng = exclusive_rng();
    let data = separable_blobs(60, 4, 5);
    let task = Task::Multiclass { n_classes: 4 };
    let device = cpu_backends()[0].1.clone();
    let hourly = |dir: &std::path::Path, epochs| {
        mlp_run(dir, epochs)
            .with_validation_split(0.0)
            .with_checkpoint_interval(Some(3600.0))
    };
    let dir = tempfile::tempdir().unwrap();
    let straight = fit(mlp(&device), task, &data, None, &hourly(dir.path(), 5)).unwrap();
    let written: Vec<usize> = checkpoint::list(dir.path())
        .unwrap()
        .iter()
        .map(|c| c.state.epochs_done)
        .collect();
    // Epochs 2 to 4 came within the hour after epoch 1's.
    assert_eq!(written, [1, 5]);

    // Killed after three epochs, only epoch 1 was saved: the resumed run goes on from there
    // and ends as the uninterrupted one.
    let dir = tempfile::tempdir().unwrap();
    fit(mlp(&device), task, &data, None, &hourly(dir.path(), 3)).unwrap();
    let kept = checkpoint::list(dir.path()).unwrap();
    std::fs::remove_dir_all(&kept.last().unwrap().dir).unwrap();
    assert_eq!(checkpoint::latest(dir.path()).unwrap().state.epochs_done, 1);
    let config = hourly(dir.path(), 5).with_resume(true);
    let resumed = fit(mlp(&device), task, &data, None, &config).unwrap();
    assert_eq!(weights(&resumed.model), weights(&straight.model));
    assert_eq!(
        figures(&resumed.history.epochs),
        figures(&straight.history.epochs)
    );
}

#[test]
fn a_resumed_mlp_with_dropout_ends_bit_for_bit_as_the_uninterrupted_run() {
    let _rng = exclusive_rng();
    let data = separable_blobs(60, 4, 5);
    let task = Task::Multiclass { n_classes: 4 };
    for (backend, device) in cpu_backends() {
        let straight_dir = tempfile::tempdir().unwrap();
        let straight = fit(
            mlp(&device),
            task,
            &data,
            None,
            &mlp_run(straight_dir.path(), 5),
        )
        .unwrap();

        // Stopped after two epochs (what a kill during the third leaves), then resumed.
        let dir = tempfile::tempdir().unwrap();
        fit(mlp(&device), task, &data, None, &mlp_run(dir.path(), 2)).unwrap();
        let config = mlp_run(dir.path(), 5).with_resume(true);
        // Another initialisation: the checkpoint's weights must replace it.
        device.seed(99);
        let fresh = ModelConfig::Mlp(MlpConfig::new(2, vec![16], 4).with_dropout(0.3))
            .init(&device)
            .unwrap();
        let resumed = fit(fresh, task, &data, None, &config).unwrap();

        assert_eq!(
            weights(&resumed.model),
            weights(&straight.model),
            "{backend:?}"
        );
        assert_eq!(
            figures(&resumed.history.epochs),
            figures(&straight.history.epochs),
            "{backend:?}"
        );
        assert_eq!(resumed.history.best_epoch, straight.history.best_epoch);
        // The last two checkpoints and the best epoch's are kept.
        let kept = checkpoint::list(dir.path()).unwrap();
        assert!((2..=3).contains(&kept.len()), "{} kept", kept.len());
        assert_eq!(kept.last().unwrap().state.epochs_done, 5);
    }
}

#[test]
fn resumed_lbfgs_iterations_continue_exactly() {
    let _rng = exclusive_rng();
    let data = separable_blobs(50, 3, 8);
    let task = Task::Multiclass { n_classes: 3 };
    let model_config = ModelConfig::Logistic(LogisticRegressionConfig::new(2, 3));
    let (_, device) = cpu_backends().remove(0);
    let run = |dir: &std::path::Path, epochs| {
        FitConfig::lbfgs_until_converged()
            .with_progress(false)
            .with_epochs(epochs)
            .with_convergence(None)
            .with_penalty_c(Some(1.0))
            .with_checkpoints(Some(dir.to_path_buf()))
    };
    let straight_dir = tempfile::tempdir().unwrap();
    device.seed(1);
    let straight = fit(
        model_config.init(&device).unwrap(),
        task,
        &data,
        None,
        &run(straight_dir.path(), 8),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    device.seed(1);
    fit(
        model_config.init(&device).unwrap(),
        task,
        &data,
        None,
        &run(dir.path(), 3),
    )
    .unwrap();
    let resumed = fit(
        model_config.init(&device).unwrap(),
        task,
        &data,
        None,
        &run(dir.path(), 8).with_resume(true),
    )
    .unwrap();
    assert_eq!(weights(&resumed.model), weights(&straight.model));
    assert_eq!(
        figures(&resumed.history.epochs),
        figures(&straight.history.epochs)
    );
}

fn resume_error(model: Model, data: &Examples, config: &FitConfig) -> String {
    let task = Task::Multiclass { n_classes: 4 };
    match fit(model, task, data, None, &config.clone().with_resume(true)) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("resumed a run that differs from the checkpoint's"),
    }
}

#[test]
fn resuming_another_run_says_what_differs() {
    let _rng = exclusive_rng();
    let data = separable_blobs(30, 4, 5);
    let task = Task::Multiclass { n_classes: 4 };
    let (_, device) = cpu_backends().remove(0);
    let dir = tempfile::tempdir().unwrap();
    fit(mlp(&device), task, &data, None, &mlp_run(dir.path(), 2)).unwrap();

    let other_batch = mlp_run(dir.path(), 4).with_batch_size(8);
    let error = resume_error(mlp(&device), &data, &other_batch);
    assert!(error.contains("batch_size is 8 here but 16"), "{error}");

    let other_data = separable_blobs(30, 4, 6);
    let error = resume_error(mlp(&device), &other_data, &mlp_run(dir.path(), 4));
    assert!(error.contains("differ from the checkpoint"), "{error}");

    let wider = ModelConfig::Mlp(MlpConfig::new(2, vec![32], 4))
        .init(&device)
        .unwrap();
    let error = resume_error(wider, &data, &mlp_run(dir.path(), 4));
    assert!(error.contains("the checkpoint's model is a mlp"), "{error}");

    let fewer_epochs = resume_error(mlp(&device), &data, &mlp_run(dir.path(), 1));
    assert!(fewer_epochs.contains("2 epochs done"), "{fewer_epochs}");
}

/// What a kill leaves while a checkpoint is being written (`checkpointer::write`): its
/// temporary folder with the model's file complete, the optimizer's cut short and no
/// `state.json`, which is written last before the folder is renamed into place.
fn half_written_checkpoint(dir: &std::path::Path, copied_from: &std::path::Path) {
    let writing = dir.join(".writing-killed");
    std::fs::create_dir_all(&writing).unwrap();
    std::fs::copy(copied_from.join("model.bpk"), writing.join("model.bpk")).unwrap();
    let optimizer = std::fs::read(copied_from.join("optimizer.bpk")).unwrap();
    std::fs::write(
        writing.join("optimizer.bpk"),
        &optimizer[..optimizer.len() / 2],
    )
    .unwrap();
}

#[test]
fn a_run_killed_before_or_while_writing_a_checkpoint_resumes_exactly() {
    let _rng = exclusive_rng();
    let data = separable_blobs(60, 4, 5);
    let task = Task::Multiclass { n_classes: 4 };
    let device = cpu_backends()[0].1.clone();
    let straight_dir = tempfile::tempdir().unwrap();
    let straight = fit(
        mlp(&device),
        task,
        &data,
        None,
        &mlp_run(straight_dir.path(), 3),
    )
    .unwrap();
    let resume = |dir: &std::path::Path| {
        let resumed = fit(
            mlp(&device),
            task,
            &data,
            None,
            &mlp_run(dir, 3).with_resume(true),
        )
        .unwrap();
        assert_eq!(weights(&resumed.model), weights(&straight.model));
        assert_eq!(
            figures(&resumed.history.epochs),
            figures(&straight.history.epochs)
        );
        let leftovers: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    };

    // Killed while writing the third epoch's checkpoint: the run goes on from the second's.
    let dir = tempfile::tempdir().unwrap();
    fit(mlp(&device), task, &data, None, &mlp_run(dir.path(), 2)).unwrap();
    let second = checkpoint::latest(dir.path()).unwrap().dir;
    half_written_checkpoint(dir.path(), &second);
    assert_eq!(checkpoint::latest(dir.path()).unwrap().dir, second);
    resume(dir.path());

    // Killed before its first checkpoint, or while writing it: there is nothing to go on
    // from, and the run starts over from the same initial weights.
    let before = tempfile::tempdir().unwrap();
    resume(before.path());
    let during = tempfile::tempdir().unwrap();
    half_written_checkpoint(during.path(), &second);
    let error = checkpoint::latest(during.path()).err().unwrap().to_string();
    assert!(error.contains("no complete checkpoint"), "{error}");
    resume(during.path());
}

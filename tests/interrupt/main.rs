//! `request_stop` (what the apps call on Ctrl-C) stops `fit` inside an epoch, and
//! `Interrupter::stop_at_epoch_end` (an elastic run's SIGUSR1) at the end of it, with a
//! checkpoint from which the run goes on exactly. A test binary of its own, with one test: the
//! stop request is process-wide, and would stop other tests' training too.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use zoo_models::Error;
use zoo_models::conformance::parameters as weights;
use zoo_models::data::{DataError, Inputs};
use zoo_models::mlp::MlpConfig;
use zoo_models::model::{Model, ModelConfig};
use zoo_models::prelude::*;
use zoo_models::train::checkpointer as checkpoint;
use zoo_models::train::{Interrupter, request_stop};
use zoo_tests::{cpu_backends, separable_blobs};

/// The blobs' rows; makes the stop request `request` when the `stop_at`-th batch is gathered.
struct StoppingRows {
    rows: Examples,
    batches: std::sync::atomic::AtomicUsize,
    stop_at: Option<usize>,
    request: fn(),
    stopped: Arc<AtomicBool>,
}

impl FeatureSource for StoppingRows {
    fn len(&self) -> usize {
        self.rows.len()
    }

    fn n_features(&self) -> usize {
        self.rows.features.n_features()
    }

    fn inputs(&self, indices: &[usize], device: &Device) -> Result<Inputs, DataError> {
        let batch = self.batches.fetch_add(1, Ordering::SeqCst) + 1;
        if Some(batch) == self.stop_at && !self.stopped.swap(true, Ordering::SeqCst) {
            (self.request)();
        }
        let width = self.n_features();
        let values = indices
            .iter()
            .flat_map(|&i| self.rows.features.row(i).to_vec())
            .collect();
        Ok(Inputs::dense(values, width, device))
    }
}

fn examples(stop_at: Option<usize>, request: fn()) -> ExampleSet {
    let rows = separable_blobs(50, 4, 3);
    let targets = rows.targets.clone();
    let source = StoppingRows {
        rows,
        batches: Default::default(),
        stop_at,
        request,
        stopped: Arc::new(AtomicBool::new(false)),
    };
    ExampleSet::new(Arc::new(source), targets).unwrap()
}

fn model(device: &Device) -> Model {
    device.seed(4);
    let config = MlpConfig::new(2, vec![12], 4).with_dropout(0.25);
    ModelConfig::Mlp(config).init(device).unwrap()
}

#[test]
fn a_stop_inside_an_epoch_or_at_its_end_checkpoints_and_the_resumed_run_ends_exactly() {
    let task = Task::Multiclass { n_classes: 4 };
    let (_, device) = cpu_backends().remove(0);
    let config = |dir: &std::path::Path| {
        FitConfig::new()
            .with_progress(false)
            .with_epochs(3)
            .with_batch_size(10)
            .with_checkpoints(Some(dir.to_path_buf()))
    };
    let straight_dir = tempfile::tempdir().unwrap();
    let straight = fit(
        model(&device),
        task,
        &examples(None, request_stop),
        None,
        &config(straight_dir.path()),
    )
    .unwrap();

    // 20 batches an epoch: the 27th gathered is in the second epoch.
    let dir = tempfile::tempdir().unwrap();
    let stopped = fit(
        model(&device),
        task,
        &examples(Some(27), request_stop),
        None,
        &config(dir.path()),
    );
    let Err(Error::Interrupted {
        checkpoint: Some(folder),
    }) = stopped
    else {
        panic!("training did not stop: {stopped:?}");
    };
    let latest = checkpoint::latest(dir.path()).unwrap();
    assert_eq!(latest.dir, folder);
    assert_eq!(latest.state.epochs_done, 1);
    let partial = latest.state.partial.expect("stopped inside epoch 2");
    assert!(
        (1..20).contains(&partial.batches),
        "{} batches",
        partial.batches
    );

    let losses = |h: &History| {
        h.epochs
            .iter()
            .map(|r| (r.loss, r.accuracy))
            .collect::<Vec<_>>()
    };
    let resume = |dir: &std::path::Path| {
        let resumed = fit(
            model(&device),
            task,
            &examples(None, request_stop),
            None,
            &config(dir).with_resume(true),
        )
        .unwrap();
        assert_eq!(weights(&resumed.model), weights(&straight.model));
        assert_eq!(losses(&resumed.history), losses(&straight.history));
    };
    resume(dir.path());

    // Asked in the second epoch to stop at its end: a checkpoint of two whole epochs.
    let dir = tempfile::tempdir().unwrap();
    let stopped = fit(
        model(&device),
        task,
        &examples(Some(27), || Interrupter::process().stop_at_epoch_end()),
        None,
        &config(dir.path()),
    );
    assert!(
        matches!(
            stopped,
            Err(Error::Interrupted {
                checkpoint: Some(_)
            })
        ),
        "training did not stop: {stopped:?}"
    );
    let latest = checkpoint::latest(dir.path()).unwrap();
    assert_eq!(latest.state.epochs_done, 2);
    assert!(latest.state.partial.is_none());
    resume(dir.path());
}

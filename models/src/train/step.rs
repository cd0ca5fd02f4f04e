//! One optimisation step on a batch: on one device, or split across several devices
//! (data-parallel), the gradients summed on the model's device before one update.

use burn::optim::{GradientsAccumulator, GradientsParams, ModuleOptimizer};
use burn::prelude::*;

use super::config::OptimizerConfig;
use crate::batch::Batch;
use crate::model::Model;
use crate::task::{BatchTargets, Task};

pub(crate) fn add<const D: usize, K: burn::tensor::kind::Numeric>(
    sum: Option<Tensor<D, K>>,
    term: Tensor<D, K>,
) -> Tensor<D, K> {
    match sum {
        Some(sum) => sum + term,
        None => term,
    }
}

/// The L2 penalty per unit of `Σ w² / 2` that `C` means for `n_train` examples.
pub(crate) fn l2_penalty(penalty_c: Option<f64>, n_train: usize) -> f64 {
    penalty_c.map_or(0.0, |c| 1.0 / (c * n_train as f64))
}

/// The loss training minimises: the task's, each example weighted by its class when there are
/// class weights (`FitConfig::class_weights`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Loss<'a> {
    pub task: Task,
    pub class_weights: Option<&'a [f32]>,
}

/// The loss on `outputs`, plus the L2 penalty on `model`'s weights when there is one.
pub(crate) fn objective(
    model: &Model,
    loss: Loss,
    outputs: Tensor<2>,
    targets: &BatchTargets,
    l2_penalty: f64,
) -> Tensor<1> {
    let loss = loss
        .task
        .weighted_loss(outputs, targets, loss.class_weights);
    if l2_penalty > 0.0 {
        loss + model.squared_weight_norm() * (l2_penalty / 2.0)
    } else {
        loss
    }
}

/// What one training step computed, detached from the autodiff graph.
pub(crate) struct StepOutcome {
    /// The batch's mean loss before the update.
    pub loss: Tensor<1>,
    /// The model's outputs on the batch before the update.
    pub outputs: Tensor<2>,
}

/// Whether steps of `optimizer` with this penalty update sparse layers lazily (on flex,
/// `kernels::row_sparse_updates`): Adam, when nothing but the sparse rows adds to the weight's
/// gradient (no L2 penalty; one device, which [`step`] is).
pub(crate) fn lazy_sparse_updates(optimizer: &OptimizerConfig, l2_penalty: f64) -> bool {
    matches!(optimizer, OptimizerConfig::Adam { .. }) && l2_penalty == 0.0
}

/// One optimisation step of `model` (on an autodiff device) on `batch`: forward, loss,
/// backward, update; with `lazy_sparse` (see [`lazy_sparse_updates`]) a sparse layer's weight
/// takes lazy Adam's step. `fit` and the benchmark share it, so the benchmark times what users
/// run.
pub(crate) fn step(
    model: Model,
    optimizer: &mut ModuleOptimizer,
    loss: Loss,
    batch: Batch,
    learning_rate: f64,
    l2_penalty: f64,
    lazy_sparse: bool,
) -> (Model, StepOutcome) {
    let outputs = model.forward(batch.inputs);
    let loss = objective(&model, loss, outputs.clone(), &batch.targets, l2_penalty);
    let outcome = StepOutcome {
        loss: loss.clone().detach(),
        outputs: outputs.detach(),
    };
    let update = || {
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        optimizer.step(learning_rate, model, grads)
    };
    #[cfg(feature = "flex")]
    let model = if lazy_sparse {
        crate::kernels::row_sparse_updates(update)
    } else {
        update()
    };
    #[cfg(not(feature = "flex"))]
    let model = {
        let _ = lazy_sparse;
        update()
    };
    (model, outcome)
}

/// How many of `outputs`' rows `task` classifies as `targets` says; `None` for regression.
pub(crate) fn correct_count(
    task: Task,
    outputs: Tensor<2>,
    targets: &BatchTargets,
) -> Option<Tensor<1, Int>> {
    match (task.predicted_classes(outputs), targets) {
        (Some(predicted), BatchTargets::Classes(targets)) => {
            Some(predicted.equal(targets.clone()).int().sum())
        }
        _ => None,
    }
}

/// One data-parallel optimisation step: shard `k` of a batch runs on `model`'s device (`k` = 0)
/// or on `replicas[k - 1]`, each on its own thread with its own autodiff graph. A shard's loss
/// is weighted by its share of the batch (the penalty counts once, on the first), so the
/// gradients gathered on `model`'s device sum to the gradient of the whole batch's mean loss,
/// as one device computes it; one optimizer step then updates `model`. Returns the batch's
/// mean loss and correct count on `model`'s device.
pub(crate) fn data_parallel_step(
    model: Model,
    replicas: &[Device],
    optimizer: &mut ModuleOptimizer,
    loss: Loss,
    shards: Vec<Batch>,
    learning_rate: f64,
    l2_penalty: f64,
) -> (Model, Tensor<1>, Option<Tensor<1, Int>>) {
    let device = model.device();
    let n = shards.iter().map(|b| b.inputs.n_rows()).sum::<usize>() as f64;
    let results: Vec<_> = std::thread::scope(|scope| {
        let workers: Vec<_> = shards
            .into_iter()
            .enumerate()
            .map(|(k, shard)| {
                let replica = match k {
                    0 => model.clone(),
                    _ => model.clone().fork(&replicas[k - 1]),
                };
                scope.spawn(move || {
                    let share = shard.inputs.n_rows() as f64 / n;
                    let penalty = if k == 0 { l2_penalty / share } else { 0.0 };
                    let outputs = replica.forward(shard.inputs);
                    let shard_loss =
                        objective(&replica, loss, outputs.clone(), &shard.targets, penalty) * share;
                    let correct = correct_count(loss.task, outputs.detach(), &shard.targets);
                    let grads = GradientsParams::from_grads(shard_loss.backward(), &replica);
                    (shard_loss.detach(), correct, grads)
                })
            })
            .collect();
        workers
            .into_iter()
            // A worker's panic (a remote device lost) goes on as this thread's.
            .map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|p| std::panic::resume_unwind(p))
            })
            .collect()
    });
    let mut gradients = GradientsAccumulator::<Model>::new();
    let mut loss = None;
    let mut correct = None;
    for (shard_loss, shard_correct, grads) in results {
        gradients.accumulate(&model, grads.to_device(&device, &model));
        loss = Some(add(loss, shard_loss.to_device(&device)));
        if let Some(c) = shard_correct {
            correct = Some(add(correct, c.to_device(&device)));
        }
    }
    let model = optimizer.step(learning_rate, model, gradients.grads());
    (model, loss.expect("a batch has a shard"), correct)
}

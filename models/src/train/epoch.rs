//! One epoch of training: mini-batches from Burn's data loader for Adam and SGD (on one device
//! or split across several), or one L-BFGS iteration on the whole training set, its loss and
//! gradients summed over chunks.

use std::path::Path;
use std::time::Instant;

use burn::data::dataloader::DataLoaderBuilder;
use burn::module::{ModuleVisitor, Param};
use burn::optim::{
    AdamConfig, GradientsAccumulator, GradientsParams, LBFGS, LBFGSConfig, LineSearchFn,
    ModuleOptimizer, OptimizerRecord,
};
use burn::prelude::*;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha12Rng;

use super::checkpointer::{self, PartialEpoch};
use super::config::{FitConfig, OptimizerConfig};
use super::progress::Progress;
use super::step::{
    Loss, add, correct_count, data_parallel_step, l2_penalty, lazy_sparse_updates, objective, step,
};
use super::stopping::Interrupter;
use crate::batch::{Batch, DataError};
use crate::config::ConfigError;
use crate::dataset::{ExampleBatcher, ExampleSet, OrderDataset};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::task::Task;

/// A seed for one stream of random numbers of a run: `seed` mixed with the stream's position
/// (an epoch's shuffle, a batch's dropout masks) by SplitMix64. Seeding each from its position
/// rather than drawing them all from one generator is what lets a resumed run go on exactly:
/// nothing but the position needs saving.
fn stream_seed(seed: u64, position: &[u64]) -> u64 {
    let mix = |mut z: u64| {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    position.iter().fold(mix(seed), |state, &part| {
        mix(state ^ part.wrapping_add(0x9e37_79b9_7f4a_7c15))
    })
}

/// The order in which an epoch visits the training examples: shuffled by a seed of its own,
/// with ChaCha12 by name (portable, as the splits' generator).
fn epoch_order(n_train: usize, config: &FitConfig, epoch: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n_train).collect();
    if config.shuffle {
        let seed = stream_seed(config.seed, &[SHUFFLE_STREAM, epoch as u64]);
        order.shuffle(&mut ChaCha12Rng::seed_from_u64(seed));
    }
    order
}

/// Stream names for [`stream_seed`].
const SHUFFLE_STREAM: u64 = 1;
const DROPOUT_STREAM: u64 = 2;

/// Full-batch training goes through the examples in chunks of at least this many rows, and of
/// more when rows are narrow (see [`full_batch_chunk`]), so its memory is bounded by a chunk,
/// not by the training set (a sparse layer's intermediate is stored values × outputs).
pub const FULL_BATCH_CHUNK_ROWS: usize = 2048;
/// A chunk of dense rows holds up to this many values (64 MiB of `f32`).
const FULL_BATCH_CHUNK_VALUES: usize = 1 << 24;
/// Training sets that take up to this much on the device (1 GiB) stay there between L-BFGS
/// evaluations, as their chunks' batches; larger ones, and sources whose size is not known
/// ([`crate::dataset::FeatureSource::device_bytes`]), are batched again at every evaluation.
const FULL_BATCH_CACHE_BYTES: usize = 1 << 30;

/// What L-BFGS may spend remembering steps (64 MiB): each step is two vectors of the model's
/// size, and Burn's L-BFGS goes through all of them at every iteration. A TF-IDF logistic
/// regression of 100,000 terms × 50 classes would take 4 GB for 100 steps (1.4 GB, and half its
/// training time in vector arithmetic, after 40 iterations); on 37,000 terms 18 steps took 3.4 s
/// where 10 took 2.5 s, in the same 33 iterations. Such models remember 10 steps, SciPy's
/// default, which scikit-learn's solver runs, and the least kept; MNIST's logistic regression
/// keeps 100 (with 10 it needed 208 iterations rather than 109).
pub const LBFGS_HISTORY_BYTES: usize = 64 << 20;

/// The steps L-BFGS remembers for a model of `n_params` parameters: `wanted`, or as many as
/// [`LBFGS_HISTORY_BYTES`] holds, but at least 10.
fn lbfgs_history(wanted: usize, n_params: usize) -> usize {
    let affordable = LBFGS_HISTORY_BYTES / (2 * size_of::<f32>() * n_params.max(1));
    wanted.min(affordable.max(10))
}

/// Rows per chunk of full-batch training for rows of `n_features` values.
pub fn full_batch_chunk(n_features: usize) -> usize {
    (FULL_BATCH_CHUNK_VALUES / n_features.max(1)).max(FULL_BATCH_CHUNK_ROWS)
}

/// What every epoch of a run shares.
pub(crate) struct Run<'a> {
    pub task: Task,
    pub config: &'a FitConfig,
    /// Stops a mini-batch epoch after the batch during which a stop was asked for.
    pub interrupter: &'a Interrupter,
}

impl Run<'_> {
    /// The loss the run minimises.
    fn loss(&self) -> Loss<'_> {
        Loss {
            task: self.task,
            class_weights: self.config.class_weights.as_deref(),
        }
    }
}

/// How an epoch updates the model.
// One per `fit`: the size of its variants does not matter.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Trainer {
    MiniBatch(MiniBatch),
    FullBatch(FullBatch),
}

/// Mini-batches from Burn's data loader, each split into one shard per device.
pub(crate) struct MiniBatch {
    optimizer: ModuleOptimizer,
    batcher: ExampleBatcher,
    n_train: usize,
    l2_penalty: f64,
    /// Sparse layers take lazy Adam steps ([`lazy_sparse_updates`]).
    lazy_sparse: bool,
}

/// One L-BFGS iteration per epoch on the whole training set.
pub(crate) struct FullBatch {
    optimizer: LBFGS,
    chunks: FullBatchChunks,
    l2_penalty: f64,
    /// The objective at the weights the last iteration ended on. Burn's L-BFGS evaluates the
    /// objective where each iteration starts, where its line search has just evaluated it: a
    /// pass over the whole training set that this saves (one of two in most iterations).
    at_weights: Option<Evaluation>,
    /// Passes over the training set so far, each the objective and its gradients.
    passes: usize,
}

/// How an epoch ended.
pub(crate) enum EpochEnd {
    /// All of it ran: its mean training loss (penalty included), for classification its
    /// training accuracy, and for full-batch training the largest component of the gradient
    /// at the weights it ended on.
    Complete {
        loss: f64,
        accuracy: Option<f64>,
        gradient_max: Option<f64>,
    },
    /// The interrupter stopped it after this part.
    Stopped(PartialEpoch),
}

impl Trainer {
    /// The trainer of `config`'s optimizer; mini-batches are split across `model`'s device and
    /// `replicas` (autodiff devices).
    pub fn new(
        train: ExampleSet,
        model: &Model,
        replicas: Vec<Device>,
        config: &FitConfig,
    ) -> Result<Trainer> {
        let n_train = train.len();
        let l2_penalty = l2_penalty(config.penalty_c, n_train);
        match (config.optimizer.init(), &config.optimizer) {
            (Some(optimizer), _) => Ok(Trainer::MiniBatch(MiniBatch {
                optimizer,
                batcher: ExampleBatcher {
                    set: train,
                    replicas,
                },
                n_train,
                l2_penalty,
                lazy_sparse: lazy_sparse_updates(&config.optimizer, l2_penalty),
            })),
            (None, OptimizerConfig::Lbfgs { .. }) if !replicas.is_empty() => Err(ConfigError(
                "data-parallel training splits mini-batches across the devices; L-BFGS takes \
                 full-batch steps on one device: train with Adam or SGD, or on one device"
                    .into(),
            )
            .into()),
            (None, OptimizerConfig::Lbfgs { history_size }) => {
                let optimizer = LBFGSConfig::new()
                    .with_max_iter(1)
                    .with_history_size(lbfgs_history(*history_size, model.num_params()))
                    // One function evaluation starts the iteration; the line search may take up
                    // to 25 more, as in PyTorch.
                    .with_max_eval(Some(26))
                    .with_line_search_fn(LineSearchFn::StrongWolfe)
                    .init();
                Ok(Trainer::FullBatch(FullBatch {
                    optimizer,
                    chunks: FullBatchChunks::new(train, &model.device())?,
                    l2_penalty,
                    at_weights: None,
                    passes: 0,
                }))
            }
            (None, _) => unreachable!("only L-BFGS steps without a module optimizer"),
        }
    }

    /// The optimizer's state, as Burn records it.
    pub fn optimizer_record(&self) -> OptimizerRecord {
        match self {
            Trainer::MiniBatch(trainer) => trainer.optimizer.to_record(),
            Trainer::FullBatch(trainer) => trainer.optimizer.to_record(),
        }
    }

    /// Takes the optimizer's state from a checkpoint's record file.
    pub fn load_optimizer(&mut self, path: &Path, device: &Device) -> Result<()> {
        match self {
            Trainer::MiniBatch(MiniBatch { optimizer, .. }) => {
                let empty = AdamConfig::new().init();
                let current = std::mem::replace(optimizer, empty);
                *optimizer = checkpointer::load_optimizer_record(path, device, |record| {
                    current.load_record(record)
                })?;
            }
            Trainer::FullBatch(FullBatch { optimizer, .. }) => {
                let current = optimizer.clone();
                *optimizer = checkpointer::load_optimizer_record(path, device, |record| {
                    current.load_record(record)
                })?;
            }
        }
        Ok(())
    }

    /// Trains `model` for epoch `epoch`, going on from `partial` when an earlier run stopped
    /// inside it.
    pub fn epoch(
        &mut self,
        model: Model,
        run: &Run,
        epoch: usize,
        partial: Option<PartialEpoch>,
        progress: &mut Progress,
    ) -> Result<(Model, EpochEnd)> {
        match self {
            Trainer::MiniBatch(trainer) => trainer.epoch(model, run, epoch, partial, progress),
            Trainer::FullBatch(trainer) => trainer.epoch(model, run, progress),
        }
    }
}

/// An epoch's running sums, kept on the device (reading them waits for it).
struct EpochSums {
    /// Each batch's mean loss times its size.
    loss_sum: Option<Tensor<1>>,
    /// Examples classified right (classification only).
    correct: Option<Tensor<1, Int>>,
    /// Examples trained on.
    seen: usize,
}

impl EpochSums {
    /// The sums of `partial`, the part of the epoch an earlier run trained, or none.
    fn resume(partial: Option<&PartialEpoch>, device: &Device) -> Self {
        EpochSums {
            loss_sum: partial.map(|p| Tensor::from_floats([p.loss_sum], device)),
            correct: partial
                .and_then(|p| p.correct)
                .map(|c| Tensor::from_ints([c], device)),
            seen: partial.map_or(0, |p| p.seen),
        }
    }

    fn add(&mut self, loss: Tensor<1>, correct: Option<Tensor<1, Int>>, batch_len: usize) {
        self.loss_sum = Some(add(self.loss_sum.take(), loss * batch_len as f32));
        if let Some(correct) = correct {
            self.correct = Some(add(self.correct.take(), correct));
        }
        self.seen += batch_len;
    }

    /// The mean loss so far, for the progress bar.
    fn running_loss(&self) -> f64 {
        self.loss_sum
            .clone()
            .map_or(0.0, |s| s.into_scalar::<f32>() as f64)
            / self.seen as f64
    }

    /// What a checkpoint records of an epoch stopped after `batches` batches.
    fn into_partial(self, batches: usize, seconds: f64) -> PartialEpoch {
        PartialEpoch {
            batches,
            seen: self.seen,
            loss_sum: self.loss_sum.map_or(0.0, |s| s.into_scalar::<f32>()),
            correct: self.correct.map(|c| c.into_scalar::<i64>()),
            seconds,
        }
    }

    /// The epoch's figures over its `n_train` examples.
    fn complete(self, n_train: usize) -> EpochEnd {
        let n = n_train as f64;
        let loss = self
            .loss_sum
            .map_or(f64::NAN, |s| s.into_scalar::<f32>() as f64)
            / n;
        let accuracy = self.correct.map(|c| c.into_scalar::<i64>() as f64 / n);
        EpochEnd::Complete {
            loss,
            accuracy,
            gradient_max: None,
        }
    }
}

impl MiniBatch {
    fn epoch(
        &mut self,
        mut model: Model,
        run: &Run,
        epoch: usize,
        partial: Option<PartialEpoch>,
        progress: &mut Progress,
    ) -> Result<(Model, EpochEnd)> {
        let start = Instant::now();
        let batch_size = run.config.batch_size;
        let device = model.device();
        let n_batches = self.n_train.div_ceil(batch_size);
        let order = epoch_order(self.n_train, run.config, epoch);
        let done = partial.as_ref().map_or(0, |p| p.batches);
        let rest = order[(done * batch_size).min(order.len())..].to_vec();
        // One worker gathers the next batch while the model trains on this one; a single
        // worker keeps the batch order, and so the run, deterministic.
        let loader = DataLoaderBuilder::new(self.batcher.clone())
            .batch_size(batch_size)
            .set_device(device.clone())
            .num_workers(1)
            .build(OrderDataset(rest));
        let mut sums = EpochSums::resume(partial.as_ref(), &device);
        let earlier_seconds = partial.as_ref().map_or(0.0, |p| p.seconds);
        for (index, shards) in (done..).zip(loader.iter()) {
            let shards = shards.map_err(|e| Error::Device(format!("data loader: {e}")))??;
            let batch_len = shards.iter().map(|b| b.inputs.n_rows()).sum::<usize>();
            let (loss, correct);
            (model, loss, correct) = self.batch_step(model, run, shards, epoch, index);
            sums.add(loss, correct, batch_len);
            let running = progress
                .wants_loss(index, n_batches)
                .then(|| sums.running_loss());
            progress.advance(sums.seen, running);
            if run.interrupter.stop_requested() && index + 1 < n_batches {
                let seconds = earlier_seconds + start.elapsed().as_secs_f64();
                return Ok((
                    model,
                    EpochEnd::Stopped(sums.into_partial(index + 1, seconds)),
                ));
            }
        }
        Ok((model, sums.complete(self.n_train)))
    }

    /// One optimisation step on batch `index` of `epoch`, as one shard per device: returns the
    /// batch's mean loss and, for classification, its correct count.
    fn batch_step(
        &mut self,
        model: Model,
        run: &Run,
        mut shards: Vec<Batch>,
        epoch: usize,
        index: usize,
    ) -> (Model, Tensor<1>, Option<Tensor<1, Int>>) {
        let (seed, learning_rate) = (run.config.seed, run.config.learning_rate);
        // Dropout masks come from a seed of the batch's own (and the shard's).
        let (epoch, index) = (epoch as u64, index as u64);
        model
            .device()
            .seed(stream_seed(seed, &[DROPOUT_STREAM, epoch, index]));
        for (shard, replica) in (1..).zip(&self.batcher.replicas) {
            replica.seed(stream_seed(seed, &[DROPOUT_STREAM, epoch, index, shard]));
        }
        if shards.len() > 1 {
            return data_parallel_step(
                model,
                &self.batcher.replicas,
                &mut self.optimizer,
                run.loss(),
                shards,
                learning_rate,
                self.l2_penalty,
            );
        }
        let batch = shards.remove(0);
        let targets = batch.targets.clone();
        let (model, outcome) = step(
            model,
            &mut self.optimizer,
            run.loss(),
            batch,
            learning_rate,
            self.l2_penalty,
            self.lazy_sparse,
        );
        let correct = correct_count(run.task, outcome.outputs, &targets);
        (model, outcome.loss, correct)
    }
}

impl FullBatch {
    fn epoch(
        &mut self,
        model: Model,
        run: &Run,
        progress: &mut Progress,
    ) -> Result<(Model, EpochEnd)> {
        let (loss, chunks, l2_penalty) = (run.loss(), &self.chunks, self.l2_penalty);
        let passes = &mut self.passes;
        let mut evaluate = |at: &Model| {
            *passes += 1;
            full_batch_objective(at, loss, chunks, l2_penalty)
        };
        let mut known = self.at_weights.take();
        // The evaluation of lowest loss so far: where the line search ends, in all but
        // unusual iterations (checked below, bit for bit).
        let mut lowest: Option<Evaluation> = None;
        // L-BFGS calls the objective with no way to fail: the first error ends the iteration
        // (a NaN loss with zero gradients, on which L-BFGS stops) and is returned after it.
        let mut failure = None;
        let objective_and_gradients = |candidate: Model| {
            let evaluation = match known.take().filter(|e| e.is_at(&candidate)) {
                Some(known) => known,
                None => match evaluate(&candidate) {
                    Ok(evaluation) => evaluation,
                    Err(e) => {
                        failure.get_or_insert(e);
                        return (f64::NAN, zero_gradients(&candidate));
                    }
                },
            };
            let answer = (evaluation.loss, evaluation.gradients(&candidate));
            if lowest.as_ref().is_none_or(|l| evaluation.loss < l.loss) {
                lowest = Some(evaluation);
            }
            answer
        };
        let (model, _) =
            self.optimizer
                .step(run.config.learning_rate, model, objective_and_gradients);
        if let Some(e) = failure {
            return Err(e.into());
        }
        let at_weights = match lowest.filter(|e| e.is_at(&model)) {
            Some(evaluation) => evaluation,
            None => evaluate(&model)?,
        };
        let (loss, correct) = (at_weights.loss, at_weights.correct);
        let gradient_max = at_weights.gradient_max(&model);
        self.at_weights = Some(at_weights);
        let n_rows = chunks.n_rows();
        progress.advance(n_rows, Some(loss));
        let accuracy = correct.map(|c| c as f64 / n_rows as f64);
        let end = EpochEnd::Complete {
            loss,
            accuracy,
            gradient_max: Some(gradient_max),
        };
        Ok((model, end))
    }
}

/// The full-batch objective at some weights: its value and gradients, and the training
/// examples those weights classify right.
struct Evaluation {
    /// The weights, each parameter flattened (views of the model's tensors, not copies).
    weights: Vec<Tensor<1>>,
    loss: f64,
    gradients: GradientsParams,
    /// Classification only.
    correct: Option<i64>,
}

impl Evaluation {
    /// Whether `model`'s weights are these, bit for bit.
    fn is_at(&self, model: &Model) -> bool {
        let weights = flat_weights(model);
        weights.len() == self.weights.len()
            && weights.iter().zip(&self.weights).all(|(a, b)| {
                a.dims() == b.dims() && a.clone().equal(b.clone()).all().into_scalar::<bool>()
            })
    }

    /// The largest magnitude of any component of the gradient of `model`'s parameters.
    fn gradient_max(&self, model: &Model) -> f64 {
        struct Largest<'a> {
            gradients: &'a GradientsParams,
            largest: f64,
        }
        impl ModuleVisitor for Largest<'_> {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                if let Some(gradient) = self.gradients.get::<D>(param.id) {
                    let largest = gradient.abs().max().into_scalar::<f64>();
                    self.largest = self.largest.max(largest);
                }
            }
        }
        let mut largest = Largest {
            gradients: &self.gradients,
            largest: 0.0,
        };
        model.visit(&mut largest);
        largest.largest
    }

    /// The gradients, for `model`'s parameters (the tensors are shared, not copied).
    fn gradients(&self, model: &Model) -> GradientsParams {
        struct Share<'a> {
            from: &'a GradientsParams,
            to: GradientsParams,
        }
        impl ModuleVisitor for Share<'_> {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                if let Some(gradient) = self.from.get::<D>(param.id) {
                    self.to.register(param.id, gradient);
                }
            }
        }
        let mut share = Share {
            from: &self.gradients,
            to: GradientsParams::new(),
        };
        model.visit(&mut share);
        share.to
    }
}

/// `model`'s parameters, each flattened, without autodiff.
fn flat_weights(model: &Model) -> Vec<Tensor<1>> {
    struct Flatten(Vec<Tensor<1>>);
    impl ModuleVisitor for Flatten {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let weight = param.val().inner();
            let n = weight.shape().num_elements();
            self.0.push(weight.reshape([n]));
        }
    }
    let mut flatten = Flatten(Vec::new());
    model.visit(&mut flatten);
    flatten.0
}

/// The training set of full-batch training, in chunks: held on the device, or batched anew at
/// every pass.
enum FullBatchChunks {
    OnDevice(Vec<Batch>),
    PerPass { train: ExampleSet, rows: usize },
}

impl FullBatchChunks {
    fn new(train: ExampleSet, device: &Device) -> Result<Self, DataError> {
        let fits = train
            .device_bytes()
            .is_some_and(|bytes| bytes <= FULL_BATCH_CACHE_BYTES);
        let rows = full_batch_chunk(train.n_features());
        let chunks = FullBatchChunks::PerPass { train, rows };
        if !fits {
            return Ok(chunks);
        }
        let batches = chunks.batches(device).collect::<Result<_, _>>()?;
        Ok(FullBatchChunks::OnDevice(batches))
    }

    fn n_rows(&self) -> usize {
        match self {
            FullBatchChunks::OnDevice(batches) => batches.iter().map(|b| b.inputs.n_rows()).sum(),
            FullBatchChunks::PerPass { train, .. } => train.len(),
        }
    }

    /// The chunks' batches, in order, on `device` (when they are made anew).
    fn batches<'a>(
        &'a self,
        device: &'a Device,
    ) -> Box<dyn Iterator<Item = Result<Batch, DataError>> + 'a> {
        match self {
            FullBatchChunks::OnDevice(batches) => Box::new(batches.iter().cloned().map(Ok)),
            FullBatchChunks::PerPass { train, rows } => {
                let n = train.len();
                Box::new((0..n).step_by(*rows).map(move |start| {
                    let indices: Vec<usize> = (start..(start + rows).min(n)).collect();
                    train.batch(&indices, device)
                }))
            }
        }
    }
}

/// The full-batch objective of `model` on `chunks` (the mean loss plus the penalty), its
/// gradients, accumulated chunk by chunk, and the examples `model` classifies right.
fn full_batch_objective(
    model: &Model,
    loss: Loss,
    chunks: &FullBatchChunks,
    l2_penalty: f64,
) -> Result<Evaluation, DataError> {
    let device = model.device();
    let n = chunks.n_rows() as f64;
    let mut total = 0.0;
    let mut correct = None;
    let mut accumulator = GradientsAccumulator::<Model>::new();
    for (i, batch) in chunks.batches(&device).enumerate() {
        let batch = batch?;
        // Each chunk's mean loss weighs by its share of the examples; the penalty counts once
        // (scaled up here by as much as the share scales it down).
        let share = batch.inputs.n_rows() as f64 / n;
        let penalty = if i == 0 { l2_penalty / share } else { 0.0 };
        let outputs = model.forward(batch.inputs);
        if let Some(right) = correct_count(loss.task, outputs.clone().detach(), &batch.targets) {
            correct = Some(add(correct, right));
        }
        let chunk_loss = objective(model, loss, outputs, &batch.targets, penalty) * share;
        total += chunk_loss.clone().into_scalar::<f64>();
        accumulator.accumulate(
            model,
            GradientsParams::from_grads(chunk_loss.backward(), model),
        );
    }
    Ok(Evaluation {
        weights: flat_weights(model),
        loss: total,
        gradients: accumulator.grads(),
        correct: correct.map(|c| c.into_scalar::<i64>()),
    })
}

/// A gradient of zero for every parameter of `model`.
fn zero_gradients(model: &Model) -> GradientsParams {
    struct SumOfAll(Option<Tensor<1>>);
    impl ModuleVisitor for SumOfAll {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0 = Some(add(self.0.take(), param.val().sum()));
        }
    }
    let mut sum = SumOfAll(None);
    model.visit(&mut sum);
    let sum = sum.0.expect("every zoo model has parameters");
    GradientsParams::from_grads((sum * 0.0).backward(), model)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::BackendKind;
    use crate::data::{Examples, Features, TargetData};
    use crate::logistic::LogisticRegressionConfig;
    use crate::model::ModelConfig;

    /// Three overlapping classes of 4-D points: a logistic regression's objective, which
    /// L-BFGS takes many iterations over.
    fn blobs() -> ExampleSet {
        let (mut rows, mut labels) = (Vec::new(), Vec::new());
        for i in 0..300 {
            let class = i % 3;
            let wobble = |k: usize| ((i * 7 + k * 13) as f32).sin();
            rows.push((0..4).map(|k| class as f32 * 0.5 + wobble(k)).collect());
            labels.push(class);
        }
        let features = Features::from_rows(&rows).unwrap();
        let targets = TargetData::Classes {
            labels,
            n_classes: 3,
        };
        Examples::new(features, targets).unwrap().into()
    }

    #[test]
    fn an_lbfgs_iteration_starts_from_the_line_search_evaluation_it_ended_on() {
        let device = BackendKind::default_for_build().device().unwrap();
        device.seed(4);
        let model = ModelConfig::Logistic(LogisticRegressionConfig::new(4, 3))
            .init(&device)
            .unwrap()
            .train();
        let config = FitConfig::lbfgs_until_converged().with_progress(false);
        let interrupter = Interrupter::process();
        let run = Run {
            task: Task::Multiclass { n_classes: 3 },
            config: &config,
            interrupter: &interrupter,
        };
        let mut trainer = Trainer::new(blobs(), &model, Vec::new(), &config).unwrap();
        let mut progress = Progress::new(false, 10);
        let mut model = model;
        let mut losses = Vec::new();
        for epoch in 1..=10 {
            let end;
            (model, end) = trainer
                .epoch(model, &run, epoch, None, &mut progress)
                .unwrap();
            let EpochEnd::Complete { loss, accuracy, .. } = end else {
                unreachable!("nothing stops the epoch")
            };
            assert!(accuracy.is_some_and(|a| a > 0.3), "{accuracy:?}");
            losses.push(loss);
        }
        assert!(losses.windows(2).all(|w| w[1] < w[0]), "{losses:?}");
        let Trainer::FullBatch(full_batch) = &trainer else {
            unreachable!("L-BFGS trains full batches")
        };
        // Burn's L-BFGS asks for the objective where each iteration starts and at least once
        // in its line search: 20 passes and more, were the starts evaluated again (and the
        // training accuracy would take another forward pass per iteration).
        assert!(
            full_batch.passes < 15,
            "{} passes over the training set in 10 iterations",
            full_batch.passes
        );
    }

    #[test]
    fn lbfgs_remembers_fewer_steps_of_large_models() {
        assert_eq!(lbfgs_history(100, 7_850), 100);
        assert_eq!(lbfgs_history(100, 500_000), 16);
        assert_eq!(lbfgs_history(100, 1_844_950), 10);
        assert_eq!(lbfgs_history(100, 100_000_000), 10);
        assert_eq!(lbfgs_history(5, 100_000_000), 5);
    }
}

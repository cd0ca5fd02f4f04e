//! Cross-backend conformance: the same weights and batches give the same outputs, gradients,
//! training steps and predictions on every backend, within stated tolerances. The tests and
//! the `zoo-check` command both run these checks.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;
use serde::Serialize;

use crate::cnn::SmallCnnConfig;
use crate::data::{Examples, Features, TargetData};
use crate::dataset::{ExampleSet, ToExampleSet};
use crate::error::{Error, Result};
use crate::inference::{Metrics, evaluate, predict};
use crate::linear::LinearRegressionConfig;
use crate::logistic::LogisticRegressionConfig;
use crate::mlp::{ActivationKind, MlpConfig};
use crate::model::{Model, ModelConfig};
use crate::sparse::SparseFeatures;
use crate::task::Task;
use crate::train::OptimizerConfig;

/// Largest accepted absolute difference of outputs and losses for the same weights and inputs.
/// Backends sum in different orders (blocked matrix products, GPU reductions), which moves f32
/// results by a few ulps of the partial sums: about 1e-6 relative for these sizes. Outputs of
/// these models are at most ~10 in magnitude, so 1e-4 is ten times the worst case seen.
pub const FORWARD_TOLERANCE: f32 = 1e-4;
/// Gradients sum over the batch as well as over the layer, so their rounding adds up once
/// more: 1e-4 as for outputs, since gradients here are of the order of 1.
pub const GRADIENT_TOLERANCE: f32 = 1e-4;
/// After 20 Adam steps at 1e-2 differences of single steps compound: Adam divides by
/// `sqrt(v) + ε`, which magnifies differences in tiny gradients. 1e-3 on weights of the order
/// of 0.1–1 still detects any wrong kernel (which moves weights by the learning rate or more).
pub const TRAINING_TOLERANCE: f32 = 1e-3;

/// One model configuration to check.
#[derive(Clone, Debug)]
pub struct Case {
    pub name: &'static str,
    pub config: ModelConfig,
    pub task: Task,
}

/// Every model of the zoo, and the shapes the apps use where they differ.
pub fn cases() -> Vec<Case> {
    let case = |name, config, task| Case { name, config, task };
    vec![
        case(
            "linear",
            ModelConfig::Linear(LinearRegressionConfig::new(8)),
            Task::Regression { n_outputs: 1 },
        ),
        case(
            "logistic-binary",
            ModelConfig::Logistic(LogisticRegressionConfig::new(8, 2)),
            Task::Binary,
        ),
        case(
            "logistic-4",
            ModelConfig::Logistic(LogisticRegressionConfig::new(8, 4)),
            Task::Multiclass { n_classes: 4 },
        ),
        case(
            "mlp-relu",
            ModelConfig::Mlp(MlpConfig::new(8, vec![16, 8], 3)),
            Task::Multiclass { n_classes: 3 },
        ),
        case(
            "mlp-gelu-regression",
            ModelConfig::Mlp(MlpConfig::new(8, vec![12], 1).with_activation(ActivationKind::Gelu)),
            Task::Regression { n_outputs: 1 },
        ),
        case(
            "cnn-8x8",
            ModelConfig::Cnn(SmallCnnConfig::new(1, 8, 8, 4)),
            Task::Multiclass { n_classes: 4 },
        ),
        case(
            "cnn-rgb-3-blocks",
            ModelConfig::Cnn(SmallCnnConfig::new(3, 16, 16, 1).with_conv_channels(vec![4, 8, 8])),
            Task::Binary,
        ),
        case(
            "cnn-mnist",
            ModelConfig::Cnn(SmallCnnConfig::new(1, 28, 28, 10)),
            Task::Multiclass { n_classes: 10 },
        ),
        case(
            "cnn-mfcc",
            ModelConfig::Cnn(SmallCnnConfig::new(1, 13, 80, 10)),
            Task::Multiclass { n_classes: 10 },
        ),
        case(
            "text-logistic",
            ModelConfig::Logistic(LogisticRegressionConfig::new(2000, 2)),
            Task::Binary,
        ),
    ]
}

/// `n` examples for `case` from a seeded generator: inputs in [-1, 1], targets as the task
/// wants.
pub fn examples(case: &Case, n: usize, seed: u64) -> Examples {
    let mut rng = ChaCha12Rng::seed_from_u64(seed);
    let width = case.config.n_inputs();
    let values = (0..n * width)
        .map(|_| rng.random_range(-1.0f32..1.0))
        .collect();
    let targets = match case.task {
        Task::Regression { n_outputs } => TargetData::Values {
            values: (0..n * n_outputs)
                .map(|_| rng.random_range(-2.0f32..2.0))
                .collect(),
            n_outputs,
        },
        task => {
            let n_classes = task.n_classes().expect("a classifier");
            TargetData::Classes {
                labels: (0..n).map(|i| i % n_classes).collect(),
                n_classes,
            }
        }
    };
    Examples::new(Features::new(values, width).expect("finite"), targets).expect("consistent")
}

struct Flatten(Vec<f32>);

impl ModuleVisitor for Flatten {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let values = param
            .val()
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .expect("f32 data");
        self.0.extend(values);
    }
}

/// All parameter values of a model, in a fixed order.
pub fn parameters(model: &Model) -> Vec<f32> {
    let mut flatten = Flatten(Vec::new());
    model.visit(&mut flatten);
    flatten.0
}

/// `model`'s weights on `device`, moved through a burnpack file as a user would move them.
pub fn transfer(model: &Model, config: &ModelConfig, device: &Device) -> Result<Model> {
    let dir = tempfile::tempdir().map_err(|e| Error::Device(e.to_string()))?;
    let path = dir.path().join("model.bpk");
    model
        .clone()
        .save_file(&path)
        .map_err(|e| Error::Device(format!("{e}")))?;
    crate::store::load_weights(config, &path, device)
}

fn max_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "compared vectors differ in length");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn outputs<E: ToExampleSet>(model: &Model, data: &E) -> Result<Vec<f32>> {
    let data = data.to_example_set();
    let indices: Vec<usize> = (0..data.len()).collect();
    let tensor = model.forward(data.batch(&indices, &model.device())?.inputs);
    tensor
        .into_data()
        .try_to_vec::<f32>()
        .map_err(|e| Error::Device(format!("{e:?}")))
}

/// Parameters after one plain gradient step with learning rate 1 on the whole of `data`:
/// `w − ∇L(w)`. From the same `w` on two backends, their difference is that of the gradients.
fn after_gradient_step<E: ToExampleSet>(
    model: &Model,
    task: Task,
    data: &E,
) -> Result<(f32, Vec<f32>)> {
    let data = data.to_example_set();
    let model = model.clone().train();
    let device = model.device();
    let indices: Vec<usize> = (0..data.len()).collect();
    let batch = data.batch(&indices, &device)?;
    let loss = task.loss(model.forward(batch.inputs), &batch.targets);
    let loss_value = loss.clone().into_scalar::<f32>();
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    let mut sgd = OptimizerConfig::sgd(0.0)
        .init()
        .expect("a mini-batch optimizer");
    let stepped = sgd.step(1.0, model, grads);
    Ok((loss_value, parameters(&stepped.valid())))
}

/// `steps` Adam steps at 1e-2 over `data` in fixed batches of `batch_size` (the last one of
/// each pass shorter when it does not divide the data).
fn train_steps(
    model: &Model,
    task: Task,
    data: &Examples,
    steps: usize,
    batch_size: usize,
) -> Model {
    let mut model = model.clone().train();
    let device = model.device();
    let mut optimizer = OptimizerConfig::adam()
        .init()
        .expect("a mini-batch optimizer");
    let batches: Vec<Vec<usize>> = (0..data.len())
        .collect::<Vec<_>>()
        .chunks(batch_size)
        .map(<[usize]>::to_vec)
        .collect();
    for step in 0..steps {
        let batch = data.batch(&batches[step % batches.len()], &device);
        let loss = task.loss(model.forward(batch.inputs), &batch.targets);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optimizer.step(1e-2, model, grads);
    }
    model.valid()
}

/// How closely two backends agree on one case: largest absolute differences, and whether the
/// trained models predict the same classes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Agreement {
    pub forward: f32,
    pub forward_single: f32,
    pub loss: f32,
    pub gradients: f32,
    pub training: f32,
    pub evaluation_loss: f32,
    pub same_classes: bool,
    /// The model trained on the first backend, saved and loaded on the second, predicts the
    /// classes (or values, within the forward tolerance) it predicted before.
    pub reloaded: bool,
}

impl Agreement {
    /// The checks that failed, by name; empty when all passed.
    pub fn failures(&self) -> Vec<&'static str> {
        let mut failed = Vec::new();
        let mut check = |ok: bool, name| {
            if !ok {
                failed.push(name);
            }
        };
        check(self.forward <= FORWARD_TOLERANCE, "forward");
        check(
            self.forward_single <= FORWARD_TOLERANCE,
            "forward (batch of 1)",
        );
        check(self.loss <= FORWARD_TOLERANCE, "loss");
        check(self.gradients <= GRADIENT_TOLERANCE, "gradients");
        check(self.training <= TRAINING_TOLERANCE, "20 training steps");
        check(
            self.evaluation_loss <= TRAINING_TOLERANCE,
            "evaluation after training",
        );
        check(self.same_classes, "predicted classes");
        check(self.reloaded, "trained model reloaded on the other backend");
        failed
    }

    /// The largest difference of all checks, for a one-number summary.
    pub fn worst(&self) -> f32 {
        [
            self.forward,
            self.forward_single,
            self.loss,
            self.gradients,
            self.training,
            self.evaluation_loss,
        ]
        .into_iter()
        .fold(0.0, f32::max)
    }
}

/// Runs every check of `case` with weights created on `a` (seeded) and moved to `b`.
pub fn compare(case: &Case, a: &Device, b: &Device, seed: u64) -> Result<Agreement> {
    compare_sides(case, (a, KernelChoice::Zoo), (b, KernelChoice::Zoo), seed)
}

/// Runs every check of `case` on `device` with the zoo's kernels against Burn's own layers:
/// the comparison any build with flex can make, even with no second backend.
#[cfg(feature = "flex")]
pub fn compare_kernels(case: &Case, device: &Device, seed: u64) -> Result<Agreement> {
    let agreement = compare_sides(
        case,
        (device, KernelChoice::Zoo),
        (device, KernelChoice::BurnLayers),
        seed,
    );
    crate::kernels::set_enabled(true);
    agreement
}

/// Which layers a side of a comparison runs on flex.
#[derive(Clone, Copy, Debug, PartialEq)]
enum KernelChoice {
    Zoo,
    #[cfg_attr(not(feature = "flex"), allow(dead_code))]
    BurnLayers,
}

impl KernelChoice {
    /// Makes the process run this side's layers from here on (the switch is process-wide, so
    /// each side's work follows its own call).
    fn select(self) {
        #[cfg(feature = "flex")]
        crate::kernels::set_enabled(self == KernelChoice::Zoo);
    }
}

fn compare_sides(
    case: &Case,
    (a, on_a): (&Device, KernelChoice),
    (b, on_b): (&Device, KernelChoice),
    seed: u64,
) -> Result<Agreement> {
    on_a.select();
    a.seed(seed);
    let model_a = case.config.init(a)?;
    let model_b = transfer(&model_a, &case.config, b)?;
    // 37 examples: batches of 16 leave a last batch of 5.
    let data = examples(case, 37, seed);
    let single = data.select(&[0]);

    let (outputs_a, single_a) = (outputs(&model_a, &data)?, outputs(&model_a, &single)?);
    let (loss_a, stepped_a) = after_gradient_step(&model_a, case.task, &data)?;
    let trained_a = train_steps(&model_a, case.task, &data, 20, 16);
    let evaluation_a = evaluate(&trained_a, case.task, &data, 16)?;
    let before = predict(&trained_a, case.task, &data.features, 16)?;
    on_b.select();
    let (outputs_b, single_b) = (outputs(&model_b, &data)?, outputs(&model_b, &single)?);
    let (loss_b, stepped_b) = after_gradient_step(&model_b, case.task, &data)?;
    let trained_b = train_steps(&model_b, case.task, &data, 20, 16);
    let evaluation_b = evaluate(&trained_b, case.task, &data, 16)?;
    let same_classes = match (&evaluation_a.metrics, &evaluation_b.metrics) {
        (Metrics::Classification(_), Metrics::Classification(_)) => {
            before.classes() == predict(&trained_b, case.task, &data.features, 16)?.classes()
        }
        _ => true,
    };
    let reloaded_b = transfer(&trained_a, &case.config, b)?;
    let after = predict(&reloaded_b, case.task, &data.features, 16)?;
    let reloaded = before.classes() == after.classes()
        && max_difference(&before.values, &after.values) <= FORWARD_TOLERANCE;
    Ok(Agreement {
        reloaded,
        forward: max_difference(&outputs_a, &outputs_b),
        forward_single: max_difference(&single_a, &single_b),
        loss: (loss_a - loss_b).abs(),
        gradients: max_difference(&stepped_a, &stepped_b),
        training: max_difference(&parameters(&trained_a), &parameters(&trained_b)),
        evaluation_loss: (evaluation_a.loss - evaluation_b.loss).abs() as f32,
        same_classes,
    })
}

/// How closely sparse rows agree with the same rows dense, on one device.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SparseAgreement {
    pub forward: f32,
    pub loss: f32,
    pub gradients: f32,
}

impl SparseAgreement {
    /// The largest difference of the three checks.
    pub fn worst(&self) -> f32 {
        self.forward.max(self.loss).max(self.gradients)
    }

    /// The checks that failed, by name; empty when all passed.
    pub fn failures(&self) -> Vec<&'static str> {
        [
            (self.forward <= FORWARD_TOLERANCE, "sparse forward"),
            (self.loss <= FORWARD_TOLERANCE, "sparse loss"),
            (self.gradients <= GRADIENT_TOLERANCE, "sparse gradients"),
        ]
        .into_iter()
        .filter(|(ok, _)| !ok)
        .map(|(_, name)| name)
        .collect()
    }
}

/// The examples of [`examples`] with about three values in four set to zero, and every value
/// of the first row (an empty text): once as dense rows, once as sparse rows.
pub fn sparse_and_dense_examples(case: &Case, n: usize, seed: u64) -> (ExampleSet, Examples) {
    let full = examples(case, n, seed);
    let width = full.features.n_features();
    let mut sparse = SparseFeatures::new(width).expect("a model has inputs");
    let mut dense = Vec::with_capacity(n * width);
    for (i, row) in full.features.rows().enumerate() {
        let kept = |j: usize| i > 0 && (i * 7 + j * 3).is_multiple_of(4);
        sparse
            .push_row(
                row.iter()
                    .enumerate()
                    .filter(|(j, _)| kept(*j))
                    .map(|(j, &v)| (j as u32, v)),
            )
            .expect("columns in range, finite values");
        dense.extend(
            row.iter()
                .enumerate()
                .map(|(j, &v)| if kept(j) { v } else { 0.0 }),
        );
    }
    let targets = full.targets;
    let dense = Examples::new(
        Features::new(dense, width).expect("finite"),
        targets.clone(),
    )
    .expect("consistent");
    let sparse = ExampleSet::new(std::sync::Arc::new(sparse), targets).expect("consistent");
    (sparse, dense)
}

/// Runs `case`'s model on the same rows given sparse and dense, on `device`: outputs, loss and
/// the gradients of one step (the sparse first layer against Burn's `Linear`; the CNN makes
/// sparse rows dense first).
pub fn compare_sparse(case: &Case, device: &Device, seed: u64) -> Result<SparseAgreement> {
    device.seed(seed);
    let model = case.config.init(device)?;
    let (sparse, dense) = sparse_and_dense_examples(case, 37, seed);
    let forward = max_difference(&outputs(&model, &sparse)?, &outputs(&model, &dense)?);
    let (loss_sparse, stepped_sparse) = after_gradient_step(&model, case.task, &sparse)?;
    let (loss_dense, stepped_dense) = after_gradient_step(&model, case.task, &dense)?;
    Ok(SparseAgreement {
        forward,
        loss: (loss_sparse - loss_dense).abs(),
        gradients: max_difference(&stepped_sparse, &stepped_dense),
    })
}

//! The zoo's models behind one config enum and one module enum, so the training engine, the
//! store and the apps handle all of them the same way. A new model is one file plus one
//! variant in each enum here.

use burn::module::{ModuleVisitor, Param};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::batch::Inputs;
use crate::cnn::{SmallCnn, SmallCnnConfig};
use crate::config::{ConfigError, ensure};
use crate::linear::{LinearRegression, LinearRegressionConfig};
use crate::logistic::{LogisticRegression, LogisticRegressionConfig};
use crate::mlp::{Mlp, MlpConfig};
use crate::summary::Summary;
use crate::task::Task;

/// Which model, with its hyper-parameters: what `model.json` stores to rebuild it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelConfig {
    Linear(LinearRegressionConfig),
    Logistic(LogisticRegressionConfig),
    Mlp(MlpConfig),
    Cnn(SmallCnnConfig),
}

#[derive(Module, Debug)]
pub enum Model {
    Linear(LinearRegression),
    Logistic(LogisticRegression),
    Mlp(Mlp),
    Cnn(SmallCnn),
}

/// The widest input or layer a config may ask for (16 Mi units), and the longest side and the
/// most channels of a CNN's images: bounds under which no parameter count can overflow, so that
/// a config read from a file is checked before anything is allocated for it.
pub const MAX_WIDTH: usize = 1 << 24;
pub const MAX_IMAGE_SIDE: usize = 1 << 13;
pub const MAX_CHANNELS: usize = 1 << 12;
/// The most hidden layers an MLP may have.
pub const MAX_LAYERS: usize = 256;
/// The most parameters a model may have: 2³¹, 8 GiB of `f32` weights.
pub const MAX_PARAMETERS: usize = 1 << 31;

fn at_most(name: &str, value: usize, limit: usize) -> Result<(), ConfigError> {
    ensure(
        value <= limit,
        format!("{name} is {value}, more than the {limit} a model may have"),
    )
}

impl ModelConfig {
    pub fn name(&self) -> &'static str {
        match self {
            ModelConfig::Linear(_) => "linear",
            ModelConfig::Logistic(_) => "logistic",
            ModelConfig::Mlp(_) => "mlp",
            ModelConfig::Cnn(_) => "cnn",
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        self.check_sizes()?;
        match self {
            ModelConfig::Linear(c) => c.validate(),
            ModelConfig::Logistic(c) => c.validate(),
            ModelConfig::Mlp(c) => c.validate(),
            ModelConfig::Cnn(c) => c.validate(),
        }
    }

    /// Every width within its bound, then the parameter count within [`MAX_PARAMETERS`].
    fn check_sizes(&self) -> Result<(), ConfigError> {
        let name = self.name();
        match self {
            ModelConfig::Linear(c) => {
                at_most(&format!("{name}: n_inputs"), c.n_inputs, MAX_WIDTH)?;
                at_most(&format!("{name}: n_outputs"), c.n_outputs, MAX_WIDTH)?;
            }
            ModelConfig::Logistic(c) => {
                at_most(&format!("{name}: n_inputs"), c.n_inputs, MAX_WIDTH)?;
                at_most(&format!("{name}: n_classes"), c.n_classes, MAX_WIDTH)?;
            }
            ModelConfig::Mlp(c) => {
                at_most(&format!("{name}: n_inputs"), c.n_inputs, MAX_WIDTH)?;
                at_most(&format!("{name}: n_outputs"), c.n_outputs, MAX_WIDTH)?;
                at_most(
                    &format!("{name}: hidden layers"),
                    c.hidden.len(),
                    MAX_LAYERS,
                )?;
                for &width in &c.hidden {
                    at_most(&format!("{name}: a hidden layer's width"), width, MAX_WIDTH)?;
                }
            }
            ModelConfig::Cnn(c) => {
                at_most(&format!("{name}: channels"), c.channels, MAX_CHANNELS)?;
                at_most(&format!("{name}: height"), c.height, MAX_IMAGE_SIDE)?;
                at_most(&format!("{name}: width"), c.width, MAX_IMAGE_SIDE)?;
                for &channels in &c.conv_channels {
                    at_most(&format!("{name}: conv channels"), channels, MAX_CHANNELS)?;
                }
                at_most(&format!("{name}: hidden"), c.hidden, MAX_WIDTH)?;
                at_most(&format!("{name}: n_outputs"), c.n_outputs, MAX_WIDTH)?;
            }
        }
        // Within those bounds the count fits in 64 bits.
        at_most(
            &format!("{name}: the parameter count"),
            self.summary().total_params(),
            MAX_PARAMETERS,
        )
    }

    /// Checks the config and that its outputs fit `task`: linear regression only regresses,
    /// logistic regression only classifies, and the output width is the task's.
    pub fn validate_for(&self, task: Task) -> Result<(), ConfigError> {
        self.validate()?;
        match (self, task) {
            (ModelConfig::Linear(_), Task::Binary | Task::Multiclass { .. }) => {
                return Err(ConfigError(
                    "linear regression cannot classify; use the logistic model".into(),
                ));
            }
            (ModelConfig::Logistic(c), _) if c.task() != task => {
                return Err(ConfigError(format!(
                    "logistic regression with {} classes cannot solve a {} task",
                    c.n_classes,
                    task.name()
                )));
            }
            _ => {}
        }
        if self.n_outputs() != task.output_width() {
            return Err(ConfigError(format!(
                "{} outputs {} values but a {} task needs {}",
                self.name(),
                self.n_outputs(),
                task.name(),
                task.output_width()
            )));
        }
        Ok(())
    }

    pub fn n_inputs(&self) -> usize {
        match self {
            ModelConfig::Linear(c) => c.n_inputs,
            ModelConfig::Logistic(c) => c.n_inputs,
            ModelConfig::Mlp(c) => c.n_inputs,
            ModelConfig::Cnn(c) => c.n_inputs(),
        }
    }

    pub fn n_outputs(&self) -> usize {
        match self {
            ModelConfig::Linear(c) => c.n_outputs,
            ModelConfig::Logistic(c) => c.task().output_width(),
            ModelConfig::Mlp(c) => c.n_outputs,
            ModelConfig::Cnn(c) => c.n_outputs,
        }
    }

    /// Builds the model with fresh weights drawn from `device`'s random generator (seed it
    /// with `device.seed(..)` first for reproducible weights).
    pub fn init(&self, device: &Device) -> Result<Model, ConfigError> {
        self.validate()?;
        Ok(match self {
            ModelConfig::Linear(c) => Model::Linear(c.init(device)),
            ModelConfig::Logistic(c) => Model::Logistic(c.init(device)),
            ModelConfig::Mlp(c) => Model::Mlp(c.init(device)),
            ModelConfig::Cnn(c) => Model::Cnn(c.init(device)),
        })
    }

    pub fn summary(&self) -> Summary {
        match self {
            ModelConfig::Linear(c) => c.summary(),
            ModelConfig::Logistic(c) => c.summary(),
            ModelConfig::Mlp(c) => c.summary(),
            ModelConfig::Cnn(c) => c.summary(),
        }
    }
}

impl Model {
    /// The model's kind, as its config names it.
    pub fn name(&self) -> &'static str {
        match self {
            Model::Linear(_) => "linear",
            Model::Logistic(_) => "logistic",
            Model::Mlp(_) => "mlp",
            Model::Cnn(_) => "cnn",
        }
    }

    /// `[batch, n_inputs]` (dense or sparse rows) → raw outputs `[batch, n_outputs]`:
    /// regression values or logits.
    pub fn forward(&self, input: impl Into<Inputs>) -> Tensor<2> {
        match self {
            Model::Linear(m) => m.forward(input),
            Model::Logistic(m) => m.forward(input),
            Model::Mlp(m) => m.forward(input),
            Model::Cnn(m) => m.forward(input),
        }
    }

    /// `Σ w²` over the weight matrices and convolution kernels (parameters of rank 2 or more),
    /// not the biases: what an L2 penalty adds to the loss, as scikit-learn and Keras'
    /// `kernel_regularizer` penalise.
    pub fn squared_weight_norm(&self) -> Tensor<1> {
        struct SumOfSquares(Option<Tensor<1>>);
        impl ModuleVisitor for SumOfSquares {
            fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
                if D >= 2 {
                    let term = param.val().square().sum();
                    self.0 = Some(match self.0.take() {
                        Some(sum) => sum + term,
                        None => term,
                    });
                }
            }
        }
        let mut visitor = SumOfSquares(None);
        self.visit(&mut visitor);
        visitor
            .0
            .unwrap_or_else(|| Tensor::zeros([1], &self.device()))
    }

    /// The probability with which the model drops activations while training; 0 for none.
    pub fn dropout(&self) -> f64 {
        match self {
            Model::Linear(_) | Model::Logistic(_) => 0.0,
            Model::Mlp(m) => m.dropout.prob,
            Model::Cnn(m) => m.dropout.prob,
        }
    }

    /// The device holding the model's parameters.
    pub fn device(&self) -> Device {
        self.devices()
            .into_iter()
            .next()
            .expect("every zoo model has parameters")
    }
}

fn linear_dims(layer: &burn::nn::Linear) -> [usize; 2] {
    layer.weight.val().dims()
}

impl Model {
    /// Number of input features the model takes.
    pub fn n_inputs(&self) -> usize {
        match self {
            Model::Linear(m) => linear_dims(&m.linear)[0],
            Model::Logistic(m) => linear_dims(&m.linear)[0],
            Model::Mlp(m) => linear_dims(m.hidden.first().unwrap_or(&m.output))[0],
            Model::Cnn(m) => m.channels * m.height * m.width,
        }
    }

    /// Number of values the model outputs per example.
    pub fn n_outputs(&self) -> usize {
        match self {
            Model::Linear(m) => linear_dims(&m.linear)[1],
            Model::Logistic(m) => linear_dims(&m.linear)[1],
            Model::Mlp(m) => linear_dims(&m.output)[1],
            Model::Cnn(m) => linear_dims(&m.output)[1],
        }
    }
}

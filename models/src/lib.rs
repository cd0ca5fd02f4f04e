//! burn-zoo models: four classic models written once on Burn 0.22 and run on any backend,
//! with a Keras-style training engine (`fit`, `evaluate`, `predict`).
//!
//! ```no_run
//! use zoo_models::prelude::*;
//!
//! # fn main() -> zoo_models::Result<()> {
//! let device = BackendKind::Flex.device()?;
//! let task = Task::Binary;
//! let config = ModelConfig::Mlp(MlpConfig::new(30, vec![10], task.output_width()));
//! let model = config.init(&device)?;
//! # let train: Examples = unimplemented!();
//! let fitted = fit(model, task, &train, None, &FitConfig::new().with_validation_split(0.2))?;
//! let evaluation = evaluate(&fitted.model, task, &train, 256)?;
//! # Ok(()) }
//! ```

#[cfg(not(any(feature = "ndarray", feature = "flex", feature = "wgpu")))]
compile_error!("burn-zoo needs at least one backend feature: ndarray, flex or wgpu");

pub mod backend;
pub mod batch;
pub mod bench;
pub mod cnn;
pub mod config;
pub mod conformance;
pub mod conv;
pub mod cpu;
pub mod data;
pub mod dataset;
mod error;
pub mod inference;
pub mod interop;
#[cfg(feature = "flex")]
pub mod kernels;
pub mod linear;
pub mod logistic;
pub mod metrics;
pub mod mlp;
pub mod model;
pub mod preprocess;
#[cfg(feature = "remote")]
pub mod remote;
pub mod sparse;
pub mod store;
pub mod summary;
pub mod task;
pub mod tensorboard;
pub mod train;

pub use error::{Error, Result};

/// The names most programs need.
pub mod prelude {
    pub use crate::backend::{BackendError, BackendKind};
    pub use crate::batch::{DataError, FeatureSource};
    pub use crate::cnn::SmallCnnConfig;
    pub use crate::config::ConfigError;
    pub use crate::data::{Examples, Features, Holdout, Subsets, TargetData};
    pub use crate::dataset::{DatasetRows, ExampleSet, ToExampleSet};
    pub use crate::inference::{Evaluation, Metrics, Predictions, evaluate, predict};
    pub use crate::linear::LinearRegressionConfig;
    pub use crate::logistic::LogisticRegressionConfig;
    pub use crate::mlp::{ActivationKind, MlpConfig};
    pub use crate::model::{Model, ModelConfig};
    pub use crate::sparse::SparseFeatures;
    pub use crate::store::ModelManifest;
    pub use crate::task::Task;
    pub use crate::train::{
        ConvergenceConfig, CrossValidation, EarlyStoppingConfig, FitConfig, Fitted, History,
        OptimizerConfig, StopReason, cross_validate, fit, fit_data_parallel,
    };
    pub use burn::prelude::Device;
}

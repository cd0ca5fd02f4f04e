//! burn-zoo apps: turning files into examples for the models, the command-line pieces the
//! binaries share, and what a training run leaves behind (metrics, charts).

pub mod audio;
pub mod audio_classifier;
pub mod check;
pub mod cli;
pub mod error;
pub mod files;
pub mod image_classifier;
pub mod plots;
pub mod report;
pub mod sklearn;
pub mod table;
pub mod tabular;
pub mod text;
pub mod text_classifier;
pub mod vision;

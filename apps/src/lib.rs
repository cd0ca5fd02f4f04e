//! burn-zoo apps: turning files into examples for the models, and the shared command-line
//! pieces of the binaries and examples.

pub mod cli;
pub mod sklearn;

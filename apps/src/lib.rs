//! burn-zoo apps: turning files into examples for the models, the command-line pieces the
//! binaries share, and what a training run leaves behind (metrics, charts).
//!
//! The binaries allocate with mimalloc; the library sets no allocator, so that what links it
//! chooses its own (the fuzz targets run under AddressSanitizer's). A training step allocates
//! and frees tensors of hundreds of kilobytes; glibc's malloc hands those to `mmap`/`munmap`
//! each time, so every step paid page faults to zero fresh pages. Measured with `zoo-bench` on
//! flex, mimalloc trains the MNIST MLP 1.6x faster (16k -> 27k samples/s) and the CNN 1.6x
//! (1.1k -> 1.8k); README, "Performance".

pub mod app;
pub mod audio;
pub mod audio_classifier;
pub mod bench;
pub mod check;
pub mod cli;
pub mod delimiter;
#[cfg(feature = "remote")]
pub mod device_server;
#[cfg(all(feature = "remote", target_os = "linux"))]
pub mod elastic;
pub mod error;
pub mod files;
pub mod image_classifier;
pub mod interop;
pub mod plots;
pub mod predictor;
pub mod preprocessing;
pub mod resume;
pub mod run;
pub mod saved;
pub mod serve;
pub mod sklearn;
pub mod split;
pub mod table;
pub mod tabular;
pub mod test_metrics;
pub mod text;
pub mod text_classifier;
pub mod token;
pub mod tune;
pub mod untrusted;
pub mod vision;

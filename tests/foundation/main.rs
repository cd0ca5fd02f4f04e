//! The foundation's promises: model shapes and sizes, hand-checked forward passes, the
//! training engine's stopping rules and determinism, and save/load across backends.

mod checkpoints;
mod conv;
mod datasets;
mod interop;
mod kernels;
mod logs;
mod models;
mod store;
mod training;

// Every test here takes `zoo_tests::exclusive_rng()` first: see why there.

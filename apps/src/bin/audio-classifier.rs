//! `audio-classifier train|evaluate|predict`: see `zoo_apps::audio_classifier`.

use zoo_apps::audio_classifier::{Cli, run};
use zoo_apps::cli::{exit_code, parse};

/// The allocator of every zoo binary: see the `zoo_apps` crate documentation.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    zoo_models::cpu::flush_subnormals_to_zero();
    exit_code(|| parse::<Cli>().and_then(run))
}

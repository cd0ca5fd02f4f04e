//! `zoo-device-server`: see `zoo_apps::device_server`.

use clap::Parser;
use zoo_apps::cli::exit_code;
use zoo_apps::device_server::{DeviceServerArgs, run};

/// The allocator of every zoo binary: see the `zoo_apps` crate documentation.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    zoo_models::cpu::flush_subnormals_to_zero();
    exit_code(|| run(&DeviceServerArgs::parse()))
}

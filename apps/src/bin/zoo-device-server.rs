//! `zoo-device-server`: see `zoo_apps::device_server`.

use clap::Parser;
use zoo_apps::cli::exit_code;
use zoo_apps::device_server::{DeviceServerArgs, run};

fn main() -> std::process::ExitCode {
    zoo_models::cpu::flush_subnormals_to_zero();
    exit_code(|| run(&DeviceServerArgs::parse()))
}

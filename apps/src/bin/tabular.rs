//! `tabular train|evaluate|predict`: see `zoo_apps::tabular`.

use clap::Parser;
use zoo_apps::cli::exit_code;
use zoo_apps::tabular::{Cli, run};

fn main() -> std::process::ExitCode {
    zoo_models::cpu::flush_subnormals_to_zero();
    exit_code(run(Cli::parse()))
}

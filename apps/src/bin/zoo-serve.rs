//! `zoo-serve`: see `zoo_apps::serve`. Exits 0 after SIGTERM or Ctrl-C once the requests in
//! flight are answered; 1 when a model cannot be loaded or the address is refused.

use clap::Parser;
use zoo_apps::cli::exit_code;
use zoo_apps::serve::{ServeArgs, run};

/// The allocator of every zoo binary: see the `zoo_apps` crate documentation.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    zoo_models::cpu::flush_subnormals_to_zero();
    exit_code(|| run(&ServeArgs::parse()))
}

//! `zoo-bench`: see `zoo_apps::bench`.

use clap::Parser;
use zoo_apps::bench::{Cli, bench, render};
use zoo_apps::cli::exit_code;

/// The allocator of every zoo binary: see the `zoo_apps` crate documentation.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    zoo_models::cpu::flush_subnormals_to_zero();
    let cli = Cli::parse();
    exit_code(|| {
        bench(&cli).and_then(|report| {
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", render(&report));
            }
            Ok(())
        })
    })
}

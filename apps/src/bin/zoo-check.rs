//! `zoo-check`: see `zoo_apps::check`. Exits with 1 when a check fails.

use clap::Parser;
use zoo_apps::check::{Cli, check, render};
use zoo_apps::cli::exit_code;

/// The allocator of every zoo binary: see the `zoo_apps` crate documentation.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    exit_code(|| {
        check(&cli).and_then(|report| {
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", render(&report));
            }
            anyhow::ensure!(report.passed(), "backends disagree beyond the tolerances");
            Ok(())
        })
    })
}

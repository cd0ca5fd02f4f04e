//! `zoo-import`: see `zoo_apps::interop`.

use clap::Parser;
use zoo_apps::cli::exit_code;
use zoo_apps::interop::{ImportCli, import};

/// The allocator of every zoo binary: see the `zoo_apps` crate documentation.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = ImportCli::parse();
    exit_code(|| {
        let app = import(&cli)?;
        println!(
            "wrote {}: `{app} evaluate --model-dir {0}` and `{app} predict` take it",
            cli.out.display()
        );
        Ok(())
    })
}

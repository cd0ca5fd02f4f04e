//! `zoo-export`: see `zoo_apps::interop`.

use clap::Parser;
use zoo_apps::cli::exit_code;
use zoo_apps::interop::{ExportCli, export};

/// The allocator of every zoo binary: see the `zoo_apps` crate documentation.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = ExportCli::parse();
    exit_code(|| {
        let exported = export(&cli)?;
        let input_shape: Vec<String> = exported.input_shape.iter().map(usize::to_string).collect();
        println!(
            "wrote {} ({} bytes): {} model, [batch, {}] inputs preprocessed as {}/model.json \
             says → [batch, {}] raw outputs (logits for a classifier)",
            cli.out.display(),
            exported.bytes,
            exported.app,
            input_shape.join(", "),
            cli.model_dir.display(),
            exported.outputs
        );
        Ok(())
    })
}

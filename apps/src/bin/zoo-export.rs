//! `zoo-export`: see `zoo_apps::interop`.

use clap::Parser;
use zoo_apps::cli::exit_code;
use zoo_apps::interop::{ExportCli, export};

fn main() -> std::process::ExitCode {
    let cli = ExportCli::parse();
    exit_code(|| {
        let exported = export(&cli)?;
        println!(
            "wrote {} ({} bytes): {} model, [batch, {}] inputs preprocessed as {}/model.json \
             says → [batch, {}] raw outputs (logits for a classifier)",
            cli.out.display(),
            exported.bytes,
            exported.app,
            exported.inputs,
            cli.model_dir.display(),
            exported.outputs
        );
        Ok(())
    })
}

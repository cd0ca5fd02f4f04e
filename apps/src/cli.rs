//! Command-line arguments shared by every binary and example.

use clap::Args;
use zoo_models::backend::BackendKind;

/// `--backend` and `--seed`.
#[derive(Args, Debug, Clone)]
pub struct RuntimeArgs {
    /// Backend to run on: ndarray, flex or wgpu (default: the fastest compiled CPU backend).
    #[arg(long, default_value_t = BackendKind::default_for_build())]
    pub backend: BackendKind,
    /// Seed for weight initialisation, data splits and shuffling.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

/// The repository's `data/` folder, where the bundled datasets live; `BURN_ZOO_DATA`
/// overrides it.
pub fn data_dir() -> std::path::PathBuf {
    std::env::var_os("BURN_ZOO_DATA")
        .map(Into::into)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data"))
}

/// Ends a binary: prints the error chain on one line (no backtrace, whatever `RUST_BACKTRACE`
/// says) and exits non-zero.
pub fn exit_code(result: anyhow::Result<()>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

//! `zoo-bench`: training and inference throughput of the zoo's models on every compiled
//! backend, in the configurations the apps use. `bench/compare.py` runs it next to
//! `bench/torch_reference.py` and prints Burn/PyTorch ratios.

use clap::Parser;
use serde::Serialize;
use zoo_models::backend::BackendKind;
use zoo_models::bench::{BenchSettings, Measurement, cases, measure};

#[derive(Parser, Debug)]
#[command(
    name = "zoo-bench",
    about = "Training and inference throughput of the zoo's models on each backend"
)]
pub struct Cli {
    /// Only these backends, repeatable [default: every compiled backend with a device].
    #[arg(long = "backend")]
    pub backends: Vec<BackendKind>,
    /// Only these cases, repeatable [default: all].
    #[arg(long = "case")]
    pub cases: Vec<String>,
    /// Timed rounds per measurement; the median and spread are over rounds.
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// Each round repeats steps until it has lasted this long.
    #[arg(long, default_value_t = 1.0)]
    pub round_seconds: f64,
    /// Untimed steps after the first one (shader compilation, autotuning, caches).
    #[arg(long, default_value_t = 3)]
    pub warmup_steps: usize,
    /// Print the results as JSON.
    #[arg(long)]
    pub json: bool,
    /// Run the CNN's blocks on flex with Burn's own layers and ops (the path every other backend
    /// takes) instead of the zoo's fused kernels, to measure what the kernels bring.
    #[arg(long)]
    pub burn_layers: bool,
    /// With --remote: measure a zoo-device-server's device too (backend `remote`).
    #[command(flatten)]
    pub remote: crate::cli::RemoteArgs,
}

#[derive(Debug, Serialize)]
pub struct BackendResult {
    pub backend: BackendKind,
    #[serde(flatten)]
    pub measurement: Measurement,
}

#[derive(Debug, Serialize)]
pub struct Report {
    /// Threads of the CPU backends' pool (`RAYON_NUM_THREADS` sets it).
    pub threads: usize,
    /// Whether the CNN ran on flex with the zoo's fused kernels (`false`: Burn's own layers,
    /// `--burn-layers`, or a build without flex).
    pub zoo_kernels: bool,
    pub settings: BenchSettings,
    /// Backends asked for but unusable here, with the reason.
    pub skipped: Vec<(BackendKind, String)>,
    pub results: Vec<BackendResult>,
}

/// Runs every measurement the command line asks for.
pub fn bench(cli: &Cli) -> anyhow::Result<Report> {
    anyhow::ensure!(cli.rounds > 0, "--rounds must be at least 1");
    anyhow::ensure!(
        cli.round_seconds.is_finite() && cli.round_seconds >= 0.0,
        "--round-seconds must be a non-negative number"
    );
    let all = cases();
    if let Some(unknown) = cli
        .cases
        .iter()
        .find(|n| !all.iter().any(|c| c.case.name == n.as_str()))
    {
        let names: Vec<_> = all.iter().map(|c| c.case.name).collect();
        anyhow::bail!("no case `{unknown}`; the cases are {}", names.join(", "));
    }
    let selected: Vec<_> = all
        .into_iter()
        .filter(|c| cli.cases.is_empty() || cli.cases.iter().any(|n| n == c.case.name))
        .collect();
    #[cfg(feature = "flex")]
    zoo_models::kernels::set_enabled(!cli.burn_layers);
    let settings = BenchSettings {
        warmup_steps: cli.warmup_steps,
        rounds: cli.rounds,
        round_seconds: cli.round_seconds,
    };
    cli.remote.use_servers()?;
    let asked = if cli.backends.is_empty() {
        BackendKind::compiled()
    } else {
        cli.backends.clone()
    };
    let mut skipped = Vec::new();
    let mut results = Vec::new();
    for backend in asked {
        let device = match backend.device() {
            Ok(device) => device,
            // Named explicitly, a missing backend is an error; in the default list, a note.
            Err(e) if cli.backends.is_empty() => {
                skipped.push((backend, e.to_string()));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        for bench in &selected {
            if !cli.json {
                eprintln!("measuring {} on {backend}", bench.case.name);
            }
            results.push(BackendResult {
                backend,
                measurement: measure(bench, &device, &settings)?,
            });
        }
    }
    Ok(Report {
        threads: rayon::current_num_threads(),
        zoo_kernels: cfg!(feature = "flex") && !cli.burn_layers,
        settings,
        skipped,
        results,
    })
}

/// The report as the table `zoo-bench` prints.
pub fn render(report: &Report) -> String {
    let mut text = format!(
        "samples/s: median (min-max) of {} rounds of {} s; {} CPU threads; CNN blocks on flex: {}\n",
        report.settings.rounds,
        report.settings.round_seconds,
        report.threads,
        if report.zoo_kernels {
            "zoo kernels"
        } else {
            "Burn's layers"
        }
    );
    text += &format!(
        "{:<8} {:<16} {:>9} {:>6} {:>26} {:>28} {:>10} {:>9}\n",
        "backend",
        "case",
        "params",
        "batch",
        "train",
        "inference (batch 256)",
        "1st step",
        "peak MB"
    );
    for r in &report.results {
        let m = &r.measurement;
        let spread =
            |s: &zoo_models::bench::Spread| format!("{:.0} ({:.0}-{:.0})", s.median, s.min, s.max);
        text += &format!(
            "{:<8} {:<16} {:>9} {:>6} {:>26} {:>28} {:>9.2}s {:>9}\n",
            r.backend.name(),
            m.case,
            m.parameters,
            m.train_batch,
            spread(&m.train),
            spread(&m.inference),
            m.first_step_seconds,
            m.peak_memory_bytes
                .map_or("-".to_string(), |b| format!("{:.0}", b as f64 / 1e6)),
        );
    }
    for (backend, why) in &report.skipped {
        text += &format!("{backend}: skipped: {why}\n");
    }
    text
}

//! `zoo-bench`: training and inference throughput of the zoo's models on every compiled
//! backend, in the configurations the apps use. `bench/compare.py` runs it next to
//! `bench/torch_reference.py` and prints Burn/PyTorch ratios. Each throughput is also given in
//! GFLOP/s and as a fraction of this machine's measured peak (the roofline), the peak being what
//! flex's matrix-product crate reaches on a large square product (`--peak` prints only that).

use clap::Parser;
use serde::Serialize;
use zoo_models::backend::BackendKind;
use zoo_models::bench::{BenchSettings, Measurement, Peak, cases, measure};

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
    /// Run every model on flex with Burn's own layers, ops and Adam (the path every other backend
    /// takes) instead of the zoo's kernels, to measure what the kernels bring.
    #[arg(long)]
    pub burn_layers: bool,
    /// Only measure this machine's peak: GFLOP/s of flex's matrix-product crate (`gemm`) on a
    /// square f32 product on all threads, beside the CPU's theoretical peak.
    #[arg(long)]
    pub peak: bool,
    /// The side of the square product the peak is measured on.
    #[arg(long, default_value_t = 2048)]
    pub peak_size: usize,
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
    /// Whether the models ran on flex with the zoo's kernels (`false`: Burn's own layers, by
    /// `--burn-layers` or `BURN_ZOO_KERNELS=off`, or a build without flex).
    pub zoo_kernels: bool,
    pub settings: BenchSettings,
    /// The measured peak; the fractions refer to its best round (a ceiling: a neighbour's load
    /// on a shared machine only ever lowers a round). `None` in a build without flex.
    pub peak: Option<Peak>,
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
    // Off with --burn-layers, or for the whole process with BURN_ZOO_KERNELS=off.
    #[cfg(feature = "flex")]
    let zoo_kernels = {
        if cli.burn_layers {
            zoo_models::kernels::set_enabled(false);
        }
        zoo_models::kernels::enabled()
    };
    #[cfg(not(feature = "flex"))]
    let zoo_kernels = false;
    let settings = BenchSettings {
        warmup_steps: cli.warmup_steps,
        rounds: cli.rounds,
        round_seconds: cli.round_seconds,
    };
    // Three square matrices of f32: 8192 takes 768 MB; more is no better a measure of the peak.
    anyhow::ensure!(
        (1..=8192).contains(&cli.peak_size),
        "--peak-size must be between 1 and 8192, got {}",
        cli.peak_size
    );
    #[cfg(feature = "flex")]
    let peak = {
        if !cli.json {
            eprintln!("measuring the peak ({0}×{0} f32 products)", cli.peak_size);
        }
        Some(zoo_models::bench::measure_peak(cli.peak_size, &settings)?)
    };
    #[cfg(not(feature = "flex"))]
    let peak = {
        anyhow::ensure!(
            !cli.peak,
            "--peak measures flex's gemm: this build has no flex"
        );
        None
    };
    if cli.peak {
        return Ok(Report {
            threads: rayon::current_num_threads(),
            zoo_kernels,
            settings,
            peak,
            skipped: Vec::new(),
            results: Vec::new(),
        });
    }
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
        zoo_kernels,
        settings,
        peak,
        skipped,
        results,
    })
}

/// The report as the table `zoo-bench` prints.
pub fn render(report: &Report) -> String {
    let mut text = format!(
        "samples/s: median (min-max) of {} rounds of {} s; {} CPU threads; kernels on flex: {}\n",
        report.settings.rounds,
        report.settings.round_seconds,
        report.threads,
        if report.zoo_kernels {
            "zoo kernels"
        } else {
            "Burn's layers"
        }
    );
    if let Some(peak) = &report.peak {
        text += &format!(
            "peak: {:.1} GFLOP/s (the best round; median {:.1}, lowest {:.1}), gemm on {}×{} f32 products, {} threads",
            peak.gflops.max,
            peak.gflops.median,
            peak.gflops.min,
            peak.size,
            peak.size,
            peak.threads
        );
        match &peak.theoretical {
            Some(t) => {
                text += &format!(
                    "; theoretical {:.1} GFLOP/s ({} cores × {:.2} GHz × {} f32 lanes × 2 (FMA) × {} FMA units, assumed)\n",
                    t.gflops, t.cores, t.ghz, t.lanes, t.fma_units
                )
            }
            None => text += "; theoretical: unknown here\n",
        }
    }
    if report.results.is_empty() {
        return text;
    }
    text += &format!(
        "{:<8} {:<16} {:>9} {:>6} {:>26} {:>17} {:>28} {:>17} {:>10} {:>9}\n",
        "backend",
        "case",
        "params",
        "batch",
        "train",
        "GFLOP/s (peak)",
        "inference (batch 256)",
        "GFLOP/s (peak)",
        "1st step",
        "peak MB"
    );
    for r in &report.results {
        let m = &r.measurement;
        let spread =
            |s: &zoo_models::bench::Spread| format!("{:.0} ({:.0}-{:.0})", s.median, s.min, s.max);
        let roofline = |samples: f64, flops: f64| {
            let gflops = samples * flops / 1e9;
            match &report.peak {
                Some(peak) => format!("{gflops:.1} ({:.0}%)", 100.0 * gflops / peak.gflops.max),
                None => format!("{gflops:.1}"),
            }
        };
        text += &format!(
            "{:<8} {:<16} {:>9} {:>6} {:>26} {:>17} {:>28} {:>17} {:>9.2}s {:>9}\n",
            r.backend.name(),
            m.case,
            m.parameters,
            m.train_batch,
            spread(&m.train),
            roofline(m.train.median, m.flops_per_sample.train),
            spread(&m.inference),
            roofline(m.inference.median, m.flops_per_sample.inference),
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

//! `zoo-check`: which backends this build has, and whether the zoo's models agree across them
//! on this machine. How fast each backend runs them is `zoo-bench`'s job.

use clap::Parser;
use serde::Serialize;
use zoo_models::backend::BackendKind;
use zoo_models::conformance::{Agreement, SparseAgreement, cases, compare, compare_sparse};

#[derive(Parser, Debug)]
#[command(
    name = "zoo-check",
    about = "Check that every model gives the same results on every compiled backend"
)]
pub struct Cli {
    /// Only these cases (see the list `zoo-check` prints), repeatable.
    #[arg(long = "case")]
    pub cases: Vec<String>,
    /// Print the results as JSON.
    #[arg(long)]
    pub json: bool,
    /// With --remote: compare a zoo-device-server's device with the local ones too.
    #[command(flatten)]
    pub remote: crate::cli::RemoteArgs,
}

#[derive(Debug, Serialize)]
pub struct BackendReport {
    pub backend: BackendKind,
    /// The device, or why there is none.
    pub device: Result<String, String>,
}

#[derive(Debug, Serialize)]
pub struct PairReport {
    pub case: String,
    pub backends: (BackendKind, BackendKind),
    pub agreement: Agreement,
    pub failures: Vec<&'static str>,
}

/// Sparse rows against the same rows dense, on one backend.
#[derive(Debug, Serialize)]
pub struct SparseReport {
    pub case: String,
    pub backend: BackendKind,
    pub agreement: SparseAgreement,
    pub failures: Vec<&'static str>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub backends: Vec<BackendReport>,
    pub pairs: Vec<PairReport>,
    pub sparse: Vec<SparseReport>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.pairs.iter().all(|p| p.failures.is_empty())
            && self.sparse.iter().all(|s| s.failures.is_empty())
    }
}

/// Runs every check the command line asks for.
pub fn check(cli: &Cli) -> anyhow::Result<Report> {
    let selected: Vec<_> = cases()
        .into_iter()
        .filter(|c| cli.cases.is_empty() || cli.cases.iter().any(|n| n == c.name))
        .collect();
    if selected.is_empty() {
        let names: Vec<_> = cases().iter().map(|c| c.name).collect();
        anyhow::bail!("no such case; the cases are {}", names.join(", "));
    }
    cli.remote.use_servers()?;
    let mut backends = Vec::new();
    let mut devices = Vec::new();
    for backend in BackendKind::ALL {
        let device = backend.device();
        backends.push(BackendReport {
            backend,
            device: device
                .as_ref()
                .map(|d| format!("{d:?}"))
                .map_err(|e| e.to_string()),
        });
        if let Ok(device) = device {
            devices.push((backend, device));
        }
    }
    let mut pairs = Vec::new();
    for (i, (kind_a, a)) in devices.iter().enumerate() {
        for (kind_b, b) in &devices[i + 1..] {
            for case in &selected {
                let agreement = compare(case, a, b, 7)?;
                pairs.push(PairReport {
                    case: case.name.to_string(),
                    backends: (*kind_a, *kind_b),
                    failures: agreement.failures(),
                    agreement,
                });
            }
        }
    }
    let mut sparse = Vec::new();
    for (backend, device) in &devices {
        for case in &selected {
            let agreement = compare_sparse(case, device, 11)?;
            sparse.push(SparseReport {
                case: case.name.to_string(),
                backend: *backend,
                failures: agreement.failures(),
                agreement,
            });
        }
    }
    Ok(Report {
        backends,
        pairs,
        sparse,
    })
}

/// The report as the tables `zoo-check` prints.
pub fn render(report: &Report) -> String {
    let mut text = String::from("backends\n");
    for b in &report.backends {
        match &b.device {
            Ok(device) => text += &format!("  {:<8} {device}\n", b.backend.name()),
            Err(why) => text += &format!("  {:<8} unavailable: {why}\n", b.backend.name()),
        }
    }
    text += "\nagreement (largest absolute difference over outputs, loss, gradients, 20 training steps)\n";
    for p in &report.pairs {
        let verdict = if p.failures.is_empty() {
            "pass".to_string()
        } else {
            format!("FAIL: {}", p.failures.join(", "))
        };
        text += &format!(
            "  {:<20} {:>7} vs {:<7} {:>9.2e}  {verdict}\n",
            p.case,
            p.backends.0.name(),
            p.backends.1.name(),
            p.agreement.worst()
        );
    }
    if report.pairs.is_empty() {
        text += "  fewer than two backends: nothing to compare\n";
    }
    text += "\nsparse rows against the same rows dense (largest absolute difference over outputs, loss, gradients)\n";
    for s in &report.sparse {
        let verdict = if s.failures.is_empty() {
            "pass".to_string()
        } else {
            format!("FAIL: {}", s.failures.join(", "))
        };
        text += &format!(
            "  {:<20} {:>7}            {:>9.2e}  {verdict}\n",
            s.case,
            s.backend.name(),
            s.agreement.worst()
        );
    }
    text
}

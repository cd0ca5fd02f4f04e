//! What a search shows: `trials.csv` (a row per trial and rung, rewritten as results come),
//! the leaderboard printed at the end, `trials.png` (the ranking figure of each trial per
//! budget) and TensorBoard's HParams experiment and sessions.

use std::collections::BTreeMap;

use zoo_models::store::write_atomic;
use zoo_models::tensorboard::{EventWriter, HParam};

use super::trials::TrialResult;
use super::{App, Search, TENSORBOARD_DIR};
use crate::plots;

pub const TRIALS_CSV_FILE: &str = "trials.csv";
pub const TRIALS_CHART_FILE: &str = "trials.png";

/// `trials.csv`: a row per finished rung of a trial, in bracket, rung and trial order (the
/// same file whatever order parallel trials finished in).
pub fn write_trials_csv<A: App>(search: &Search<A>) -> anyhow::Result<()> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = [
        "trial",
        "bracket",
        "rung",
        "epochs",
        "epochs_run",
        "epochs_kept",
        &search.metric.name,
        "status",
        "seconds",
    ]
    .map(str::to_string)
    .to_vec();
    header.extend(search.space.params.iter().map(|p| p.name.clone()));
    writer.write_record(&header)?;
    let mut results: Vec<_> = search.state.results.iter().collect();
    results.sort_by_key(|r| (r.bracket, r.rung, r.trial));
    for result in results {
        let mut row = vec![
            result.trial.to_string(),
            (result.bracket + 1).to_string(),
            (result.rung + 1).to_string(),
            result.epochs.to_string(),
            result.epochs_run.to_string(),
            result.epochs_kept.to_string(),
            result.metric.map_or(String::new(), |m| m.to_string()),
            result.status.clone(),
            format!("{:.1}", result.seconds),
        ];
        row.extend(search.configs[result.trial - 1].0.iter().cloned());
        writer.write_record(&row)?;
    }
    write_atomic(&search.out.join(TRIALS_CSV_FILE), &writer.into_inner()?)?;
    Ok(())
}

/// The leaderboard: each trial's last rung, best first (the ten best), and `trials.png`.
pub fn print_leaderboard<A: App>(search: &Search<A>) -> anyhow::Result<()> {
    let board = search.leaderboard();
    let names: Vec<&str> = search
        .space
        .params
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    let mut rows = vec![
        [
            vec!["rank", "trial", "epochs", &search.metric.name],
            names.clone(),
        ]
        .concat()
        .into_iter()
        .map(str::to_string)
        .collect::<Vec<_>>(),
    ];
    for (rank, result) in board.iter().take(10).enumerate() {
        let figure = result
            .metric
            .map_or_else(|| result.status.clone(), |m| format!("{m:.4}"));
        let mut row = vec![
            (rank + 1).to_string(),
            result.trial.to_string(),
            result.epochs_kept.to_string(),
            figure,
        ];
        row.extend(search.configs[result.trial - 1].0.iter().cloned());
        rows.push(row);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let seconds: f64 = search.state.results.iter().map(|r| r.seconds).sum();
    println!(
        "{} trials, {} runs, {seconds:.0}s of training (see {})",
        board.len(),
        search.state.results.len(),
        search.out.join(TRIALS_CSV_FILE).display()
    );
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, &width)| format!("{cell:>width$}"))
            .collect();
        println!("{}", cells.join("  "));
    }
    let series: Vec<(String, Vec<(f64, f64)>)> = board
        .iter()
        .map(|last| {
            let mut points: Vec<_> = search
                .state
                .results
                .iter()
                .filter(|r| r.trial == last.trial)
                .filter_map(|r| Some((r.epochs_kept as f64, r.metric?)))
                .collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            (last.trial.to_string(), points)
        })
        .collect();
    let png = plots::search(&series, &search.metric.name).map_err(anyhow::Error::msg)?;
    write_atomic(&search.out.join(TRIALS_CHART_FILE), &png)?;
    Ok(())
}

/// The HParams experiment at the root of the search's TensorBoard folder: the parameters
/// searched and the ranking figure (once per search).
pub fn write_experiment<A: App>(search: &Search<A>) -> anyhow::Result<()> {
    let dir = search.out.join(TENSORBOARD_DIR);
    if dir.exists() {
        return Ok(());
    }
    let hparams: Vec<_> = search
        .space
        .params
        .iter()
        .map(|p| (p.name.clone(), p.domain()))
        .collect();
    // A validation figure is a curve in each trial's `validation` run; a cross-validation's
    // score a scalar in the trial's run itself.
    let name = &search.metric.name;
    let (group, tag) = match name.strip_prefix("val_") {
        Some(figure) => ("validation", format!("epoch_{figure}")),
        None => ("", name.clone()),
    };
    EventWriter::create(&dir)?.hparams_experiment(&hparams, &[(group, &tag)])?;
    Ok(())
}

/// A trial's cross-validation score, as a scalar of its TensorBoard run (the HParams table's
/// metric).
pub fn write_cv_score<A: App>(search: &Search<A>, result: &TrialResult) -> anyhow::Result<()> {
    if let (Some(_), Some(score)) = (search.cv, result.metric) {
        EventWriter::create(&search.log_dir(result.trial))?
            .scalars(result.epochs_kept, &[(&search.metric.name, score)])?;
    }
    Ok(())
}

/// A trial's HParams session, in its TensorBoard run, before its first `train` logs there.
pub fn write_session<A: App>(search: &Search<A>, trial: usize) -> anyhow::Result<()> {
    let hparams: BTreeMap<String, HParam> = search
        .space
        .params
        .iter()
        .zip(&search.configs[trial - 1].0)
        .map(|(param, value)| (param.name.clone(), param.hparam(value)))
        .collect();
    EventWriter::create(&search.log_dir(trial))?.hparams(&hparams)?;
    Ok(())
}

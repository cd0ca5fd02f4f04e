//! `APP tune`: a hyper-parameter search over `train`'s flags, every app the same way. Each
//! trial is a `train` run of the app's own binary in a process of its own (its folder under
//! `OUT/trials/`), so that trials run side by side (`--parallel`), a killed search loses only
//! the epochs since the trials' last checkpoints, and a trial promoted to a longer budget goes
//! on from its checkpoint (`train --resume --epochs`) instead of starting over. Trials are
//! ranked on a validation figure; the best configuration is then refitted on all the training
//! rows into `OUT/best` (scikit-learn's `refit=True`).
//!
//! `space` (what is searched), `plan` (which trials train for how long), `trials` (running
//! them and reading their results), `report` (the leaderboard, trials.csv, the chart,
//! TensorBoard's HParams) and this file (the search).

mod plan;
mod report;
mod space;
mod trials;

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, CommandFactory, FromArgMatches};
use serde::{Deserialize, Serialize};
use zoo_models::store::{read_json, write_json_atomic};
use zoo_models::task::Task;

pub use plan::Strategy;
use plan::{Bracket, plan, rung_epochs};
use space::SearchSpace;
use trials::{Job, TrialResult, run_jobs};

use crate::app::{App, Cli, Command, TrainCommand};
use crate::cli::absolute;

/// The search's state in its folder: its arguments and the results so far.
pub const STATE_FILE: &str = "tune.json";
/// The trials' folders, `OUT/trials/NNN`.
pub const TRIALS_DIR: &str = "trials";
/// The best configuration, refitted on all the training rows.
pub const BEST_DIR: &str = "best";
/// TensorBoard's logs: the HParams experiment, and a run per trial.
pub const TENSORBOARD_DIR: &str = "tensorboard";

/// `tune`'s arguments.
#[derive(Args, Debug, Clone)]
pub struct TuneCommand {
    /// A hyper-parameter to search, NAME=VALUES: NAME is a `train` flag without its dashes
    /// (lr, batch-size, c, model, hidden, dropout, …); VALUES a choice (`logistic/mlp`,
    /// `64/256,128`), a uniform range (`0..0.5`) or a log-uniform one (`log:1e-4..1e-1`).
    /// Repeatable.
    #[arg(long = "param", value_name = "NAME=VALUES")]
    pub params: Vec<String>,
    /// A JSON file of parameters, as --param takes them: {"lr": "log:1e-4..1e-1", "model":
    /// ["logistic", "mlp"]}.
    #[arg(long, value_name = "FILE")]
    pub space: Option<PathBuf>,
    /// How trials are chosen and how long they train.
    #[arg(long, value_enum, default_value_t = Strategy::Hyperband)]
    pub strategy: Strategy,
    /// Configurations to try (random search and halving).
    #[arg(long)]
    pub trials: Option<usize>,
    /// Halving and Hyperband keep the best 1/factor of a rung and train them factor times as
    /// long.
    #[arg(long, default_value_t = 3)]
    pub factor: usize,
    /// Hyperband's brackets: the most aggressive starts factor^(brackets-1) configurations at
    /// 1/factor^(brackets-1) of the full budget.
    #[arg(long, default_value_t = 3)]
    pub brackets: usize,
    /// The validation figure trials are ranked on: val_accuracy, val_macro_f1 or val_loss for
    /// a classifier; val_r2, val_mse, val_mae or val_loss for a regression [default:
    /// val_accuracy, val_r2].
    #[arg(long)]
    pub metric: Option<String>,
    /// Rank each trial on a K-fold cross-validation of its training rows (`train --cv K`)
    /// rather than on the validation split, as scikit-learn's `RandomizedSearchCV`: K + 1
    /// trainings a trial, a steadier figure where the validation split is small. With
    /// --strategy random (a halving's trials go on from checkpoints; folds start afresh).
    #[arg(long, value_name = "K")]
    pub cv: Option<usize>,
    /// Train this many trials at once, each in a process of its own with its share of the
    /// CPU's threads.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub parallel: u32,
    /// Folder for the search [default: runs/APP-tune].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Finish the search in DIR, stopped by Ctrl-C or killed, with the arguments it started
    /// with (give no others): the leaderboard is the one the search would have made
    /// uninterrupted.
    #[arg(long, value_name = "DIR", exclusive = true)]
    pub resume: Option<PathBuf>,
    /// `train`'s arguments, after `--`: the data, the model and the settings all trials
    /// share. Their --epochs (else the model's default) is a trial's full budget.
    #[arg(last = true, value_name = "TRAIN ARGUMENTS")]
    pub train_arguments: Vec<String>,
}

impl TuneCommand {
    /// The command line that makes this search again (with the files' paths absolute).
    fn arguments(&self, out: &Path) -> Vec<String> {
        let mut arguments = Vec::new();
        for param in &self.params {
            arguments.extend(["--param".to_string(), param.clone()]);
        }
        if let Some(space) = &self.space {
            arguments.extend(["--space".into(), absolute(space).display().to_string()]);
        }
        let strategy = format!("{:?}", self.strategy).to_lowercase();
        arguments.extend(["--strategy".into(), strategy]);
        if let Some(trials) = self.trials {
            arguments.extend(["--trials".into(), trials.to_string()]);
        }
        arguments.extend(["--factor".into(), self.factor.to_string()]);
        arguments.extend(["--brackets".into(), self.brackets.to_string()]);
        if let Some(metric) = &self.metric {
            arguments.extend(["--metric".into(), metric.clone()]);
        }
        if let Some(k) = self.cv {
            arguments.extend(["--cv".into(), k.to_string()]);
        }
        arguments.extend(["--parallel".into(), self.parallel.to_string()]);
        arguments.extend(["--out".into(), out.display().to_string()]);
        arguments.push("--".into());
        arguments.extend(self.train_arguments.iter().cloned());
        arguments
    }
}

/// `tune.json`.
#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    /// `tune`'s arguments, as [`TuneCommand::arguments`] gives them.
    arguments: Vec<String>,
    /// Each finished trial rung, in the order they finished.
    results: Vec<TrialResult>,
    /// The trial refitted into `best/`, once done.
    refitted: Option<usize>,
}

/// The figure trials are ranked on.
#[derive(Clone, Debug, PartialEq)]
pub struct Metric {
    /// Its name in `history.json`: `val_accuracy`, ….
    pub name: String,
    pub higher_is_better: bool,
}

impl Metric {
    fn new(name: Option<&str>, task: Task, cv: Option<usize>) -> anyhow::Result<Self> {
        if cv.is_some() {
            if let Some(name) = name {
                bail!(
                    "--metric {name}: with --cv, trials are ranked on the cross-validation's \
                     accuracy (R² for a regression)"
                );
            }
            let name = match task.n_classes() {
                Some(_) => "cv_accuracy",
                None => "cv_r2",
            };
            return Ok(Metric {
                name: name.to_string(),
                higher_is_better: true,
            });
        }
        let (default, names): (&str, &[&str]) = match task.n_classes() {
            Some(_) => (
                "val_accuracy",
                &["val_accuracy", "val_macro_f1", "val_loss"],
            ),
            None => ("val_r2", &["val_r2", "val_mse", "val_mae", "val_loss"]),
        };
        let name = name.unwrap_or(default);
        if !names.contains(&name) {
            bail!(
                "--metric {name}: a {} task is ranked on one of {}",
                task.name(),
                names.join(", ")
            );
        }
        Ok(Metric {
            name: name.to_string(),
            higher_is_better: matches!(name, "val_accuracy" | "val_macro_f1" | "val_r2"),
        })
    }

    /// Whether `a` ranks before `b`: on the figure (failed trials, with none, last), then on
    /// the validation loss, then on the trial's number.
    fn rank(&self, a: &TrialResult, b: &TrialResult) -> std::cmp::Ordering {
        let figure = match (a.metric, b.metric) {
            (Some(x), Some(y)) if self.higher_is_better => y.total_cmp(&x),
            (Some(x), Some(y)) => x.total_cmp(&y),
            (x, y) => y.is_some().cmp(&x.is_some()),
        };
        let loss = |r: &TrialResult| r.val_loss.unwrap_or(f64::INFINITY);
        figure
            .then(loss(a).total_cmp(&loss(b)))
            .then(a.trial.cmp(&b.trial))
    }
}

/// A search, checked and ready to run.
struct Search<A: App> {
    out: PathBuf,
    space: SearchSpace,
    /// `train`'s arguments shared by every trial.
    base: Vec<String>,
    brackets: Vec<Bracket>,
    /// Each trial's configuration (trial `t` at `t - 1`) and full budget in epochs.
    configs: Vec<(Vec<String>, usize)>,
    metric: Metric,
    /// Folds of each trial's cross-validation, when it ranks them.
    cv: Option<usize>,
    parallel: usize,
    state: State,
    app: std::marker::PhantomData<A>,
}

/// Runs `tune`: a new search, or the one `--resume` names.
pub fn tune<A: App>(command: &TuneCommand) -> anyhow::Result<()> {
    let (command, state) = match &command.resume {
        Some(dir) => {
            let path = dir.join(STATE_FILE);
            let state: State = read_json(&path)
                .with_context(|| format!("{} holds no search to resume", dir.display()))?;
            let recorded = std::iter::once(A::NAME.to_string())
                .chain(["tune".to_string()])
                .chain(state.arguments.iter().cloned());
            let matches = Cli::<A>::command()
                .try_get_matches_from(recorded)
                .with_context(|| {
                    format!("{}: the recorded arguments no longer parse", path.display())
                })?;
            let Command::Tune(recorded) = Cli::<A>::from_arg_matches(&matches)?.command else {
                bail!("{}: the recorded command is not `tune`", path.display());
            };
            (recorded, state)
        }
        None => (command.clone(), State::default()),
    };
    let out = command
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("runs/{}-tune", A::NAME)));
    let resuming = !state.arguments.is_empty();
    let mut search = Search::<A>::new(&command, &out, state)?;
    if !resuming {
        search.remove_earlier_search()?;
    }
    search.run().inspect_err(|error| {
        let interrupted = error.chain().any(|e| {
            matches!(
                e.downcast_ref(),
                Some(zoo_models::Error::Interrupted { .. })
            )
        });
        if interrupted {
            eprintln!(
                "search stopped; resume with: {} tune --resume {}",
                A::NAME,
                search.out.display()
            );
        }
    })
}

/// `train`'s command line parsed as the app's binary parses it (a flag given twice takes its
/// last value); clap's error, on one line, otherwise.
fn parse_train<A: App>(arguments: &[String]) -> anyhow::Result<TrainCommand<A>> {
    let command = Cli::<A>::command().mut_subcommand("train", |t| t.args_override_self(true));
    let line = std::iter::once(A::NAME.to_string())
        .chain(["train".to_string()])
        .chain(arguments.iter().cloned());
    let matches = command.try_get_matches_from(line).map_err(|e| {
        let message = e.to_string();
        let first = message.lines().next().unwrap_or_default();
        anyhow::anyhow!("{}", first.trim_start_matches("error: "))
    })?;
    match Cli::<A>::from_arg_matches(&matches)?.command {
        Command::Train(train) => Ok(train),
        _ => unreachable!("parsed as `train`"),
    }
}

impl<A: App> Search<A> {
    /// Checks everything a trial could fail on before any training starts: the space, the
    /// strategy, each searched value as `train` parses and checks it, and each model the space
    /// names on the data.
    fn new(command: &TuneCommand, out: &Path, state: State) -> anyhow::Result<Self> {
        let space = SearchSpace::new(command.space.as_deref(), &command.params)?;
        let brackets = plan(
            command.strategy,
            command.trials,
            command.factor,
            command.brackets,
        )?;
        let base = command.train_arguments.clone();
        let shared = parse_train::<A>(&base).context("the train arguments after `--`")?;
        let set_by_tune = [
            ("--out", shared.train.out.is_some()),
            ("--resume", shared.train.resume.is_some()),
            ("--log-dir", shared.train.log_dir.is_some()),
            ("--cv", shared.train.cv.is_some()),
        ];
        if let Some((flag, _)) = set_by_tune.iter().find(|(_, given)| *given) {
            bail!(
                "tune sets {flag} of its trials itself; leave it out of the train arguments \
                 (tune's own --cv ranks trials on a cross-validation)"
            );
        }
        if shared.train.validation_split <= 0.0 {
            bail!("tune ranks trials on validation figures: --validation-split must be above 0");
        }
        for param in &space.params {
            let flag = format!("--{}", param.name);
            if base
                .iter()
                .any(|a| *a == flag || a.starts_with(&format!("{flag}=")))
            {
                bail!("{flag} is both searched and given in the train arguments; give it once");
            }
            for value in param.probes() {
                let arguments = [base.clone(), vec![flag.clone(), value.clone()]].concat();
                let bad =
                    |e: anyhow::Error| e.context(format!("search space: {} = {value}", param.name));
                let train = parse_train::<A>(&arguments).map_err(bad)?;
                let choice = A::model(&train.app).map_err(bad)?;
                train
                    .train
                    .fit_config(choice.fit_defaults, train.runtime.seed)
                    .validate()
                    .map_err(|e| bad(e.into()))?;
            }
        }
        // Each model the space can pick must suit the data.
        let models: Vec<Vec<String>> = match space.params.iter().find(|p| p.name == "model") {
            Some(model) => model
                .probes()
                .into_iter()
                .map(|m| vec!["--model".to_string(), m])
                .collect(),
            None => vec![Vec::new()],
        };
        let mut task = None;
        for model in models {
            let train = parse_train::<A>(&[base.clone(), model.clone()].concat())?;
            let choice = A::model(&train.app)?;
            let fit_config = train
                .train
                .fit_config(choice.fit_defaults, train.runtime.seed);
            let prepared = A::prepare(&train.app, &fit_config, train.runtime.seed)
                .and_then(|p| {
                    p.model.validate_for(p.task)?;
                    Ok(p)
                })
                .with_context(|| match model.get(1) {
                    Some(name) => format!("search space: model {name} on this data"),
                    None => "the train arguments after `--`".to_string(),
                })?;
            task = Some(prepared.task);
        }
        let task = task.expect("at least one model was checked");
        let metric = Metric::new(command.metric.as_deref(), task, command.cv)?;
        if command.cv.is_some_and(|k| k < 2) {
            bail!("--cv needs at least 2 folds");
        }
        if command.cv.is_some() && command.strategy != Strategy::Random {
            bail!(
                "--cv ranks complete trainings: use it with --strategy random (a halving's \
                 trials go on from their checkpoints, and cross-validation would start afresh)"
            );
        }

        let seed = shared.runtime.seed;
        let n_configs = brackets.iter().map(|b| b.trials.len()).sum();
        let configs = space
            .sample(n_configs, seed)
            .into_iter()
            .map(|config| {
                let train = parse_train::<A>(&[base.clone(), space.flags(&config)].concat())?;
                let choice = A::model(&train.app)?;
                let full = train.train.fit_config(choice.fit_defaults, seed).epochs;
                Ok((config, full))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
        let out = absolute(out);
        let arguments = command.arguments(&out);
        if !state.arguments.is_empty() && state.arguments != arguments {
            bail!(
                "{}: recorded for other arguments",
                out.join(STATE_FILE).display()
            );
        }
        Ok(Search {
            out,
            space,
            base,
            brackets,
            configs,
            metric,
            cv: command.cv,
            parallel: command.parallel as usize,
            state: State { arguments, ..state },
            app: std::marker::PhantomData,
        })
    }

    /// A new search in the folder of an earlier one starts clean: no trial of the earlier
    /// search is taken for one of this search to resume.
    fn remove_earlier_search(&self) -> anyhow::Result<()> {
        for dir in [TRIALS_DIR, TENSORBOARD_DIR, BEST_DIR] {
            let dir = self.out.join(dir);
            if dir.exists() {
                std::fs::remove_dir_all(&dir)
                    .with_context(|| format!("removing the earlier search's {}", dir.display()))?;
            }
        }
        Ok(())
    }

    fn trial_dir(&self, trial: usize) -> PathBuf {
        self.out.join(TRIALS_DIR).join(format!("{trial:03}"))
    }

    fn log_dir(&self, trial: usize) -> PathBuf {
        self.out.join(TENSORBOARD_DIR).join(format!("{trial:03}"))
    }

    /// Every bracket, rung by rung, then the leaderboard and the refit of the best.
    fn run(&mut self) -> anyhow::Result<()> {
        self.save()?;
        report::write_experiment(self)?;
        let brackets = self.brackets.clone();
        for (b, bracket) in brackets.iter().enumerate() {
            let mut alive = bracket.trials.clone();
            for (r, rung) in bracket.rungs.iter().enumerate() {
                if r > 0 {
                    alive = self.best_of(&alive, r - 1, rung.trials);
                }
                let jobs: Vec<Job> = alive
                    .iter()
                    .filter(|&&t| self.result(t, r).is_none())
                    .map(|&trial| self.job(trial, b, r, rung.fraction))
                    .collect::<anyhow::Result<_>>()?;
                run_jobs(jobs, self.parallel, |result| {
                    report::write_cv_score(self, &result)?;
                    self.state.results.push(result);
                    self.save()
                })?;
            }
        }
        report::print_leaderboard(self)?;
        self.refit_best()
    }

    fn result(&self, trial: usize, rung: usize) -> Option<&TrialResult> {
        self.state
            .results
            .iter()
            .find(|r| r.trial == trial && r.rung == rung)
    }

    /// The `keep` best of `trials` after rung `rung`, failed ones left out.
    fn best_of(&self, trials: &[usize], rung: usize, keep: usize) -> Vec<usize> {
        let mut ranked: Vec<&TrialResult> = trials
            .iter()
            .filter_map(|&t| self.result(t, rung))
            .filter(|r| r.metric.is_some())
            .collect();
        ranked.sort_by(|a, b| self.metric.rank(a, b));
        ranked.into_iter().take(keep).map(|r| r.trial).collect()
    }

    /// Trial `trial`'s run for rung `rung` of bracket `bracket`: from its checkpoint when it
    /// has one (a promotion, or a rung a kill interrupted), else from the start.
    fn job(&self, trial: usize, bracket: usize, rung: usize, fraction: f64) -> anyhow::Result<Job> {
        let (config, full) = &self.configs[trial - 1];
        let epochs = rung_epochs(*full, fraction);
        let dir = self.trial_dir(trial);
        let arguments = match trials::resumable(&dir) {
            true => vec![
                "--resume".to_string(),
                dir.display().to_string(),
                "--epochs".into(),
                epochs.to_string(),
                "--quiet".into(),
            ],
            false => {
                report::write_session(self, trial)?;
                let cv = self.cv.map(|k| vec!["--cv".to_string(), k.to_string()]);
                [
                    self.base.clone(),
                    self.space.flags(config),
                    cv.unwrap_or_default(),
                    vec![
                        "--epochs".into(),
                        epochs.to_string(),
                        "--out".into(),
                        dir.display().to_string(),
                        "--log-dir".into(),
                        self.log_dir(trial).display().to_string(),
                        "--quiet".into(),
                    ],
                ]
                .concat()
            }
        };
        Ok(Job {
            trial,
            bracket,
            rung,
            epochs,
            dir,
            arguments,
            metric: self.metric.name.clone(),
        })
    }

    /// Each trial's last result, best first.
    fn leaderboard(&self) -> Vec<&TrialResult> {
        let mut last: Vec<&TrialResult> = Vec::new();
        for result in &self.state.results {
            match last.iter_mut().find(|r| r.trial == result.trial) {
                Some(kept) if kept.rung < result.rung => *kept = result,
                Some(_) => {}
                None => last.push(result),
            }
        }
        last.sort_by(|a, b| self.metric.rank(a, b));
        last
    }

    /// Trains the best configuration again on all the training rows (no validation part),
    /// for as long as its trial trained ([`TrialResult::refit_epochs`]), into `best/`.
    fn refit_best(&mut self) -> anyhow::Result<()> {
        let Some(best) = self
            .leaderboard()
            .first()
            .copied()
            .filter(|b| b.metric.is_some())
        else {
            bail!("every trial failed: see trials.csv and the trials' train.log");
        };
        let (trial, epochs) = (best.trial, best.refit_epochs());
        if self.state.refitted == Some(trial) {
            return Ok(());
        }
        let config = &self.configs[trial - 1].0;
        let flags = self.space.flags(config);
        println!(
            "refitting trial {trial} on all the training rows for up to {epochs} epochs: {}",
            flags.join(" ")
        );
        let dir = self.out.join(BEST_DIR);
        let arguments = [
            self.base.clone(),
            flags,
            vec![
                "--epochs".into(),
                epochs.to_string(),
                "--validation-split".into(),
                "0".into(),
                "--out".into(),
                dir.display().to_string(),
                "--quiet".into(),
            ],
        ]
        .concat();
        trials::refit(&arguments)?;
        self.state.refitted = Some(trial);
        self.save()
    }

    /// `tune.json` and `trials.csv`.
    fn save(&self) -> anyhow::Result<()> {
        write_json_atomic(&self.out.join(STATE_FILE), &self.state)?;
        report::write_trials_csv(self)
    }
}

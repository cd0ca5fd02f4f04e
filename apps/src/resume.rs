//! `train --resume DIR`: a training run goes on from its last checkpoint with the arguments
//! it started with, replayed from DIR's `checkpoints/command.json`; a few flags may be given
//! anew ([`CHANGEABLE_FLAGS`]), any other must keep its recorded value. And Ctrl-C, which
//! stops a run at a checkpoint to resume from (SIGUSR1 likewise, at the end of the epoch).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, bail};
use clap::parser::ValueSource;
use clap::{ArgMatches, Parser};
use serde::{Deserialize, Serialize};
use zoo_models::store::{read_json, write_json_atomic};
use zoo_models::train::request_stop;

/// The exit code of a program stopped by Ctrl-C, as shells report it (128 + SIGINT).
pub const INTERRUPTED: u8 = 130;

/// The checkpoints of a training run, in its `--out` folder.
pub const CHECKPOINTS_DIR: &str = "checkpoints";
/// The apps' training writes a checkpoint at most this often (and always after the first and
/// the last epoch, and on Ctrl-C): a kill loses at most this much work, and writing large
/// L-BFGS checkpoints no longer takes longer than training (README, "Checkpoints and resume").
pub const CHECKPOINT_INTERVAL_SECONDS: f64 = 30.0;
/// The arguments the run was started with, in its checkpoints folder.
pub const COMMAND_FILE: &str = "command.json";

/// `command.json`.
#[derive(Debug, Serialize, Deserialize)]
struct RecordedCommand {
    /// The arguments after the program's name, `train` first.
    arguments: Vec<String>,
}

/// The arguments of the `train` command this process runs, to record with its checkpoints.
static TRAIN_ARGUMENTS: OnceLock<Vec<String>> = OnceLock::new();

/// Flags a resumed run may set anew (a longer budget, the display, the devices, whether it
/// outlives a lost device), by id, which is also the flag's name; every other one must be the
/// interrupted run's.
const CHANGEABLE_FLAGS: [&str; 7] = [
    "epochs",
    "quiet",
    "backend",
    "remote",
    "remote-device",
    "devices",
    "elastic",
];

/// The changeable flags that take no value.
const SWITCHES: [&str; 2] = ["quiet", "elastic"];

/// Parses an app's command line. `train --resume DIR` takes the arguments recorded in DIR's
/// checkpoints, with the flags of `CHANGEABLE_FLAGS` given anew; any other flag given must
/// have the recorded value. A `train` command stops on Ctrl-C at the end of its batch (see
/// [`stop_training_on_ctrl_c`]).
pub fn parse<C: Parser>() -> anyhow::Result<C> {
    let arguments: Vec<OsString> = std::env::args_os().collect();
    // Later occurrences of a flag override earlier ones, so that `--epochs` can follow the
    // recorded arguments.
    let command = C::command().mut_subcommand("train", |train| train.args_override_self(true));
    let matches = command.clone().get_matches_from(&arguments);
    let Some(("train", train)) = matches.subcommand() else {
        return Ok(C::from_arg_matches(&matches)?);
    };
    stop_training_on_ctrl_c()?;
    #[cfg(target_os = "linux")]
    stop_training_at_epoch_end_on_sigusr1()?;
    let Some(dir) = train.get_one::<PathBuf>("resume") else {
        let recorded = arguments[1..]
            .iter()
            .map(|a| a.to_string_lossy().into_owned());
        TRAIN_ARGUMENTS.get_or_init(|| recorded.collect());
        return Ok(C::from_arg_matches(&matches)?);
    };
    let path = dir.join(CHECKPOINTS_DIR).join(COMMAND_FILE);
    let recorded: RecordedCommand = read_json(&path)
        .with_context(|| format!("{} holds no resumable training run", dir.display()))?;
    let program = arguments[0].to_string_lossy().into_owned();
    let recorded_matches = command
        .clone()
        .try_get_matches_from(std::iter::once(program.clone()).chain(recorded.arguments.clone()))
        .with_context(|| format!("{}: the recorded arguments no longer parse", path.display()))?;
    let Some(("train", recorded_train)) = recorded_matches.subcommand() else {
        bail!("{}: the recorded command is not `train`", path.display());
    };
    check_same_flags(&command, train, recorded_train, dir)?;
    let resumed = replay(recorded.arguments, train);
    TRAIN_ARGUMENTS.get_or_init(|| resumed.clone());
    let resumed_matches = command.try_get_matches_from(
        std::iter::once(program)
            .chain(resumed)
            .chain(["--resume".to_string(), dir.to_string_lossy().into_owned()]),
    )?;
    Ok(C::from_arg_matches(&resumed_matches)?)
}

/// The recorded arguments with the changeable flags given anew in `train` replacing theirs.
fn replay(recorded: Vec<String>, train: &ArgMatches) -> Vec<String> {
    // A changeable flag given anew replaces the recorded one: its recorded occurrences go (a
    // repeatable one such as --remote would otherwise keep the old values), then come the new.
    let anew: Vec<&str> = CHANGEABLE_FLAGS
        .into_iter()
        .filter(|flag| train.value_source(flag) == Some(ValueSource::CommandLine))
        .collect();
    let mut resumed = Vec::new();
    let mut recorded_arguments = recorded.into_iter();
    while let Some(argument) = recorded_arguments.next() {
        let given_anew = anew.iter().find(|flag| {
            argument == format!("--{flag}") || argument.starts_with(&format!("--{flag}="))
        });
        match given_anew {
            Some(&flag) if !SWITCHES.contains(&flag) && !argument.contains('=') => {
                recorded_arguments.next();
            }
            Some(_) => {}
            None => resumed.push(argument),
        }
    }
    for flag in anew {
        if SWITCHES.contains(&flag) {
            resumed.push(format!("--{flag}"));
            continue;
        }
        for value in train.get_raw(flag).into_iter().flatten() {
            resumed.push(format!("--{flag}"));
            resumed.push(value.to_string_lossy().into_owned());
        }
    }
    resumed
}

/// Fails, naming the flag, when `train` gives a flag another value than the recorded run had.
fn check_same_flags(
    command: &clap::Command,
    train: &ArgMatches,
    recorded: &ArgMatches,
    dir: &Path,
) -> anyhow::Result<()> {
    let train_command = command
        .find_subcommand("train")
        .expect("the app has `train`");
    // Flattened argument structs appear among the ids as groups; only arguments count.
    let arguments = train
        .ids()
        .map(|id| id.as_str())
        .filter(|id| train_command.get_arguments().any(|a| a.get_id() == *id));
    for id in arguments {
        let changeable = id == "resume" || CHANGEABLE_FLAGS.contains(&id);
        if changeable || train.value_source(id) != Some(ValueSource::CommandLine) {
            continue;
        }
        let raw = |m: &ArgMatches| -> Vec<String> {
            m.try_get_raw(id)
                .ok()
                .flatten()
                .map(|values| values.map(|v| v.to_string_lossy().into_owned()).collect())
                .unwrap_or_default()
        };
        let (given, recorded) = (raw(train), raw(recorded));
        if given != recorded {
            let flag = train_command
                .get_arguments()
                .find(|a| a.get_id() == id)
                .and_then(|a| a.get_long())
                .map_or_else(|| id.to_string(), |long| format!("--{long}"));
            let shown = |values: &[String]| match values {
                [] => "unset".to_string(),
                values => values.join(" "),
            };
            bail!(
                "cannot resume the run in {}: {flag} is {} here but was {} when it started; a \
                 resumed run keeps its arguments (only {} may change)",
                dir.display(),
                shown(&given),
                shown(&recorded),
                changeable_flags()
            );
        }
    }
    Ok(())
}

/// `--epochs, --quiet, … and --elastic`: the flags a resumed run may change, as its error
/// names them.
fn changeable_flags() -> String {
    let flags: Vec<String> = CHANGEABLE_FLAGS.iter().map(|f| format!("--{f}")).collect();
    match flags.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => flags.concat(),
    }
}

/// Records the arguments of the `train` command this process runs in `checkpoints` (a
/// library caller's run, parsed without [`parse`], records none).
pub fn record_arguments(checkpoints: &Path) -> anyhow::Result<()> {
    if let Some(arguments) = TRAIN_ARGUMENTS.get() {
        let recorded = RecordedCommand {
            arguments: arguments.clone(),
        };
        write_json_atomic(&checkpoints.join(COMMAND_FILE), &recorded)?;
    }
    Ok(())
}

/// The first Ctrl-C asks training to stop at the end of its batch and write a checkpoint;
/// a second one exits at once.
pub fn stop_training_on_ctrl_c() -> anyhow::Result<()> {
    static PRESSED: AtomicBool = AtomicBool::new(false);
    ctrlc::set_handler(|| {
        if PRESSED.swap(true, Ordering::SeqCst) {
            std::process::exit(INTERRUPTED.into());
        }
        eprintln!(
            "\nstopping at the end of this batch to save a checkpoint (Ctrl-C again quits at once)"
        );
        request_stop();
    })
    .context("cannot handle Ctrl-C")
}

/// SIGUSR1 asks training to stop once its epoch is complete, with a checkpoint, and to exit
/// as on Ctrl-C: how an elastic run's supervisor takes a returning device back on an epoch
/// boundary (see `crate::elastic`).
#[cfg(target_os = "linux")]
fn stop_training_at_epoch_end_on_sigusr1() -> anyhow::Result<()> {
    use signal_hook::consts::SIGUSR1;
    let mut signals =
        signal_hook::iterator::Signals::new([SIGUSR1]).context("cannot handle SIGUSR1")?;
    std::thread::spawn(move || {
        for _ in signals.forever() {
            zoo_models::train::Interrupter::process().stop_at_epoch_end();
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_names_every_changeable_flag() {
        assert_eq!(
            changeable_flags(),
            "--epochs, --quiet, --backend, --remote, --remote-device, --devices and --elastic"
        );
    }
}

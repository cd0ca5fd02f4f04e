//! Which configurations train for how long: random search trains every one for the full
//! budget; successive halving trains many for a small share of it, then the best third (with
//! `--factor 3`) three times as long, and so on up to the full budget; Hyperband (Li et al.,
//! 2018; KerasTuner's `Hyperband`) runs several successive halvings ("brackets"), from the most
//! aggressive to random search, hedging against a first rung too short to tell configurations
//! apart.

use anyhow::bail;
use clap::ValueEnum;

/// `--strategy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Strategy {
    /// Every configuration for the full budget.
    Random,
    /// One successive halving: all configurations for 1/factor^k of the budget, the best
    /// 1/factor of them for factor times as long, ….
    Halving,
    /// Successive halvings from the most aggressive (factor^(brackets-1) configurations start
    /// at 1/factor^(brackets-1) of the budget) to a random search.
    Hyperband,
}

/// One rung of a bracket: how many configurations train, for which share of the full budget.
#[derive(Clone, Debug, PartialEq)]
pub struct Rung {
    pub trials: usize,
    pub fraction: f64,
}

/// A successive halving over its own configurations.
#[derive(Clone, Debug, PartialEq)]
pub struct Bracket {
    /// The trials' numbers, counted from 1 across brackets.
    pub trials: Vec<usize>,
    pub rungs: Vec<Rung>,
}

/// The brackets of a search; `trials` is for random search and halving, `brackets` for
/// Hyperband.
pub fn plan(
    strategy: Strategy,
    trials: Option<usize>,
    factor: usize,
    brackets: usize,
) -> anyhow::Result<Vec<Bracket>> {
    if factor < 2 {
        bail!("--factor must be at least 2, got {factor}");
    }
    let sizes: Vec<(usize, usize)> = match strategy {
        Strategy::Random | Strategy::Halving => {
            let Some(n) = trials.filter(|&n| n > 0) else {
                bail!("--strategy {strategy:?} needs --trials N, at least 1");
            };
            let rungs = match strategy {
                Strategy::Random => 1,
                _ => (n as f64).log(factor as f64).floor() as usize + 1,
            };
            vec![(n, rungs)]
        }
        Strategy::Hyperband => {
            if trials.is_some() {
                bail!(
                    "--strategy hyperband draws as many configurations as --brackets and \
                     --factor make; leave --trials out (or use --strategy halving)"
                );
            }
            if brackets == 0 {
                bail!("--brackets must be at least 1");
            }
            (0..brackets)
                .rev()
                .map(|s| {
                    let n = (brackets as f64 / (s + 1) as f64 * (factor as f64).powi(s as i32))
                        .ceil() as usize;
                    (n, s + 1)
                })
                .collect()
        }
    };
    let mut next_trial = 1;
    Ok(sizes
        .into_iter()
        .map(|(n, rungs)| {
            let trials: Vec<usize> = (next_trial..next_trial + n).collect();
            next_trial += n;
            let rungs = (0..rungs)
                .map(|i| Rung {
                    trials: (n / factor.pow(i as u32)).max(1),
                    fraction: (factor as f64).powi(i as i32 + 1 - rungs as i32),
                })
                .collect();
            Bracket { trials, rungs }
        })
        .collect())
}

/// The epochs of a rung that trains for `fraction` of `full` epochs: at least one.
pub fn rung_epochs(full: usize, fraction: f64) -> usize {
    ((full as f64 * fraction).round() as usize).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(brackets: &[Bracket]) -> Vec<Vec<(usize, f64)>> {
        brackets
            .iter()
            .map(|b| b.rungs.iter().map(|r| (r.trials, r.fraction)).collect())
            .collect()
    }

    #[test]
    fn hyperband_has_li_et_als_brackets() {
        let brackets = plan(Strategy::Hyperband, None, 3, 3).unwrap();
        assert_eq!(
            shape(&brackets),
            [
                vec![(9, 1.0 / 9.0), (3, 1.0 / 3.0), (1, 1.0)],
                vec![(5, 1.0 / 3.0), (1, 1.0)],
                vec![(3, 1.0)],
            ]
        );
        let numbers: Vec<usize> = brackets.iter().flat_map(|b| b.trials.clone()).collect();
        assert_eq!(numbers, (1..=17).collect::<Vec<_>>());
    }

    #[test]
    fn halving_and_random_search_take_their_number_of_trials() {
        let halving = plan(Strategy::Halving, Some(10), 3, 0).unwrap();
        assert_eq!(
            shape(&halving),
            [vec![(10, 1.0 / 9.0), (3, 1.0 / 3.0), (1, 1.0)]]
        );
        let random = plan(Strategy::Random, Some(4), 3, 0).unwrap();
        assert_eq!(shape(&random), [vec![(4, 1.0)]]);
        assert!(plan(Strategy::Random, None, 3, 0).is_err());
        assert!(plan(Strategy::Hyperband, Some(4), 3, 3).is_err());
        assert!(plan(Strategy::Halving, Some(4), 1, 3).is_err());
        assert_eq!(rung_epochs(10, 1.0 / 9.0), 1);
        assert_eq!(rung_epochs(100, 1.0 / 3.0), 33);
    }
}

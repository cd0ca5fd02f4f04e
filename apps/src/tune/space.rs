//! `tune`'s search space: each hyper-parameter is a `train` flag and the values it is drawn
//! from, given as `--param NAME=VALUES` or in a JSON file (`--space`). VALUES is a choice
//! (`logistic/mlp`, `64/256,128`), a uniform range (`0..0.5`) or a log-uniform one
//! (`log:1e-4..1e-1`), as KerasTuner's `Choice`, `Float` and `Float(sampling="log")`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha12Rng;
use zoo_models::tensorboard::{HParam, HParamDomain};

/// Flags `tune` sets itself for every trial, or that make no sense to search.
const NOT_SEARCHABLE: [&str; 7] = ["epochs", "out", "resume", "log-dir", "cv", "quiet", "seed"];

/// Where a hyper-parameter's values come from.
#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    /// One of these, each as the flag takes it.
    Choice(Vec<String>),
    Uniform {
        low: f64,
        high: f64,
    },
    /// Uniform in the logarithm: learning rates, penalties.
    LogUniform {
        low: f64,
        high: f64,
    },
}

/// A searched hyper-parameter: the name of a `train` flag, without its dashes.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    pub name: String,
    pub values: Values,
}

impl Param {
    /// Parses `NAME=VALUES`.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let Some((name, values)) = text.split_once('=') else {
            bail!(
                "--param `{text}`: expected NAME=VALUES, e.g. lr=log:1e-4..1e-1 or model=logistic/mlp"
            );
        };
        Param::new(name, values)
    }

    fn new(name: &str, values: &str) -> anyhow::Result<Self> {
        let name = name.trim().trim_start_matches("--");
        if name.is_empty() {
            bail!("a search-space parameter has no name: `={values}`");
        }
        if NOT_SEARCHABLE.contains(&name) {
            bail!(
                "`{name}` cannot be searched: tune sets {} itself (give --epochs in the train \
                 arguments for the full budget of a trial)",
                NOT_SEARCHABLE.map(|f| format!("--{f}")).join(", ")
            );
        }
        let values = parse_values(values).with_context(|| format!("search space: `{name}`"))?;
        Ok(Param {
            name: name.to_string(),
            values,
        })
    }

    /// Values that stand for the whole domain when checking that `train` takes them: every
    /// choice, a range's two ends.
    pub fn probes(&self) -> Vec<String> {
        match &self.values {
            Values::Choice(choices) => choices.clone(),
            Values::Uniform { low, high } | Values::LogUniform { low, high } => {
                vec![format_number(*low), format_number(*high)]
            }
        }
    }

    fn sample(&self, rng: &mut ChaCha12Rng) -> String {
        match &self.values {
            Values::Choice(choices) => choices[rng.random_range(0..choices.len())].clone(),
            Values::Uniform { low, high } => format_number(rng.random_range(*low..=*high)),
            Values::LogUniform { low, high } => {
                format_number(rng.random_range(low.ln()..=high.ln()).exp())
            }
        }
    }

    /// `value` (one of this parameter's) as TensorBoard's HParams plugin shows it: a number
    /// when the domain is numbers.
    pub fn hparam(&self, value: &str) -> HParam {
        match (self.domain(), value.parse::<f64>()) {
            (HParamDomain::Texts(_), _) | (_, Err(_)) => HParam::Text(value.to_string()),
            (_, Ok(number)) => HParam::Number(number),
        }
    }

    /// The domain as TensorBoard's HParams plugin shows it.
    pub fn domain(&self) -> HParamDomain {
        match &self.values {
            Values::Choice(choices) => match choices
                .iter()
                .map(|c| c.parse::<f64>())
                .collect::<Result<Vec<_>, _>>()
            {
                Ok(numbers) => HParamDomain::Numbers(numbers),
                Err(_) => HParamDomain::Texts(choices.clone()),
            },
            Values::Uniform { low, high } | Values::LogUniform { low, high } => {
                HParamDomain::Interval {
                    min: *low,
                    max: *high,
                }
            }
        }
    }
}

fn parse_values(text: &str) -> anyhow::Result<Values> {
    let text = text.trim();
    let range = |range: &str| -> anyhow::Result<Option<(f64, f64)>> {
        let Some((low, high)) = range.split_once("..") else {
            return Ok(None);
        };
        let number = |t: &str| {
            t.trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .with_context(|| format!("`{t}` in the range `{range}` is not a finite number"))
        };
        let (low, high) = (number(low)?, number(high)?);
        if low >= high {
            bail!("the range `{range}` is empty: its low end must be below its high end");
        }
        Ok(Some((low, high)))
    };
    if let Some(log_range) = text.strip_prefix("log:") {
        let Some((low, high)) = range(log_range)? else {
            bail!("`{text}`: a log-uniform range is log:LOW..HIGH");
        };
        if low <= 0.0 {
            bail!("the log-uniform range `{log_range}` must be of positive numbers");
        }
        return Ok(Values::LogUniform { low, high });
    }
    if let Some((low, high)) = range(text)? {
        return Ok(Values::Uniform { low, high });
    }
    let choices: Vec<String> = text
        .split('/')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect();
    if choices.is_empty() {
        bail!("no values to choose from; give A/B/…, LOW..HIGH or log:LOW..HIGH");
    }
    Ok(Values::Choice(choices))
}

/// Numbers as trials pass them to `train`: four significant digits.
fn format_number(value: f64) -> String {
    if value == 0.0 {
        return "0".into();
    }
    let magnitude = value.abs().log10().floor() as i32;
    if !(-4..6).contains(&magnitude) {
        return format!("{value:.3e}");
    }
    let decimals = (3 - magnitude).max(0) as usize;
    let text = format!("{value:.decimals$}");
    // 0.2000 → 0.2: the trailing zeros say nothing.
    match text.contains('.') {
        true => text.trim_end_matches('0').trim_end_matches('.').to_string(),
        false => text,
    }
}

/// The hyper-parameters searched, in a fixed order: the file's (by name), then the command
/// line's.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SearchSpace {
    pub params: Vec<Param>,
}

impl SearchSpace {
    /// The space of `--space FILE` and `--param`s; names may appear once.
    pub fn new(file: Option<&Path>, params: &[String]) -> anyhow::Result<Self> {
        let mut space = SearchSpace::default();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("--space: reading {}", path.display()))?;
            let entries: BTreeMap<String, serde_json::Value> = serde_json::from_str(&text)
                .with_context(|| {
                    format!(
                        "--space: {} is not a JSON object of parameters, e.g. {{\"lr\": \
                         \"log:1e-4..1e-1\", \"model\": [\"logistic\", \"mlp\"]}}",
                        path.display()
                    )
                })?;
            for (name, value) in entries {
                let values = match value {
                    serde_json::Value::String(values) => values,
                    serde_json::Value::Array(choices) => choices
                        .iter()
                        .map(|c| match c {
                            serde_json::Value::String(s) => Ok(s.clone()),
                            serde_json::Value::Number(n) => Ok(n.to_string()),
                            other => {
                                bail!("`{name}`: a choice must be a string or number, not {other}")
                            }
                        })
                        .collect::<anyhow::Result<Vec<_>>>()
                        .with_context(|| format!("--space {}", path.display()))?
                        .join("/"),
                    other => bail!(
                        "--space {}: `{name}` must be a string (\"log:1e-4..1e-1\", \"0..0.5\") \
                         or an array of choices, not {other}",
                        path.display()
                    ),
                };
                space.push(Param::new(&name, &values)?)?;
            }
        }
        for param in params {
            space.push(Param::parse(param)?)?;
        }
        if space.params.is_empty() {
            bail!(
                "nothing to search: give --param NAME=VALUES (e.g. --param lr=log:1e-4..1e-1) or \
                 --space FILE"
            );
        }
        Ok(space)
    }

    fn push(&mut self, param: Param) -> anyhow::Result<()> {
        if self.params.iter().any(|p| p.name == param.name) {
            bail!("the search space names `{}` twice", param.name);
        }
        self.params.push(param);
        Ok(())
    }

    /// `n` configurations drawn from `seed`: each the values of the parameters, in order.
    pub fn sample(&self, n: usize, seed: u64) -> Vec<Vec<String>> {
        let mut rng = ChaCha12Rng::seed_from_u64(seed);
        (0..n)
            .map(|_| self.params.iter().map(|p| p.sample(&mut rng)).collect())
            .collect()
    }

    /// A configuration as `train` flags: `--lr 0.001 --model mlp`.
    pub fn flags(&self, config: &[String]) -> Vec<String> {
        self.params
            .iter()
            .zip(config)
            .flat_map(|(param, value)| [format!("--{}", param.name), value.clone()])
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_as_choices_and_ranges() {
        assert_eq!(
            Param::parse("model=logistic/mlp").unwrap().values,
            Values::Choice(vec!["logistic".into(), "mlp".into()])
        );
        assert_eq!(
            Param::parse("hidden=64/256,128").unwrap().values,
            Values::Choice(vec!["64".into(), "256,128".into()])
        );
        assert_eq!(
            Param::parse("--lr=log:1e-4..1e-1").unwrap(),
            Param {
                name: "lr".into(),
                values: Values::LogUniform {
                    low: 1e-4,
                    high: 0.1
                }
            }
        );
        assert_eq!(
            Param::parse("dropout=0..0.5").unwrap().values,
            Values::Uniform {
                low: 0.0,
                high: 0.5
            }
        );
    }

    #[test]
    fn bad_spaces_are_errors_naming_what_is_wrong() {
        let error = |text: &str| format!("{:#}", Param::parse(text).unwrap_err());
        assert!(
            error("lr=0.1..0.01").contains("empty"),
            "{}",
            error("lr=0.1..0.01")
        );
        assert!(error("lr=log:0..1").contains("positive"));
        assert!(error("lr=log:1e-3").contains("log:LOW..HIGH"));
        assert!(error("dropout=a..b").contains("not a finite number"));
        assert!(error("model=/").contains("no values"));
        assert!(error("epochs=1/2").contains("cannot be searched"));
        assert!(error("lr").contains("NAME=VALUES"));
        let twice = SearchSpace::new(None, &["lr=1/2".into(), "lr=3/4".into()]).unwrap_err();
        assert!(twice.to_string().contains("twice"));
        assert!(
            SearchSpace::new(None, &[])
                .unwrap_err()
                .to_string()
                .contains("nothing to search")
        );
    }

    #[test]
    fn samples_are_seeded_and_within_their_domains() {
        let space = SearchSpace::new(
            None,
            &[
                "lr=log:1e-4..1e-1".into(),
                "dropout=0..0.5".into(),
                "model=logistic/mlp".into(),
            ],
        )
        .unwrap();
        let configs = space.sample(50, 7);
        assert_eq!(configs, space.sample(50, 7));
        assert_ne!(configs, space.sample(50, 8));
        for config in &configs {
            let lr: f64 = config[0].parse().unwrap();
            let dropout: f64 = config[1].parse().unwrap();
            assert!((1e-4..=0.1).contains(&lr), "{lr}");
            assert!((0.0..=0.5).contains(&dropout), "{dropout}");
            assert!(["logistic", "mlp"].contains(&config[2].as_str()));
        }
        // Log-uniform: as many draws below 1e-2.5 as above.
        let below = configs
            .iter()
            .filter(|c| c[0].parse::<f64>().unwrap() < 10f64.powf(-2.5))
            .count();
        assert!((15..=35).contains(&below), "{below} of 50");
        assert_eq!(
            space.flags(&configs[0])[..2],
            ["--lr".to_string(), configs[0][0].clone()]
        );
    }

    #[test]
    fn numbers_keep_four_significant_digits() {
        assert_eq!(format_number(0.00123456), "0.001235");
        assert_eq!(format_number(0.2), "0.2");
        assert_eq!(format_number(123.456), "123.5");
        assert_eq!(format_number(2e-7), "2.000e-7");
    }
}

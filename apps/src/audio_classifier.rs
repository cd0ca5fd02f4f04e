//! `audio-classifier`: logistic regression, an MLP or a CNN on MFCCs of WAV recordings, with
//! labels from file names (FSDD's `{digit}_{speaker}_{index}.wav`) or folders; `train`,
//! `evaluate` and `predict`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::bail;
use clap::{Args, ValueEnum};
use zoo_models::prelude::*;

use crate::app::{self, App, ModelChoice, Prepared};
use crate::audio::clips::{
    ClipInput, ClipRows, ClipShaping, CoefficientStats, LabelSource, Recording, StoredClip,
    cache_dir, extract_all, list_recordings,
};
use crate::audio::mfcc::MfccConfig;
use crate::audio::preprocessing::{AudioPreprocessing, TestSplit};
use crate::cli::{absolute, data_dir};
use crate::error::LoadError;
use crate::predictor::{Predictor, ranked_line};
use crate::saved;
use crate::split::{DataSplit, ExampleId};

pub use crate::app::run;

/// The audio classifier, as an [`App`].
#[derive(Debug)]
pub struct AudioClassifier;

pub const APP: &str = AudioPreprocessing::APP;
pub type Cli = app::Cli<AudioClassifier>;
pub type Command = app::Command<AudioClassifier>;
pub type PredictCommand = app::PredictCommand<AudioClassifier>;
pub type SavedModel = saved::SavedModel<AudioPreprocessing>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AudioModel {
    Logistic,
    Mlp,
    Cnn,
}

impl AudioModel {
    pub fn name(self) -> &'static str {
        match self {
            AudioModel::Logistic => "logistic",
            AudioModel::Mlp => "mlp",
            AudioModel::Cnn => "cnn",
        }
    }

    /// Training defaults, chosen on FSDD (see the README).
    pub fn fit_defaults(self) -> FitConfig {
        let adam = FitConfig::new()
            .with_batch_size(32)
            .with_learning_rate(1e-3);
        match self {
            // Convex: L-BFGS until converged, with scikit-learn's default penalty (C = 1).
            AudioModel::Logistic => FitConfig::lbfgs_until_converged().with_penalty_c(Some(1.0)),
            AudioModel::Mlp => adam.with_epochs(30),
            AudioModel::Cnn => adam.with_epochs(20),
        }
    }
}

/// The MFCC front end and clip shape.
#[derive(Args, Debug, Clone)]
pub struct FeatureArgs {
    /// Audio is resampled to this rate (Hz) before feature extraction.
    #[arg(long, default_value_t = 8000)]
    pub sample_rate: u32,
    #[arg(long, default_value_t = 13)]
    pub n_mfcc: usize,
    /// Mel filters.
    #[arg(long, default_value_t = 26)]
    pub n_filters: usize,
    /// Append first-order deltas to the coefficients.
    #[arg(long)]
    pub deltas: bool,
    /// Frames per clip (10 ms each): longer clips are cropped at the end, shorter ones padded.
    #[arg(long, default_value_t = 80)]
    pub max_frames: usize,
    /// What the logistic and MLP models see: the flattened matrix, or per-coefficient mean and
    /// standard deviation [default: matrix]. The CNN always sees the matrix.
    #[arg(long, value_enum, default_value_t = ClipInput::Matrix)]
    pub input: ClipInput,
}

impl FeatureArgs {
    fn mfcc(&self) -> MfccConfig {
        MfccConfig {
            sample_rate: self.sample_rate,
            n_mfcc: self.n_mfcc,
            n_filters: self.n_filters,
            deltas: self.deltas,
            ..MfccConfig::default()
        }
    }
}

/// `train`'s own arguments.
#[derive(Args, Debug)]
pub struct AppTrainArgs {
    #[arg(long, value_enum, default_value_t = AudioModel::Cnn)]
    pub model: AudioModel,
    /// A folder of WAV files [default: the bundled Free Spoken Digit Dataset].
    #[arg(long)]
    pub data: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = LabelSource::Prefix)]
    pub labels: LabelSource,
    /// Hold out this stratified fraction for testing [default: FSDD's official split for the
    /// bundled FSDD; else 0.2].
    #[arg(long)]
    pub test_split: Option<f64>,
    /// Test on FSDD's official split, takes 0–4 of each speaker and digit, as with the
    /// bundled FSDD: for a copy of FSDD or recordings named as its are
    /// (`{digit}_{speaker}_{take}.wav`).
    #[arg(long, conflicts_with = "test_split")]
    pub official_split: bool,
    /// Skip unreadable files with a warning instead of stopping.
    #[arg(long)]
    pub skip_bad: bool,
    #[command(flatten)]
    pub features: FeatureArgs,
    /// Widths of the MLP's hidden layers.
    #[arg(long, value_delimiter = ',', default_value = "256,128")]
    pub hidden: Vec<usize>,
    /// Output channels of the CNN's conv blocks.
    #[arg(long, value_delimiter = ',', default_value = "16,32")]
    pub conv_channels: Vec<usize>,
    /// Dropout before the output layer of the MLP and the CNN.
    #[arg(long, default_value_t = 0.3)]
    pub dropout: f64,
}

/// `evaluate`'s own arguments.
#[derive(Args, Debug)]
pub struct AppEvaluateArgs {
    /// Test on every WAV file of this folder instead of the training run's test set.
    #[arg(long)]
    pub data: Option<PathBuf>,
}

/// `predict`'s own arguments.
#[derive(Args, Debug)]
pub struct AppPredictArgs {
    /// How many of the most probable classes to print per file.
    #[arg(long, default_value_t = 3)]
    pub top: usize,
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// Recordings with their MFCCs.
type LabelledClips = Vec<(Recording, StoredClip)>;

/// Recordings with their clips; unreadable files are an error, or with `skip_bad` a warning.
fn load_clips(
    recordings: Vec<Recording>,
    mfcc: &MfccConfig,
    skip_bad: bool,
    quiet: bool,
) -> anyhow::Result<LabelledClips> {
    let start = std::time::Instant::now();
    let cache = cache_dir();
    let extracted = extract_all(&recordings, mfcc, cache.as_deref());
    if let Some(first) = extracted.failed.first() {
        if !skip_bad {
            bail!("{first} (--skip-bad skips unreadable files)");
        }
        eprintln!(
            "warning: skipped {} unreadable file(s), the first: {first}",
            extracted.failed.len()
        );
    }
    if !quiet {
        eprintln!(
            "MFCCs of {} files in {:.1}s ({} from the cache)",
            extracted.clips.len(),
            start.elapsed().as_secs_f64(),
            extracted.from_cache
        );
    }
    Ok(extracted
        .clips
        .into_iter()
        .map(|(i, clip)| (recordings[i].clone(), clip))
        .collect())
}

fn split_clips(
    clips: LabelledClips,
    split: &TestSplit,
    classes: &[String],
    dir: &Path,
) -> anyhow::Result<(LabelledClips, LabelledClips)> {
    match split {
        TestSplit::Official => Ok(clips
            .into_iter()
            .partition(|(r, _)| r.take.is_some_and(|t| t >= 5))),
        TestSplit::Stratified { fraction, seed } => {
            let targets = TargetData::Classes {
                labels: labels_of(&clips, classes)?,
                n_classes: classes.len(),
            };
            let (train, test) = targets
                .train_test_indices(*fraction, *seed)
                .map_err(|e| LoadError::new(dir, e.to_string()))?;
            let pick =
                |indices: Vec<usize>| indices.into_iter().map(|i| clips[i].clone()).collect();
            Ok((pick(train), pick(test)))
        }
    }
}

fn labels_of(clips: &[(Recording, StoredClip)], classes: &[String]) -> anyhow::Result<Vec<usize>> {
    clips
        .iter()
        .map(|(r, _)| {
            classes.iter().position(|c| *c == r.label).ok_or_else(|| {
                LoadError::new(
                    &r.path,
                    format!(
                        "unknown label `{}` (the model knows {})",
                        r.label,
                        classes.join(", ")
                    ),
                )
                .into()
            })
        })
        .collect()
}

/// The clips as examples whose rows are shaped per batch.
fn examples(
    clips: &[(Recording, StoredClip)],
    shaping: &ClipShaping,
    classes: &[String],
) -> anyhow::Result<ExampleSet> {
    let targets = TargetData::Classes {
        labels: labels_of(clips, classes)?,
        n_classes: classes.len(),
    };
    let rows = ClipRows {
        clips: clips.iter().map(|(_, clip)| clip.clone()).collect(),
        shaping: shaping.clone(),
    };
    Ok(ExampleSet::new(Arc::new(rows), targets)?)
}

/// The bundled recordings: the Free Spoken Digit Dataset.
fn bundled_recordings() -> PathBuf {
    data_dir().join("fsdd/recordings")
}

/// Which recordings of `dir` test the model: FSDD's official split for the bundled FSDD or
/// with `--official-split` (which then needs FSDD's names), else a stratified share. A
/// user's folder whose names merely look like FSDD's gets the stratified share: its takes
/// need not mean what FSDD's do.
fn test_split(
    args: &AppTrainArgs,
    dir: &Path,
    recordings: &[Recording],
    seed: u64,
) -> anyhow::Result<TestSplit> {
    let bundled = absolute(dir) == absolute(&bundled_recordings());
    match args.test_split {
        Some(fraction) => Ok(TestSplit::Stratified { fraction, seed }),
        None if args.official_split || bundled => {
            match recordings.iter().find(|r| r.take.is_none()) {
                Some(other) => Err(LoadError::new(
                    &other.path,
                    "not named as FSDD's recordings are ({digit}_{speaker}_{take}.wav), so \
                     FSDD's official split cannot take it apart; use --test-split",
                )
                .into()),
                None => Ok(TestSplit::Official),
            }
        }
        None => Ok(TestSplit::Stratified {
            fraction: 0.2,
            seed,
        }),
    }
}

impl App for AudioClassifier {
    const NAME: &'static str = APP;
    const ABOUT: &'static str =
        "Classify WAV recordings from their MFCCs (spoken digits by default)";
    const PREDICT_ABOUT: &'static str = "Classify WAV files";
    type TrainArgs = AppTrainArgs;
    type EvaluateArgs = AppEvaluateArgs;
    type PredictArgs = AppPredictArgs;
    type Preprocessing = AudioPreprocessing;
    type Notes = ();

    fn model(args: &AppTrainArgs) -> anyhow::Result<ModelChoice> {
        args.features
            .mfcc()
            .validate()
            .map_err(anyhow::Error::msg)?;
        if args.features.max_frames == 0 {
            bail!("--max-frames must be at least 1");
        }
        Ok(ModelChoice {
            name: args.model.name(),
            fit_defaults: args.model.fit_defaults(),
        })
    }

    fn prepare(
        command: &AppTrainArgs,
        fit_config: &FitConfig,
        seed: u64,
    ) -> anyhow::Result<Prepared<Self>> {
        let mfcc = command.features.mfcc();
        let dir = command.data.clone().unwrap_or_else(bundled_recordings);
        let recordings = list_recordings(&dir, command.labels)?;
        let split = test_split(command, &dir, &recordings, seed)?;
        let clips = load_clips(recordings, &mfcc, command.skip_bad, !fit_config.progress)?;
        let mut classes: Vec<String> = clips.iter().map(|(r, _)| r.label.clone()).collect();
        classes.sort();
        classes.dedup();
        if classes.len() < 2 {
            return Err(LoadError::new(&dir, "needs recordings of at least two labels").into());
        }
        let (train_clips, test_clips) = split_clips(clips, &split, &classes, &dir)?;
        if train_clips.is_empty() || test_clips.is_empty() {
            return Err(
                LoadError::new(&dir, "the split leaves no training or no test recordings").into(),
            );
        }
        let input = if command.model == AudioModel::Cnn {
            ClipInput::Matrix
        } else {
            command.features.input
        };
        let shaping = ClipShaping {
            input,
            max_frames: command.features.max_frames,
            stats: CoefficientStats::fit(
                &train_clips
                    .iter()
                    .map(|(_, c)| c.clone())
                    .collect::<Vec<_>>(),
            )?,
        };
        // Each recording by its file, relative to the data folder.
        let ids = |clips: &LabelledClips| -> Vec<ExampleId> {
            clips
                .iter()
                .map(|(r, _)| ExampleId::File(r.path.strip_prefix(&dir).unwrap_or(&r.path).into()))
                .collect()
        };
        let data_split = DataSplit::new(
            examples(&train_clips, &shaping, &classes)?,
            ids(&train_clips),
            examples(&test_clips, &shaping, &classes)?,
            ids(&test_clips),
            fit_config,
            &classes,
        )?;

        let task = Task::classification(classes.len());
        let config = match command.model {
            AudioModel::Logistic => ModelConfig::Logistic(LogisticRegressionConfig::new(
                shaping.width(),
                task.prediction_width(),
            )),
            AudioModel::Mlp => ModelConfig::Mlp(
                MlpConfig::new(shaping.width(), command.hidden.clone(), task.output_width())
                    .with_dropout(command.dropout),
            ),
            AudioModel::Cnn => ModelConfig::Cnn(
                SmallCnnConfig::new(
                    1,
                    mfcc.width(),
                    command.features.max_frames,
                    task.output_width(),
                )
                .with_conv_channels(command.conv_channels.clone())
                .with_dropout(command.dropout),
            ),
        };
        Ok(Prepared {
            split: data_split,
            model: config,
            task,
            details: format!(", {} classes", classes.len()),
            class_names: classes,
            preprocessing: AudioPreprocessing {
                mfcc,
                shaping,
                data: absolute(&dir),
                labels: command.labels,
                test: split,
                skip_bad: command.skip_bad,
            },
            examples: "recordings",
            notes: (),
        })
    }

    fn test_set(
        saved: &SavedModel,
        args: &AppEvaluateArgs,
        _seed: u64,
    ) -> anyhow::Result<ExampleSet> {
        let p = &saved.preprocessing;
        let classes = &saved.manifest.class_names;
        let test = match &args.data {
            Some(dir) => load_clips(list_recordings(dir, p.labels)?, &p.mfcc, p.skip_bad, true)?,
            None => {
                let clips = load_clips(
                    list_recordings(&p.data, p.labels)?,
                    &p.mfcc,
                    p.skip_bad,
                    true,
                )?;
                split_clips(clips, &p.test, classes, &p.data)?.1
            }
        };
        examples(&test, &p.shaping, classes)
    }

    fn predict(command: &PredictCommand) -> anyhow::Result<Vec<String>> {
        Ok(command
            .app
            .files
            .iter()
            .zip(predict_files(command)?)
            .map(|(file, top)| ranked_line(&file.display().to_string(), &top))
            .collect())
    }
}

/// For each file, the most probable classes with their probabilities, most probable first.
pub fn predict_files(command: &PredictCommand) -> anyhow::Result<Vec<Vec<(String, f32)>>> {
    let predictor = Predictor::from(command.saved.load::<AudioPreprocessing>(APP)?);
    let inputs = command
        .app
        .files
        .iter()
        .map(|file| predictor.preprocessing.prepare_file(file))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(predictor
        .predict(&inputs)?
        .into_iter()
        .map(|output| output.top(command.app.top).into_classes())
        .collect())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn train_args(args: &[&str]) -> AppTrainArgs {
        let Command::Train(command) =
            Cli::parse_from(["audio-classifier", "train"].iter().chain(args)).command
        else {
            unreachable!()
        };
        command.app
    }

    fn recordings(names: &[&str]) -> Vec<Recording> {
        names
            .iter()
            .map(|name| Recording {
                path: PathBuf::from(name),
                label: name[..1].to_string(),
                take: name[..name.len() - 4]
                    .rsplit('_')
                    .next()
                    .unwrap()
                    .parse()
                    .ok(),
            })
            .collect()
    }

    #[test]
    fn only_the_bundled_fsdd_or_the_flag_takes_the_official_split() {
        let fsdd_like = recordings(&["0_ann_0.wav", "0_ann_7.wav", "1_bob_3.wav", "1_bob_9.wav"]);
        let user_dir = Path::new("/home/user/digits");
        let stratified = TestSplit::Stratified {
            fraction: 0.2,
            seed: 42,
        };
        // A user's folder with FSDD-like names: the ordinary stratified split.
        let split = test_split(&train_args(&[]), user_dir, &fsdd_like, 42).unwrap();
        assert_eq!(split, stratified);
        // Asked for.
        let official = train_args(&["--official-split"]);
        let split = test_split(&official, user_dir, &fsdd_like, 42).unwrap();
        assert_eq!(split, TestSplit::Official);
        // The bundled data, by default.
        let split = test_split(&train_args(&[]), &bundled_recordings(), &fsdd_like, 42).unwrap();
        assert_eq!(split, TestSplit::Official);
        // --test-split wins; other names cannot take the official split.
        let fraction = train_args(&["--test-split", "0.3"]);
        let split = test_split(&fraction, &bundled_recordings(), &fsdd_like, 42).unwrap();
        assert_eq!(
            split,
            TestSplit::Stratified {
                fraction: 0.3,
                seed: 42
            }
        );
        let other = recordings(&["0_ann_0.wav", "1_bob.wav"]);
        let err = test_split(&official, user_dir, &other, 42).unwrap_err();
        assert!(
            err.to_string().contains("1_bob.wav: not named as FSDD's"),
            "{err}"
        );
    }
}

//! Recordings on disk to MFCC clips: listing and labelling the files, extracting features in
//! parallel with a per-file cache, and shaping clips into fixed-size model inputs. With a cache,
//! a clip stays on disk once extracted and is read again per batch ([`ClipRows`]).

use std::borrow::Cow;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use zoo_models::data::{DataError, Inputs};
use zoo_models::dataset::FeatureSource;
use zoo_models::prelude::Device;

use super::mfcc::{MfccConfig, mfcc};
use super::resample::resample;
use super::wav::{Audio, read_wav, read_wav_bytes};
use crate::error::LoadError;

/// Where a recording's label comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LabelSource {
    /// The file name up to the first `_`, as in FSDD's `{digit}_{speaker}_{index}.wav`.
    Prefix,
    /// The name of the folder holding the file (`DIR/<label>/*.wav`).
    Folder,
}

/// One labelled WAV file.
#[derive(Clone, Debug, PartialEq)]
pub struct Recording {
    pub path: PathBuf,
    pub label: String,
    /// The trailing number of an FSDD-style name (`7_jackson_32.wav` → 32).
    pub take: Option<u32>,
}

fn wav_files(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| LoadError::new(dir, format!("cannot read the folder: {e}")))?;
    for entry in entries {
        let path = entry
            .map_err(|e| LoadError::new(dir, e.to_string()))?
            .path();
        if path.is_dir() {
            wav_files(&path, files)?;
        } else if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("wav"))
        {
            files.push(path);
        }
    }
    Ok(())
}

/// The WAV files under `dir` (recursively), sorted, with their labels.
pub fn list_recordings(dir: &Path, labels: LabelSource) -> Result<Vec<Recording>, LoadError> {
    let mut files = Vec::new();
    wav_files(dir, &mut files)?;
    files.sort();
    if files.is_empty() {
        return Err(LoadError::new(dir, "no .wav files in this folder"));
    }
    files
        .into_iter()
        .map(|path| {
            let stem = path
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let label = match labels {
                LabelSource::Prefix => stem
                    .split_once('_')
                    .map(|(label, _)| label.to_string())
                    .ok_or_else(|| {
                        LoadError::new(
                            &path,
                            "no label in the name: expected LABEL_…wav (or use --labels folder)",
                        )
                    })?,
                LabelSource::Folder => path
                    .parent()
                    .and_then(Path::file_name)
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            };
            let take = stem
                .rsplit('_')
                .next()
                .and_then(|t| t.parse().ok())
                .filter(|_| stem.matches('_').count() == 2);
            Ok(Recording { path, label, take })
        })
        .collect()
}

/// The MFCCs of one clip: `frames` rows of `MfccConfig::width` values.
pub type Clip = Vec<Vec<f32>>;

/// Reads, resamples and featurises one file.
pub fn extract(path: &Path, config: &MfccConfig) -> Result<Clip, LoadError> {
    clip_of(read_wav(path)?, path, config)
}

/// [`extract`] for a WAV file already in memory; `name` is the path its errors show.
pub fn extract_bytes(name: &Path, bytes: &[u8], config: &MfccConfig) -> Result<Clip, LoadError> {
    clip_of(read_wav_bytes(name, bytes)?, name, config)
}

/// Resamples and featurises audio read from `path`.
fn clip_of(audio: Audio, path: &Path, config: &MfccConfig) -> Result<Clip, LoadError> {
    let samples = resample(&audio.samples, audio.sample_rate, config.sample_rate);
    if samples.is_empty() {
        return Err(LoadError::new(path, "no audio samples"));
    }
    Ok(mfcc(&samples, config))
}

/// The cache folder: `BURN_ZOO_CACHE`, else `$XDG_CACHE_HOME/burn-zoo`, else
/// `~/.cache/burn-zoo`; none when no home is known.
pub fn cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("BURN_ZOO_CACHE")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
                .map(|c| c.join("burn-zoo"))
        })?;
    Some(base.join("mfcc"))
}

/// The cache file of `path` under `config`: a hash of the file's identity (absolute path, size,
/// modification time) and of the parameters, so a changed file or setting misses the cache.
fn cache_file(cache: &Path, path: &Path, config: &MfccConfig) -> Option<PathBuf> {
    let metadata = std::fs::metadata(path).ok()?;
    let mut hasher = std::hash::DefaultHasher::new();
    path.canonicalize().ok()?.hash(&mut hasher);
    metadata.len().hash(&mut hasher);
    metadata.modified().ok()?.hash(&mut hasher);
    serde_json::to_string(config).ok()?.hash(&mut hasher);
    Some(cache.join(format!("{:016x}.mfcc", hasher.finish())))
}

fn read_cached(file: &Path, width: usize) -> Option<Clip> {
    let bytes = std::fs::read(file).ok()?;
    let values: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    (values.len().is_multiple_of(width) && !values.is_empty())
        .then(|| values.chunks(width).map(<[f32]>::to_vec).collect())
}

/// Whether the clip could be written (a cache that cannot be written only costs time).
fn write_cached(file: &Path, clip: &Clip) -> bool {
    let bytes: Vec<u8> = clip
        .iter()
        .flatten()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    zoo_models::store::write_atomic(file, &bytes).is_ok()
}

/// A clip's MFCCs: in memory, or in the cache file they were written to.
#[derive(Clone, Debug, PartialEq)]
pub enum StoredClip {
    InMemory(Arc<Clip>),
    Cached { file: PathBuf, width: usize },
}

impl StoredClip {
    /// The clip, read from its cache file when it is there.
    pub fn load(&self) -> Result<Cow<'_, Clip>, LoadError> {
        match self {
            StoredClip::InMemory(clip) => Ok(Cow::Borrowed(clip)),
            StoredClip::Cached { file, width } => {
                read_cached(file, *width).map(Cow::Owned).ok_or_else(|| {
                    LoadError::new(
                        file,
                        "this MFCC cache file went missing or was damaged during the run; run \
                         again to extract it anew",
                    )
                })
            }
        }
    }
}

/// What extraction did: the clips of the readable files, and the unreadable ones.
pub struct Extracted {
    /// One clip per recording that could be read, in order, with the recording's index.
    pub clips: Vec<(usize, StoredClip)>,
    pub failed: Vec<LoadError>,
    pub from_cache: usize,
}

/// Extracts every recording in parallel, through the cache when there is one. Clips in the
/// cache are not kept in memory.
pub fn extract_all(
    recordings: &[Recording],
    config: &MfccConfig,
    cache: Option<&Path>,
) -> Extracted {
    let width = config.width();
    let results: Vec<(usize, Result<StoredClip, LoadError>, bool)> = recordings
        .par_iter()
        .enumerate()
        .map(|(i, recording)| {
            let cached_file = cache.and_then(|c| cache_file(c, &recording.path, config));
            if let Some(file) = cached_file.as_deref()
                && read_cached(file, width).is_some()
            {
                let file = file.to_path_buf();
                return (i, Ok(StoredClip::Cached { file, width }), true);
            }
            let stored = extract(&recording.path, config).map(|clip| match &cached_file {
                Some(file) if write_cached(file, &clip) => StoredClip::Cached {
                    file: file.clone(),
                    width,
                },
                _ => StoredClip::InMemory(Arc::new(clip)),
            });
            (i, stored, false)
        })
        .collect();
    let mut extracted = Extracted {
        clips: Vec::new(),
        failed: Vec::new(),
        from_cache: 0,
    };
    for (i, clip, cached) in results {
        extracted.from_cache += usize::from(cached);
        match clip {
            Ok(clip) => extracted.clips.push((i, clip)),
            Err(e) => extracted.failed.push(e),
        }
    }
    extracted
}

/// Per-coefficient mean and standard deviation over all frames of the training clips.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CoefficientStats {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl CoefficientStats {
    /// In two passes over the clips (each read twice from the cache), every sum in the order of
    /// the frames.
    pub fn fit(clips: &[StoredClip]) -> Result<Self, LoadError> {
        let mut sums: Vec<f64> = Vec::new();
        let mut n = 0usize;
        for clip in clips {
            for frame in clip.load()?.iter() {
                sums.resize(frame.len(), 0.0);
                sums.iter_mut()
                    .zip(frame)
                    .for_each(|(s, &v)| *s += v as f64);
                n += 1;
            }
        }
        let mean: Vec<f64> = sums.iter().map(|s| s / n as f64).collect();
        let mut squares = vec![0.0f64; mean.len()];
        for clip in clips {
            for frame in clip.load()?.iter() {
                squares
                    .iter_mut()
                    .zip(frame.iter().zip(&mean))
                    .for_each(|(q, (&v, m))| *q += (v as f64 - m).powi(2));
            }
        }
        let std = squares
            .iter()
            .map(|q| {
                let var = q / n as f64;
                if var > 1e-12 { var.sqrt() as f32 } else { 1.0 }
            })
            .collect();
        Ok(Self {
            mean: mean.iter().map(|&m| m as f32).collect(),
            std,
        })
    }
}

/// How a clip becomes one row of model input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ClipInput {
    /// The normalised coefficients × frames matrix, padded with zeros (the mean) or cropped at
    /// the end to a fixed number of frames: what the CNN sees as a 1 × coefficients × frames
    /// image, and the other models flattened.
    Matrix,
    /// Mean and standard deviation of each normalised coefficient over the clip's frames.
    Stats,
}

/// Everything needed to turn a clip into a row, as saved in `model.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClipShaping {
    pub input: ClipInput,
    pub max_frames: usize,
    pub stats: CoefficientStats,
}

impl ClipShaping {
    pub fn width(&self) -> usize {
        match self.input {
            ClipInput::Matrix => self.stats.mean.len() * self.max_frames,
            ClipInput::Stats => 2 * self.stats.mean.len(),
        }
    }

    pub fn row(&self, clip: &Clip) -> Vec<f32> {
        let n = self.stats.mean.len();
        let normalised = |f: &Vec<f32>, c: usize| (f[c] - self.stats.mean[c]) / self.stats.std[c];
        match self.input {
            // Coefficient-major: row c holds coefficient c over time, so the CNN's height is the
            // coefficient and its width the frame.
            ClipInput::Matrix => (0..n)
                .flat_map(|c| {
                    (0..self.max_frames).map(move |t| clip.get(t).map_or(0.0, |f| normalised(f, c)))
                })
                .collect(),
            ClipInput::Stats => {
                let frames = clip.len() as f32;
                let means: Vec<f32> = (0..n)
                    .map(|c| clip.iter().map(|f| normalised(f, c)).sum::<f32>() / frames)
                    .collect();
                let stds = (0..n).map(|c| {
                    (clip
                        .iter()
                        .map(|f| (normalised(f, c) - means[c]).powi(2))
                        .sum::<f32>()
                        / frames)
                        .sqrt()
                });
                means.clone().into_iter().chain(stds).collect()
            }
        }
    }
}

/// Clips whose model inputs are shaped when a batch asks for them, read from the cache.
pub struct ClipRows {
    pub clips: Vec<StoredClip>,
    pub shaping: ClipShaping,
}

impl FeatureSource for ClipRows {
    fn len(&self) -> usize {
        self.clips.len()
    }

    fn n_features(&self) -> usize {
        self.shaping.width()
    }

    fn device_bytes(&self) -> Option<usize> {
        Some(self.len() * self.n_features() * size_of::<f32>())
    }

    fn inputs(&self, indices: &[usize], device: &Device) -> Result<Inputs, DataError> {
        let rows: Vec<Vec<f32>> = indices
            .par_iter()
            .map(|&i| self.clips[i].load().map(|clip| self.shaping.row(&clip)))
            .collect::<Result<_, _>>()
            .map_err(|e| DataError::Source(e.to_string()))?;
        Ok(Inputs::dense(rows.concat(), self.n_features(), device))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_come_from_names_or_folders() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("yes")).unwrap();
        for name in ["7_jackson_32.wav", "yes/a.wav", "notes.txt"] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        let by_folder = list_recordings(&dir.path().join("yes"), LabelSource::Folder).unwrap();
        assert_eq!(by_folder[0].label, "yes");
        let err = list_recordings(dir.path(), LabelSource::Prefix).unwrap_err();
        assert!(
            err.path.ends_with("yes/a.wav") && err.message.contains("--labels folder"),
            "{err}"
        );
        std::fs::remove_file(dir.path().join("yes/a.wav")).unwrap();
        let by_prefix = list_recordings(dir.path(), LabelSource::Prefix).unwrap();
        assert_eq!(
            (by_prefix[0].label.as_str(), by_prefix[0].take),
            ("7", Some(32))
        );
    }

    #[test]
    fn a_second_extraction_reads_the_cache_and_a_new_setting_misses_it() {
        let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/fsdd/recordings");
        let recordings: Vec<Recording> = ["0_george_0.wav", "7_jackson_32.wav"]
            .iter()
            .map(|f| Recording {
                path: data.join(f),
                label: f[..1].to_string(),
                take: None,
            })
            .collect();
        let cache = tempfile::tempdir().unwrap();
        let config = MfccConfig::default();
        let first = extract_all(&recordings, &config, Some(cache.path()));
        assert_eq!((first.clips.len(), first.from_cache), (2, 0));
        let second = extract_all(&recordings, &config, Some(cache.path()));
        assert_eq!(second.from_cache, 2);
        let load = |e: &Extracted| -> Vec<Clip> {
            e.clips
                .iter()
                .map(|(_, c)| c.load().unwrap().into_owned())
                .collect()
        };
        assert!(matches!(first.clips[0].1, StoredClip::Cached { .. }));
        assert_eq!(
            load(&second),
            load(&first),
            "the cache returns what was computed"
        );
        let computed = extract(&recordings[1].path, &config).unwrap();
        assert_eq!(load(&first)[1], computed);
        let uncached = extract_all(&recordings, &config, None);
        assert_eq!(
            uncached.clips[1].1,
            StoredClip::InMemory(Arc::new(computed))
        );
        let with_deltas = MfccConfig {
            deltas: true,
            ..config
        };
        let third = extract_all(&recordings, &with_deltas, Some(cache.path()));
        assert_eq!(third.from_cache, 0);
        assert_eq!(third.clips[0].1.load().unwrap()[0].len(), 26);

        // A cache file that goes missing during the run is an error naming it.
        let StoredClip::Cached { file, .. } = &third.clips[0].1 else {
            unreachable!()
        };
        std::fs::remove_file(file).unwrap();
        let err = third.clips[0].1.load().unwrap_err();
        assert!(
            err.path == *file && err.message.contains("went missing"),
            "{err}"
        );
    }

    #[test]
    fn clips_become_fixed_size_rows() {
        let clip: Clip = vec![vec![1.0, 10.0], vec![3.0, 30.0]];
        let stats = CoefficientStats::fit(&[StoredClip::InMemory(Arc::new(clip.clone()))]).unwrap();
        assert_eq!(
            (stats.mean.clone(), stats.std.clone()),
            (vec![2.0, 20.0], vec![1.0, 10.0])
        );
        let matrix = ClipShaping {
            input: ClipInput::Matrix,
            max_frames: 3,
            stats: stats.clone(),
        };
        assert_eq!(
            matrix.row(&clip),
            [-1.0, 1.0, 0.0, -1.0, 1.0, 0.0],
            "padded with the mean"
        );
        let cropped = ClipShaping {
            max_frames: 1,
            ..matrix
        };
        assert_eq!(cropped.row(&clip), [-1.0, -1.0]);
        let pooled = ClipShaping {
            input: ClipInput::Stats,
            max_frames: 3,
            stats,
        };
        assert_eq!(pooled.row(&clip), [0.0, 0.0, 1.0, 1.0]);
    }
}

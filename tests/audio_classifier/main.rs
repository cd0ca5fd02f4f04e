//! The audio classifier end to end on a subset of the Free Spoken Digit Dataset: short runs beat
//! chance, a saved model predicts the same on every backend, and a recording converted to
//! another rate, width and channel count is still recognised.

use std::path::{Path, PathBuf};

use clap::Parser;
use zoo_apps::app::train;
use zoo_apps::audio::resample::resample;
use zoo_apps::audio::wav::read_wav;
use zoo_apps::audio_classifier::{Cli, Command, predict_files};
use zoo_apps::test_metrics::TestMetrics;
use zoo_models::backend::BackendKind;
use zoo_tests::{exclusive_rng, wgpu_device};

/// Links the FSDD recordings with takes below `takes` into `dir`: 60 per take, of which takes
/// 0–4 are the official test set.
fn fsdd_subset(dir: &Path, takes: u32) {
    let source = zoo_apps::cli::data_dir().join("fsdd/recordings");
    for entry in std::fs::read_dir(&source).unwrap() {
        let path = entry.unwrap().path();
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let take: u32 = stem.rsplit('_').next().unwrap().parse().unwrap();
        if take < takes {
            std::os::unix::fs::symlink(&path, dir.join(path.file_name().unwrap())).unwrap();
        }
    }
}

fn command(args: &[&str]) -> Command {
    Cli::parse_from(std::iter::once("audio-classifier").chain(args.iter().copied())).command
}

fn train_run(args: &[&str]) -> TestMetrics {
    let Command::Train(command) = command(args) else {
        unreachable!()
    };
    let _rng = exclusive_rng();
    train(&command).unwrap().0.test
}

#[test]
fn short_runs_on_a_subset_beat_chance_widely() {
    let data = tempfile::tempdir().unwrap();
    fsdd_subset(data.path(), 15);
    for (model, epochs) in [("logistic", "20"), ("mlp", "20"), ("cnn", "8")] {
        let out = tempfile::tempdir().unwrap();
        let metrics = train_run(&[
            "train",
            "--model",
            model,
            "--data",
            data.path().to_str().unwrap(),
            "--official-split",
            "--epochs",
            epochs,
            "--quiet",
            "--out",
            out.path().to_str().unwrap(),
        ]);
        let TestMetrics::Classification {
            per_class,
            accuracy,
            ..
        } = &metrics
        else {
            unreachable!()
        };
        assert_eq!(
            per_class.iter().map(|c| c.support).sum::<usize>(),
            300,
            "official split: takes 0-4"
        );
        // Chance is 0.1.
        assert!(*accuracy >= 0.6, "{model}: {accuracy}");
    }
}

fn write_wav(path: &Path, samples: &[f32], rate: u32, channels: u16, bits: u16) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: bits,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec).unwrap();
    let full = (1i64 << (bits - 1)) as f32 - 1.0;
    for &s in samples {
        for _ in 0..channels {
            writer.write_sample((s * full) as i32).unwrap();
        }
    }
    writer.finalize().unwrap();
}

#[test]
fn a_saved_model_predicts_alike_on_every_backend_and_for_any_wav_layout() {
    let data = tempfile::tempdir().unwrap();
    fsdd_subset(data.path(), 12);
    let out = tempfile::tempdir().unwrap();
    let out_arg = out.path().to_str().unwrap();
    train_run(&[
        "train",
        "--model",
        "cnn",
        "--backend",
        "flex",
        "--data",
        data.path().to_str().unwrap(),
        "--epochs",
        "8",
        "--quiet",
        "--out",
        out_arg,
    ]);
    let files: Vec<PathBuf> = ["3_theo_0.wav", "8_lucas_2.wav", "5_jackson_4.wav"]
        .iter()
        .map(|f| data.path().join(f))
        .collect();
    let predict = |backend: BackendKind, files: &[PathBuf]| {
        let mut args = vec![
            "predict".to_string(),
            "--model-dir".into(),
            out_arg.into(),
            "--backend".into(),
            backend.name().into(),
        ];
        args.extend(files.iter().map(|f| f.display().to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let Command::Predict(predict) = command(&args) else {
            unreachable!()
        };
        predict_files(&predict).unwrap()
    };
    let reference = predict(BackendKind::Flex, &files);
    let mut backends: Vec<BackendKind> = zoo_tests::cpu_backends()
        .into_iter()
        .map(|(b, _)| b)
        .collect();
    if wgpu_device("audio predictions").is_some() {
        backends.push(BackendKind::Wgpu);
    }
    for backend in backends {
        for (ours, expected) in predict(backend, &files).iter().zip(&reference) {
            assert_eq!(ours[0].0, expected[0].0, "on {backend}");
            assert!(
                (ours[0].1 - expected[0].1).abs() < 1e-4,
                "on {backend}: {ours:?} vs {expected:?}"
            );
        }
    }

    // The same recordings as 22.05 kHz, 24-bit stereo files: resampled back to 8 kHz and
    // downmixed, they are recognised as the originals are.
    let converted: Vec<PathBuf> = files
        .iter()
        .map(|f| {
            let audio = read_wav(f).unwrap();
            let path = out
                .path()
                .join(format!("22k-{}", f.file_name().unwrap().to_string_lossy()));
            write_wav(&path, &resample(&audio.samples, 8000, 22050), 22050, 2, 24);
            path
        })
        .collect();
    // The probability of the original's top class moves by little: a few hundredths, where a
    // wrong rate or channel mix moves it by tenths (a class the model is unsure of may still
    // swap places with a close second).
    let again = predict(BackendKind::Flex, &converted);
    for (ours, expected) in again.iter().zip(&reference) {
        let (class, p) = &expected[0];
        let converted_p = ours
            .iter()
            .find(|(c, _)| c == class)
            .map_or(0.0, |(_, p)| *p);
        assert!((converted_p - p).abs() < 0.1, "{ours:?} vs {expected:?}");
    }
}

//! The audio classifier trained on recordings as a phone or a DAW writes them: 24-bit stereo
//! WAVs at 44.1 kHz, in class folders with spaces and non-ASCII letters in their names.

use std::path::Path;

use clap::Parser;
use zoo_apps::app::train;
use zoo_apps::audio::resample::resample;
use zoo_apps::audio::wav::read_wav;
use zoo_apps::audio_classifier::{Cli, Command};
use zoo_apps::test_metrics::TestMetrics;
use zoo_tests::exclusive_rng;

const NAMES: [&str; 10] = [
    "zéro", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
];

/// `path` as a 44.1 kHz 24-bit stereo WAV (the right channel at half the left's level).
fn write_studio_wav(path: &Path, samples: &[f32]) {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 44_100,
        bits_per_sample: 24,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec).unwrap();
    let full = ((1 << 23) - 1) as f32;
    for s in samples {
        writer.write_sample((s * full) as i32).unwrap();
        writer.write_sample((0.5 * s * full) as i32).unwrap();
    }
    writer.finalize().unwrap();
}

#[test]
fn studio_wavs_in_named_folders_train() {
    let data = tempfile::tempdir().unwrap();
    let source = zoo_apps::cli::data_dir().join("fsdd/recordings");
    // Two speakers' first 12 takes of every digit: 240 recordings, in folders named by digit.
    for (digit, name) in NAMES.iter().enumerate() {
        let dir = data.path().join(format!("digit {name}"));
        std::fs::create_dir_all(&dir).unwrap();
        for speaker in ["jackson", "nicolas"] {
            for take in 0..12 {
                let file = format!("{digit}_{speaker}_{take}.wav");
                let audio = read_wav(&source.join(&file)).unwrap();
                let upsampled = resample(&audio.samples, audio.sample_rate, 44_100);
                write_studio_wav(&dir.join(format!("{speaker} {take}.wav")), &upsampled);
            }
        }
    }
    let out = tempfile::tempdir().unwrap();
    let Command::Train(command) = Cli::parse_from([
        "audio-classifier",
        "train",
        "--model",
        "logistic",
        "--data",
        data.path().to_str().unwrap(),
        "--labels",
        "folder",
        "--quiet",
        "--out",
        out.path().to_str().unwrap(),
    ])
    .command
    else {
        unreachable!()
    };
    let metrics = {
        let _rng = exclusive_rng();
        train(&command).unwrap().0.test
    };
    let TestMetrics::Classification {
        accuracy,
        per_class,
        ..
    } = &metrics
    else {
        unreachable!()
    };
    assert_eq!(per_class.len(), 10);
    assert!(per_class[0].class == "digit eight", "{per_class:?}");
    assert_eq!(per_class.iter().map(|c| c.support).sum::<usize>(), 48);
    // Chance is 0.1.
    assert!(*accuracy >= 0.7, "{per_class:?}");
}

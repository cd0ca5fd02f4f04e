//! The `audio-classifier` binary on bad recordings: an error naming the file, or with
//! `--skip-bad` a warning and a model trained on the rest.

mod common;

use std::process::Command;

use common::tones;

fn run(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_audio-classifier"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn bad_recordings_stop_training_or_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    tones(dir.path());
    let valid = std::fs::read(dir.path().join("low_x_0.wav")).unwrap();
    let mut alaw = valid[..44].to_vec();
    alaw[20] = 6; // format tag 6: A-law
    alaw[34] = 8;
    alaw[32] = 1; // block align: one byte per sample
    alaw[28..32].copy_from_slice(&8000u32.to_le_bytes()); // byte rate
    alaw.extend_from_slice(&[0xd5; 64]);
    let len = (alaw.len() - 44) as u32;
    alaw[40..44].copy_from_slice(&len.to_le_bytes());
    let mut empty = valid[..44].to_vec();
    empty[40..44].copy_from_slice(&0u32.to_le_bytes());
    let cases: [(&str, &[u8], &str); 4] = [
        (
            "low_x_9.wav",
            b"plain text, not audio",
            "not a valid WAV file",
        ),
        ("low_x_18.wav", &valid[..30], "truncated"),
        ("low_x_17.wav", &empty, "no audio samples"),
        ("low_x_16.wav", &alaw, "unsupported WAV encoding"),
    ];
    let data = dir.path().to_str().unwrap();
    let out = dir.path().join("model");
    for (name, bytes, expected) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let output = run(&[
            "train",
            "--model",
            "logistic",
            "--data",
            data,
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(
            stderr.contains(&format!("{}: {expected}", path.display())),
            "{name}: {stderr}"
        );

        let output = run(&[
            "train",
            "--model",
            "logistic",
            "--data",
            data,
            "--skip-bad",
            "--epochs",
            "2",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{name}: {stderr}");
        assert!(
            stderr.contains("warning: skipped 1 unreadable file(s)"),
            "{name}: {stderr}"
        );
        std::fs::remove_file(&path).unwrap();
    }
}

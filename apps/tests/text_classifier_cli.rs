//! The `text-classifier` binary: bad input fails cleanly with the file and line named, and
//! `predict` reads standard input.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

fn run(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_text-classifier"))
        .args(args)
        .output()
        .unwrap()
}

fn fails(args: &[&str]) -> String {
    let output = run(args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
    assert!(
        stderr.starts_with("error: ") && !stderr.contains("panicked"),
        "{args:?}: {stderr}"
    );
    stderr
}

/// A small two-class TSV that trains in a moment.
fn corpus(path: &Path) {
    let mut tsv = String::new();
    for i in 0..20 {
        tsv += &format!("ham\tsee you at lunch today {i}\nspam\twin a free prize now {i}\n");
    }
    std::fs::write(path, tsv).unwrap();
}

#[test]
fn bad_files_are_reported_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("texts.tsv");
    let data = path.to_str().unwrap();
    let cases: [(&[u8], &[&str], &str); 5] = [
        (
            b"ham\thi\nspam\twin\textra\n",
            &[],
            "line 2: 3 fields where the rows before have 2",
        ),
        (b"ham\thi\nspam\t \n", &[], "line 2: empty text"),
        (b"ham\thi\nspam\t\xc3\x28\n", &[], "line 2: invalid UTF-8"),
        (
            b"ham\thi\n",
            &["--text-column", "4"],
            "there is no column 4",
        ),
        (
            b"ham\thi\n",
            &["--text-column", "body", "--no-header"],
            "column `body` is a name, but the file is read without a header",
        ),
    ];
    for (bytes, extra, expected) in cases {
        std::fs::write(&path, bytes).unwrap();
        let mut args = vec!["train", "--data", data, "--quiet"];
        args.extend_from_slice(extra);
        let stderr = fails(&args);
        assert!(
            stderr.contains(&format!("{data}: {expected}")),
            "{stderr} should say {expected:?}"
        );
    }
    let missing = dir.path().join("missing.tsv");
    let stderr = fails(&["train", "--data", missing.to_str().unwrap()]);
    assert!(stderr.contains("missing.tsv: cannot read"), "{stderr}");
}

#[test]
fn rare_and_test_only_labels_are_warnings_and_labels_a_model_lacks_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("texts.tsv");
    corpus(&data);
    let mut text = std::fs::read_to_string(&data).unwrap();
    text += "rare\tonly one of these\n";
    std::fs::write(&data, text).unwrap();
    let out = dir.path().join("model");
    let output = run(&[
        "train",
        "--data",
        data.to_str().unwrap(),
        "--min-df",
        "1",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning:") && stderr.contains("label `rare` occurs only once"),
        "{stderr}"
    );

    // A label only the test file has is counted as missed, with a warning.
    let test = dir.path().join("test.tsv");
    std::fs::write(&test, "ham\tlunch today\nother\tsomething\n").unwrap();
    let output = run(&[
        "train",
        "--data",
        data.to_str().unwrap(),
        "--test-data",
        test.to_str().unwrap(),
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning: the test set holds examples of `other` but training has none"),
        "{stderr}"
    );
    // A saved model cannot score a label it does not know.
    std::fs::write(&test, "ham\tlunch today\nanother\tsomething\n").unwrap();
    let stderr = fails(&[
        "evaluate",
        "--model-dir",
        out.to_str().unwrap(),
        "--data",
        test.to_str().unwrap(),
    ]);
    assert!(
        stderr.contains("test.tsv: line 2: unknown label `another`"),
        "{stderr}"
    );
}

#[test]
fn predict_classifies_each_line_of_standard_input() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("texts.tsv");
    corpus(&data);
    let out = dir.path().join("model");
    let output = run(&[
        "train",
        "--data",
        data.to_str().unwrap(),
        "--epochs",
        "30",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let mut child = Command::new(env!("CARGO_BIN_EXE_text-classifier"))
        .args(["predict", "--model-dir", out.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"free prize\nlunch today\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<Vec<&str>> = stdout.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert_eq!((lines[0][0], lines[0][2]), ("spam", "free prize"));
    assert_eq!((lines[1][0], lines[1][2]), ("ham", "lunch today"));
    let probability: f32 = lines[0][1].parse().unwrap();
    assert!((0.5..=1.0).contains(&probability), "{stdout}");
}

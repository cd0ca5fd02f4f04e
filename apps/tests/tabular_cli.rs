//! The `tabular` binary: bad tables fail with line and column, and `predict` reads rows from
//! standard input.

use std::io::Write;
use std::process::{Command, Stdio};

fn run(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tabular"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn bad_tables_name_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("table.csv");
    let data = path.to_str().unwrap();
    let cases: [(&str, &[&str], &str); 6] = [
        (
            "1,2,3\n4,five,6\n",
            &[],
            "line 2, column 1: `five` is not a number",
        ),
        ("1,2,3\n4,,6\n", &[], "line 2, column 1: missing value"),
        (
            "1,2,7\n4,3,7\n2,5,7\n3,1,7\n5,8,7\n",
            &[],
            "the target is constant in the training rows",
        ),
        ("1\n2\n3\n", &[], "every row holds a single field"),
        (
            "1,2,3\n4,5,6\n",
            &["--target", "3"],
            "column 3 is out of range: the rows have 3 columns",
        ),
        (
            "1,2,3\n4,5\n",
            &[],
            "line 2: 2 fields where 3 were expected",
        ),
    ];
    for (text, extra, expected) in cases {
        std::fs::write(&path, text).unwrap();
        let mut args = vec![
            "train",
            "--data",
            data,
            "--test-split",
            "0.4",
            "--quiet",
            "--out",
            dir.path().to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let output = run(&args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{text:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(
            stderr.contains(&format!("{data}: {expected}")),
            "{text:?}: {stderr}"
        );
    }
}

#[test]
fn predict_reads_rows_from_standard_input() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    let output = run(&[
        "train",
        "--dataset",
        "iris",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_tabular"))
        .args(["predict", "--model-dir", out.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A textbook setosa and virginica, comma- and space-separated.
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"5.1,3.5,1.4,0.2\n7.7 3.0 6.1 2.3\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let classes: Vec<&str> = stdout
        .lines()
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    assert_eq!(classes, ["setosa", "virginica"], "{stdout}");

    let bad = run(&[
        "predict",
        "--model-dir",
        out.to_str().unwrap(),
        "--data",
        "/no/such/rows.csv",
    ]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("/no/such/rows.csv: cannot read"));
}

#[test]
fn a_run_that_does_not_converge_in_its_budget_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    let train = |epochs: &str| {
        run(&[
            "train",
            "--dataset",
            "iris",
            "--epochs",
            epochs,
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ])
    };
    let short = train("2");
    let stderr = String::from_utf8_lossy(&short.stderr);
    assert!(short.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning: training did not converge within 2 epochs"),
        "{stderr}"
    );
    let enough = train("1000");
    let stderr = String::from_utf8_lossy(&enough.stderr);
    assert!(
        enough.status.success() && !stderr.contains("warning"),
        "{stderr}"
    );
}

#[test]
fn a_model_json_whose_preprocessing_does_not_fit_the_model_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let out = out.to_str().unwrap();
    let trained = run(&["train", "--dataset", "diabetes", "--quiet", "--out", out]);
    assert!(
        trained.status.success(),
        "{}",
        String::from_utf8_lossy(&trained.stderr)
    );
    let manifest = std::path::Path::new(out).join("model.json");
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    for scaling in ["mean", "std"] {
        json["preprocessing"]["features"][scaling]
            .as_array_mut()
            .unwrap()
            .pop();
    }
    std::fs::write(&manifest, serde_json::to_vec(&json).unwrap()).unwrap();
    let output = run(&["evaluate", "--model-dir", out]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&manifest.display().to_string()), "{stderr}");
    assert!(
        stderr.contains("the preprocessing makes 9 features but the model takes 10"),
        "{stderr}"
    );
}

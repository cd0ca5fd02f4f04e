//! `zoo-bench` measures every compiled backend and reports tables or JSON.

use std::process::Command;

fn zoo_bench(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_zoo-bench"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn zoo_bench_measures_each_case_on_each_usable_backend() {
    let output = zoo_bench(&[
        "--case",
        "linear-diabetes",
        "--case",
        "cnn-mfcc",
        "--rounds",
        "3",
        "--round-seconds",
        "0",
        "--warmup-steps",
        "1",
        "--json",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(report["threads"].as_u64().unwrap() >= 1);
    assert_eq!(report["zoo_kernels"], cfg!(feature = "flex"), "{report}");
    let results = report["results"].as_array().unwrap();
    let skipped = report["skipped"].as_array().unwrap().len();
    let compiled = zoo_models::backend::BackendKind::compiled().len();
    assert_eq!(results.len(), 2 * (compiled - skipped), "{report}");
    for result in results {
        let case = result["case"].as_str().unwrap();
        // Parameter counts by hand: 10 weights + 1 bias; the MFCC CNN of the audio app
        // (conv 1→16, 16→32; 13×80 → 6×40 → 3×20; dense 1920→128→10).
        let parameters = match case {
            "linear-diabetes" => 11,
            "cnn-mfcc" => (9 * 16 + 16) + (16 * 9 * 32 + 32) + (1920 * 128 + 128) + (128 * 10 + 10),
            other => panic!("unexpected case {other}"),
        };
        assert_eq!(result["parameters"], parameters, "{result}");
        for kind in ["train", "inference"] {
            let spread = &result[kind];
            let (min, median, max) = (
                spread["min"].as_f64().unwrap(),
                spread["median"].as_f64().unwrap(),
                spread["max"].as_f64().unwrap(),
            );
            assert!(0.0 < min && min <= median && median <= max, "{result}");
        }
        assert!(result["first_step_seconds"].as_f64().unwrap() > 0.0);
        if cfg!(target_os = "linux") {
            assert!(result["peak_memory_bytes"].as_u64().unwrap() > 1_000_000);
        }
    }

    let unknown = zoo_bench(&["--case", "resnet"]);
    assert_eq!(unknown.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(stderr.contains("no case `resnet`"), "{stderr}");
}

#[test]
fn zoo_bench_can_measure_burns_own_layers_instead_of_the_kernels() {
    let output = zoo_bench(&[
        "--backend",
        "flex",
        "--case",
        "cnn-mfcc",
        "--rounds",
        "1",
        "--round-seconds",
        "0",
        "--warmup-steps",
        "0",
        "--burn-layers",
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("CNN blocks on flex: Burn's layers"),
        "{stdout}"
    );
}

#[test]
fn zoo_bench_prints_a_table() {
    let output = zoo_bench(&[
        "--backend",
        "flex",
        "--case",
        "logistic-mnist",
        "--rounds",
        "1",
        "--round-seconds",
        "0",
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("CNN blocks on flex: zoo kernels"),
        "{stdout}"
    );
    let row = stdout
        .lines()
        .find(|l| l.starts_with("flex"))
        .expect("a row for flex");
    assert!(
        row.contains("logistic-mnist") && row.contains("7850"),
        "{row}"
    );
}

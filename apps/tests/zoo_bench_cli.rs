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
        // The roofline's operation counts, by hand: the linear model's 10 multiply-adds; the
        // CNN's conv 1→16 at 13×80, conv 16→32 at 6×40, dense 1920→128→10.
        let forward: f64 = match case {
            "linear-diabetes" => 10.0,
            _ => (16 * 9 * 13 * 80 + 32 * 16 * 9 * 6 * 40 + 1920 * 128 + 128 * 10) as f64,
        };
        let flops = &result["flops_per_sample"];
        assert_eq!(
            flops["inference"].as_f64().unwrap(),
            2.0 * forward,
            "{result}"
        );
        // Training adds the weight gradients (as much again) and the input gradients of every
        // layer but the first: none for the one-layer linear model.
        let (train, inference) = (
            flops["train"].as_f64().unwrap(),
            flops["inference"].as_f64().unwrap(),
        );
        match case {
            "linear-diabetes" => assert_eq!(train, 2.0 * inference, "{result}"),
            _ => assert!(train > 2.0 * inference, "{result}"),
        }
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
        stdout.contains("kernels on flex: Burn's layers"),
        "{stdout}"
    );
}

#[test]
fn the_environment_switches_the_kernels_off_for_the_whole_process() {
    let output = Command::new(env!("CARGO_BIN_EXE_zoo-bench"))
        .args(["--backend", "flex", "--case", "mlp-mnist", "--rounds", "1"])
        .args([
            "--round-seconds",
            "0",
            "--warmup-steps",
            "0",
            "--peak-size",
            "64",
        ])
        .env("BURN_ZOO_KERNELS", "off")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    // Without the variable the same command runs the kernels (`zoo_bench_prints_a_table`).
    assert!(
        stdout.contains("kernels on flex: Burn's layers"),
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
    assert!(stdout.contains("kernels on flex: zoo kernels"), "{stdout}");
    let row = stdout
        .lines()
        .find(|l| l.starts_with("flex"))
        .expect("a row for flex");
    assert!(
        row.contains("logistic-mnist") && row.contains("7850"),
        "{row}"
    );
    // GFLOP/s with the fraction of the measured peak, train and inference.
    assert_eq!(row.matches("%)").count(), 2, "{row}");
    assert!(stdout.contains("peak: "), "{stdout}");
}

#[test]
fn zoo_bench_measures_the_peak_of_the_matrix_product() {
    let output = zoo_bench(&[
        "--peak",
        "--peak-size",
        "256",
        "--rounds",
        "2",
        "--round-seconds",
        "0",
        "--json",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !cfg!(feature = "flex") {
        assert!(
            !output.status.success() && stderr.contains("no flex"),
            "{stderr}"
        );
        return;
    }
    assert!(output.status.success(), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let peak = &report["peak"];
    assert_eq!(peak["size"], 256, "{report}");
    let gflops = peak["gflops"]["median"].as_f64().unwrap();
    // A 256³ product takes 33.6 MFLOP: any machine does more than 0.1 GFLOP/s, and none of
    // the zoo's does more than 100 TFLOP/s on the CPU.
    assert!((0.1..100_000.0).contains(&gflops), "{report}");
    assert_eq!(
        report["results"].as_array().unwrap().len(),
        0,
        "only the peak"
    );
    for size in ["0", "100000"] {
        let refused = zoo_bench(&["--peak", "--peak-size", size]);
        assert_eq!(refused.status.code(), Some(1), "--peak-size {size}");
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(stderr.contains("between 1 and 8192"), "{stderr}");
    }
}

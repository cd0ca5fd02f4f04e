//! `zoo-check` runs the conformance checks and reports them as tables or JSON.

use std::process::Command;

#[test]
fn zoo_check_compares_the_compiled_backends() {
    let output = Command::new(env!("CARGO_BIN_EXE_zoo-check"))
        .args(["--case", "linear", "--case", "cnn-8x8", "--json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let backends = report["backends"].as_array().unwrap();
    // ndarray, flex, wgpu and remote (without --remote, never usable).
    assert_eq!(
        backends.len(),
        4,
        "every backend is listed, compiled or not"
    );
    let usable = backends
        .iter()
        .filter(|b| b["device"]["Ok"].is_string())
        .count();
    let pairs = report["pairs"].as_array().unwrap();
    assert_eq!(
        pairs.len(),
        2 * usable * usable.saturating_sub(1) / 2,
        "two cases per pair of usable backends"
    );
    for pair in pairs {
        assert_eq!(pair["failures"], serde_json::json!([]), "{pair}");
        assert!(
            pair["agreement"]["forward"].as_f64().unwrap() < 1e-4,
            "{pair}"
        );
    }

    let unknown = Command::new(env!("CARGO_BIN_EXE_zoo-check"))
        .args(["--case", "resnet"])
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("no such case; the cases are linear")
    );
}

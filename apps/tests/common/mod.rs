//! Helpers shared by the apps' tests: models trained by the apps' own binaries, inputs for
//! them, and `zoo-serve` processes.

#![allow(dead_code)] // Each test file uses its own part.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

/// Tells the person running `cargo test` that part of a test did not run, and how to run it.
/// Written to the process's standard error directly: the test harness captures `eprintln!`
/// of passing tests, and a skipped part must not pass silently.
pub fn not_run(what: &str, how: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "note: not run: {what}; {how}");
}

/// Waits until `until` holds, checking every 20 ms, at most `limit`; how long it took.
pub fn wait_until(what: &str, limit: Duration, mut until: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !until() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}

/// How `child` exited, waiting at most `limit`; past it, kills `child` and fails with `hung`.
pub fn exit_status(child: &mut Child, limit: Duration, hung: &str) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("{hung}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The training losses of a run's `history.json`.
pub fn losses(out: &Path) -> Vec<f64> {
    let text = std::fs::read_to_string(out.join("history.json")).unwrap();
    let history: serde_json::Value = serde_json::from_str(&text).unwrap();
    history["epochs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|epoch| epoch["loss"].as_f64().unwrap())
        .collect()
}

/// Asserts that `a` and `b` agree within `tolerance`, relative to each value (at least 1).
pub fn assert_close(a: &[f64], b: &[f64], tolerance: f64, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: {a:?} vs {b:?}");
    for (x, y) in a.iter().zip(b) {
        assert!(
            (x - y).abs() <= tolerance * x.abs().max(1.0),
            "{what}: {a:?} vs {b:?}"
        );
    }
}

/// Runs an app's binary, asserting that it succeeded; returns its standard output.
pub fn run_app(program: &str, args: &[&str]) -> String {
    let output = Command::new(program).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{program} {args:?}: {stderr}");
    String::from_utf8(output.stdout).unwrap()
}

/// An MLP trained for one epoch on the bundled MNIST (about 96 % test accuracy), saved in
/// `dir/name`.
pub fn mnist_mlp(program: &str, dir: &Path, name: &str) -> PathBuf {
    let out = dir.join(name);
    run_app(
        program,
        &[
            "train",
            "--model",
            "mlp",
            "--epochs",
            "1",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    out
}

/// A model of every app, trained by the apps' binaries into `root`: `digits` (the MNIST MLP),
/// `sms` (spam or ham), `tones-model` (low or high tones from `root/tones`), `iris` and
/// `diabetes` (a regression). Returns each name with its folder.
pub fn every_app(root: &Path) -> Vec<(String, PathBuf)> {
    let out = |name: &str| root.join(name).to_str().unwrap().to_string();
    mnist_mlp(env!("CARGO_BIN_EXE_image-classifier"), root, "digits");
    run_app(
        env!("CARGO_BIN_EXE_text-classifier"),
        &[
            "train",
            "--model",
            "logistic",
            "--quiet",
            "--out",
            &out("sms"),
        ],
    );
    tones(&root.join("tones"));
    run_app(
        env!("CARGO_BIN_EXE_audio-classifier"),
        &[
            "train",
            "--model",
            "logistic",
            "--data",
            &out("tones"),
            "--epochs",
            "20",
            "--quiet",
            "--out",
            &out("tones-model"),
        ],
    );
    let tabular = env!("CARGO_BIN_EXE_tabular");
    run_app(
        tabular,
        &[
            "train",
            "--dataset",
            "iris",
            "--quiet",
            "--out",
            &out("iris"),
        ],
    );
    run_app(
        tabular,
        &[
            "train",
            "--dataset",
            "diabetes",
            "--quiet",
            "--out",
            &out("diabetes"),
        ],
    );
    ["digits", "sms", "tones-model", "iris", "diabetes"]
        .map(|name| (name.to_string(), root.join(name)))
        .to_vec()
}

/// Tones of 300 Hz (`low`) and 1,200 Hz (`high`), ten of each, named `LABEL_x_N.wav`: takes
/// 0-4 are the test set, as in FSDD.
pub fn tones(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    for (label, frequency) in [("low", 300.0), ("high", 1200.0)] {
        for n in 0..10 {
            let path = dir.join(format!("{label}_x_{n}.wav"));
            let mut w = hound::WavWriter::create(path, spec).unwrap();
            for i in 0..2400 {
                let t = i as f32 / 8000.0;
                w.write_sample(
                    (8000.0
                        * (2.0 * std::f32::consts::PI * frequency * (1.0 + 0.01 * n as f32) * t)
                            .sin()) as i16,
                )
                .unwrap();
            }
            w.finalize().unwrap();
        }
    }
}

/// MNIST test image `i` as a PNG file's bytes, and its label.
pub fn mnist_png(i: usize) -> (Vec<u8>, u8) {
    use zoo_apps::vision::idx::{Part, load_part};
    static TEST: std::sync::OnceLock<zoo_apps::vision::ImageSet> = std::sync::OnceLock::new();
    let set = TEST.get_or_init(|| {
        load_part(&zoo_apps::cli::data_dir().join("mnist"), Part::Test, None).unwrap()
    });
    let pixels = set.image(i).unwrap().into_owned();
    let image = image::GrayImage::from_raw(28, 28, pixels).unwrap();
    let mut png = Vec::new();
    image
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    (png, set.labels[i] as u8)
}

/// A server process (`zoo-serve`, `zoo-device-server`) and the address it listens on
/// (`HOST:PORT`); killed when dropped.
pub struct Server {
    pub child: std::process::Child,
    pub address: String,
}

impl Server {
    /// Starts `zoo-serve` with `args` and waits for its first line, the address.
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::start_program(env!("CARGO_BIN_EXE_zoo-serve"), args, env)
    }

    /// Starts the server `program` with `args` (and no BURN_ZOO_TOKEN but from `env`) and
    /// waits for its first line, `listening on SCHEME://ADDRESS`.
    pub fn start_program(program: &str, args: &[&str], env: &[(&str, &str)]) -> Self {
        use std::io::BufRead;
        let mut command = Command::new(program);
        command
            .args(args)
            .env_remove("BURN_ZOO_TOKEN")
            .stdout(std::process::Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let address = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|url| url.split_once("://"))
            .map(|(_, address)| address.to_string())
            .unwrap_or_else(|| panic!("{program} printed {line:?}"));
        Server { child, address }
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

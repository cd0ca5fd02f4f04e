//! Real `zoo-serve` processes: the page driven in headless Chromium, SIGTERM while a request
//! is in flight, and the refusal to serve beyond loopback without a token.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use common::{Server, every_app, mnist_mlp, mnist_png};

/// The MNIST MLP every test here serves, trained once.
fn digits() -> &'static Path {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let model = mnist_mlp(env!("CARGO_BIN_EXE_image-classifier"), dir.path(), "digits");
        (dir, model)
    })
    .1
}

fn model_arg() -> String {
    format!("digits={}", digits().display())
}

/// POSTs `body` to `url` as a PNG; the status and body.
fn post_png(url: &str, body: &[u8]) -> (u16, String) {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let mut response = agent
        .post(url)
        .header("Content-Type", "image/png")
        .send(body)
        .unwrap();
    let status = response.status().as_u16();
    (status, response.body_mut().read_to_string().unwrap())
}

/// A PNG sent in two halves, the second after `pause`: a request still in flight meanwhile.
struct SlowBody {
    halves: Vec<Vec<u8>>,
    pause: Duration,
}

impl std::io::Read for SlowBody {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        if self.halves.len() == 1 && !self.pause.is_zero() {
            std::thread::sleep(std::mem::take(&mut self.pause));
        }
        let Some(half) = self.halves.first_mut() else {
            return Ok(0);
        };
        let n = half.len().min(buffer.len());
        buffer[..n].copy_from_slice(&half[..n]);
        half.drain(..n);
        if half.is_empty() {
            self.halves.remove(0);
        }
        Ok(n)
    }
}

#[test]
fn sigterm_answers_the_request_in_flight_then_exits_0() {
    let mut server = Server::start(&["--model", &model_arg(), "--bind", "127.0.0.1:0"], &[]);
    let url = format!("http://{}/v1/models/digits/predict", server.address);
    let (png, label) = mnist_png(0);
    let body = SlowBody {
        halves: vec![png[..png.len() / 2].to_vec(), png[png.len() / 2..].to_vec()],
        pause: Duration::from_millis(1500),
    };
    let request = std::thread::spawn(move || {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent();
        let mut response = agent
            .post(&url)
            .header("Content-Type", "image/png")
            .send(ureq::SendBody::from_owned_reader(body))
            .unwrap();
        let status = response.status().as_u16();
        (status, response.body_mut().read_to_string().unwrap())
    });
    // The first half has arrived; the second comes after SIGTERM.
    std::thread::sleep(Duration::from_millis(500));
    server.terminate();
    let (status, body) = request.join().unwrap();
    assert_eq!(status, 200, "{body}");
    let response: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        response["predictions"][0]["top"][0]["class"],
        label.to_string()
    );
    let exit = server.child.wait().unwrap();
    assert_eq!(exit.code(), Some(0));
    // Stopped: new connections are refused.
    let agent = ureq::Agent::new_with_defaults();
    assert!(
        agent
            .get(format!("http://{}/healthz", server.address))
            .call()
            .is_err()
    );
}

#[test]
fn serving_beyond_loopback_needs_a_token_from_the_environment_or_a_file() {
    let model = model_arg();
    let output = Command::new(env!("CARGO_BIN_EXE_zoo-serve"))
        .args(["--model", &model, "--bind", "0.0.0.0:0"])
        .env_remove("BURN_ZOO_TOKEN")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("needs a token: set BURN_ZOO_TOKEN or pass --token-file"),
        "{stderr}"
    );

    let output = Command::new(env!("CARGO_BIN_EXE_zoo-serve"))
        .args(["--model", &model, "--bind", "0.0.0.0:0"])
        .env("BURN_ZOO_TOKEN", "short")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("use at least 16"), "{stderr}");

    // No flag takes the token itself: `ps` would show it.
    let output = Command::new(env!("CARGO_BIN_EXE_zoo-serve"))
        .args(["--model", &model, "--token", "0123456789abcdef0123"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));

    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "0123456789abcdef0123\n").unwrap();
    let server = Server::start(
        &[
            "--model",
            &model,
            "--bind",
            "0.0.0.0:0",
            "--token-file",
            token_file.to_str().unwrap(),
        ],
        &[],
    );
    let port = server.address.rsplit(':').next().unwrap();
    let url = format!("http://127.0.0.1:{port}/v1/models/digits/predict");
    let (png, _) = mnist_png(0);
    assert_eq!(post_png(&url, &png).0, 401);
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let status = agent
        .post(&url)
        .header("Content-Type", "image/png")
        .header("Authorization", "Bearer 0123456789abcdef0123")
        .send(&png[..])
        .unwrap()
        .status();
    assert_eq!(status, 200);

    let output = Command::new(env!("CARGO_BIN_EXE_zoo-serve"))
        .args(["--model", "/no/such/model"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("/no/such/model/model.json"), "{stderr}");
}

/// Debian's chromium, when installed. CI installs it, so there a missing browser fails the test.
fn chromium() -> Option<PathBuf> {
    let path = PathBuf::from("/usr/bin/chromium");
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must run the browser test: install chromium"
    );
    common::not_run(
        "zoo-serve's browser test (/usr/bin/chromium is not installed)",
        "`apt-get install chromium` runs it (`.ci/run` does)",
    );
    None
}

/// One mouse event at (x, y) in the page; `buttons` 1 while the left button is held.
fn mouse(
    tab: &headless_chrome::Tab,
    kind: headless_chrome::protocol::cdp::Input::DispatchMouseEventTypeOption,
    (x, y): (f64, f64),
) {
    use headless_chrome::protocol::cdp::Input;
    let held = !matches!(kind, Input::DispatchMouseEventTypeOption::MouseReleased);
    tab.call_method(Input::DispatchMouseEvent {
        Type: kind,
        x,
        y,
        modifiers: None,
        timestamp: None,
        button: Some(Input::MouseButton::Left),
        buttons: Some(if held { 1 } else { 0 }),
        click_count: Some(1),
        force: None,
        tangential_pressure: None,
        tilt_x: None,
        tilt_y: None,
        twist: None,
        delta_x: None,
        delta_y: None,
        pointer_Type: None,
    })
    .unwrap();
}

/// Draws one stroke through `points` (fractions of the canvas) on the canvas at `origin`,
/// `size` pixels a side; the page joins the points with straight lines. (Each event waits for
/// a frame of the headless browser, about 0.1 s, so the points are few.)
fn stroke(tab: &headless_chrome::Tab, origin: (f64, f64), size: f64, points: &[(f64, f64)]) {
    use headless_chrome::protocol::cdp::Input::DispatchMouseEventTypeOption as Kind;
    let at = |(u, v): (f64, f64)| (origin.0 + u * size, origin.1 + v * size);
    mouse(tab, Kind::MousePressed, at(points[0]));
    for &point in &points[1..] {
        mouse(tab, Kind::MouseMoved, at(point));
    }
    mouse(tab, Kind::MouseReleased, at(*points.last().unwrap()));
}

/// The class the page shows first once the drawing is classified.
fn classify_drawing(tab: &headless_chrome::Tab) -> String {
    tab.find_element("#classify-drawing")
        .unwrap()
        .click()
        .unwrap();
    tab.wait_for_element_with_custom_timeout(
        "#result .bar[data-top=true] .label",
        Duration::from_secs(30),
    )
    .unwrap()
    .get_inner_text()
    .unwrap()
}

#[test]
fn a_digit_drawn_on_the_page_is_classified_in_headless_chromium() {
    use headless_chrome::protocol::cdp::Page::CaptureScreenshotFormatOption;
    let Some(chromium) = chromium() else {
        return;
    };
    let server = Server::start(&["--model", &model_arg(), "--bind", "127.0.0.1:0"], &[]);
    let profile = tempfile::tempdir().unwrap();
    let browser = headless_chrome::Browser::new(
        headless_chrome::LaunchOptions::default_builder()
            .path(Some(chromium))
            .headless(true)
            // CI runs as root, where Chromium's sandbox cannot start.
            .sandbox(false)
            .window_size(Some((900, 1000)))
            .user_data_dir(Some(profile.path().to_path_buf()))
            .build()
            .unwrap(),
    )
    .unwrap();
    let tab = browser.new_tab().unwrap();
    tab.set_default_timeout(Duration::from_secs(30));
    tab.navigate_to(&format!("http://{}/", server.address))
        .unwrap()
        .wait_until_navigated()
        .unwrap();
    tab.wait_for_element("body[data-ready=true]").unwrap();
    let model = tab
        .find_element("#model")
        .unwrap()
        .get_inner_text()
        .unwrap();
    assert_eq!(model.trim(), "digits");

    let quad = tab
        .find_element("#canvas")
        .unwrap()
        .get_box_model()
        .unwrap()
        .content;
    let (origin, size) = ((quad.top_left.x, quad.top_left.y), quad.width());

    // A one: a single upright stroke down the middle.
    stroke(
        &tab,
        origin,
        size,
        &[(0.52, 0.18), (0.50, 0.5), (0.48, 0.82)],
    );
    assert_eq!(classify_drawing(&tab), "1");

    // A zero: an upright ellipse.
    tab.find_element("#clear").unwrap().click().unwrap();
    let ellipse: Vec<(f64, f64)> = (0..=20)
        .map(|i| {
            let a = i as f64 * std::f64::consts::TAU / 20.0;
            (0.5 + 0.22 * a.sin(), 0.5 - 0.3 * a.cos())
        })
        .collect();
    stroke(&tab, origin, size, &ellipse);
    assert_eq!(classify_drawing(&tab), "0");

    let screenshot = tab
        .capture_screenshot(CaptureScreenshotFormatOption::Png, None, None, true)
        .unwrap();
    let kept = Path::new(env!("CARGO_TARGET_TMPDIR")).join("zoo-serve-page.png");
    std::fs::write(&kept, screenshot).unwrap();
    eprintln!("screenshot of the page: {}", kept.display());
}

/// Schemathesis, when installed: `BURN_ZOO_SCHEMATHESIS`, or the virtual environment `.ci/run`
/// makes. CI installs it, so there a missing one fails the test.
fn schemathesis() -> Option<PathBuf> {
    let path = std::env::var_os("BURN_ZOO_SCHEMATHESIS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/burn-zoo-schemathesis/bin/schemathesis"));
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must run the API fuzzer: {} is missing",
        path.display()
    );
    common::not_run(
        &format!("zoo-serve's API fuzzing ({} is missing)", path.display()),
        "`.ci/run` installs Schemathesis there, or set BURN_ZOO_SCHEMATHESIS",
    );
    None
}

#[test]
fn a_schema_driven_fuzzer_finds_no_response_outside_the_openapi_document() {
    let Some(schemathesis) = schemathesis() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let token = "fuzzing-token-0123456789";
    let mut args = vec!["--bind".to_string(), "127.0.0.1:0".to_string()];
    for (name, model) in every_app(dir.path()) {
        args.push("--model".into());
        args.push(format!("{name}={}", model.display()));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::start(&args, &[("BURN_ZOO_TOKEN", token)]);
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/schemathesis.toml");
    // Every check, as Schemathesis runs by default (status codes, content types and bodies as
    // documented, schema-valid requests accepted and invalid ones refused, the token enforced),
    // for 45 seconds; the config file lifts one for binary uploads, and says why.
    let output = Command::new(schemathesis)
        .arg("--config-file")
        .arg(config)
        .args(["run", &format!("http://{}/openapi.json", server.address)])
        .args(["--max-time", "45", "--workers", "1"])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .env("NO_COLOR", "1")
        // It keeps a cache of what it found in its working directory.
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary = stdout.lines().rev().take(25).collect::<Vec<_>>();
    eprintln!(
        "{}",
        summary.into_iter().rev().collect::<Vec<_>>().join("\n")
    );
}

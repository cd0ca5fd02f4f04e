//! Model folders written by an earlier release (`tests/fixtures/previous-release/`, one per
//! app) still load with today's code, predict what that release printed for the same inputs,
//! and, saved again in today's form, load and predict the same once more.

use std::path::{Path, PathBuf};
use std::process::Command;

use zoo_apps::predictor::Predictor;
use zoo_models::backend::BackendKind;
use zoo_models::store;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixtures() -> PathBuf {
    repository().join("tests/fixtures/previous-release")
}

/// What `predict` prints for a model folder, run from the repository's root as the fixtures
/// were (their inputs are named relative to it).
fn predict(program: &str, model_dir: &Path, args: &[&str], stdin: Option<&Path>) -> String {
    let mut command = Command::new(program);
    command
        .current_dir(repository())
        .args(["predict", "--model-dir", model_dir.to_str().unwrap()])
        .args(args);
    if let Some(path) = stdin {
        command.stdin(std::fs::File::open(path).unwrap());
    }
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{program}: {stderr}");
    String::from_utf8(output.stdout).unwrap()
}

/// The folder loaded as zoo-serve loads any app's model, then written again by today's code:
/// its `model.json` holds the preprocessing state as today's types serialise it.
fn resave(dir: &Path, into: &Path) {
    let device = BackendKind::default_for_build().device().unwrap();
    let predictor = Predictor::load(dir, &device).unwrap();
    let (model, mut manifest) = store::load(dir, &device).unwrap();
    assert_eq!(manifest.class_names, predictor.class_names());
    let reread: serde_json::Value = manifest.preprocessing.clone();
    manifest.preprocessing = resaved_preprocessing(&reread);
    store::save(into, &model, &manifest).unwrap();
    Predictor::load(into, &device).unwrap();
}

/// The preprocessing state parsed into today's type of whichever data kind it is and
/// serialised again.
fn resaved_preprocessing(state: &serde_json::Value) -> serde_json::Value {
    use zoo_apps::audio::preprocessing::AudioPreprocessing;
    use zoo_apps::table::preprocessing::TabularPreprocessing;
    use zoo_apps::text::preprocessing::TextPreprocessing;
    use zoo_apps::vision::preprocessing::ImagePreprocessing;
    fn again<P: serde::Serialize + serde::de::DeserializeOwned>(
        state: &serde_json::Value,
    ) -> Option<serde_json::Value> {
        let parsed: P = serde_json::from_value(state.clone()).ok()?;
        Some(serde_json::to_value(parsed).unwrap())
    }
    again::<ImagePreprocessing>(state)
        .or_else(|| again::<TextPreprocessing>(state))
        .or_else(|| again::<AudioPreprocessing>(state))
        .or_else(|| again::<TabularPreprocessing>(state))
        .expect("one data kind's state")
}

#[test]
fn previous_release_folders_load_predict_the_same_and_resave() {
    let fixtures = fixtures();
    let inputs = |name: &str| fixtures.join(name);
    let mnist = "data/mnist/t10k-images-idx3-ubyte.gz";
    let cases: [(&str, &str, Vec<String>, Option<PathBuf>); 5] = [
        (
            env!("CARGO_BIN_EXE_image-classifier"),
            "image-classifier",
            vec!["--index".into(), "0,1,2".into(), mnist.into()],
            None,
        ),
        (
            env!("CARGO_BIN_EXE_text-classifier"),
            "text-classifier",
            Vec::new(),
            Some(inputs("text-classifier.inputs.txt")),
        ),
        (
            env!("CARGO_BIN_EXE_audio-classifier"),
            "audio-classifier",
            vec![
                "data/fsdd/recordings/0_jackson_0.wav".into(),
                "data/fsdd/recordings/7_theo_3.wav".into(),
            ],
            None,
        ),
        (
            env!("CARGO_BIN_EXE_tabular"),
            "tabular-iris",
            vec![
                "--data".into(),
                inputs("tabular-iris.inputs.csv").display().to_string(),
            ],
            None,
        ),
        (
            env!("CARGO_BIN_EXE_tabular"),
            "tabular-diabetes",
            vec![
                "--data".into(),
                inputs("tabular-diabetes.inputs.csv").display().to_string(),
            ],
            None,
        ),
    ];
    let scratch = tempfile::tempdir().unwrap();
    for (program, name, args, stdin) in cases {
        let expected =
            std::fs::read_to_string(fixtures.join(format!("{name}.predictions.txt"))).unwrap();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let old = fixtures.join(name);
        assert_eq!(
            predict(program, &old, &args, stdin.as_deref()),
            expected,
            "{name} as the previous release saved it"
        );
        let resaved = scratch.path().join(name);
        resave(&old, &resaved);
        assert_eq!(
            predict(program, &resaved, &args, stdin.as_deref()),
            expected,
            "{name} saved again by today's code"
        );
    }
}

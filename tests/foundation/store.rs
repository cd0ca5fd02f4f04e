use rand::Rng;
use zoo_models::cnn::SmallCnnConfig;
use zoo_models::data::{Features, TargetData};
use zoo_models::mlp::MlpConfig;
use zoo_models::model::{Model, ModelConfig};
use zoo_models::prelude::*;
use zoo_models::store::{self, MANIFEST_FILE, WEIGHTS_FILE};
use zoo_tests::{cpu_backends, exclusive_rng, rng, separable_blobs, wgpu_device};

/// A briefly trained model, so that saved weights differ from any fresh initialisation.
fn trained(config: &ModelConfig, task: Task, data: &Examples, device: &Device) -> Model {
    device.seed(1);
    let model = config.init(device).unwrap();
    let fit_config = FitConfig::new().with_epochs(2).with_progress(false);
    fit(model, task, data, None, &fit_config).unwrap().model
}

fn image_data(n: usize) -> Examples {
    let mut rng = rng(3);
    let values: Vec<f32> = (0..n * 64).map(|_| rng.random_range(-1.0..1.0)).collect();
    let labels = (0..n).map(|i| i % 3).collect();
    Examples::new(
        Features::new(values, 64).unwrap(),
        TargetData::Classes {
            labels,
            n_classes: 3,
        },
    )
    .unwrap()
}

fn assert_same_predictions(a: &Predictions, b: &Predictions, tolerance: f32, what: &str) {
    assert_eq!(a.classes(), b.classes(), "{what}: classes differ");
    let worst = a
        .values
        .iter()
        .zip(&b.values)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max);
    assert!(
        worst <= tolerance,
        "{what}: max difference {worst} > {tolerance}"
    );
}

#[test]
fn save_then_load_gives_the_same_predictions_on_every_backend() {
    let _rng = exclusive_rng();
    let blobs = separable_blobs(20, 2, 21);
    let images = image_data(24);
    let cases = [
        (
            ModelConfig::Mlp(MlpConfig::new(2, vec![6], 1)),
            Task::Binary,
            blobs,
        ),
        (
            ModelConfig::Cnn(SmallCnnConfig::new(1, 8, 8, 3)),
            Task::Multiclass { n_classes: 3 },
            images,
        ),
    ];
    let mut targets = cpu_backends();
    targets.extend(wgpu_device("save_then_load").map(|d| (BackendKind::Wgpu, d)));
    for (backend, device) in cpu_backends() {
        for (config, task, data) in &cases {
            let model = trained(config, *task, data, &device);
            let before = predict(&model, *task, &data.features, 16).unwrap();
            let dir = tempfile::tempdir().unwrap();
            let mut manifest = ModelManifest::new(config.clone(), *task);
            manifest.trained_on = Some(backend);
            manifest.class_names = (0..task.n_classes().unwrap())
                .map(|c| format!("class {c}"))
                .collect();
            store::save(dir.path(), &model, &manifest).unwrap();
            for (other, other_device) in &targets {
                let (loaded, loaded_manifest) = store::load(dir.path(), other_device).unwrap();
                assert_eq!(loaded_manifest, manifest);
                let after = predict(&loaded, *task, &data.features, 16).unwrap();
                // The same backend must reproduce its own numbers exactly; another backend
                // within float32 rounding of a few hundred multiply-adds.
                let tolerance = if other == &backend { 0.0 } else { 1e-5 };
                assert_same_predictions(
                    &before,
                    &after,
                    tolerance,
                    &format!("{} {backend} -> {other}", config.name()),
                );
            }
        }
    }
}

#[test]
fn saving_leaves_only_the_two_files() {
    let _rng = exclusive_rng();
    let device = cpu_backends()[0].1.clone();
    let config = ModelConfig::Mlp(MlpConfig::new(2, vec![3], 1));
    let dir = tempfile::tempdir().unwrap();
    let model = config.init(&device).unwrap();
    store::save(
        dir.path(),
        &model,
        &ModelManifest::new(config.clone(), Task::Binary),
    )
    .unwrap();
    store::save(
        dir.path(),
        &model,
        &ModelManifest::new(config, Task::Binary),
    )
    .unwrap();
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, vec![WEIGHTS_FILE, MANIFEST_FILE]);
}

#[test]
fn loading_bad_model_folders_names_the_file() {
    let _rng = exclusive_rng();
    let device = cpu_backends()[0].1.clone();
    let config = ModelConfig::Mlp(MlpConfig::new(2, vec![3], 1));
    let dir = tempfile::tempdir().unwrap();

    let err = store::load(dir.path(), &device).unwrap_err().to_string();
    assert!(err.contains(MANIFEST_FILE), "{err}");

    std::fs::write(dir.path().join(MANIFEST_FILE), "{ not json").unwrap();
    let err = store::load(dir.path(), &device).unwrap_err().to_string();
    assert!(
        err.contains(MANIFEST_FILE) && err.contains("not a valid file"),
        "{err}"
    );

    store::write_json_atomic(
        &dir.path().join(MANIFEST_FILE),
        &ModelManifest::new(config.clone(), Task::Binary),
    )
    .unwrap();
    let err = store::load(dir.path(), &device).unwrap_err().to_string();
    assert!(
        err.contains(WEIGHTS_FILE) && err.contains("missing"),
        "{err}"
    );

    std::fs::write(dir.path().join(WEIGHTS_FILE), b"garbage").unwrap();
    let err = store::load(dir.path(), &device).unwrap_err().to_string();
    assert!(err.contains(WEIGHTS_FILE), "{err}");

    // Weights of another architecture do not load silently.
    let other = ModelConfig::Mlp(MlpConfig::new(2, vec![5], 1));
    store::save(
        dir.path(),
        &other.init(&device).unwrap(),
        &ModelManifest::new(other, Task::Binary),
    )
    .unwrap();
    store::write_json_atomic(
        &dir.path().join(MANIFEST_FILE),
        &ModelManifest::new(config.clone(), Task::Binary),
    )
    .unwrap();
    let err = store::load(dir.path(), &device).unwrap_err().to_string();
    assert!(err.contains(WEIGHTS_FILE), "{err}");

    // Nor does a model save under a manifest that describes another one.
    let wrong = ModelManifest::new(
        ModelConfig::Mlp(MlpConfig::new(3, vec![3], 1)),
        Task::Binary,
    );
    let err = store::save(dir.path(), &config.init(&device).unwrap(), &wrong)
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not match its manifest"), "{err}");
}

#[test]
fn a_loaded_model_owns_its_weights() {
    // Burn's file-backed burnpack reader reads weights lazily, by path: a model must not
    // depend on its folder once loaded (deleted, or overwritten by a newer training run).
    // Flex keeps the file-backed bytes as they are (ndarray copies them on load).
    let Some((_, device)) = cpu_backends()
        .into_iter()
        .find(|(b, _)| *b == BackendKind::Flex)
    else {
        eprintln!("a_loaded_model_owns_its_weights: not run, this build has no flex backend");
        return;
    };
    let device = &device;
    let data = separable_blobs(20, 2, 9);
    let config = ModelConfig::Mlp(MlpConfig::new(2, vec![4], 1));
    let model = {
        let _rng = exclusive_rng();
        trained(&config, Task::Binary, &data, device)
    };
    let dir = tempfile::tempdir().unwrap();
    store::save(
        dir.path(),
        &model,
        &ModelManifest::new(config, Task::Binary),
    )
    .unwrap();
    let (loaded, _) = store::load(dir.path(), device).unwrap();
    drop(dir);
    let expected = predict(&model, Task::Binary, &data.features, 8).unwrap();
    let after = predict(&loaded, Task::Binary, &data.features, 8).unwrap();
    assert_same_predictions(&expected, &after, 0.0, "after the folder is gone");
}

#[test]
fn a_config_asking_for_a_huge_model_is_refused_before_anything_is_allocated() {
    let device = cpu_backends()[0].1.clone();
    let dir = tempfile::tempdir().unwrap();
    let weights = dir.path().join(WEIGHTS_FILE);
    std::fs::write(&weights, b"tiny").unwrap();
    let manifest = |config: ModelConfig| {
        store::write_json_atomic(
            &dir.path().join(MANIFEST_FILE),
            &ModelManifest::new(config, Task::Regression { n_outputs: 1 }),
        )
        .unwrap();
        store::load(dir.path(), &device).unwrap_err().to_string()
    };

    // 10¹² parameters: a million inputs by a million hidden units.
    let err = manifest(ModelConfig::Mlp(MlpConfig::new(
        1_000_000,
        vec![1_000_000],
        1,
    )));
    assert!(err.contains(MANIFEST_FILE), "{err}");
    assert!(
        err.contains("the parameter count is 1000002000001, more than"),
        "{err}"
    );

    // Widths whose products would overflow are refused one by one.
    let err = manifest(ModelConfig::Mlp(MlpConfig::new(
        usize::MAX,
        vec![usize::MAX],
        1,
    )));
    assert!(
        err.contains("mlp: n_inputs is 18446744073709551615, more than"),
        "{err}"
    );
    let mut cnn = SmallCnnConfig::new(1, 1 << 40, 1 << 40, 1);
    cnn.conv_channels = vec![16, 32];
    let err = manifest(ModelConfig::Cnn(cnn));
    assert!(err.contains("cnn: height"), "{err}");

    // Within the limits, a weights file too small for the parameters is refused unread.
    let err = manifest(ModelConfig::Mlp(MlpConfig::new(4096, vec![4096], 1)));
    assert!(err.contains(WEIGHTS_FILE), "{err}");
    assert!(
        err.contains("4 bytes cannot hold the 16785409 parameters"),
        "{err}"
    );
}

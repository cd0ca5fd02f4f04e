//! Folders of generated PNG images: one sub-folder per class.

use std::path::Path;

use rand::Rng;
use zoo_apps::image_classifier::{Command, predict_files};
use zoo_apps::test_metrics::TestMetrics;
use zoo_tests::{exclusive_rng, rng};

use crate::{accuracy, command, train_run};

/// A `size`×`size` RGB image of class `class`: a bright horizontal bar (0), vertical bar (1)
/// or diagonal (2) in a random colour, on a noisy dark background.
fn pattern(class: usize, size: u32, rng: &mut impl Rng) -> image::RgbImage {
    let offset = rng.random_range(1..size - 2);
    let colour = [
        rng.random_range(150..=255),
        rng.random_range(150..=255),
        rng.random_range(150..=255),
    ];
    image::RgbImage::from_fn(size, size, |x, y| {
        let on = match class {
            0 => y.abs_diff(offset) <= 1,
            1 => x.abs_diff(offset) <= 1,
            _ => x.abs_diff(y) <= 1,
        };
        if on {
            image::Rgb(colour)
        } else {
            image::Rgb([0, 0, 0].map(|_: u8| rng.random_range(0..60)))
        }
    })
}

fn read_manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("model.json")).unwrap()).unwrap()
}

const CLASSES: [&str; 3] = ["horizontal", "vertical", "diagonal"];

/// `per_class` images of each class under `dir/<class>/`, of size `size(i)` for the i-th.
fn write_folder(dir: &Path, per_class: usize, size: impl Fn(usize) -> u32, seed: u64) {
    let mut rng = rng(seed);
    for (class, name) in CLASSES.iter().enumerate() {
        std::fs::create_dir_all(dir.join(name)).unwrap();
        for i in 0..per_class {
            pattern(class, size(i), &mut rng)
                .save(dir.join(name).join(format!("{i:03}.png")))
                .unwrap();
        }
    }
}

#[test]
fn a_folder_of_pngs_trains_and_predicts() {
    let data = tempfile::tempdir().unwrap();
    write_folder(data.path(), 40, |_| 12, 1);
    let out = tempfile::tempdir().unwrap();
    let out_arg = out.path().to_str().unwrap();
    let metrics = {
        let _rng = exclusive_rng();
        train_run(&[
            "train",
            "--model",
            "mlp",
            "--format",
            "folder",
            "--data",
            data.path().to_str().unwrap(),
            "--epochs",
            "30",
            "--lr",
            "0.003",
            "--quiet",
            "--out",
            out_arg,
        ])
    };
    let manifest = read_manifest(out.path());
    assert_eq!(
        manifest["preprocessing"]["pixels"]["normalization"],
        serde_json::Value::Null
    );
    assert_eq!(
        manifest["preprocessing"]["pixels"]["layout"]["color"], "rgb",
        "taken from the first image"
    );
    // 20% of 120 images, stratified: 8 per class.
    let TestMetrics::Classification { per_class, .. } = &metrics.test else {
        unreachable!()
    };
    assert_eq!(
        per_class
            .iter()
            .map(|c| (c.class.as_str(), c.support))
            .collect::<Vec<_>>(),
        [("diagonal", 8), ("horizontal", 8), ("vertical", 8)]
    );
    assert!(accuracy(&metrics.test) >= 0.9, "{:?}", metrics.test);

    // New images, never seen, are classified by what they show.
    let fresh = tempfile::tempdir().unwrap();
    write_folder(fresh.path(), 3, |_| 12, 99);
    let files: Vec<String> = CLASSES
        .iter()
        .flat_map(|c| (0..3).map(move |i| format!("{c}/{i:03}.png")))
        .map(|f| fresh.path().join(f).display().to_string())
        .collect();
    let mut args = vec!["predict", "--model-dir", out_arg];
    args.extend(files.iter().map(String::as_str));
    let Command::Predict(predict) = command(&args) else {
        unreachable!()
    };
    let predictions = predict_files(&predict).unwrap();
    let right = predictions
        .iter()
        .filter(|p| p.input.contains(&format!("/{}/", p.top[0].0)))
        .count();
    assert!(right >= 8, "{right} of 9 right: {predictions:?}");

    // `evaluate` without --data finds the same held-out images again.
    let Command::Evaluate(evaluate) = command(&["evaluate", "--model-dir", out_arg]) else {
        unreachable!()
    };
    let again = zoo_apps::app::evaluate(&evaluate).unwrap();
    assert_eq!(again, metrics.test);
}

#[test]
fn train_and_test_folders_of_mixed_sizes_train_a_cnn_when_resized() {
    let data = tempfile::tempdir().unwrap();
    let size = |i: usize| [12, 16, 20][i % 3];
    write_folder(&data.path().join("train"), 30, size, 2);
    write_folder(&data.path().join("test"), 6, size, 3);
    let data_arg = data.path().to_str().unwrap();
    let out = tempfile::tempdir().unwrap();
    let base = [
        "train", "--model", "cnn", "--format", "folder", "--data", data_arg, "--quiet",
    ];

    let Command::Train(unsized_run) = command(&base) else {
        unreachable!()
    };
    let err = zoo_apps::app::train(&unsized_run).unwrap_err().to_string();
    assert!(
        err.contains("001.png") && err.contains("--image-size"),
        "{err}"
    );

    let mut args = base.to_vec();
    args.extend([
        "--image-size",
        "10x10",
        "--color",
        "gray",
        "--conv-channels",
        "8,16",
        "--epochs",
        "15",
        "--lr",
        "0.003",
    ]);
    args.extend(["--out", out.path().to_str().unwrap()]);
    let metrics = {
        let _rng = exclusive_rng();
        train_run(&args)
    };
    let TestMetrics::Classification { per_class, .. } = &metrics.test else {
        unreachable!()
    };
    assert_eq!(
        per_class.iter().map(|c| c.support).sum::<usize>(),
        18,
        "the test/ folder is the test set"
    );
    assert!(accuracy(&metrics.test) >= 0.8, "{:?}", metrics.test);
    let manifest = read_manifest(out.path());
    let pixels = &manifest["preprocessing"]["pixels"];
    assert_eq!(
        pixels["layout"],
        serde_json::json!({"color": "gray", "height": 10, "width": 10})
    );
    assert_eq!(
        pixels["normalization"]["mean"].as_array().unwrap().len(),
        1,
        "one gray channel"
    );
    assert_eq!(manifest["model"]["cnn"]["channels"], 1);
}

#[test]
fn the_same_seed_gives_the_same_split_and_model_twice() {
    let data = tempfile::tempdir().unwrap();
    write_folder(data.path(), 20, |_| 10, 4);
    let run = |seed: &str| {
        let out = tempfile::tempdir().unwrap();
        let _rng = exclusive_rng();
        let metrics = train_run(&[
            "train",
            "--model",
            "mlp",
            "--format",
            "folder",
            "--data",
            data.path().to_str().unwrap(),
            "--epochs",
            "3",
            "--seed",
            seed,
            "--quiet",
            "--out",
            out.path().to_str().unwrap(),
        ]);
        let history = std::fs::read_to_string(out.path().join("history.json")).unwrap();
        let losses: Vec<f64> =
            serde_json::from_str::<serde_json::Value>(&history).unwrap()["epochs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["loss"].as_f64().unwrap())
                .collect();
        (metrics.test, losses)
    };
    let first = run("7");
    assert_eq!(run("7"), first);
    assert_ne!(
        run("8").1,
        first.1,
        "another seed, another split and other weights"
    );
}

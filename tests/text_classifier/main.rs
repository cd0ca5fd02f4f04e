//! The text classifier end to end: generated topic corpora, the bundled SMS spam data, and
//! predictions after save/load on every backend.

use std::path::Path;

use clap::Parser;
use rand::Rng;
use rand::seq::IndexedRandom;
use zoo_apps::app::train;
use zoo_apps::run::MetricsFile;
use zoo_apps::test_metrics::TestMetrics;
use zoo_apps::text_classifier::{Cli, Command, predict_texts};
use zoo_models::backend::BackendKind;
use zoo_tests::{exclusive_rng, rng, wgpu_device};

const TOPICS: [(&str, [&str; 8]); 3] = [
    (
        "sport",
        [
            "goal", "match", "team", "score", "referee", "league", "striker", "coach",
        ],
    ),
    (
        "food",
        [
            "recipe", "oven", "flour", "sugar", "bake", "dinner", "salad", "spoon",
        ],
    ),
    (
        "tech",
        [
            "laptop", "server", "code", "compile", "network", "keyboard", "screen", "cloud",
        ],
    ),
];
const FILLER: [&str; 8] = ["the", "a", "today", "really", "we", "very", "about", "was"];

/// A CSV (`label,text` header, quoted texts with commas) of `per_topic` sentences for each of
/// the first `topics` topics: three topic words and three filler words, shuffled.
fn write_corpus(path: &Path, topics: usize, per_topic: usize, seed: u64) {
    let mut rng = rng(seed);
    let mut csv = String::from("label,text\n");
    for i in 0..per_topic * topics {
        let (topic, words) = TOPICS[i % topics];
        let mut sentence: Vec<&str> = (0..3).map(|_| *words.choose(&mut rng).unwrap()).collect();
        sentence.extend((0..3).map(|_| *FILLER.choose(&mut rng).unwrap()));
        let cut = rng.random_range(1..sentence.len());
        sentence.rotate_left(cut);
        csv += &format!(
            "{topic},\"{}, {}\"\n",
            sentence[..3].join(" "),
            sentence[3..].join(" ")
        );
    }
    std::fs::write(path, csv).unwrap();
}

fn command(args: &[&str]) -> Command {
    Cli::parse_from(std::iter::once("text-classifier").chain(args.iter().copied())).command
}

fn train_run(args: &[&str]) -> MetricsFile {
    let Command::Train(command) = command(args) else {
        panic!("not a train command")
    };
    let _rng = exclusive_rng();
    train(&command).unwrap().0
}

fn figures(metrics: &TestMetrics) -> (f64, Vec<(String, f64)>) {
    let TestMetrics::Classification {
        accuracy,
        per_class,
        ..
    } = metrics
    else {
        panic!("a classifier")
    };
    (
        *accuracy,
        per_class.iter().map(|c| (c.class.clone(), c.f1)).collect(),
    )
}

#[test]
fn two_topics_are_learned_perfectly() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("topics.csv");
    write_corpus(&data, 2, 60, 1);
    let out = dir.path().join("model");
    let metrics = train_run(&[
        "train",
        "--data",
        data.to_str().unwrap(),
        "--label-column",
        "label",
        "--text-column",
        "text",
        "--epochs",
        "20",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    let (accuracy, per_class) = figures(&metrics.test);
    assert_eq!(accuracy, 1.0, "{per_class:?}");
    assert_eq!(
        per_class.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(),
        ["food", "sport"]
    );
    let predictions = predict_texts(
        &out,
        &BackendKind::Flex.device().unwrap(),
        &[
            "the striker scored a goal".into(),
            "bake it in the oven".into(),
        ],
    )
    .unwrap();
    assert_eq!(
        predictions.iter().map(|p| p.0.as_str()).collect::<Vec<_>>(),
        ["sport", "food"]
    );
}

#[test]
fn three_topics_work_with_either_model() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("topics.csv");
    write_corpus(&data, 3, 50, 2);
    for model in ["logistic", "mlp"] {
        let out = dir.path().join(model);
        let metrics = train_run(&[
            "train",
            "--model",
            model,
            "--data",
            data.to_str().unwrap(),
            "--label-column",
            "label",
            "--text-column",
            "text",
            "--epochs",
            "20",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ]);
        let (accuracy, per_class) = figures(&metrics.test);
        assert!(accuracy >= 0.95, "{model}: {accuracy} {per_class:?}");
        assert_eq!(per_class.len(), 3);
        let manifest: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("model.json")).unwrap())
                .unwrap();
        assert_eq!(
            manifest["task"],
            serde_json::json!({"kind": "multiclass", "n_classes": 3})
        );
    }
}

#[test]
fn sms_spam_reaches_the_readme_figures() {
    let out = tempfile::tempdir().unwrap();
    let metrics = train_run(&[
        "train",
        "--model",
        "logistic",
        "--backend",
        "flex",
        "--quiet",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    let (accuracy, per_class) = figures(&metrics.test);
    let spam_f1 = per_class.iter().find(|c| c.0 == "spam").unwrap().1;
    assert!(
        accuracy >= 0.98 && spam_f1 >= 0.93,
        "accuracy {accuracy}, spam F1 {spam_f1}"
    );

    // `evaluate` finds the same stratified test split from what model.json recorded.
    let Command::Evaluate(evaluate) = command(&[
        "evaluate",
        "--model-dir",
        out.path().to_str().unwrap(),
        "--backend",
        "flex",
    ]) else {
        unreachable!()
    };
    assert_eq!(zoo_apps::app::evaluate(&evaluate).unwrap(), metrics.test);
}

#[test]
fn predictions_after_loading_agree_on_every_backend() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("topics.csv");
    write_corpus(&data, 3, 40, 3);
    let out = dir.path().join("model");
    train_run(&[
        "train",
        "--model",
        "mlp",
        "--backend",
        "flex",
        "--data",
        data.to_str().unwrap(),
        "--label-column",
        "label",
        "--text-column",
        "text",
        "--epochs",
        "10",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    let texts: Vec<String> = [
        "team goal today",
        "sugar and flour",
        "compile the code",
        "nothing known",
    ]
    .map(String::from)
    .into();
    let reference = predict_texts(&out, &BackendKind::Flex.device().unwrap(), &texts).unwrap();
    let mut backends: Vec<BackendKind> = zoo_tests::cpu_backends()
        .into_iter()
        .map(|(b, _)| b)
        .collect();
    if wgpu_device("text predictions").is_some() {
        backends.push(BackendKind::Wgpu);
    }
    for backend in backends {
        let predictions = predict_texts(&out, &backend.device().unwrap(), &texts).unwrap();
        for ((label, p), (expected_label, expected_p)) in predictions.iter().zip(&reference) {
            assert_eq!(label, expected_label, "on {backend}");
            // f32 sums in another order: differences of a few ulps of a probability.
            assert!(
                (p - expected_p).abs() < 1e-5,
                "on {backend}: {p} vs {expected_p}"
            );
        }
    }
    assert_eq!(
        reference[..3]
            .iter()
            .map(|p| p.0.as_str())
            .collect::<Vec<_>>(),
        ["sport", "food", "tech"]
    );
}

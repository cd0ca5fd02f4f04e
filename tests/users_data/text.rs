//! The text classifier on files laid out as users' files are.

use std::path::Path;

use clap::Parser;
use rand::Rng;
use rand::seq::IndexedRandom;
use zoo_apps::app::train;
use zoo_apps::test_metrics::TestMetrics;
use zoo_apps::text_classifier::{Cli, Command};
use zoo_tests::{exclusive_rng, rng};

use crate::{accuracy, read_json, write_windows_text};

/// Labels with spaces and non-ASCII letters, each with words of its own.
const INTENTS: [(&str, [&str; 5]); 8] = [
    (
        "card lost",
        ["lost", "stolen", "missing", "wallet", "block"],
    ),
    (
        "Überweisung",
        ["transfer", "iban", "recipient", "sent", "wire"],
    ),
    (
        "cambio de PIN",
        ["pin", "code", "digits", "reset", "change"],
    ),
    (
        "exchange rate",
        ["rate", "euro", "dollar", "convert", "currency"],
    ),
    ("refund", ["refund", "return", "money", "back", "merchant"]),
    ("top up", ["top", "topup", "add", "funds", "balance"]),
    (
        "câble débit",
        ["debit", "charged", "twice", "statement", "duplicate"],
    ),
    (
        "åpne konto",
        ["open", "account", "signup", "new", "register"],
    ),
];
const FILLER: [&str; 8] = ["my", "the", "please", "i", "need", "help", "with", "today"];

/// `per_class` sentences of each intent, grouped by label in sorted order as an export sorted
/// by label is: three of its words and three filler words.
fn sentences(per_class: usize, seed: u64) -> Vec<(&'static str, String)> {
    let mut rng = rng(seed);
    let mut intents = INTENTS.to_vec();
    intents.sort_by_key(|(label, _)| *label);
    let mut rows = Vec::new();
    for (label, words) in intents {
        for _ in 0..per_class {
            let mut sentence: Vec<&str> =
                (0..3).map(|_| *words.choose(&mut rng).unwrap()).collect();
            sentence.extend((0..3).map(|_| *FILLER.choose(&mut rng).unwrap()));
            let cut = rng.random_range(1..sentence.len());
            sentence.rotate_left(cut);
            rows.push((label, sentence.join(" ")));
        }
    }
    rows
}

/// A semicolon-separated `.txt` with a quoted header, a byte-order mark and CRLF line ends.
fn write_semicolon_file(path: &Path, rows: &[(&str, String)]) {
    let mut text = String::from("\"label\";\"text\"\n");
    for (label, sentence) in rows {
        text += &format!("{label};\"{sentence}; thanks\"\n");
    }
    write_windows_text(path, &text);
}

fn train_run(args: &[&str]) -> anyhow::Result<TestMetrics> {
    let Command::Train(command) =
        Cli::parse_from(std::iter::once("text-classifier").chain(args.iter().copied())).command
    else {
        unreachable!()
    };
    let _rng = exclusive_rng();
    Ok(train(&command)?.0.test)
}

fn per_class(metrics: &TestMetrics) -> Vec<(String, f64, usize)> {
    let TestMetrics::Classification { per_class, .. } = metrics else {
        panic!("a classifier")
    };
    per_class
        .iter()
        .map(|c| (c.class.clone(), c.recall, c.support))
        .collect()
}

#[test]
fn a_file_sorted_by_label_trains_every_class() {
    let dir = tempfile::tempdir().unwrap();
    let (train_file, test_file) = (dir.path().join("train.txt"), dir.path().join("test.txt"));
    write_semicolon_file(&train_file, &sentences(30, 1));
    write_semicolon_file(&test_file, &sentences(10, 2));
    let run = |holdout: Option<&str>| {
        let out = dir.path().join(holdout.unwrap_or("default"));
        let mut args = vec![
            "train",
            "--data",
            train_file.to_str().unwrap(),
            "--test-data",
            test_file.to_str().unwrap(),
            "--label-column",
            "label",
            "--text-column",
            "text",
            "--validation-split",
            "0.2",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend(holdout.iter().flat_map(|h| ["--validation-holdout", h]));
        (train_run(&args).unwrap(), out)
    };
    // The default holdout is stratified.
    let (metrics, out) = run(None);
    let classes = per_class(&metrics);
    assert_eq!(classes.len(), 8);
    assert!(accuracy(&metrics) >= 0.95, "{classes:?}");
    assert!(
        classes.iter().all(|(_, recall, _)| *recall >= 0.8),
        "{classes:?}"
    );
    // Every class trains and validates; split.json names the file's rows.
    let split = read_json(&out.join("split.json"));
    assert_eq!(split["train"].as_array().unwrap().len(), 192);
    assert_eq!(split["validation"].as_array().unwrap().len(), 48);
    assert_eq!(split["test"][0], 0);

    // Keras' holdout of the same file is its last fifth: the last class never trains.
    let (metrics, _) = run(Some("last"));
    let last = per_class(&metrics)
        .into_iter()
        .max_by(|a, b| a.0.cmp(&b.0))
        .unwrap();
    assert_eq!(last.1, 0.0, "{last:?}");
}

#[test]
fn a_tab_file_named_csv_with_imbalance_a_rare_class_and_a_test_only_label() {
    let dir = tempfile::tempdir().unwrap();
    let (train_file, test_file) = (dir.path().join("msgs.csv"), dir.path().join("test.csv"));
    let mut rng = rng(3);
    let ham = [
        "lunch", "later", "home", "mum", "tonight", "meeting", "dinner",
    ];
    let spam = ["win", "prize", "claim", "free", "cash", "urgent", "txt"];
    let line = |label: &str, words: &[&str], rng: &mut rand_chacha::ChaCha12Rng| {
        let text: Vec<&str> = (0..5).map(|_| *words.choose(rng).unwrap()).collect();
        format!("{label}\t\"{}\", ok\n", text.join(" "))
    };
    // 1:50 imbalance, and a class of two examples.
    let mut text = String::new();
    for i in 0..510 {
        let (label, words) = if i % 51 == 50 {
            ("spam", &spam)
        } else {
            ("ham", &ham)
        };
        text += &line(label, words, &mut rng);
    }
    text += &line("rare", &["ferry", "harbour", "boat"], &mut rng);
    text += &line("rare", &["ferry", "harbour", "boat"], &mut rng);
    std::fs::write(&train_file, text).unwrap();
    let mut test = String::new();
    for i in 0..60 {
        let (label, words) = if i % 3 == 0 {
            ("spam", &spam)
        } else {
            ("ham", &ham)
        };
        test += &line(label, words, &mut rng);
    }
    test += &line("unseen", &["volcano", "lava"], &mut rng);
    std::fs::write(&test_file, test).unwrap();

    let out = dir.path().join("model");
    let metrics = train_run(&[
        "train",
        "--data",
        train_file.to_str().unwrap(),
        "--test-data",
        test_file.to_str().unwrap(),
        "--min-df",
        "1",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ])
    .unwrap();
    let classes = per_class(&metrics);
    assert_eq!(
        classes.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(),
        ["ham", "rare", "spam", "unseen"]
    );
    let recall = |name: &str| classes.iter().find(|c| c.0 == name).unwrap().1;
    assert!(
        recall("spam") >= 0.9,
        "the minority class is learnt: {classes:?}"
    );
    assert!(recall("ham") >= 0.9, "{classes:?}");
    // A label only the test file has is counted, and missed, rather than refused.
    assert_eq!(recall("unseen"), 0.0);
    assert_eq!(
        read_json(&out.join("model.json"))["preprocessing"]["format"]["delimiter"],
        9
    );
}

#[test]
fn a_file_no_common_delimiter_splits_says_to_name_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("piped.txt");
    let rows: String = sentences(5, 4)
        .into_iter()
        .map(|(label, text)| format!("{label}|{text}\n"))
        .collect();
    std::fs::write(&path, rows).unwrap();
    let out = dir.path().join("model");
    let err = train_run(&[
        "train",
        "--data",
        path.to_str().unwrap(),
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ])
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("piped.txt") && err.contains("--delimiter"),
        "{err}"
    );
    let metrics = train_run(&[
        "train",
        "--data",
        path.to_str().unwrap(),
        "--delimiter",
        "|",
        "--test-split",
        "0.25",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ])
    .unwrap();
    assert_eq!(per_class(&metrics).len(), 8);
}

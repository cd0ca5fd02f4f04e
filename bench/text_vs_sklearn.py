"""Time `text-classifier train` (logistic regression, the defaults) against scikit-learn's
TfidfVectorizer() + LogisticRegression() on the same file, in alternating sittings.

    python bench/generate_texts.py --rows 10000 --out /var/tmp/texts-10k.tsv
    cargo build --release --bin text-classifier
    venv/bin/python bench/text_vs_sklearn.py --data /var/tmp/texts-10k.tsv --sittings 3

The zoo's time is the whole `train` command (reading, vectorising, training to convergence,
testing, saving the model and its charts). scikit-learn's is reading the file, vectorising and
fitting on the rows the zoo trained on (its `split.json`), then scoring on the zoo's test rows;
the interpreter's start and imports are not counted. Needs scikit-learn.
"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression


def zoo(binary, data, out):
    start = time.perf_counter()
    subprocess.run([binary, "train", "--data", data, "--out", out, "--quiet"], check=True,
                   stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    metrics = json.loads((Path(out) / "metrics.json").read_text())
    split = json.loads((Path(out) / "split.json").read_text())
    return seconds, metrics["test"]["accuracy"], split


def sklearn(data, split):
    start = time.perf_counter()
    labels, texts = [], []
    with open(data, encoding="utf-8") as file:
        for line in file:
            label, text = line.rstrip("\n").split("\t", 1)
            labels.append(label)
            texts.append(text)
    train = split["train"] + split["validation"]
    vectorizer = TfidfVectorizer()
    x_train = vectorizer.fit_transform([texts[i] for i in train])
    model = LogisticRegression().fit(x_train, [labels[i] for i in train])
    predicted = model.predict(vectorizer.transform([texts[i] for i in split["test"]]))
    seconds = time.perf_counter() - start
    accuracy = sum(p == labels[i] for p, i in zip(predicted, split["test"])) / len(split["test"])
    return seconds, accuracy


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--binary", default=os.environ.get(
        "TEXT_CLASSIFIER", "target/release/text-classifier"))
    parser.add_argument("--sittings", type=int, default=3)
    args = parser.parse_args()
    zoo_times, sklearn_times = [], []
    with tempfile.TemporaryDirectory() as out:
        for sitting in range(args.sittings):
            seconds, zoo_accuracy, split = zoo(args.binary, args.data, out)
            zoo_times.append(seconds)
            seconds, sklearn_accuracy = sklearn(args.data, split)
            sklearn_times.append(seconds)
            print(f"sitting {sitting + 1}: zoo {zoo_times[-1]:.2f} s (accuracy {zoo_accuracy:.4f}), "
                  f"scikit-learn {sklearn_times[-1]:.2f} s (accuracy {sklearn_accuracy:.4f})")
    print(f"median: zoo {statistics.median(zoo_times):.2f} s, "
          f"scikit-learn {statistics.median(sklearn_times):.2f} s")


if __name__ == "__main__":
    main()

"""Time `text-classifier train` (logistic regression, the defaults) against scikit-learn's
TfidfVectorizer + LogisticRegression with the same features on the same file, in alternating
sittings.

    python bench/generate_texts.py --rows 1000000 --classes 50 --out /var/tmp/texts-1m.tsv
    cargo build --release --bin text-classifier
    venv/bin/python bench/text_vs_sklearn.py --data /var/tmp/texts-1m.tsv --sittings 3

The zoo's time is the whole `train` command (reading, vectorising, training to convergence,
testing, saving the model, its checkpoints and its charts). scikit-learn's is reading the file,
vectorising and fitting on the rows the zoo trained on (its `split.json`: training and
validation rows), then scoring on the zoo's test rows, in a child process of its own; the
interpreter's start and imports are not counted. The features are the zoo's defaults: word 1-2
grams, min_df = 2, sublinear TF, at most 100,000 terms, C = 10, and scikit-learn's own stopping
rule (the largest gradient component at most 1e-4, at most 100 iterations). Peak memory is each
process's maximum resident set. Needs scikit-learn.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def zoo(binary, data, out):
    start = time.perf_counter()
    process = subprocess.Popen([binary, "train", "--data", data, "--out", out, "--quiet"],
                               stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        sys.exit(f"{binary} train failed ({status})")
    metrics = json.loads((Path(out) / "metrics.json").read_text())
    history = json.loads((Path(out) / "history.json").read_text())
    return {
        "seconds": seconds,
        "accuracy": metrics["test"]["accuracy"],
        "iterations": len(history["epochs"]),
        "peak_mb": usage.ru_maxrss / 1024,
    }


def sklearn_child(data, split_file):
    """Runs in its own process: the timed scikit-learn pipeline; prints its figures as JSON."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    split = json.loads(Path(split_file).read_text())
    start = time.perf_counter()
    labels, texts = [], []
    with open(data, encoding="utf-8") as file:
        for line in file:
            label, text = line.rstrip("\n").split("\t", 1)
            labels.append(label)
            texts.append(text)
    train = split["train"] + split["validation"]
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True,
                                 max_features=100_000)
    x_train = vectorizer.fit_transform([texts[i] for i in train])
    vectorised = time.perf_counter() - start
    model = LogisticRegression(C=10).fit(x_train, [labels[i] for i in train])
    fitted = time.perf_counter() - start
    predicted = model.predict(vectorizer.transform([texts[i] for i in split["test"]]))
    seconds = time.perf_counter() - start
    accuracy = sum(p == labels[i] for p, i in zip(predicted, split["test"])) / len(split["test"])
    print(json.dumps({"seconds": seconds, "accuracy": accuracy,
                      "iterations": int(max(model.n_iter_)),
                      "vectorising_seconds": vectorised, "fit_seconds": fitted - vectorised}))


def sklearn(data, out):
    process = subprocess.Popen(
        [sys.executable, __file__, "--sklearn-child", "--data", data,
         "--split", str(Path(out) / "split.json")],
        stdout=subprocess.PIPE)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        sys.exit(f"scikit-learn failed ({status})")
    figures = json.loads(output)
    figures["peak_mb"] = usage.ru_maxrss / 1024
    return figures


def line(name, figures):
    extra = ""
    if "vectorising_seconds" in figures:
        extra = (f", {figures['vectorising_seconds']:.1f} s vectorising, "
                 f"{figures['fit_seconds']:.1f} s fitting")
    return (f"{name} {figures['seconds']:.1f} s ({figures['iterations']} iterations{extra}; "
            f"accuracy {figures['accuracy']:.4f}; peak {figures['peak_mb']:.0f} MB)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--binary", default=os.environ.get(
        "TEXT_CLASSIFIER", "target/release/text-classifier"))
    parser.add_argument("--sittings", type=int, default=3)
    parser.add_argument("--sklearn-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--split", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sklearn_child:
        sklearn_child(args.data, args.split)
        return
    zoo_runs, sklearn_runs = [], []
    with tempfile.TemporaryDirectory() as out:
        for sitting in range(args.sittings):
            zoo_runs.append(zoo(args.binary, args.data, out))
            sklearn_runs.append(sklearn(args.data, out))
            print(f"sitting {sitting + 1}: {line('zoo', zoo_runs[-1])}; "
                  f"{line('scikit-learn', sklearn_runs[-1])}", flush=True)
    median = lambda runs, key: statistics.median(r[key] for r in runs)
    print(f"median: zoo {median(zoo_runs, 'seconds'):.1f} s, "
          f"scikit-learn {median(sklearn_runs, 'seconds'):.1f} s; "
          f"peak {median(zoo_runs, 'peak_mb'):.0f} MB vs {median(sklearn_runs, 'peak_mb'):.0f} MB")


if __name__ == "__main__":
    main()

"""scikit-learn's standard pipelines on the same splits as burn-zoo's apps, side by side.

For every bundled dataset this runs the app's `train` with its defaults (seed 42, flex backend),
reads the run's `split.json` (which rows or files trained, validated and tested the model) and
`metrics.json`, fits scikit-learn's standard pipeline on exactly the rows the zoo trained on,
and scores it on the same test rows:

    tabular (diabetes)           StandardScaler + LinearRegression           test R²
    tabular (breast cancer, iris) StandardScaler + LogisticRegression()      test accuracy
    text (SMS spam)              TfidfVectorizer() + LogisticRegression()    test accuracy
    image (MNIST)                LogisticRegression() on pixels / 255        test accuracy
    audio (FSDD)                 python_speech_features MFCCs, normalised and shaped as the app
                                 does (13 × 80, statistics of all training
                                 recordings) + LogisticRegression()          test accuracy

Every estimator keeps scikit-learn's defaults (C = 1, lbfgs, max_iter = 100), as a user would
run it. Needs scikit-learn and python_speech_features, and the zoo's binaries built:

    python -m venv venv && venv/bin/pip install scikit-learn python_speech_features
    cargo build --release --bins
    venv/bin/python bench/sklearn_reference.py --markdown
    venv/bin/python bench/sklearn_reference.py --markdown --cv 5   # cross-validation, same folds
"""
import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import accuracy_score, r2_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"


def load_sklearn_csv(path):
    """scikit-learn's CSV layout: a metadata line, then features and an integer label."""
    table = np.loadtxt(path, delimiter=",", skiprows=1)
    return table[:, :-1], table[:, -1].astype(int)


def diabetes():
    x = np.loadtxt(DATA / "sklearn-diabetes/diabetes_data_raw.csv.gz")
    y = np.loadtxt(DATA / "sklearn-diabetes/diabetes_target.csv.gz")
    return x, y


def sms_spam():
    labels, texts = [], []
    with open(DATA / "sms-spam/SMSSpamCollection", encoding="utf-8") as f:
        for line in f:
            label, text = line.rstrip("\n").split("\t", 1)
            labels.append(label.strip())
            texts.append(text)
    return np.array(texts, dtype=object), np.array(labels)


def idx(path):
    with gzip.open(path) as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def mnist():
    d = DATA / "mnist"
    x_train = idx(d / "train-images-idx3-ubyte.gz").reshape(60000, -1) / 255.0
    x_test = idx(d / "t10k-images-idx3-ubyte.gz").reshape(10000, -1) / 255.0
    return (x_train, idx(d / "train-labels-idx1-ubyte.gz")), (
        x_test, idx(d / "t10k-labels-idx1-ubyte.gz"))


# The app's MFCC settings (MfccConfig::default(), checked against python_speech_features in
# apps/tests/fixtures/mfcc_reference.py) and its clip shape.
MFCC = dict(samplerate=8000, winlen=0.025, winstep=0.01, numcep=13, nfilt=26, nfft=256,
            lowfreq=0, highfreq=None, preemph=0.97, ceplifter=0, appendEnergy=False,
            winfunc=np.hamming)
MAX_FRAMES = 80


def fsdd_mfccs(files):
    from python_speech_features import mfcc
    clips = []
    for name in files:
        with wave.open(str(DATA / "fsdd/recordings" / name)) as w:
            assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
            signal = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2") / 32768.0
        clips.append(mfcc(signal, **MFCC))
    return clips


def fsdd_rows(clips, mean, std):
    """Normalised per coefficient, padded with zeros (the mean) or cropped to 80 frames,
    flattened coefficient-major: the rows the app's logistic regression sees."""
    rows = np.zeros((len(clips), MFCC["numcep"], MAX_FRAMES))
    for i, clip in enumerate(clips):
        frames = (clip[:MAX_FRAMES] - mean) / std
        rows[i, :, : len(frames)] = frames.T
    return rows.reshape(len(clips), -1)


# `--cv K`: the zoo cross-validates its training rows first (`train --cv K`, its folds in
# `cv.json`), and scikit-learn's pipeline is cross-validated on the very same folds.
CV_FOLDS = None


def zoo_run(bin_dir, app, args, out):
    command = [str(bin_dir / app), "train", *args, "--backend", "flex", "--seed", "42",
               "--quiet", "--out", str(out)]
    if CV_FOLDS:
        command += ["--cv", str(CV_FOLDS)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    split = json.loads((out / "split.json").read_text())
    metrics = json.loads((out / "metrics.json").read_text())
    if CV_FOLDS:
        metrics["cv"] = json.loads((out / "cv.json").read_text())
    return split, metrics


def cross_validate_on_folds(estimator, score, train, folds):
    """scikit-learn's scores on the zoo's folds: positions in the training rows."""
    from sklearn.base import clone
    x, y = train
    scores = []
    for fold in folds:
        held = np.zeros(len(y), dtype=bool)
        held[fold["test_rows"]] = True
        model = clone(estimator).fit(x[~held], y[~held])
        scores.append(score(y[held], model.predict(x[held])))
    return float(np.mean(scores)), float(np.std(scores))


def tabular_case(bin_dir, out, dataset):
    split, metrics = zoo_run(bin_dir, "tabular", ["--dataset", dataset], out)
    if dataset == "diabetes":
        x, y = diabetes()
        estimator, score, zoo = (make_pipeline(StandardScaler(), LinearRegression()), r2_score,
                                 metrics["test"]["r2"])
    else:
        name = {"breast-cancer": "sklearn-breast-cancer/breast_cancer.csv",
                "iris": "sklearn-iris/iris.csv"}[dataset]
        x, y = load_sklearn_csv(DATA / name)
        estimator, score, zoo = (make_pipeline(StandardScaler(), LogisticRegression()),
                                 accuracy_score, metrics["test"]["accuracy"])
    train, test = split["train"], split["test"]
    return fit_and_score(estimator, score, (x[train], y[train]), (x[test], y[test]), zoo,
                         metrics)


def text_case(bin_dir, out):
    split, metrics = zoo_run(bin_dir, "text-classifier", [], out)
    texts, labels = sms_spam()
    train, test = split["train"], split["test"]
    estimator = make_pipeline(TfidfVectorizer(), LogisticRegression())
    return fit_and_score(estimator, accuracy_score, (texts[train], labels[train]),
                         (texts[test], labels[test]), metrics["test"]["accuracy"], metrics)


def image_case(bin_dir, out):
    split, metrics = zoo_run(bin_dir, "image-classifier", ["--model", "logistic"], out)
    (x, y), (x_test, y_test) = mnist()
    train, test = split["train"], split["test"]
    return fit_and_score(LogisticRegression(), accuracy_score, (x[train], y[train]),
                         (x_test[test], y_test[test]), metrics["test"]["accuracy"], metrics)


def audio_case(bin_dir, out):
    split, metrics = zoo_run(bin_dir, "audio-classifier", ["--model", "logistic"], out)
    train_clips, test_clips = fsdd_mfccs(split["train"]), fsdd_mfccs(split["test"])
    # The app normalises with the statistics of all its training recordings, the validation
    # part included.
    frames = np.concatenate(train_clips + fsdd_mfccs(split["validation"]))
    mean, std = frames.mean(axis=0), frames.std(axis=0)
    label = lambda name: int(Path(name).name.split("_")[0])
    y_train = np.array([label(n) for n in split["train"]])
    y_test = np.array([label(n) for n in split["test"]])
    return fit_and_score(LogisticRegression(), accuracy_score,
                         (fsdd_rows(train_clips, mean, std), y_train),
                         (fsdd_rows(test_clips, mean, std), y_test), metrics["test"]["accuracy"],
                         metrics)


def fit_and_score(estimator, score, train, test, zoo, metrics):
    cv = {}
    if "cv" in metrics:
        sklearn_mean, sklearn_std = cross_validate_on_folds(estimator, score, train,
                                                            metrics["cv"]["folds"])
        cv = dict(cv_zoo=metrics["cv"]["mean"], cv_zoo_std=metrics["cv"]["std"],
                  cv_sklearn=sklearn_mean, cv_sklearn_std=sklearn_std)
    start = time.perf_counter()
    estimator.fit(*train)
    seconds = time.perf_counter() - start
    reference = score(test[1], estimator.predict(test[0]))
    return dict(zoo=zoo, sklearn=reference, zoo_seconds=metrics["train_seconds"],
                sklearn_seconds=seconds, epochs=metrics["epochs_run"],
                stop=metrics["stop"]["reason"], n_train=len(train[1]), n_test=len(test[1]),
                **cv)


CASES = {
    "diabetes": ("tabular linear", "R²", lambda b, o: tabular_case(b, o, "diabetes")),
    "breast-cancer": ("tabular logistic", "accuracy",
                      lambda b, o: tabular_case(b, o, "breast-cancer")),
    "iris": ("tabular logistic", "accuracy", lambda b, o: tabular_case(b, o, "iris")),
    "sms-spam": ("text logistic", "accuracy", text_case),
    "mnist": ("image logistic", "accuracy", image_case),
    "fsdd": ("audio logistic", "accuracy", audio_case),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    target = os.environ.get("CARGO_TARGET_DIR", "/var/tmp/burn-zoo-target")
    parser.add_argument("--bin-dir", type=Path, default=Path(target) / "release",
                        help="where the zoo's release binaries are")
    parser.add_argument("--case", action="append", choices=list(CASES),
                        help="datasets to run (default: all)")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("--cv", type=int, metavar="K",
                        help="also cross-validate both on the zoo's K folds of the training rows")
    args = parser.parse_args()
    global CV_FOLDS
    CV_FOLDS = args.cv
    rows = []
    for name in args.case or list(CASES):
        model, metric, case = CASES[name]
        with tempfile.TemporaryDirectory() as out:
            result = case(args.bin_dir, Path(out))
        rows.append((name, model, metric, result))
        print(f"{name}: zoo {result['zoo']:.4f}, scikit-learn {result['sklearn']:.4f}",
              file=sys.stderr)
    if args.markdown and args.cv:
        print(f"| dataset | zoo model | metric | zoo, {args.cv}-fold mean ± std "
              "| scikit-learn, same folds | zoo − sklearn |")
        print("|---|---|---|---:|---:|---:|")
        for name, model, metric, r in rows:
            print(f"| {name} | {model} | {metric} | {r['cv_zoo']:.4f} ± {r['cv_zoo_std']:.4f} "
                  f"| {r['cv_sklearn']:.4f} ± {r['cv_sklearn_std']:.4f} "
                  f"| {r['cv_zoo'] - r['cv_sklearn']:+.4f} |")
    elif args.markdown:
        print("| dataset | zoo model | metric | zoo | scikit-learn | zoo − sklearn "
              "| train / test rows | zoo training | sklearn fit |")
        print("|---|---|---|---:|---:|---:|---:|---:|---:|")
        for name, model, metric, r in rows:
            print(f"| {name} | {model} | {metric} | {r['zoo']:.4f} | {r['sklearn']:.4f} "
                  f"| {r['zoo'] - r['sklearn']:+.4f} | {r['n_train']} / {r['n_test']} "
                  f"| {r['zoo_seconds']:.1f} s ({r['epochs']} epochs, {r['stop']}) "
                  f"| {r['sklearn_seconds']:.1f} s |")
    else:
        print(json.dumps({name: r for name, _, _, r in rows}, indent=2))


if __name__ == "__main__":
    main()

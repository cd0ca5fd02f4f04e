"""Does `tune` pick the model a user would? On tables the zoo never saw (scikit-learn's
bundled wine and digits: no download), cross-validate and test logistic regression and the MLP
with their defaults (`train --cv 5`), as a user choosing between them would, then let `tabular
tune` choose (random search over the model and its penalty, ranked on a 5-fold
cross-validation: these tables leave a validation split of a dozen to 150 rows); print a
Markdown row per dataset (README, "Hyper-parameter search").

    python bench/tune_heldout.py [--out DIR]     (needs scikit-learn)
"""

import argparse
import csv
import json
import os
import subprocess
import time
from pathlib import Path

from sklearn import datasets

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", "/var/tmp/burn-zoo-target"))
TABULAR = TARGET / "release" / "tabular"


def write_table(path, data):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([f"x{i}" for i in range(data.data.shape[1])] + ["class"])
        for row, target in zip(data.data, data.target):
            writer.writerow([repr(float(v)) for v in row] + [int(target)])


def test_accuracy(folder):
    return json.loads((folder / "metrics.json").read_text())["test"]["accuracy"]


def cv_accuracy(folder):
    return json.loads((folder / "cv.json").read_text())["mean"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "tune-heldout")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    tables = {
        "wine (178 × 13, 3 classes)": datasets.load_wine(),
        "digits (1797 × 64, 10 classes)": datasets.load_digits(),
    }
    print("| dataset | logistic (defaults): CV / test | MLP (defaults): CV / test | tune's pick | its CV / test | search wall time |")
    print("|---|---|---|---|---|---|")
    for name, data in tables.items():
        slug = name.split()[0]
        table = args.out / f"{slug}.csv"
        write_table(table, data)
        train = ["--data", str(table), "--header", "--target", "class", "--task", "classification"]
        figures = {}
        for model in ["logistic", "mlp"]:
            folder = args.out / f"{slug}-{model}"
            subprocess.run([TABULAR, "train", "--quiet", "--cv", "5", "--model", model,
                            "--out", folder, *train], check=True, stdout=subprocess.DEVNULL)
            figures[model] = f"{cv_accuracy(folder):.4f} / {test_accuracy(folder):.4f}"
        search = args.out / f"{slug}-tune"
        start = time.perf_counter()
        output = subprocess.run(
            [TABULAR, "tune", "--out", search, "--strategy", "random", "--trials", "10",
             "--cv", "5", "--param", "model=logistic/mlp", "--param", "c=0.1/1/10/100/inf",
             "--", *train],
            check=True, capture_output=True, text=True).stdout
        seconds = time.perf_counter() - start
        refit = next(l for l in output.splitlines() if l.startswith("refitting"))
        trial = int(refit.split()[2])
        pick = refit.split("epochs: ")[1]
        state = json.loads((search / "tune.json").read_text())
        score = next(r["metric"] for r in state["results"] if r["trial"] == trial)
        print(f"| {name} | {figures['logistic']} | {figures['mlp']} | {pick} "
              f"| {score:.4f} / {test_accuracy(search / 'best'):.4f} | {seconds:.0f} s |")


if __name__ == "__main__":
    main()

"""Does `tune` pick the model a user would? On tables the zoo never saw (scikit-learn's
bundled wine, digits and California-free datasets: no download), train logistic regression and
the MLP with their defaults, then let `tabular tune` choose between them (and their penalty);
print a Markdown row per dataset (README, "Hyper-parameter search").

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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "tune-heldout")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    tables = {
        "wine (178 × 13, 3 classes)": datasets.load_wine(),
        "digits (1797 × 64, 10 classes)": datasets.load_digits(),
    }
    print("| dataset | logistic (defaults): test | MLP (defaults): test | tune's pick | its test | search wall time |")
    print("|---|---|---|---|---|---|")
    for name, data in tables.items():
        slug = name.split()[0]
        table = args.out / f"{slug}.csv"
        write_table(table, data)
        train = ["--data", str(table), "--header", "--target", "class", "--task", "classification"]
        figures = {}
        for model in ["logistic", "mlp"]:
            folder = args.out / f"{slug}-{model}"
            subprocess.run([TABULAR, "train", "--quiet", "--model", model, "--out", folder, *train],
                           check=True, stdout=subprocess.DEVNULL)
            figures[model] = test_accuracy(folder)
        search = args.out / f"{slug}-tune"
        start = time.perf_counter()
        output = subprocess.run(
            [TABULAR, "tune", "--out", search, "--param", "model=logistic/mlp",
             "--param", "c=0.1/1/10/100/inf", "--", *train],
            check=True, capture_output=True, text=True).stdout
        seconds = time.perf_counter() - start
        pick = next(l for l in output.splitlines() if l.startswith("refitting")).split("epochs: ")[1]
        print(f"| {name} | {figures['logistic']:.4f} | {figures['mlp']:.4f} | {pick} "
              f"| {test_accuracy(search / 'best'):.4f} | {seconds:.0f} s |")


if __name__ == "__main__":
    main()

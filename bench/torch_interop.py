#!/usr/bin/env python3
"""PyTorch's side of the zoo's interop, in two commands (run with a Python that has torch and
safetensors; no test needs either):

    python bench/torch_interop.py fixtures tests/fixtures/torch
        Trains the four zoo models in PyTorch on bundled data (bench/torch_zoo.py's modules)
        and writes, per model, NAME.safetensors, NAME.pt (torch.save; the MLP's wrapped in a
        {"state_dict": ..., "epoch": ...} checkpoint) and NAME.json: the zoo model config and
        task, eight input rows and PyTorch's outputs for them. The zoo's tests import these
        and must give the same outputs within 1e-5 on every backend. Run once; the files are
        committed.

    python bench/torch_interop.py check-exports DIR
        Loads every DIR/NAME.safetensors the zoo exported (the tests write them when
        BURN_ZOO_INTEROP_OUT=DIR is set) into its PyTorch twin with load_state_dict(strict=True)
        and compares the outputs with the zoo's in DIR/NAME.json. Exits 1 beyond 1e-5.
"""

import argparse
import csv
import gzip
import json
import pathlib
import sys

import numpy as np
import torch
from safetensors.torch import save_file

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from torch_zoo import from_config, load_exported  # noqa: E402

DATA = pathlib.Path(__file__).parent.parent / "data"
TOLERANCE = 1e-5
ROWS = 8


def iris():
    with open(DATA / "sklearn-iris" / "iris.csv") as f:
        rows = list(csv.reader(f))[1:]
    x = np.array([[float(v) for v in r[:4]] for r in rows], dtype=np.float32)
    y = np.array([int(r[4]) for r in rows])
    return standardized(x), torch.tensor(y)


def diabetes():
    with gzip.open(DATA / "sklearn-diabetes" / "diabetes_data_raw.csv.gz", "rt") as f:
        x = np.loadtxt(f, dtype=np.float32, ndmin=2)
    with gzip.open(DATA / "sklearn-diabetes" / "diabetes_target.csv.gz", "rt") as f:
        y = np.loadtxt(f, dtype=np.float32)
    return standardized(x), torch.tensor((y - y.mean()) / y.std()).reshape(-1, 1)


def mnist(n=2000):
    with gzip.open(DATA / "mnist" / "train-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, 784)[:n]
    with gzip.open(DATA / "mnist" / "train-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), dtype=np.uint8, offset=8)[:n]
    return torch.tensor(images.astype(np.float32) / 255.0), torch.tensor(labels.astype(np.int64))


def standardized(x):
    return torch.tensor((x - x.mean(axis=0)) / x.std(axis=0))


# name: (zoo model config, zoo task, data, loss, optimizer steps)
FIXTURES = {
    "linear": (
        {"linear": {"n_inputs": 10, "n_outputs": 1}},
        {"kind": "regression", "n_outputs": 1},
        diabetes,
        torch.nn.MSELoss(),
        300,
    ),
    "logistic": (
        {"logistic": {"n_inputs": 4, "n_classes": 3}},
        {"kind": "multiclass", "n_classes": 3},
        iris,
        torch.nn.CrossEntropyLoss(),
        300,
    ),
    "mlp": (
        {"mlp": {"n_inputs": 4, "hidden": [16, 8], "n_outputs": 3, "activation": "tanh", "dropout": 0.0,
                 # A zoo config names every field; the initializer only matters to the zoo's own training.
                 "initializer": {"XavierUniform": {"gain": 1.0}}}},
        {"kind": "multiclass", "n_classes": 3},
        iris,
        torch.nn.CrossEntropyLoss(),
        300,
    ),
    "cnn": (
        {"cnn": {"channels": 1, "height": 28, "width": 28, "n_outputs": 10, "conv_channels": [4, 8], "hidden": 16, "dropout": 0.0}},
        {"kind": "multiclass", "n_classes": 10},
        mnist,
        torch.nn.CrossEntropyLoss(),
        200,
    ),
}


def fixtures(out):
    out.mkdir(parents=True, exist_ok=True)
    for name, (config, task, data, loss_function, steps) in FIXTURES.items():
        torch.manual_seed(7)
        x, y = data()
        model = from_config(config)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
        for step in range(steps):
            batch = torch.randint(0, len(x), (64,))
            optimizer.zero_grad()
            loss = loss_function(model(x[batch]), y[batch])
            loss.backward()
            optimizer.step()
        model.eval()
        inputs = x[torch.linspace(0, len(x) - 1, ROWS).long()]
        with torch.no_grad():
            outputs = model(inputs)
        state = {k: v.contiguous() for k, v in model.state_dict().items()}
        save_file(state, out / f"{name}.safetensors")
        pickled = {"state_dict": state, "epoch": steps} if name == "mlp" else state
        torch.save(pickled, out / f"{name}.pt")
        record = {
            "model": config,
            "task": task,
            "trained": f"PyTorch {torch.__version__}, Adam lr 1e-2, {steps} steps of 64, final loss {loss.item():.4f}",
            "inputs": inputs.tolist(),
            "outputs": outputs.tolist(),
        }
        (out / f"{name}.json").write_text(json.dumps(record, indent=1) + "\n")
        print(f"{name}: {sum(p.numel() for p in model.parameters())} parameters, loss {loss.item():.4f}")


def check_exports(directory):
    worst = 0.0
    checked = 0
    for record_path in sorted(directory.glob("*.json")):
        weights = record_path.with_suffix(".safetensors")
        if not weights.exists():
            continue
        record = json.loads(record_path.read_text())
        model = load_exported(weights, record)
        with torch.no_grad():
            outputs = model(torch.tensor(record["inputs"], dtype=torch.float32))
        difference = (outputs - torch.tensor(record["outputs"])).abs().max().item()
        worst = max(worst, difference)
        checked += 1
        print(f"{record_path.stem}: strict load ok, max |torch - zoo| = {difference:.2e}")
    if checked == 0:
        sys.exit(f"no NAME.json with NAME.safetensors in {directory}")
    if worst > TOLERANCE:
        sys.exit(f"outputs differ by {worst:.2e}, more than {TOLERANCE:.0e}")
    print(f"{checked} exports: PyTorch gives the zoo's outputs within {TOLERANCE:.0e} (worst {worst:.2e})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("fixtures").add_argument("out", type=pathlib.Path)
    commands.add_parser("check-exports").add_argument("directory", type=pathlib.Path)
    args = parser.parse_args()
    if args.command == "fixtures":
        fixtures(args.out)
    else:
        check_exports(args.directory)


if __name__ == "__main__":
    main()

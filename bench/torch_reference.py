#!/usr/bin/env python3
"""PyTorch reference for `zoo-bench`: the same models, batch sizes, optimizer and timing.

Each case mirrors one of `zoo_models::bench::cases()` layer for layer: linear and logistic
regression are one dense layer; the MLP is dense -> ReLU -> dropout per hidden layer, then a
dense output; the CNN is (conv 3x3 "same" -> ReLU -> max-pool 2x2) per block, flatten, dense
-> ReLU -> dropout, dense. A training step gathers the batch from host memory, runs forward,
loss, backward and an Adam step (lr 1e-3, eps 1e-7 as in the zoo) and reads the loss back.
Inference is forward under `torch.inference_mode()` on a batch of 256, read back as numpy.

    python bench/torch_reference.py --threads 2 --json

Installing torch is only needed for this script (`pip install torch`); no test needs it.
"""

import argparse
import json
import resource
import statistics
import sys
import time

import torch
from torch import nn


def mlp(n_inputs, hidden, n_outputs, dropout):
    layers, width = [], n_inputs
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]
        width = h
    return nn.Sequential(*layers, nn.Linear(width, n_outputs))


def small_cnn(channels, height, width, n_outputs, conv_channels=(16, 32), hidden=128, dropout=0.2):
    layers, c, h, w = [], channels, height, width
    for out in conv_channels:
        layers += [nn.Conv2d(c, out, 3, padding="same"), nn.ReLU(), nn.MaxPool2d(2)]
        c, h, w = out, h // 2, w // 2
    return nn.Sequential(
        nn.Unflatten(1, (channels, height, width)),
        *layers,
        nn.Flatten(),
        nn.Linear(c * h * w, hidden),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(hidden, n_outputs),
    )


# name: (model factory, inputs, task, train batch); task is "regression", "binary" or a class count.
CASES = {
    "linear-diabetes": (lambda: nn.Linear(10, 1), 10, "regression", 32),
    "logistic-mnist": (lambda: nn.Linear(784, 10), 784, 10, 64),
    "mlp-mnist": (lambda: mlp(784, [256, 128], 10, 0.2), 784, 10, 64),
    "cnn-mnist": (lambda: small_cnn(1, 28, 28, 10), 784, 10, 64),
    "text-logistic": (lambda: nn.Linear(20_000, 1), 20_000, "binary", 32),
    "cnn-mfcc": (lambda: small_cnn(1, 13, 80, 10, dropout=0.3), 13 * 80, 10, 32),
}
INFERENCE_BATCH = 256


def targets(task, n, generator):
    if task == "regression":
        return torch.rand(n, 1, generator=generator) * 4 - 2
    if task == "binary":
        return (torch.arange(n) % 2).float().reshape(n, 1)
    return torch.arange(n) % task


def loss_function(task):
    if task == "regression":
        return nn.MSELoss()
    if task == "binary":
        return nn.BCEWithLogitsLoss()
    return nn.CrossEntropyLoss()


def rounds(count, seconds, run):
    """Samples per second of `count` rounds, each repeating `run` for at least `seconds`."""
    rates = []
    for _ in range(count):
        start, samples = time.perf_counter(), 0
        while samples == 0 or time.perf_counter() - start < seconds:
            samples += run()
        rates.append(samples / (time.perf_counter() - start))
    return {"median": statistics.median(rates), "min": min(rates), "max": max(rates)}


def measure(name, args):
    factory, n_inputs, task, train_batch = CASES[name]
    torch.manual_seed(1)
    generator = torch.Generator().manual_seed(1)
    model = factory()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    criterion = loss_function(task)
    inputs = torch.rand(train_batch, n_inputs, generator=generator) * 2 - 1
    labels = targets(task, train_batch, generator)
    indices = torch.arange(train_batch)

    def train_step():
        model.train()
        x, y = inputs[indices], labels[indices]
        optimizer.zero_grad(set_to_none=True)
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        value = loss.item()
        if value != value:
            sys.exit(f"{name}: the loss became NaN")
        return train_batch

    start = time.perf_counter()
    train_step()
    first_step_seconds = time.perf_counter() - start
    for _ in range(args.warmup_steps):
        train_step()
    train = rounds(args.rounds, args.round_seconds, train_step)

    model.eval()
    batch = torch.rand(INFERENCE_BATCH, n_inputs, generator=generator) * 2 - 1

    def infer():
        with torch.inference_mode():
            model(batch).numpy()
        return INFERENCE_BATCH

    for _ in range(max(args.warmup_steps, 1)):
        infer()
    inference = rounds(args.rounds, args.round_seconds, infer)
    return {
        "case": name,
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_batch": train_batch,
        "inference_batch": INFERENCE_BATCH,
        "first_step_seconds": first_step_seconds,
        "train": train,
        "inference": inference,
        # ru_maxrss is in KiB on Linux; it covers the whole process, not one case.
        "peak_memory_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", action="append", choices=sorted(CASES), help="repeatable [default: all]")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--round-seconds", type=float, default=1.0)
    parser.add_argument("--warmup-steps", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = [measure(name, args) for name in args.case or CASES]
    report = {
        "framework": f"pytorch {torch.__version__}",
        "threads": torch.get_num_threads(),
        "results": results,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"PyTorch {torch.__version__}, {report['threads']} threads; samples/s, median (min-max)")
    for r in results:
        t, i = r["train"], r["inference"]
        print(
            f"{r['case']:<16} {r['parameters']:>9} {r['train_batch']:>6} "
            f"{t['median']:>10.0f} ({t['min']:.0f}-{t['max']:.0f}) "
            f"{i['median']:>12.0f} ({i['min']:.0f}-{i['max']:.0f}) {r['first_step_seconds']:>7.2f}s"
        )


if __name__ == "__main__":
    main()

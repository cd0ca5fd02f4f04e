#!/usr/bin/env python3
"""Time to accuracy in PyTorch for the image app's default CNN on the bundled MNIST, with the
app's schedule: pixels scaled to [0, 1] and standardised with the training set's mean and
standard deviation; the training images shuffled (seeded) and their last 10% held out for
validation, as `image-classifier train --model cnn` does; 5 epochs of Adam (lr 1e-3,
eps 1e-7) in shuffled batches of 64; validation after each epoch; test accuracy at the end.

    python bench/torch_mnist.py --threads 2

The time covers training and the per-epoch validation, not reading the files, as the app's
`train_seconds` plus validation does.
"""

import argparse
import gzip
import os
import time

import numpy as np
import torch
from torch import nn

from torch_reference import small_cnn

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "mnist")


def idx(name):
    with gzip.open(os.path.join(DATA, name)) as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def accuracy(model, x, y, batch=256):
    model.eval()
    correct = 0
    with torch.inference_mode():
        for i in range(0, len(x), batch):
            correct += (model(x[i : i + batch]).argmax(1) == y[i : i + batch]).sum().item()
    return correct / len(x)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    train_x = idx("train-images-idx3-ubyte.gz").reshape(-1, 784).astype(np.float32) / 255
    train_y = idx("train-labels-idx1-ubyte.gz").astype(np.int64)
    test_x = idx("t10k-images-idx3-ubyte.gz").reshape(-1, 784).astype(np.float32) / 255
    test_y = idx("t10k-labels-idx1-ubyte.gz").astype(np.int64)
    mean, std = train_x.mean(), train_x.std()
    train_x, test_x = (train_x - mean) / std, (test_x - mean) / std
    order = np.random.default_rng(args.seed).permutation(len(train_x))
    train_x, train_y = torch.from_numpy(train_x[order]), torch.from_numpy(train_y[order])
    n_val = int(len(train_x) * 0.1)
    val_x, val_y = train_x[-n_val:], train_y[-n_val:]
    train_x, train_y = train_x[:-n_val], train_y[:-n_val]
    test_x, test_y = torch.from_numpy(test_x), torch.from_numpy(test_y)

    model = small_cnn(1, 28, 28, 10)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    criterion = nn.CrossEntropyLoss()
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        model.train()
        permutation = torch.randperm(len(train_x))
        for i in range(0, len(train_x), 64):
            batch = permutation[i : i + 64]
            optimizer.zero_grad(set_to_none=True)
            loss = criterion(model(train_x[batch]), train_y[batch])
            loss.backward()
            optimizer.step()
        val = accuracy(model, val_x, val_y)
        print(f"epoch {epoch}: {time.perf_counter() - start:.1f} s, val_accuracy {val:.4f}", flush=True)
    seconds = time.perf_counter() - start
    print(
        f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads: {args.epochs} epochs in "
        f"{seconds:.1f} s, test accuracy {accuracy(model, test_x, test_y):.4f}"
    )


if __name__ == "__main__":
    main()

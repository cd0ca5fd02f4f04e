#!/usr/bin/env python3
"""Remote devices against local ones, over loopback: what `--backend remote` costs per model,
how many operations and round trips a training step sends, and data-parallel training over two
`zoo-device-server` processes.

    cargo build --release --no-default-features --features flex,remote \\
        --target-dir "$CARGO_TARGET_DIR/flex-only"
    python bench/remote.py --bin "$CARGO_TARGET_DIR/flex-only/release"

1. `zoo-bench` on the local flex device and on a server's flex device: training and inference
   samples per second for every model (median of --rounds rounds).
2. One epoch of the MNIST MLP (`image-classifier`, batch 32) on a server started with
   `--stats`: the operations, reads (round trips the client waited for) and transfers per step.
3. The same epoch on one remote device, then `--devices 2` over two servers (one device each),
   then over one server hosting two devices; training samples per second from history.json.

Servers and client share this machine's cores, so a remote device here measures the protocol's
overhead, not a faster device.
"""

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile


def start_server(bin_dir, devices=1, stats=False):
    command = [os.path.join(bin_dir, "zoo-device-server"), "--bind", "127.0.0.1:0",
               "--devices", str(devices)] + (["--stats"] if stats else [])
    env = {k: v for k, v in os.environ.items() if k != "BURN_ZOO_TOKEN"}
    # Its log goes to a file: a pipe nobody reads would stall the server once full.
    log = tempfile.TemporaryFile(mode="w+")
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
    server.log = log
    line = server.stdout.readline().strip()
    if not line.startswith("listening on ws://"):
        sys.exit(f"zoo-device-server printed {line!r}")
    return server, line.removeprefix("listening on ")


def stop_server(server):
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=30)
    server.log.seek(0)
    return server.log.read()


def bench(bin_dir, rounds):
    server, url = start_server(bin_dir)
    try:
        output = subprocess.run(
            [os.path.join(bin_dir, "zoo-bench"), "--backend", "flex", "--backend", "remote",
             "--remote", url, "--rounds", str(rounds), "--json"],
            check=True, capture_output=True, text=True).stdout
    finally:
        stop_server(server)
    results = json.loads(output)["results"]
    rates = {(r["backend"], r["case"]): r for r in results}
    print("| model | train local (samples/s) | train remote | remote/local "
          "| inference local | inference remote | remote/local |")
    print("|---|---|---|---|---|---|---|")
    for case in dict.fromkeys(r["case"] for r in results):
        local, remote = rates[("flex", case)], rates[("remote", case)]
        t = (local["train"]["median"], remote["train"]["median"])
        i = (local["inference"]["median"], remote["inference"]["median"])
        print(f"| {case} | {t[0]:,.0f} | {t[1]:,.0f} | {t[1] / t[0]:.2f}x "
              f"| {i[0]:,.0f} | {i[1]:,.0f} | {i[1] / i[0]:.2f}x |")


def train_mlp(bin_dir, out, backend_args):
    subprocess.run(
        [os.path.join(bin_dir, "image-classifier"), "train", "--model", "mlp", "--epochs", "1",
         "--quiet", "--out", out] + backend_args, check=True, capture_output=True)
    with open(os.path.join(out, "history.json")) as f:
        history = json.load(f)
    return history


def traffic(bin_dir, tmp):
    server, url = start_server(bin_dir, stats=True)
    try:
        history = train_mlp(bin_dir, os.path.join(tmp, "stats"),
                            ["--backend", "remote", "--remote", url])
    finally:
        stderr = stop_server(server)
    counts = re.search(r"(\d+) operations, (\d+) reads, (\d+) syncs, (\d+) transfers", stderr)
    if not counts:
        sys.exit(f"no traffic line from the server: {stderr}")
    operations, reads, syncs, transfers = map(int, counts.groups())
    # The rate is training samples over training seconds, so their product is the sample count.
    samples = round(history["train_samples_per_second"] * history["train_seconds"])
    steps = -(-samples // 32)
    print(f"MNIST MLP, one epoch, batch 32: {steps} steps, whole run (training, validation, "
          f"test, save): {operations} operations, {reads} reads, {syncs} syncs, "
          f"{transfers} transfers = {operations / steps:.0f} operations and "
          f"{(reads + syncs) / steps:.2f} round trips per step")


def scaling(bin_dir, tmp):
    rows = []
    history = train_mlp(bin_dir, os.path.join(tmp, "local"), ["--backend", "flex"])
    rows.append(("local flex", history))
    a, url_a = start_server(bin_dir)
    b, url_b = start_server(bin_dir)
    two, url_two = start_server(bin_dir, devices=2)
    try:
        for name, args in [
            ("1 remote device", ["--remote", url_a]),
            ("2 devices, 2 servers", ["--remote", url_a, "--remote", url_b, "--devices", "2"]),
            ("2 devices, 1 server", ["--remote", url_two, "--devices", "2"]),
        ]:
            out = os.path.join(tmp, name.replace(" ", "-").replace(",", ""))
            rows.append((name, train_mlp(bin_dir, out, ["--backend", "remote"] + args)))
    finally:
        for server in (a, b, two):
            stop_server(server)
    base = rows[1][1]["train_samples_per_second"]
    print("| MNIST MLP, 1 epoch | training samples/s | against 1 remote device | training loss |")
    print("|---|---|---|---|")
    for name, history in rows:
        rate = history["train_samples_per_second"]
        print(f"| {name} | {rate:,.0f} | {rate / base:.2f}x | "
              f"{history['epochs'][-1]['loss']:.4f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_bin = os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "flex-only",
                               "release")
    parser.add_argument("--bin", default=default_bin,
                        help="folder of release binaries built with --features flex,remote")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bench(args.bin, args.rounds)
        print()
        traffic(args.bin, tmp)
        print()
        scaling(args.bin, tmp)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Load on `zoo-serve` over loopback with wrk: requests per second and p50/p99 latency per model,
number of concurrent clients, with and without dynamic batching.

    python bench/serve_load.py --model mlp=runs/mnist-mlp --model cnn=runs/mnist-cnn
    python bench/serve_load.py --backend wgpu --warm-up 30 --model mlp=runs/mnist-mlp ...

Each model folder is an `image-classifier` run on MNIST; every request POSTs the same 28x28 PNG
(MNIST test image 0). For each batching setting a fresh server is started, warmed up, then wrk
runs for --seconds at each client count (wrk stops at that time, so every run is bounded).
"Without batching" is `--max-batch 1`: one forward pass per request. The mean batch (inputs per
forward pass during a run) comes from the server's counters. Needs `wrk` (Debian: `apt-get
install wrk`) and a release build of zoo-serve.
"""

import argparse
import gzip
import json
import os
import re
import signal
import struct
import subprocess
import sys
import tempfile
import urllib.request
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

LUA = """
local f = assert(io.open(os.getenv("ZOO_PNG"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*all")
f:close()
wrk.headers["Content-Type"] = "image/png"
"""


def mnist_png(path):
    """MNIST test image 0 as a grayscale PNG, written with the standard library only."""
    with gzip.open(os.path.join(ROOT, "data", "mnist", "t10k-images-idx3-ubyte.gz")) as f:
        f.read(16)
        pixels = f.read(28 * 28)
    raw = b"".join(b"\x00" + pixels[r * 28:(r + 1) * 28] for r in range(28))

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 28, 28, 8, 0, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)


def seconds(text):
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]


def wrk(url, clients, duration, env, warm_up=False):
    threads = min(2, clients)
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{clients}", f"-d{duration}s", "--latency", "-s", env["ZOO_LUA"], url],
        env=env, stdout=subprocess.PIPE, text=True, check=True,
    ).stdout
    if warm_up:
        # Only to compile kernels and fill caches; it may time out on wgpu, and is not measured.
        return None
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    if errors or socket_errors:
        sys.exit(f"wrk saw errors at {clients} clients:\n{out}")
    return rps, seconds(latency["50"]), seconds(latency["99"])


def served(base, name):
    """The model's counters: requests, inputs and forward passes so far."""
    with urllib.request.urlopen(f"{base}/v1/models/{name}") as response:
        return json.load(response)["served"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, help="NAME=DIR, repeatable")
    parser.add_argument("--clients", default="1,16,64")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--max-batch", type=int, default=64, help="the batched setting")
    parser.add_argument("--max-wait-ms", type=int, default=2)
    parser.add_argument("--backend", default="flex")
    parser.add_argument("--warm-up", type=int, default=2,
                        help="seconds of load before measuring (wgpu compiles shaders per batch size)")
    parser.add_argument("--port", type=int, default=18080)
    parser.add_argument(
        "--zoo-serve",
        default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "zoo-serve"),
    )
    args = parser.parse_args()
    clients = [int(c) for c in args.clients.split(",")]
    scratch = tempfile.mkdtemp()
    env = dict(os.environ, ZOO_PNG=os.path.join(scratch, "digit.png"), ZOO_LUA=os.path.join(scratch, "post.lua"))
    mnist_png(env["ZOO_PNG"])
    with open(env["ZOO_LUA"], "w") as f:
        f.write(LUA)

    rows = []
    for batching, max_batch in [("off", 1), ("on", args.max_batch)]:
        command = [args.zoo_serve, "--backend", args.backend, "--bind", f"127.0.0.1:{args.port}",
                   "--max-batch", str(max_batch), "--max-wait-ms", str(args.max_wait_ms)]
        for model in args.model:
            command += ["--model", model]
        server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            server.stdout.readline()
            for model in args.model:
                name = model.split("=", 1)[0]
                base = f"http://127.0.0.1:{args.port}"
                url = f"{base}/v1/models/{name}/predict"
                wrk(url, max(clients), args.warm_up, env, warm_up=True)
                for c in clients:
                    before = served(base, name)
                    rps, p50, p99 = wrk(url, c, args.seconds, env)
                    after = served(base, name)
                    batch = (after["inputs"] - before["inputs"]) / max(1, after["forward_passes"] - before["forward_passes"])
                    rows.append((name, batching, c, rps, p50, p99, batch))
                    print(f"{name:>6} batching {batching:>3} {c:>3} clients: {rps:8.0f} req/s  "
                          f"p50 {p50 * 1e3:7.2f} ms  p99 {p99 * 1e3:7.2f} ms  mean batch {batch:5.1f}", flush=True)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait()

    print(f"\n{args.backend}, batching on: up to {args.max_batch} inputs, {args.max_wait_ms} ms wait")
    print("| model | clients | off: req/s | p50 | p99 | on: req/s | p50 | p99 | mean batch | speed-up |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for model in args.model:
        name = model.split("=", 1)[0]
        for c in clients:
            off = next(r for r in rows if r[0] == name and r[1] == "off" and r[2] == c)
            on = next(r for r in rows if r[0] == name and r[1] == "on" and r[2] == c)
            print(f"| {name} | {c} | {off[3]:,.0f} | {off[4] * 1e3:.2f} ms | {off[5] * 1e3:.2f} ms "
                  f"| {on[3]:,.0f} | {on[4] * 1e3:.2f} ms | {on[5] * 1e3:.2f} ms | {on[6]:.1f} | {on[3] / off[3]:.1f}x |")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""KServe v2 against /v1 under load, a version swapped in under load, and memory over a long
run: wrk on loopback against one `zoo-serve --model-repository` (README, "Serving").

    python bench/serve_v2_load.py --version1 runs/mnist-mlp --version2 runs/mnist-mlp-seed2

Each model folder is an `image-classifier` MNIST MLP; every request carries the same 28x28 PNG
(MNIST test image 0): as the body of `/v1/models/digits/predict`, or as the one BYTES element of
a `/v2/models/digits/infer` request in the binary tensor extension (what Triton's client sends).
1. For 1, 16 and 64 connections, --seconds of each: requests/s, p50 and p99.
2. A swap under load: wrk on /v2 at 16 connections for 20 s; at 5 s the second version is moved
   into the repository. Every response must be a 200 (wrk counts the others).
3. Memory: wrk on /v2 at 16 connections for --soak-minutes; the server's resident memory (its
   /metrics) every 10 s; the first minute's mean against the last's.
Needs `wrk` (Debian: `apt-get install wrk`) and a release build of zoo-serve.
"""

import argparse
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_load import ROOT, mnist_png, seconds  # noqa: E402

V1_LUA = """
local f = assert(io.open(os.getenv("ZOO_PNG"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*all")
f:close()
wrk.headers["Content-Type"] = "image/png"
"""

V2_LUA = """
local f = assert(io.open(os.getenv("ZOO_V2_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*all")
f:close()
wrk.headers["Content-Type"] = "application/octet-stream"
wrk.headers["Inference-Header-Content-Length"] = os.getenv("ZOO_V2_HEADER")
"""


def wrk(url, lua, clients, duration, env):
    out = subprocess.run(
        ["wrk", f"-t{min(2, clients)}", f"-c{clients}", f"-d{duration}s", "--latency", "-s", lua, url],
        env=env, stdout=subprocess.PIPE, text=True, check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    failed = int(errors.group(1)) if errors else 0
    return rps, seconds(latency["50"]), seconds(latency["99"]), total, failed, socket_errors


def resident_memory(base):
    with urllib.request.urlopen(f"{base}/metrics") as response:
        text = response.read().decode()
    return float(re.search(r"^zoo_serve_process_resident_memory_bytes (\S+)$", text, re.M).group(1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version1", required=True)
    parser.add_argument("--version2", required=True)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--soak-minutes", type=float, default=10)
    parser.add_argument("--port", type=int, default=18090)
    parser.add_argument(
        "--zoo-serve",
        default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "zoo-serve"),
    )
    args = parser.parse_args()
    scratch = tempfile.mkdtemp()
    png = os.path.join(scratch, "digit.png")
    mnist_png(png)
    header = (b'{"inputs": [{"name": "image", "datatype": "BYTES", "shape": [1], '
              b'"parameters": {"binary_data_size": %d}}], "parameters": {"binary_data_output": false}}')
    with open(png, "rb") as f:
        image = f.read()
    header = header % (4 + len(image))
    body = os.path.join(scratch, "infer.bin")
    with open(body, "wb") as f:
        f.write(header + struct.pack("<I", len(image)) + image)
    env = dict(os.environ, ZOO_PNG=png, ZOO_V2_BODY=body, ZOO_V2_HEADER=str(len(header)))
    luas = {}
    for name, lua in [("v1", V1_LUA), ("v2", V2_LUA)]:
        luas[name] = os.path.join(scratch, f"{name}.lua")
        with open(luas[name], "w") as f:
            f.write(lua)
    repository = os.path.join(scratch, "repository")
    os.makedirs(os.path.join(repository, "digits"))
    shutil.copytree(args.version1, os.path.join(repository, "digits", "1"))

    base = f"http://127.0.0.1:{args.port}"
    server = subprocess.Popen(
        [args.zoo_serve, "--model-repository", repository, "--poll-seconds", "1",
         "--bind", f"127.0.0.1:{args.port}"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        server.stdout.readline()
        urls = {"v1": f"{base}/v1/models/digits/predict", "v2": f"{base}/v2/models/digits/infer"}
        wrk(urls["v2"], luas["v2"], 16, 2, env)
        print("| endpoint | connections | req/s | p50 | p99 | failed |")
        print("|---|---:|---:|---:|---:|---:|")
        for clients in [1, 16, 64]:
            for name in ["v1", "v2"]:
                rps, p50, p99, total, failed, socket = wrk(urls[name], luas[name], clients, args.seconds, env)
                print(f"| {'/v1 predict' if name == 'v1' else '/v2 infer (binary)'} | {clients} | {rps:,.0f} "
                      f"| {p50 * 1e3:.2f} ms | {p99 * 1e3:.2f} ms | {failed}{' ' + socket.group(1) if socket else ''} |",
                      flush=True)

        # A new version moved in under load.
        staging = os.path.join(scratch, "staging")
        shutil.copytree(args.version2, staging)
        timer = threading.Timer(5, lambda: os.rename(staging, os.path.join(repository, "digits", "2")))
        timer.start()
        rps, p50, p99, total, failed, socket = wrk(urls["v2"], luas["v2"], 16, 20, env)
        timer.join()
        with urllib.request.urlopen(f"{base}/v2/models/digits") as response:
            versions = response.read().decode()
        print(f"\nswap under load: {total:,} requests in 20 s at 16 connections, {failed} failed"
              f"{', socket errors ' + socket.group(1) if socket else ''}; p99 {p99 * 1e3:.2f} ms; "
              f"metadata after: {versions}", flush=True)

        # Memory over a long run.
        samples = []
        stop = threading.Event()

        def sample():
            start = time.time()
            while not stop.is_set():
                samples.append((time.time() - start, resident_memory(base)))
                stop.wait(10)

        sampler = threading.Thread(target=sample)
        sampler.start()
        rps, p50, p99, total, failed, socket = wrk(urls["v2"], luas["v2"], 16, int(args.soak_minutes * 60), env)
        stop.set()
        sampler.join()
        minute = lambda lo, hi: [m for t, m in samples if lo <= t < hi]
        first = minute(0, 60)
        last = minute(args.soak_minutes * 60 - 60, args.soak_minutes * 60 + 10)
        mean = lambda xs: sum(xs) / len(xs) / 2**20
        print(f"\nsoak: {total:,} requests in {args.soak_minutes:g} min at 16 connections ({rps:,.0f}/s), "
              f"{failed} failed; resident memory: first minute {mean(first):.1f} MiB, "
              f"last minute {mean(last):.1f} MiB (min {min(m for _, m in samples) / 2**20:.1f}, "
              f"max {max(m for _, m in samples) / 2**20:.1f} MiB over {len(samples)} samples)")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait()


if __name__ == "__main__":
    main()

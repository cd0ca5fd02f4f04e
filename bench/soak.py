#!/usr/bin/env python3
"""Soak: `zoo-serve` under a bounded wrk load with a model of every app, and `zoo-device-server`
serving training runs one after another, for --minutes each (the two at once); the resident
memory of both servers sampled every minute (README, "Soak").

    cargo build --release        # zoo-serve and the apps
    cargo build --release --no-default-features --features flex,remote \\
        --target-dir "$CARGO_TARGET_DIR/flex-only"   # zoo-device-server and a remote client
    python3 bench/soak.py --bin "$CARGO_TARGET_DIR/release" \\
        --remote-bin "$CARGO_TARGET_DIR/flex-only/release" --minutes 30

The models are trained first, by the apps on their bundled data: the MNIST MLP (1 epoch), the
SMS spam logistic regression, the FSDD audio logistic regression and the iris MLP. wrk's 8
connections send, in turn, a PNG of an MNIST digit, a text, a WAV recording and an iris row to
`/v1/models/{name}/predict`; any answer but a 200 counts as failed. The device server trains
the MNIST MLP for 2 epochs per run, run after run, each a new client connection; a run that
fails counts as failed. Memory: VmRSS of each server process, read from /proc every minute.
"""

import argparse
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_load import ROOT, mnist_png  # noqa: E402

LUA = """
local function file(path)
  local f = assert(io.open(path, "rb")); local data = f:read("*all"); f:close(); return data
end
local requests = {
  {"/v1/models/digits/predict", "image/png", file(os.getenv("ZOO_PNG"))},
  {"/v1/models/sms/predict", "application/json",
   '{"texts": ["WINNER!! You have won a free prize, call now to claim"]}'},
  {"/v1/models/tones/predict", "audio/wav", file(os.getenv("ZOO_WAV"))},
  {"/v1/models/iris/predict", "application/json", '{"rows": [[5.1, 3.5, 1.4, 0.2]]}'},
}
local i = 0
request = function()
  i = i % #requests + 1
  local r = requests[i]
  return wrk.format("POST", r[1], {["Content-Type"] = r[2]}, r[3])
end
"""


def resident_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1)) / 1024


def app(bin_dir, name, *args):
    subprocess.run([os.path.join(bin_dir, name), *args], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", required=True, help="the default build's release folder")
    parser.add_argument("--remote-bin", required=True, help="the flex-only build's release folder")
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--port", type=int, default=18095)
    args = parser.parse_args()
    scratch = tempfile.mkdtemp()
    out = lambda name: os.path.join(scratch, name)
    app(args.bin, "image-classifier", "train", "--model", "mlp", "--epochs", "1", "--quiet",
        "--out", out("digits"))
    app(args.bin, "text-classifier", "train", "--model", "logistic", "--quiet", "--out", out("sms"))
    app(args.bin, "audio-classifier", "train", "--model", "logistic", "--quiet", "--out", out("tones"))
    app(args.bin, "tabular", "train", "--dataset", "iris", "--quiet", "--out", out("iris"))
    png = out("digit.png")
    mnist_png(png)
    wav = sorted(glob.glob(os.path.join(ROOT, "data", "fsdd", "**", "*.wav"), recursive=True))[0]
    lua = out("soak.lua")
    with open(lua, "w") as f:
        f.write(LUA)

    serve = subprocess.Popen(
        [os.path.join(args.bin, "zoo-serve"), "--bind", f"127.0.0.1:{args.port}"]
        + [a for name in ["digits", "sms", "tones", "iris"] for a in ["--model", f"{name}={out(name)}"]],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    device = subprocess.Popen(
        [os.path.join(args.remote_bin, "zoo-device-server"), "--bind", "127.0.0.1:0",
         "--backend", "flex"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={k: v for k, v in os.environ.items() if k != "BURN_ZOO_TOKEN"})
    samples = []
    stop = threading.Event()
    try:
        serve.stdout.readline()
        remote = device.stdout.readline().strip().removeprefix("listening on ")
        seconds = int(args.minutes * 60)
        start = time.time()

        def sample():
            while not stop.is_set():
                samples.append((time.time() - start, resident_mib(serve.pid), resident_mib(device.pid)))
                stop.wait(60)

        runs = {"done": 0, "failed": 0}

        def train():
            while time.time() - start < seconds:
                result = subprocess.run(
                    [os.path.join(args.remote_bin, "image-classifier"), "train", "--model", "mlp",
                     "--epochs", "2", "--quiet", "--backend", "remote", "--remote", remote,
                     "--out", out("remote-run")],
                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                runs["done" if result.returncode == 0 else "failed"] += 1
                if result.returncode != 0:
                    print(f"a training run failed: {result.stderr.strip()[-300:]}", flush=True)

        threads = [threading.Thread(target=sample), threading.Thread(target=train)]
        for thread in threads:
            thread.start()
        wrk = subprocess.run(
            ["wrk", "-t2", "-c8", f"-d{seconds}s", "--latency", "-s", lua,
             f"http://127.0.0.1:{args.port}"],
            env=dict(os.environ, ZOO_PNG=png, ZOO_WAV=wav), stdout=subprocess.PIPE, text=True,
            check=True).stdout
        threads[1].join()
        stop.set()
        threads[0].join()
        samples.append((time.time() - start, resident_mib(serve.pid), resident_mib(device.pid)))
    finally:
        stop.set()
        for server in [serve, device]:
            server.terminate()
            server.wait()
    total = int(re.search(r"(\d+) requests in", wrk).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", wrk).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", wrk)
    socket_errors = re.search(r"Socket errors: (.*)", wrk)
    print(f"zoo-serve: {total:,} requests in {args.minutes:g} min ({rps:,.0f}/s), "
          f"{non_2xx.group(1) if non_2xx else 0} failed"
          f"{', socket errors ' + socket_errors.group(1) if socket_errors else ''}")
    print(f"zoo-device-server: {runs['done']} training runs of 2 epochs, {runs['failed']} failed")
    print("\n| minute | zoo-serve RSS (MiB) | zoo-device-server RSS (MiB) |")
    print("|---:|---:|---:|")
    for t, serve_mib, device_mib in samples:
        print(f"| {t / 60:.0f} | {serve_mib:.1f} | {device_mib:.1f} |")
    print(json.dumps({"samples": samples}))


if __name__ == "__main__":
    main()

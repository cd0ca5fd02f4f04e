#!/usr/bin/env python3
"""Remote training across (simulated) hosts: `zoo-device-server`s in network namespaces of their
own, reached over links with one-way delay and packet loss (tests/netns/hosts.py), against a
server on loopback. Needs root, iproute2 and nftables, and the flex-only build:

    cargo build --release --no-default-features --features flex,remote \\
        --target-dir "$CARGO_TARGET_DIR/flex-only"
    python3 bench/remote_hosts.py --bin "$CARGO_TARGET_DIR/flex-only/release"

For every link setting: one epoch of the MNIST MLP and of the CNN (`image-classifier`, batch 32)
on one remote device, and of the MLP data-parallel over two hosts with the same link each;
training samples per second from history.json. The epochs are of the first --images MNIST
training digits (written as a PNG folder), not all 60,000: with 1 % loss each lost packet waits
for TCP's retransmission timeout (200 ms at least), and a full epoch would take most of an hour. "loopback" runs the server in the client's own
namespace on 127.0.0.1 (what bench/remote.py measures); every other row goes through the relay.
Each row prints as it is measured.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "netns"))
import hosts  # noqa: E402

TOKEN = "remote-hosts-bench-token-0123456789"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAME = "zbench"


def start_server(bin_dir, namespace, bind):
    server = subprocess.Popen(
        ["ip", "netns", "exec", namespace, os.path.join(bin_dir, "zoo-device-server"),
         "--bind", bind, "--backend", "flex"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env=dict(os.environ, BURN_ZOO_TOKEN=TOKEN))
    line = server.stdout.readline().strip()
    if not line.startswith("listening on ws://"):
        raise RuntimeError(f"zoo-device-server printed {line!r}")
    return server


def mnist_folder(images, out):
    """The first `images` MNIST training digits as `out/train/<digit>/<i>.png`, and a tenth as
    many test digits in `out/test/`, for `image-classifier --format folder`."""
    import gzip
    import struct
    import zlib

    def png(pixels):
        raw = b"".join(b"\x00" + pixels[r * 28:(r + 1) * 28] for r in range(28))

        def chunk(kind, data):
            body = kind + data
            return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 28, 28, 8, 0, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))

    mnist = os.path.join(ROOT, "data", "mnist")
    for split, prefix, count in [("train", "train", images), ("test", "t10k", max(1, images // 10))]:
        with gzip.open(os.path.join(mnist, f"{prefix}-images-idx3-ubyte.gz")) as f:
            f.read(16)
            pixels = f.read(28 * 28 * count)
        with gzip.open(os.path.join(mnist, f"{prefix}-labels-idx1-ubyte.gz")) as f:
            f.read(8)
            labels = f.read(count)
        for i in range(count):
            folder = os.path.join(out, split, str(labels[i]))
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, f"{i}.png"), "wb") as f:
                f.write(png(pixels[i * 784:(i + 1) * 784]))


def train(bin_dir, data, out, model, remotes):
    command = ["ip", "netns", "exec", f"{NAME}-client", os.path.join(bin_dir, "image-classifier"),
               "train", "--format", "folder", "--data", data, "--model", model, "--epochs", "1",
               "--quiet", "--out", out, "--backend", "remote"]
    for remote in remotes:
        command += ["--remote", remote]
    if len(remotes) > 1:
        command += ["--devices", str(len(remotes))]
    subprocess.run(command, check=True, env=dict(os.environ, BURN_ZOO_TOKEN=TOKEN),
                   stdout=subprocess.DEVNULL)
    with open(os.path.join(out, "history.json")) as f:
        return json.load(f)["train_samples_per_second"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", required=True, help="the flex-only build's release folder")
    parser.add_argument("--delays", default="0,0.1,1,10", help="one-way delays, ms")
    parser.add_argument("--loss", type=float, default=1.0, help="the lossy rows' loss, percent")
    parser.add_argument("--images", type=int, default=2000, help="MNIST training digits per epoch")
    args = parser.parse_args()
    reason = hosts.can_make_hosts()
    if reason:
        sys.exit(f"cannot make hosts here: {reason}")
    hosts.up(NAME, 2, [7000])
    tmp = tempfile.mkdtemp()
    data = os.path.join(tmp, "mnist")
    mnist_folder(args.images, data)
    servers = []
    try:
        servers = [start_server(args.bin, f"{NAME}-s{k}", f"10.78.{k + 1}.2:7000") for k in range(2)]
        loopback = start_server(args.bin, f"{NAME}-client", "127.0.0.1:7100")
        servers.append(loopback)
        settings = [("loopback", None, None)]
        for delay in [float(d) for d in args.delays.split(",")]:
            settings.append((f"{delay:g} ms", delay, 0.0))
            settings.append((f"{delay:g} ms, {args.loss:g} % loss", delay, args.loss))
        print("| link (one way) | round trip | MLP, 1 device | CNN, 1 device | MLP, 2 hosts |")
        print("|---|---:|---:|---:|---:|")
        for i, (label, delay, loss) in enumerate(settings):
            if delay is None:
                remotes = ["ws://127.0.0.1:7100"]
                rtt = "-"
                parallel = None
            else:
                for k in range(2):
                    hosts.link(NAME, k, delay, loss)
                rtt = f"{hosts.round_trip_ms(NAME, 0):.2f} ms"
                remotes = ["ws://10.78.0.1:7000", "ws://10.78.0.1:7001"]
            mlp = train(args.bin, data, os.path.join(tmp, f"mlp{i}"), "mlp", remotes[:1])
            cnn = train(args.bin, data, os.path.join(tmp, f"cnn{i}"), "cnn", remotes[:1])
            if delay is not None:
                parallel = train(args.bin, data, os.path.join(tmp, f"dp{i}"), "mlp", remotes)
            shown = f"{parallel:,.0f}" if parallel else "-"
            print(f"| {label} | {rtt} | {mlp:,.0f} | {cnn:,.0f} | {shown} |", flush=True)
    finally:
        for server in servers:
            server.kill()
            server.wait()
        hosts.down(NAME)


if __name__ == "__main__":
    main()

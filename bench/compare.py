#!/usr/bin/env python3
"""Runs `zoo-bench` and `bench/torch_reference.py` alternately in one sitting and prints the
Burn/PyTorch throughput ratio per model and backend.

    python bench/compare.py --sittings 3 --backend flex --backend ndarray

Alternating the two (Burn, PyTorch, Burn, PyTorch, ...) spreads the machine's drift over both;
each figure is the median over sittings of each sitting's median. PyTorch runs with as many
threads as Burn's CPU pool reports. Needs `torch` in the interpreter given by --python.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def run_json(command):
    result = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    if result.returncode != 0:
        sys.exit(f"failed ({result.returncode}): {' '.join(command)}")
    return json.loads(result.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sittings", type=int, default=3)
    parser.add_argument("--backend", action="append", default=[], help="repeatable [default: flex]")
    parser.add_argument("--case", action="append", default=[], help="repeatable [default: all]")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--round-seconds", type=float, default=1.0)
    parser.add_argument("--python", default=sys.executable, help="an interpreter with torch")
    parser.add_argument(
        "--zoo-bench",
        default=None,
        help="the zoo-bench binary [default: built and run with cargo run --release]",
    )
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument(
        "--burn-layers",
        action="store_true",
        help="run zoo-bench with --burn-layers: the models on flex without the zoo's kernels",
    )
    args = parser.parse_args()

    # No `-p`: building one package alone unifies Burn's features differently from the
    # workspace's `cargo test`, and rebuilds Burn.
    zoo = [args.zoo_bench] if args.zoo_bench else [
        "cargo", "run", "--release", "--quiet", "--bin", "zoo-bench", "--"
    ]
    timing = ["--rounds", str(args.rounds), "--round-seconds", str(args.round_seconds)]
    zoo_options = ["--burn-layers"] if args.burn_layers else []
    cases = [a for c in args.case for a in ("--case", c)]
    backends = [a for b in args.backend or ["flex"] for a in ("--backend", b)]

    burn, torch = {}, {}
    threads = None
    peaks = []
    for sitting in range(args.sittings):
        print(f"sitting {sitting + 1}/{args.sittings}", file=sys.stderr)
        report = run_json(zoo + backends + cases + timing + zoo_options + ["--json"])
        threads = report["threads"]
        if report.get("peak"):
            peaks.append(report["peak"]["gflops"]["max"])
        for r in report["results"]:
            burn.setdefault((r["case"], r["backend"]), []).append(r)
        reference = run_json(
            [args.python, os.path.join(HERE, "torch_reference.py"), "--json", "--threads", str(threads)]
            + cases
            + timing
        )
        framework = reference["framework"]
        for r in reference["results"]:
            torch.setdefault(r["case"], []).append(r)

    def median(results, kind):
        return statistics.median(r[kind]["median"] for r in results)

    rows = []
    for (case, backend), results in burn.items():
        reference = torch.get(case)
        if not reference:
            continue
        row = {"case": case, "backend": backend}
        for kind in ("train", "inference"):
            row[kind] = median(results, kind)
            row[f"torch_{kind}"] = median(reference, kind)
            row[f"{kind}_ratio"] = row[kind] / row[f"torch_{kind}"]
            # The roofline: both frameworks run the same model, so the same operations per sample.
            flops = results[0]["flops_per_sample"][kind]
            row[f"{kind}_gflops"] = row[kind] * flops / 1e9
            row[f"torch_{kind}_gflops"] = row[f"torch_{kind}"] * flops / 1e9
        rows.append(row)
    # The measured peak: the best round of any sitting (a ceiling; load only lowers a round).
    peak = max(peaks) if peaks else None

    def roofline(gflops):
        return f"{gflops:,.1f} ({100 * gflops / peak:.0f}%)" if peak else f"{gflops:,.1f}"

    title = f"samples/s, median of {args.sittings} sittings; {framework}, {threads} threads"
    if peak:
        title += f"; GFLOP/s (fraction of the measured peak, {peak:.1f} GFLOP/s)"
    if args.markdown:
        print(f"<!-- {title} -->")
        print(
            "| model | backend | train | GFLOP/s (peak) | PyTorch train | PyTorch GFLOP/s (peak) | ratio "
            "| inference | GFLOP/s (peak) | PyTorch inference | PyTorch GFLOP/s (peak) | ratio |"
        )
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in rows:
            cells = [r["case"], r["backend"]]
            for kind in ("train", "inference"):
                cells += [
                    f"{r[kind]:,.0f}",
                    roofline(r[f"{kind}_gflops"]),
                    f"{r[f'torch_{kind}']:,.0f}",
                    roofline(r[f"torch_{kind}_gflops"]),
                    f"{r[f'{kind}_ratio']:.2f}x",
                ]
            print("| " + " | ".join(cells) + " |")
        return
    print(title)
    print(f"{'case':<16} {'backend':<8} {'train':>10} {'torch':>10} {'ratio':>6} {'infer':>11} {'torch':>11} {'ratio':>6}")
    for r in rows:
        print(
            f"{r['case']:<16} {r['backend']:<8} {r['train']:>10.0f} {r['torch_train']:>10.0f} "
            f"{r['train_ratio']:>5.2f}x {r['inference']:>11.0f} {r['torch_inference']:>11.0f} "
            f"{r['inference_ratio']:>5.2f}x"
        )


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Runs fovea's bench_ops and the same operations in PyTorch side by side, several rounds
alternating between the two (these machines are noisy), and prints medians and ratios.

    /usr/bin/python3 examples/compare_ops.py --bench build/examples/bench_ops --threads 2

Needs PyTorch (Debian: apt-get install python3-torch). Ratio = fovea time / PyTorch time
(below 1 means fovea is faster).
"""
import argparse
import json
import statistics
import subprocess

import torch

from torch_reference import median_ms


def torch_benches():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(1024, 1024, generator=g)
    b = torch.randn(1024, 1024, generator=g)
    logits = torch.randn(256, 4096, generator=g)
    big = torch.randn(4096, 4096, generator=g)
    return {
        "matmul 1024x1024x1024 f32": lambda: torch.matmul(a, b),
        "softmax 256x4096 dim=-1 f32": lambda: torch.softmax(logits, -1),
        "sum 4096x4096 all f32": lambda: big.sum(),
        "sum 4096x4096 dim=1 f32": lambda: big.sum(1),
        "sum 4096x4096 dim=0 f32": lambda: big.sum(0),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bench", default="build/examples/bench_ops")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--repeat", type=int, default=20)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    benches = torch_benches()
    fovea_ms = {k: [] for k in benches}
    torch_ms = {k: [] for k in benches}
    for _ in range(args.rounds):
        out = subprocess.run([args.bench, "--json", "--threads", str(args.threads),
                              "--repeat", str(args.repeat)],
                             check=True, capture_output=True, text=True).stdout
        for line in out.splitlines():
            r = json.loads(line)
            if r["name"] in fovea_ms:
                fovea_ms[r["name"]].append(r["median_ms"])
        for name, fn in benches.items():
            torch_ms[name].append(median_ms(fn, 3, args.repeat))
    print(f"PyTorch {torch.__version__}, {args.threads} threads, median over {args.rounds} rounds "
          f"of {args.repeat} runs each")
    print(f"{'benchmark':32} {'fovea ms':>10} {'torch ms':>10} {'fovea/torch':>12}")
    for name in benches:
        f = statistics.median(fovea_ms[name])
        t = statistics.median(torch_ms[name])
        print(f"{name:32} {f:10.3f} {t:10.3f} {f / t:12.2f}")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""PyTorch timings of the conv2d shapes of examples/bench_conv.cpp (ResNet-20 at batch 128),
forward alone and forward + backward (dx and dw), torch.set_num_threads(--threads).

    /usr/bin/python3 examples/bench_conv_torch.py --threads 2
    /usr/bin/python3 examples/bench_conv_torch.py --threads 2 --fovea build/examples/bench_conv

With --fovea, it alternates rounds of fovea's benchmark and its own (these machines are
shared and noisy), and prints the median over rounds of each and the ratio fovea / PyTorch
(below 1: fovea is faster).
"""
import argparse
import json
import statistics
import subprocess

import torch
import torch.nn.functional as F

from torch_reference import median_ms

SHAPES = [  # name, c_in, c_out, hw, k, stride, groups: the same list as bench_conv.cpp
    ("3x3 16->16 32x32", 16, 16, 32, 3, 1, 1),
    ("3x3 32->32 16x16", 32, 32, 16, 3, 1, 1),
    ("3x3 64->64 8x8", 64, 64, 8, 3, 1, 1),
    ("3x3/s2 16->32 32x32", 16, 32, 32, 3, 2, 1),
    ("3x3/s2 32->64 16x16", 32, 64, 16, 3, 2, 1),
    ("1x1/s2 16->32 32x32", 16, 32, 32, 1, 2, 1),
    ("dw3x3 64 16x16", 64, 64, 16, 3, 1, 64),
]


def torch_round(batch, warmup, repeat):
    """{benchmark name: (median ms, flops of one call)} for every shape and pass."""
    g = torch.Generator().manual_seed(0)
    out = {}
    for name, c_in, c_out, hw, k, stride, groups in SHAPES:
        pad = k // 2
        x = torch.randn(batch, c_in, hw, hw, generator=g, requires_grad=True)
        w = torch.randn(c_out, c_in // groups, k, k, generator=g, requires_grad=True)
        out_hw = (hw + 2 * pad - k) // stride + 1
        gy = torch.randn(batch, c_out, out_hw, out_hw, generator=g)
        flops = 2.0 * batch * c_out * out_hw * out_hw * (c_in // groups) * k * k

        def fwd():
            with torch.no_grad():
                F.conv2d(x, w, None, stride, pad, 1, groups)

        def fwd_bwd():
            x.grad = None
            w.grad = None
            F.conv2d(x, w, None, stride, pad, 1, groups).backward(gy)

        for p, fn, f in (("fwd", fwd, flops), ("fwd+bwd", fwd_bwd, 3 * flops)):
            ms = median_ms(fn, warmup, repeat)
            out[f"{name} {p}"] = (ms, f)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--repeat", type=int, default=15)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--fovea", help="path of build/examples/bench_conv: compare with it")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch_ms, fovea_ms, flops = {}, {}, {}
    for _ in range(args.rounds if args.fovea else 1):
        if args.fovea:
            run = subprocess.run([args.fovea, "--json", "--threads", str(args.threads),
                                  "--batch", str(args.batch), "--warmup", str(args.warmup),
                                  "--repeat", str(args.repeat)],
                                 check=True, capture_output=True, text=True).stdout
            for line in run.splitlines():
                r = json.loads(line)
                fovea_ms.setdefault(r["name"], []).append(r["median_ms"])
        for name, (ms, f) in torch_round(args.batch, args.warmup, args.repeat).items():
            torch_ms.setdefault(name, []).append(ms)
            flops[name] = f
    print(f"PyTorch {torch.__version__}, {args.threads} threads, batch {args.batch}, "
          f"median of {args.repeat} runs" + (f", median over {args.rounds} rounds"
                                             if args.fovea else ""))
    if args.fovea:
        print(f"{'benchmark':32} {'fovea ms':>10} {'torch ms':>10} {'fovea/torch':>12}")
    else:
        print(f"{'benchmark':32} {'median ms':>10} {'GFLOP/s':>10}")
    for name, times in torch_ms.items():
        t = statistics.median(times)
        if args.fovea:
            f = statistics.median(fovea_ms[name])
            print(f"{name:32} {f:10.3f} {t:10.3f} {f / t:12.2f}")
        else:
            print(f"{name:32} {t:10.3f} {flops[name] / t / 1e6:10.2f}")


if __name__ == "__main__":
    main()

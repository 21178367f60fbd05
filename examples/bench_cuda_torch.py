#!/usr/bin/env python3
"""PyTorch twin of examples/bench_cuda.cpp: the same work on the same GPU, one line per
benchmark, "name<TAB>median ms". Exits 1 (printing nothing) when PyTorch has no CUDA device.
bench_cuda runs this itself; the names must match its table."""
import argparse
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--small", action="store_true")
    ap.add_argument("--device", default="cuda", help="cpu only checks this script")
    args = ap.parse_args()
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        return 1
    if args.device == "cuda" and not torch.cuda.is_available():
        return 1
    torch.backends.cuda.matmul.allow_tf32 = False  # fovea's GEMMs are float32 throughout
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.device(args.device)
    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
    s = 16 if args.small else 1
    g = torch.Generator(device="cpu").manual_seed(0)

    def randn(*shape):
        return torch.randn(*shape, generator=g).to(dev)

    n, big = 4096 // s, 1 << (12 if args.small else 24)
    square, flat, row = randn(n, n), randn(big), randn(n)
    rows = 256 // (8 if args.small else 1)
    logits = randn(rows, n)
    targets = (torch.rand(rows, generator=g) * 9.99).long().to(dev)
    mm = 2048 // s
    ma, mb = randn(mm, mm), randn(mm, mm)
    batch, c, hw = (2, 8, 8) if args.small else (128, 64, 32)
    act, w3 = randn(batch, c, hw, hw), randn(c, c, 3, 3)
    bn_w, bn_b = randn(c), randn(c)
    bn_rm, bn_rv = torch.zeros(c, device=dev), torch.ones(c, device=dev)

    step_batch, step_hw = (4, 16) if args.small else (128, 32)
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    from torch_reference import CifarResNet  # the reference ResNet-20 of compare_train_step.py
    net = CifarResNet(20).to(dev)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    step_x = randn(step_batch, 3, step_hw, step_hw)
    step_y = (torch.rand(step_batch, generator=g) * 9.99).long().to(dev)

    def train_step():
        opt.zero_grad()
        F.cross_entropy(net(step_x), step_y).backward()
        opt.step()

    benches = [
        ("copy transpose", lambda: square.t().contiguous()),
        ("relu", lambda: torch.relu(flat)),
        ("add broadcast row", lambda: square + row),
        ("sum dim=1", lambda: square.sum(1)),
        ("sum dim=0", lambda: square.sum(0)),
        ("amax dim=1", lambda: square.amax(1)),
        ("softmax dim=-1", lambda: torch.softmax(logits, -1)),
        ("cross_entropy", lambda: F.cross_entropy(logits, targets)),
        ("matmul", lambda: ma @ mb),
        ("conv2d 3x3 forward", lambda: F.conv2d(act, w3, padding=1)),
        ("max_pool2d 3x3 s2", lambda: F.max_pool2d(act, 3, 2, 1)),
        ("batch_norm train", lambda: F.batch_norm(act, bn_rm, bn_rv, bn_w, bn_b, True, 0.1, 1e-5)),
        ("resnet20 train step", train_step),
    ]
    for name, fn in benches:
        for _ in range(args.warmup):
            fn()
        sync()
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            fn()
            sync()
            times.append(time.perf_counter() - start)
        times.sort()
        print(f"{name}\t{times[len(times) // 2] * 1e3:.4f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

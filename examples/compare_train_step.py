#!/usr/bin/python3
"""Times a CIFAR ResNet training step (forward, cross-entropy, backward, SGD) in fovea and in
PyTorch side by side: several rounds alternating the two (these machines are noisy), then the
medians and the ratio fovea / PyTorch (below 1: fovea is faster).

    /usr/bin/python3 examples/compare_train_step.py --bench build/examples/bench_train_step

Needs PyTorch (Debian: apt-get install python3-torch). The PyTorch model is the same network
as fovea's nn::cifar_resnet: option-A shortcuts, torchvision-style names and init.
"""
import argparse
import json
import statistics
import subprocess

import torch
import torch.nn.functional as F

from torch_reference import CifarResNet, median_ms


def torch_step_ms(depth, batch, size, warmup, repeat):
    torch.manual_seed(0)
    model = CifarResNet(depth)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(batch, 3, size, size)
    y = torch.randint(0, 10, (batch,))

    def step():
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return median_ms(step, warmup, repeat)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bench", default="build/examples/bench_train_step")
    p.add_argument("--depth", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--repeat", type=int, default=10)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    fovea, ref = [], []
    for _ in range(args.rounds):
        out = subprocess.run([args.bench, "--json", "--depth", str(args.depth), "--batch-size",
                              str(args.batch_size), "--image-size", str(args.image_size),
                              "--threads", str(args.threads), "--repeat", str(args.repeat)],
                             check=True, capture_output=True, text=True).stdout
        fovea.append(json.loads(out)["step_ms"])
        ref.append(torch_step_ms(args.depth, args.batch_size, args.image_size, 3, args.repeat))
    f, t = statistics.median(fovea), statistics.median(ref)
    print(f"ResNet-{args.depth} training step, batch {args.batch_size}, {args.image_size}x"
          f"{args.image_size}, {args.threads} threads, median over {args.rounds} rounds of "
          f"{args.repeat} steps")
    print(f"  fovea   {f:8.1f} ms   (rounds: {', '.join(f'{v:.1f}' for v in fovea)})")
    print(f"  PyTorch {t:8.1f} ms   (rounds: {', '.join(f'{v:.1f}' for v in ref)}; "
          f"torch {torch.__version__})")
    print(f"  fovea / PyTorch = {f / t:.2f}")


if __name__ == "__main__":
    main()

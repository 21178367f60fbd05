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
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class ShortcutA(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.stride, self.pad = stride, (cout - cin) // 2

    def forward(self, x):
        x = x[:, :, ::self.stride, ::self.stride]
        return F.pad(x, (0, 0, 0, 0, self.pad, self.pad)) if self.pad else x


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = ShortcutA(cin, cout, stride) if stride != 1 or cin != cout else None

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (self.downsample(x) if self.downsample is not None else x))


class CifarResNet(nn.Module):
    def __init__(self, depth, num_classes=10, in_channels=3):
        super().__init__()
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers, cin = [], 16
        for s, width in enumerate((16, 32, 64)):
            blocks = []
            for b in range(n):
                blocks.append(BasicBlock(cin, width, 2 if s > 0 and b == 0 else 1))
                cin = width
            layers.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = layers
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def torch_step_ms(depth, batch, size, warmup, repeat):
    torch.manual_seed(0)
    model = CifarResNet(depth)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(batch, 3, size, size)
    y = torch.randint(0, 10, (batch,))
    times = []
    for i in range(warmup + repeat):
        t = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i >= warmup:
            times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


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

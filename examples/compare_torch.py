#!/usr/bin/python3
"""Trains a CIFAR ResNet with fovea and with PyTorch on the same data, with the same recipe,
the same initial weights, data order and augmentation, and prints both accuracies and the ratio
of their training times.

    /usr/bin/python3 examples/compare_torch.py --data ../shared/data/cifar-10-subset --epochs 15
    /usr/bin/python3 examples/compare_torch.py --data ... --epochs 2 --attention gsa

With --attention the network is ResNet-20 with that attention module in the zoo's place (the
string is examples/train's, options included); PyTorch builds it from the fixture script's
reference modules (attention_zoo_torch.build_network), so a module that trains badly can be told
apart from a bug in fovea.

1. fovea: build/examples/train --dataset cifar10 ... --save-initial --export-plans DIR runs the
   recipe (SGD with momentum, weight decay, cosine schedule stepped per batch, random crop with
   4-pixel zero padding and horizontal flip, per-channel normalisation), and writes its initial
   weights and, per epoch, the batch order and every crop offset and flip it drew.
2. PyTorch (Debian's python3-torch) loads those initial weights into the same network
   (torch_reference.CifarResNet), reads the same CIFAR binary files, replays each epoch's plan
   exactly, and trains with the same optimiser and per-batch schedule.
Differences that remain are floating-point: summation order in convolutions and reductions.
Training time counts only the training passes (images/s as each side measures it).
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_to_torch import read_safetensors  # noqa: E402
from torch_reference import CifarResNet  # noqa: E402
from attention_zoo_torch import build_network  # noqa: E402


def cifar10_split(folder, train):
    """uint8 images [N, 3, 32, 32] and int64 labels of the official binary files."""
    if os.path.isdir(os.path.join(folder, "cifar-10-batches-bin")):
        folder = os.path.join(folder, "cifar-10-batches-bin")
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] if train else ["test_batch.bin"]
    raw = np.concatenate([np.fromfile(os.path.join(folder, n), dtype=np.uint8) for n in names])
    records = raw.reshape(-1, 3073)
    return (torch.from_numpy(records[:, 1:].reshape(-1, 3, 32, 32).copy()),
            torch.from_numpy(records[:, 0].astype(np.int64)))


def replay_batch(images, plan, k0, k1, mean, std):
    """Batch positions [k0, k1) of an epoch plan: crops, flips, normalisation."""
    idx = plan["order"][k0:k1]
    x = images[idx].float() / 255
    for step, p in zip(plan["pipeline"], plan["params"]):
        if step["name"] == "random_crop":
            pad = step["padding"]
            xp = F.pad(x, (pad, pad, pad, pad))
            h, w = step["size"]
            x = torch.stack([xp[i, :, pad + p["top"][k]:pad + p["top"][k] + h,
                                pad + p["left"][k]:pad + p["left"][k] + w]
                             for i, k in enumerate(range(k0, k1))])
        elif step["name"] == "horizontal_flip":
            flip = torch.tensor(p["flip"][k0:k1], dtype=torch.bool)
            x[flip] = x[flip].flip(-1)
        else:
            raise SystemExit(f"replay: step {step['name']} is not supported here")
    return (x - mean) / std


def evaluate(model, images, labels, mean, std):
    model.eval()
    correct, loss = 0, 0.0
    with torch.no_grad():
        for b in range(0, len(labels), 500):
            logits = model((images[b:b + 500].float() / 255 - mean) / std)
            loss += F.cross_entropy(logits, labels[b:b + 500], reduction="sum").item()
            correct += (logits.argmax(1) == labels[b:b + 500]).sum().item()
    model.train()
    return correct / len(labels), loss / len(labels)


def run_fovea(args, out):
    cmd = [args.train, "--dataset", "cifar10", "--data", args.data, "--model",
           f"resnet{args.depth}", "--attention", args.attention, "--epochs", str(args.epochs),
           "--batch-size", str(args.batch_size), "--lr", str(args.lr), "--momentum", str(args.momentum), "--wd",
           str(args.wd), "--schedule", "cosine", "--seed", str(args.seed), "--threads",
           str(args.threads), "--workers", "1", "--out", os.path.join(out, "fovea"),
           "--export-plans", os.path.join(out, "plans"), "--save-initial", "--quiet"]
    if args.keep_last_batch:
        cmd.append("--keep-last-batch")
    print("fovea:", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)
    rows = []
    with open(os.path.join(out, "fovea", "metrics.csv")) as f:
        header = f.readline().strip().split(",")
        for line in f:
            rows.append(dict(zip(header, map(float, line.strip().split(",")))))
    return rows


def run_torch(args, out):
    torch.set_num_threads(args.threads)
    train_x, train_y = cifar10_split(args.data, True)
    test_x, test_y = cifar10_split(args.data, False)
    model = CifarResNet(args.depth) if args.attention == "none" else \
        build_network(args.attention, args.depth)
    weights, _ = read_safetensors(os.path.join(out, "fovea", "initial.safetensors"))
    model.load_state_dict(weights, strict=True)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum,
                          weight_decay=args.wd)
    plans = []
    for epoch in range(args.epochs):
        with open(os.path.join(out, "plans", f"epoch{epoch}.json")) as f:
            plans.append(json.load(f))
    # The batches fovea trained on: full ones only, unless --keep-last-batch.
    steps_per_epoch = plans[0]["num_batches"]
    full, rest = divmod(len(train_y), args.batch_size)
    assert steps_per_epoch == (full + (rest > 1) if args.keep_last_batch else full)
    total = args.epochs * steps_per_epoch
    rows, step = [], 0
    for epoch, plan in enumerate(plans):
        assert plan["num_batches"] == steps_per_epoch
        mean = torch.tensor(plan["normalize"]["mean"]).view(1, 3, 1, 1)
        std = torch.tensor(plan["normalize"]["std"]).view(1, 3, 1, 1)
        seen, correct, loss_sum, train_seconds = 0, 0, 0.0, 0.0
        for b in range(steps_per_epoch):
            k0, k1 = b * args.batch_size, min((b + 1) * args.batch_size, len(plan["order"]))
            x = replay_batch(train_x, plan, k0, k1, mean, std)
            y = train_y[plan["order"][k0:k1]]
            t = time.perf_counter()
            for g in opt.param_groups:  # fovea's CosineAnnealingLR, closed form, per batch
                g["lr"] = 0.5 * args.lr * (1 + math.cos(math.pi * step / total))
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            train_seconds += time.perf_counter() - t
            step += 1
            seen += len(y)
            loss_sum += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
        test_acc, test_loss = evaluate(model, test_x, test_y, mean, std)
        rows.append({"epoch": epoch + 1, "train_loss": loss_sum / seen, "train_acc": correct / seen,
                     "test_loss": test_loss, "test_acc": test_acc,
                     "images_per_second": seen / train_seconds})
        print(f"torch epoch {epoch + 1}: train loss {loss_sum / seen:.4f}, test acc "
              f"{100 * test_acc:.2f}%, {seen / train_seconds:.0f} img/s", flush=True)
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train", default="build/examples/train")
    p.add_argument("--data", required=True, help="CIFAR-10 binary folder (or its parent)")
    p.add_argument("--depth", type=int, default=20)
    p.add_argument("--attention", default="none",
                   help="an attention module as examples/train takes it (gsa, \"sk:groups=16\")")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--wd", type=float, default=5e-4)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--keep-last-batch", action="store_true",
                   help="train on the last partial batch too (fovea's --keep-last-batch)")
    p.add_argument("--out", default="runs/compare")
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    fovea = run_fovea(args, args.out)
    ref = run_torch(args, args.out)
    print(f"\nResNet-{args.depth} (attention {args.attention}) on {args.data}, {args.epochs} "
          f"epochs, batch {args.batch_size}, {args.threads} threads (torch {torch.__version__})")
    print(f"{'epoch':>5} {'fovea acc':>10} {'torch acc':>10} {'fovea loss':>11} {'torch loss':>11}")
    for f_row, t_row in zip(fovea, ref):
        print(f"{int(f_row['epoch']):5d} {100 * f_row['test_acc']:9.2f}% {100 * t_row['test_acc']:9.2f}%"
              f" {f_row['train_loss']:11.4f} {t_row['train_loss']:11.4f}")
    f_ips = statistics.median(r["images_per_second"] for r in fovea)
    t_ips = statistics.median(r["images_per_second"] for r in ref)
    print(f"final test accuracy: fovea {100 * fovea[-1]['test_acc']:.2f}%, PyTorch "
          f"{100 * ref[-1]['test_acc']:.2f}% (difference "
          f"{100 * (fovea[-1]['test_acc'] - ref[-1]['test_acc']):+.2f} points)")
    print(f"training speed (median over epochs): fovea {f_ips:.0f} img/s, PyTorch {t_ips:.0f} "
          f"img/s; fovea time / PyTorch time = {t_ips / f_ips:.2f}")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""PyTorch's training throughput for the networks of examples/attention_zoo (--compare-torch).

    /usr/bin/python3 examples/attention_zoo_torch.py --batch-size 128 \
        --modules none se sa:groups=4 sk:groups=16 cbam:reduction_ratio=4

Each module is an attention string as fovea's trainer gets it: "none", a name ("se") or
"name:opt=v,opt=v". For each, the script builds the CIFAR ResNet (ResNet-20 by default, shortcut
A, 3 x 32 x 32 inputs, 10 classes) with that module in every residual block, at the place fovea's
ResNets put it (layers/resnet.cpp, layers/attention_slot.h), and times training steps on random
data: forward, cross-entropy, backward, SGD step (momentum 0.9, weight decay 5e-4 as the
trainer's recipe). It prints one progress line per module (parameters, median step time) and, as
its LAST line, one JSON object {"<module as given>": images_per_second, ...}, the median over
--steps timed steps after --warmup untimed ones. Each module runs in its own child process. A
module that fails to build or run (or whose process is killed, out of memory) is reported on
stderr and left out of the object (attention_zoo then shows no PyTorch number for it); an unknown
module name or option is an error before anything is timed (exit status 1).

The networks: torch_reference.CifarResNet (fovea's nn::cifar_resnet twin) with its blocks rebuilt
to hold the module, the state_dict names as fovea's (the module under its child name, e.g.
layer1.0.se, layer1.0.conv2 for SK, bam1 / bam2 for BAM). The modules are the PyTorch reference
modules of tests/fixtures/attention_ref/ (one file per module, constructor arguments named as
fovea's options); they keep their own init and the trunk's convs get kaiming fan_out, as fovea's.
--params-only prints each network's parameter count instead of timing it (the same JSON line).

Adding a module is one entry of MODULES below: its position, its child name in fovea's network,
its reference file, its options with fovea's defaults (attention/<module>.cpp, <module>_spec()),
and how the reference class is built from the context and the options.
"""
import argparse
import importlib
import json
import os
import subprocess
import sys
from collections import namedtuple

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "fixtures"))

from torch_reference import BasicBlock, CifarResNet, median_ms  # noqa: E402

# ---- positions (layers/attention_slot.h, spec §0.11) -------------------------------------------
LAST = "AfterLastNorm"       # on the branch after bn2, before "+ identity"
FIRST = "AfterFirstConv"     # after conv1 + bn1 + ReLU
CONV2 = "ReplaceSecondConv"  # the module is the block's conv2 (fovea passes in / out / stride)
ADD = "ReplaceAdd"           # relu(m(branch, identity)) instead of relu(branch + identity)
STAGE = "StageEnd"           # after every stage but the last


# What a factory gets (fovea's AttentionContext): channels the module sees and returns; for
# ReplaceSecondConv the replaced conv's in / out channels and stride; the spatial size of the
# tensor it sees; the 1-based stage.
Context = namedtuple("Context", "channels in_ch out_ch stride height width stage")


class Options:
    """The options given for one module, checked against its declared ones ("k=v,k=v" with
    fovea's defaults); values stay text until a typed getter reads them, as fovea's."""

    def __init__(self, module, declared, given):
        self.module = module
        self.values = dict(split_options(module, declared))
        seen = set()
        for k, v in split_options(module, given):
            if k not in self.values or k in seen:
                what = "repeats option" if k in seen else "has no option"
                fail('attention "%s" %s "%s" (its options: %s)' %
                     (module, what, k, ", ".join(self.values) or "none"))
            seen.add(k)
            self.values[k] = v

    def text(self, k):
        return self.values[k]

    def int(self, k):
        try:
            return int(self.values[k])
        except ValueError:
            raise ValueError('attention "%s": option %s=%s is not an integer' %
                             (self.module, k, self.values[k]))

    def num(self, k):
        return float(self.values[k])

    def flag(self, k):
        v = self.values[k]
        if v not in ("true", "false", "1", "0"):
            raise ValueError('attention "%s": option %s=%s is not true/false/1/0' %
                             (self.module, k, v))
        return v in ("true", "1")

    def list(self, k):
        return tuple(self.values[k].split("+"))


def split_options(module, text):
    pairs = []
    for item in filter(None, text.split(",")):
        if "=" not in item:
            fail('attention "%s": option "%s" is not k=v' % (module, item))
        k, v = item.split("=", 1)
        pairs.append((k, v))
    return pairs


def sk_kernels(text):
    """"3d1+3d2" -> ((3, 1), (3, 2)); "5" -> ((5, 1),)."""
    out = []
    for item in text.split("+"):
        k, _, d = item.partition("d")
        out.append((int(k), int(d) if d else 1))
    return tuple(out)


def fca_dct(o, c, axis):
    """FcaNet's DCT size (attention/fcanet.cpp dct_size): explicit, fixed7, or from the map."""
    given = o.int("dct_" + axis)
    rule = o.text("dct_size")
    size = c.height if axis == "h" else c.width
    if given:
        return given
    if rule == "fixed7":
        return 7
    if size <= 0:
        return 56 >> (c.stage - 1) if 1 <= c.stage <= 3 else 7
    return max(7, size) if rule == "max7" else size


def gsa_length(o, c):
    v = o.text("rel_pos_length")
    return max(c.height, c.width) if v in ("global", "-1") else int(v)


def no_dropout(o, *names):
    """For options the reference module lacks: only their neutral value can be matched."""
    for k in names:
        if o.num(k) != 0:
            raise ValueError('attention "%s": the reference module has no %s (give 0)' %
                             (o.module, k))


def sca(r, c, o):
    if o.text("query") == "given":
        raise ValueError('attention "sca": query=given takes its context from outside; a '
                         'classifier needs query=learned or pooled')
    return r.SCA(c.channels, o.text("order"), o.int("k"), o.int("context_dim"), o.text("query"),
                 o.flag("rescale"))


Spec = namedtuple("Spec", "position child ref options make")

# name: Spec(position, child name in fovea's block, reference file in tests/fixtures/attention_ref,
#            declared options with fovea's defaults, make(reference module, Context, Options)).
# In make: c.channels (c.in_ch, c.out_ch, c.stride for ReplaceSecondConv), o.int / o.num /
# o.flag / o.text / o.list("option").
MODULES = {
    "se": Spec(LAST, "se", "se", "reduction=16,bias=false",
               lambda r, c, o: r.SE(c.channels, o.int("reduction"), o.flag("bias"))),
    "cbam": Spec(LAST, "cbam", "cbam", "reduction_ratio=16,pool_types=avg+max,no_spatial=false",
                 lambda r, c, o: r.CBAM(c.channels, o.int("reduction_ratio"),
                                        o.list("pool_types"), o.flag("no_spatial"))),
    "cbam_residual": Spec(
        LAST, "cbam", "cbam", "reduction=16,kernel_size=7,spatial_bn=false,conv_bias=true",
        lambda r, c, o: r.CBAMResidual(c.channels, o.int("reduction"), o.int("kernel_size"),
                                       o.flag("spatial_bn"), o.flag("conv_bias"))),
    "bam": Spec(STAGE, "bam", "bam", "reduction_ratio=16,num_layers=1,dilation_conv_num=2,"
                "dilation_val=4,combine=sum",
                lambda r, c, o: r.BAM(c.channels, o.int("reduction_ratio"), o.int("num_layers"),
                                      o.int("dilation_conv_num"), o.int("dilation_val"),
                                      o.text("combine"))),
    "eca": Spec(LAST, "eca", "eca", "k_size=0,gamma=2,b=1",
                lambda r, c, o: r.ECA(c.channels, o.int("k_size"), o.num("gamma"), o.num("b"))),
    "sk": Spec(CONV2, "conv2", "sk", "kernels=3d1+3d2,groups=32,r=16,L=32,fuse_bn=true,"
               "bn_momentum=0.05",
               lambda r, c, o: r.SKConv(c.in_ch, c.out_ch, c.stride, sk_kernels(o.text("kernels")),
                                        o.int("groups"), o.int("r"), o.int("L"),
                                        o.flag("fuse_bn"), o.num("bn_momentum"))),
    "sk_xmu": Spec(CONV2, "conv2", "sk", "kernels=1+3+5+7,reduction=16,group=1,L=32",
                   lambda r, c, o: r.SKAttention(c.in_ch, tuple(map(int, o.list("kernels"))),
                                                 o.int("reduction"), o.int("group"), o.int("L"),
                                                 c.stride)),
    "sa": Spec(LAST, "sa", "sa", "groups=64",
               lambda r, c, o: r.ShuffleAttention(c.channels, o.int("groups"))),
    "sge": Spec(LAST, "sge", "sge", "groups=64,xmu_init=false",
                lambda r, c, o: r.SpatialGroupEnhance(c.channels, o.int("groups"),
                                                      o.flag("xmu_init"))),
    "ca": Spec(LAST, "ca", "coord", "reduction=32",
               lambda r, c, o: r.CoordAtt(c.channels, c.channels, o.int("reduction"))),
    "gam": Spec(LAST, "gam", "gam", "rate=4,channel_sigmoid=true,spatial_groups=1,shuffle=out",
                lambda r, c, o: r.GAM(c.channels, o.int("rate"), o.flag("channel_sigmoid"),
                                      o.int("spatial_groups"), o.text("shuffle"))),
    "fca": Spec(LAST, "att", "fca", "reduction=16,freq_sel_method=top16,dct_size=max7,dct_h=0,"
                "dct_w=0",
                lambda r, c, o: r.MultiSpectralAttentionLayer(
                    c.channels, fca_dct(o, c, "h"), fca_dct(o, c, "w"), o.int("reduction"),
                    o.text("freq_sel_method"))),
    "triplet": Spec(LAST, "triplet_attention", "triplet",
                    "no_spatial=false,zero_spatial_gamma=false",
                    lambda r, c, o: r.TripletAttention(o.flag("no_spatial"),
                                                       o.flag("zero_spatial_gamma"))),
    # Part 2 (written in parallel, /tmp/wt-<name>): their reference files come to
    # tests/fixtures/attention_ref when merged; until then the name is known and building it
    # says which file is missing.
    "psa": Spec(FIRST, "psa", "psa", "variant=paper_parallel",
                lambda r, c, o: r.PolarizedSelfAttention(c.channels, o.text("variant"))),
    "ms_cam": Spec(LAST, "ms_cam", "aff", "r=4", lambda r, c, o: r.MS_CAM(c.channels, o.int("r"))),
    "aff": Spec(ADD, "fuse_mode", "aff", "r=4", lambda r, c, o: r.AFF(c.channels, o.int("r"))),
    "iaff": Spec(ADD, "fuse_mode", "aff", "r=4", lambda r, c, o: r.iAFF(c.channels, o.int("r"))),
    "gsa": Spec(CONV2, "conv2", "gsa", "heads=8,dim_key=64,rel_pos_length=0,norm_queries=false,"
                "batch_norm=true",
                lambda r, c, o: r.GSA(c.in_ch, c.out_ch, o.int("heads"), o.int("dim_key"),
                                      gsa_length(o, c), o.flag("norm_queries"),
                                      o.flag("batch_norm"), c.stride)),
    "ba2m": Spec(LAST, "ba2m", "ba2m", "parts=channel+local+global,r=16,dilation=4,dilated_convs=2,"
                 "global_transform=mlp,activation=sigmoid,temperature=1.0,reweight=n_times_w,"
                 "eval_policy=identity",
                 lambda r, c, o: r.BA2M(c.channels, o.list("parts"), o.int("r"), o.int("dilation"),
                                        o.int("dilated_convs"), o.text("global_transform"),
                                        o.text("activation"), o.num("temperature"),
                                        o.text("reweight"), o.text("eval_policy"))),
    "external": Spec(LAST, "ea", "external", "k=64",
                     lambda r, c, o: r.External_attention(c.channels, o.int("k"))),
    "external_tokens": Spec(LAST, "ea", "external", "S=64,eps=0",
                            lambda r, c, o: r.ExternalAttention(c.channels, o.int("S"),
                                                                o.num("eps"))),
    "external_mh": Spec(LAST, "attn", "external", "num_heads=8,coef=4,attn_drop=0,proj_drop=0",
                        lambda r, c, o: r.Attention(c.channels, o.int("num_heads"), o.int("coef"),
                                                    o.num("attn_drop"), o.num("proj_drop"))),
    "sagan": Spec(LAST, "sagan", "sagan", "variant=heykeetae",
                  lambda r, c, o: (r.BigGANAttention if o.text("variant") == "biggan"
                                   else r.SelfAttn)(c.channels)),
    "mhsa": Spec(LAST, "mhsa", "mhsa", "heads=8,qkv_bias=false,form=plain,pos_embed=false,"
                 "attn_drop=0,proj_drop=0",
                 lambda r, c, o: no_dropout(o, "attn_drop", "proj_drop") or r.MHSA(
                     c.channels, c.height, c.width, o.int("heads"), o.flag("qkv_bias"),
                     o.text("form"), o.flag("pos_embed"))),
    "sca": Spec(LAST, "sca", "sca", "order=cs,k=512,context_dim=1000,query=learned,rescale=true",
                sca),
}


def fail(message):
    print("attention_zoo_torch: error: " + message, file=sys.stderr)
    sys.exit(1)


class Attention:
    """A parsed attention string: its Spec and checked Options (spec None for "none")."""

    def __init__(self, text):
        name, _, given = text.partition(":")
        if name == "none":
            if given:
                fail('attention "none" takes no options (got "%s")' % text)
            self.spec = None
            return
        if name not in MODULES:
            fail('unknown attention module "%s" (in "%s"); known: none, %s' %
                 (name, text, ", ".join(sorted(MODULES))))
        self.name, self.spec = name, MODULES[name]
        self.options = Options(name, self.spec.options, given)

    def build(self, context):
        ref = self.spec.ref
        if not os.path.exists(os.path.join(ref_dir(), ref + ".py")) and not any(
                os.path.exists(os.path.join(d, ref + ".py")) for d in EXTRA_REF_DIRS):
            raise RuntimeError('attention "%s": its reference module %s.py is not in %s' %
                               (self.name, ref, ref_dir()))
        module = importlib.import_module("attention_ref." + ref)
        return self.spec.make(module, context, self.options)


EXTRA_REF_DIRS = []


def ref_dir():
    return os.path.join(os.path.dirname(HERE), "tests", "fixtures", "attention_ref")


def strided(size, stride):
    return (size - 1) // stride + 1 if size > 0 else 0


class AttentionBlock(BasicBlock):
    """fovea's BasicBlock with its attention slot (layers/resnet.cpp)."""

    def __init__(self, cin, cout, stride, attention, size, stage):
        super().__init__(cin, cout, stride)
        for conv in (self.conv1, self.conv2):  # the trunk's init; the modules keep their own
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
        self.position, self.slot = None, None
        spec = attention.spec
        if spec is None or spec.position == STAGE:
            return
        self.position = spec.position
        after = strided(size, stride)  # the map after the strided conv1
        m = attention.build(Context(cout, cout, cout, 1, after, after, stage))
        if self.position == CONV2:
            self.conv2 = m  # fovea names it conv2 whatever the module
        else:
            self.slot = spec.child
            setattr(self, self.slot, m)

    def forward(self, x):
        m = getattr(self, self.slot) if self.slot else None
        out = F.relu(self.bn1(self.conv1(x)))
        if self.position == FIRST:
            out = m(out)
        out = self.bn2(self.conv2(out))
        if self.position == LAST:
            out = m(out)
        identity = self.downsample(x) if self.downsample is not None else x
        if self.position == ADD:
            return F.relu(m(out, identity))
        return F.relu(out + identity)


class AttentionCifarResNet(CifarResNet):
    """torch_reference.CifarResNet with AttentionBlocks and, for a StageEnd module, the module
    after every stage but the last (named <child><stage>: bam1, bam2)."""

    def __init__(self, depth, attention, num_classes=10, in_channels=3, input_size=32):
        super().__init__(depth, num_classes, in_channels)
        n = (depth - 2) // 6
        spec = attention.spec
        cin, size = 16, input_size
        self.stage_end = []
        for s, width in enumerate((16, 32, 64)):
            blocks = []
            for b in range(n):
                stride = 2 if s > 0 and b == 0 else 1
                blocks.append(AttentionBlock(cin, width, stride, attention, size, s + 1))
                cin, size = width, strided(size, stride)
            setattr(self, "layer%d" % (s + 1), nn.Sequential(*blocks))
            name = None
            if spec is not None and spec.position == STAGE and s < 2:
                name = spec.child + str(s + 1)
                setattr(self, name, attention.build(Context(width, width, width, 1, size, size,
                                                            s + 1)))
            self.stage_end.append(name)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        for s in range(3):
            x = getattr(self, "layer%d" % (s + 1))(x)
            if self.stage_end[s]:
                x = getattr(self, self.stage_end[s])(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


def build_network(text, depth=20, num_classes=10, image_size=32):
    return AttentionCifarResNet(depth, Attention(text), num_classes, 3, image_size)


def time_training(net, args, device):
    x = torch.randn(args.batch_size, 3, args.image_size, args.image_size, device=device)
    y = torch.randint(0, args.num_classes, (args.batch_size,), device=device)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    net.train()

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(net(x), y).backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()

    return median_ms(step, args.warmup, args.steps)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--modules", nargs="+", required=True,
                   help='attention strings: none, a name, or "name:opt=v,opt=v"')
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--depth", type=int, default=20, help="CIFAR ResNet depth 6n + 2")
    p.add_argument("--num-classes", type=int, default=10)
    p.add_argument("--steps", type=int, default=10, help="timed steps (the median is reported)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--params-only", action="store_true",
                   help="print each network's parameter count instead of timing it")
    p.add_argument("--extra-ref-dir", action="append", default=[],
                   help="another attention_ref folder to take reference files from (testing "
                        "references not merged yet)")
    p.add_argument("--in-process", action="store_true",
                   help="time every module in this process (default: one child process each)")
    args = p.parse_args()
    if (args.depth - 2) % 6 or args.depth < 8:
        fail("--depth must be 6n + 2 (20, 32, 44, ...), got %d" % args.depth)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    import attention_ref
    for d in args.extra_ref_dir:
        EXTRA_REF_DIRS.append(os.path.abspath(d))
        attention_ref.__path__.append(os.path.abspath(d))
    for m in args.modules:  # every name and option checked before anything runs
        Attention(m)

    results = {}
    for m in args.modules:
        if args.in_process or args.params_only:
            results.update(run_one(m, args, device))
        else:
            results.update(run_child(m, args))
    print(json.dumps(results), flush=True)


def run_one(m, args, device):
    """{m: images/s} (or {m: parameters}), or {} with the error reported."""
    try:
        torch.manual_seed(args.seed)
        net = build_network(m, args.depth, args.num_classes, args.image_size).to(device)
        params = sum(t.numel() for t in net.parameters())
        if args.params_only:
            print("%s: %d parameters" % (m, params), flush=True)
            return {m: params}
        ms = time_training(net, args, device)
    except Exception as e:  # one module's failure leaves the others' numbers
        report_failure(m, "%s: %s" % (type(e).__name__, e))
        return {}
    ips = round(args.batch_size / (ms / 1e3), 3)
    print("%s: %d parameters, %.1f ms per step (median of %d), %.1f images/s" %
          (m, params, ms, args.steps, ips), flush=True)
    return {m: ips}


def run_child(m, args):
    """run_one in a child process: a module that exhausts memory (an attention matrix of
    (H W)^2 per head and image) and is killed takes only its own number with it."""
    cmd = [sys.executable, os.path.abspath(__file__), "--in-process", "--modules", m]
    for flag in ("batch_size", "image_size", "depth", "num_classes", "steps", "warmup", "threads",
                 "device", "seed"):
        cmd += ["--" + flag.replace("_", "-"), str(getattr(args, flag))]
    for d in args.extra_ref_dir:
        cmd += ["--extra-ref-dir", d]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)  # stderr passes through
    lines = r.stdout.splitlines()
    for line in lines[:-1]:
        print(line, flush=True)
    if r.returncode == 0 and lines:
        try:
            return json.loads(lines[-1])
        except ValueError:
            pass
    why = ("killed by signal %d (out of memory?)" % -r.returncode if r.returncode < 0
           else "exit status %d" % r.returncode)
    report_failure(m, "its process ended without a result: " + why)
    return {}


def report_failure(m, message):
    print("attention_zoo_torch: %s: failed: %s" % (m, message), file=sys.stderr, flush=True)
    print("%s: failed (%s)" % (m, message), flush=True)


if __name__ == "__main__":
    main()

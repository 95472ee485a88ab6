"""PyTorch's side of Galen's training and inference benchmarks (see Benchmarks/Swift/Training.swift).

Same models, shapes, optimizer, timing plan and JSON line as `galen-bench --workload NAME`, so that
Benchmarks/run can put the two side by side. One workload per process, so that the peak RSS
(VmHWM) printed at the end belongs to that workload alone:

    pytorch_train.py --workload NAME [--threads N] [--quick]
    pytorch_train.py --list

The reference modules are written out here rather than taken from torchvision or elsewhere, so
that they are exactly Galen's: the MedMNIST v2 ResNet-18 "28" layout (kuangliu's pytorch-cifar
ResNet: 3x3 stride-1 stem, no max-pool, BasicBlock with `shortcut`) and milesial's U-Net (as
Galen's UNet with transposed-convolution upsampling). `flops_per_sample` in the output counts the
multiply-adds of convolutions and linear layers (2 flops each) in one forward pass of one sample;
batch norm, activations, pooling and the loss are left out.
"""

import argparse
import json
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# Mirrors TrainingPlan in Training.swift.
FULL = dict(min_warmup_calls=2, warmup=1.0, min_sample=0.2, budget=8.0, min_samples=5, max_samples=100)
QUICK = dict(min_warmup_calls=1, warmup=0.1, min_sample=0.02, budget=0.5, min_samples=2, max_samples=10)


def time_steps(plan, body):
    """Median seconds per call after a warm-up of at least `min_warmup_calls` calls and `warmup`
    seconds; short calls are repeated inside a sample (see timeSteps in Training.swift)."""
    fastest = float("inf")
    calls = 0
    warmup_start = time.perf_counter()
    while calls < plan["min_warmup_calls"] or time.perf_counter() - warmup_start < plan["warmup"]:
        t0 = time.perf_counter()
        body()
        fastest = min(fastest, time.perf_counter() - t0)
        calls += 1
    per_sample = max(1, int(-(-plan["min_sample"] // max(fastest, 1e-9))))

    samples = []
    start = time.perf_counter()
    while len(samples) < plan["min_samples"] or (
        len(samples) < plan["max_samples"] and time.perf_counter() - start < plan["budget"]
    ):
        t0 = time.perf_counter()
        for _ in range(per_sample):
            body()
        samples.append((time.perf_counter() - t0) / per_sample)
    return dict(seconds_per_call=statistics.median(samples), samples=len(samples), calls_per_sample=per_sample)


def peak_rss_mib():
    """VmHWM of this process in MiB (None without /proc)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


class Sink:
    """Holds the last result, like galen-bench's `sink`."""
    value = None


# --- Reference models -----------------------------------------------------------------------------


def mlp(inputs, hidden, classes):
    """Galen's MLP without batch norm or dropout: Linear → ReLU per hidden width, then Linear."""
    layers, width = [], inputs
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    layers.append(nn.Linear(width, classes))
    return nn.Sequential(*layers)


class LeNet5(nn.Module):
    """Galen's LeNet5: conv 6@5x5 pad 2 → ReLU → max-pool 2 → conv 16@5x5 → ReLU → max-pool 2 →
    fc 120 → ReLU → fc 84 → ReLU → fc classes."""

    def __init__(self, in_channels=1, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class BasicBlock(nn.Module):
    """kuangliu's BasicBlock: the projection is called `shortcut` and is empty when shapes match."""

    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += self.shortcut(x)
        return F.relu(out)


class ResNet28(nn.Module):
    """The MedMNIST v2 "28" layout: 3x3 stride-1 stem without max-pool, four stages, global average
    pooling, `linear` head (Galen's ResNet28)."""

    def __init__(self, blocks, in_channels, classes, base=64):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, base, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(base)
        in_planes, stages = base, []
        for stage, count in enumerate(blocks):
            planes = base << stage
            layers = []
            for index in range(count):
                layers.append(BasicBlock(in_planes, planes, 2 if index == 0 and stage > 0 else 1))
                in_planes = planes
            stages.append(nn.Sequential(*layers))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.linear = nn.Linear(8 * base, classes)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        return self.linear(out.mean((2, 3)))


class DoubleConv(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.double_conv = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True))

    def forward(self, x):
        return self.double_conv(x)


class Down(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.maxpool_conv = nn.Sequential(nn.MaxPool2d(2), DoubleConv(in_channels, out_channels))

    def forward(self, x):
        return self.maxpool_conv(x)


class Up(nn.Module):
    """Transposed conv 2x2 stride 2 (halving the channels), pad to the skip, cat [skip, up], double conv."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, 2, stride=2)
        self.conv = DoubleConv(in_channels, out_channels)

    def forward(self, x, skip):
        x = self.up(x)
        dy, dx = skip.size(2) - x.size(2), skip.size(3) - x.size(3)
        if dy or dx:
            x = F.pad(x, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])
        return self.conv(torch.cat([skip, x], dim=1))


class UNet(nn.Module):
    """milesial's U-Net generalized to any depth, as Galen's UNet (bilinear=False): inc, down1…,
    up1…, outc; ReLUs in place as in milesial's code."""

    def __init__(self, in_channels, classes, depth=4, base=64):
        super().__init__()
        width = lambda level: base << level  # noqa: E731
        self.inc = DoubleConv(in_channels, base)
        self.downs = nn.ModuleList(Down(width(level - 1), width(level)) for level in range(1, depth + 1))
        self.ups = nn.ModuleList(
            Up(width(depth - step + 1), base if step == depth else width(depth - step))
            for step in range(1, depth + 1))
        self.outc = nn.Conv2d(base, classes, 1)

    def forward(self, x):
        skips = [self.inc(x)]
        for down in self.downs:
            skips.append(down(skips[-1]))
        y = skips.pop()
        for up in self.ups:
            y = up(y, skips.pop())
        return self.outc(y)


class LSTMClassifier(nn.Module):
    """2-layer LSTM (hidden 128) over T steps of 12 features; the last step's state → 5 classes."""

    def __init__(self, features=12, hidden=128, layers=2, classes=5):
        super().__init__()
        self.lstm = nn.LSTM(features, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, classes)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


class TransformerClassifier(nn.Module):
    """4 post-norm encoder layers (d 128, 4 heads, feed-forward 256, ReLU, PyTorch's default
    dropout 0.1) over T tokens already embedded to d; mean over tokens → 5 classes."""

    def __init__(self, d=128, heads=4, ff=256, layers=4, classes=5, dropout=0.1):
        super().__init__()
        layer = nn.TransformerEncoderLayer(d, heads, dim_feedforward=ff, dropout=dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d, classes)

    def forward(self, x):
        return self.head(self.encoder(x).mean(1))


class GCN(nn.Module):
    """Kipf & Welling's 2-layer GCN with a dense normalized adjacency Â: Â·relu(Â·X·W1)·W2."""

    def __init__(self, features, hidden, classes):
        super().__init__()
        self.w1 = nn.Linear(features, hidden)
        self.w2 = nn.Linear(hidden, classes)

    def forward(self, x, adjacency):
        h = F.relu(adjacency @ self.w1(x))
        return adjacency @ self.w2(h)


def conv_linear_flops(model, example):
    """Forward flops per sample of the convolutions and linear layers, from one forward pass of a
    single sample with hooks (2 per multiply-add)."""
    total = [0]

    def hook(module, inputs, output):
        if isinstance(module, nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
            total[0] += 2 * output.numel() * k
        elif isinstance(module, nn.ConvTranspose2d):
            k = module.kernel_size[0] * module.kernel_size[1] * module.out_channels // module.groups
            total[0] += 2 * inputs[0].numel() * k
        elif isinstance(module, nn.Linear):
            total[0] += 2 * output.numel() * module.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(example)
    model.train(was_training)
    for h in handles:
        h.remove()
    return total[0]


# --- Workloads --------------------------------------------------------------------------------------
# Each returns (body, batch, forward flops per sample or None); same shapes as Training.swift.


def optimizer_for(model):
    return torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)


def classifier_step(model, x, y):
    model.train()
    opt = optimizer_for(model)

    def body():
        opt.zero_grad()  # set_to_none=True, as Galen's zeroGrad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        Sink.value = loss

    return body


def inference_step(model, x):
    model.eval()

    def body():
        with torch.no_grad():
            Sink.value = model(x)

    return body


def train_mlp():
    model = mlp(30, [64, 32], 2)
    return classifier_step(model, torch.randn(128, 30), torch.randint(0, 2, (128,))), 128, \
        conv_linear_flops(model, torch.randn(1, 30))


def train_lenet():
    model = LeNet5(1, 10)
    return classifier_step(model, torch.randn(128, 1, 28, 28), torch.randint(0, 10, (128,))), 128, \
        conv_linear_flops(model, torch.randn(1, 1, 28, 28))


def train_resnet18_28():
    model = ResNet28([2, 2, 2, 2], 3, 9)
    return classifier_step(model, torch.randn(128, 3, 28, 28), torch.randint(0, 9, (128,))), 128, \
        conv_linear_flops(model, torch.randn(1, 3, 28, 28))


def train_unet():
    model = UNet(1, 1, depth=4, base=16)
    model.train()
    opt = optimizer_for(model)
    x = torch.randn(16, 1, 64, 64)
    mask = (torch.rand(16, 1, 64, 64) < 0.3).float()

    def body():
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(model(x), mask)
        loss.backward()
        opt.step()
        Sink.value = loss

    return body, 16, conv_linear_flops(model, torch.randn(1, 1, 64, 64))


def infer_lenet():
    model = LeNet5(1, 10)
    return inference_step(model, torch.randn(256, 1, 28, 28)), 256, \
        conv_linear_flops(model, torch.randn(1, 1, 28, 28))


def infer_resnet18_28():
    model = ResNet28([2, 2, 2, 2], 3, 9)
    return inference_step(model, torch.randn(256, 3, 28, 28)), 256, \
        conv_linear_flops(model, torch.randn(1, 3, 28, 28))


def train_lstm():
    batch, steps, features, hidden, classes = 64, 100, 12, 128, 5
    model = LSTMClassifier(features, hidden, 2, classes)
    # Per step and layer: 4 gates, each (input + hidden) x hidden multiply-adds.
    flops = steps * (2 * 4 * hidden * (features + hidden) + 2 * 4 * hidden * (hidden + hidden)) + 2 * hidden * classes
    return classifier_step(model, torch.randn(batch, steps, features), torch.randint(0, classes, (batch,))), batch, flops


def train_transformer(dropout=0.1):
    batch, tokens, d, heads, ff, layers, classes = 32, 64, 128, 4, 256, 4, 5
    model = TransformerClassifier(d, heads, ff, layers, classes, dropout)
    # Per token and layer: Q, K, V and output projections, scores and weighted sum over T tokens,
    # and the two feed-forward products.
    per_layer = tokens * (2 * 4 * d * d + 2 * 2 * tokens * d + 2 * 2 * d * ff)
    flops = layers * per_layer + 2 * d * classes
    return classifier_step(model, torch.randn(batch, tokens, d), torch.randint(0, classes, (batch,))), batch, flops


def train_gcn():
    nodes, features, hidden, classes, degree = 1000, 64, 64, 7, 5
    generator = torch.Generator().manual_seed(1)
    # A random undirected graph of about `degree` neighbours per node, with self-loops, normalized
    # symmetrically: Â = D^-1/2 (A + I) D^-1/2, stored dense.
    edges = torch.rand(nodes, nodes, generator=generator) < degree / nodes
    a = (edges | edges.T | torch.eye(nodes, dtype=torch.bool)).float()
    d = a.sum(1).rsqrt()
    adjacency = d[:, None] * a * d[None, :]
    model = GCN(features, hidden, classes)
    model.train()
    opt = optimizer_for(model)
    x = torch.randn(nodes, features)
    y = torch.randint(0, classes, (nodes,))

    def body():
        opt.zero_grad()
        loss = F.cross_entropy(model(x, adjacency), y)
        loss.backward()
        opt.step()
        Sink.value = loss

    # Per node: X·W1, Â·(XW1) over all nodes, H·W2, Â·(HW2).
    flops = 2 * features * hidden + 2 * nodes * hidden + 2 * hidden * classes + 2 * nodes * classes
    return body, nodes, flops


# Same names and order as trainingWorkloads in Training.swift. A GCN "sample" is a node: one full-
# batch step processes all 1,000.
WORKLOADS = {
    "train.mlp": train_mlp,
    "train.lenet": train_lenet,
    "train.resnet18-28": train_resnet18_28,
    "train.unet": train_unet,
    "infer.lenet": infer_lenet,
    "infer.resnet18-28": infer_resnet18_28,
    "train.lstm": train_lstm,
    "train.transformer": train_transformer,
    "train.transformer-dropout0": lambda: train_transformer(dropout=0.0),
    "train.gcn": train_gcn,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workload", help="the workload to run")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's own)")
    parser.add_argument("--quick", action="store_true", help="short timing plan, for a smoke test")
    parser.add_argument("--list", action="store_true", help="print the workload names and exit")
    args = parser.parse_args()
    if args.list:
        print("\n".join(WORKLOADS))
        return
    if args.workload not in WORKLOADS:
        sys.exit(f"pytorch_train.py: unknown or missing --workload {args.workload}; known: {', '.join(WORKLOADS)}")
    if args.threads is not None:
        if args.threads < 1:
            sys.exit("pytorch_train.py: --threads needs a positive integer")
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    torch.manual_seed(0)
    body, batch, flops = WORKLOADS[args.workload]()
    timing = time_steps(QUICK if args.quick else FULL, body)
    Sink.value = None
    line = dict(impl="pytorch", workload=args.workload, batch=batch, threads=threads, status="ok",
                samples_per_s=float("%.6g" % (batch / timing["seconds_per_call"])),
                seconds_per_call=float("%.6g" % timing["seconds_per_call"]),
                samples=timing["samples"], calls_per_sample=timing["calls_per_sample"])
    if flops:
        line["flops_per_sample"] = int(flops)
    rss = peak_rss_mib()
    if rss is not None:
        line["rss_mib"] = round(rss, 1)
    print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()

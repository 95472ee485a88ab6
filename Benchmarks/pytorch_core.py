"""PyTorch's side of Galen's core micro-benchmarks (see Benchmarks/Swift/main.swift).

Same workloads, shapes, timing plan and JSON-lines output as galen-bench, so that
Benchmarks/run-core can put the two side by side:

    pytorch_core.py [--threads N] [--quick] [--only w1,w2,...] [--list]
"""

import argparse
import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F

# The timing plan mirrors TimingPlan in main.swift: warm-up seconds, minimum seconds per sample
# (short bodies are repeated inside a sample), total budget, and sample count bounds.
FULL = dict(warmup=0.25, min_sample=0.02, budget=1.5, min_samples=5, max_samples=200)
QUICK = dict(warmup=0.05, min_sample=0.005, budget=0.3, min_samples=3, max_samples=50)


def measure(plan, body):
    """Median seconds per call of `body`, after a warm-up; see measure() in main.swift."""
    # perf_counter is monotonic with sub-microsecond resolution (CLOCK_MONOTONIC on Linux).
    fastest = float("inf")
    warmup_start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        body()
        fastest = min(fastest, time.perf_counter() - t0)
        if time.perf_counter() - warmup_start >= plan["warmup"]:
            break
    calls = max(1, int(-(-plan["min_sample"] // max(fastest, 1e-9))))

    samples = []
    start = time.perf_counter()
    while len(samples) < plan["min_samples"] or (
        len(samples) < plan["max_samples"] and time.perf_counter() - start < plan["budget"]
    ):
        t0 = time.perf_counter()
        for _ in range(calls):
            body()
        samples.append((time.perf_counter() - t0) / calls)
    return dict(seconds_per_call=statistics.median(samples), samples=len(samples), calls_per_sample=calls)


def report(workload, unit, value, timing, threads):
    line = dict(impl="pytorch", workload=workload, unit=unit, value=float("%.6g" % value))
    line.update(seconds_per_call=float("%.6g" % timing["seconds_per_call"]),
                samples=timing["samples"], calls_per_sample=timing["calls_per_sample"], threads=threads)
    print(json.dumps(line), flush=True)


class Sink:
    """Holds the last result, as galen-bench's `sink` does, so both free outputs at the same point."""
    value = None


def bench_sgemm(n, plan, threads):
    a = torch.randn(n, n)
    b = torch.randn(n, n)

    def body():
        Sink.value = torch.mm(a, b)

    t = measure(plan, body)
    report(f"sgemm-{n}", "GFLOP/s", 2 * n**3 / t["seconds_per_call"] / 1e9, t, threads)


def bench_conv2d(plan, threads):
    n, c_in, c_out, h, w, k = 128, 32, 64, 28, 28, 3
    forward_flops = 2 * n * c_out * h * w * c_in * k * k
    x = torch.randn(n, c_in, h, w, requires_grad=True)
    weight = (torch.randn(c_out, c_in, k, k) * 0.06).requires_grad_()
    bias = (torch.randn(c_out) * 0.1).requires_grad_()
    # Preallocated output gradient: no loss reduction inside the timing, as in galen-bench.
    grad_out = torch.randn(n, c_out, h, w)

    def body():
        out = F.conv2d(x, weight, bias, stride=1, padding=1)
        out.backward(grad_out)
        Sink.value = x.grad
        # Fresh gradients each call, like Galen's zeroGrad(): no accumulation work.
        x.grad = None
        weight.grad = None
        bias.grad = None

    t = measure(plan, body)
    report("conv2d-fwd-bwd", "GFLOP/s", 3 * forward_flops / t["seconds_per_call"] / 1e9, t, threads)


ELEMENTWISE = 10_000_000


def bench_add(plan, threads):
    a = torch.randn(ELEMENTWISE)
    b = torch.randn(ELEMENTWISE)

    def body():
        Sink.value = torch.add(a, b)

    t = measure(plan, body)
    report("add-10M", "GB/s", 12 * ELEMENTWISE / t["seconds_per_call"] / 1e9, t, threads)


def bench_exp(plan, threads):
    a = torch.randn(ELEMENTWISE)

    def body():
        Sink.value = torch.exp(a)

    t = measure(plan, body)
    report("exp-10M", "GB/s", 8 * ELEMENTWISE / t["seconds_per_call"] / 1e9, t, threads)


CHAIN = 1_000


def op_chain(x, y):
    """x·y, x + y, relu(x) in turn, 1,000 ops; y in [0.5, 0.9) keeps x away from overflow and
    denormals (see opChain in main.swift)."""
    for i in range(CHAIN):
        r = i % 3
        if r == 0:
            x = x * y
        elif r == 1:
            x = x + y
        else:
            x = torch.relu(x)
    return x


def chain_inputs():
    x0 = torch.randn(8, 8, requires_grad=True)
    y = (torch.rand(8, 8) * 0.4 + 0.5).requires_grad_()
    return x0, y


def bench_chain_grad(plan, threads):
    x0, y = chain_inputs()

    def body():
        # The graph is freed when the result goes, inside the timed call, as in galen-bench.
        op_chain(x0, y)

    t = measure(plan, body)
    report("opchain-grad", "us/op", t["seconds_per_call"] / CHAIN * 1e6, t, threads)


def bench_chain_nograd(plan, threads):
    x0, y = chain_inputs()

    def body():
        with torch.no_grad():
            Sink.value = op_chain(x0, y)

    t = measure(plan, body)
    report("opchain-nograd", "us/op", t["seconds_per_call"] / CHAIN * 1e6, t, threads)


def bench_chain_backward(plan, threads):
    x0, y = chain_inputs()
    seed = torch.ones(8, 8)

    def body():
        op_chain(x0, y).backward(seed)
        Sink.value = x0.grad
        x0.grad = None
        y.grad = None

    t = measure(plan, body)
    report("opchain-fwd-bwd", "us/op", t["seconds_per_call"] / CHAIN * 1e6, t, threads)


# Same names and order as `workloads` in main.swift.
WORKLOADS = {
    "sgemm-256": lambda p, t: bench_sgemm(256, p, t),
    "sgemm-512": lambda p, t: bench_sgemm(512, p, t),
    "sgemm-1024": lambda p, t: bench_sgemm(1024, p, t),
    "sgemm-2048": lambda p, t: bench_sgemm(2048, p, t),
    "conv2d-fwd-bwd": bench_conv2d,
    "add-10M": bench_add,
    "exp-10M": bench_exp,
    "opchain-grad": bench_chain_grad,
    "opchain-nograd": bench_chain_nograd,
    "opchain-fwd-bwd": bench_chain_backward,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's own)")
    parser.add_argument("--quick", action="store_true", help="short timing plan, for a smoke test")
    parser.add_argument("--only", default=None, help="comma-separated workload names")
    parser.add_argument("--list", action="store_true", help="print the workload names and exit")
    args = parser.parse_args()
    if args.list:
        print("\n".join(WORKLOADS))
        return
    only = None
    if args.only is not None:
        only = set(args.only.split(","))
        unknown = only - set(WORKLOADS)
        if unknown:
            sys.exit(f"pytorch_core.py: unknown workload(s): {', '.join(sorted(unknown))}")
    if args.threads is not None:
        if args.threads < 1:
            sys.exit("pytorch_core.py: --threads needs a positive integer")
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    torch.manual_seed(0)
    plan = QUICK if args.quick else FULL
    for name, run in WORKLOADS.items():
        if only is None or name in only:
            run(plan, threads)
            Sink.value = None


if __name__ == "__main__":
    main()

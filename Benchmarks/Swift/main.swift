// galen-bench: Galen's core micro-benchmarks, printed as one JSON line per measurement.
//
// Benchmarks/pytorch_core.py measures the same workloads in PyTorch with the same methodology and
// the same JSON format; Benchmarks/run-core runs the two interleaved and prints the comparison.
//
//   galen-bench [--threads N] [--quick] [--only w1,w2,...] [--list] [--info]
//   galen-bench [--threads N] [--quick] --workload NAME     (one training/inference workload, Training.swift)
//   galen-bench [--threads N] [--quick] --peak              (FMA and sgemm ceilings, Peak.swift)
//   galen-bench --list-workloads
//   galen-bench [--threads N] [--quick] --data            (loading and DataLoader vs a training step, DataLoading.swift)
//
// Build with `-c release -Xswiftc -target-cpu -Xswiftc haswell -Xswiftc -DGALEN_FMA` (Scripts/env.sh's
// SWIFT_FLAGS): without the CPU flag the SIMD kernels run scalar and the numbers mean nothing.

import CBLAS
import Foundation
import Galen

// MARK: Options

struct Options {
    var threads: Int? = nil
    var quick = false
    var only: Set<String>? = nil
    var list = false
    var info = false
    /// Training.swift: one training/inference workload, the ceilings, or the workload names.
    var workload: String? = nil
    var peak = false
    var listWorkloads = false
    /// DataLoading.swift: MedMNIST loading and DataLoader throughput against a ResNet-18 step.
    var data = false
}

func parseOptions() -> Options {
    var options = Options()
    var arguments = CommandLine.arguments.dropFirst()[...]
    func value(for flag: String) -> String {
        guard let next = arguments.popFirst() else { fail("\(flag) needs a value") }
        return next
    }
    while let argument = arguments.popFirst() {
        switch argument {
        case "--threads":
            guard let n = Int(value(for: argument)), n >= 1 else { fail("--threads needs a positive integer") }
            options.threads = n
        case "--quick": options.quick = true
        case "--only": options.only = Set(value(for: argument).split(separator: ",").map(String.init))
        case "--list": options.list = true
        case "--info": options.info = true
        case "--workload": options.workload = value(for: argument)
        case "--peak": options.peak = true
        case "--list-workloads": options.listWorkloads = true
        case "--data": options.data = true
        case "-h", "--help":
            print("usage: galen-bench [--threads N] [--quick] [--only w1,w2,...] [--list] [--info]")
            print("       galen-bench [--threads N] [--quick] (--workload NAME | --peak | --data) | --list-workloads")
            exit(0)
        default: fail("unknown argument \(argument)")
        }
    }
    return options
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("galen-bench: \(message)\n".utf8))
    exit(2)
}

// MARK: Timing

/// The timing plan: how long to warm up, how long each sample must at least last (short bodies are
/// repeated inside a sample so that clock resolution and loop overhead vanish), and how much time
/// the samples of one measurement may take in all. pytorch_core.py uses the same numbers.
struct TimingPlan {
    let warmupSeconds: Double
    let minSampleSeconds: Double
    let budgetSeconds: Double
    let minSamples: Int
    let maxSamples: Int

    static let full = TimingPlan(
        warmupSeconds: 0.25, minSampleSeconds: 0.02, budgetSeconds: 1.5, minSamples: 5, maxSamples: 200)
    static let quick = TimingPlan(
        warmupSeconds: 0.05, minSampleSeconds: 0.005, budgetSeconds: 0.3, minSamples: 3, maxSamples: 50)
}

/// The median time of one call of a body, and how it was obtained.
struct Timing {
    let secondsPerCall: Double
    let samples: Int
    let callsPerSample: Int
}

let clock = ContinuousClock()

func seconds(_ duration: Duration) -> Double {
    let parts = duration.components
    return Double(parts.seconds) + Double(parts.attoseconds) * 1e-18
}

/// Times one body: `warmUp` sizes the samples, `sample` adds one.
final class Sampler {
    let body: () -> Void
    private(set) var callsPerSample = 1
    private(set) var samples: [Double] = []

    init(_ body: @escaping () -> Void) { self.body = body }

    /// Warm-up: first-touch page faults, thread-pool start, BLAS buffer allocation, caches.
    /// The fastest warm-up call estimates the steady per-call cost used to size the samples.
    func warmUp(_ plan: TimingPlan) {
        var fastest = Double.infinity
        let start = clock.now
        repeat {
            let t0 = clock.now
            body()
            fastest = min(fastest, seconds(clock.now - t0))
        } while seconds(clock.now - start) < plan.warmupSeconds
        callsPerSample = max(1, Int((plan.minSampleSeconds / max(fastest, 1e-9)).rounded(.up)))
    }

    func sample() {
        let t0 = clock.now
        for _ in 0..<callsPerSample { body() }
        samples.append(seconds(clock.now - t0) / Double(callsPerSample))
    }

    /// The median per-call time: it shrugs off the samples a neighbour's burst of load hits,
    /// where a mean would absorb them.
    var timing: Timing {
        let sorted = samples.sorted()
        let middle = sorted.count / 2
        let median = sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
        return Timing(secondsPerCall: median, samples: sorted.count, callsPerSample: callsPerSample)
    }
}

/// Warms each body up, then takes samples until the budget (per body) is spent, but at least
/// `minSamples`. With several bodies the samples alternate, so that load from neighbours on a
/// shared machine lands on all of them alike and their ratio stays meaningful.
func measure(_ plan: TimingPlan, _ bodies: [() -> Void]) -> [Timing] {
    let samplers = bodies.map(Sampler.init)
    for sampler in samplers { sampler.warmUp(plan) }
    let budget = plan.budgetSeconds * Double(samplers.count)
    let start = clock.now
    var taken = 0
    while taken < plan.minSamples || (taken < plan.maxSamples && seconds(clock.now - start) < budget) {
        for sampler in samplers { sampler.sample() }
        taken += 1
    }
    return samplers.map(\.timing)
}

func measure(_ plan: TimingPlan, _ body: @escaping () -> Void) -> Timing {
    measure(plan, [body])[0]
}

/// Keeps results observable so that the optimizer cannot drop the work that produced them.
nonisolated(unsafe) var sink: Tensor? = nil
@inline(never) func consume(_ tensor: Tensor) { sink = tensor }

// MARK: Output

/// One JSON line; the keys are the same in pytorch_core.py. `value` is in `unit`, derived from the
/// median seconds per call.
func report(
    impl: String, workload: String, unit: String, value: Double, timing: Timing, threads: Int, note: String = ""
) {
    func jsonString(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
    var fields = [
        "\"impl\": \(jsonString(impl))",
        "\"workload\": \(jsonString(workload))",
        "\"unit\": \(jsonString(unit))",
        "\"value\": \(String(format: "%.6g", value))",
        "\"seconds_per_call\": \(String(format: "%.6g", timing.secondsPerCall))",
        "\"samples\": \(timing.samples)",
        "\"calls_per_sample\": \(timing.callsPerSample)",
        "\"threads\": \(threads)",
    ]
    if !note.isEmpty { fields.append("\"note\": \(jsonString(note))") }
    print("{" + fields.joined(separator: ", ") + "}")
    // fflush(nil) flushes every stream; naming `stdout` is a concurrency error in Swift 6 mode.
    fflush(nil)
}

// MARK: Workloads

/// Everything a workload needs: the timing plan and the thread count to report.
struct Context {
    let plan: TimingPlan
    let threads: Int
}

/// sgemm on n×n matrices: Galen's `matmul` (which allocates its result, like `torch.mm`) and
/// OpenBLAS's `cblas_sgemm` called directly into a preallocated buffer, to show what Galen's
/// wrapper costs on top of the BLAS it calls. Their samples alternate (see `measure`).
func benchSgemm(_ n: Int, _ context: Context) {
    let workload = "sgemm-\(n)"
    let flops = 2 * Double(n) * Double(n) * Double(n)
    let a = Tensor.randn([n, n])
    let b = Tensor.randn([n, n])

    let c = Tensor.zeros([n, n])
    let timings = measure(context.plan, [
        { consume(matmul(a, b)) },
        {
            cblas_sgemm(
                CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n),
                1, a.storage.pointer, Int32(n), b.storage.pointer, Int32(n), 0, c.storage.pointer, Int32(n))
        },
    ])
    // The two must have computed the same product, or the comparison is meaningless.
    let difference = zip(matmul(a, b).scalars, c.scalars).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
    // Each entry sums n products of standard normals (size ~√n); allow float rounding of that.
    precondition(difference < 1e-3 * Float(n).squareRoot(), "sgemm-\(n): Galen and direct BLAS differ by \(difference)")
    report(impl: "galen", workload: workload, unit: "GFLOP/s", value: flops / timings[0].secondsPerCall / 1e9,
           timing: timings[0], threads: context.threads)
    report(impl: "openblas", workload: workload, unit: "GFLOP/s", value: flops / timings[1].secondsPerCall / 1e9,
           timing: timings[1], threads: context.threads)
}

/// conv2d forward + backward (input, weight and bias gradients), batch 128, 32→64 channels,
/// 28×28, 3×3, padding 1. Flops: forward 2·N·Cout·H·W·Cin·9, backward twice that (the input and
/// weight gradients are each a product of the same size; the bias gradient is negligible).
func benchConv2d(_ context: Context) {
    let (n, cIn, cOut, h, w, k) = (128, 32, 64, 28, 28, 3)
    let forwardFlops = 2 * Double(n * cOut * h * w) * Double(cIn * k * k)
    let input = Tensor.randn([n, cIn, h, w]).requiringGrad()
    let weight = Tensor.randn([cOut, cIn, k, k], std: 0.06).requiringGrad()
    let bias = Tensor.randn([cOut], std: 0.1).requiringGrad()
    // A preallocated output gradient, as in pytorch_core.py: no loss reduction in the timing.
    let outputGradient = Tensor.randn([n, cOut, h, w])

    let timing = measure(context.plan) {
        let output = conv2d(
            input, weight: weight, bias: bias, stride: (1, 1), padding: (1, 1), dilation: (1, 1), groups: 1)
        precondition(output.shape == [n, cOut, h, w], "conv2d: unexpected output shape \(output.shape)")
        output.backward(outputGradient)
        consume(input.grad!)
        // Fresh gradients each call: accumulation into existing ones would be extra work.
        input.zeroGrad()
        weight.zeroGrad()
        bias.zeroGrad()
    }
    report(impl: "galen", workload: "conv2d-fwd-bwd", unit: "GFLOP/s",
           value: 3 * forwardFlops / timing.secondsPerCall / 1e9, timing: timing, threads: context.threads)
}

let elementwiseCount = 10_000_000

/// a + b on 10M floats: 12 bytes per element (two reads, one write).
func benchAdd(_ context: Context) {
    let a = Tensor.randn([elementwiseCount])
    let b = Tensor.randn([elementwiseCount])
    let timing = measure(context.plan) { consume(a + b) }
    report(impl: "galen", workload: "add-10M", unit: "GB/s",
           value: 12 * Double(elementwiseCount) / timing.secondsPerCall / 1e9, timing: timing, threads: context.threads)
}

/// exp on 10M floats: 8 bytes per element (one read, one write).
func benchExp(_ context: Context) {
    let a = Tensor.randn([elementwiseCount])
    let timing = measure(context.plan) { consume(a.exp()) }
    report(impl: "galen", workload: "exp-10M", unit: "GB/s",
           value: 8 * Double(elementwiseCount) / timing.secondsPerCall / 1e9, timing: timing, threads: context.threads)
}

let chainLength = 1_000

/// 1,000 ops on 8×8 tensors cycling x·y, x + y, relu(x). y lies in [0.5, 0.9) so that x stays
/// near the fixed point of x·y + y (about 1–9): no overflow and, above all, no denormals, whose
/// slow arithmetic would be charged to the framework. pytorch_core.py builds the same chain.
func opChain(_ x0: Tensor, _ y: Tensor) -> Tensor {
    var x = x0
    for i in 0..<chainLength {
        switch i % 3 {
        case 0: x = x * y
        case 1: x = x + y
        default: x = relu(x)
        }
    }
    return x
}

func chainInputs() -> (Tensor, Tensor) {
    (Tensor.randn([8, 8]).requiringGrad(), Tensor.uniform([8, 8], low: 0.5, high: 0.9).requiringGrad())
}

/// Per-op framework overhead while the graph is recorded (forward only; the graph is freed when
/// the result goes away, inside the timed call, as in PyTorch).
func benchChainGrad(_ context: Context) {
    let (x0, y) = chainInputs()
    let timing = measure(context.plan) { consume(opChain(x0, y)); sink = nil }
    report(impl: "galen", workload: "opchain-grad", unit: "us/op",
           value: timing.secondsPerCall / Double(chainLength) * 1e6, timing: timing, threads: context.threads)
}

/// The same chain with recording switched off.
func benchChainNoGrad(_ context: Context) {
    let (x0, y) = chainInputs()
    let timing = measure(context.plan) { noGrad { consume(opChain(x0, y)) } }
    report(impl: "galen", workload: "opchain-nograd", unit: "us/op",
           value: timing.secondsPerCall / Double(chainLength) * 1e6, timing: timing, threads: context.threads)
}

/// The chain recorded and then differentiated: forward + backward time per forward op, which
/// adds the autograd engine's per-node cost.
func benchChainBackward(_ context: Context) {
    let (x0, y) = chainInputs()
    let seed = Tensor.ones([8, 8])
    let timing = measure(context.plan) {
        opChain(x0, y).backward(seed)
        consume(x0.grad!)
        x0.zeroGrad()
        y.zeroGrad()
    }
    report(impl: "galen", workload: "opchain-fwd-bwd", unit: "us/op",
           value: timing.secondsPerCall / Double(chainLength) * 1e6, timing: timing, threads: context.threads)
}

/// Workloads in the order run-core prints them; the names are shared with pytorch_core.py.
let workloads: [(String, (Context) -> Void)] = [
    ("sgemm-256", { benchSgemm(256, $0) }),
    ("sgemm-512", { benchSgemm(512, $0) }),
    ("sgemm-1024", { benchSgemm(1024, $0) }),
    ("sgemm-2048", { benchSgemm(2048, $0) }),
    ("conv2d-fwd-bwd", benchConv2d),
    ("add-10M", benchAdd),
    ("exp-10M", benchExp),
    ("opchain-grad", benchChainGrad),
    ("opchain-nograd", benchChainNoGrad),
    ("opchain-fwd-bwd", benchChainBackward),
]

// MARK: Main

let options = parseOptions()
if options.list {
    for (name, _) in workloads { print(name) }
    exit(0)
}
if let only = options.only {
    let unknown = only.subtracting(workloads.map(\.0))
    if !unknown.isEmpty { fail("unknown workload(s): \(unknown.sorted().joined(separator: ", "))") }
}
// Threads.count drives Galen's kernels and OpenBLAS alike (it calls openblas_set_num_threads).
if let threads = options.threads { Threads.count = threads }
if options.listWorkloads {
    for workload in trainingWorkloads { print(workload.name) }
    exit(0)
}
if let workload = options.workload {
    runTrainingWorkload(workload, quick: options.quick, threads: Threads.count)
    exit(0)
}
if options.peak {
    runPeak(quick: options.quick, threads: Threads.count)
    exit(0)
}
if options.data {
    runDataBenchmark(quick: options.quick, threads: Threads.count)
    exit(0)
}
if options.info {
    // What run-core prints in its header: which OpenBLAS kernels were picked (OPENBLAS_CORETYPE
    // can override the detection) and the threads both Galen and OpenBLAS will use.
    let core = openblas_get_corename().map { String(cString: $0) } ?? "?"
    let config = openblas_get_config().map { String(cString: $0) } ?? "?"
    print("\(config), core \(core), threads: Galen \(Threads.count), OpenBLAS \(openblas_get_num_threads())")
    exit(0)
}
let context = Context(plan: options.quick ? .quick : .full, threads: Threads.count)
for (name, run) in workloads where options.only?.contains(name) ?? true {
    run(context)
    sink = nil
}

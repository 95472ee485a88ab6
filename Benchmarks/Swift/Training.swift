// galen-bench's training and inference workloads: `galen-bench --workload NAME` runs one of them
// in this process and prints one JSON line (samples/s, the timing, and the process's peak RSS).
//
// Benchmarks/pytorch_train.py runs the same models, shapes, optimizer and timing plan in PyTorch
// and prints the same line; Benchmarks/run runs the two, each workload in its own process per
// side (so that each peak RSS belongs to one workload), interleaved, and prints the comparison.
//
// A workload builds its model and synthetic data (resident in memory, seeded) and returns the body
// to time: one training step (forward, loss, backward, SGD-momentum step) or one eval-mode forward
// under noGrad. Adding a workload is one function plus one entry in `trainingWorkloads`.

import CBLAS
import Foundation
import Galen
import GalenNN
import GalenOptim

// MARK: Registry

/// One benchmarked workload: the samples one call processes and how to set it up. `make` is nil
/// for workloads whose Galen layers do not exist yet: they are listed (and PyTorch measures them)
/// so the table has their row, and galen-bench reports them as not implemented.
struct TrainingWorkload {
    let name: String
    let batch: Int
    let make: (() -> () -> Void)?
}

/// In the order Benchmarks/run prints them; the names are shared with pytorch_train.py. (Computed:
/// a global constant holding closures would have to be Sendable.)
var trainingWorkloads: [TrainingWorkload] {[
    TrainingWorkload(name: "train.mlp", batch: 128, make: trainMLP),
    TrainingWorkload(name: "train.lenet", batch: 128, make: trainLeNet),
    TrainingWorkload(name: "train.resnet18-28", batch: 128, make: trainResNet18_28),
    TrainingWorkload(name: "train.unet", batch: 16, make: trainUNet),
    TrainingWorkload(name: "infer.lenet", batch: 256, make: inferLeNet),
    TrainingWorkload(name: "infer.resnet18-28", batch: 256, make: inferResNet18_28),
    TrainingWorkload(name: "train.lstm", batch: 64, make: trainLSTM),
    TrainingWorkload(name: "train.transformer", batch: 32, make: { trainTransformer(dropout: 0.1) }),
    TrainingWorkload(name: "train.transformer-dropout0", batch: 32, make: { trainTransformer(dropout: 0) }),
    TrainingWorkload(name: "train.gcn", batch: 1000, make: trainGCN),
]}

// MARK: Workloads

/// The optimizer of every training workload: SGD with momentum, as in pytorch_train.py.
func benchmarkOptimizer(_ model: Module) -> SGD {
    SGD(model.parameters(), learningRate: 0.01, momentum: 0.9)
}

/// One training step of a classifier on a fixed batch with cross-entropy. Gradients are set to
/// nil before each step, as PyTorch's `zero_grad()` does by default.
func classifierTrainingStep(_ model: some Layer, input: Tensor, labels: IntTensor) -> () -> Void {
    model.train()
    let optimizer = benchmarkOptimizer(model)
    return {
        optimizer.zeroGrad()
        let loss = crossEntropy(logits: model(input), labels: labels)
        loss.backward()
        optimizer.step()
        consume(loss)
    }
}

/// One eval-mode forward pass without recording a graph.
func inferenceStep(_ model: some Layer, input: Tensor) -> () -> Void {
    model.eval()
    return { noGrad { consume(model(input)) } }
}

/// MLP 30-64-32-2 (the Breast Cancer Wisconsin demo's shape), batch 128.
func trainMLP() -> () -> Void {
    classifierTrainingStep(
        MLP(inputs: 30, hidden: [64, 32], classes: 2),
        input: Tensor.randn([128, 30]), labels: IntTensor.randint(0..<2, shape: [128]))
}

/// LeNet-5 on 1×28×28, 10 classes, batch 128.
func trainLeNet() -> () -> Void {
    classifierTrainingStep(
        LeNet5(inChannels: 1, classes: 10),
        input: Tensor.randn([128, 1, 28, 28]), labels: IntTensor.randint(0..<10, shape: [128]))
}

/// ResNet-18 in the MedMNIST "28" layout on 3×28×28, 9 classes (PathMNIST), batch 128.
func trainResNet18_28() -> () -> Void {
    classifierTrainingStep(
        resnet18_28(inChannels: 3, classes: 9),
        input: Tensor.randn([128, 3, 28, 28]), labels: IntTensor.randint(0..<9, shape: [128]))
}

/// U-Net, depth 4, base width 16, transposed-convolution upsampling, on 1×64×64 with one binary
/// mask channel, batch 16, BCE with logits.
func trainUNet() -> () -> Void {
    let model = UNet(inChannels: 1, classes: 1, depth: 4, baseWidth: 16)
    model.train()
    let optimizer = benchmarkOptimizer(model)
    let input = Tensor.randn([16, 1, 64, 64])
    let mask = Tensor.bernoulli([16, 1, 64, 64], probability: 0.3)
    return {
        optimizer.zeroGrad()
        let loss = binaryCrossEntropyWithLogits(logits: model(input), targets: mask)
        loss.backward()
        optimizer.step()
        consume(loss)
    }
}

/// 2-layer LSTM, hidden 128, over 100 steps of 12 features, batch-first; the last step's output
/// → 5 classes (pytorch_train.py's LSTMClassifier), batch 64.
final class LSTMClassifier: Module, Layer {
    let lstm = LSTM(inputSize: 12, hiddenSize: 128, layers: 2, batchFirst: true)
    let head = Linear(128, 5)

    func callAsFunction(_ x: Tensor) -> Tensor {
        let output = lstm(x).output
        return head(output.select(axis: 1, index: output.shape[1] - 1))
    }
}

func trainLSTM() -> () -> Void {
    classifierTrainingStep(
        LSTMClassifier(), input: Tensor.randn([64, 100, 12]), labels: IntTensor.randint(0..<5, shape: [64]))
}

/// 4 post-norm encoder layers (d 128, 4 heads, feed-forward 256, ReLU) over 64 tokens already
/// embedded to d; mean over tokens → 5 classes (pytorch_train.py's TransformerClassifier), batch 32.
final class TransformerClassifier: Module, Layer {
    let encoder: TransformerEncoder
    let head = Linear(128, 5)

    init(dropout: Float) {
        encoder = TransformerEncoder(numLayers: 4) {
            TransformerEncoderLayer(dModel: 128, heads: 4, feedforward: 256, dropout: dropout, batchFirst: true)
        }
        super.init()
    }

    func callAsFunction(_ x: Tensor) -> Tensor { head(encoder(x).mean(axis: 1)) }
}

func trainTransformer(dropout: Float) -> () -> Void {
    classifierTrainingStep(
        TransformerClassifier(dropout: dropout), input: Tensor.randn([32, 64, 128]),
        labels: IntTensor.randint(0..<5, shape: [32]))
}

/// LeNet-5 inference, batch 256.
func inferLeNet() -> () -> Void {
    inferenceStep(LeNet5(inChannels: 1, classes: 10), input: Tensor.randn([256, 1, 28, 28]))
}

/// ResNet-18 "28" inference, batch 256.
func inferResNet18_28() -> () -> Void {
    inferenceStep(resnet18_28(inChannels: 3, classes: 9), input: Tensor.randn([256, 3, 28, 28]))
}

// MARK: Timing

/// How long to time a step. Steps last from ~0.1 ms (MLP) to seconds (ResNet-18 at batch 128), so
/// short steps are repeated inside a sample and long ones get at least `minWarmupCalls` warm-up
/// calls (the first allocates, creates oneDNN primitives and grows the allocator's pools) and
/// `minSamples` samples. pytorch_train.py uses the same numbers.
struct TrainingPlan {
    let minWarmupCalls: Int
    let warmupSeconds: Double
    let minSampleSeconds: Double
    let budgetSeconds: Double
    let minSamples: Int
    let maxSamples: Int

    static let full = TrainingPlan(
        minWarmupCalls: 2, warmupSeconds: 1.0, minSampleSeconds: 0.2, budgetSeconds: 8, minSamples: 5, maxSamples: 100)
    static let quick = TrainingPlan(
        minWarmupCalls: 1, warmupSeconds: 0.1, minSampleSeconds: 0.02, budgetSeconds: 0.5, minSamples: 2, maxSamples: 10)
}

/// The median seconds per call of `body` after a warm-up: the median, not the mean, because a
/// neighbour's burst of load on a shared machine hits a few samples hard and the rest not at all.
func timeSteps(_ plan: TrainingPlan, _ body: () -> Void) -> Timing {
    let clock = ContinuousClock()
    func elapsed(since start: ContinuousClock.Instant) -> Double {
        let parts = (clock.now - start).components
        return Double(parts.seconds) + Double(parts.attoseconds) * 1e-18
    }
    var fastest = Double.infinity
    var warmupCalls = 0
    let warmupStart = clock.now
    while warmupCalls < plan.minWarmupCalls || elapsed(since: warmupStart) < plan.warmupSeconds {
        let t0 = clock.now
        body()
        fastest = min(fastest, elapsed(since: t0))
        warmupCalls += 1
    }
    let callsPerSample = max(1, Int((plan.minSampleSeconds / max(fastest, 1e-9)).rounded(.up)))

    var samples: [Double] = []
    let start = clock.now
    while samples.count < plan.minSamples
        || (samples.count < plan.maxSamples && elapsed(since: start) < plan.budgetSeconds)
    {
        let t0 = clock.now
        for _ in 0..<callsPerSample { body() }
        samples.append(elapsed(since: t0) / Double(callsPerSample))
    }
    samples.sort()
    let middle = samples.count / 2
    let median = samples.count % 2 == 1 ? samples[middle] : (samples[middle - 1] + samples[middle]) / 2
    return Timing(secondsPerCall: median, samples: samples.count, callsPerSample: callsPerSample)
}

/// The process's peak resident set (VmHWM) in MiB, nil where /proc is unavailable.
func peakResidentMiB() -> Double? {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        // "VmHWM:     123456 kB"
        if let kB = line.split(separator: " ").dropFirst().first.flatMap({ Double($0) }) { return kB / 1024 }
    }
    return nil
}

// MARK: Entry points

/// `galen-bench --workload NAME`: runs one workload and prints its JSON line.
func runTrainingWorkload(_ name: String, quick: Bool, threads: Int) {
    guard let workload = trainingWorkloads.first(where: { $0.name == name }) else {
        fail("unknown workload \(name); known: \(trainingWorkloads.map(\.name).joined(separator: ", "))")
    }
    var fields = [
        "\"impl\": \"galen\"", "\"workload\": \"\(name)\"", "\"batch\": \(workload.batch)", "\"threads\": \(threads)",
    ]
    if let make = workload.make {
        manualSeed(0)
        let step = make()
        let timing = timeSteps(quick ? .quick : .full, step)
        sink = nil
        fields += [
            "\"status\": \"ok\"",
            "\"samples_per_s\": \(String(format: "%.6g", Double(workload.batch) / timing.secondsPerCall))",
            "\"seconds_per_call\": \(String(format: "%.6g", timing.secondsPerCall))",
            "\"samples\": \(timing.samples)", "\"calls_per_sample\": \(timing.callsPerSample)",
        ]
    } else {
        fields.append("\"status\": \"not implemented\"")
    }
    if let rss = peakResidentMiB() { fields.append("\"rss_mib\": \(String(format: "%.1f", rss))") }
    print("{" + fields.joined(separator: ", ") + "}")
    fflush(nil)
}

/// `galen-bench --peak`: the arithmetic ceilings the training figures are read against. The FMA
/// chain (Peak.swift, at this build's target CPU) and OpenBLAS's sgemm at n = 2048 called directly,
/// each on 1 thread and on `threads`.
func runPeak(quick: Bool, threads: Int) {
    let counts = threads == 1 ? [1] : [1, threads]
    reportFMAPeak(threadCounts: counts, seconds: quick ? 0.2 : 1.0)
    let n = 2048
    let a = Tensor.randn([n, n])
    let b = Tensor.randn([n, n])
    let c = Tensor.zeros([n, n])
    let plan = TrainingPlan(
        minWarmupCalls: 1, warmupSeconds: quick ? 0.05 : 0.25, minSampleSeconds: 0, budgetSeconds: quick ? 0.3 : 1.5,
        minSamples: 3, maxSamples: 50)
    for count in counts {
        Threads.count = count
        let timing = withExtendedLifetime((a, b, c)) {
            timeSteps(plan) {
                cblas_sgemm(
                    CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n),
                    1, a.storage.pointer, Int32(n), b.storage.pointer, Int32(n), 0, c.storage.pointer, Int32(n))
            }
        }
        let gflops = 2 * Double(n) * Double(n) * Double(n) / timing.secondsPerCall / 1e9
        print("{\"impl\": \"peak\", \"workload\": \"openblas-sgemm-\(n)\", \"threads\": \(count), "
            + "\"unit\": \"GFLOP/s\", \"value\": \(String(format: "%.4g", gflops))}")
        fflush(nil)
    }
    Threads.count = threads
}

/// Kipf & Welling's 2-layer GCN written as pytorch_train.py's GCN is: Â·relu(Â·X·W1)·W2, with a
/// dense normalized adjacency Â = D^-1/2 (A + I) D^-1/2 (Galen has no graph layers yet).
final class DenseGCN: Module, Layer {
    let w1: Linear
    let w2: Linear
    let adjacency: Tensor

    init(features: Int, hidden: Int, classes: Int, adjacency: Tensor) {
        (w1, w2, self.adjacency) = (Linear(features, hidden), Linear(hidden, classes), adjacency)
        super.init()
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
        matmul(adjacency, w2(relu(matmul(adjacency, w1(x)))))
    }
}

/// 1,000 nodes of a random undirected graph with about 5 neighbours each and self-loops, 64
/// features, hidden 64, 7 classes; one full-batch step (a sample is a node).
func trainGCN() -> () -> Void {
    let (nodes, features, hidden, classes, degree) = (1000, 64, 64, 7, 5)
    let generator = Generator(seed: 1)
    var edges = [Float](repeating: 0, count: nodes * nodes)
    for i in 0..<nodes {
        edges[i * nodes + i] = 1
        for j in 0..<nodes where generator.nextFloat() < Float(degree) / Float(nodes) {
            edges[i * nodes + j] = 1
            edges[j * nodes + i] = 1
        }
    }
    let scale = (0..<nodes).map { i in 1 / Float(edges[(i * nodes)..<((i + 1) * nodes)].reduce(0, +)).squareRoot() }
    for i in 0..<nodes { for j in 0..<nodes { edges[i * nodes + j] *= scale[i] * scale[j] } }
    let adjacency = Tensor(edges, shape: [nodes, nodes])
    return classifierTrainingStep(
        DenseGCN(features: features, hidden: hidden, classes: classes, adjacency: adjacency),
        input: Tensor.randn([nodes, features]), labels: IntTensor.randint(0..<classes, shape: [nodes]))
}

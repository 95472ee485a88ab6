// galen-bench --data: does data loading keep up with training? Run from the repository root (it
// reads Data/medmnist/pneumoniamnist.npz). Prints one JSON line per measurement:
//
//   data.load-pneumoniamnist   seconds to read all three splits into Float tensors (median)
//   data.loader-wN             DataLoader batches/s over the training split, batch 128, shuffled,
//                              random crop (padding 2) + horizontal flip + rotation ±10°, N workers
//   data.train-resnet18-28     ResNet-18 (28) training steps/s at batch 128 on a loader batch
//   data.loader-vs-step-wN     batches/s delivered ÷ steps/s consumed (> 1: loading keeps up)

import Foundation
import Galen
import GalenData
import GalenNN

/// One JSON line with the fields given, in order.
private func reportData(_ fields: [(String, String)]) {
    print("{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}")
    fflush(nil)
}

private func formatted(_ value: Double) -> String { String(format: "%.6g", value) }

private func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

private func elapsedSeconds(_ body: () throws -> Void) rethrows -> Double {
    let start = ContinuousClock.now
    try body()
    return seconds(ContinuousClock.now - start)
}

func runDataBenchmark(quick: Bool, threads: Int) {
    let path = "Data/medmnist/pneumoniamnist.npz"
    guard FileManager.default.fileExists(atPath: path) else { fail("--data: \(path) not found; run from the repository root") }
    do {
        // (a) The whole file into tensors: the first read also warms the page cache.
        var data = try MedMNIST(contentsOf: path)
        let loads = try (0..<(quick ? 3 : 7)).map { _ in try elapsedSeconds { data = try MedMNIST(contentsOf: path) } }
        let images = data.train.count + data.validation.count + data.test.count
        reportData([
            ("impl", "\"galen\""), ("workload", "\"data.load-pneumoniamnist\""), ("unit", "\"s\""),
            ("value", formatted(median(loads))), ("images", "\(images)"), ("samples", "\(loads.count)"),
        ])

        // (b) Augmented batches; MedMNIST's normalized background is −1, so fill with it.
        let train = data.train
        let augment = Compose(
            RandomCrop(height: 28, width: 28, padding: 2, fill: -1), RandomHorizontalFlip(),
            RandomRotation(degrees: 10, fill: -1))
        var deliveryRates: [Int: Double] = [:]
        for workers in [0, 1, 2] {
            let loader = DataLoader(train, batchSize: 128, shuffle: true, transform: augment, workers: workers, seed: 0)
            var epochSeconds: [Double] = []
            for epoch in 0..<(quick ? 2 : 5) {
                epochSeconds.append(try elapsedSeconds {
                    let batches = loader.epoch(epoch)
                    while let batch = try batches.next() { consume(batch.input) }
                })
            }
            let rate = Double(loader.batchCount) / median(epochSeconds)
            deliveryRates[workers] = rate
            reportData([
                ("impl", "\"galen\""), ("workload", "\"data.loader-w\(workers)\""), ("unit", "\"batches/s\""),
                ("value", formatted(rate)), ("batch", "128"), ("batches_per_epoch", "\(loader.batchCount)"),
                ("samples", "\(epochSeconds.count)"), ("note", "\"crop pad 2 + hflip + rotate 10, whole epochs\""),
            ])
        }

        // (c) The consumer: one ResNet-18 (28) step on a batch from the loader.
        let sample = DataLoader(train, batchSize: 128, shuffle: true, transform: augment, seed: 0).epoch(0)
        guard let batch = try sample.next(), let labels = batch.label else { fail("--data: empty training split") }
        manualSeed(0)
        let step = classifierTrainingStep(resnet18_28(inChannels: 1, classes: 2), input: batch.input, labels: labels)
        let timing = timeSteps(quick ? .quick : .full, step)
        sink = nil
        let stepRate = 1 / timing.secondsPerCall
        reportData([
            ("impl", "\"galen\""), ("workload", "\"data.train-resnet18-28\""), ("unit", "\"steps/s\""),
            ("value", formatted(stepRate)), ("batch", "128"), ("seconds_per_call", formatted(timing.secondsPerCall)),
            ("samples", "\(timing.samples)"), ("threads", "\(threads)"),
        ])
        for workers in [0, 1, 2] {
            reportData([
                ("impl", "\"galen\""), ("workload", "\"data.loader-vs-step-w\(workers)\""), ("unit", "\"ratio\""),
                ("value", formatted(deliveryRates[workers]! / stepRate)),
            ])
        }
    } catch {
        fail("--data: \(error)")
    }
}

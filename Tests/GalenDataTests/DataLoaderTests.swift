import Foundation
import Galen
import GalenData
import Testing

// The DataLoader: every index once per epoch, bit-identical batches for any worker count,
// weighted sampling, early stops that leave no worker running, errors that reach the consumer,
// and PneumoniaMNIST batches.

/// Example i: input [3] = [i, two draws from the example's generator], label i % 3. Optionally
/// slow, failing at one index, and counting calls (total and in progress).
final class ProbeDataset: Dataset, @unchecked Sendable {
    struct ReadError: Error, CustomStringConvertible {
        let description: String
    }

    let count: Int
    let failingIndex: Int?
    let delay: TimeInterval
    private let lock = NSLock()
    private var calls = 0
    private var inProgress = 0

    init(count: Int, failingIndex: Int? = nil, delay: TimeInterval = 0) {
        self.count = count
        self.failingIndex = failingIndex
        self.delay = delay
    }

    /// (calls so far, calls running now).
    var counters: (calls: Int, inProgress: Int) {
        lock.lock()
        defer { lock.unlock() }
        return (calls, inProgress)
    }

    func example(at index: Int, generator: Generator) throws -> Example {
        lock.lock()
        calls += 1
        inProgress += 1
        lock.unlock()
        defer {
            lock.lock()
            inProgress -= 1
            lock.unlock()
        }
        if delay > 0 { Thread.sleep(forTimeInterval: delay) }
        if index == failingIndex { throw ReadError(description: "cannot read image-\(index).png: truncated") }
        return Example(
            input: Tensor([Float(index), generator.nextFloat(), generator.nextFloat()]), label: IntTensor([index % 3], shape: []))
    }
}

/// Every batch of one epoch.
func collect<D>(_ loader: DataLoader<D>, epoch: Int = 0) throws -> [Batch] {
    let batches = loader.epoch(epoch)
    var result: [Batch] = []
    while let batch = try batches.next() { result.append(batch) }
    return result
}

@Suite struct DataLoaderOrder {
    @Test(arguments: [false, true], [false, true])
    func everyIndexOncePerEpoch(shuffle: Bool, dropLast: Bool) throws {
        let dataset = ProbeDataset(count: 103)
        let loader = DataLoader(dataset, batchSize: 10, shuffle: shuffle, dropLast: dropLast, seed: 7)
        let batches = try collect(loader)
        #expect(batches.count == (dropLast ? 10 : 11) && loader.batchCount == batches.count)
        #expect(batches.dropLast().allSatisfy { $0.count == 10 })
        #expect(batches.last?.count == (dropLast ? 10 : 3))
        let indices = batches.flatMap(\.indices)
        #expect(Set(indices).count == indices.count)
        #expect(indices.count == (dropLast ? 100 : 103))
        if !dropLast { #expect(indices.sorted() == Array(0..<103)) }
        #expect((indices == Array(0..<indices.count)) == !shuffle)
        for batch in batches {
            #expect(batch.input.shape == [batch.count, 3])
            #expect(batch.label == IntTensor(batch.indices.map { $0 % 3 }))
            #expect((0..<batch.count).map { batch.input.scalars[$0 * 3] } == batch.indices.map(Float.init))
        }
    }

    @Test func sameSeedSameBatchesForAnyWorkerCount() throws {
        let dataset = ProbeDataset(count: 57)
        func run(workers: Int, prefetch: Int = 2) throws -> [[UInt32]] {
            let loader = DataLoader(
                dataset, batchSize: 8, shuffle: true, transform: GaussianNoise(std: 1), workers: workers,
                prefetch: prefetch, seed: 42)
            return try (0..<2).flatMap { epoch in try collect(loader, epoch: epoch) }.map {
                $0.input.scalars.map(\.bitPattern) + $0.indices.map(UInt32.init)
            }
        }
        let reference = try run(workers: 0)
        #expect(reference.count == 16)
        #expect(try run(workers: 0) == reference)
        #expect(try run(workers: 1) == reference)
        #expect(try run(workers: 3) == reference)
        #expect(try run(workers: 3, prefetch: 1) == reference)
        #expect(try run(workers: 20) == reference, "more workers than batches")
    }

    @Test func epochsAndSeedsDiffer() throws {
        let loader = DataLoader(ProbeDataset(count: 50), batchSize: 50, shuffle: true, seed: 1)
        let zero = try collect(loader, epoch: 0)[0], one = try collect(loader, epoch: 1)[0]
        #expect(zero.indices != one.indices)
        // The same index draws other numbers in another epoch (values sorted by index).
        func draws(_ batch: Batch) -> [Float] {
            let rows = batch.indices.enumerated().sorted { $0.element < $1.element }.map(\.offset)
            return rows.map { batch.input.scalars[$0 * 3 + 1] }
        }
        #expect(draws(zero) != draws(one))
        #expect(Set(draws(zero)).count == 50, "no two examples share their random numbers")
        let otherSeed = try collect(DataLoader(ProbeDataset(count: 50), batchSize: 50, shuffle: true, seed: 2))[0]
        #expect(otherSeed.indices != zero.indices)
        // Unshuffled, the order is fixed but the examples' generators still change with the epoch.
        let plain = DataLoader(ProbeDataset(count: 5), batchSize: 5)
        #expect(try collect(plain, epoch: 0)[0].input.scalars != collect(plain, epoch: 1)[0].input.scalars)
    }

    @Test func subsetsAndTransformedDatasets() throws {
        let dataset = ProbeDataset(count: 20)
        let subset = dataset.subset([5, 3, 11])
        #expect(subset.count == 3)
        #expect(try subset.example(at: 1).input.scalars[0] == 3)
        let doubled = subset.transformed(by: Lambda { example, _ in Example(input: example.input * 2, label: example.label) })
        let batch = try collect(DataLoader(doubled, batchSize: 3))[0]
        #expect(batch.indices == [0, 1, 2])
        #expect(batch.input.scalars.enumerated().filter { $0.offset % 3 == 0 }.map(\.element) == [10, 6, 22])
        #expect(batch.label == IntTensor([2, 0, 2]))
    }
}

@Suite struct WeightedSampling {
    @Test func drawsMatchTheWeights() throws {
        let weights: [Double] = [1, 2, 3, 4, 0]
        let sampler = WeightedRandomSampler(weights: weights, samplesPerEpoch: 20_000)
        let loader = DataLoader(ProbeDataset(count: 5), batchSize: 1000, sampler: sampler, seed: 3)
        let indices = try collect(loader).flatMap(\.indices)
        #expect(indices.count == 20_000)
        var observed = [Double](repeating: 0, count: 5)
        for index in indices { observed[index] += 1 }
        #expect(observed[4] == 0, "a zero weight is never drawn")
        // Chi-square with 3 degrees of freedom: 30 is beyond the 1e-6 tail.
        let chiSquare = (0..<4).reduce(0.0) { sum, i in
            let expected = 20_000 * weights[i] / 10
            return sum + (observed[i] - expected) * (observed[i] - expected) / expected
        }
        #expect(chiSquare < 30, "chi-square \(chiSquare) for counts \(observed)")
        #expect(try collect(loader, epoch: 1).flatMap(\.indices) != indices)
    }

    @Test func inverseFrequencyBalancesClasses() throws {
        let third: Double = 4.0 / 6
        #expect(WeightedRandomSampler.inverseFrequencyWeights(labels: [0, 0, 0, 1]) == [third, third, third, 2])
        let labels = (0..<1000).map { $0 < 900 ? 0 : 1 }
        let sampler = WeightedRandomSampler(balancing: labels)
        let indices = sampler.indices(datasetCount: 1000, generator: Generator(seed: 8))
        let minority = indices.filter { labels[$0] == 1 }.count
        // Binomial(1000, 0.5): standard deviation 16.
        #expect(abs(minority - 500) < 80)
    }
}

@Suite struct DataLoaderWorkers {
    @Test func stoppingEarlyStopsTheWorkers() throws {
        let dataset = ProbeDataset(count: 400, delay: 0.001)
        let loader = DataLoader(dataset, batchSize: 4, workers: 3, prefetch: 2)
        // Released without close(): deinit stops the workers.
        do {
            let batches = loader.epoch(0)
            for _ in 0..<2 { _ = try batches.next() }
        }
        #expect(dataset.counters.inProgress == 0)
        let afterRelease = dataset.counters.calls
        // At most the two batches taken, the six prefetched and the three in progress.
        #expect(afterRelease <= 4 * (2 + 6 + 3))

        let batches = loader.epoch(1)
        _ = try batches.next()
        batches.close()
        #expect(dataset.counters.inProgress == 0)
        #expect(try batches.next() == nil)
        let afterClose = dataset.counters.calls
        Thread.sleep(forTimeInterval: 0.05)
        #expect(dataset.counters.calls == afterClose, "no worker is still loading")
    }

    @Test(arguments: [0, 1, 2])
    func datasetErrorsReachTheConsumer(workers: Int) throws {
        let dataset = ProbeDataset(count: 100, failingIndex: 37)
        let batches = DataLoader(dataset, batchSize: 8, workers: workers).epoch(0)
        var delivered = 0
        do {
            while try batches.next() != nil { delivered += 1 }
            Issue.record("no error was thrown")
        } catch {
            #expect("\(error)".contains("cannot read image-37.png"))
        }
        // Batches 0–3 (indices 0–31) come first; batch 4 holds index 37.
        #expect(delivered == 4)
        #expect(try batches.next() == nil)
        #expect(dataset.counters.inProgress == 0)
    }
}

@Suite struct MedMNISTDataLoading {
    let path = repositoryRoot.appendingPathComponent("Data/medmnist/pneumoniamnist.npz").path

    @Test func pneumoniaBatches() throws {
        let train = try MedMNISTSplit(contentsOf: path, split: .train)
        let first = try train.example(at: 3)
        #expect(first.input.shape == [1, 28, 28] && first.label?.shape == [] && first.target == nil)
        #expect(first.label?.scalars == [train.labels.scalars[3]])

        let plain = DataLoader(train, batchSize: 128, shuffle: true, workers: 2, seed: 0)
        let batches = plain.epoch(0)
        let batch = try #require(try batches.next())
        #expect(batch.input.shape == [128, 1, 28, 28])
        #expect(batch.label?.shape == [128])
        #expect(batch.label?.scalars == batch.indices.map { train.labels.scalars[$0] })
        let rows = train.images.indexSelect(axis: 0, index: IntTensor(batch.indices))
        #expect(batch.input.scalars == rows.scalars)
        batches.close()

        let augmented = DataLoader(
            train, batchSize: 128, shuffle: true,
            transform: Compose(RandomCrop(height: 28, width: 28, padding: 2, fill: -1), RandomHorizontalFlip(),
                               RandomRotation(degrees: 10, fill: -1)),
            workers: 2, seed: 0)
        let all = try collect(augmented)
        #expect(all.count == (train.count + 127) / 128)
        #expect(all.dropLast().allSatisfy { $0.input.shape == [128, 1, 28, 28] && $0.label?.shape == [128] })
        #expect(all.flatMap(\.indices).sorted() == Array(0..<train.count))
        #expect(all[0].input.scalars != rows.scalars)
    }
}

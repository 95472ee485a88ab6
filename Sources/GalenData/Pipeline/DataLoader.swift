import Foundation
import Galen

/// Batches of a dataset: sampled, augmented, collated and optionally prefetched by background
/// threads (PyTorch's `DataLoader`).
///
/// ```swift
/// let augment = Compose(RandomCrop(height: 28, width: 28, padding: 2), RandomHorizontalFlip())
/// let loader = DataLoader(train, batchSize: 128, shuffle: true, transform: augment, workers: 2, seed: 42)
/// for epoch in 0..<10 {
///     let batches = loader.epoch(epoch)
///     while let batch = try batches.next() {
///         // batch.input [128, 1, 28, 28], batch.label [128]
///     }
/// }
/// ```
///
/// Everything random is derived from `seed`: the epoch's order from (seed, epoch), and each
/// example's generator, which the dataset and `transform` draw from, from (seed, epoch, dataset
/// index, how often the index was drawn before in the epoch). So the batches are bit-for-bit the
/// same for every `workers` count and every run, differ between epochs, and no two examples
/// (nor two draws of one example) share an augmentation.
///
/// Iteration throws because the dataset may (an unreadable file): Swift's `for … in` cannot
/// rethrow from a sequence, hence `while let batch = try batches.next()`.
public struct DataLoader<D: Dataset>: Sendable {
    public let dataset: D
    /// Examples per batch (the last batch may be smaller unless `dropLast`).
    public let batchSize: Int
    /// Whether a last, incomplete batch is skipped.
    public let dropLast: Bool
    /// The indices of each epoch: sequential, random (shuffle), weighted, or any other.
    public let sampler: any Sampler
    /// Applied to each example after the dataset produced it, with the example's generator.
    public let transform: (any Transform)?
    /// Background threads that build batches; 0 builds each batch in the thread that asks for it.
    public let workers: Int
    /// Batches each worker may have ready or in progress ahead of the consumer.
    public let prefetch: Int
    /// The seed every random choice derives from.
    public let seed: UInt64

    /// A loader over `dataset`. `shuffle` draws a new permutation each epoch (`RandomSampler`);
    /// give a `sampler` instead for other orders (not both).
    public init(
        _ dataset: D, batchSize: Int = 1, shuffle: Bool = false, sampler: (any Sampler)? = nil, dropLast: Bool = false,
        transform: (any Transform)? = nil, workers: Int = 0, prefetch: Int = 2, seed: UInt64 = 0
    ) {
        check(batchSize >= 1, "DataLoader: batchSize must be ≥ 1, got \(batchSize)")
        check(workers >= 0, "DataLoader: workers must be ≥ 0, got \(workers)")
        check(prefetch >= 1, "DataLoader: prefetch must be ≥ 1, got \(prefetch)")
        check(sampler == nil || !shuffle, "DataLoader: give shuffle or a sampler, not both")
        self.dataset = dataset
        self.batchSize = batchSize
        self.dropLast = dropLast
        self.sampler = sampler ?? (shuffle ? RandomSampler() : SequentialSampler())
        self.transform = transform
        self.workers = workers
        self.prefetch = prefetch
        self.seed = seed
    }

    /// Batches per epoch.
    public var batchCount: Int { batchCount(examples: sampler.epochLength(datasetCount: dataset.count)) }

    /// The batches of epoch `number` (0, 1, …), produced lazily; with workers, the background
    /// threads start now and stop when the epoch ends, is closed, or is released.
    public func epoch(_ number: Int) -> Epoch { Epoch(loader: self, number: number) }

    /// The dataset indices of epoch `number`, in batch order.
    public func indices(epoch number: Int) -> [Int] {
        let indices = sampler.indices(
            datasetCount: dataset.count, generator: Generator(seed: deriveSeed(seed, SeedStream.sampler, number)))
        if let bad = indices.first(where: { $0 < 0 || $0 >= dataset.count }) {
            check(false, "DataLoader: the sampler gave index \(bad), outside 0 ..< \(dataset.count)")
        }
        return indices
    }

    /// The generator that the dataset and the transform draw from for dataset index `index` in
    /// epoch `epoch`, at its `occurrence`-th draw in that epoch (0 unless sampling with replacement).
    public func exampleGenerator(epoch: Int, index: Int, occurrence: Int = 0) -> Generator {
        Generator(seed: deriveSeed(seed, SeedStream.example, epoch, index, occurrence))
    }

    /// Builds batch `number` of `plan`.
    func batch(_ number: Int, of plan: EpochPlan) throws -> Batch {
        let positions = number * batchSize..<min((number + 1) * batchSize, plan.indices.count)
        var examples: [Example] = []
        examples.reserveCapacity(positions.count)
        for position in positions {
            let index = plan.indices[position]
            let generator = exampleGenerator(epoch: plan.epoch, index: index, occurrence: plan.occurrences[position])
            let example = try dataset.example(at: index, generator: generator)
            examples.append(transform?.apply(example, generator: generator) ?? example)
        }
        return Batch(collating: examples, indices: Array(plan.indices[positions]))
    }

    func batchCount(examples: Int) -> Int { dropLast ? examples / batchSize : (examples + batchSize - 1) / batchSize }
}

/// One epoch's order: the dataset indices and how often each was drawn before in the epoch.
struct EpochPlan: Sendable {
    let epoch: Int
    let indices: [Int]
    let occurrences: [Int]

    init(epoch: Int, indices: [Int], datasetCount: Int) {
        self.epoch = epoch
        self.indices = indices
        var seen = [Int](repeating: 0, count: datasetCount)
        occurrences = indices.map { index in
            defer { seen[index] += 1 }
            return seen[index]
        }
    }
}

extension DataLoader {
    /// The batches of one epoch, in order. Call `next()` until it returns nil; an error thrown by
    /// the dataset surfaces there, after the batches before it, and ends the epoch.
    ///
    /// Stopping early is safe: `close()`, or releasing the epoch, stops the workers and waits for
    /// them to finish the examples they are building.
    public final class Epoch {
        /// The epoch number.
        public let number: Int
        /// How many batches the epoch has.
        public let batchCount: Int
        private let loader: DataLoader
        private let plan: EpochPlan
        private let pool: PrefetchPool?
        private var delivered = 0
        private var finished = false

        init(loader: DataLoader, number: Int) {
            self.loader = loader
            self.number = number
            let plan = EpochPlan(epoch: number, indices: loader.indices(epoch: number), datasetCount: loader.dataset.count)
            self.plan = plan
            batchCount = loader.batchCount(examples: plan.indices.count)
            pool = loader.workers == 0 || batchCount == 0
                ? nil
                : PrefetchPool(
                    workers: min(loader.workers, batchCount), depth: loader.workers * loader.prefetch,
                    batchCount: batchCount) { number in try loader.batch(number, of: plan) }
        }

        deinit { pool?.shutDown() }

        /// The next batch, or nil after the last one (or after an error or `close()`).
        public func next() throws -> Batch? {
            guard !finished, delivered < batchCount else {
                close()
                return nil
            }
            let number = delivered
            delivered += 1
            do {
                let batch = if let pool { try pool.take(number).get() } else { try loader.batch(number, of: plan) }
                if delivered == batchCount { close() }
                return batch
            } catch {
                close()
                throw error
            }
        }

        /// Ends the epoch early: stops the workers and waits until none is running.
        public func close() {
            finished = true
            pool?.shutDown()
        }
    }
}

/// Worker threads that build batches 0 ..< batchCount, at most `depth` ahead of the consumer, and
/// hand them over in order. One lock guards all state; workers hold it only between examples' work.
final class PrefetchPool: @unchecked Sendable {
    private let condition = NSCondition()
    private let batchCount: Int
    private let depth: Int
    private let make: @Sendable (Int) throws -> Batch
    /// Finished batches (or their errors) not yet taken.
    private var results: [Int: Result<Batch, any Error>] = [:]
    /// The next batch a worker will claim; claims go in order.
    private var nextToClaim = 0
    /// How many batches the consumer has taken.
    private var taken = 0
    private var stopping = false
    private var running: Int

    init(workers: Int, depth: Int, batchCount: Int, make: @escaping @Sendable (Int) throws -> Batch) {
        self.batchCount = batchCount
        self.depth = max(depth, 1)
        self.make = make
        running = workers
        for worker in 0..<workers {
            let thread = Thread { [self] in work() }
            thread.name = "galen-data-worker-\(worker)"
            thread.start()
        }
    }

    private func work() {
        condition.lock()
        while !stopping && nextToClaim < batchCount {
            guard nextToClaim < taken + depth else {
                condition.wait()
                continue
            }
            let number = nextToClaim
            nextToClaim += 1
            condition.unlock()
            let result = Result { try make(number) }
            condition.lock()
            results[number] = result
            // After a failure nothing later is needed: the consumer stops at it. Earlier batches
            // were claimed before this one and are finished by their workers.
            if case .failure = result { nextToClaim = batchCount }
            condition.broadcast()
        }
        running -= 1
        condition.broadcast()
        condition.unlock()
    }

    /// Waits for batch `number` (the batches must be taken in order).
    func take(_ number: Int) -> Result<Batch, any Error> {
        condition.lock()
        defer { condition.unlock() }
        check(number == taken, "PrefetchPool: batch \(number) taken out of order (expected \(taken))")
        while results[number] == nil {
            check(running > 0 && !stopping, "PrefetchPool: batch \(number) will never be built (workers stopped)")
            condition.wait()
        }
        taken += 1
        condition.broadcast()
        return results.removeValue(forKey: number)!
    }

    /// Stops claiming new batches and waits until every worker has returned.
    func shutDown() {
        condition.lock()
        stopping = true
        condition.broadcast()
        while running > 0 { condition.wait() }
        results.removeAll()
        condition.unlock()
    }
}

/// Separate seed streams for the DataLoader's sampler and examples.
private enum SeedStream {
    static let sampler = 1
    static let example = 2
}

/// SplitMix64 (Steele, Lea & Flood): a bijective scramble of 64 bits.
func splitMix64(_ x: UInt64) -> UInt64 {
    var z = x &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

/// A seed for the stream named by `values` under `seed`: each value is hashed into the running
/// state in turn, so (seed, 1, 2) and (seed, 2, 1) give unrelated seeds.
func deriveSeed(_ seed: UInt64, _ values: Int...) -> UInt64 {
    values.reduce(splitMix64(seed)) { state, value in splitMix64(state ^ splitMix64(UInt64(bitPattern: Int64(value)))) }
}

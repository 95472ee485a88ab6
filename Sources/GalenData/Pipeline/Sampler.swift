import Galen

/// Chooses the dataset indices of one epoch and their order (PyTorch's `Sampler`).
///
/// The DataLoader passes a generator derived from its seed and the epoch number, so an epoch's
/// order is reproducible and differs from the other epochs'.
public protocol Sampler: Sendable {
    /// How many indices an epoch over a dataset of `datasetCount` examples has.
    func epochLength(datasetCount: Int) -> Int
    /// The indices (each in 0 ..< datasetCount) of one epoch, in order.
    func indices(datasetCount: Int, generator: Generator) -> [Int]
}

/// 0, 1, …, count − 1: evaluation order.
public struct SequentialSampler: Sampler {
    public init() {}

    public func epochLength(datasetCount: Int) -> Int { datasetCount }

    public func indices(datasetCount: Int, generator: Generator) -> [Int] { Array(0..<datasetCount) }
}

/// A uniformly random permutation of every index, new each epoch (`shuffle=True`).
public struct RandomSampler: Sampler {
    public init() {}

    public func epochLength(datasetCount: Int) -> Int { datasetCount }

    public func indices(datasetCount: Int, generator: Generator) -> [Int] { generator.permutation(datasetCount) }
}

/// `samplesPerEpoch` indices drawn independently, with replacement, index i with probability
/// weights[i] / Σ weights (PyTorch's `WeightedRandomSampler(replacement=True)`): oversamples rare
/// classes so that batches see the classes about equally often.
///
/// ```swift
/// let sampler = WeightedRandomSampler(balancing: train.labels.scalars)
/// let loader = DataLoader(train, batchSize: 128, sampler: sampler)
/// ```
public struct WeightedRandomSampler: Sampler {
    /// The non-negative weight of each dataset index.
    public let weights: [Double]
    /// How many indices each epoch draws.
    public let samplesPerEpoch: Int
    /// Running sums of `weights`, searched by each draw.
    private let cumulative: [Double]

    /// Draws index i with probability proportional to `weights[i]`; an epoch has
    /// `samplesPerEpoch` draws (default: one per weight).
    public init(weights: [Double], samplesPerEpoch: Int? = nil) {
        check(!weights.isEmpty, "WeightedRandomSampler: no weights")
        if let index = weights.firstIndex(where: { !($0 >= 0 && $0.isFinite) }) {
            check(false, "WeightedRandomSampler: weight \(weights[index]) at index \(index) is not a finite value ≥ 0")
        }
        var running = 0.0
        cumulative = weights.map { running += $0; return running }
        check(running > 0, "WeightedRandomSampler: the weights sum to 0")
        self.weights = weights
        self.samplesPerEpoch = samplesPerEpoch ?? weights.count
        check(self.samplesPerEpoch >= 0, "WeightedRandomSampler: samplesPerEpoch must be ≥ 0, got \(self.samplesPerEpoch)")
    }

    /// Weights that balance the classes of `labels`: see `inverseFrequencyWeights(labels:)`.
    public init(balancing labels: [Int], samplesPerEpoch: Int? = nil) {
        self.init(weights: Self.inverseFrequencyWeights(labels: labels), samplesPerEpoch: samplesPerEpoch)
    }

    /// n / (k · count(label)) per example, for n labels of k distinct classes (scikit-learn's
    /// `class_weight="balanced"`): every class gets the same total weight, n / k, so a weighted
    /// sampler draws each class about equally often; the weights average 1.
    public static func inverseFrequencyWeights(labels: [Int]) -> [Double] {
        var counts: [Int: Int] = [:]
        for label in labels { counts[label, default: 0] += 1 }
        let scale = Double(labels.count) / Double(max(counts.count, 1))
        return labels.map { scale / Double(counts[$0]!) }
    }

    public func epochLength(datasetCount: Int) -> Int { samplesPerEpoch }

    public func indices(datasetCount: Int, generator: Generator) -> [Int] {
        check(datasetCount == weights.count,
              "WeightedRandomSampler: \(weights.count) weights for a dataset of \(datasetCount) examples")
        let total = cumulative[cumulative.count - 1]
        return (0..<samplesPerEpoch).map { _ in
            // The first index whose running sum exceeds the draw: zero weights are never chosen.
            let target = generator.nextDouble() * total
            var low = 0, high = cumulative.count - 1
            while low < high {
                let middle = (low + high) / 2
                if cumulative[middle] > target { high = middle } else { low = middle + 1 }
            }
            return low
        }
    }
}

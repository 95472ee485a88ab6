import Galen

/// A point estimate with a confidence interval.
public struct ConfidenceInterval: Sendable, Equatable, Codable {
    public let value: Double
    public let lower: Double
    public let upper: Double
    /// Coverage of [lower, upper], e.g. 0.95.
    public let level: Double
    /// Bootstrap replicates that gave a defined value (a resample with one class has no AUC).
    public let replicates: Int

    public init(value: Double, lower: Double, upper: Double, level: Double, replicates: Int) {
        self.value = value
        self.lower = lower
        self.upper = upper
        self.level = level
        self.replicates = replicates
    }
}

/// The q-quantile (0 ≤ q ≤ 1) of `values` with linear interpolation between order statistics
/// (NumPy's default `percentile` method), used for the percentile bootstrap.
public func quantile(_ values: [Double], _ q: Double) -> Double? {
    check(q >= 0 && q <= 1, "quantile: q must be in [0, 1], got \(q)")
    guard !values.isEmpty else { return nil }
    let sorted = values.sorted()
    let position = q * Double(sorted.count - 1)
    let below = Int(position.rounded(.down))
    let above = min(below + 1, sorted.count - 1)
    let fraction = position - Double(below)
    return sorted[below] + (sorted[above] - sorted[below]) * fraction
}

/// Percentile-bootstrap confidence interval of a metric.
///
/// `metric` receives the indices of one resample (with repetitions) and returns the metric on those
/// examples, or nil where it is undefined; such replicates are left out and the count of the
/// others is reported. With `groups` (e.g. a patient id per example) whole groups are resampled, so
/// that correlated examples of one patient do not narrow the interval falsely.
/// Seeded: the same seed gives the same interval.
public func bootstrapConfidenceInterval(
    count: Int, groups: [Int]? = nil, replicates: Int = 1000, level: Double = 0.95, seed: UInt64 = 0,
    metric: ([Int]) -> Double?
) -> ConfidenceInterval? {
    check(count >= 0, "bootstrapConfidenceInterval: negative count \(count)")
    check(replicates > 0, "bootstrapConfidenceInterval: replicates must be positive, got \(replicates)")
    check(level > 0 && level < 1, "bootstrapConfidenceInterval: level must be in (0, 1), got \(level)")
    if let groups { check(groups.count == count, "bootstrapConfidenceInterval: \(groups.count) group ids for \(count) examples") }
    guard count > 0, let value = metric(Array(0..<count)) else { return nil }

    // Members of each group, groups in order of first appearance (deterministic).
    var members: [[Int]] = []
    if let groups {
        var slot: [Int: Int] = [:]
        for (i, g) in groups.enumerated() {
            if let s = slot[g] { members[s].append(i) } else { slot[g] = members.count; members.append([i]) }
        }
    }
    let generator = Generator(seed: seed)
    var estimates: [Double] = []
    estimates.reserveCapacity(replicates)
    var sample: [Int] = []
    sample.reserveCapacity(count)
    for _ in 0..<replicates {
        sample.removeAll(keepingCapacity: true)
        if groups != nil {
            for _ in 0..<members.count { sample += members[generator.nextInt(below: members.count)] }
        } else {
            for _ in 0..<count { sample.append(generator.nextInt(below: count)) }
        }
        if let estimate = metric(sample) { estimates.append(estimate) }
    }
    guard !estimates.isEmpty else { return nil }
    let alpha = (1 - level) / 2
    return ConfidenceInterval(value: value, lower: quantile(estimates, alpha)!, upper: quantile(estimates, 1 - alpha)!,
                              level: level, replicates: estimates.count)
}

/// A ROC curve resampled onto a fixed false-positive-rate grid, with a pointwise percentile
/// bootstrap band, for drawing the curve with its uncertainty.
public struct ROCBand: Sendable {
    public let falsePositiveRates: [Double]
    /// True-positive rate of the full data at each grid point (the ROC step function's upper value).
    public let truePositiveRates: [Double]
    public let lower: [Double]
    public let upper: [Double]
    public let level: Double

    /// nil when `labels` hold only one class.
    public init?(scores: [Float], labels: [Int], gridPoints: Int = 101, replicates: Int = 500,
                 level: Double = 0.95, seed: UInt64 = 0) {
        check(gridPoints >= 2, "ROCBand: gridPoints must be at least 2, got \(gridPoints)")
        guard let full = ROCCurve(scores: scores, labels: labels) else { return nil }
        let grid = (0..<gridPoints).map { Double($0) / Double(gridPoints - 1) }
        func interpolate(_ roc: ROCCurve) -> [Double] {
            // The highest TPR reached at or before each FPR (the curve is a staircase).
            var result: [Double] = []
            var k = 0
            for x in grid {
                while k + 1 < roc.falsePositiveRates.count && roc.falsePositiveRates[k + 1] <= x + 1e-12 { k += 1 }
                result.append(roc.truePositiveRates[k])
            }
            return result
        }
        let generator = Generator(seed: seed)
        var curves: [[Double]] = []
        var sampleScores = [Float](repeating: 0, count: scores.count)
        var sampleLabels = [Int](repeating: 0, count: labels.count)
        for _ in 0..<replicates {
            for i in 0..<scores.count {
                let j = generator.nextInt(below: scores.count)
                sampleScores[i] = scores[j]
                sampleLabels[i] = labels[j]
            }
            if let roc = ROCCurve(scores: sampleScores, labels: sampleLabels) { curves.append(interpolate(roc)) }
        }
        let alpha = (1 - level) / 2
        falsePositiveRates = grid
        truePositiveRates = interpolate(full)
        lower = grid.indices.map { g in curves.isEmpty ? 0 : quantile(curves.map { $0[g] }, alpha)! }
        upper = grid.indices.map { g in curves.isEmpty ? 1 : quantile(curves.map { $0[g] }, 1 - alpha)! }
        self.level = level
    }
}

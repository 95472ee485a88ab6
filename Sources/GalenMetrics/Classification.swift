import Galen

// Classification metrics with scikit-learn's definitions (checked against it on committed
// fixtures). Labels are class indices; for binary tasks 1 is the positive class and scores are
// the positive-class probability. A metric that is undefined on the given data (a ratio with a
// zero denominator, an AUC with one class present) is nil, never NaN: reports print "n/a".

/// Counts of (true class, predicted class) pairs; rows are the true class.
public struct ConfusionMatrix: Sendable, Equatable {
    public let classes: Int
    /// counts[t][p]: examples of true class t predicted as p.
    public private(set) var counts: [[Int]]

    public init(labels: [Int], predictions: [Int], classes: Int) {
        check(labels.count == predictions.count, "ConfusionMatrix: \(labels.count) labels for \(predictions.count) predictions")
        check(classes > 0, "ConfusionMatrix: classes must be positive, got \(classes)")
        self.classes = classes
        counts = Array(repeating: Array(repeating: 0, count: classes), count: classes)
        for (t, p) in zip(labels, predictions) {
            check(t >= 0 && t < classes && p >= 0 && p < classes,
                  "ConfusionMatrix: class index out of range 0..<\(classes) (label \(t), prediction \(p))")
            counts[t][p] += 1
        }
    }

    public var total: Int { counts.reduce(0) { $0 + $1.reduce(0, +) } }
    public var correct: Int { (0..<classes).reduce(0) { $0 + counts[$1][$1] } }
}

/// Fraction of predictions equal to the label.
public func accuracy(labels: [Int], predictions: [Int]) -> Double? {
    check(labels.count == predictions.count, "accuracy: \(labels.count) labels for \(predictions.count) predictions")
    guard !labels.isEmpty else { return nil }
    return Double(zip(labels, predictions).filter { $0 == $1 }.count) / Double(labels.count)
}

/// Mean per-class recall over the classes present in `labels` (scikit-learn's
/// `balanced_accuracy_score`).
public func balancedAccuracy(labels: [Int], predictions: [Int], classes: Int) -> Double? {
    let matrix = ConfusionMatrix(labels: labels, predictions: predictions, classes: classes)
    let recalls = (0..<classes).compactMap { c -> Double? in
        let support = matrix.counts[c].reduce(0, +)
        return support == 0 ? nil : Double(matrix.counts[c][c]) / Double(support)
    }
    return recalls.isEmpty ? nil : recalls.reduce(0, +) / Double(recalls.count)
}

/// The class with the highest probability in each row (the first one on ties, like argmax).
public func argmaxPredictions(_ probabilities: [[Float]]) -> [Int] {
    probabilities.map { row in
        var best = 0
        for k in row.indices where row[k] > row[best] { best = k }
        return best
    }
}

/// Binary outcome counts at a decision threshold, and the rates clinicians read.
public struct BinaryOutcomes: Sendable, Equatable {
    public var truePositives = 0, falsePositives = 0, trueNegatives = 0, falseNegatives = 0

    /// Scores at or above `threshold` are called positive.
    public init(scores: [Float], labels: [Int], threshold: Float) {
        check(scores.count == labels.count, "BinaryOutcomes: \(scores.count) scores for \(labels.count) labels")
        for (s, y) in zip(scores, labels) {
            switch (s >= threshold, y == 1) {
            case (true, true): truePositives += 1
            case (true, false): falsePositives += 1
            case (false, false): trueNegatives += 1
            case (false, true): falseNegatives += 1
            }
        }
    }

    private func ratio(_ a: Int, _ b: Int) -> Double? { b == 0 ? nil : Double(a) / Double(b) }
    /// Recall of the positive class, TP / (TP + FN).
    public var sensitivity: Double? { ratio(truePositives, truePositives + falseNegatives) }
    /// Recall of the negative class, TN / (TN + FP).
    public var specificity: Double? { ratio(trueNegatives, trueNegatives + falsePositives) }
    /// Positive predictive value (precision), TP / (TP + FP).
    public var ppv: Double? { ratio(truePositives, truePositives + falsePositives) }
    /// Negative predictive value, TN / (TN + FN).
    public var npv: Double? { ratio(trueNegatives, trueNegatives + falseNegatives) }
    /// Harmonic mean of PPV and sensitivity, 2TP / (2TP + FP + FN).
    public var f1: Double? { ratio(2 * truePositives, 2 * truePositives + falsePositives + falseNegatives) }
    public var accuracy: Double? {
        ratio(truePositives + trueNegatives, truePositives + trueNegatives + falsePositives + falseNegatives)
    }
}

/// Points of the ROC curve, one per distinct score from the highest down (scikit-learn's
/// `roc_curve(drop_intermediate=False)`), starting at (0, 0) with an infinite threshold.
public struct ROCCurve: Sendable {
    public let falsePositiveRates: [Double]
    public let truePositiveRates: [Double]
    /// Scores at or above thresholds[i] are positive at point i.
    public let thresholds: [Float]

    /// nil when `labels` hold only one class.
    public init?(scores: [Float], labels: [Int]) {
        check(scores.count == labels.count, "ROCCurve: \(scores.count) scores for \(labels.count) labels")
        let positives = labels.filter { $0 == 1 }.count
        let negatives = labels.count - positives
        guard positives > 0, negatives > 0 else { return nil }
        let order = scores.indices.sorted { scores[$0] > scores[$1] }
        var fpr: [Double] = [0], tpr: [Double] = [0], thresholds: [Float] = [.infinity]
        var tp = 0, fp = 0, i = 0
        while i < order.count {
            let score = scores[order[i]]
            while i < order.count && scores[order[i]] == score {
                if labels[order[i]] == 1 { tp += 1 } else { fp += 1 }
                i += 1
            }
            fpr.append(Double(fp) / Double(negatives))
            tpr.append(Double(tp) / Double(positives))
            thresholds.append(score)
        }
        falsePositiveRates = fpr
        truePositiveRates = tpr
        self.thresholds = thresholds
    }
}

/// The threshold maximizing Youden's J = sensitivity + specificity − 1 over the ROC points (the
/// first, i.e. highest, threshold on ties). Choose it on validation data and apply it to test data;
/// choosing it on test data flatters the result. nil when `labels` hold only one class.
public func youdenThreshold(scores: [Float], labels: [Int]) -> Float? {
    guard let roc = ROCCurve(scores: scores, labels: labels) else { return nil }
    var best = 1, bestJ = -Double.infinity
    for i in 1..<roc.thresholds.count {
        let j = roc.truePositiveRates[i] - roc.falsePositiveRates[i]
        if j > bestJ { bestJ = j; best = i }
    }
    return roc.thresholds[best]
}

/// Precision–recall points, one per distinct score from the highest down.
public struct PrecisionRecallCurve: Sendable {
    public let precisions: [Double]
    public let recalls: [Double]
    public let thresholds: [Float]

    /// nil when there are no positives.
    public init?(scores: [Float], labels: [Int]) {
        check(scores.count == labels.count, "PrecisionRecallCurve: \(scores.count) scores for \(labels.count) labels")
        let positives = labels.filter { $0 == 1 }.count
        guard positives > 0 else { return nil }
        let order = scores.indices.sorted { scores[$0] > scores[$1] }
        var precisions: [Double] = [], recalls: [Double] = [], thresholds: [Float] = []
        var tp = 0, predicted = 0, i = 0
        while i < order.count {
            let score = scores[order[i]]
            while i < order.count && scores[order[i]] == score {
                if labels[order[i]] == 1 { tp += 1 }
                predicted += 1
                i += 1
            }
            precisions.append(Double(tp) / Double(predicted))
            recalls.append(Double(tp) / Double(positives))
            thresholds.append(score)
        }
        self.precisions = precisions
        self.recalls = recalls
        self.thresholds = thresholds
    }

    /// Area under the step curve, Σ (R_n − R_{n−1}) P_n: scikit-learn's `average_precision_score`,
    /// the usual "PR AUC" (no trapezoids, which overstate it).
    public var averagePrecision: Double {
        var previousRecall = 0.0, area = 0.0
        for (p, r) in zip(precisions, recalls) {
            area += (r - previousRecall) * p
            previousRecall = r
        }
        return area
    }
}

/// Average precision (PR AUC) of binary scores; nil when there are no positives.
public func averagePrecision(scores: [Float], labels: [Int]) -> Double? {
    PrecisionRecallCurve(scores: scores, labels: labels)?.averagePrecision
}

/// How disagreements between classes are weighted in Cohen's kappa.
public enum KappaWeighting: String, Sendable {
    /// Every disagreement counts fully (nominal classes).
    case none
    /// |i − j| (ordinal classes).
    case linear
    /// (i − j)², the usual choice for ordinal grades (e.g. retinopathy).
    case quadratic
}

/// Cohen's kappa between labels and predictions, scikit-learn's `cohen_kappa_score`. nil when the
/// expected disagreement is zero (one class only).
public func cohenKappa(labels: [Int], predictions: [Int], classes: Int, weighting: KappaWeighting = .none) -> Double? {
    let matrix = ConfusionMatrix(labels: labels, predictions: predictions, classes: classes)
    let n = Double(matrix.total)
    guard n > 0 else { return nil }
    let rowSums = matrix.counts.map { Double($0.reduce(0, +)) }
    let columnSums = (0..<classes).map { j in Double(matrix.counts.reduce(0) { $0 + $1[j] }) }
    var observed = 0.0, expected = 0.0
    for i in 0..<classes {
        for j in 0..<classes {
            let weight: Double
            switch weighting {
            case .none: weight = i == j ? 0 : 1
            case .linear: weight = Double(abs(i - j))
            case .quadratic: weight = Double((i - j) * (i - j))
            }
            observed += weight * Double(matrix.counts[i][j])
            expected += weight * rowSums[i] * columnSums[j] / n
        }
    }
    guard expected > 0 else { return nil }
    return 1 - observed / expected
}

/// Mean squared difference between predicted probabilities and one-hot labels, summed over
/// classes. For two classes given as the positive-class probability (rows of one value) this is
/// scikit-learn's binary `brier_score_loss`; for K-class rows it is the original multi-class
/// Brier score (twice the binary value when K = 2).
public func brierScore(probabilities: [[Float]], labels: [Int]) -> Double? {
    check(probabilities.count == labels.count, "brierScore: \(probabilities.count) rows for \(labels.count) labels")
    guard !labels.isEmpty else { return nil }
    var total = 0.0
    for (row, y) in zip(probabilities, labels) {
        if row.count == 1 {
            let d = Double(row[0]) - (y == 1 ? 1 : 0)
            total += d * d
        } else {
            for (k, p) in row.enumerated() {
                let d = Double(p) - (k == y ? 1 : 0)
                total += d * d
            }
        }
    }
    return total / Double(labels.count)
}

/// One bin of a reliability diagram.
public struct ReliabilityBin: Sendable, Equatable {
    /// Confidence range [lower, upper) (the last bin includes 1).
    public let lower: Double
    public let upper: Double
    public let count: Int
    /// Mean confidence of the examples in the bin (nil when empty).
    public let meanConfidence: Double?
    /// Fraction of them that were correct (nil when empty).
    public let accuracy: Double?
}

/// Expected calibration error over equal-width confidence bins, with the bins for a reliability
/// diagram: Σ_b (n_b / n) · |accuracy_b − confidence_b|, where the confidence of an example is its
/// top-class probability and "correct" means the top class is the label (Guo et al., 2017).
public struct Calibration: Sendable {
    public let expectedCalibrationError: Double
    public let bins: [ReliabilityBin]

    public init?(probabilities: [[Float]], labels: [Int], binCount: Int = 10) {
        check(probabilities.count == labels.count, "Calibration: \(probabilities.count) rows for \(labels.count) labels")
        check(binCount > 0, "Calibration: binCount must be positive, got \(binCount)")
        guard !labels.isEmpty else { return nil }
        var counts = Array(repeating: 0, count: binCount)
        var confidenceSums = Array(repeating: 0.0, count: binCount)
        var correctCounts = Array(repeating: 0, count: binCount)
        for (row, y) in zip(probabilities, labels) {
            // A single value is the positive-class probability of a binary task.
            let (confidence, predicted): (Double, Int) = row.count == 1
                ? (row[0] >= 0.5 ? (Double(row[0]), 1) : (1 - Double(row[0]), 0))
                : { let k = argmaxPredictions([row])[0]; return (Double(row[k]), k) }()
            let b = min(binCount - 1, max(0, Int(confidence * Double(binCount))))
            counts[b] += 1
            confidenceSums[b] += confidence
            if predicted == y { correctCounts[b] += 1 }
        }
        var ece = 0.0
        var bins: [ReliabilityBin] = []
        for b in 0..<binCount {
            let meanConfidence = counts[b] == 0 ? nil : confidenceSums[b] / Double(counts[b])
            let accuracy = counts[b] == 0 ? nil : Double(correctCounts[b]) / Double(counts[b])
            if let meanConfidence, let accuracy {
                ece += Double(counts[b]) / Double(labels.count) * abs(accuracy - meanConfidence)
            }
            bins.append(ReliabilityBin(lower: Double(b) / Double(binCount), upper: Double(b + 1) / Double(binCount),
                                       count: counts[b], meanConfidence: meanConfidence, accuracy: accuracy))
        }
        expectedCalibrationError = ece
        self.bins = bins
    }
}

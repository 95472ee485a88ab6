import Foundation
import Galen
import GalenMetrics

/// A metric with its bootstrap 95% confidence interval, as written to `metrics.json`:
/// `{"value": 0.95, "ci95": [0.93, 0.97]}`.
public struct MetricValue: Codable, Sendable, Equatable {
    public var value: Double
    /// [lower, upper]; empty when the interval is undefined (too few examples of a class).
    public var ci95: [Double]

    public init(value: Double, ci95: [Double]) {
        self.value = value
        self.ci95 = ci95
    }
}

/// Test-set metrics with confidence intervals, the numbers a reviewer asks for.
public struct EvaluationReport: Sendable {
    /// Metric name → value and CI, in a fixed order (see `names`).
    public var metrics: [String: MetricValue]
    /// The order in which reports list the metrics.
    public var names: [String]
    /// The decision threshold used for the binary threshold metrics (chosen on validation data
    /// by Youden's J when validation predictions were given, else 0.5).
    public var threshold: Double?
    /// How the threshold was chosen.
    public var thresholdSource: String?
    public var count: Int
    public var replicates: Int

    /// Computes the task's metrics on `predictions` with percentile-bootstrap CIs.
    ///
    /// - Parameters:
    ///   - validation: predictions on validation data; binary tasks choose their threshold there.
    ///   - groups: an id per example (e.g. patient) to resample whole groups.
    public init(predictions: Predictions, validation: Predictions? = nil, groups: [Int]? = nil,
                replicates: Int = 1000, seed: UInt64 = 0) {
        count = predictions.count
        self.replicates = replicates
        metrics = [:]
        names = []
        threshold = nil
        thresholdSource = nil

        var definitions: [(String, ([Int]) -> Double?)] = []
        let task = predictions.task
        switch task {
        case .binary, .multiClass, .ordinal:
            guard let labels = predictions.labels else { return }
            let classes = task.classCount!
            let probabilities = predictions.probabilities
            let predicted = predictions.predictedClasses
            definitions.append(("auc", { rows in predictions.summaryMetrics(subset: rows)["auc"] }))
            definitions.append(("accuracy", { rows in accuracy(labels: rows.map { labels[$0] }, predictions: rows.map { predicted[$0] }) }))
            definitions.append(("balanced_accuracy", { rows in
                balancedAccuracy(labels: rows.map { labels[$0] }, predictions: rows.map { predicted[$0] }, classes: classes)
            }))
            if task == .binary {
                let scores = probabilities.map { $0[1] }
                var cut: Float = 0.5
                thresholdSource = "fixed at 0.5"
                if let validation, let validationLabels = validation.labels,
                   let youden = youdenThreshold(scores: validation.probabilities.map { $0[1] }, labels: validationLabels) {
                    cut = youden
                    thresholdSource = "Youden's J on validation data"
                }
                threshold = Double(cut)
                func outcome(_ rows: [Int]) -> BinaryOutcomes {
                    BinaryOutcomes(scores: rows.map { scores[$0] }, labels: rows.map { labels[$0] }, threshold: cut)
                }
                definitions.append(("pr_auc", { rows in averagePrecision(scores: rows.map { scores[$0] }, labels: rows.map { labels[$0] }) }))
                definitions.append(("sensitivity", { outcome($0).sensitivity }))
                definitions.append(("specificity", { outcome($0).specificity }))
                definitions.append(("ppv", { outcome($0).ppv }))
                definitions.append(("npv", { outcome($0).npv }))
                definitions.append(("f1", { outcome($0).f1 }))
            }
            if task != .binary {
                // Per-class sensitivity (recall) and PPV (precision) of the arg-max decision.
                for k in 0..<classes {
                    definitions.append(("sensitivity_\(k)", { rows in
                        let positives = rows.filter { labels[$0] == k }
                        guard !positives.isEmpty else { return nil }
                        return Double(positives.filter { predicted[$0] == k }.count) / Double(positives.count)
                    }))
                    definitions.append(("ppv_\(k)", { rows in
                        let called = rows.filter { predicted[$0] == k }
                        guard !called.isEmpty else { return nil }
                        return Double(called.filter { labels[$0] == k }.count) / Double(called.count)
                    }))
                }
            }
            let weighting: KappaWeighting = { if case .ordinal = task { return .quadratic } else { return .none } }()
            definitions.append((weighting == .quadratic ? "kappa_quadratic" : "kappa", { rows in
                cohenKappa(labels: rows.map { labels[$0] }, predictions: rows.map { predicted[$0] }, classes: classes, weighting: weighting)
            }))
            definitions.append(("brier", { rows in
                brierScore(probabilities: rows.map { task == .binary ? [probabilities[$0][1]] : probabilities[$0] },
                           labels: rows.map { labels[$0] })
            }))
            definitions.append(("ece", { rows in
                Calibration(probabilities: rows.map { probabilities[$0] }, labels: rows.map { labels[$0] })?.expectedCalibrationError
            }))
        case .multiLabel:
            definitions.append(("auc", { rows in predictions.summaryMetrics(subset: rows)["auc"] }))
            definitions.append(("accuracy", { rows in predictions.summaryMetrics(subset: rows)["accuracy"] }))
        case .regression:
            for name in ["mse", "rmse", "mae", "r2"] {
                definitions.append((name, { rows in predictions.summaryMetrics(subset: rows)[name] }))
            }
        }
        for (offset, (name, metric)) in definitions.enumerated() {
            // Each metric gets its own stream, so adding a metric does not move the others' CIs.
            guard let interval = bootstrapConfidenceInterval(count: count, groups: groups, replicates: replicates,
                                                             seed: seed &+ UInt64(offset) &* 0x9E37_79B9, metric: metric)
            else {
                if let value = metric(Array(0..<count)) {
                    metrics[name] = MetricValue(value: value, ci95: [])
                    names.append(name)
                }
                continue
            }
            metrics[name] = MetricValue(value: interval.value, ci95: [interval.lower, interval.upper])
            names.append(name)
        }
    }

    /// `metrics.json`: the metrics object plus the threshold and bootstrap settings, keys sorted so
    /// identical runs give identical bytes.
    public func json() throws -> Data {
        struct File: Encodable {
            let metrics: [String: MetricValue]
            let threshold: Double?
            let threshold_source: String?
            let count: Int
            let bootstrap_replicates: Int
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(File(metrics: metrics, threshold: threshold, threshold_source: thresholdSource,
                                       count: count, bootstrap_replicates: replicates))
    }

    /// One row per metric for the report and the model card: title, value and CI as text
    /// (3 decimals; "n/a" when the interval is undefined).
    public func tableRows() -> [(title: String, value: String, ci: String)] {
        names.compactMap { name in
            guard let m = metrics[name] else { return nil }
            let ci = m.ci95.count == 2 ? String(format: "%.3f–%.3f", m.ci95[0], m.ci95[1]) : "n/a"
            return (metricTitle(name), String(format: "%.3f", m.value), ci)
        }
    }

    /// "0.953 (95% CI 0.931–0.972)".
    public func formatted(_ name: String, digits: Int = 3) -> String? {
        guard let m = metrics[name] else { return nil }
        let value = String(format: "%.\(digits)f", m.value)
        guard m.ci95.count == 2 else { return value }
        return value + String(format: " (95%% CI %.\(digits)f–%.\(digits)f)", m.ci95[0], m.ci95[1])
    }
}

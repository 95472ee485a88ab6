import Foundation
import GalenMetrics
import Testing

// Every metric against scikit-learn (NumPy/SciPy where scikit-learn has none) on the cases that
// Scripts/fixtures/metrics_cases.py recorded.

private struct BinaryCase: Decodable {
    let scores: [Float], labels: [Int], threshold: Float
    let auc, average_precision, accuracy, balanced_accuracy, sensitivity, specificity, f1, brier, kappa: Double
    let ppv, npv: Double?
    let youden_threshold: Double
    let roc_fpr, roc_tpr: [Double]
    let confusion: [[Int]]
}

private struct MultiClassCase: Decodable {
    let probabilities: [[Float]], labels: [Int], classes: Int
    let accuracy, balanced_accuracy, auc_ovr_macro, kappa, kappa_linear, kappa_quadratic, brier_multiclass, ece10: Double
    let confusion: [[Int]]
}

private struct QuantileCase: Decodable { let values: [Double], q: Double, expected: Double }

private struct SegmentationCase: Decodable {
    let name: String, shape: [Int], spacing: [Double], prediction: [Int], target: [Int]
    let dice, iou, hd95, hd100: Double
}

private struct Cases: Decodable {
    let binary: [BinaryCase], multiclass: [MultiClassCase], quantiles: [QuantileCase], segmentation: [SegmentationCase]
}

private let cases: Cases = {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/metrics_cases.json")
    return try! JSONDecoder().decode(Cases.self, from: Data(contentsOf: url))
}()

private func close(_ a: Double?, _ b: Double?, _ tolerance: Double = 1e-9) -> Bool {
    guard let a, let b else { return a == nil && b == nil }
    return abs(a - b) <= tolerance * max(1, abs(b))
}

@Suite struct BinaryMetricsMatchScikitLearn {
    @Test(arguments: 0..<4) func binaryCase(_ i: Int) throws {
        let c = cases.binary[i]
        let predictions = c.scores.map { $0 >= c.threshold ? 1 : 0 }
        #expect(close(rocAUC(scores: c.scores, labels: c.labels), c.auc))
        #expect(close(averagePrecision(scores: c.scores, labels: c.labels), c.average_precision))
        #expect(close(accuracy(labels: c.labels, predictions: predictions), c.accuracy))
        #expect(close(balancedAccuracy(labels: c.labels, predictions: predictions, classes: 2), c.balanced_accuracy))
        let outcomes = BinaryOutcomes(scores: c.scores, labels: c.labels, threshold: c.threshold)
        #expect(close(outcomes.sensitivity, c.sensitivity))
        #expect(close(outcomes.specificity, c.specificity))
        #expect(close(outcomes.ppv, c.ppv))
        #expect(close(outcomes.npv, c.npv))
        #expect(close(outcomes.f1, c.f1))
        #expect(close(brierScore(probabilities: c.scores.map { [$0] }, labels: c.labels), c.brier, 1e-6))
        #expect(close(cohenKappa(labels: c.labels, predictions: predictions, classes: 2), c.kappa))
        #expect(ConfusionMatrix(labels: c.labels, predictions: predictions, classes: 2).counts == c.confusion)
        let roc = try #require(ROCCurve(scores: c.scores, labels: c.labels))
        #expect(roc.falsePositiveRates.count == c.roc_fpr.count)
        #expect(zip(roc.falsePositiveRates, c.roc_fpr).allSatisfy { close($0, $1) })
        #expect(zip(roc.truePositiveRates, c.roc_tpr).allSatisfy { close($0, $1) })
        #expect(close(youdenThreshold(scores: c.scores, labels: c.labels).map(Double.init), c.youden_threshold, 1e-7))
    }

    @Test func undefinedValuesAreNil() {
        #expect(averagePrecision(scores: [0.2, 0.4], labels: [0, 0]) == nil)
        #expect(ROCCurve(scores: [0.2, 0.4], labels: [1, 1]) == nil)
        #expect(youdenThreshold(scores: [0.2, 0.4], labels: [1, 1]) == nil)
        let allNegativeCalls = BinaryOutcomes(scores: [0.1, 0.2], labels: [0, 1], threshold: 0.5)
        #expect(allNegativeCalls.ppv == nil)
        #expect(allNegativeCalls.sensitivity == 0)
        #expect(cohenKappa(labels: [1, 1], predictions: [1, 1], classes: 2) == nil)
    }
}

@Suite struct MultiClassMetricsMatchScikitLearn {
    @Test(arguments: 0..<2) func multiClassCase(_ i: Int) {
        let c = cases.multiclass[i]
        let predictions = argmaxPredictions(c.probabilities)
        #expect(close(accuracy(labels: c.labels, predictions: predictions), c.accuracy))
        #expect(close(balancedAccuracy(labels: c.labels, predictions: predictions, classes: c.classes), c.balanced_accuracy))
        #expect(close(medMNISTAUC(probabilities: c.probabilities, labels: c.labels.map { [$0] },
                                  task: .multiClass(classes: c.classes)), c.auc_ovr_macro, 1e-6))
        #expect(close(cohenKappa(labels: c.labels, predictions: predictions, classes: c.classes), c.kappa))
        #expect(close(cohenKappa(labels: c.labels, predictions: predictions, classes: c.classes, weighting: .linear), c.kappa_linear))
        #expect(close(cohenKappa(labels: c.labels, predictions: predictions, classes: c.classes, weighting: .quadratic),
                      c.kappa_quadratic))
        #expect(close(brierScore(probabilities: c.probabilities, labels: c.labels), c.brier_multiclass, 1e-6))
        #expect(close(Calibration(probabilities: c.probabilities, labels: c.labels)?.expectedCalibrationError, c.ece10, 1e-6))
        #expect(ConfusionMatrix(labels: c.labels, predictions: predictions, classes: c.classes).counts == c.confusion)
    }

    @Test func reliabilityBinsAccountForEveryExample() throws {
        let c = cases.multiclass[1]
        let calibration = try #require(Calibration(probabilities: c.probabilities, labels: c.labels, binCount: 15))
        #expect(calibration.bins.count == 15)
        #expect(calibration.bins.map(\.count).reduce(0, +) == c.labels.count)
        // Top-class confidence of K classes is at least 1/K, so the lowest bins are empty.
        #expect(calibration.bins[0].count == 0 && calibration.bins[0].accuracy == nil)
    }
}

@Suite struct BootstrapIntervals {
    @Test(arguments: 0..<5) func quantilesMatchNumPy(_ i: Int) {
        let c = cases.quantiles[i]
        #expect(close(quantile(c.values, c.q), c.expected, 1e-12))
    }

    @Test func seededAndContainingTheEstimate() throws {
        let c = cases.binary[3]
        let auc: ([Int]) -> Double? = { idx in rocAUC(scores: idx.map { c.scores[$0] }, labels: idx.map { c.labels[$0] }) }
        let a = try #require(bootstrapConfidenceInterval(count: c.labels.count, replicates: 400, seed: 7, metric: auc))
        let b = try #require(bootstrapConfidenceInterval(count: c.labels.count, replicates: 400, seed: 7, metric: auc))
        let other = try #require(bootstrapConfidenceInterval(count: c.labels.count, replicates: 400, seed: 8, metric: auc))
        #expect(a == b)
        #expect(a != other)
        #expect(close(a.value, c.auc))
        #expect(a.lower < a.value && a.value < a.upper)
        // The standard error of an AUC near 0.85 on 400 cases is about 0.02, so the 95% interval
        // is about 0.08 wide; allow a generous range around that.
        #expect(a.upper - a.lower > 0.03 && a.upper - a.lower < 0.2, "\(a)")
    }

    @Test func groupResamplingWidensTheIntervalForClusteredData() throws {
        // Ten "patients", each with 20 identical copies of one example: resampling examples
        // pretends there are 200 independent cases; resampling patients knows there are ten.
        let perPatient = 20
        let base: [(Float, Int)] = [(0.9, 1), (0.8, 0), (0.7, 1), (0.6, 1), (0.5, 0), (0.4, 1), (0.35, 0), (0.3, 0), (0.2, 1), (0.1, 0)]
        let scores = base.flatMap { Array(repeating: $0.0, count: perPatient) }
        let labels = base.flatMap { Array(repeating: $0.1, count: perPatient) }
        let groups = (0..<base.count).flatMap { Array(repeating: $0, count: perPatient) }
        let auc: ([Int]) -> Double? = { idx in rocAUC(scores: idx.map { scores[$0] }, labels: idx.map { labels[$0] }) }
        let byExample = try #require(bootstrapConfidenceInterval(count: scores.count, replicates: 300, seed: 1, metric: auc))
        let byPatient = try #require(bootstrapConfidenceInterval(count: scores.count, groups: groups, replicates: 300, seed: 1, metric: auc))
        #expect(byPatient.upper - byPatient.lower > 2 * (byExample.upper - byExample.lower), "\(byPatient) vs \(byExample)")
        // Resamples with one class only are skipped, not counted as AUC 0 or 1.
        #expect(byPatient.replicates <= 300)
    }
}

@Suite struct SegmentationMetrics {
    @Test(arguments: 0..<2) func matchScipyAndMONAIDefinitions(_ i: Int) {
        let c = cases.segmentation[i]
        let p = c.prediction.map { $0 != 0 }, t = c.target.map { $0 != 0 }
        #expect(close(dice(prediction: p, target: t), c.dice))
        #expect(close(intersectionOverUnion(prediction: p, target: t), c.iou))
        #expect(close(hausdorffDistance95(prediction: p, target: t, shape: c.shape, spacing: c.spacing), c.hd95, 1e-9))
        #expect(close(hausdorffDistance(prediction: p, target: t, shape: c.shape, spacing: c.spacing, percentile: 100), c.hd100, 1e-9))
    }

    @Test func emptyMaskPolicy() {
        let empty = [Bool](repeating: false, count: 16)
        var one = empty
        one[5] = true
        #expect(dice(prediction: empty, target: empty) == 1)
        #expect(intersectionOverUnion(prediction: empty, target: empty) == 1)
        #expect(hausdorffDistance95(prediction: empty, target: empty, shape: [4, 4]) == 0)
        #expect(dice(prediction: one, target: empty) == 0)
        #expect(intersectionOverUnion(prediction: empty, target: one) == 0)
        #expect(hausdorffDistance95(prediction: one, target: empty, shape: [4, 4]) == nil)
    }
}

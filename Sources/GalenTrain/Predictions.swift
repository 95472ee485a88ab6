import Galen
import GalenData
import GalenMetrics
import GalenNN

/// A model's outputs on a dataset, in dataset order, with what is needed to score them.
public struct Predictions: Sendable {
    public let task: TrainingTask
    /// Per example: class probabilities (softmax), label probabilities (sigmoid) or regression
    /// outputs.
    public var probabilities: [[Float]]
    /// Class index per example (binary, multi-class, ordinal).
    public var labels: [Int]?
    /// Target vector per example (multi-label 0/1, regression values).
    public var targets: [[Float]]?
    /// Dataset index of each row.
    public var indices: [Int]
    /// Mean loss over the examples (nil when there were no targets to compare with).
    public var meanLoss: Double?

    public var count: Int { probabilities.count }

    public init(task: TrainingTask, probabilities: [[Float]], labels: [Int]?, targets: [[Float]]?, indices: [Int],
                meanLoss: Double? = nil) {
        self.task = task
        self.probabilities = probabilities
        self.labels = labels
        self.targets = targets
        self.indices = indices
        self.meanLoss = meanLoss
    }

    /// Runs `model` over `loader` in evaluation mode without building an autograd graph. The
    /// model's train/eval mode is restored afterwards.
    public init<D: Dataset>(model: any Layer, task: TrainingTask, loader: DataLoader<D>) throws {
        let wasTraining = model.isTraining
        model.eval()
        defer { model.train(wasTraining) }
        var probabilities: [[Float]] = [], labels: [Int] = [], targets: [[Float]] = [], indices: [Int] = []
        var lossSum = 0.0, lossCount = 0
        let batches = loader.epoch(0)
        defer { batches.close() }
        try noGrad {
            while let batch = try batches.next() {
                let outputs = model(batch.input)
                let width = outputs.count / batch.count
                if batch.label != nil || batch.target != nil {
                    lossSum += Double(task.loss(outputs: outputs, batch: batch).item) * Double(batch.count)
                    lossCount += batch.count
                }
                let p = task.probabilities(outputs: outputs).scalars
                for row in 0..<batch.count { probabilities.append(Array(p[(row * width)..<((row + 1) * width)])) }
                if let label = batch.label { labels += label.scalars }
                if let target = batch.target {
                    let t = target.scalars, w = t.count / batch.count
                    for row in 0..<batch.count { targets.append(Array(t[(row * w)..<((row + 1) * w)])) }
                }
                indices += batch.indices
            }
        }
        self.init(task: task, probabilities: probabilities, labels: labels.isEmpty ? nil : labels,
                  targets: targets.isEmpty ? nil : targets, indices: indices,
                  meanLoss: lossCount > 0 ? lossSum / Double(lossCount) : nil)
    }

    /// The arg-max class of each row (class tasks).
    public var predictedClasses: [Int] { argmaxPredictions(probabilities) }

    /// AUC and accuracy with MedMNIST's definitions (binary: positive-class score; multi-class and
    /// ordinal: macro one-vs-rest AUC and arg-max accuracy; multi-label: mean per-label AUC and
    /// accuracy at 0.5), or MSE/MAE for regression, on the rows in `subset` (all by default).
    public func summaryMetrics(subset: [Int]? = nil) -> [String: Double] {
        let rows = subset ?? Array(0..<count)
        var result: [String: Double] = [:]
        switch task {
        case .binary, .multiClass, .ordinal:
            guard let labels else { return [:] }
            let p = rows.map { probabilities[$0] }, y = rows.map { labels[$0] }
            let aucTask: AUCTask = task == .binary ? .binary : .multiClass(classes: task.classCount!)
            result["auc"] = medMNISTAUC(probabilities: p, labels: y.map { [$0] }, task: aucTask)
            result["accuracy"] = accuracy(labels: y, predictions: argmaxPredictions(p))
        case .multiLabel(let k):
            guard let targets else { return [:] }
            let p = rows.map { probabilities[$0] }
            let y = rows.map { targets[$0].map { $0 >= 0.5 ? 1 : 0 } }
            result["auc"] = medMNISTAUC(probabilities: p, labels: y, task: .multiLabel(labels: k))
            let perLabel = (0..<k).compactMap { l in
                accuracy(labels: y.map { $0[l] }, predictions: p.map { $0[l] >= 0.5 ? 1 : 0 })
            }
            if !perLabel.isEmpty { result["accuracy"] = perLabel.reduce(0, +) / Double(perLabel.count) }
        case .regression:
            guard let targets, !rows.isEmpty else { return [:] }
            var squared = 0.0, absolute = 0.0, n = 0
            for r in rows {
                for (o, t) in zip(probabilities[r], targets[r]) {
                    let d = Double(o) - Double(t)
                    squared += d * d
                    absolute += abs(d)
                    n += 1
                }
            }
            result["mse"] = squared / Double(n)
            result["rmse"] = (squared / Double(n)).squareRoot()
            result["mae"] = absolute / Double(n)
            // R² per output, averaged: 1 − residual / total sum of squares about the outputs' mean.
            let outputs = targets[rows[0]].count
            var r2Sum = 0.0, r2Count = 0
            for k in 0..<outputs {
                let mean = rows.reduce(0.0) { $0 + Double(targets[$1][k]) } / Double(rows.count)
                var residual = 0.0, total = 0.0
                for r in rows {
                    let t = Double(targets[r][k])
                    residual += (Double(probabilities[r][k]) - t) * (Double(probabilities[r][k]) - t)
                    total += (t - mean) * (t - mean)
                }
                if total > 0 {
                    r2Sum += 1 - residual / total
                    r2Count += 1
                }
            }
            if r2Count > 0 { result["r2"] = r2Sum / Double(r2Count) }
        }
        return result
    }
}

import Foundation
import Galen
import GalenData
import GalenMetrics

/// A test image shown in the report with the model's call on it.
public struct ReportImage: Sendable {
    /// PNG file bytes.
    public var png: [UInt8]
    public var caption: String
    public var correct: Bool

    public init(png: [UInt8], caption: String, correct: Bool) {
        self.png = png
        self.caption = caption
        self.correct = correct
    }

    /// An image from a normalized [C, H, W] tensor: `value * std + mean` is brought back to
    /// [0, 1] and scaled to 8 bits; the image is enlarged by `scale` (nearest neighbour) so a
    /// 28×28 image is visible.
    public init(tensor: Tensor, mean: Float = 0.5, std: Float = 0.5, scale: Int = 3, caption: String, correct: Bool) {
        let c = tensor.shape[0], h = tensor.shape[1], w = tensor.shape[2]
        let values = tensor.contiguous().scalars
        var scaled = [Float](repeating: 0, count: c * h * scale * w * scale)
        for k in 0..<c {
            for y in 0..<(h * scale) {
                for x in 0..<(w * scale) {
                    let v = values[(k * h + y / scale) * w + x / scale] * std + mean
                    scaled[(k * h * scale + y) * w * scale + x] = v * 255
                }
            }
        }
        let image = PNG.image(from: Tensor(scaled, shape: [c, h * scale, w * scale]))
        self.init(png: PNG.encode(image), caption: caption, correct: correct)
    }
}

/// Facts about a run for the report header and the model card.
public struct RunDescription: Sendable {
    public var title: String
    public var dataset: String
    public var datasetDetails: String
    public var model: String
    public var task: TrainingTask
    public var classNames: [String]
    /// Ordered (name, value) pairs: optimizer, epochs, seed, threads, machine, Galen version...
    public var settings: [(String, String)]
    public var split: String
    /// What one example is, in the plural: "images", "beat windows", "sequences", "records".
    public var examples: String

    public init(title: String, dataset: String, datasetDetails: String, model: String, task: TrainingTask,
                classNames: [String], settings: [(String, String)], split: String = "test", examples: String = "images") {
        self.title = title
        self.examples = examples
        self.dataset = dataset
        self.datasetDetails = datasetDetails
        self.model = model
        self.task = task
        self.classNames = classNames
        self.settings = settings
        self.split = split
    }
}

/// The self-contained `report.html` of a run: metrics with CIs, learning curves, ROC with a CI
/// band, PR curve, confusion matrix, calibration curve and a grid of test images, every chart an
/// inline SVG and every image an inline PNG, so the file can be mailed or archived alone.
public struct RunReport {
    public var run: RunDescription
    public var history: [EpochRecord]
    public var evaluation: EvaluationReport
    public var predictions: Predictions
    public var images: [ReportImage]
    public var seed: UInt64

    public init(run: RunDescription, history: [EpochRecord], evaluation: EvaluationReport, predictions: Predictions,
                images: [ReportImage] = [], seed: UInt64 = 0) {
        self.run = run
        self.history = history
        self.evaluation = evaluation
        self.predictions = predictions
        self.images = images
        self.seed = seed
    }

    /// The charts, each as (caption, SVG).
    public func charts() -> [(String, String)] {
        var charts: [(String, String)] = []
        let epochs = history.map { Double($0.epoch) }
        if !history.isEmpty {
            var lossSeries = [ChartSeries(name: "training", x: epochs, y: history.map(\.trainLoss), index: 0)]
            if history.contains(where: { $0.validationLoss != nil }) {
                lossSeries.append(ChartSeries(name: "validation", x: epochs, y: history.map { $0.validationLoss ?? .nan }, index: 1))
            }
            charts.append(("Loss per epoch. The validation loss rising while the training loss falls is overfitting.",
                           LineChart(title: "Learning curves", xLabel: "epoch", yLabel: "loss (mean per example)",
                                     series: lossSeries, xRange: (epochs.first! - (epochs.count == 1 ? 1 : 0))...epochs.last!,
                                     integerX: true, legendAtTop: true).svg()))
            let metricNames = ["auc", "accuracy", "rmse"].filter { name in history.contains { $0.validation[name] != nil } }
            if !metricNames.isEmpty {
                let series = metricNames.enumerated().map { k, name in
                    ChartSeries(name: "validation " + name, x: epochs, y: history.map { $0.validation[name] ?? .nan }, index: k, markers: epochs.count < 30)
                }
                let bounded = metricNames.allSatisfy { $0 != "rmse" }
                charts.append(("Validation metrics per epoch; the best epoch's weights are the ones evaluated.",
                               LineChart(title: "Validation metrics", xLabel: "epoch", yLabel: bounded ? "value (0–1)" : "value",
                                         series: series, xRange: (epochs.first! - (epochs.count == 1 ? 1 : 0))...epochs.last!,
                                         integerX: true).svg()))
            }
        }
        guard let labels = predictions.labels, let classes = run.task.classCount else { return charts }
        let names = (0..<classes).map { $0 < run.classNames.count ? run.classNames[$0] : "class \($0)" }
        if run.task == .binary {
            let scores = predictions.probabilities.map { $0[1] }
            if let band = ROCBand(scores: scores, labels: labels, replicates: 500, seed: seed) {
                let auc = evaluation.formatted("auc") ?? ""
                charts.append(("ROC curve on the \(run.split) set with a pointwise 95% bootstrap band (500 resamples). AUC \(auc).",
                               LineChart(title: "ROC curve", xLabel: "1 − specificity (false positive rate)",
                                         yLabel: "sensitivity (true positive rate)",
                                         series: [ChartSeries(name: "ROC, AUC " + String(format: "%.3f", evaluation.metrics["auc"]?.value ?? .nan),
                                                              x: band.falsePositiveRates, y: band.truePositiveRates, index: 0,
                                                              band: (band.lower, band.upper))],
                                         xRange: 0...1, yRange: 0...1, diagonal: true).svg()))
            }
            if let pr = PrecisionRecallCurve(scores: scores, labels: labels) {
                let prevalence = Double(labels.filter { $0 == 1 }.count) / Double(labels.count)
                charts.append(("Precision–recall curve; the dashed line is the prevalence of \(names[1]) (\(String(format: "%.2f", prevalence))), the precision of a random call.",
                               LineChart(title: "Precision–recall curve", xLabel: "recall (sensitivity)", yLabel: "precision (PPV)",
                                         series: [ChartSeries(name: "AP " + String(format: "%.3f", pr.averagePrecision), x: [0] + pr.recalls,
                                                              y: [pr.precisions.first ?? 1] + pr.precisions, index: 0),
                                                  ChartSeries(name: "prevalence", x: [0, 1], y: [prevalence, prevalence], color: "#999", dashed: true)],
                                         xRange: 0...1, yRange: 0...1).svg()))
            }
        } else {
            let series = (0..<min(classes, ChartPalette.colors.count)).compactMap { k -> ChartSeries? in
                guard let roc = ROCCurve(scores: predictions.probabilities.map { $0[k] }, labels: labels.map { $0 == k ? 1 : 0 }) else { return nil }
                return ChartSeries(name: truncated(names[k], 24), x: roc.falsePositiveRates, y: roc.truePositiveRates, index: k)
            }
            charts.append(("One-vs-rest ROC curves per class on the \(run.split) set.",
                           LineChart(title: "ROC curves (one vs rest)", xLabel: "false positive rate", yLabel: "true positive rate",
                                     series: series, xRange: 0...1, yRange: 0...1, diagonal: true).svg()))
        }
        let predicted: [Int]
        var matrixCaption = "Confusion matrix on the \(run.split) set (rows: truth; cells: count and share of the row)"
        if run.task == .binary, let threshold = evaluation.threshold {
            predicted = predictions.probabilities.map { $0[1] >= Float(threshold) ? 1 : 0 }
            matrixCaption += String(format: ", at threshold %.3f (%@).", threshold, evaluation.thresholdSource ?? "")
        } else {
            predicted = predictions.predictedClasses
            matrixCaption += ", predicting the most probable class."
        }
        charts.append((matrixCaption, HeatmapChart(title: "Confusion matrix", rowLabel: "true class", columnLabel: "predicted class",
                                                   labels: names, counts: ConfusionMatrix(labels: labels, predictions: predicted, classes: classes).counts).svg()))
        if let calibration = Calibration(probabilities: predictions.probabilities, labels: labels, binCount: 10) {
            let used = calibration.bins.filter { $0.count > 0 }
            charts.append((String(format: "Reliability diagram: accuracy against confidence of the predicted class in 10 bins; points on the diagonal are perfectly calibrated. ECE %.3f.", calibration.expectedCalibrationError),
                           LineChart(title: "Calibration", xLabel: "confidence of the predicted class", yLabel: "observed accuracy",
                                     series: [ChartSeries(name: "model", x: used.map { $0.meanConfidence! }, y: used.map { $0.accuracy! }, index: 0, markers: true)],
                                     xRange: 0...1, yRange: 0...1, diagonal: true).svg()))
        }
        return charts
    }

    /// The complete HTML document.
    public func html() -> String {
        var out = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>\(xmlEscape(run.title))</title>
        <style>
        body { font-family: Helvetica, Arial, sans-serif; max-width: 1100px; margin: 24px auto; color: #222; line-height: 1.4; }
        h1 { font-size: 24px; margin-bottom: 4px; } h2 { font-size: 18px; margin-top: 32px; border-bottom: 1px solid #ddd; }
        table { border-collapse: collapse; margin: 8px 0; } td, th { padding: 4px 12px; border-bottom: 1px solid #eee; text-align: left; }
        th { background: #f6f6f6; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
        .charts { display: flex; flex-wrap: wrap; gap: 16px; } figure { margin: 0; max-width: 520px; }
        figcaption { font-size: 12px; color: #555; } .grid { display: flex; flex-wrap: wrap; gap: 8px; }
        .grid figure { width: 96px; } .grid img { width: 84px; image-rendering: pixelated; border: 3px solid #009E73; }
        .grid .wrong img { border-color: #D55E00; } .muted { color: #666; font-size: 13px; }
        </style></head><body>
        <h1>\(xmlEscape(run.title))</h1>
        <p class="muted">\(xmlEscape(run.dataset)) · \(xmlEscape(run.model)) · \(xmlEscape(run.task.description))</p>

        """
        out += "<h2>\(xmlEscape(run.split.capitalized)) metrics</h2>\n"
        out += "<p class=\"muted\">\(evaluation.count) examples. 95% confidence intervals from \(evaluation.replicates) bootstrap resamples (percentile method).</p>\n"
        out += "<table><tr><th>metric</th><th>value</th><th>95% CI</th></tr>\n"
        for row in evaluation.tableRows() {
            out += "<tr><td>\(xmlEscape(row.title))</td><td class=\"num\">\(row.value)</td><td class=\"num\">\(row.ci)</td></tr>\n"
        }
        out += "</table>\n"
        if let threshold = evaluation.threshold {
            out += "<p class=\"muted\">Threshold metrics (sensitivity, specificity, PPV, NPV, F1) call a case positive at a probability ≥ \(String(format: "%.3f", threshold)), \(xmlEscape(evaluation.thresholdSource ?? "")).</p>\n"
        }
        out += "<h2>Charts</h2>\n<div class=\"charts\">\n"
        for (caption, svg) in charts() {
            out += "<figure>\(svg)<figcaption>\(xmlEscape(caption))</figcaption></figure>\n"
        }
        out += "</div>\n"
        if !images.isEmpty {
            out += "<h2>\(xmlEscape(run.split.capitalized)) images</h2>\n<p class=\"muted\">Green border: correct call; orange: wrong. Caption: true class → predicted class (probability).</p>\n<div class=\"grid\">\n"
            for image in images {
                out += "<figure class=\"\(image.correct ? "right" : "wrong")\"><img alt=\"\(xmlEscape(image.caption))\" src=\"data:image/png;base64,\(Data(image.png).base64EncodedString())\"><figcaption>\(xmlEscape(image.caption))</figcaption></figure>\n"
            }
            out += "</div>\n"
        }
        out += "<h2>Run</h2>\n<table>\n"
        out += "<tr><td>data</td><td>\(xmlEscape(run.datasetDetails))</td></tr>\n"
        for (key, value) in run.settings { out += "<tr><td>\(xmlEscape(key))</td><td>\(xmlEscape(value))</td></tr>\n" }
        out += "</table>\n"
        if !history.isEmpty {
            out += "<h2>Epochs</h2>\n<table><tr><th>epoch</th><th>train loss</th><th>val loss</th><th>val AUC</th><th>val accuracy</th><th>lr</th><th>seconds</th></tr>\n"
            for r in history {
                func cell(_ v: Double?) -> String { v.map { String(format: "%.4f", $0) } ?? "" }
                out += "<tr><td class=\"num\">\(r.epoch)</td><td class=\"num\">\(cell(r.trainLoss))</td><td class=\"num\">\(cell(r.validationLoss))</td><td class=\"num\">\(cell(r.validation["auc"]))</td><td class=\"num\">\(cell(r.validation["accuracy"]))</td><td class=\"num\">\(String(format: "%.2g", r.learningRate))</td><td class=\"num\">\(String(format: "%.1f", r.seconds))</td></tr>\n"
            }
            out += "</table>\n"
        }
        return out + "<p class=\"muted\">Written by Galen.</p>\n</body></html>\n"
    }
}

/// Human names of the metrics in `metrics.json`.
public func metricTitle(_ name: String) -> String {
    switch name {
    case "auc": return "ROC AUC"
    case "pr_auc": return "PR AUC (average precision)"
    case "accuracy": return "accuracy"
    case "balanced_accuracy": return "balanced accuracy"
    case "sensitivity": return "sensitivity (recall)"
    case "specificity": return "specificity"
    case "ppv": return "PPV (precision)"
    case "npv": return "NPV"
    case "f1": return "F1"
    case "kappa": return "Cohen's kappa"
    case "kappa_quadratic": return "Cohen's kappa (quadratic)"
    case "brier": return "Brier score (lower is better)"
    case "ece": return "expected calibration error (lower is better)"
    case "mse": return "mean squared error"
    case "rmse": return "root mean squared error"
    case "mae": return "mean absolute error"
    case "r2": return "R² (coefficient of determination)"
    default:
        if name.hasPrefix("sensitivity_") { return "sensitivity of class \(name.dropFirst("sensitivity_".count))" }
        if name.hasPrefix("ppv_") { return "PPV of class \(name.dropFirst("ppv_".count))" }
        return name
    }
}

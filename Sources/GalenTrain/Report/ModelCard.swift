import Foundation
import GalenMetrics

extension RunReport {
    /// `model-card.md`: what the model is for, what it was trained and tested on, how well it does
    /// with uncertainty, how calibrated it is, and what it must not be used for.
    public func modelCard() -> String {
        var out = "# Model card: \(run.model) on \(run.dataset)\n\n"
        out += "## Intended use\n"
        out += "Research and teaching: \(run.task.description) of \(run.dataset) \(run.examples)"
        if !run.classNames.isEmpty { out += " (classes: \(run.classNames.joined(separator: ", ")))" }
        out += ". It is not a medical device and must not be used to diagnose or treat patients.\n\n"
        out += "## Data\n\(run.datasetDetails)\n\n"
        out += "## Training\n"
        for (key, value) in run.settings { out += "- \(key): \(value)\n" }
        if let best = history.max(by: { ($0.validation["auc"] ?? -$0.trainLoss) < ($1.validation["auc"] ?? -$1.trainLoss) }) {
            out += "- epochs run: \(history.count); best validation epoch: \(best.epoch)\n"
        }
        out += "\n## \(run.split.capitalized) metrics (\(evaluation.count) examples, 95% bootstrap CIs, \(evaluation.replicates) resamples)\n\n"
        out += "| metric | value | 95% CI |\n|---|---:|---:|\n"
        for row in evaluation.tableRows() { out += "| \(row.title) | \(row.value) | \(row.ci) |\n" }
        if let threshold = evaluation.threshold {
            out += "\nThreshold metrics use a decision threshold of \(String(format: "%.3f", threshold)) (\(evaluation.thresholdSource ?? "")).\n"
        }
        out += "\n## Calibration\n"
        if let labels = predictions.labels, let calibration = Calibration(probabilities: predictions.probabilities, labels: labels) {
            let ece = calibration.expectedCalibrationError
            out += String(format: "Expected calibration error %.3f over 10 confidence bins. ", ece)
            out += ece < 0.05 ? "The predicted probabilities track observed frequencies closely on this split.\n"
                : "Predicted probabilities should not be read as risks without recalibration (e.g. temperature scaling on validation data).\n"
        } else {
            out += "Not applicable to this task.\n"
        }
        out += """

        ## Limitations
        - The numbers hold for data like the \(run.split) split: same source, acquisition and preprocessing. Performance on other \
        hospitals, devices or populations is unknown until measured there.
        - Confidence intervals resample examples; when one patient contributes several \(run.examples) the true uncertainty is \
        larger (pass patient ids to resample by patient).
        - The \(run.split) split was used once, after model selection on validation data.

        """
        if run.examples == "images" {
            out += "- Low-resolution inputs lose detail a clinician would use; errors on borderline cases should be expected.\n"
        }
        return out
    }
}

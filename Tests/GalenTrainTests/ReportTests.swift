import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Galen
import GalenData
import GalenMetrics
import GalenNN
import GalenOptim
@testable import GalenTrain
import Testing

private final class XMLCheck: NSObject, XMLParserDelegate {
    var elements: [String] = []
    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) { elements.append(name) }
}

/// The element names of `svg`, or nil when it is not well-formed XML.
private func svgElements(_ svg: String) -> [String]? {
    let parser = XMLParser(data: Data(svg.utf8))
    let check = XMLCheck()
    parser.delegate = check
    return parser.parse() ? check.elements : nil
}

@Suite struct Reports {
    /// A binary run on blobs: the metrics, charts and report a user gets. With
    /// GALEN_REPORT_PREVIEW=DIR set the report is also written there to look at.
    @Test func aBinaryRunReportHasEveryChartAndMetric() throws {
        let model = Sequential(Linear(8, 16), ReLU(), Linear(16, 2))
        let weights = Generator(seed: 4)
        for p in model.parameters() { p.assign(Tensor.randn(p.shape, std: 0.3, generator: weights)) }
        let optimizer = Adam(model.parameters(), learningRate: 0.01)
        let trainer = Trainer(model: model, optimizer: optimizer, task: .binary)
        let trainLoader = DataLoader(Blobs(count: 256, seed: 1), batchSize: 32, shuffle: true, seed: 3)
        let validationLoader = DataLoader(Blobs(count: 128, seed: 2), batchSize: 64)
        let testLoader = DataLoader(Blobs(count: 200, seed: 9), batchSize: 64)
        try trainer.fit(train: trainLoader, validation: validationLoader, epochs: 3)
        try trainer.restoreBestWeights()
        let test = try trainer.predict(testLoader), validation = try trainer.predict(validationLoader)
        let evaluation = EvaluationReport(predictions: test, validation: validation, replicates: 200, seed: 1)

        #expect(evaluation.names == ["auc", "accuracy", "balanced_accuracy", "pr_auc", "sensitivity", "specificity",
                                     "ppv", "npv", "f1", "kappa", "brier", "ece"])
        let auc = try #require(evaluation.metrics["auc"])
        #expect(auc.value == rocAUC(scores: test.probabilities.map { $0[1] }, labels: test.labels!))
        #expect(auc.ci95.count == 2 && auc.ci95[0] < auc.value && auc.value < auc.ci95[1])
        // The threshold comes from validation data, not from the test set.
        #expect(evaluation.threshold.map(Float.init) == youdenThreshold(scores: validation.probabilities.map { $0[1] }, labels: validation.labels!))
        // metrics.json is deterministic for a seed.
        let again = EvaluationReport(predictions: test, validation: validation, replicates: 200, seed: 1)
        #expect(try evaluation.json() == again.json())
        let json = try JSONSerialization.jsonObject(with: evaluation.json()) as! [String: Any]
        let metrics = json["metrics"] as! [String: [String: Any]]
        #expect((metrics["auc"]?["ci95"] as? [Double])?.count == 2)

        let report = RunReport(
            run: RunDescription(title: "Blobs test run", dataset: "Blobs", datasetDetails: "two Gaussian blobs, 256/128/200",
                                model: "mlp", task: .binary, classNames: ["negative", "positive"],
                                settings: [("optimizer", "Adam, lr 0.01"), ("seed", "1")]),
            history: trainer.state.history, evaluation: evaluation, predictions: test,
            images: [ReportImage(tensor: Tensor.randn([1, 8, 8], generator: weights), caption: "positive → negative (0.31)", correct: false)],
            seed: 1)
        let charts = report.charts()
        #expect(charts.count == 6, "\(charts.map(\.0))")
        for (caption, svg) in charts {
            let elements = try #require(svgElements(svg), "not well-formed: \(caption)")
            #expect(elements.first == "svg")
            #expect(elements.contains("text"))
        }
        // The ROC chart draws its band and the curve; the confusion matrix four cells.
        #expect(svgElements(charts[2].1)!.contains("polygon"))
        #expect(svgElements(charts[4].1)!.filter { $0 == "rect" }.count >= 4)
        let html = report.html()
        for needle in ["ROC AUC", "95% CI", "Confusion matrix", "Calibration", "data:image/png;base64,", "Youden"] {
            #expect(html.contains(needle), "report lacks \(needle)")
        }
        let card = report.modelCard()
        #expect(card.contains("## Intended use") && card.contains("## Limitations") && card.contains("| ROC AUC |"))
        if let preview = ProcessInfo.processInfo.environment["GALEN_REPORT_PREVIEW"] {
            try FileManager.default.createDirectory(atPath: preview, withIntermediateDirectories: true)
            try html.write(toFile: preview + "/report.html", atomically: true, encoding: .utf8)
            try card.write(toFile: preview + "/model-card.md", atomically: true, encoding: .utf8)
            for (k, chart) in charts.enumerated() { try chart.1.write(toFile: preview + "/chart\(k).svg", atomically: true, encoding: .utf8) }
        }
    }
}

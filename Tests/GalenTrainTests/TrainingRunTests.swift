import Foundation
import Galen
@testable import GalenTrain
import Testing

private func temporaryDirectory() -> String {
    let path = NSTemporaryDirectory() + "galen-run-\(UInt64.random(in: 0...UInt64.max))"
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

@Suite(.serialized) struct TrainingRuns {
    private func quickConfiguration() -> TrainingConfiguration {
        var c = TrainingConfiguration(data: "breast-cancer-wisconsin")
        c.model = "mlp"
        c.epochs = 4
        c.batchSize = 32
        c.workers = 0
        c.bootstrap = 200
        c.seed = 3
        return c
    }

    @Test func aTabularRunWritesTheWholeRunFolderAndRepeatsBitForBit() throws {
        let first = temporaryDirectory(), second = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: first); try? FileManager.default.removeItem(atPath: second) }
        let result = try TrainingRun(configuration: quickConfiguration(), directory: first).execute()
        for file in ["config.json", "metrics.jsonl", "metrics.json", "predictions.csv", "model.safetensors", "report.html",
                     "model-card.md", "checkpoint/latest"] {
            #expect(FileManager.default.fileExists(atPath: first + "/" + file), "missing \(file)")
        }
        let auc = try #require(result.evaluation.metrics["auc"])
        #expect(auc.value > 0.95, "test AUC \(auc.value) on breast cancer")
        let predictions = try String(contentsOfFile: first + "/predictions.csv", encoding: .utf8).split(separator: "\n")
        #expect(predictions.first == "index,label,prob_0,prob_1")
        #expect(predictions.count == 1 + result.evaluation.count)
        #expect(try String(contentsOfFile: first + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").count == 4)

        try TrainingRun(configuration: quickConfiguration(), directory: second).execute()
        #expect(try Data(contentsOf: URL(fileURLWithPath: first + "/metrics.json")) == Data(contentsOf: URL(fileURLWithPath: second + "/metrics.json")))
        #expect(try Data(contentsOf: URL(fileURLWithPath: first + "/model.safetensors")) == Data(contentsOf: URL(fileURLWithPath: second + "/model.safetensors")))
    }

    @Test func unknownNamesAndBadValuesNameTheKey() {
        var c = quickConfiguration()
        c.data = "pneumonia"
        #expect(throws: ConfigurationError.self) { try PreparedData.load(c) }
        do { _ = try PreparedData.load(c) } catch { #expect("\(error)".contains("pneumoniamnist"), "\(error)") }
        c = quickConfiguration()
        c.optimizer = "adamax"
        do { try c.validate(); Issue.record("adamax accepted") } catch {
            #expect("\(error)" == "'optimizer' unknown value 'adamax'; choose one of adam, adamw, sgd, rmsprop")
        }
        c = quickConfiguration()
        c.model = "resnet18-28"
        do { _ = try TrainingRun.makeModel(c.model, data: PreparedData.load(c)); Issue.record("a CNN accepted a table") } catch {
            #expect("\(error)".contains("tabular data takes 'mlp'"), "\(error)")
        }
    }

    @Test func configFilesInJSONAndFlatYAMLMeanTheSameAsFlags() throws {
        let folder = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try #"{"data": "pneumoniamnist", "epochs": 3, "lr": 0.01, "augment": "light"}"#
            .write(toFile: folder + "/run.json", atomically: true, encoding: .utf8)
        try "# a run\ndata: pneumoniamnist\nepochs: 3\nlr: 0.01\naugment: \"light\"\n"
            .write(toFile: folder + "/run.yaml", atomically: true, encoding: .utf8)
        var expected = TrainingConfiguration(data: "pneumoniamnist")
        expected.epochs = 3
        expected.learningRate = 0.01
        expected.augment = "light"
        #expect(try TrainingConfiguration.read(contentsOf: folder + "/run.json") == expected)
        #expect(try TrainingConfiguration.read(contentsOf: folder + "/run.yaml") == expected)
        // What config.json stores reads back the same.
        try expected.json().write(to: URL(fileURLWithPath: folder + "/saved.json"))
        #expect(try TrainingConfiguration.read(contentsOf: folder + "/saved.json") == expected)

        try "data: pneumoniamnist\nepoch: 3\n".write(toFile: folder + "/typo.yaml", atomically: true, encoding: .utf8)
        do { _ = try TrainingConfiguration.read(contentsOf: folder + "/typo.yaml"); Issue.record("typo accepted") } catch {
            #expect("\(error)".hasPrefix(folder + "/typo.yaml: 'epoch' unknown key"), "\(error)")
        }
        try #"{"epochs": 3}"#.write(toFile: folder + "/nodata.json", atomically: true, encoding: .utf8)
        do { _ = try TrainingConfiguration.read(contentsOf: folder + "/nodata.json"); Issue.record("missing data accepted") } catch {
            #expect("\(error)" == folder + "/nodata.json: 'data' is required")
        }
    }
}

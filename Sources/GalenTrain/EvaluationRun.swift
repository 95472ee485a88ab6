import Foundation
import Galen
import GalenData
import GalenNN

/// `galen evaluate`: a model-zoo model with given weights (Galen's or PyTorch's safetensors, the
/// same state-dict names) scored on one split, writing metrics.json, predictions.csv and
/// report.html to `directory`.
public struct EvaluationRun {
    public var data: String
    public var target: String?
    public var model: String
    public var weights: String
    public var split: String
    public var directory: String
    public var normalization = "medmnist"
    public var bootstrap = 1000
    public var seed: UInt64 = 0

    public init(data: String, target: String? = nil, model: String, weights: String, split: String = "test", directory: String) {
        self.data = data
        self.target = target
        self.model = model
        self.weights = weights
        self.split = split
        self.directory = directory
    }

    @discardableResult
    public func execute() throws -> EvaluationReport {
        guard ["train", "val", "validation", "test"].contains(split) else {
            throw ConfigurationError(key: "split", message: "unknown split '\(split)'; choose train, val or test")
        }
        var configuration = TrainingConfiguration(data: data)
        configuration.target = target
        configuration.model = model
        configuration.normalization = normalization
        configuration.seed = seed
        try configuration.validate()
        let prepared = try PreparedData.load(configuration)
        let network = try TrainingRun.makeModel(model, data: prepared)
        try network.load(contentsOf: weights)
        let dataset: AnyDataset
        switch split {
        case "train": dataset = prepared.train
        case "test": dataset = prepared.test
        default: dataset = prepared.validation
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let loader = DataLoader(dataset, batchSize: 256)
        let predictions = try Predictions(model: network, task: prepared.task, loader: loader)
        // A threshold is chosen on validation data unless the validation split is what is scored.
        let validation = split == "test" ? try Predictions(model: network, task: prepared.task,
                                                            loader: DataLoader(prepared.validation, batchSize: 256)) : nil
        let evaluation = EvaluationReport(predictions: predictions, validation: validation, replicates: bootstrap, seed: seed)
        let run = TrainingRun(configuration: configuration, directory: directory)
        try writeFileAtomically(try evaluation.json(), toPath: directory + "/metrics.json")
        try run.writePredictions(predictions)
        var description = run.description(data: prepared, model: network)
        description.title = "\(model) (\((weights as NSString).lastPathComponent)) on \(prepared.name), \(split) split"
        description.split = split == "val" ? "validation" : split
        description.settings.insert(("weights", weights), at: 0)
        let images = split == "test" ? try run.sampleImages(data: prepared, predictions: predictions) : []
        let report = RunReport(run: description, history: [], evaluation: evaluation, predictions: predictions, images: images, seed: seed)
        try writeFileAtomically(Data(report.html().utf8), toPath: directory + "/report.html")
        return evaluation
    }
}

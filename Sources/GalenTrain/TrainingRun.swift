import Foundation
import Galen
import GalenData
import GalenMetrics
import GalenNN
import GalenOptim

/// Any dataset behind one concrete type, so one loader type serves every kind of data.
public struct AnyDataset: Dataset {
    public let base: any Dataset
    public init(_ base: any Dataset) { self.base = base }
    public var count: Int { base.count }
    public func example(at index: Int, generator: Generator) throws -> Example {
        try base.example(at: index, generator: generator)
    }
}

/// Train, validation and test data of one run, with what the model and report need to know.
public struct PreparedData {
    public var train: AnyDataset
    public var validation: AnyDataset
    public var test: AnyDataset
    public var task: TrainingTask
    public var classNames: [String]
    /// [C, H, W] for images, [F] for feature vectors.
    public var inputShape: [Int]
    public var isImage: Bool
    /// One line for the report: source, split sizes, license.
    public var description: String
    public var name: String
    /// What a sequence model reads, for signals and token sequences (nil for images and tables).
    public var sequence: SequenceInput? = nil

    /// The bundled dataset names besides the MedMNIST catalog.
    public static let bundledTables = ["breast-cancer-wisconsin"]

    /// Every name `--data` accepts.
    public static var knownNames: [String] { MedMNISTInfo.catalog.map(\.flag) + bundledTables + bundledSequences }

    /// Resolves `configuration.data` (a name or a path) and loads it.
    public static func load(_ configuration: TrainingConfiguration, files: MedMNISTFiles = MedMNISTFiles()) throws -> PreparedData {
        let data = configuration.data
        let normalization: MedMNISTNormalization = configuration.normalization == "unit" ? .unitRange : .medMNIST
        if let info = MedMNISTInfo.named(data) {
            guard let location = files.location(of: info) else {
                throw ConfigurationError(key: "data", message:
                    "\(info.flag) is not on this machine; run `galen datasets download \(info.flag)` first (\(info.url))")
            }
            return try medMNIST(path: location.path, info: info, normalization: normalization)
        }
        if data == "breast-cancer-wisconsin" {
            return try sklearnTable(path: bundledFile("tabular/breast_cancer.csv"), name: data, seed: configuration.seed)
        }
        switch data {
        case "mitbih-100": return try mitbih100()
        case "amp-peptides": return try ampPeptides(seed: configuration.seed)
        case "esol": return try esol(seed: configuration.seed)
        default: break
        }
        if data.hasSuffix(".npz") {
            guard FileManager.default.fileExists(atPath: data) else { throw ConfigurationError(key: "data", message: "no such file: \(data)") }
            let flag = ((data as NSString).lastPathComponent as NSString).deletingPathExtension.lowercased()
            return try medMNIST(path: data, info: MedMNISTInfo.named(flag), normalization: normalization)
        }
        if data.hasSuffix(".csv") || data.hasSuffix(".tsv") || data.hasSuffix(".csv.gz") {
            guard FileManager.default.fileExists(atPath: data) else { throw ConfigurationError(key: "data", message: "no such file: \(data)") }
            guard let target = configuration.target else {
                throw ConfigurationError(key: "target", message: "a CSV needs --target COLUMN naming the column to predict")
            }
            return try csv(path: data, target: target, seed: configuration.seed)
        }
        let suggestions = knownNames.filter { $0.hasPrefix(String(data.lowercased().prefix(3))) }
        throw ConfigurationError(key: "data", message: "unknown dataset '\(data)'"
            + (suggestions.isEmpty ? "" : " (did you mean \(suggestions.joined(separator: ", "))?)")
            + "; known: \(knownNames.joined(separator: ", ")), or a path to a .npz or .csv")
    }

    static func medMNIST(path: String, info: MedMNISTInfo?, normalization: MedMNISTNormalization) throws -> PreparedData {
        let data = try MedMNIST(contentsOf: path, info: info, normalization: normalization)
        let train = data.train
        let shape = Array(train.images.shape.dropFirst())
        let task: TrainingTask
        let classNames: [String]
        if let info {
            task = TrainingTask(medMNIST: info)
            classNames = info.labelNames
        } else if train.labels.rank == 2 {
            task = .multiLabel(labels: train.labels.shape[1])
            classNames = (0..<train.labels.shape[1]).map { "label \($0)" }
        } else {
            let classes = (train.labels.scalars.max() ?? 1) + 1
            task = classes == 2 ? .binary : .multiClass(classes: classes)
            classNames = (0..<classes).map { "class \($0)" }
        }
        let name = info?.name ?? (path as NSString).lastPathComponent
        return PreparedData(
            train: AnyDataset(train), validation: AnyDataset(data.validation), test: AnyDataset(data.test), task: task,
            classNames: classNames, inputShape: shape, isImage: true,
            description: "\(name) (\(path)): \(shape.map(String.init).joined(separator: "×")) images; train \(train.count), validation \(data.validation.count), test \(data.test.count)"
                + (info.map { "; \($0.modality); license \($0.license)" } ?? ""),
            name: name)
    }

    static func sklearnTable(path: String, name: String, seed: UInt64) throws -> PreparedData {
        let table = try CSVTable(contentsOf: path, options: CSVOptions(skipLines: 1, hasHeader: false))
        let target = String(table.columnNames.count - 1)
        let features = table.columnNames.filter { $0 != target }
        return try tabular(table: table, features: features, target: target, seed: seed, name: name,
                           classNames: ["malignant", "benign"], path: path)
    }

    static func csv(path: String, target: String, seed: UInt64) throws -> PreparedData {
        let table = try CSVTable(contentsOf: path)
        _ = try table.requireColumn(target)
        let features = table.columnNames.filter { $0 != target }
        return try tabular(table: table, features: features, target: target, seed: seed,
                           name: (path as NSString).lastPathComponent, classNames: nil, path: path)
    }

    /// A 70/15/15 split, stratified for classification, with preprocessing fitted on the training
    /// rows only.
    static func tabular(table: CSVTable, features: [String], target: String, seed: UInt64, name: String,
                        classNames: [String]?, path: String) throws -> PreparedData {
        let targetColumn = try table.requireColumn(target)
        let isNumericTarget = table.columnTypes[targetColumn] == .float
        let split: DataSplit
        if isNumericTarget {
            split = DataSplit.random(count: table.rowCount, validation: 0.15, test: 0.15, seed: seed)
        } else {
            split = DataSplit.stratified(labels: try table.column(target).map { $0 ?? "" }, validation: 0.15, test: 0.15, seed: seed)
        }
        let prep = try TabularPreprocessor.fit(table, rows: split.train, features: features, target: target,
                                               task: isNumericTarget ? .regression : .classification)
        let task: TrainingTask = isNumericTarget ? .regression(outputs: 1)
            : prep.classes.count == 2 ? .binary : .multiClass(classes: prep.classes.count)
        return PreparedData(
            train: AnyDataset(try prep.dataset(table, rows: split.train)),
            validation: AnyDataset(try prep.dataset(table, rows: split.validation)),
            test: AnyDataset(try prep.dataset(table, rows: split.test)),
            task: task, classNames: classNames ?? prep.classes, inputShape: [prep.featureCount], isImage: false,
            description: "\(name) (\(path)): \(table.rowCount) rows, \(prep.featureCount) features, target '\(target)'; "
                + "stratified split train \(split.train.count), validation \(split.validation.count), test \(split.test.count) (seed \(seed))",
            name: name)
    }
}

/// What `TrainingRun.execute` produced.
public struct RunResult {
    public var directory: String
    public var evaluation: EvaluationReport
    public var state: TrainerState
    public var seconds: Double
    public var reportPath: String { directory + "/report.html" }
}

/// One `galen train`: data, model, optimizer and schedule from a configuration; training with
/// checkpoints in the run folder; the best weights evaluated on the test split; and the run
/// folder's files: config.json, metrics.jsonl, metrics.json, predictions.csv, model.safetensors,
/// checkpoint/, report.html and model-card.md.
public final class TrainingRun {
    public let configuration: TrainingConfiguration
    public let directory: String
    public var onEvent: ((TrainingEvent) -> Void)?

    public init(configuration: TrainingConfiguration, directory: String) {
        self.configuration = configuration
        self.directory = directory
    }

    /// The model for `data` (input channels or features, outputs from the task).
    public static func makeModel(_ name: String, data: PreparedData) throws -> any Layer {
        do {
            if let sequence = data.sequence {
                return try ModelZoo.makeSequence(name: name, input: sequence, outputs: data.task.outputCount)
            }
            if data.isImage {
                guard data.inputShape.count == 3, data.inputShape[1] == data.inputShape[2] else {
                    throw ConfigurationError(key: "model", message: "needs square [C, H, W] images, the data has \(data.inputShape)")
                }
                return try ModelZoo.make(name: name, inChannels: data.inputShape[0], classes: data.task.outputCount,
                                         imageSize: data.inputShape[1])
            }
            guard name == "mlp" else {
                throw ConfigurationError(key: "model", message: "'\(name)' does not take tables; tabular data takes 'mlp'")
            }
            return MLP(inputs: data.inputShape[0], hidden: [64, 32], classes: data.task.outputCount, dropout: 0.1)
        } catch let error as ModelZooError {
            throw ConfigurationError(key: "model", message: "\(error)")
        }
    }

    func makeOptimizer(_ parameters: [Tensor]) -> Optimizer {
        let c = configuration
        switch c.optimizer {
        case "adamw": return AdamW(parameters, learningRate: c.learningRate, weightDecay: c.weightDecay)
        case "sgd": return SGD(parameters, learningRate: c.learningRate, momentum: 0.9, weightDecay: c.weightDecay)
        case "rmsprop": return RMSprop(parameters, learningRate: c.learningRate, weightDecay: c.weightDecay)
        default: return Adam(parameters, learningRate: c.learningRate, weightDecay: c.weightDecay)
        }
    }

    func makeScheduler(_ optimizer: Optimizer, monitorsLoss: Bool) -> (any LearningRateScheduler)? {
        let epochs = configuration.epochs
        switch configuration.scheduler {
        case "multistep": return MultiStepLR(optimizer: optimizer, milestones: [epochs / 2, epochs * 3 / 4].filter { $0 > 0 }, gamma: 0.1)
        case "cosine": return CosineAnnealingLR(optimizer: optimizer, tMax: epochs)
        case "plateau": return ReduceLROnPlateau(optimizer: optimizer, mode: monitorsLoss ? .min : .max, factor: 0.1, patience: 2)
        default: return nil
        }
    }

    /// Class weights N / (K · n_k) from the training labels (PyTorch's "balanced" heuristic), so
    /// each class contributes equally to the loss however rare it is.
    func balancedClassWeights(_ data: PreparedData) throws -> Tensor {
        guard let classes = data.task.classCount else {
            throw ConfigurationError(key: "class_weights", message: "balanced class weights need a class-index task, not \(data.task)")
        }
        var counts = [Int](repeating: 0, count: classes)
        for index in 0..<data.train.count {
            guard let label = try data.train.example(at: index).label?.scalars.first, label >= 0, label < classes else { continue }
            counts[label] += 1
        }
        let total = Float(counts.reduce(0, +))
        return Tensor(counts.map { $0 > 0 ? total / (Float(classes) * Float($0)) : 0 }, shape: [classes])
    }

    func augmentation(for data: PreparedData) -> (any Transform)? {
        guard data.isImage, configuration.augment != "none" else { return nil }
        let size = data.inputShape[1]
        // The fill value is the normalized black level, so padding looks like the image border.
        let fill: Float = configuration.normalization == "medmnist" ? -1 : 0
        var transforms: [any Transform] = [RandomCrop(height: size, width: size, padding: 2, fill: fill), RandomHorizontalFlip()]
        if configuration.augment == "standard" {
            transforms.append(RandomAffine(degrees: 10, scale: 0.95...1.05, fill: fill))
        }
        return Compose(transforms)
    }

    /// Runs (or, with `resume`, continues) the training and writes the run folder. Initial weights
    /// and dropout draw from a generator of the run's own (seeded from the configuration), so runs
    /// on other threads cannot change this one's bits.
    @discardableResult
    public func execute(resume: Bool = false) throws -> RunResult {
        try Generator.withDefault(Generator(seed: configuration.seed)) { try executeSeeded(resume: resume) }
    }

    private func executeSeeded(resume: Bool) throws -> RunResult {
        let started = Date()
        try configuration.validate()
        if let threads = configuration.threads { Threads.count = threads }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let data = try PreparedData.load(configuration)
        let model = try Self.makeModel(configuration.model, data: data)
        let trainLoader = DataLoader(data.train, batchSize: configuration.batchSize, shuffle: true, transform: augmentation(for: data),
                                     workers: configuration.workers, seed: configuration.seed)
        let validationLoader = DataLoader(data.validation, batchSize: 256, workers: configuration.workers)
        let testLoader = DataLoader(data.test, batchSize: 256, workers: configuration.workers)
        let optimizer = makeOptimizer(model.parameters())
        let isRegression: Bool = { if case .regression = data.task { return true } else { return false } }()
        let scheduler = makeScheduler(optimizer, monitorsLoss: isRegression)
        let trainer = Trainer(model: model, optimizer: optimizer, scheduler: scheduler, task: data.task,
                              monitor: isRegression ? .validationLoss : .auc, directory: directory)
        trainer.earlyStoppingPatience = configuration.earlyStopping
        trainer.gradientClipNorm = configuration.gradientClip.map { Float($0) }
        if configuration.classWeights == "balanced" { trainer.classWeights = try balancedClassWeights(data) }
        if let bptt = configuration.bptt {
            for case let (_, rnn as RecurrentNetwork) in model.namedModules() { rnn.truncation = bptt }
        }
        trainer.onEvent = onEvent
        try writeConfig(data: data, model: model)
        if resume { try trainer.resume(from: directory) }
        try trainer.fit(train: trainLoader, validation: validationLoader, epochs: configuration.epochs)
        try writeHistory(trainer.state.history)

        try trainer.restoreBestWeights()
        let test = try trainer.predict(testLoader)
        let validation = try trainer.predict(validationLoader)
        let evaluation = EvaluationReport(predictions: test, validation: validation, replicates: configuration.bootstrap,
                                          seed: configuration.seed)
        try writeFileAtomically(try evaluation.json(), toPath: directory + "/metrics.json")
        try writePredictions(test)
        let report = RunReport(run: description(data: data, model: model), history: trainer.state.history,
                               evaluation: evaluation, predictions: test, images: try sampleImages(data: data, predictions: test),
                               seed: configuration.seed)
        try writeFileAtomically(Data(report.html().utf8), toPath: directory + "/report.html")
        try writeFileAtomically(Data(report.modelCard().utf8), toPath: directory + "/model-card.md")
        return RunResult(directory: directory, evaluation: evaluation, state: trainer.state, seconds: Date().timeIntervalSince(started))
    }

    func description(data: PreparedData, model: any Layer) -> RunDescription {
        let c = configuration
        var settings: [(String, String)] = [
            ("model", "\(c.model), \(model.parameterCount()) parameters"),
            ("optimizer", "\(c.optimizer), lr \(c.learningRate), weight decay \(c.weightDecay)"),
            ("schedule", c.scheduler), ("epochs", "\(c.epochs)"), ("batch size", "\(c.batchSize)"),
            ("augmentation", data.isImage ? c.augment : "none (not images)"),
            ("normalization", !data.isImage ? "the dataset's own (see Data above)"
                : c.normalization == "medmnist" ? "pixel/255, mean 0.5, std 0.5" : "pixel/255"),
            ("seed", "\(c.seed)"), ("threads", "\(Threads.count)"),
        ]
        settings.append(("machine", machineDescription()))
        let examples = switch data.sequence {
        case .signal?: "signal windows"
        case .tokens?: "sequences"
        case nil: data.isImage ? "images" : "records"
        }
        return RunDescription(title: "\(c.model) on \(data.name)", dataset: data.name, datasetDetails: data.description,
                              model: c.model, task: data.task, classNames: data.classNames, settings: settings,
                              examples: examples)
    }

    /// config.json: the training configuration (which `--config` and `--resume` read back), plus
    /// under "run" what this run observed: versions, machine, threads, task, data.
    func writeConfig(data: PreparedData, model: any Layer) throws {
        var object = try JSONSerialization.jsonObject(with: configuration.json()) as! [String: Any]
        object["run"] = [
            "galen_version": galenVersion, "machine": machineDescription(), "threads_used": Threads.count,
            "task": data.task.description, "parameters": model.parameterCount(), "dataset": data.description,
        ] as [String: Any]
        let bytes = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        try writeFileAtomically(bytes, toPath: directory + "/config.json")
    }

    /// metrics.jsonl: one JSON object per epoch.
    func writeHistory(_ history: [EpochRecord]) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var out = Data()
        for record in history {
            out += try encoder.encode(record)
            out += Data("\n".utf8)
        }
        try writeFileAtomically(out, toPath: directory + "/metrics.jsonl")
    }

    /// predictions.csv: `index,label,prob_0,…,prob_{K-1}` per test example in dataset order.
    func writePredictions(_ predictions: Predictions) throws {
        let width = predictions.probabilities.first?.count ?? 0
        var lines = ["index,label," + (0..<width).map { "prob_\($0)" }.joined(separator: ",")]
        let order = predictions.indices.enumerated().sorted { $0.element < $1.element }.map(\.offset)
        for row in order {
            let label: String
            if let labels = predictions.labels { label = String(labels[row]) } else if let targets = predictions.targets {
                label = targets[row].map { "\($0)" }.joined(separator: ";")
            } else { label = "" }
            lines.append("\(predictions.indices[row]),\(label)," + predictions.probabilities[row].map { "\($0)" }.joined(separator: ","))
        }
        try writeFileAtomically(Data((lines.joined(separator: "\n") + "\n").utf8), toPath: directory + "/predictions.csv")
    }

    /// Up to 24 test images for the report's grid: up to 12 mistakes, then correct calls taken
    /// from each true class in turn, so a rare class is shown too.
    func sampleImages(data: PreparedData, predictions: Predictions) throws -> [ReportImage] {
        guard data.isImage, let labels = predictions.labels else { return [] }
        let predicted = predictions.predictedClasses
        let wrong = predictions.indices.indices.filter { predicted[$0] != labels[$0] }
        var rightByClass = Dictionary(grouping: predictions.indices.indices.filter { predicted[$0] == labels[$0] }) { labels[$0] }
            .mapValues { ArraySlice($0) }
        var chosen = Array(wrong.prefix(12))
        while chosen.count < 24, rightByClass.values.contains(where: { !$0.isEmpty }) {
            for k in rightByClass.keys.sorted() where chosen.count < 24 {
                if let row = rightByClass[k]?.popFirst() { chosen.append(row) }
            }
        }
        let mean: Float = configuration.normalization == "medmnist" ? 0.5 : 0
        let std: Float = configuration.normalization == "medmnist" ? 0.5 : 1
        func name(_ k: Int) -> String { k < data.classNames.count ? data.classNames[k] : "\(k)" }
        return try chosen.map { row in
            let example = try data.test.example(at: predictions.indices[row])
            let p = predictions.probabilities[row][predicted[row]]
            return ReportImage(tensor: example.input, mean: mean, std: std, scale: 3,
                               caption: "\(name(labels[row])) → \(name(predicted[row])) (\(String(format: "%.2f", p)))",
                               correct: predicted[row] == labels[row])
        }
    }
}

/// Galen's version, written into every run folder.
public let galenVersion = "0.1.0"

/// CPU model, core count and memory, for reproducibility notes.
public func machineDescription() -> String {
    var cpu = "unknown CPU"
    if let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
       let line = info.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
       let colon = line.firstIndex(of: ":") {
        cpu = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    let memory = Double(ProcessInfo.processInfo.physicalMemory) / Double(1 << 30)
    return "\(cpu), \(ProcessInfo.processInfo.activeProcessorCount) cores, \(String(format: "%.0f", memory)) GiB, BLAS core \(BLAS.coreName)"
}

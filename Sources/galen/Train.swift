#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Foundation
import Galen
import GalenData
import GalenNN
import GalenTrain

/// `galen train`: the main job. Flags and a config file are two spellings of one
/// `TrainingConfiguration`; flags given on the command line override the file.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model, evaluate it on the test split and write a run folder with a report.",
        discussion: """
        Writes DIR/config.json, metrics.jsonl (per epoch), metrics.json (test metrics with 95% CIs), predictions.csv, \
        model.safetensors (best weights), checkpoint/ (for --resume), report.html and model-card.md.
        Example: galen train --data pneumoniamnist --model lenet --epochs 10 --output runs/pneumonia
        """)

    @Option(help: "Dataset name (\(PreparedData.knownNames.prefix(4).joined(separator: ", ")), …, \((PreparedData.bundledTables + PreparedData.bundledSequences).joined(separator: ", "))) or a path to a MedMNIST .npz or a .csv.")
    var data: String?
    @Option(help: "Column to predict, for CSV data.") var target: String?
    @Option(help: "Model: \(ModelZoo.names.joined(separator: ", ")) for images; \(ModelZoo.sequenceNames.joined(separator: ", ")) for signals and sequences.") var model: String?
    @Option(help: "Passes over the training data.") var epochs: Int?
    @Option(help: "Examples per step.") var batchSize: Int?
    @Option(help: "Learning rate.") var lr: Double?
    @Option(help: "\(TrainingConfiguration.optimizers.joined(separator: "|"))") var optimizer: String?
    @Option(help: "\(TrainingConfiguration.schedulers.joined(separator: "|"))") var scheduler: String?
    @Option(help: "Weight decay (L2 for adam/sgd/rmsprop, decoupled for adamw).") var weightDecay: Double?
    @Option(help: "Augmentation: \(TrainingConfiguration.augmentations.joined(separator: "|")).") var augment: String?
    @Option(help: "Seed for weights, data order and augmentation.") var seed: UInt64?
    @Option(help: "Kernel and BLAS threads (default: all cores).") var threads: Int?
    @Option(help: "Stop after N epochs without a better validation metric.") var earlyStopping: Int?
    @Option(help: "Background data-loading threads.") var workers: Int?
    @Option(help: "Image scaling: medmnist (pixel/255, mean 0.5, std 0.5) or unit (pixel/255).") var normalization: String?
    @Option(help: "Bootstrap resamples for the confidence intervals.") var bootstrap: Int?
    @Option(help: "Class weights of the loss: \(TrainingConfiguration.classWeightings.joined(separator: "|")) (balanced: N / (K · n_k)).") var classWeights: String?
    @Option(help: "Clip the global gradient norm to this value.") var gradClip: Double?
    @Option(help: "Truncated backpropagation through time: at most this many steps (recurrent models).") var bptt: Int?
    @Option(help: "Run folder (default: runs/<data>-<model>-<time>).") var output: String?
    @Option(help: "Continue the interrupted run in this folder, with its config.json.") var resume: String?
    @Option(help: "Config file (JSON or flat YAML) with the same keys as config.json.") var config: String?
    @Flag(help: "Print only the final summary.") var quiet = false

    func run() throws {
        try reportingErrors {
            var configuration: TrainingConfiguration
            if let resume {
                configuration = try TrainingConfiguration.read(contentsOf: resume + "/config.json")
            } else if let config {
                configuration = try TrainingConfiguration.read(contentsOf: config)
            } else {
                guard let data else { throw CommandFailure("--data is required (a dataset name or a file); see galen train --help") }
                configuration = TrainingConfiguration(data: data)
            }
            if resume == nil { apply(to: &configuration) }
            try configuration.validate()
            let directory = resume ?? output ?? defaultDirectory(configuration)
            let run = TrainingRun(configuration: configuration, directory: directory)
            let progress = TrainingProgress(quiet: quiet)
            run.onEvent = { progress.handle($0) }
            if !quiet {
                printToStandardError("galen train: \(configuration.model) on \(configuration.data), \(configuration.epochs) epochs, run folder \(directory)")
            }
            let result = try run.execute(resume: resume != nil)
            progress.finish()
            let e = result.evaluation
            print("test: " + ["auc", "accuracy", "rmse", "r2"].compactMap { name in e.formatted(name).map { "\(metricTitle(name)) \($0)" } }
                .joined(separator: ", "))
            print("report: \(result.reportPath)")
            print(String(format: "time: %.0f s", result.seconds))
        }
    }

    /// Flags given on the command line override the file's values.
    func apply(to c: inout TrainingConfiguration) {
        if let data { c.data = data }
        if let target { c.target = target }
        if let model { c.model = model }
        if let epochs { c.epochs = epochs }
        if let batchSize { c.batchSize = batchSize }
        if let lr { c.learningRate = lr }
        if let optimizer { c.optimizer = optimizer }
        if let scheduler { c.scheduler = scheduler }
        if let weightDecay { c.weightDecay = weightDecay }
        if let augment { c.augment = augment }
        if let seed { c.seed = seed }
        if let threads { c.threads = threads }
        if let earlyStopping { c.earlyStopping = earlyStopping }
        if let workers { c.workers = workers }
        if let normalization { c.normalization = normalization }
        if let bootstrap { c.bootstrap = bootstrap }
        if let classWeights { c.classWeights = classWeights }
        if let gradClip { c.gradientClip = gradClip }
        if let bptt { c.bptt = bptt }
    }

    func defaultDirectory(_ c: TrainingConfiguration) -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        let name = ((c.data as NSString).lastPathComponent as NSString).deletingPathExtension
        return "runs/\(name)-\(c.model)-\(formatter.string(from: Date()))"
    }
}

/// Training progress on stderr: a bar redrawn in place on a terminal (epoch, step, loss,
/// examples/s, ETA), one line per epoch otherwise; nothing with --quiet.
final class TrainingProgress {
    let quiet: Bool
    let isTerminal = isatty(STDERR_FILENO) != 0
    var lastDraw = Date.distantPast
    var epochStarted = Date()

    init(quiet: Bool) { self.quiet = quiet }

    func handle(_ event: TrainingEvent) {
        guard !quiet else { return }
        switch event {
        case .epochStarted:
            epochStarted = Date()
        case .step(let epoch, let step, let steps, let loss, let rate):
            guard isTerminal, Date().timeIntervalSince(lastDraw) > 0.1 || step == steps else { return }
            lastDraw = Date()
            let width = 24
            let filled = steps > 0 ? width * step / steps : 0
            let elapsed = Date().timeIntervalSince(epochStarted)
            let eta = step > 0 ? elapsed / Double(step) * Double(steps - step) : 0
            let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
            let line = String(format: "epoch %d %@ %d/%d  loss %.4f  %.0f ex/s  ETA %.0fs", epoch, bar, step, steps, loss, rate, eta)
            FileHandle.standardError.write(Data(("\r\u{1B}[2K" + line).utf8))
        case .epochFinished(let r, let isBest):
            if isTerminal { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }
            var line = String(format: "epoch %3d  loss %.4f", r.epoch, r.trainLoss)
            if let v = r.validationLoss { line += String(format: "  val loss %.4f", v) }
            for name in ["auc", "accuracy", "rmse"] { if let v = r.validation[name] { line += String(format: "  val %@ %.4f", name, v) } }
            line += String(format: "  lr %.2g  %.1f s", r.learningRate, r.seconds) + (isBest ? "  *best" : "")
            printToStandardError(line)
        case .stopped(let reason):
            printToStandardError("stopped: \(reason)")
        }
    }

    func finish() {}
}

/// `galen evaluate`: score given weights on one split.
struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a model's weights (Galen's or PyTorch's safetensors) on a split; writes metrics.json, predictions.csv and report.html.")

    @Option(help: "Model: \(ModelZoo.allNames.joined(separator: ", ")).") var model: String
    @Option(help: "Weights file (.safetensors) with the model's state-dict names.") var weights: String
    @Option(help: "Dataset name or path, as for galen train.") var data: String
    @Option(help: "Column to predict, for CSV data.") var target: String?
    @Option(help: "train, val or test.") var split = "test"
    @Option(help: "Output folder.") var output: String
    @Option(help: "Image scaling: medmnist or unit.") var normalization = "medmnist"
    @Option(help: "Bootstrap resamples for the confidence intervals.") var bootstrap = 1000
    @Option(help: "Seed for the bootstrap and for the split (and vocabulary) of CSV, peptide and SMILES data: use the training run's seed.") var seed: UInt64 = 0

    func run() throws {
        try reportingErrors {
            var evaluation = EvaluationRun(data: data, target: target, model: model, weights: weights, split: split, directory: output)
            evaluation.normalization = normalization
            evaluation.bootstrap = bootstrap
            evaluation.seed = seed
            let report = try evaluation.execute()
            for name in report.names { print("\(metricTitle(name)): \(report.formatted(name) ?? "n/a")") }
            print("report: \(output)/report.html")
        }
    }
}

/// `galen predict`: class probabilities for image files.
struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print class probabilities of a trained model for PNG, TIFF, DICOM (every frame) or NIfTI (a slice) files.",
        discussion: "Example: galen predict --model lenet --weights runs/x/model.safetensors --data pneumoniamnist --input chest.dcm")

    @Option(help: "Model: \(ModelZoo.names.joined(separator: ", ")).") var model: String
    @Option(help: "Weights file (.safetensors).") var weights: String
    @Option(help: "The MedMNIST dataset the model was trained on (gives channels, classes and their names).") var data: String?
    @Option(help: "Number of classes (without --data).") var classes: Int?
    @Option(help: "Input channels (without --data).") var channels: Int?
    @Option(help: "Side of the square model input.") var imageSize = 28
    @Option(help: "Image scaling used in training: medmnist or unit.") var normalization = "medmnist"
    @Option(help: "NIfTI slice (default: the middle one).") var slice: Int?
    @Option(parsing: .upToNextOption, help: "Image files.") var input: [String]

    func run() throws {
        try reportingErrors {
            guard !input.isEmpty else { throw CommandFailure("--input needs at least one file") }
            var task: TrainingTask
            var names: [String]
            var inChannels: Int
            if let data {
                guard let info = MedMNISTInfo.named(data) else {
                    throw CommandFailure("--data: unknown MedMNIST dataset '\(data)'; known: \(MedMNISTInfo.catalog.map(\.flag).joined(separator: ", "))")
                }
                task = TrainingTask(medMNIST: info)
                names = info.labelNames
                inChannels = info.channels
            } else {
                guard let classes, classes >= 2, let channels, channels >= 1 else {
                    throw CommandFailure("give --data NAME, or --classes K (≥ 2) and --channels C")
                }
                task = classes == 2 ? .binary : .multiClass(classes: classes)
                names = (0..<classes).map { "class \($0)" }
                inChannels = channels
            }
            let network: any Layer
            do {
                network = try ModelZoo.make(name: model, inChannels: inChannels, classes: task.outputCount, imageSize: imageSize)
            } catch {
                throw CommandFailure("--model: \(error); known: \(ModelZoo.names.joined(separator: ", "))")
            }
            try network.load(contentsOf: weights)
            let predictor = Predictor(model: network, task: task, channels: inChannels, imageSize: imageSize, normalization: normalization)
            for file in input {
                for p in try predictor.predict(file: file, slice: slice) {
                    let scores = zip(names, p.probabilities).map { String(format: "%@ %.3f", $0, $1) }.joined(separator: "  ")
                    print("\(file) (\(p.part)): \(scores)")
                }
            }
        }
    }
}

import Foundation
import Galen
import GalenData
import GalenNN
import GalenOptim

/// One finished epoch, as written to `metrics.jsonl`.
public struct EpochRecord: Codable, Sendable, Equatable {
    /// 1-based epoch number.
    public var epoch: Int
    /// Mean training loss over the epoch's examples.
    public var trainLoss: Double
    /// Mean validation loss, when there is validation data.
    public var validationLoss: Double?
    /// Validation metrics by name (`auc`, `accuracy`, ...).
    public var validation: [String: Double]
    /// Learning rate of the first parameter group during the epoch.
    public var learningRate: Double
    /// Wall-clock seconds of training and validation.
    public var seconds: Double

    enum CodingKeys: String, CodingKey {
        case epoch, seconds, validation
        case trainLoss = "train_loss", validationLoss = "val_loss", learningRate = "lr"
    }
}

/// Everything besides the model and optimizer tensors that a resumed run needs to continue
/// exactly where it stopped.
public struct TrainerState: Codable, Sendable, Equatable {
    public var completedEpochs = 0
    public var globalStep = 0
    public var bestMetric: Double?
    public var bestEpoch: Int?
    public var epochsWithoutImprovement = 0
    public var stopReason: String?
    public var history: [EpochRecord] = []
    /// States of `Trainer.generators` at the end of the last completed epoch (dropout draws).
    public var generatorStates: [[UInt64]] = []
    /// The LR schedule's progress.
    public var schedulerName: String?
    public var schedulerValues: [String: [Double]]?

    public init() {}
}

/// The validation metric that picks the best checkpoint and drives early stopping.
public struct Monitor: Sendable, Equatable, Codable {
    public var metric: String
    public var higherIsBetter: Bool
    public init(metric: String, higherIsBetter: Bool) {
        self.metric = metric
        self.higherIsBetter = higherIsBetter
    }
    public static let auc = Monitor(metric: "auc", higherIsBetter: true)
    public static let validationLoss = Monitor(metric: "loss", higherIsBetter: false)
}

/// What a trainer reports while it runs; the command line draws progress from these.
public enum TrainingEvent: Sendable {
    case epochStarted(epoch: Int, of: Int, steps: Int)
    case step(epoch: Int, step: Int, of: Int, loss: Double, examplesPerSecond: Double)
    case epochFinished(EpochRecord, isBest: Bool)
    case stopped(reason: String)
}

/// Training stopped for a reason the caller must see.
public enum TrainingError: Error, CustomStringConvertible, Equatable, LocalizedError {
    /// The loss became NaN or infinite; the model is left as it was after the previous step's
    /// update, and the step is named so it can be reproduced.
    case nonFiniteLoss(epoch: Int, step: Int, globalStep: Int, value: Double)
    case checkpoint(path: String, message: String)

    public var description: String {
        switch self {
        case .nonFiniteLoss(let epoch, let step, let globalStep, let value):
            return "the training loss became \(value) at epoch \(epoch), step \(step) (global step \(globalStep)); "
                + "lower the learning rate or enable gradient clipping"
        case .checkpoint(let path, let message): return "\(path): \(message)"
        }
    }

    public var errorDescription: String? { description }
}

/// Runs epochs of training and validation with best-checkpoint selection, early stopping, an
/// epoch-wise LR schedule, a NaN/Inf guard, and crash-safe checkpoints that resume bit for bit.
///
/// Reproducibility: the data order and augmentation come from the loaders' seeds and the epoch
/// number; dropout draws from the generators in `generators`, whose states are saved at every
/// epoch end. With
/// the same seed and thread count a resumed run therefore repeats the interrupted epoch exactly
/// and ends with the same weights as a run that was never interrupted.
public final class Trainer {
    public let model: any Layer
    public let optimizer: Optimizer
    public let scheduler: (any LearningRateScheduler)?
    public let task: TrainingTask
    public var monitor: Monitor
    /// Stop after this many epochs without improvement of the monitored metric.
    public var earlyStoppingPatience: Int?
    /// Clip the global gradient norm to this value before each step.
    public var gradientClipNorm: Float?
    /// Per-class weights of the cross-entropy (class-index tasks), e.g. for rare classes.
    public var classWeights: Tensor?
    /// Where `model.safetensors` (best weights) and the resumable `checkpoint/` go; nil keeps
    /// everything in memory.
    public var directory: String?
    /// Called on the training thread with progress.
    public var onEvent: ((TrainingEvent) -> Void)?
    /// Computes validation metrics from predictions (the task's default set when nil).
    public var validationMetrics: (Predictions) -> [String: Double]

    public private(set) var state = TrainerState()
    /// The random generators training draws from, saved in checkpoints: `Generator.default` and
    /// any other generator a layer of the model draws from (`DrawsRandomNumbers`).
    public let generators: [Generator]
    /// The best weights seen, when `directory` is nil.
    public private(set) var bestWeights: [String: Tensor]?

    public init(model: any Layer, optimizer: Optimizer, scheduler: (any LearningRateScheduler)? = nil,
                task: TrainingTask, monitor: Monitor = .auc, directory: String? = nil) {
        self.model = model
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.task = task
        self.monitor = monitor
        self.directory = directory
        self.validationMetrics = { predictions in predictions.summaryMetrics() }
        var generators = [Generator.default]
        for (_, module) in model.namedModules() {
            let held = (module as? DrawsRandomNumbers)?.generator
            if let held, !generators.contains(where: { $0 === held }) { generators.append(held) }
        }
        self.generators = generators
    }

    /// Trains until `epochs` epochs are complete in total (a resumed trainer continues from its
    /// completed count), early stopping fires, or the loss stops being finite (thrown).
    @discardableResult
    public func fit<T: Dataset, V: Dataset>(train: DataLoader<T>, validation: DataLoader<V>?, epochs: Int) throws -> TrainerState {
        check(epochs > 0, "Trainer.fit: epochs must be positive, got \(epochs)")
        while state.completedEpochs < epochs && state.stopReason == nil {
            let epoch = state.completedEpochs + 1
            let started = Date()
            let trainLoss = try trainEpoch(train, epoch: epoch, of: epochs)
            var record = EpochRecord(epoch: epoch, trainLoss: trainLoss, validationLoss: nil, validation: [:],
                                     learningRate: optimizer.parameterGroups.first?.learningRate ?? 0, seconds: 0)
            if let validation {
                let predictions = try predict(validation)
                record.validationLoss = predictions.meanLoss
                record.validation = validationMetrics(predictions)
                if let loss = predictions.meanLoss { record.validation["loss"] = loss }
            }
            stepScheduler(metric: record.validation[monitor.metric])
            record.seconds = Date().timeIntervalSince(started)

            // Without validation data the training loss is monitored (lower is better).
            let monitored = validation == nil ? trainLoss : record.validation[monitor.metric]
            let higherIsBetter = validation == nil ? false : monitor.higherIsBetter
            let isBest = monitored.map { value in
                value.isFinite && (state.bestMetric.map { higherIsBetter ? value > $0 : value < $0 } ?? true)
            } ?? false
            if isBest {
                state.bestMetric = monitored
                state.bestEpoch = epoch
                state.epochsWithoutImprovement = 0
                try saveBestWeights()
            } else {
                state.epochsWithoutImprovement += 1
            }
            state.completedEpochs = epoch
            state.history.append(record)
            if let patience = earlyStoppingPatience, state.epochsWithoutImprovement >= patience {
                state.stopReason = "early stopping: no improvement of validation \(monitor.metric) for \(patience) epochs"
            }
            state.generatorStates = generators.map(\.stateWords)
            if let scheduler {
                let saved = scheduler.stateDict()
                state.schedulerName = saved.scheduler
                state.schedulerValues = saved.values
            }
            try saveCheckpoint()
            onEvent?(.epochFinished(record, isBest: isBest))
            if let reason = state.stopReason { onEvent?(.stopped(reason: reason)) }
        }
        return state
    }

    private func trainEpoch<T: Dataset>(_ loader: DataLoader<T>, epoch: Int, of epochs: Int) throws -> Double {
        model.train()
        let batches = loader.epoch(epoch - 1)
        defer { batches.close() }
        onEvent?(.epochStarted(epoch: epoch, of: epochs, steps: batches.batchCount))
        var lossSum = 0.0, examples = 0, step = 0
        let started = Date()
        while let batch = try batches.next() {
            step += 1
            state.globalStep += 1
            let outputs = model(batch.input)
            let loss = task.loss(outputs: outputs, batch: batch, classWeights: classWeights)
            let value = Double(loss.item)
            guard value.isFinite else {
                throw TrainingError.nonFiniteLoss(epoch: epoch, step: step, globalStep: state.globalStep, value: value)
            }
            optimizer.zeroGrad()
            loss.backward()
            if let gradientClipNorm { clipGradNorm(model.parameters(), maxNorm: gradientClipNorm) }
            optimizer.step()
            lossSum += value * Double(batch.count)
            examples += batch.count
            let elapsed = Date().timeIntervalSince(started)
            onEvent?(.step(epoch: epoch, step: step, of: batches.batchCount, loss: lossSum / Double(examples),
                           examplesPerSecond: elapsed > 0 ? Double(examples) / elapsed : 0))
        }
        return examples > 0 ? lossSum / Double(examples) : .nan
    }

    private func stepScheduler(metric: Double?) {
        guard let scheduler else { return }
        if let plateau = scheduler as? ReduceLROnPlateau {
            if let metric { plateau.step(metric: metric) }
        } else if let schedule = scheduler as? LRScheduler {
            schedule.step()
        }
    }

    /// The model's probabilities (and loss) on every example of `loader`, in loader order, with
    /// the model in evaluation mode and no autograd graph.
    public func predict<V: Dataset>(_ loader: DataLoader<V>) throws -> Predictions {
        try Predictions(model: model, task: task, loader: loader)
    }

    // MARK: Checkpoints

    private func saveBestWeights() throws {
        if let directory {
            try model.save(to: directory + "/model.safetensors", metadata: ["epoch": String(state.bestEpoch ?? 0)])
        } else {
            bestWeights = Dictionary(uniqueKeysWithValues: model.stateDict().map { ($0.key, $0.value.copy()) })
        }
    }

    /// Loads the best weights seen into the model (from `directory` or memory).
    public func restoreBestWeights() throws {
        if let directory {
            try model.load(contentsOf: directory + "/model.safetensors")
        } else if let bestWeights {
            try model.load(stateDict: bestWeights)
        }
    }

    /// Writes `checkpoint/` (last weights, optimizer state, trainer state) crash-safely: every file
    /// is written under a new epoch-numbered name and `checkpoint/latest` is switched to it last,
    /// by an atomic rename, so a kill at any instant leaves a complete earlier or later checkpoint.
    private func saveCheckpoint() throws {
        guard let directory else { return }
        let root = directory + "/checkpoint"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let tag = String(format: "epoch-%04d", state.completedEpochs)
        let (optimizerTensors, optimizerMetadata) = optimizer.stateDict().flattened(prefix: "optimizer.")
        var file = model.stateTensors()
        for (name, tensor) in optimizerTensors.sorted(by: { $0.key < $1.key }) { file[name] = SafeTensor(tensor) }
        file.metadata.merge(optimizerMetadata) { _, new in new }
        try file.write(to: "\(root)/\(tag).safetensors")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try writeFileAtomically(try encoder.encode(state), toPath: "\(root)/\(tag).json")
        try writeFileAtomically(Data((tag + "\n").utf8), toPath: "\(root)/latest")
        // Older checkpoints are no longer needed once `latest` names the new one.
        for name in (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        where name.hasPrefix("epoch-") && !name.hasPrefix(tag + ".") {
            try? FileManager.default.removeItem(atPath: "\(root)/\(name)")
        }
    }

    /// Restores model, optimizer, schedule, RNG and trainer state from `directory/checkpoint`.
    public func resume(from directory: String) throws {
        let root = directory + "/checkpoint"
        guard let latest = try? String(contentsOfFile: root + "/latest", encoding: .utf8) else {
            throw TrainingError.checkpoint(path: root + "/latest", message: "no checkpoint to resume from (the run finished no epoch?)")
        }
        let tag = latest.trimmingCharacters(in: .whitespacesAndNewlines)
        let tensorsPath = "\(root)/\(tag).safetensors"
        let file = try SafeTensors(contentsOf: tensorsPath)
        var modelFile = SafeTensors(metadata: file.metadata, source: tensorsPath)
        var optimizerTensors: [String: Tensor] = [:]
        for name in file.names {
            if name.hasPrefix("optimizer.") {
                optimizerTensors[name] = try file.floatTensor(named: name)
            } else {
                modelFile[name] = file[name]
            }
        }
        try model.load(safeTensors: modelFile)
        do {
            try optimizer.load(stateDict: OptimizerStateDict(tensors: optimizerTensors, metadata: file.metadata, prefix: "optimizer."))
        } catch {
            throw TrainingError.checkpoint(path: tensorsPath, message: "optimizer state: \(error)")
        }
        let statePath = "\(root)/\(tag).json"
        let restored: TrainerState
        do {
            restored = try JSONDecoder().decode(TrainerState.self, from: readWholeFile(atPath: statePath))
        } catch {
            throw TrainingError.checkpoint(path: statePath, message: "\(error)")
        }
        if let scheduler, let name = restored.schedulerName, let values = restored.schedulerValues {
            try scheduler.load(stateDict: SchedulerStateDict(scheduler: name, values: values))
        }
        guard restored.generatorStates.count == generators.count, restored.generatorStates.allSatisfy({ $0.count == 4 }) else {
            throw TrainingError.checkpoint(path: statePath, message:
                "holds \(restored.generatorStates.count) random generator states, the model uses \(generators.count): not the same model")
        }
        for (generator, words) in zip(generators, restored.generatorStates) { generator.stateWords = words }
        state = restored
        self.directory = directory
    }
}

import Foundation
import Galen
import GalenData
import GalenNN
import GalenOptim
@testable import GalenTrain
import Testing

/// Two Gaussian blobs in 8 dimensions, overlapping enough that the AUC stays below 1.
struct Blobs: Dataset {
    let inputs: [[Float]]
    let labels: [Int]
    init(count: Int, seed: UInt64, separation: Float = 1.2) {
        let g = Generator(seed: seed)
        var inputs: [[Float]] = [], labels: [Int] = []
        for i in 0..<count {
            let y = i % 2
            inputs.append((0..<8).map { d in
                let u1 = max(g.nextFloat(), 1e-7), u2 = g.nextFloat()
                let normal = (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
                return normal + (y == 1 && d < 2 ? separation : 0)
            })
            labels.append(y)
        }
        self.inputs = inputs
        self.labels = labels
    }
    var count: Int { labels.count }
    func example(at index: Int, generator: Generator) throws -> Example {
        Example(input: Tensor(inputs[index], shape: [8]), label: IntTensor([labels[index]], shape: [1]))
    }
}

private func temporaryDirectory() -> String {
    let path = NSTemporaryDirectory() + "galen-trainer-\(UInt64.random(in: 0...UInt64.max))"
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// A trainer for `Blobs` with dropout (so random state matters) and a step schedule (so the
/// scheduler state matters). Weights and dropout draw from generators of their own, so tests that
/// reseed the process-wide generator in parallel cannot disturb these runs.
private func makeTrainer(seed: UInt64, directory: String?, learningRate: Double = 0.01) -> Trainer {
    let dropoutGenerator = Generator(seed: seed &+ 1000)
    let model = Sequential(Linear(8, 16), ReLU(), Dropout(p: 0.2, generator: dropoutGenerator), Linear(16, 2))
    let weights = Generator(seed: seed)
    for parameter in model.parameters() {
        parameter.assign(Tensor.randn(parameter.shape, std: 0.3, generator: weights))
    }
    let optimizer = Adam(model.parameters(), learningRate: learningRate)
    let schedule = MultiStepLR(optimizer: optimizer, milestones: [2, 3], gamma: 0.5)
    return Trainer(model: model, optimizer: optimizer, scheduler: schedule, task: .binary, directory: directory)
}

private let train = Blobs(count: 256, seed: 1), validation = Blobs(count: 128, seed: 2)
private func loaders() -> (DataLoader<Blobs>, DataLoader<Blobs>) {
    (DataLoader(train, batchSize: 32, shuffle: true, seed: 7), DataLoader(validation, batchSize: 64))
}

private func weightBits(_ model: any Layer) -> [String: [UInt32]] {
    Dictionary(uniqueKeysWithValues: model.stateDict().map { ($0.key, $0.value.scalars.map(\.bitPattern)) })
}

@Suite struct TrainerBehaviour {
    @Test func learnsAndKeepsTheBestWeights() throws {
        let trainer = makeTrainer(seed: 3, directory: nil)
        let (trainLoader, validationLoader) = loaders()
        let state = try trainer.fit(train: trainLoader, validation: validationLoader, epochs: 4)
        #expect(state.history.count == 4)
        #expect(state.history.last!.trainLoss < state.history.first!.trainLoss)
        let best = try #require(state.bestMetric)
        #expect(best > 0.75, "validation AUC \(best)")
        #expect(state.history.map { $0.validation["auc"]! }.max() == best)
        // MultiStepLR halves the rate after epochs 2 and 3.
        #expect(state.history.map(\.learningRate) == [0.01, 0.01, 0.005, 0.0025])
        try trainer.restoreBestWeights()
        let auc = try trainer.predict(validationLoader).summaryMetrics()["auc"]!
        #expect(auc == best)
    }

    @Test func earlyStoppingStopsAfterThePatience() throws {
        // A learning rate of zero never improves on the first epoch.
        let trainer = makeTrainer(seed: 3, directory: nil, learningRate: 0)
        trainer.earlyStoppingPatience = 2
        let (trainLoader, validationLoader) = loaders()
        let state = try trainer.fit(train: trainLoader, validation: validationLoader, epochs: 10)
        #expect(state.completedEpochs == 3)
        #expect(state.stopReason?.contains("early stopping") == true)
    }

    @Test func aNonFiniteLossStopsTrainingAndNamesTheStep() throws {
        let trainer = makeTrainer(seed: 3, directory: nil, learningRate: 1e30)
        let (trainLoader, validationLoader) = loaders()
        do {
            try trainer.fit(train: trainLoader, validation: validationLoader, epochs: 3)
            Issue.record("training with a learning rate of 1e30 did not stop")
        } catch let error as TrainingError {
            guard case .nonFiniteLoss(let epoch, let step, _, let value) = error else { Issue.record("\(error)"); return }
            #expect(epoch >= 1 && step >= 1 && !value.isFinite)
            #expect(error.description.contains("step \(step)"))
        }
    }

    @Test func resumingACheckpointEndsWithTheSameBitsAsAnUninterruptedRun() throws {
        let (trainLoader, validationLoader) = loaders()
        let straight = temporaryDirectory(), interrupted = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: straight); try? FileManager.default.removeItem(atPath: interrupted) }
        let reference = makeTrainer(seed: 5, directory: straight)
        try reference.fit(train: trainLoader, validation: validationLoader, epochs: 4)

        let first = makeTrainer(seed: 5, directory: interrupted)
        try first.fit(train: trainLoader, validation: validationLoader, epochs: 2)
        // A new process starts from other weights and generator states.
        let second = makeTrainer(seed: 77, directory: nil)
        try second.resume(from: interrupted)
        #expect(second.state.completedEpochs == 2)
        try second.fit(train: trainLoader, validation: validationLoader, epochs: 4)
        #expect(weightBits(second.model) == weightBits(reference.model))
        // The same epochs, losses and validation metrics (wall-clock seconds aside).
        func timeless(_ history: [EpochRecord]) -> [EpochRecord] { history.map { var r = $0; r.seconds = 0; return r } }
        #expect(timeless(second.state.history) == timeless(reference.state.history))
        // Only the latest checkpoint is kept.
        let files = try FileManager.default.contentsOfDirectory(atPath: interrupted + "/checkpoint").sorted()
        #expect(files == ["epoch-0004.json", "epoch-0004.safetensors", "latest"])
    }

    @Test func resumingWithoutACheckpointIsAClearError() {
        let trainer = makeTrainer(seed: 1, directory: nil)
        let empty = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: empty) }
        #expect(throws: TrainingError.self) { try trainer.resume(from: empty) }
    }
}

import Galen

/// Multiplies the learning rates by `factor` when a monitored metric has stopped improving for
/// more than `patience` steps (PyTorch's `ReduceLROnPlateau`). Call `step(metric:)` with the
/// validation metric after each epoch.
public final class ReduceLROnPlateau: LearningRateScheduler {
    /// Whether lower or higher metrics are better.
    public enum Mode: String, Sendable {
        case min
        case max
    }

    /// How `threshold` defines a significant improvement.
    public enum ThresholdMode: String, Sendable {
        /// Better than best·(1 ∓ threshold).
        case relative = "rel"
        /// Better than best ∓ threshold.
        case absolute = "abs"
    }

    /// The optimizer whose groups' learning rates the schedule lowers.
    public let optimizer: Optimizer
    /// Whether lower or higher metrics are better.
    public let mode: Mode
    /// What a reduction multiplies the learning rates by.
    public let factor: Double
    /// Steps without improvement tolerated before a reduction.
    public let patience: Int
    /// The smallest change that counts as an improvement (see `thresholdMode`).
    public let threshold: Double
    /// Whether `threshold` is relative to the best metric or absolute.
    public let thresholdMode: ThresholdMode
    /// Steps after a reduction during which bad epochs are not counted.
    public let cooldown: Int
    /// Each group's floor.
    public let minLearningRates: [Double]
    /// Reductions smaller than this are skipped.
    public let eps: Double

    /// Each group's learning rate after the latest step.
    public private(set) var learningRates: [Double]
    /// Steps taken.
    public private(set) var lastEpoch = 0
    /// The best metric seen so far.
    public private(set) var best: Double
    /// Steps since the metric last improved significantly.
    public private(set) var numBadEpochs = 0
    /// Steps left before bad epochs count again after a reduction.
    public private(set) var cooldownCounter = 0

    /// A plateau schedule with a separate floor for each group.
    public init(
        optimizer: Optimizer, mode: Mode = .min, factor: Double = 0.1, patience: Int = 10, threshold: Double = 1e-4,
        thresholdMode: ThresholdMode = .relative, cooldown: Int = 0, minLearningRates: [Double], eps: Double = 1e-8
    ) {
        check(factor < 1, "ReduceLROnPlateau: factor must be below 1, got \(factor)")
        check(
            minLearningRates.count == optimizer.parameterGroups.count,
            "ReduceLROnPlateau: \(minLearningRates.count) minLearningRates for \(optimizer.parameterGroups.count) parameter groups")
        self.optimizer = optimizer
        self.mode = mode
        self.factor = factor
        self.patience = patience
        self.threshold = threshold
        self.thresholdMode = thresholdMode
        self.cooldown = cooldown
        self.minLearningRates = minLearningRates
        self.eps = eps
        self.best = mode == .min ? .infinity : -.infinity
        self.learningRates = optimizer.parameterGroups.map(\.learningRate)
    }

    /// A plateau schedule with one floor for every group.
    public convenience init(
        optimizer: Optimizer, mode: Mode = .min, factor: Double = 0.1, patience: Int = 10, threshold: Double = 1e-4,
        thresholdMode: ThresholdMode = .relative, cooldown: Int = 0, minLearningRate: Double = 0, eps: Double = 1e-8
    ) {
        self.init(
            optimizer: optimizer, mode: mode, factor: factor, patience: patience, threshold: threshold,
            thresholdMode: thresholdMode, cooldown: cooldown,
            minLearningRates: Array(repeating: minLearningRate, count: optimizer.parameterGroups.count), eps: eps)
    }

    /// Records this epoch's metric and reduces the learning rates if it has plateaued.
    public func step(metric: Double) {
        lastEpoch += 1
        if isBetter(metric, than: best) {
            best = metric
            numBadEpochs = 0
        } else {
            numBadEpochs += 1
        }
        if cooldownCounter > 0 {
            cooldownCounter -= 1
            numBadEpochs = 0  // bad epochs in cooldown do not count
        }
        if numBadEpochs > patience {
            reduceLearningRates()
            cooldownCounter = cooldown
            numBadEpochs = 0
        }
        learningRates = optimizer.parameterGroups.map(\.learningRate)
    }

    private func reduceLearningRates() {
        check(
            minLearningRates.count == optimizer.parameterGroups.count,
            "ReduceLROnPlateau: the optimizer now has \(optimizer.parameterGroups.count) parameter groups, the schedule \(minLearningRates.count) minLearningRates")
        for index in optimizer.parameterGroups.indices {
            let old = optimizer.parameterGroups[index].learningRate
            let new = Swift.max(old * factor, minLearningRates[index])
            if old - new > eps { optimizer.parameterGroups[index].learningRate = new }
        }
    }

    private func isBetter(_ value: Double, than best: Double) -> Bool {
        switch (mode, thresholdMode) {
        case (.min, .relative): value < best * (1.0 - threshold)
        case (.min, .absolute): value < best - threshold
        case (.max, .relative): value > best * (threshold + 1.0)
        case (.max, .absolute): value > best + threshold
        }
    }

    /// The progress: epoch, best metric, counters and last learning rates.
    public func stateDict() -> SchedulerStateDict {
        SchedulerStateDict(scheduler: "ReduceLROnPlateau", values: [
            "last_epoch": [Double(lastEpoch)], "best": [best], "num_bad_epochs": [Double(numBadEpochs)],
            "cooldown_counter": [Double(cooldownCounter)], "_last_lr": learningRates,
        ])
    }

    /// Restores progress saved by `stateDict()`.
    public func load(stateDict saved: SchedulerStateDict) throws {
        try saved.expect("ReduceLROnPlateau")
        let epoch = try saved.integer("last_epoch")
        let savedBest = try saved.scalar("best")
        let bad = try saved.integer("num_bad_epochs")
        let counter = try saved.integer("cooldown_counter")
        let last = try saved.list("_last_lr", count: optimizer.parameterGroups.count)
        lastEpoch = epoch
        best = savedBest
        numBadEpochs = bad
        cooldownCounter = counter
        learningRates = last
    }
}

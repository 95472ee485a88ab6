import Foundation
import Galen

// The epoch-driven schedules of torch.optim.lr_scheduler, each with PyTorch's formula for step()
// without an epoch argument: the recursive form where PyTorch has one (it scales the group's
// current rate), else the closed form.

/// Multiplies the learning rate by `gamma` every `stepSize` epochs (PyTorch's `StepLR`).
public final class StepLR: LRScheduler {
    /// Epochs between decays.
    public let stepSize: Int
    /// The decay factor.
    public let gamma: Double

    /// Decays every group's rate by `gamma` every `stepSize` epochs.
    public init(optimizer: Optimizer, stepSize: Int, gamma: Double = 0.1) {
        check(stepSize > 0, "StepLR: stepSize must be positive, got \(stepSize)")
        self.stepSize = stepSize
        self.gamma = gamma
        super.init(optimizer: optimizer)
    }

    override public func computeLearningRates() -> [Double] {
        if lastEpoch == 0 || lastEpoch % stepSize != 0 { return currentLearningRates }
        return currentLearningRates.map { $0 * gamma }
    }
}

/// Multiplies the learning rate by `gamma` at each milestone epoch, by gamma^k where a milestone
/// is listed k times (PyTorch's `MultiStepLR`).
public final class MultiStepLR: LRScheduler {
    /// How many times each milestone epoch was listed.
    public let milestones: [Int: Int]
    /// The decay factor.
    public let gamma: Double

    /// Decays every group's rate by `gamma` at each of `milestones`.
    public init(optimizer: Optimizer, milestones: [Int], gamma: Double = 0.1) {
        self.milestones = milestones.reduce(into: [:]) { counts, epoch in counts[epoch, default: 0] += 1 }
        self.gamma = gamma
        super.init(optimizer: optimizer)
    }

    override public func computeLearningRates() -> [Double] {
        guard let repeats = milestones[lastEpoch] else { return currentLearningRates }
        let factor = Foundation.pow(gamma, Double(repeats))
        return currentLearningRates.map { $0 * factor }
    }
}

/// Multiplies the learning rate by `gamma` every epoch (PyTorch's `ExponentialLR`).
public final class ExponentialLR: LRScheduler {
    /// The decay factor.
    public let gamma: Double

    /// Decays every group's rate by `gamma` each epoch.
    public init(optimizer: Optimizer, gamma: Double) {
        self.gamma = gamma
        super.init(optimizer: optimizer)
    }

    override public func computeLearningRates() -> [Double] {
        if isInitialStep { return currentLearningRates }
        return currentLearningRates.map { $0 * gamma }
    }
}

/// Cosine annealing from the initial rate to `etaMin` over `tMax` epochs, then back up, with
/// period 2·tMax (PyTorch's `CosineAnnealingLR`, SGDR without restarts).
public final class CosineAnnealingLR: LRScheduler {
    /// Epochs from the initial rate down to `etaMin` (half the period).
    public let tMax: Int
    /// The lowest learning rate.
    public let etaMin: Double

    /// Anneals from each group's initial rate to `etaMin` over `tMax` epochs.
    public init(optimizer: Optimizer, tMax: Int, etaMin: Double = 0) {
        check(tMax > 0, "CosineAnnealingLR: tMax must be positive, got \(tMax)")
        self.tMax = tMax
        self.etaMin = etaMin
        super.init(optimizer: optimizer)
    }

    override public func computeLearningRates() -> [Double] {
        if isInitialStep { return currentLearningRates }
        let period = Double(tMax)
        // Just past a minimum the ratio below would divide by ~0; PyTorch adds the increment instead.
        // (Swift's % keeps the sign of the dividend; a zero remainder is zero in both languages.)
        if (lastEpoch - 1 - tMax) % (2 * tMax) == 0 {
            return zip(currentLearningRates, baseLearningRates).map { rate, base in
                rate + (base - etaMin) * (1 - Foundation.cos(Double.pi / period)) / 2
            }
        }
        let ratio = (1 + Foundation.cos(Double.pi * Double(lastEpoch) / period))
            / (1 + Foundation.cos(Double.pi * Double(lastEpoch - 1) / period))
        return currentLearningRates.map { rate in ratio * (rate - etaMin) + etaMin }
    }
}

/// Cosine annealing with warm restarts (SGDR): the rate falls from the initial rate to `etaMin`
/// over `t0` epochs, then restarts, each period `tMult` times longer than the last (PyTorch's
/// `CosineAnnealingWarmRestarts`).
public final class CosineAnnealingWarmRestarts: LRScheduler {
    /// Length of the first period in epochs.
    public let t0: Int
    /// Growth factor of the period after each restart.
    public let tMult: Int
    /// The lowest learning rate.
    public let etaMin: Double
    /// Epochs since the last restart.
    public private(set) var tCur: Int
    /// Length of the current period.
    public private(set) var tI: Int

    /// Anneals to `etaMin` over `t0` epochs, restarting with periods `tMult` times longer.
    public init(optimizer: Optimizer, t0: Int, tMult: Int = 1, etaMin: Double = 0) {
        check(t0 > 0, "CosineAnnealingWarmRestarts: t0 must be positive, got \(t0)")
        check(tMult >= 1, "CosineAnnealingWarmRestarts: tMult must be at least 1, got \(tMult)")
        self.t0 = t0
        self.tMult = tMult
        self.etaMin = etaMin
        self.tCur = -1
        self.tI = t0
        super.init(optimizer: optimizer)
    }

    /// PyTorch overrides `step` here and does not count steps in `_step_count`.
    override public func step() {
        if lastEpoch < 0 {
            tI = t0
            tCur = 0
            lastEpoch = 0
        } else {
            lastEpoch += 1
            tCur += 1
            if tCur >= tI {
                tCur %= tI
                tI *= tMult
            }
        }
        setLearningRates(computeLearningRates())
    }

    override public func computeLearningRates() -> [Double] {
        baseLearningRates.map { base in
            etaMin + (base - etaMin) * (1 + Foundation.cos(Double.pi * Double(tCur) / Double(tI))) / 2
        }
    }

    override public func stateDict() -> SchedulerStateDict {
        var saved = super.stateDict()
        saved.values["T_cur"] = [Double(tCur)]
        saved.values["T_i"] = [Double(tI)]
        return saved
    }

    override public func load(stateDict saved: SchedulerStateDict) throws {
        let current = try saved.integer("T_cur")
        let period = try saved.integer("T_i")
        try super.load(stateDict: saved)
        tCur = current
        tI = period
    }
}

/// Scales the learning rate linearly from `startFactor` to `endFactor` times the initial rate
/// over `totalIters` epochs, then holds it: a linear warm-up (PyTorch's `LinearLR`).
public final class LinearLR: LRScheduler {
    /// Multiplier of the initial rate at epoch 0.
    public let startFactor: Double
    /// Multiplier of the initial rate from epoch `totalIters` on.
    public let endFactor: Double
    /// Epochs the ramp takes.
    public let totalIters: Int

    /// Ramps each group's rate from `startFactor` to `endFactor` times its initial value.
    public init(optimizer: Optimizer, startFactor: Double = 1.0 / 3, endFactor: Double = 1, totalIters: Int = 5) {
        check(
            startFactor > 0 && startFactor <= 1,
            "LinearLR: startFactor must be in (0, 1], got \(startFactor)")
        check(endFactor >= 0 && endFactor <= 1, "LinearLR: endFactor must be in [0, 1], got \(endFactor)")
        check(totalIters > 0, "LinearLR: totalIters must be positive, got \(totalIters)")
        self.startFactor = startFactor
        self.endFactor = endFactor
        self.totalIters = totalIters
        super.init(optimizer: optimizer)
    }

    override public func computeLearningRates() -> [Double] {
        if lastEpoch == 0 { return currentLearningRates.map { $0 * startFactor } }
        if isInitialStep || lastEpoch > totalIters { return currentLearningRates }
        let factor = 1.0
            + (endFactor - startFactor)
            / (Double(totalIters) * startFactor + Double(lastEpoch - 1) * (endFactor - startFactor))
        return currentLearningRates.map { $0 * factor }
    }
}

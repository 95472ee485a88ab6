import Foundation
import Galen

/// The 1cycle policy (Smith & Topin), PyTorch's `OneCycleLR`: the learning rate rises from
/// maxLR/divFactor to maxLR over the first `pctStart` of `totalSteps`, then anneals to
/// initial/finalDivFactor; momentum (SGD, RMSprop) or β1 (Adam, AdamW) moves the opposite way
/// between `maxMomentum` and `baseMomentum`. Step it once per batch.
///
/// The schedule keeps its anchors in the groups, as PyTorch does ("initial_lr", "max_lr",
/// "min_lr", "max_momentum", "base_momentum"), so they travel with the optimizer's state dict.
public final class OneCycleLR: LRScheduler {
    /// How a phase moves between its end points.
    public enum AnnealStrategy: String, Sendable {
        /// Half a cosine wave.
        case cos
        /// A straight line.
        case linear
    }

    /// One phase: it ends at `endStep` and moves between the group values named by its keys.
    struct Phase {
        let endStep: Double
        let startRate: Hyperparameter
        let endRate: Hyperparameter
        let startMomentum: Hyperparameter
        let endMomentum: Hyperparameter
    }

    /// The length of the cycle in steps; stepping past it is an error.
    public let totalSteps: Int
    /// How each phase moves between its end points.
    public let annealStrategy: AnnealStrategy
    /// Whether momentum (or β1) cycles opposite to the learning rate.
    public let cycleMomentum: Bool
    /// The group hyperparameter the momentum cycle drives: `.beta1` for Adam-like optimizers,
    /// `.momentum` otherwise.
    public let momentumKey: Hyperparameter
    let phases: [Phase]

    /// A one-cycle schedule peaking at `maxLearningRates` (one per group).
    public init(
        optimizer: Optimizer, maxLearningRates: [Double], totalSteps: Int, pctStart: Double = 0.3,
        annealStrategy: AnnealStrategy = .cos, cycleMomentum: Bool = true, baseMomentum: Double = 0.85,
        maxMomentum: Double = 0.95, divFactor: Double = 25, finalDivFactor: Double = 1e4, threePhase: Bool = false
    ) {
        check(totalSteps > 0, "OneCycleLR: totalSteps must be positive, got \(totalSteps)")
        check(pctStart >= 0 && pctStart <= 1, "OneCycleLR: pctStart must be in [0, 1], got \(pctStart)")
        check(
            maxLearningRates.count == optimizer.parameterGroups.count,
            "OneCycleLR: \(maxLearningRates.count) maxLearningRates for \(optimizer.parameterGroups.count) parameter groups")
        self.totalSteps = totalSteps
        self.annealStrategy = annealStrategy
        self.cycleMomentum = cycleMomentum
        let total = Double(totalSteps)
        if threePhase {
            phases = [
                Phase(endStep: pctStart * total - 1, startRate: .initialLearningRate, endRate: .maxLearningRate,
                      startMomentum: .maxMomentum, endMomentum: .baseMomentum),
                Phase(endStep: 2 * pctStart * total - 2, startRate: .maxLearningRate, endRate: .initialLearningRate,
                      startMomentum: .baseMomentum, endMomentum: .maxMomentum),
                Phase(endStep: total - 1, startRate: .initialLearningRate, endRate: .minLearningRate,
                      startMomentum: .maxMomentum, endMomentum: .maxMomentum),
            ]
        } else {
            phases = [
                Phase(endStep: pctStart * total - 1, startRate: .initialLearningRate, endRate: .maxLearningRate,
                      startMomentum: .maxMomentum, endMomentum: .baseMomentum),
                Phase(endStep: total - 1, startRate: .maxLearningRate, endRate: .minLearningRate,
                      startMomentum: .baseMomentum, endMomentum: .maxMomentum),
            ]
        }
        momentumKey = optimizer.defaults[.beta1] != nil ? .beta1 : .momentum
        if cycleMomentum {
            check(
                optimizer.defaults[momentumKey] != nil,
                "OneCycleLR: \(type(of: optimizer).algorithmName) has no momentum or beta1 to cycle; pass cycleMomentum: false")
        }
        for (index, maxRate) in maxLearningRates.enumerated() {
            optimizer.parameterGroups[index][.initialLearningRate] = maxRate / divFactor
            optimizer.parameterGroups[index][.maxLearningRate] = maxRate
            optimizer.parameterGroups[index][.minLearningRate] = maxRate / divFactor / finalDivFactor
            if cycleMomentum {
                optimizer.parameterGroups[index][momentumKey] = maxMomentum
                optimizer.parameterGroups[index][.maxMomentum] = maxMomentum
                optimizer.parameterGroups[index][.baseMomentum] = baseMomentum
            }
        }
        super.init(optimizer: optimizer)
    }

    /// A one-cycle schedule with the same peak for every group.
    public convenience init(
        optimizer: Optimizer, maxLearningRate: Double, totalSteps: Int, pctStart: Double = 0.3,
        annealStrategy: AnnealStrategy = .cos, cycleMomentum: Bool = true, baseMomentum: Double = 0.85,
        maxMomentum: Double = 0.95, divFactor: Double = 25, finalDivFactor: Double = 1e4, threePhase: Bool = false
    ) {
        self.init(
            optimizer: optimizer,
            maxLearningRates: Array(repeating: maxLearningRate, count: optimizer.parameterGroups.count),
            totalSteps: totalSteps, pctStart: pctStart, annealStrategy: annealStrategy,
            cycleMomentum: cycleMomentum, baseMomentum: baseMomentum, maxMomentum: maxMomentum,
            divFactor: divFactor, finalDivFactor: finalDivFactor, threePhase: threePhase)
    }

    private func anneal(_ start: Double, _ end: Double, _ fraction: Double) -> Double {
        switch annealStrategy {
        case .cos: end + (start - end) / 2.0 * (Foundation.cos(Double.pi * fraction) + 1)
        case .linear: (end - start) * fraction + start
        }
    }

    override public func computeLearningRates() -> [Double] {
        let stepNumber = Double(lastEpoch)
        check(
            lastEpoch <= totalSteps,
            "OneCycleLR: stepped \(lastEpoch) times, but totalSteps is \(totalSteps)")
        var rates: [Double] = []
        for index in optimizer.parameterGroups.indices {
            let group = optimizer.parameterGroups[index]
            var startStep = 0.0
            for (phaseIndex, phase) in phases.enumerated() {
                if stepNumber <= phase.endStep || phaseIndex == phases.count - 1 {
                    let fraction = (stepNumber - startStep) / (phase.endStep - startStep)
                    rates.append(anneal(group.value(phase.startRate), group.value(phase.endRate), fraction))
                    if cycleMomentum {
                        optimizer.parameterGroups[index][momentumKey] = anneal(
                            group.value(phase.startMomentum), group.value(phase.endMomentum), fraction)
                    }
                    break
                }
                startStep = phase.endStep
            }
        }
        return rates
    }
}

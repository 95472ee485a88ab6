import Foundation
import Galen

/// The learning-rate range test (Smith, "Cyclical Learning Rates"; fastai's `lr_find`): train for
/// a few steps while the learning rate grows exponentially from `startLearningRate` to
/// `endLearningRate`, record the smoothed loss at each rate, stop once the loss diverges, and
/// suggest a rate where the loss falls fastest.
///
/// ```swift
/// let result = LRFinder().run(optimizer: optimizer) { mse(model(batch.inputs), batch.targets) }
/// let optimizer = SGD(model.parameters(), learningRate: result.suggestedLearningRate ?? 1e-3)
/// ```
public struct LRFinder {
    /// The first learning rate tried.
    public var startLearningRate: Double
    /// The last learning rate tried (if the loss has not diverged before).
    public var endLearningRate: Double
    /// The number of training steps, one per rate.
    public var steps: Int
    /// Weight of the running average of the loss (fastai's β = 0.98); the average is debiased
    /// like Adam's moments.
    public var smoothing: Double
    /// The test stops when the smoothed loss exceeds this multiple of the best smoothed loss.
    public var divergenceFactor: Double

    /// A range test sweeping `steps` rates from `startLearningRate` to `endLearningRate`.
    public init(
        startLearningRate: Double = 1e-7, endLearningRate: Double = 10, steps: Int = 100,
        smoothing: Double = 0.98, divergenceFactor: Double = 4
    ) {
        check(
            startLearningRate > 0 && endLearningRate > startLearningRate,
            "LRFinder: need 0 < startLearningRate < endLearningRate, got \(startLearningRate) and \(endLearningRate)")
        check(steps >= 2, "LRFinder: steps must be at least 2, got \(steps)")
        check(smoothing >= 0 && smoothing < 1, "LRFinder: smoothing must be in [0, 1), got \(smoothing)")
        check(divergenceFactor > 1, "LRFinder: divergenceFactor must be above 1, got \(divergenceFactor)")
        self.startLearningRate = startLearningRate
        self.endLearningRate = endLearningRate
        self.steps = steps
        self.smoothing = smoothing
        self.divergenceFactor = divergenceFactor
    }

    /// What the range test saw.
    public struct Result {
        /// The learning rate of each completed step.
        public var learningRates: [Double]
        /// The loss of each step, as computed.
        public var losses: [Double]
        /// The running-average loss of each step (what divergence and suggestions use).
        public var smoothedLosses: [Double]
        /// Whether the loss diverged before `endLearningRate`.
        public var diverged: Bool

        /// The rate at which the smoothed loss falls fastest against log(learning rate), nil when
        /// it never falls.
        public var steepestLearningRate: Double? {
            // Ignore the first and last few points: the average is still warming up at the start
            // and the loss is blowing up at the end (fastai skips 10 and 5 when plotting).
            let count = smoothedLosses.count
            let first = Swift.min(10, count / 10)
            let last = count - 1 - Swift.min(5, count / 10)
            guard last - first >= 2 else { return nil }
            var best: (slope: Double, index: Int)?
            for index in (first + 1)..<last {
                let slope = (smoothedLosses[index + 1] - smoothedLosses[index - 1])
                    / (Foundation.log(learningRates[index + 1]) - Foundation.log(learningRates[index - 1]))
                if slope < 0, best == nil || slope < best!.slope { best = (slope, index) }
            }
            return best.map { learningRates[$0.index] }
        }

        /// A tenth of the rate with the lowest smoothed loss: one order of magnitude below where
        /// training is still just stable.
        public var minimumLossLearningRate: Double? {
            guard let index = smoothedLosses.indices.min(by: { smoothedLosses[$0] < smoothedLosses[$1] }) else {
                return nil
            }
            return learningRates[index] / 10
        }

        /// The suggestion: the steepest descent of the loss, or a tenth of the minimum-loss rate
        /// when there is no clear descent.
        public var suggestedLearningRate: Double? { steepestLearningRate ?? minimumLossLearningRate }
    }

    /// Runs the test with `optimizer`. Each step sets every group's learning rate, clears the
    /// gradients, calls `loss` (the loss of the next batch, with its graph), back-propagates it
    /// and steps the optimizer.
    ///
    /// With `restoresState` (the default) the optimizer's parameters, state and hyperparameters
    /// are put back afterwards, so training starts from where it was. `save` runs before the
    /// test and `restore` after it, for anything else the loss closure changes (batch-norm
    /// statistics, a data loader's position, a random generator).
    public func run(
        optimizer: Optimizer, restoresState: Bool = true, save: (() -> Void)? = nil, restore: (() -> Void)? = nil,
        loss: () -> Tensor
    ) -> Result {
        save?()
        let parameters = optimizer.parameterGroups.flatMap(\.parameters)
        let savedValues = restoresState ? parameters.map { $0.copy() } : []
        let savedState = restoresState ? optimizer.stateDict() : nil

        var result = Result(learningRates: [], losses: [], smoothedLosses: [], diverged: false)
        let ratio = endLearningRate / startLearningRate
        var average = 0.0
        var bestSmoothed = Double.infinity
        for index in 0..<steps {
            let learningRate = startLearningRate * Foundation.pow(ratio, Double(index) / Double(steps - 1))
            for group in optimizer.parameterGroups.indices {
                optimizer.parameterGroups[group].learningRate = learningRate
            }
            optimizer.zeroGrad()
            let value = loss()
            let lossValue = Double(value.item)
            value.backward()
            optimizer.step()

            average = smoothing * average + (1 - smoothing) * lossValue
            let smoothed = average / (1 - Foundation.pow(smoothing, Double(index + 1)))
            result.learningRates.append(learningRate)
            result.losses.append(lossValue)
            result.smoothedLosses.append(smoothed)
            if !smoothed.isFinite || smoothed > divergenceFactor * bestSmoothed {
                result.diverged = true
                break
            }
            bestSmoothed = Swift.min(bestSmoothed, smoothed)
        }

        if restoresState, let savedState {
            for (parameter, saved) in zip(parameters, savedValues) {
                withExtendedLifetime((parameter, saved)) {
                    parameter.mutableValues.update(from: saved.mutableValues, count: saved.count)
                }
            }
            // The optimizer was built from these parameters, so its own state always loads back.
            try! optimizer.load(stateDict: savedState)
        }
        optimizer.zeroGrad()
        restore?()
        return result
    }
}

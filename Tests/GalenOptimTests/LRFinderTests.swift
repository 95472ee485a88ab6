import Galen
import GalenOptim
import Testing

@Suite struct LRRangeTest {
    /// Linear regression, y = X·w + 0.5 + noise with standardized features, fit by full-batch SGD
    /// on the mean squared error. Its Hessian is 2·XᵀX/n ≈ 2·I, so gradient descent converges
    /// for learning rates below about 2/λmax ≈ 1 and diverges above.
    struct Problem {
        let x: Tensor
        let y: Tensor
        let w = Tensor.zeros([3, 1]).requiringGrad()
        let b = Tensor.zeros([1]).requiringGrad()

        init() {
            let generator = Generator(seed: 7)
            x = Tensor.randn([64, 3], generator: generator)
            let trueWeights = Tensor([1.5, -2, 0.7], shape: [3, 1])
            y = matmul(x, trueWeights) + 0.5 + Tensor.randn([64, 1], std: 0.1, generator: generator)
        }

        func loss() -> Tensor { (matmul(x, w) + b - y).pow(2).mean() }
    }

    @Test func suggestsAWorkingLearningRateAndRestoresTheModel() {
        let problem = Problem()
        let optimizer = SGD([problem.w, problem.b], learningRate: 0.123, momentum: 0.5)
        let finder = LRFinder(startLearningRate: 1e-5, endLearningRate: 100, steps: 100)
        var saved = false
        var restored = false
        let result = finder.run(optimizer: optimizer, save: { saved = true }, restore: { restored = true }) {
            problem.loss()
        }
        #expect(saved && restored)
        #expect(result.diverged, "the sweep reaches rates where gradient descent diverges")
        #expect(result.learningRates.count < 100)
        #expect(result.learningRates.last! > 0.5)

        let suggestion = result.suggestedLearningRate!
        print("LR finder: suggested \(suggestion), steepest \(result.steepestLearningRate ?? .nan), "
            + "min-loss/10 \(result.minimumLossLearningRate ?? .nan), stopped at \(result.learningRates.last!)")
        #expect(suggestion > 1e-3 && suggestion < 1, "suggestion \(suggestion) should lie below the divergence at ~1")

        // The model and optimizer are as they were.
        #expect(problem.w.scalars == [0, 0, 0] && problem.b.scalars == [0])
        #expect(optimizer.parameterGroups[0].learningRate == 0.123)
        #expect(optimizer.state.isEmpty)

        // And the suggestion trains: 50 steps cut the loss by 100× or more.
        let initial = problem.loss().item
        optimizer.parameterGroups[0].learningRate = suggestion
        for _ in 0..<50 {
            optimizer.zeroGrad()
            problem.loss().backward()
            optimizer.step()
        }
        #expect(problem.loss().item < initial / 100)
    }

    @Test func learningRatesGrowExponentially() {
        let problem = Problem()
        let optimizer = SGD([problem.w, problem.b])
        let result = LRFinder(startLearningRate: 1e-6, endLearningRate: 1e-2, steps: 5).run(optimizer: optimizer) {
            problem.loss()
        }
        #expect(!result.diverged)
        let expected = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2]
        for (rate, want) in zip(result.learningRates, expected) { #expect(abs(rate - want) <= 1e-12 * want * 1e6) }
        #expect(result.smoothedLosses.count == 5 && result.losses.count == 5)
    }
}

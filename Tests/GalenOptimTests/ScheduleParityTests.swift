import Galen
import GalenOptim
import Testing

/// torch.optim.lr_scheduler sequences (Fixtures/optim.json) replayed: every group's learning rate
/// (and OneCycle's momentum or β1) after construction and after each step.
@Suite struct ScheduleParity {
    static let rtol = 1e-6

    /// Relative error; rates below 1e-9 (schedules that decay to ~0) are compared absolutely.
    static func relativeError(_ actual: [Double], _ expected: [Double]) -> Double {
        precondition(actual.count == expected.count)
        return zip(actual, expected).map { a, e in abs(a - e) / max(abs(e), 1e-9) }.max() ?? 0
    }

    @Test(arguments: OptimFixture.shared.schedules.map(\.name))
    func learningRatesMatchPyTorch(_ name: String) {
        let testCase = OptimFixture.shared.scheduleCase(name)
        let optimizer = OptimFixture.makeScheduleOptimizer(testCase.optimizer)
        let scheduler = OptimFixture.makeScheduler(testCase, optimizer)
        var worst = 0.0
        for (index, expected) in testCase.lrs.enumerated() {
            if index > 0 { OptimFixture.step(scheduler, testCase, index: index - 1) }
            let rates = optimizer.parameterGroups.map(\.learningRate)
            #expect(scheduler.learningRates == rates, "\(name): learningRates disagrees with the groups")
            let error = max(
                Self.relativeError(rates, expected),
                Self.relativeError(OptimFixture.momentums(optimizer), testCase.momentums[index]))
            #expect(error <= Self.rtol, "\(name): step \(index): \(rates) vs PyTorch \(expected)")
            worst = max(worst, error)
        }
        print("schedule parity \(name): worst relative error \(worst)")
    }

    @Test func schedulesStackLikePyTorch() {
        // A warm-up and a decay on the same optimizer: the second keeps the first's initial_lr.
        let optimizer = OptimFixture.makeScheduleOptimizer("SGD")
        let warmup = LinearLR(optimizer: optimizer, startFactor: 0.5, totalIters: 2)
        let decay = ExponentialLR(optimizer: optimizer, gamma: 0.5)
        #expect(warmup.baseLearningRates == [0.1, 0.01])
        #expect(decay.baseLearningRates == [0.1, 0.01])
        #expect(optimizer.parameterGroups[0].learningRate == 0.05)
        warmup.step()
        decay.step()
        #expect(optimizer.parameterGroups[0].learningRate == 0.05 * 1.5 * 0.5)
    }
}

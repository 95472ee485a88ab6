import Galen
import GalenOptim
import Testing

/// torch.optim trajectories (Fixtures/optim.json) replayed: the same problem, the same
/// configuration, 20 steps, parameters compared after every step.
@Suite struct OptimizerParity {
    /// float32 against float32: the two sides round differently (FMA, summation order in the
    /// gradient), so the trajectories agree to a few ulps per step, not bit for bit.
    static let rtol = 1e-5
    static let atol = 1e-6

    @Test(arguments: OptimFixture.shared.optimizers.map(\.name))
    func parametersMatchPyTorchAfterEveryStep(_ name: String) {
        let fixture = OptimFixture.shared
        let testCase = fixture.optimizerCase(name)
        let (w, b) = fixture.initialParameters()
        let optimizer = OptimFixture.makeOptimizer(testCase, w: w, b: b)
        var worst = 0.0
        for (index, expected) in testCase.steps.enumerated() {
            fixture.trainStep(optimizer, w: w, b: b)
            let ratio = max(
                toleranceRatio(w.scalars, expected.w, rtol: Self.rtol, atol: Self.atol),
                toleranceRatio(b.scalars, expected.b, rtol: Self.rtol, atol: Self.atol))
            #expect(ratio <= 1, "\(name): step \(index + 1) differs from PyTorch by \(ratio)× the tolerance")
            worst = max(worst, ratio)
        }
        print("optimizer parity \(name): worst error \(String(format: "%.3f", worst))× (1e-6 + 1e-5·|torch|)")
    }

    @Test func parametersWithoutGradientAreLeftAlone() {
        let fixture = OptimFixture.shared
        for testCase in fixture.optimizers {
            let (w, b) = fixture.initialParameters()
            let frozen = Tensor([1, 2, 3, 4], shape: [4]).requiringGrad()
            let optimizer = OptimFixture.makeOptimizer(testCase, w: w, b: b)
            optimizer.addParameterGroup(ParameterGroup([frozen]))
            fixture.trainStep(optimizer, w: w, b: b)
            #expect(frozen.scalars == [1, 2, 3, 4], "\(testCase.name) moved a parameter without a gradient")
        }
    }

    @Test func zeroGradSetsGradientsToNil() {
        let fixture = OptimFixture.shared
        let (w, b) = fixture.initialParameters()
        let optimizer = SGD([w, b], learningRate: 0.1)
        fixture.loss(w: w, b: b).backward()
        #expect(w.grad != nil && b.grad != nil)
        optimizer.zeroGrad()
        #expect(w.grad == nil && b.grad == nil)
    }

    @Test func groupsTakeTheirOwnLearningRates() {
        // A transfer-learning setup: a frozen-ish backbone and a fast head.
        let backbone = Tensor([1, 1], shape: [2]).requiringGrad()
        let head = Tensor([1, 1], shape: [2]).requiringGrad()
        let optimizer = SGD([
            ParameterGroup([backbone], learningRate: 0.001),
            ParameterGroup([head]),
        ], learningRate: 0.1)
        #expect(optimizer.parameterGroups.map(\.learningRate) == [0.001, 0.1])
        #expect(optimizer.parameterGroups[1].value(.momentum) == 0)
        backbone.grad = Tensor([1, 1], shape: [2])
        head.grad = Tensor([1, 1], shape: [2])
        optimizer.step()
        #expect(backbone.scalars == [Float(1) + Float(-0.001) * 1, 1 - 0.001])
        #expect(head.scalars == [Float(1) + Float(-0.1), Float(1) + Float(-0.1)])
    }
}

import Galen
import GalenOptim
import Testing

/// torch.nn.utils.clip_grad_norm_ / clip_grad_value_ (Fixtures/optim.json) replayed.
@Suite struct GradientClipping {
    @Test(arguments: OptimFixture.shared.clipping.indices)
    func clippingMatchesPyTorch(_ index: Int) {
        let testCase = OptimFixture.shared.clipping[index]
        let shapes = [[3, 4], [5]]
        let parameters = zip(testCase.grads, shapes).map { values, shape in
            let parameter = Tensor.zeros(shape).requiringGrad()
            parameter.grad = Tensor(values, shape: shape)
            return parameter
        }
        if let normType = testCase.normType {
            let total = clipGradNorm(parameters, maxNorm: testCase.max_norm, normType: normType)
            let error = abs(Double(total) - Double(testCase.total_norm!)) / Double(testCase.total_norm!)
            #expect(error <= 1e-6, "norm \(normType): total norm \(total) vs PyTorch \(testCase.total_norm!)")
            print("clipGradNorm(maxNorm: \(testCase.max_norm), normType: \(normType)): total norm relative error \(error)")
        } else {
            clipGradValue(parameters, clipValue: testCase.max_norm)
        }
        for (parameter, expected) in zip(parameters, testCase.clipped) {
            let ratio = toleranceRatio(parameter.grad!.scalars, expected, rtol: 1e-6, atol: 1e-7)
            #expect(ratio <= 1, "clipped gradients differ from PyTorch by \(ratio)× the tolerance")
        }
    }

    @Test func parametersWithoutGradientsAreIgnored() {
        let frozen = Tensor.zeros([3]).requiringGrad()
        #expect(clipGradNorm([frozen], maxNorm: 1) == 0)
        let live = Tensor.zeros([2]).requiringGrad()
        live.grad = Tensor([3, 4])
        #expect(clipGradNorm([frozen, live], maxNorm: 10) == 5)
        #expect(live.grad!.scalars == [3, 4])  // below maxNorm: coefficient clamped to 1
        #expect(frozen.grad == nil)
    }

    @Test func nonFiniteNormsAreReported() {
        let parameter = Tensor.zeros([2]).requiringGrad()
        parameter.grad = Tensor([.nan, 1])
        #expect(clipGradNorm([parameter], maxNorm: 1).isNaN)
        parameter.grad = Tensor([.nan, 1])
        #expect(clipGradNorm([parameter], maxNorm: 1, normType: .infinity).isNaN)
    }
}

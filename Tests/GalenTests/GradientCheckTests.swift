import Foundation
import Galen
import Testing

/// Fixtures loaded once and shared read-only by the parametrized tests below.
nonisolated(unsafe) let allFixtures: [OpFixture] = try! OpFixtures.load()

private func fixture(named name: String) -> OpFixture {
    allFixtures.first { $0.name == name }!
}

/// Fresh copies of the fixture's inputs; those with a recorded gradient require grad.
private func leafInputs(_ fixture: OpFixture) -> [Tensor] {
    zip(fixture.inputs, fixture.grads).map { input, grad in input.copy().requiringGrad(grad != nil) }
}

private func call(_ fixture: OpFixture, _ inputs: [Tensor]) -> Tensor {
    guard let function = OpFixtures.registry[fixture.op] else {
        Issue.record("no Galen function registered for op \(fixture.op)")
        return Tensor.zeros([0])
    }
    return function(inputs, fixture.indices, fixture.attrs)
}

// Float32 Galen against a float64 PyTorch reference on float32 inputs. A wrongly reduced
// broadcast gradient is off by a factor of the broadcast size, orders beyond these bounds.
let parityRelativeTolerance: Float = 1e-4
let parityAbsoluteTolerance: Float = 1e-5

@Suite struct PyTorchParity {
    @Test(arguments: allFixtures.map(\.name))
    func forwardAndBackwardMatchPyTorch(_ name: String) throws {
        let fixture = fixture(named: name)
        let inputs = leafInputs(fixture)
        let output = call(fixture, inputs)
        try #require(output.shape == fixture.output.shape, "\(name): output shape \(output.shape) vs PyTorch \(fixture.output.shape)")
        let outputRatio = toleranceRatio(output, fixture.output, rtol: parityRelativeTolerance, atol: parityAbsoluteTolerance)
        #expect(outputRatio <= 1, "\(name): output differs from PyTorch (error/tolerance = \(outputRatio))")
        guard fixture.grads.contains(where: { $0 != nil }) else { return }
        output.backward(fixture.upstream)
        for (index, (input, expected)) in zip(inputs, fixture.grads).enumerated() {
            guard let expected else { continue }
            let actual = try #require(input.grad, "\(name): input \(index) received no gradient")
            try #require(actual.shape == expected.shape)
            let ratio = toleranceRatio(actual, expected, rtol: parityRelativeTolerance, atol: parityAbsoluteTolerance)
            #expect(ratio <= 1, "\(name): gradient of input \(index) differs from PyTorch (error/tolerance = \(ratio))")
        }
    }
}

@Suite struct FiniteDifferences {
    /// Checks Galen's analytic gradient of sum(op(x) · upstream) against central differences on up
    /// to 16 elements of each input (spread over the tensor, always including the first and last).
    @Test(arguments: allFixtures.filter { $0.grads.contains { $0 != nil } }.map(\.name))
    func analyticGradientMatchesCentralDifferences(_ name: String) throws {
        let fixture = fixture(named: name)
        let inputs = leafInputs(fixture)
        call(fixture, inputs).backward(fixture.upstream)
        let upstream = fixture.upstream.scalars
        let epsilon: Float = 1e-3
        func objective(_ perturbed: [Tensor]) -> Double {
            let out = noGrad { call(fixture, perturbed) }.scalars
            var total = 0.0
            for i in 0..<out.count { total += Double(out[i]) * Double(upstream[i]) }
            return total
        }
        for (index, input) in inputs.enumerated() where fixture.grads[index] != nil {
            let analytic = try #require(input.grad).scalars
            let n = input.count
            let probes = Set((0..<min(n, 16)).map { n <= 16 ? $0 : $0 * (n - 1) / 15 })
            for position in probes.sorted() {
                var perturbed = inputs.map { $0.copy() }
                let original = perturbed[index].storage.pointer[position]
                perturbed[index].storage.pointer[position] = original + epsilon
                let plus = objective(perturbed)
                perturbed = inputs.map { $0.copy() }
                perturbed[index].storage.pointer[position] = original - epsilon
                let minus = objective(perturbed)
                let numeric = Float((plus - minus) / (2 * Double(epsilon)))
                let tolerance = 2e-2 + 2e-2 * abs(analytic[position])
                #expect(
                    abs(numeric - analytic[position]) <= tolerance,
                    "\(name): input \(index)[\(position)] analytic \(analytic[position]) vs numeric \(numeric)")
            }
        }
    }
}

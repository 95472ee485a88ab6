import Testing

@testable import Galen

/// `batchNorm(…, relu: true)` against relu(batchNorm(…)), bit for bit: values, the input, weight
/// and bias gradients, and the running statistics, in training and evaluation.
@Suite struct FusedBatchNormReLU {
    struct Case: CustomStringConvertible, Sendable {
        var shape: [Int]
        var training: Bool
        var affine = true
        var description: String { "\(shape) \(training ? "training" : "eval")\(affine ? "" : " no affine")" }
    }

    static let cases: [Case] = [
        Case(shape: [4, 3, 5, 5], training: true),  // 25 values per plane: vectors and a scalar tail
        Case(shape: [2, 8, 16, 16], training: true),
        Case(shape: [3, 6, 7], training: true, affine: false),
        Case(shape: [4, 3, 5, 5], training: false),
        Case(shape: [5, 4], training: true),
    ]

    @Test(arguments: cases)
    func matchesTheComposition(_ c: Case) {
        let channels = c.shape[1]
        func run(fused: Bool) -> (output: [Float], grads: [[Float]], running: [Float]) {
            let generator = Generator(seed: 11)
            let x = Tensor.randn(c.shape, generator: generator).requiringGrad()
            let weight = c.affine ? Tensor.uniform([channels], low: 0.5, high: 1.5, generator: generator).requiringGrad() : nil
            let bias = c.affine ? Tensor.randn([channels], generator: generator).requiringGrad() : nil
            let (runningMean, runningVar) = (Tensor.randn([channels], generator: generator), Tensor.full([channels], 1.5))
            let upstream = Tensor.randn(c.shape, generator: generator)
            let y = fused
                ? batchNorm(x, runningMean: runningMean, runningVar: runningVar, weight: weight, bias: bias, training: c.training, relu: true)
                : relu(batchNorm(x, runningMean: runningMean, runningVar: runningVar, weight: weight, bias: bias, training: c.training))
            (y * upstream).sum().backward()
            let grads = [x.grad, weight?.grad, bias?.grad].compactMap { $0?.scalars }
            return (y.scalars, grads, runningMean.scalars + runningVar.scalars)
        }
        let (fused, composed) = (run(fused: true), run(fused: false))
        #expect(fused.output.contains { $0 == 0 } && fused.output.contains { $0 > 0 })
        #expect(fused.output == composed.output)
        #expect(fused.grads.count == (c.affine ? 3 : 1) && fused.grads == composed.grads)
        #expect(fused.running == composed.running)
    }
}

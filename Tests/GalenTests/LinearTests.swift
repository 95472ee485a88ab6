import Testing

@testable import Galen

/// The fused `linear` op (one product with the bias inside, one node in the graph) against the
/// composition it replaces, matmul(x, Wᵀ) + b, whose ops have their own PyTorch fixtures: values
/// and every gradient, on both matrix-product paths, for the layouts callers pass.
@Suite struct FusedLinear {
    struct Case: CustomStringConvertible, Sendable {
        var name: String
        var inputShape: [Int]
        var outFeatures: Int
        var bias = true
        /// How the weight reaches `linear`: as allocated, a transposed view of an (in, out)
        /// tensor, or rows of a taller matrix (a slice of a packed Q|K|V projection).
        var weightLayout = WeightLayout.plain
        /// The input as a permuted (non-contiguous) view.
        var permutedInput = false
        var description: String { name }
    }

    enum WeightLayout: Sendable { case plain, transposedView, rowsOfTaller }

    static let cases: [Case] = [
        Case(name: "3-D input", inputShape: [2, 3, 5], outFeatures: 4),
        Case(name: "vector input", inputShape: [5], outFeatures: 4),
        Case(name: "matrix, no bias", inputShape: [3, 5], outFeatures: 4, bias: false),
        // Large enough for oneDNN (≥ 2^19 multiply-adds), split by rows on 2 threads.
        Case(name: "oneDNN-sized 3-D", inputShape: [8, 64, 64], outFeatures: 48),
        // Few rows and many columns: oneDNN splits by columns, the bias with them.
        Case(name: "oneDNN column split", inputShape: [8, 128], outFeatures: 1024),
        Case(name: "weight as transposed view", inputShape: [4, 6, 7], outFeatures: 5, weightLayout: .transposedView),
        Case(name: "weight rows of a taller matrix", inputShape: [64, 96], outFeatures: 96, weightLayout: .rowsOfTaller),
        Case(name: "permuted input", inputShape: [6, 4, 7], outFeatures: 3, permutedInput: true),
        Case(name: "no rows", inputShape: [0, 5], outFeatures: 4),
        Case(name: "no input features", inputShape: [3, 0], outFeatures: 4),
    ]

    @Test(arguments: cases, MatmulPath.allCases)
    func matchesComposition(_ c: Case, _ path: MatmulPath) throws {
        let g = Generator(seed: 11)
        let inFeatures = c.inputShape.last!
        var x = Tensor.randn(c.permutedInput ? c.inputShape.reversed() : c.inputShape, generator: g)
        if c.permutedInput { x = x.permuted(Array((0..<x.rank).reversed())) }
        let source: Tensor
        switch c.weightLayout {
        case .plain: source = Tensor.randn([c.outFeatures, inFeatures], generator: g)
        case .transposedView: source = Tensor.randn([inFeatures, c.outFeatures], generator: g)
        case .rowsOfTaller: source = Tensor.randn([3 * c.outFeatures, inFeatures], generator: g)
        }
        let b = c.bias ? Tensor.randn([3 * c.outFeatures], generator: g) : nil
        func weight(_ s: Tensor) -> Tensor {
            switch c.weightLayout {
            case .plain: s
            case .transposedView: s.transposed()
            case .rowsOfTaller: s.narrow(axis: 0, start: c.outFeatures, length: c.outFeatures)
            }
        }
        func bias(_ b: Tensor?) -> Tensor? { b?.narrow(axis: 0, start: c.outFeatures, length: c.outFeatures) }
        let upstream = Tensor.randn(Array(c.inputShape.dropLast()) + [c.outFeatures], generator: g)

        func run(fused: Bool) -> (output: [Float], gradients: [[Float]]) {
            let leaves = ([x, source] + (b.map { [$0] } ?? [])).map { $0.detach() }
            for leaf in leaves { leaf.requiresGrad = true }
            let (xLeaf, sourceLeaf) = (leaves[0], leaves[1])
            let biasLeaf = b == nil ? nil : leaves[2]
            let y = MatmulPath.$override.withValue(path) {
                fused
                    ? linear(xLeaf, weight: weight(sourceLeaf), bias: bias(biasLeaf))
                    : bias(biasLeaf).map { matmul(xLeaf, weight(sourceLeaf).transposed()) + $0 }
                        ?? matmul(xLeaf, weight(sourceLeaf).transposed())
            }
            #expect(y.shape == upstream.shape, "\(c): shape \(y.shape)")
            if y.count > 0 { MatmulPath.$override.withValue(path) { y.backward(upstream) } }
            return (y.scalars, leaves.map { $0.grad?.scalars ?? [Float](repeating: 0, count: $0.count) })
        }
        let fused = run(fused: true)
        let composed = run(fused: false)
        func worst(_ a: [Float], _ b: [Float]) -> Float {
            zip(a, b).map { abs($0 - $1) / (1 + abs($1)) }.max() ?? 0
        }
        #expect(worst(fused.output, composed.output) <= 1e-5, "\(c) \(path): output")
        for (index, (a, b)) in zip(fused.gradients, composed.gradients).enumerated() {
            #expect(a.count == b.count && worst(a, b) <= 1e-5, "\(c) \(path): gradient of input \(index)")
        }
        // A test that cannot fail is a defect: the gradients are not all zero where there is work.
        if c.inputShape.reduce(1, *) * c.outFeatures > 0 {
            #expect(fused.gradients[0].contains { $0 != 0 } && fused.gradients[1].contains { $0 != 0 })
        }
    }

    /// linear on (…, in) is one op: one graph node, whatever the number of leading axes.
    @Test func isOneGraphNode() {
        let x = Tensor.randn([2, 3, 4, 5], generator: Generator(seed: 1))
        let layerWeight = Tensor.randn([6, 5], generator: Generator(seed: 2))
        layerWeight.requiresGrad = true
        let y = linear(x, weight: layerWeight, bias: nil)
        #expect(y.gradFunction?.name == "linear")
        #expect(y.gradFunction?.inputs.count == 2)
    }
}

import Foundation
import Galen
import GalenNN
import Testing

/// A plain user model: parameters, buffers and children are found by reflection.
private final class TinyNet: Module, Layer {
    let features = Sequential(Conv2d(1, 4, kernelSize: 3, padding: 1), BatchNorm2d(4), ReLU())
    let headLayers = [Linear(4, 3), Linear(3, 2, bias: false)]
    let scale = Tensor.ones([2]).requiringGrad()

    func callAsFunction(_ x: Tensor) -> Tensor {
        let pooled = adaptiveAvgPool2d(features(x), outputSize: (1, 1)).flattened(startAxis: 1)
        return headLayers[1](relu(headLayers[0](pooled))) * scale
    }
}

@Suite struct ModuleReflection {
    @Test func stateDictKeysFollowPyTorch() {
        let keys = TinyNet().stateDict().map(\.key)
        #expect(keys == [
            "scale",
            "features.0.weight", "features.0.bias",
            "features.1.weight", "features.1.bias",
            "features.1.running_mean", "features.1.running_var", "features.1.num_batches_tracked",
            "head_layers.0.weight", "head_layers.0.bias", "head_layers.1.weight",
        ])
        #expect(TinyNet().namedParameters().count == 8)
        #expect(TinyNet().parameterCount() == 2 + 4 * 9 + 4 + 4 + 4 + 4 * 3 + 3 + 3 * 2)
        #expect(TinyNet().stateStoredTypes()["features.1.num_batches_tracked"] == .int64)
    }

    @Test func loadCopiesInPlaceAndNamesBadKeys() throws {
        let source = TinyNet()
        let target = TinyNet()
        let parameterBefore = target.parameters()[1]
        let state = Dictionary(uniqueKeysWithValues: source.stateDict().map { ($0.key, $0.value.copy()) })
        try target.load(stateDict: state)
        #expect(target.parameters()[1] === parameterBefore)  // optimizers keep their references
        #expect(target.parameters()[1].scalars == source.parameters()[1].scalars)

        var missing = state
        missing["features.1.running_var"] = nil
        #expect(throws: StateDictError.missingKeys(["features.1.running_var"])) { try target.load(stateDict: missing) }
        try target.load(stateDict: missing, strict: false)

        var unexpected = state
        unexpected["extra.weight"] = Tensor.zeros([1])
        #expect(throws: StateDictError.unexpectedKeys(["extra.weight"])) { try target.load(stateDict: unexpected) }

        var misshaped = state
        misshaped["head_layers.0.weight"] = Tensor.zeros([3, 5])
        #expect(throws: StateDictError.shapeMismatch(key: "head_layers.0.weight", expected: [3, 4], found: [3, 5])) {
            try target.load(stateDict: misshaped)
        }
        let message = StateDictError.shapeMismatch(key: "head_layers.0.weight", expected: [3, 4], found: [3, 5]).description
        #expect(message.contains("head_layers.0.weight") && message.contains("[3, 5]"))
    }

    @Test func trainAndEvalSwitchBatchNormAndDropout() {
        manualSeed(1)
        let bn = BatchNorm2d(2)
        let x = Tensor.randn([8, 2, 3, 3], mean: 3, std: 2)
        _ = bn(x)
        // Running statistics move towards the batch's by momentum 0.1, with the unbiased variance.
        let batchMean = x.mean(axes: [0, 2, 3]).scalars
        let batchVar = x.variance(axes: [0, 2, 3], correction: 1).scalars
        for c in 0..<2 {
            #expect(abs(bn.runningMean!.value.scalars[c] - 0.1 * batchMean[c]) < 1e-5)
            #expect(abs(bn.runningVar!.value.scalars[c] - (0.9 + 0.1 * batchVar[c])) < 1e-4)
        }
        #expect(bn.numBatchesTracked!.value.item == 1)
        bn.eval()
        let evaluated = bn(x)
        let expected = (x - bn.runningMean!.value.reshaped([1, 2, 1, 1]))
            / (bn.runningVar!.value.reshaped([1, 2, 1, 1]) + 1e-5).sqrt()
        #expect(toleranceOK(evaluated, expected))
        #expect(bn.numBatchesTracked!.value.item == 1)

        let drop = Dropout(p: 0.5)
        let ones = Tensor.ones([100])
        #expect(drop(ones).scalars.contains(0))
        drop.eval()
        #expect(drop(ones) === ones)
    }

    @Test func freezingStopsGradients() {
        let net = TinyNet()
        net.features.requiresGrad(false)
        let loss = net(Tensor.randn([2, 1, 5, 5])).sum()
        loss.backward()
        #expect(net.features.parameters().allSatisfy { $0.grad == nil })
        #expect(net.headLayers[0].weight.grad != nil)
        #expect(net.parameterCount(trainableOnly: true) == 2 + 4 * 3 + 3 + 3 * 2)
    }

    @Test func applyVisitsEveryModule() {
        var names: [String] = []
        TinyNet().apply { names.append(String(describing: type(of: $0))) }
        #expect(names.filter { $0 == "Linear" }.count == 2)
        #expect(names.last == "TinyNet")
    }

    @Test func embeddingPaddingRowStaysZero() {
        let table = Embedding(5, 3, paddingIndex: 0)
        #expect(Array(table.weight.scalars[0..<3]) == [0, 0, 0])
        let out = table(IntTensor([0, 2, 0], shape: [1, 3]))
        #expect(out.shape == [1, 3, 3])
        out.sum().backward()
        #expect(Array(table.weight.grad!.scalars[0..<3]) == [0, 0, 0])
        #expect(Array(table.weight.grad!.scalars[6..<9]) == [1, 1, 1])
    }

    @Test func dropout2dDropsWholeChannels() {
        let layer = Dropout2d(p: 0.5, generator: Generator(seed: 4))
        let out = layer(Tensor.ones([4, 8, 3, 3])).reshaped([32, 9]).scalars
        for channel in 0..<32 {
            let plane = Set(out[(channel * 9)..<(channel * 9 + 9)])
            #expect(plane == [0] || plane == [2])
        }
    }
}

@Suite struct Initializers {
    @Test func boundsAndSpreadsFollowTheFans() {
        let g = Generator(seed: 8)
        let w = Tensor.zeros([256, 128, 3, 3])
        Init.kaimingUniform(w, nonlinearity: .relu, generator: g)
        let bound = Float(2).squareRoot() * (3 / Float(128 * 9)).squareRoot()
        #expect(w.max().item <= bound && w.min().item >= -bound && w.max().item > 0.95 * bound)
        Init.kaimingNormal(w, nonlinearity: .relu, mode: .fanOut, generator: g)
        let std = w.variance().sqrt().item
        #expect(abs(std - Float(2).squareRoot() / Float(256 * 9).squareRoot()) < 1e-3)
        let v = Tensor.zeros([300, 200])
        Init.xavierNormal(v, generator: g)
        #expect(abs(v.variance().sqrt().item - (2 / Float(500)).squareRoot()) < 1e-3)
        Init.xavierUniform(v, gain: 2, generator: g)
        #expect(v.max().item <= 2 * (6 / Float(500)).squareRoot())
    }

    @Test func orthogonalRowsAreOrthonormal() {
        for shape in [[4, 10], [10, 4], [6, 2, 3]] {
            let w = Tensor.zeros(shape)
            Init.orthogonal(w, gain: 1, generator: Generator(seed: 2))
            let matrix = w.reshaped([shape[0], -1])
            let gram = shape[0] <= matrix.shape[1] ? matmul(matrix, matrix.T) : matmul(matrix.T, matrix)
            #expect(toleranceOK(gram, Tensor.eye(gram.shape[0]), atol: 1e-5))
        }
    }

    @Test func linearDefaultInitMatchesPyTorchBounds() {
        let layer = Linear(100, 50)
        let bound = 1 / Float(100).squareRoot()
        #expect(layer.weight.max().item <= bound && layer.weight.min().item >= -bound)
        #expect(layer.bias!.max().item <= bound)
    }
}

func toleranceOK(_ a: Tensor, _ b: Tensor, atol: Float = 1e-5, rtol: Float = 1e-4) -> Bool {
    a.shape == b.shape && zip(a.scalars, b.scalars).allSatisfy { abs($0 - $1) <= atol + rtol * abs($1) }
}

/// A Sequential runs BatchNorm → ReLU as one fused op: the same outputs, gradients and running
/// statistics as calling its layers one by one, and the fused op is what the graph records.
@Suite struct SequentialFusion {
    @Test func batchNormThenReLUMatchesTheLayersOneByOne() {
        func run(layerByLayer: Bool) -> (output: Tensor, grads: [[Float]], running: [Float], op: String) {
            let model = Generator.withDefault(Generator(seed: 20)) {
                Sequential(Conv2d(2, 4, kernelSize: 3, padding: 1), BatchNorm2d(4), ReLU(), Conv2d(4, 2, kernelSize: 1))
            }
            let x = Tensor.randn([3, 2, 6, 6], generator: Generator(seed: 21))
            let y = layerByLayer ? (0..<model.count).reduce(x) { model[$1]($0) } : model(x)
            // The op recorded under the last convolution (before backward frees the graph).
            let op = y.gradFunction!.inputs.first!.gradFunction!.name
            y.sum().backward()
            let norm = model[1] as! BatchNorm2d
            return (y, model.parameters().map { $0.grad!.scalars }, norm.runningMean!.value.scalars + norm.runningVar!.value.scalars, op)
        }
        let (fused, reference) = (run(layerByLayer: false), run(layerByLayer: true))
        #expect(fused.op == "batchNormReLU" && reference.op == "relu")
        #expect(fused.output.scalars == reference.output.scalars)
        #expect(fused.grads == reference.grads && fused.running == reference.running)
    }
}

import Foundation
import Galen
import GalenNN
import GalenTestSupport
import Testing

// RNN, LSTM and GRU against PyTorch (fixtures from Scripts/fixtures/recurrent_cases.py): PyTorch's
// state dicts load by name, and outputs, final states and the gradients of every parameter, the
// input and the initial states match the float64 reference — uni- and bidirectional, two layers,
// batch-first, and variable lengths against pack_padded_sequence.

private let recurrentFixtures = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!
    .appendingPathComponent("recurrent")

private let recurrentCases: [String] = {
    let data = try! Data(contentsOf: recurrentFixtures.appendingPathComponent("cases.json"))
    return try! JSONDecoder().decode([String].self, from: data)
}()

/// Elementwise |actual − expected| ≤ 1e-4·|expected| + 1e-5·scale (scale: the tensor's largest
/// magnitude, at least 1); returns the worst error over that tolerance.
private func closeness(_ actual: Tensor, _ expected: Tensor) -> Float {
    guard actual.shape == expected.shape else { return .infinity }
    let scale = max(expected.scalars.map(abs).max() ?? 0, 1)
    return toleranceRatio(actual, expected, rtol: 1e-4, atol: 1e-5 * scale)
}

@Suite struct RecurrentParity {
    @Test(arguments: recurrentCases)
    func matchesPyTorch(_ name: String) throws {
        let file = try SafeTensors(contentsOf: recurrentFixtures.appendingPathComponent("\(name).safetensors"))
        let config = file.metadata
        let kind: RecurrentCell = switch (config["kind"], config["nonlinearity"]) {
        case ("lstm", _): .lstm
        case ("gru", _): .gru
        case (_, "relu"): .rnnRelu
        default: .rnnTanh
        }
        func int(_ key: String) -> Int { Int(config[key] ?? "") ?? 0 }
        func tensor(_ key: String) throws -> Tensor? {
            file.names.contains(key) ? try file.floatTensor(named: key) : nil
        }
        var state: [String: Tensor] = [:]
        for key in file.names where key.hasPrefix("state.") { state[String(key.dropFirst(6))] = try file.floatTensor(named: key) }

        let input = try #require(try tensor("input")).requiringGrad()
        let h0 = try tensor("h0")?.requiringGrad()
        let c0 = try tensor("c0")?.requiringGrad()
        let module: Module
        var results: [String: Tensor] = [:]
        if config["cell"] == "1" {
            let cell = RecurrentCellLayer(kind, inputSize: int("input_size"), hiddenSize: int("hidden_size"))
            try cell.load(stateDict: state, strict: true)
            let (hidden, newCell) = cell(input, hidden: h0!, cell: c0)
            results["hidden"] = hidden
            results["cell"] = newCell
            module = cell
        } else {
            let network = RecurrentNetwork(
                kind, inputSize: int("input_size"), hiddenSize: int("hidden_size"), layers: int("layers"),
                bias: int("bias") == 1, batchFirst: int("batch_first") == 1, bidirectional: int("bidirectional") == 1)
            // Same keys in PyTorch's order (the file itself stores names sorted).
            #expect(network.stateDict().map(\.key).joined(separator: ",") == config["keys"])
            try network.load(stateDict: state, strict: true)
            let lengths = config["lengths"].flatMap { $0.isEmpty ? nil : $0.split(separator: ",").map { Int($0)! } }
            let result = network(input, hidden: h0, cell: c0, lengths: lengths)
            results["output"] = result.output
            results["hidden"] = result.hidden
            results["cell"] = result.cell
            module = network
        }

        var loss = Tensor(scalar: 0)
        for (key, value) in results {
            let expected = try #require(try tensor(key), "\(name): fixture has no \(key)")
            let ratio = closeness(value, expected)
            #expect(ratio <= 1, "\(name): \(key) differs from PyTorch (error/tolerance \(ratio))")
            loss = loss + (value * (try #require(try tensor("up.\(key)")))).sum()
        }
        loss.backward()
        for (key, parameter) in module.namedParameters() {
            let expected = try #require(try tensor("grad.\(key)"), "\(name): no gradient for \(key) in the fixture")
            let ratio = closeness(try #require(parameter.grad, "\(name): \(key) got no gradient"), expected)
            #expect(ratio <= 1, "\(name): gradient of \(key) differs from PyTorch (error/tolerance \(ratio))")
        }
        for (key, leaf) in [("input", input), ("h0", h0), ("c0", c0)] {
            guard let leaf else { continue }
            let expected = try #require(try tensor("grad.\(key)"))
            let ratio = closeness(try #require(leaf.grad, "\(name): \(key) got no gradient"), expected)
            #expect(ratio <= 1, "\(name): gradient of \(key) differs from PyTorch (error/tolerance \(ratio))")
        }
    }
}

@Suite struct RecurrentBehaviour {
    /// The fused op's gradients against central differences, for each cell type with lengths.
    @Test(arguments: RecurrentCell.allCases)
    func finiteDifferences(_ kind: RecurrentCell) {
        let generator = Generator(seed: 7)
        let (steps, batch, features, width) = (4, 2, 3, 3)
        let gates = kind.gateCount * width
        let tensors = [
            Tensor.randn([steps, batch, features], generator: generator),
            Tensor.randn([batch, width], generator: generator) * 0.5,
            Tensor.randn([batch, width], generator: generator) * 0.5,
            Tensor.randn([gates, features], generator: generator) * 0.5,
            Tensor.randn([gates, width], generator: generator) * 0.5,
            Tensor.randn([gates], generator: generator) * 0.5,
            Tensor.randn([gates], generator: generator) * 0.5,
        ]
        let upstream = Tensor.randn([steps * batch * width + batch * width], generator: generator)
        func objective(_ t: [Tensor]) -> Tensor {
            let result = recurrentLayer(
                kind, input: t[0], hidden: t[1], cell: kind == .lstm ? t[2] : nil, weightIH: t[3], weightHH: t[4],
                biasIH: t[5], biasHH: t[6], lengths: [4, 2], reverse: kind == .gru)
            let flat = concat([result.output.reshaped([-1]), (result.cell ?? result.hidden).reshaped([-1])])
            return (flat * upstream).sum()
        }
        let leaves = tensors.map { $0.copy().requiringGrad() }
        objective(leaves).backward()
        for (index, leaf) in leaves.enumerated() where kind == .lstm || index != 2 {
            let analytic = leaf.grad!.scalars
            for position in stride(from: 0, to: leaf.count, by: max(1, leaf.count / 7)) {
                func value(_ delta: Float) -> Double {
                    var perturbed = tensors.map { $0.copy() }
                    perturbed[index].storage.pointer[position] += delta
                    return Double(noGrad { objective(perturbed) }.item)
                }
                let numeric = Float((value(1e-2) - value(-1e-2)) / 2e-2)
                #expect(abs(numeric - analytic[position]) <= 2e-3 + 1e-2 * abs(numeric),
                        "\(kind) input \(index)[\(position)]: analytic \(analytic[position]) vs numeric \(numeric)")
            }
        }
    }

    /// A mask of valid steps gives the same result as the lengths it encodes, and padded steps
    /// neither change the final state nor receive gradient.
    @Test func maskMatchesLengthsAndPaddingIsInert() {
        Generator.withDefault(Generator(seed: 3)) {
            let lstm = LSTM(inputSize: 2, hiddenSize: 4, batchFirst: true)
            let x = Tensor.randn([2, 5, 2])
            let mask = IntTensor([1, 1, 1, 0, 0, 1, 1, 1, 1, 1], shape: [2, 5])
            let viaMask = lstm(x, mask: mask)
            let viaLengths = lstm(x, lengths: [3, 5])
            #expect(viaMask.hidden.scalars == viaLengths.hidden.scalars)
            // Changing the padding does not change anything.
            let changed = x.copy()
            changed.storage.pointer[3 * 2] = 100
            let again = lstm(changed, lengths: [3, 5])
            #expect(again.hidden.scalars == viaLengths.hidden.scalars)
            #expect(again.output.scalars == viaLengths.output.scalars)
            // Sequence 0 alone, unpadded, ends in the same state.
            let alone = lstm(x.narrow(axis: 0, start: 0, length: 1).narrow(axis: 1, start: 0, length: 3))
            let first = viaLengths.hidden.select(axis: 1, index: 0).scalars
            let reference = alone.hidden.select(axis: 1, index: 0).scalars
            for (a, b) in zip(first, reference) { #expect(abs(a - b) <= 1e-6) }
        }
    }

    /// Dropout between layers is applied in training only, and the same generator seed repeats it.
    @Test func dropoutBetweenLayersIsSeededAndTrainingOnly() {
        func run(training: Bool, seed: UInt64) -> [Float] {
            Generator.withDefault(Generator(seed: 11)) {
                let gru = GRU(inputSize: 3, hiddenSize: 8, layers: 2, dropout: 0.5, generator: Generator(seed: seed))
                gru.train(training)
                return gru(Tensor.ones([6, 2, 3])).output.scalars
            }
        }
        #expect(run(training: true, seed: 1) == run(training: true, seed: 1))
        #expect(run(training: true, seed: 1) != run(training: true, seed: 2))
        #expect(run(training: false, seed: 1) == run(training: false, seed: 2))
        #expect(run(training: true, seed: 1) != run(training: false, seed: 1))
    }

    /// Unbatched input (T, I) gives the batch-of-one result without the batch axis.
    @Test func unbatchedInput() {
        let rnn = RNN(inputSize: 3, hiddenSize: 2, layers: 2, bidirectional: true, generator: Generator(seed: 5))
        let x = Tensor.randn([4, 3], generator: Generator(seed: 6))
        let single = rnn(x)
        let batched = rnn(x.unsqueezed(axis: 1))
        #expect(single.output.shape == [4, 4])
        #expect(single.hidden.shape == [4, 2])
        #expect(single.output.scalars == batched.output.scalars)
    }
}

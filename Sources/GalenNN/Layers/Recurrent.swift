import Galen

/// What a recurrent network returns (PyTorch's `output, h_n` or `output, (h_n, c_n)`).
public struct RecurrentOutput {
    /// The last layer's hidden state at every step: (T, B, D·H), or (B, T, D·H) when batch-first;
    /// zero at steps past a sequence's length.
    public let output: Tensor
    /// Every layer's and direction's final hidden state, (layers·D, B, H), layer-major.
    public let hidden: Tensor
    /// LSTM only: the final cell states, (layers·D, B, H).
    public let cell: Tensor?
}

/// A multi-layer, optionally bidirectional RNN, LSTM or GRU with PyTorch's parameters, names
/// (`weight_ih_l0`, `weight_hh_l0`, `bias_ih_l0`, `bias_hh_l0`, `…_reverse`), initialization
/// (all U(±1/√H)) and semantics; `RNN`, `LSTM` and `GRU` below fix the cell.
///
/// Variable-length batches take `lengths` (or a mask): the result equals PyTorch's
/// `pack_padded_sequence` → RNN → `pad_packed_sequence`, without sorting.
open class RecurrentNetwork: Module, DrawsRandomNumbers {
    public let kind: RecurrentCell
    public let inputSize: Int
    public let hiddenSize: Int
    public let layers: Int
    public let bidirectional: Bool
    public let batchFirst: Bool
    /// Dropout on each layer's output except the last, in training (PyTorch's `dropout`).
    public let dropout: Float
    public let generator: Generator
    /// Truncated backpropagation through time: in training, gradients flow back at most through
    /// chunks of this many steps (nil: the whole sequence). The forward result is unchanged.
    public var truncation: Int?
    /// Per layer and direction: weight_ih, weight_hh, then the biases if any.
    private let weights: [[Tensor]]
    private let hasBias: Bool

    public var directions: Int { bidirectional ? 2 : 1 }

    public init(
        _ kind: RecurrentCell, inputSize: Int, hiddenSize: Int, layers: Int = 1, bias: Bool = true,
        batchFirst: Bool = false, dropout: Float = 0, bidirectional: Bool = false, generator: Generator = .default
    ) {
        check(inputSize > 0 && hiddenSize > 0 && layers > 0,
              "\(kind.rawValue): sizes must be positive, got input \(inputSize), hidden \(hiddenSize), layers \(layers)")
        check(dropout >= 0 && dropout < 1, "\(kind.rawValue): dropout \(dropout) is outside [0, 1)")
        self.kind = kind
        self.inputSize = inputSize
        self.hiddenSize = hiddenSize
        self.layers = layers
        self.bidirectional = bidirectional
        self.batchFirst = batchFirst
        self.dropout = dropout
        self.generator = generator
        self.hasBias = bias
        let gates = kind.gateCount * hiddenSize
        var weights: [[Tensor]] = []
        for layer in 0..<layers {
            let layerInput = layer == 0 ? inputSize : hiddenSize * (bidirectional ? 2 : 1)
            for _ in 0..<(bidirectional ? 2 : 1) {
                var set = [Tensor.zeros([gates, layerInput]), Tensor.zeros([gates, hiddenSize])]
                if bias { set += [Tensor.zeros([gates]), Tensor.zeros([gates])] }
                weights.append(set.map { $0.requiringGrad() })
            }
        }
        self.weights = weights
        super.init()
        resetParameters()
    }

    /// PyTorch's initialization: every weight and bias U(−1/√H, 1/√H), drawn from the default
    /// generator like every other layer's (`generator` is the dropout's).
    public func resetParameters() {
        let bound = 1 / Float(hiddenSize).squareRoot()
        for set in weights {
            for tensor in set { Init.uniform(tensor, low: -bound, high: bound) }
        }
    }

    public override func namedOwnParameters() -> [(String, Tensor)] {
        var result: [(String, Tensor)] = []
        for layer in 0..<layers {
            for direction in 0..<directions {
                let suffix = "_l\(layer)" + (direction == 1 ? "_reverse" : "")
                let set = weights[layer * directions + direction]
                let names = hasBias ? ["weight_ih", "weight_hh", "bias_ih", "bias_hh"] : ["weight_ih", "weight_hh"]
                for (name, tensor) in zip(names, set) { result.append((name + suffix, tensor)) }
            }
        }
        return result
    }

    public override func namedOwnBuffers() -> [(String, Buffer)] { [] }
    public override func namedChildren() -> [(String, Module)] { [] }

    /// Runs the network.
    ///
    /// - Parameters:
    ///   - input: (T, B, I), (B, T, I) when batch-first, or unbatched (T, I).
    ///   - hidden: initial hidden states (layers·D, B, H) (or (layers·D, H) unbatched); zeros if nil.
    ///   - cell: LSTM initial cell states, same shape; zeros if nil.
    ///   - lengths: each sequence's valid length (the rest is padding).
    public func callAsFunction(
        _ input: Tensor, hidden: Tensor? = nil, cell: Tensor? = nil, lengths: [Int]? = nil
    ) -> RecurrentOutput {
        let name = kind.rawValue
        check(input.rank == 2 || input.rank == 3, "\(name): input must be (T, B, I), (B, T, I) or (T, I), got \(input.shape)")
        let unbatched = input.rank == 2
        var x = unbatched ? input.unsqueezed(axis: 1) : (batchFirst ? input.transposed(0, 1) : input)
        check(x.shape[2] == inputSize, "\(name): input has \(x.shape[2]) features, the layer expects \(inputSize)")
        let batch = x.shape[1]
        let stateShape = [layers * directions, batch, hiddenSize]
        func initialState(_ given: Tensor?, _ what: String) -> Tensor {
            guard var state = given else { return Tensor.zeros(stateShape) }
            if unbatched { state = state.unsqueezed(axis: 1) }
            check(state.shape == stateShape, "\(name): initial \(what) state must be \(stateShape), got \(state.shape)")
            return state
        }
        let h0 = initialState(hidden, "hidden")
        let c0 = kind == .lstm ? initialState(cell, "cell") : nil
        check(kind == .lstm || cell == nil, "\(name): only an LSTM takes a cell state")
        if let lengths {
            check(!unbatched, "\(name): lengths need a batched input")
            check(lengths.count == batch, "\(name): \(lengths.count) lengths for a batch of \(batch)")
        }

        var finalHidden: [Tensor] = []
        var finalCell: [Tensor] = []
        for layer in 0..<layers {
            var outputs: [Tensor] = []
            for direction in 0..<directions {
                let index = layer * directions + direction
                let set = weights[index]
                let result = recurrentLayer(
                    kind, input: x, hidden: h0.select(axis: 0, index: index),
                    cell: c0?.select(axis: 0, index: index),
                    weightIH: set[0], weightHH: set[1], biasIH: hasBias ? set[2] : nil, biasHH: hasBias ? set[3] : nil,
                    lengths: lengths, reverse: direction == 1, truncation: isTraining ? truncation : nil)
                outputs.append(result.output)
                finalHidden.append(result.hidden)
                if let c = result.cell { finalCell.append(c) }
            }
            x = outputs.count == 1 ? outputs[0] : concat(outputs, axis: 2)
            if layer < layers - 1 && dropout > 0 && isTraining {
                x = Galen.dropout(x, p: dropout, training: true, generator: generator)
            }
        }
        var output = batchFirst && !unbatched ? x.transposed(0, 1) : x
        var hiddenOut = stack(finalHidden, axis: 0)
        var cellOut = finalCell.isEmpty ? nil : stack(finalCell, axis: 0)
        if unbatched {
            output = output.squeezed(axis: 1)
            hiddenOut = hiddenOut.squeezed(axis: 1)
            cellOut = cellOut?.squeezed(axis: 1)
        }
        return RecurrentOutput(output: output, hidden: hiddenOut, cell: cellOut)
    }

    /// Runs the network on a padded batch with a (B, T) mask that is 1 on the valid steps; each
    /// row's valid steps must come first (right padding).
    public func callAsFunction(_ input: Tensor, mask: IntTensor, hidden: Tensor? = nil, cell: Tensor? = nil) -> RecurrentOutput {
        check(mask.rank == 2, "\(kind.rawValue): mask must be (B, T), got \(mask.shape)")
        let steps = mask.shape[1]
        let lengths = (0..<mask.shape[0]).map { b in
            let row = mask.scalars[(b * steps)..<((b + 1) * steps)]
            let length = row.prefix { $0 != 0 }.count
            check(row.dropFirst(length).allSatisfy { $0 == 0 },
                  "\(kind.rawValue): mask row \(b) has a valid step after padding; only right padding is supported")
            return length
        }
        return self(input, hidden: hidden, cell: cell, lengths: lengths)
    }
}

/// Elman RNN with tanh or ReLU (PyTorch's `nn.RNN`).
public final class RNN: RecurrentNetwork {
    public enum Nonlinearity: String, Sendable { case tanh, relu }

    public init(
        inputSize: Int, hiddenSize: Int, layers: Int = 1, nonlinearity: Nonlinearity = .tanh, bias: Bool = true,
        batchFirst: Bool = false, dropout: Float = 0, bidirectional: Bool = false, generator: Generator = .default
    ) {
        super.init(nonlinearity == .tanh ? .rnnTanh : .rnnRelu, inputSize: inputSize, hiddenSize: hiddenSize,
                   layers: layers, bias: bias, batchFirst: batchFirst, dropout: dropout,
                   bidirectional: bidirectional, generator: generator)
    }
}

/// Long short-term memory (PyTorch's `nn.LSTM`, without `proj_size`).
public final class LSTM: RecurrentNetwork {
    public init(
        inputSize: Int, hiddenSize: Int, layers: Int = 1, bias: Bool = true,
        batchFirst: Bool = false, dropout: Float = 0, bidirectional: Bool = false, generator: Generator = .default
    ) {
        super.init(.lstm, inputSize: inputSize, hiddenSize: hiddenSize, layers: layers, bias: bias,
                   batchFirst: batchFirst, dropout: dropout, bidirectional: bidirectional, generator: generator)
    }
}

/// Gated recurrent unit (PyTorch's `nn.GRU`).
public final class GRU: RecurrentNetwork {
    public init(
        inputSize: Int, hiddenSize: Int, layers: Int = 1, bias: Bool = true,
        batchFirst: Bool = false, dropout: Float = 0, bidirectional: Bool = false, generator: Generator = .default
    ) {
        super.init(.gru, inputSize: inputSize, hiddenSize: hiddenSize, layers: layers, bias: bias,
                   batchFirst: batchFirst, dropout: dropout, bidirectional: bidirectional, generator: generator)
    }
}

/// One step of an RNN, LSTM or GRU (PyTorch's `nn.RNNCell`, `nn.LSTMCell`, `nn.GRUCell`), with the
/// keys `weight_ih`, `weight_hh`, `bias_ih`, `bias_hh`: for hand-written loops such as decoders.
public final class RecurrentCellLayer: Module {
    public let kind: RecurrentCell
    public let weightIh: Tensor
    public let weightHh: Tensor
    public let biasIh: Tensor?
    public let biasHh: Tensor?

    public init(_ kind: RecurrentCell, inputSize: Int, hiddenSize: Int, bias: Bool = true) {
        check(inputSize > 0 && hiddenSize > 0, "\(kind.rawValue) cell: sizes must be positive")
        self.kind = kind
        let gates = kind.gateCount * hiddenSize
        weightIh = Tensor.zeros([gates, inputSize]).requiringGrad()
        weightHh = Tensor.zeros([gates, hiddenSize]).requiringGrad()
        biasIh = bias ? Tensor.zeros([gates]).requiringGrad() : nil
        biasHh = bias ? Tensor.zeros([gates]).requiringGrad() : nil
        super.init()
        let bound = 1 / Float(hiddenSize).squareRoot()
        for tensor in [weightIh, weightHh, biasIh, biasHh].compactMap({ $0 }) {
            Init.uniform(tensor, low: -bound, high: bound)
        }
    }

    /// One step: input (B, I), hidden (B, H) (and the LSTM's cell (B, H)) → the new states.
    public func callAsFunction(_ input: Tensor, hidden: Tensor, cell: Tensor? = nil) -> (hidden: Tensor, cell: Tensor?) {
        check(input.rank == 2, "\(kind.rawValue) cell: input must be (B, I), got \(input.shape)")
        let result = recurrentLayer(
            kind, input: input.unsqueezed(axis: 0), hidden: hidden, cell: cell,
            weightIH: weightIh, weightHH: weightHh, biasIH: biasIh, biasHH: biasHh)
        return (result.hidden, result.cell)
    }
}

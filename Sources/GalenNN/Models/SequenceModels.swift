import Galen

/// What a sequence model reads.
public enum SequenceInput: Sendable, Equatable {
    /// A multichannel signal, (N, channels, length): ECG leads, for example.
    case signal(channels: Int, length: Int)
    /// Token ids stored as Float values, (N, maxLength), right-padded with id 0 (GalenData's
    /// `SequenceDataset` layout): peptides or SMILES, one character per token.
    case tokens(vocabulary: Int, maxLength: Int)

    /// Steps the recurrent or attention part sees.
    public var length: Int {
        switch self {
        case .signal(_, let length): length
        case .tokens(_, let maxLength): maxLength
        }
    }
}

/// Token ids (N, T) held as Float → integer ids and each row's length (tokens before the first
/// padding id 0; ids are non-negative integers, exact in Float below 2^24).
func tokenIDsAndLengths(_ x: Tensor, maxLength: Int, vocabulary: Int) -> (IntTensor, [Int]) {
    check(x.rank == 2 && x.shape[1] == maxLength, "token model: input must be (N, \(maxLength)) token ids, got \(x.shape)")
    let values = x.scalars
    let ids = values.map { value -> Int in
        let id = Int(value)
        check(Float(id) == value && id >= 0 && id < vocabulary, "token model: \(value) is not a token id below \(vocabulary)")
        return id
    }
    let lengths = (0..<x.shape[0]).map { row in
        ids[(row * maxLength)..<((row + 1) * maxLength)].prefix { $0 != 0 }.count
    }
    return (IntTensor(ids, shape: x.shape), lengths)
}

/// An LSTM or GRU classifier or regressor: characters are embedded (a signal's samples go in as
/// they are), a bidirectional two-layer recurrent network reads the valid steps (padding excluded
/// through lengths), and the last layer's final forward and backward states feed a linear head.
public final class RecurrentSequenceModel: Module, Layer {
    public let input: SequenceInput
    public let embedding: Embedding?
    public let rnn: RecurrentNetwork
    public let dropout: Dropout
    public let head: Linear

    public init(_ kind: RecurrentCell, input: SequenceInput, outputs: Int, embeddingDimension: Int = 32,
                hiddenSize: Int = 64, layers: Int = 2, bidirectional: Bool = true, dropout: Float = 0.2) {
        self.input = input
        let features: Int
        switch input {
        case .signal(let channels, _):
            embedding = nil
            features = channels
        case .tokens(let vocabulary, _):
            embedding = Embedding(vocabulary, embeddingDimension, paddingIndex: 0)
            features = embeddingDimension
        }
        rnn = RecurrentNetwork(kind, inputSize: features, hiddenSize: hiddenSize, layers: layers,
                               dropout: layers > 1 ? dropout : 0, bidirectional: bidirectional)
        self.dropout = Dropout(p: dropout)
        head = Linear(hiddenSize * (bidirectional ? 2 : 1), outputs)
        super.init()
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        let (sequence, lengths) = timeMajorSequence(x)
        let result = rnn(sequence, lengths: lengths)
        // hidden is (layers·D, N, H), layer-major: the last layer's directions are the last D rows.
        let directions = rnn.directions
        let last = (0..<directions).map { result.hidden.select(axis: 0, index: (rnn.layers - 1) * directions + $0) }
        let features = directions == 1 ? last[0] : concat(last, axis: 1)
        return head(dropout(features))
    }

    /// (T, N, features) and, for tokens, each sequence's length.
    func timeMajorSequence(_ x: Tensor) -> (Tensor, [Int]?) {
        switch input {
        case .signal(let channels, let length):
            check(x.rank == 3 && x.shape[1] == channels && x.shape[2] == length,
                  "RecurrentSequenceModel: input must be (N, \(channels), \(length)), got \(x.shape)")
            return (x.permuted([2, 0, 1]), nil)
        case .tokens(let vocabulary, let maxLength):
            let (ids, lengths) = tokenIDsAndLengths(x, maxLength: maxLength, vocabulary: vocabulary)
            let embedded = embedding!(ids)  // (N, T, E)
            return (embedded.transposed(0, 1), lengths.map { Swift.max($0, 1) })
        }
    }
}

/// A convolutional front end (two Conv1d–BatchNorm–ReLU blocks; on signals each followed by max
/// pooling by 2, which shortens the sequence 4×) and a bidirectional LSTM on top: the usual
/// "CNN + LSTM" beat classifier. Tokens are embedded first and keep their length.
public final class ConvolutionalLSTM: Module, Layer {
    public let input: SequenceInput
    public let embedding: Embedding?
    public let conv1: Conv1d
    public let bn1: BatchNorm1d
    public let conv2: Conv1d
    public let bn2: BatchNorm1d
    public let lstm: LSTM
    public let dropout: Dropout
    public let head: Linear

    public init(input: SequenceInput, outputs: Int, embeddingDimension: Int = 32, channels: Int = 32,
                hiddenSize: Int = 64, dropout: Float = 0.2) {
        self.input = input
        let inChannels: Int
        switch input {
        case .signal(let c, _):
            embedding = nil
            inChannels = c
        case .tokens(let vocabulary, _):
            embedding = Embedding(vocabulary, embeddingDimension, paddingIndex: 0)
            inChannels = embeddingDimension
        }
        conv1 = Conv1d(inChannels, channels, kernelSize: 7, padding: 3)
        bn1 = BatchNorm1d(channels)
        conv2 = Conv1d(channels, 2 * channels, kernelSize: 5, padding: 2)
        bn2 = BatchNorm1d(2 * channels)
        lstm = LSTM(inputSize: 2 * channels, hiddenSize: hiddenSize, bidirectional: true)
        self.dropout = Dropout(p: dropout)
        head = Linear(2 * hiddenSize, outputs)
        super.init()
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        var features: Tensor
        var lengths: [Int]? = nil
        let pools: Bool
        switch input {
        case .signal(let channels, let length):
            check(x.rank == 3 && x.shape[1] == channels && x.shape[2] == length,
                  "ConvolutionalLSTM: input must be (N, \(channels), \(length)), got \(x.shape)")
            features = x
            pools = true
        case .tokens(let vocabulary, let maxLength):
            let (ids, tokenLengths) = tokenIDsAndLengths(x, maxLength: maxLength, vocabulary: vocabulary)
            features = embedding!(ids).transposed(1, 2)  // (N, E, T)
            lengths = tokenLengths.map { Swift.max($0, 1) }
            pools = false
        }
        for (conv, bn) in [(conv1, bn1), (conv2, bn2)] {
            features = bn(conv(features), relu: true)
            if pools {
                // Max pooling along time: a (1, 2) window over (N, C, 1, T).
                let n = features.shape
                features = maxPool2d(features.reshaped([n[0], n[1], 1, n[2]]), kernelSize: (1, 2))
                    .reshaped([n[0], n[1], n[2] / 2])
            }
        }
        let result = lstm(features.permuted([2, 0, 1]), lengths: lengths)
        let last = concat([result.hidden.select(axis: 0, index: 0), result.hidden.select(axis: 0, index: 1)], axis: 1)
        return head(dropout(last))
    }
}

/// A transformer encoder classifier or regressor: tokens are embedded (scaled by √d), a signal is
/// cut into overlapping patches by a strided Conv1d (kernel 8, stride 4); sinusoidal positions are
/// added; two pre-norm encoder layers (d 64, 4 heads, feed-forward 128, GELU) attend over the
/// valid positions (padding masked out of attention and of the mean); the mean token feeds a
/// linear head.
public final class TransformerSequenceModel: Module, Layer {
    public let input: SequenceInput
    public let embedding: Embedding?
    public let patchEmbedding: Conv1d?
    public let positions: SinusoidalPositionalEncoding
    public let encoder: TransformerEncoder
    public let head: Linear
    public let dimension: Int

    public init(input: SequenceInput, outputs: Int, dimension: Int = 64, heads: Int = 4, feedforward: Int = 128,
                layers: Int = 2, dropout: Float = 0.1) {
        self.input = input
        self.dimension = dimension
        let steps: Int
        switch input {
        case .signal(let channels, let length):
            embedding = nil
            patchEmbedding = Conv1d(channels, dimension, kernelSize: 8, stride: 4)
            steps = (length - 8) / 4 + 1
        case .tokens(let vocabulary, let maxLength):
            embedding = Embedding(vocabulary, dimension, paddingIndex: 0)
            patchEmbedding = nil
            steps = maxLength
        }
        positions = SinusoidalPositionalEncoding(dModel: dimension, maxLength: max(steps, 1), dropout: dropout)
        encoder = TransformerEncoder(numLayers: layers, norm: LayerNorm([dimension])) {
            TransformerEncoderLayer(dModel: dimension, heads: heads, feedforward: feedforward, dropout: dropout,
                                    activation: .gelu, batchFirst: true, normFirst: true)
        }
        head = Linear(dimension, outputs)
        super.init()
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        switch input {
        case .signal(let channels, let length):
            check(x.rank == 3 && x.shape[1] == channels && x.shape[2] == length,
                  "TransformerSequenceModel: input must be (N, \(channels), \(length)), got \(x.shape)")
            let tokens = patchEmbedding!(x).transposed(1, 2)  // (N, L', d)
            return head(encoder(positions(tokens)).mean(axis: 1))
        case .tokens(let vocabulary, let maxLength):
            let (ids, lengths) = tokenIDsAndLengths(x, maxLength: maxLength, vocabulary: vocabulary)
            let n = x.shape[0]
            // Padding is masked out of attention; an all-padding row keeps its first position so
            // that no softmax row is empty.
            let padding = IntTensor((0..<n).flatMap { row in (0..<maxLength).map { $0 >= Swift.max(lengths[row], 1) ? 1 : 0 } },
                                    shape: [n, maxLength])
            let embedded = embedding!(ids) * Float(dimension).squareRoot()
            let encoded = encoder(positions(embedded), srcKeyPaddingMask: padding)
            let valid = (1 - padding.toFloat()).reshaped([n, maxLength, 1])
            let pooled = (encoded * valid).sum(axis: 1) / valid.sum(axis: 1)
            return head(pooled)
        }
    }
}

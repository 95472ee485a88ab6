import Galen

/// The feed-forward nonlinearity of a transformer layer.
public enum TransformerActivation: Sendable {
    case relu
    /// The exact (erf) GELU, PyTorch's "gelu".
    case gelu

    func callAsFunction(_ x: Tensor) -> Tensor {
        switch self {
        case .relu: Galen.relu(x)
        case .gelu: Galen.gelu(x)
        }
    }
}

/// Self-attention and a feed-forward block, each with a residual connection and layer norm
/// (PyTorch's `nn.TransformerEncoderLayer`, same state-dict keys: `self_attn.*`, `linear1`,
/// `linear2`, `norm1`, `norm2`).
///
/// Post-norm (default): x = norm1(x + SA(x)); x = norm2(x + FF(x)). With `normFirst`:
/// x = x + SA(norm1(x)); x = x + FF(norm2(x)). Inputs are (S, N, E) or, with `batchFirst`, (N, S, E).
public final class TransformerEncoderLayer: Module, Layer {
    public let selfAttn: MultiheadAttention
    public let linear1: Linear
    public let dropout: Dropout
    public let linear2: Linear
    public let norm1: LayerNorm
    public let norm2: LayerNorm
    public let dropout1: Dropout
    public let dropout2: Dropout
    public let activation: TransformerActivation
    public let normFirst: Bool
    public let batchFirst: Bool

    /// - Parameter generator: draws the dropout masks (attention, feed-forward and residual).
    public init(
        dModel: Int, heads: Int, feedforward: Int = 2048, dropout: Float = 0.1, activation: TransformerActivation = .relu,
        layerNormEpsilon: Float = 1e-5, batchFirst: Bool = false, normFirst: Bool = false, bias: Bool = true,
        generator: Generator = .default
    ) {
        selfAttn = MultiheadAttention(embedDim: dModel, heads: heads, dropout: dropout, bias: bias, batchFirst: batchFirst, generator: generator)
        linear1 = Linear(dModel, feedforward, bias: bias)
        self.dropout = Dropout(p: dropout, generator: generator)
        linear2 = Linear(feedforward, dModel, bias: bias)
        norm1 = LayerNorm([dModel], epsilon: layerNormEpsilon)
        norm2 = LayerNorm([dModel], epsilon: layerNormEpsilon)
        dropout1 = Dropout(p: dropout, generator: generator)
        dropout2 = Dropout(p: dropout, generator: generator)
        (self.activation, self.normFirst, self.batchFirst) = (activation, normFirst, batchFirst)
        super.init()
    }

    /// - Parameters:
    ///   - mask: (S, S) or (N·heads, S, S) attention mask (PyTorch's bool mask is `.blocked`).
    ///   - srcKeyPaddingMask: (N, S), non-zero at padding positions.
    ///   - isCausal: causal self-attention (see `MultiheadAttention`).
    public func callAsFunction(
        _ src: Tensor, mask: AttentionMask? = nil, srcKeyPaddingMask: IntTensor? = nil, isCausal: Bool = false
    ) -> Tensor {
        func selfAttention(_ x: Tensor) -> Tensor {
            dropout1(selfAttn(x, x, x, keyPaddingMask: srcKeyPaddingMask, attentionMask: mask, needWeights: false, isCausal: isCausal).output)
        }
        func feedforward(_ x: Tensor) -> Tensor {
            dropout2(linear2(dropout(activation(linear1(x)))))
        }
        if normFirst {
            let x = src + selfAttention(norm1(src))
            return x + feedforward(norm2(x))
        }
        let x = norm1(src + selfAttention(src))
        return norm2(x + feedforward(x))
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { self(x, mask: nil) }
}

/// A stack of encoder layers and an optional final norm (PyTorch's `nn.TransformerEncoder`,
/// keys `layers.0.…`, `norm.…`).
public final class TransformerEncoder: Module, Layer {
    public let layers: [TransformerEncoderLayer]
    public let norm: LayerNorm?

    public init(layers: [TransformerEncoderLayer], norm: LayerNorm? = nil) {
        check(!layers.isEmpty, "TransformerEncoder: needs at least one layer")
        self.layers = layers
        self.norm = norm
        super.init()
    }

    /// `numLayers` layers from `makeLayer`, each initialized on its own (PyTorch deep-copies one
    /// layer, so its layers start equal; load a state dict to reproduce that).
    public convenience init(numLayers: Int, norm: LayerNorm? = nil, makeLayer: () -> TransformerEncoderLayer) {
        self.init(layers: (0..<numLayers).map { _ in makeLayer() }, norm: norm)
    }

    public func callAsFunction(
        _ src: Tensor, mask: AttentionMask? = nil, srcKeyPaddingMask: IntTensor? = nil, isCausal: Bool = false
    ) -> Tensor {
        var x = src
        for layer in layers { x = layer(x, mask: mask, srcKeyPaddingMask: srcKeyPaddingMask, isCausal: isCausal) }
        return norm.map { $0(x) } ?? x
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { self(x, mask: nil) }
}

/// Self-attention, attention over an encoder's output ("memory") and a feed-forward block, each
/// with a residual connection and layer norm (PyTorch's `nn.TransformerDecoderLayer`, keys
/// `self_attn.*`, `multihead_attn.*`, `linear1`, `linear2`, `norm1`–`norm3`).
public final class TransformerDecoderLayer: Module {
    public let selfAttn: MultiheadAttention
    public let multiheadAttn: MultiheadAttention
    public let linear1: Linear
    public let dropout: Dropout
    public let linear2: Linear
    public let norm1: LayerNorm
    public let norm2: LayerNorm
    public let norm3: LayerNorm
    public let dropout1: Dropout
    public let dropout2: Dropout
    public let dropout3: Dropout
    public let activation: TransformerActivation
    public let normFirst: Bool
    public let batchFirst: Bool

    public init(
        dModel: Int, heads: Int, feedforward: Int = 2048, dropout: Float = 0.1, activation: TransformerActivation = .relu,
        layerNormEpsilon: Float = 1e-5, batchFirst: Bool = false, normFirst: Bool = false, bias: Bool = true,
        generator: Generator = .default
    ) {
        selfAttn = MultiheadAttention(embedDim: dModel, heads: heads, dropout: dropout, bias: bias, batchFirst: batchFirst, generator: generator)
        multiheadAttn = MultiheadAttention(embedDim: dModel, heads: heads, dropout: dropout, bias: bias, batchFirst: batchFirst, generator: generator)
        linear1 = Linear(dModel, feedforward, bias: bias)
        self.dropout = Dropout(p: dropout, generator: generator)
        linear2 = Linear(feedforward, dModel, bias: bias)
        norm1 = LayerNorm([dModel], epsilon: layerNormEpsilon)
        norm2 = LayerNorm([dModel], epsilon: layerNormEpsilon)
        norm3 = LayerNorm([dModel], epsilon: layerNormEpsilon)
        dropout1 = Dropout(p: dropout, generator: generator)
        dropout2 = Dropout(p: dropout, generator: generator)
        dropout3 = Dropout(p: dropout, generator: generator)
        (self.activation, self.normFirst, self.batchFirst) = (activation, normFirst, batchFirst)
        super.init()
    }

    /// - Parameters:
    ///   - tgt: (T, N, E) or (N, T, E); memory: (S, N, E) or (N, S, E).
    ///   - tgtMask: (T, T) or (N·heads, T, T); memoryMask: (T, S) or (N·heads, T, S).
    ///   - tgtKeyPaddingMask: (N, T); memoryKeyPaddingMask: (N, S); non-zero at padding.
    public func callAsFunction(
        _ tgt: Tensor, memory: Tensor, tgtMask: AttentionMask? = nil, memoryMask: AttentionMask? = nil,
        tgtKeyPaddingMask: IntTensor? = nil, memoryKeyPaddingMask: IntTensor? = nil, tgtIsCausal: Bool = false,
        memoryIsCausal: Bool = false
    ) -> Tensor {
        func selfAttention(_ x: Tensor) -> Tensor {
            dropout1(selfAttn(x, x, x, keyPaddingMask: tgtKeyPaddingMask, attentionMask: tgtMask, needWeights: false, isCausal: tgtIsCausal).output)
        }
        func crossAttention(_ x: Tensor) -> Tensor {
            dropout2(multiheadAttn(
                x, memory, memory, keyPaddingMask: memoryKeyPaddingMask, attentionMask: memoryMask, needWeights: false,
                isCausal: memoryIsCausal).output)
        }
        func feedforward(_ x: Tensor) -> Tensor {
            dropout3(linear2(dropout(activation(linear1(x)))))
        }
        if normFirst {
            var x = tgt + selfAttention(norm1(tgt))
            x = x + crossAttention(norm2(x))
            return x + feedforward(norm3(x))
        }
        var x = norm1(tgt + selfAttention(tgt))
        x = norm2(x + crossAttention(x))
        return norm3(x + feedforward(x))
    }
}

/// A stack of decoder layers and an optional final norm (PyTorch's `nn.TransformerDecoder`).
public final class TransformerDecoder: Module {
    public let layers: [TransformerDecoderLayer]
    public let norm: LayerNorm?

    public init(layers: [TransformerDecoderLayer], norm: LayerNorm? = nil) {
        check(!layers.isEmpty, "TransformerDecoder: needs at least one layer")
        self.layers = layers
        self.norm = norm
        super.init()
    }

    /// `numLayers` layers from `makeLayer`, each initialized on its own.
    public convenience init(numLayers: Int, norm: LayerNorm? = nil, makeLayer: () -> TransformerDecoderLayer) {
        self.init(layers: (0..<numLayers).map { _ in makeLayer() }, norm: norm)
    }

    public func callAsFunction(
        _ tgt: Tensor, memory: Tensor, tgtMask: AttentionMask? = nil, memoryMask: AttentionMask? = nil,
        tgtKeyPaddingMask: IntTensor? = nil, memoryKeyPaddingMask: IntTensor? = nil, tgtIsCausal: Bool = false,
        memoryIsCausal: Bool = false
    ) -> Tensor {
        var x = tgt
        for layer in layers {
            x = layer(
                x, memory: memory, tgtMask: tgtMask, memoryMask: memoryMask, tgtKeyPaddingMask: tgtKeyPaddingMask,
                memoryKeyPaddingMask: memoryKeyPaddingMask, tgtIsCausal: tgtIsCausal, memoryIsCausal: memoryIsCausal)
        }
        return norm.map { $0(x) } ?? x
    }
}

import Foundation
import Galen

/// A character-level transformer language model, trained either GPT-style (causal: predict each
/// next token; sample with a temperature) or BERT-style (masked: predict randomly hidden tokens
/// from both sides). Token embedding plus learned positions, pre-norm encoder layers (a causal
/// mask for the causal objective), a final LayerNorm and a linear head over the vocabulary.
public final class CharacterLanguageModel: Module, Layer {
    public let tokenEmbedding: Embedding
    public let positionEmbedding: LearnedPositionalEmbedding
    public let encoder: TransformerEncoder
    public let head: Linear
    public let causal: Bool
    public let contextLength: Int

    public init(vocabulary: Int, contextLength: Int, causal: Bool, dimension: Int = 64, heads: Int = 4, layers: Int = 2,
                dropout: Float = 0.1) {
        check(vocabulary > 0 && contextLength > 0, "CharacterLanguageModel: vocabulary and context must be positive")
        tokenEmbedding = Embedding(vocabulary, dimension)
        Init.normal(tokenEmbedding.weight, std: 0.02)
        positionEmbedding = LearnedPositionalEmbedding(maxLength: contextLength, dModel: dimension)
        encoder = TransformerEncoder(numLayers: layers, norm: LayerNorm([dimension])) {
            TransformerEncoderLayer(dModel: dimension, heads: heads, feedforward: 4 * dimension, dropout: dropout,
                                    activation: .gelu, batchFirst: true, normFirst: true)
        }
        head = Linear(dimension, vocabulary)
        self.causal = causal
        self.contextLength = contextLength
        super.init()
    }

    /// Token ids (N, L ≤ contextLength) → logits over the vocabulary at every position (N, L, V).
    public func logits(_ ids: IntTensor, keyPaddingMask: IntTensor? = nil) -> Tensor {
        check(ids.rank == 2 && ids.shape[1] <= contextLength,
              "CharacterLanguageModel: ids must be (N, L ≤ \(contextLength)), got \(ids.shape)")
        let x = positionEmbedding(tokenEmbedding(ids))
        return head(encoder(x, srcKeyPaddingMask: keyPaddingMask, isCausal: causal))
    }

    /// Token ids held as Float (N, L) → logits (N, L, V).
    public func callAsFunction(_ x: Tensor) -> Tensor {
        logits(IntTensor(x.scalars.map { Int($0) }, shape: x.shape))
    }

    /// Continues `prompt` by sampling one token at a time from softmax(logits / temperature) until
    /// `stop` is drawn or `maxTokens` were added (causal models only).
    public func sample(prompt: [Int], maxTokens: Int, temperature: Float, stop: Int? = nil, generator: Generator) -> [Int] {
        check(causal, "CharacterLanguageModel.sample: only a causal model generates text")
        check(temperature > 0, "CharacterLanguageModel.sample: temperature must be positive, got \(temperature)")
        check(!prompt.isEmpty, "CharacterLanguageModel.sample: the prompt needs at least one token")
        var tokens = prompt
        let wasTraining = isTraining
        eval()
        defer { train(wasTraining) }
        for _ in 0..<maxTokens {
            let context = Array(tokens.suffix(contextLength))
            let last = noGrad { logits(IntTensor(context, shape: [1, context.count])) }
                .select(axis: 1, index: context.count - 1).reshaped([-1]).scalars
            let scaled = last.map { $0 / temperature }
            let top = scaled.max()!
            let weights = scaled.map { Foundation.exp(Double($0 - top)) }
            var u = generator.nextDouble() * weights.reduce(0, +)
            var next = weights.count - 1
            for (id, w) in weights.enumerated() {
                u -= w
                if u <= 0 { next = id; break }
            }
            tokens.append(next)
            if next == stop { break }
        }
        return tokens
    }
}

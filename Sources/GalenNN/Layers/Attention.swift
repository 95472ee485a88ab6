import Galen

/// Multi-head attention with PyTorch's `nn.MultiheadAttention` parameters (`in_proj_weight`
/// (3E, E), `in_proj_bias`, `out_proj.weight`, `out_proj.bias`) and initialization (Xavier-uniform
/// in-projection, zero biases, the default `Linear` init for the out-projection weight).
///
/// Inputs are (L, N, E) or, with `batchFirst`, (N, L, E); unbatched (L, E) inputs work too. Keys
/// and values must have E features (PyTorch's kdim = vdim = embed_dim).
public final class MultiheadAttention: Module, DrawsRandomNumbers {
    public let inProjWeight: Tensor
    public let inProjBias: Tensor?
    public let outProj: Linear
    public let embedDim: Int
    public let heads: Int
    /// Dropout on the attention weights in training mode.
    public let dropout: Float
    public let batchFirst: Bool
    /// Where the attention-dropout masks are drawn from.
    public let generator: Generator

    public init(
        embedDim: Int, heads: Int, dropout: Float = 0, bias: Bool = true, batchFirst: Bool = false,
        generator: Generator = .default
    ) {
        check(
            embedDim > 0 && heads > 0 && embedDim % heads == 0,
            "MultiheadAttention: embedDim \(embedDim) does not split into \(heads) heads")
        check(dropout >= 0 && dropout <= 1, "MultiheadAttention: dropout \(dropout) is outside [0, 1]")
        inProjWeight = Tensor.zeros([3 * embedDim, embedDim]).requiringGrad()
        inProjBias = bias ? Tensor.zeros([3 * embedDim]).requiringGrad() : nil
        outProj = Linear(embedDim, embedDim, bias: bias)
        (self.embedDim, self.heads, self.dropout, self.batchFirst, self.generator) =
            (embedDim, heads, dropout, batchFirst, generator)
        super.init()
        Init.xavierUniform(inProjWeight)
        if let bias = outProj.bias { Init.zeros(bias) }
    }

    /// Attends from `query` to `key`/`value`.
    ///
    /// - Parameters:
    ///   - keyPaddingMask: (N, S), non-zero at padding keys, which no query attends to.
    ///   - attentionMask: (L, S) or (N·heads, L, S). PyTorch's bool mask is `.blocked`.
    ///   - needWeights: also return the attention weights, (N, L, S) averaged over heads or
    ///     (N, heads, L, S) per head; they are differentiable, after dropout, as PyTorch's.
    ///   - isCausal: query i attends to keys 0…i. PyTorch takes this only as a hint that comes with
    ///     a causal `attentionMask`; here, without an attention mask, it applies the causal mask
    ///     itself, together with a key-padding mask if one is given.
    /// - Returns: the output, shaped like `query`, and the weights if asked for. As in PyTorch 2.x,
    ///   a query whose keys are all masked gets NaN when the weights are returned and 0 (before
    ///   the output projection) when they are not.
    public func callAsFunction(
        _ query: Tensor, _ key: Tensor, _ value: Tensor, keyPaddingMask: IntTensor? = nil,
        attentionMask: AttentionMask? = nil, needWeights: Bool = true, averageAttentionWeights: Bool = true,
        isCausal: Bool = false
    ) -> (output: Tensor, weights: Tensor?) {
        check(
            query.rank == key.rank && key.rank == value.rank && (query.rank == 2 || query.rank == 3),
            "MultiheadAttention: query \(query.shape), key \(key.shape) and value \(value.shape) must all be (L, N, E), (N, L, E) or unbatched (L, E)")
        let selfAttention = query === key && key === value
        let sameKeyValue = key === value
        if query.rank == 2 {
            // Unbatched: a batch of one, batch-first.
            let q = query.unsqueezed(axis: 0)
            let k = key === query ? q : key.unsqueezed(axis: 0)
            let v = sameKeyValue ? k : value.unsqueezed(axis: 0)
            let batched = attend(
                q, k, v, keyPaddingMask: keyPaddingMask.map { $0.reshaped([1] + $0.shape) }, attentionMask: attentionMask,
                needWeights: needWeights, average: averageAttentionWeights, isCausal: isCausal, batchFirst: true,
                sameKeyValue: sameKeyValue, selfAttention: selfAttention)
            return (batched.output.squeezed(axis: 0), batched.weights?.squeezed(axis: 0))
        }
        return attend(
            query, key, value, keyPaddingMask: keyPaddingMask, attentionMask: attentionMask, needWeights: needWeights,
            average: averageAttentionWeights, isCausal: isCausal, batchFirst: batchFirst, sameKeyValue: sameKeyValue,
            selfAttention: selfAttention)
    }

    /// The batched forward; `selfAttention` and `sameKeyValue` say which inputs are one tensor.
    private func attend(
        _ query: Tensor, _ key: Tensor, _ value: Tensor, keyPaddingMask: IntTensor?,
        attentionMask: AttentionMask?, needWeights: Bool, average: Bool, isCausal: Bool, batchFirst: Bool,
        sameKeyValue: Bool, selfAttention: Bool
    ) -> (output: Tensor, weights: Tensor?) {
        let e = embedDim
        let (batchAxis, sequenceAxis) = batchFirst ? (0, 1) : (1, 0)
        let (n, l, s) = (query.shape[batchAxis], query.shape[sequenceAxis], key.shape[sequenceAxis])
        check(
            query.shape.last == e && key.shape.last == e && value.shape.last == e
                && key.shape[batchAxis] == n && value.shape[batchAxis] == n && value.shape[sequenceAxis] == s,
            "MultiheadAttention: query \(query.shape), key \(key.shape) and value \(value.shape) do not fit embedDim \(e) (batchFirst: \(batchFirst))")

        // Input projections: one GEMM for self-attention, two when key and value are one tensor.
        let (weight, bias) = (inProjWeight, inProjBias)
        func project(_ x: Tensor, rows: Range<Int>) -> Tensor {
            linear(
                x, weight: weight.narrow(axis: 0, start: rows.lowerBound, length: rows.count),
                bias: bias?.narrow(axis: 0, start: rows.lowerBound, length: rows.count))
        }
        // The core wants (N, sequence, features): a permuted view of a sequence-first tensor.
        func batchMajor(_ x: Tensor) -> Tensor { batchFirst ? x : x.permuted([1, 0, 2]) }
        let q: AttentionInput, k: AttentionInput, v: AttentionInput
        if selfAttention {
            let packed = batchMajor(linear(query, weight: weight, bias: bias))
            (q, k, v) = (AttentionInput(packed, columns: 0..<e), AttentionInput(packed, columns: e..<2 * e),
                         AttentionInput(packed, columns: 2 * e..<3 * e))
        } else if sameKeyValue {
            let packed = batchMajor(project(key, rows: e..<3 * e))
            (q, k, v) = (AttentionInput(batchMajor(project(query, rows: 0..<e))), AttentionInput(packed, columns: 0..<e),
                         AttentionInput(packed, columns: e..<2 * e))
        } else {
            (q, k, v) = (AttentionInput(batchMajor(project(query, rows: 0..<e))),
                         AttentionInput(batchMajor(project(key, rows: e..<2 * e))),
                         AttentionInput(batchMajor(project(value, rows: 2 * e..<3 * e))))
        }

        let mask = mergedMask(attentionMask, keyPaddingMask: keyPaddingMask, batch: n, queries: l, keys: s)
        let (attended, weights) = multiHeadScaledDotProductAttention(
            query: q, key: k, value: v, heads: heads, mask: mask, isCausal: isCausal && attentionMask == nil,
            dropoutP: dropout, training: isTraining, generator: generator, needWeights: needWeights,
            fullyMaskedRows: needWeights ? .nan : .zero, sequenceFirstOutput: !batchFirst,
            op: "MultiheadAttention")
        let output = outProj(batchFirst ? attended : attended.permuted([1, 0, 2]))
        guard let weights else { return (output, nil) }
        return (output, average ? weights.mean(axis: 1) : weights)
    }

    /// The attention and key-padding masks as one additive mask broadcastable to (N, heads, L, S).
    private func mergedMask(
        _ attentionMask: AttentionMask?, keyPaddingMask: IntTensor?, batch n: Int, queries l: Int, keys s: Int
    ) -> Tensor? {
        var merged: Tensor?
        if let attentionMask {
            let shape = attentionMask.shape
            let values = attentionMask.additiveValues
            if shape == [l, s] {
                merged = values
            } else {
                check(
                    shape == [n * heads, l, s],
                    "MultiheadAttention: attention mask \(shape) must be (L, S) = \([l, s]) or (N·heads, L, S) = \([n * heads, l, s])")
                merged = values.reshaped([n, heads, l, s])
            }
        }
        if let keyPaddingMask {
            check(
                keyPaddingMask.shape == [n, s],
                "MultiheadAttention: key padding mask \(keyPaddingMask.shape) must be (N, S) = \([n, s])")
            let padding = AttentionMask.blocked(keyPaddingMask).additiveValues.reshaped([n, 1, 1, s])
            merged = merged.map { $0 + padding } ?? padding
        }
        return merged
    }
}

/// Bahdanau's additive attention: score(q, k) = vᵀ · tanh(W_q · q + W_k · k), softmax over the
/// keys, and the weighted sum of the values. Keys `query_projection.weight` (hidden, queryFeatures),
/// `key_projection.weight` (hidden, keyFeatures) and `score_projection.weight` (1, hidden), all
/// without bias, `Linear`-initialized.
public final class AdditiveAttention: Module, DrawsRandomNumbers {
    public let queryProjection: Linear
    public let keyProjection: Linear
    public let scoreProjection: Linear
    /// Dropout on the attention weights in training mode.
    public let dropout: Float
    public let generator: Generator

    public init(queryFeatures: Int, keyFeatures: Int, hidden: Int, dropout: Float = 0, generator: Generator = .default) {
        check(dropout >= 0 && dropout <= 1, "AdditiveAttention: dropout \(dropout) is outside [0, 1]")
        queryProjection = Linear(queryFeatures, hidden, bias: false)
        keyProjection = Linear(keyFeatures, hidden, bias: false)
        scoreProjection = Linear(hidden, 1, bias: false)
        (self.dropout, self.generator) = (dropout, generator)
        super.init()
    }

    /// Context vectors and weights for queries (N, L, queryFeatures) over keys (N, S, keyFeatures)
    /// and values (N, S, Dv).
    ///
    /// - Parameter mask: broadcastable to (N, L, S); e.g. `.blocked` with a (N, 1, S) padding mask.
    /// - Returns: context (N, L, Dv) and weights (N, L, S). A query whose keys are all masked gets
    ///   NaN (a plain softmax over −∞).
    public func callAsFunction(
        queries: Tensor, keys: Tensor, values: Tensor, mask: AttentionMask? = nil
    ) -> (context: Tensor, weights: Tensor) {
        check(
            queries.rank == 3 && keys.rank == 3 && values.rank == 3 && keys.shape[0] == queries.shape[0]
                && values.shape[0] == queries.shape[0] && values.shape[1] == keys.shape[1],
            "AdditiveAttention: queries \(queries.shape), keys \(keys.shape) and values \(values.shape) must be (N, L, ·), (N, S, ·), (N, S, ·)")
        // (N, L, 1, H) + (N, 1, S, H): every query–key pair's hidden features.
        let features = tanh(queryProjection(queries).unsqueezed(axis: 2) + keyProjection(keys).unsqueezed(axis: 1))
        var scores = scoreProjection(features).squeezed(axis: -1)
        if let mask { scores = scores + mask.additiveValues }
        let weights = Galen.dropout(softmax(scores, axis: -1), p: dropout, training: isTraining, generator: generator)
        return (matmul(weights, values), weights)
    }
}

import Galen

/// word2vec's skip-gram with negative sampling (Mikolov et al., 2013): a centre word's "input"
/// vector should have a large dot product with the "output" vectors of the words around it and a
/// small one with those of randomly drawn words. Keys `in_embed.weight` and `out_embed.weight`.
public final class SkipGram: Module {
    public let inEmbed: Embedding
    public let outEmbed: Embedding

    /// Input vectors start U(±0.5/d) and output vectors at zero, as in the original C code.
    public init(vocabulary: Int, dimension: Int) {
        inEmbed = Embedding(vocabulary, dimension)
        outEmbed = Embedding(vocabulary, dimension)
        super.init()
        Init.uniform(inEmbed.weight, low: -0.5 / Float(dimension), high: 0.5 / Float(dimension))
        Init.zeros(outEmbed.weight)
    }

    /// The learned word vectors (vocabulary × dimension).
    public var vectors: Tensor { inEmbed.weight }

    /// The mean over the batch of −log σ(u_o · v_c) − Σ_k log σ(−u_k · v_c), for centre words
    /// `centers` (B), their context words `contexts` (B) and `negatives` (B, K) drawn from the noise
    /// distribution.
    public func loss(centers: IntTensor, contexts: IntTensor, negatives: IntTensor) -> Tensor {
        check(centers.rank == 1 && contexts.shape == centers.shape && negatives.rank == 2 && negatives.shape[0] == centers.count,
              "SkipGram.loss: centers (B), contexts (B) and negatives (B, K) do not fit: \(centers.shape), \(contexts.shape), \(negatives.shape)")
        let v = inEmbed(centers)  // (B, d)
        let positive = (v * outEmbed(contexts)).sum(axis: 1)  // (B)
        let negative = (outEmbed(negatives) * v.unsqueezed(axis: 1)).sum(axis: 2)  // (B, K)
        // −log σ(x) = softplus(−x), which stays finite for large |x|.
        return (softplus(-positive).sum() + softplus(negative).sum()) / Float(centers.count)
    }
}

import Galen

/// A small Vision Transformer (Dosovitskiy et al., 2021) for MedMNIST-sized images.
///
/// The image is cut into patch × patch squares, each embedded by one convolution with stride =
/// patch; a class token is put in front, learned position embeddings are added, and a pre-norm
/// encoder (GELU feed-forward, as ViT) runs over the tokens; its final LayerNorm'd class token goes
/// through a linear head. For 1 × 28 × 28 with patch 4: 49 patches + 1 class token.
///
/// Keys: `patch_embedding.{weight,bias}`, `class_token` (1, 1, dim),
/// `position_embedding.weight` (1 + patches, dim), `encoder.layers.<i>.…` (PyTorch's
/// nn.TransformerEncoderLayer with norm_first=True, batch_first=True, activation="gelu"),
/// `encoder.norm.{weight,bias}`, `head.{weight,bias}` — a PyTorch twin built from those modules
/// loads the same state dict. Layer norms use ε = 1e-6, as timm's ViT.
///
/// Initialization: PyTorch's defaults for the convolution, linear and attention layers (what the
/// twin gets), and, as timm, a normal distribution with std 0.02 truncated at ±2 std for the class
/// token and position embeddings.
public final class VisionTransformer: Module, Layer {
    public let patchEmbedding: Conv2d
    public let classToken: Tensor
    public let positionEmbedding: LearnedPositionalEmbedding
    public let embeddingDropout: Dropout
    public let encoder: TransformerEncoder
    public let head: Linear
    public let imageSize: Int
    public let inChannels: Int

    /// - Parameters:
    ///   - imageSize: side of the square input images; a multiple of `patchSize`.
    ///   - dim: token width; `heads` must divide it.
    ///   - depth: number of encoder layers.
    ///   - mlpDim: hidden width of each layer's feed-forward block.
    ///   - dropout: dropout after the embeddings and inside the encoder.
    public init(
        imageSize: Int = 28, patchSize: Int = 4, inChannels: Int = 1, classes: Int, dim: Int = 64, depth: Int = 4,
        heads: Int = 4, mlpDim: Int = 128, dropout: Float = 0, generator: Generator = .default
    ) {
        check(
            patchSize > 0 && imageSize % patchSize == 0,
            "VisionTransformer: image size \(imageSize) is not a multiple of patch size \(patchSize)")
        check(depth > 0 && classes > 0, "VisionTransformer: depth \(depth) and classes \(classes) must be positive")
        let patches = (imageSize / patchSize) * (imageSize / patchSize)
        patchEmbedding = Conv2d(inChannels, dim, kernelSize: patchSize, stride: patchSize)
        classToken = Tensor.zeros([1, 1, dim]).requiringGrad()
        positionEmbedding = LearnedPositionalEmbedding(maxLength: patches + 1, dModel: dim, generator: generator)
        embeddingDropout = Dropout(p: dropout, generator: generator)
        encoder = TransformerEncoder(numLayers: depth, norm: LayerNorm([dim], epsilon: 1e-6)) {
            TransformerEncoderLayer(
                dModel: dim, heads: heads, feedforward: mlpDim, dropout: dropout, activation: .gelu,
                layerNormEpsilon: 1e-6, batchFirst: true, normFirst: true, generator: generator)
        }
        head = Linear(dim, classes)
        (self.imageSize, self.inChannels) = (imageSize, inChannels)
        super.init()
        fillTruncatedNormal(classToken, std: 0.02, generator: generator)
    }

    /// (N, inChannels, imageSize, imageSize) → logits (N, classes).
    public func callAsFunction(_ x: Tensor) -> Tensor {
        check(
            x.rank == 4 && x.shape[1] == inChannels && x.shape[2] == imageSize && x.shape[3] == imageSize,
            "VisionTransformer: input must be (N, \(inChannels), \(imageSize), \(imageSize)), got \(x.shape)")
        let n = x.shape[0]
        // (N, dim, h, w) → (N, patches, dim), the class token in front.
        let patches = patchEmbedding(x).flattened(startAxis: 2).transposed(1, 2)
        let dim = patches.shape[2]
        let tokens = concat([classToken.expanded(to: [n, 1, dim]), patches], axis: 1)
        let encoded = encoder(embeddingDropout(positionEmbedding(tokens)))
        return head(encoded.select(axis: 1, index: 0))
    }
}

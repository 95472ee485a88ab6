import Galen

/// Batch normalization (PyTorch's BatchNorm1d/2d share this): per-channel statistics over the
/// batch and spatial axes, running estimates for evaluation.
public class BatchNorm: Module, Layer {
    public let weight: Tensor?
    public let bias: Tensor?
    public let runningMean: Buffer?
    public let runningVar: Buffer?
    public let numBatchesTracked: Buffer?
    public let momentum: Float
    public let epsilon: Float
    /// Ranks of input this layer accepts (BatchNorm1d: 2 or 3, BatchNorm2d: 4).
    let acceptedRanks: Set<Int>
    let name: String

    init(
        name: String, acceptedRanks: Set<Int>, _ features: Int, epsilon: Float, momentum: Float, affine: Bool,
        trackRunningStats: Bool
    ) {
        check(features > 0, "\(name): number of features must be positive, got \(features)")
        self.name = name
        self.acceptedRanks = acceptedRanks
        weight = affine ? Tensor.ones([features]).requiringGrad() : nil
        bias = affine ? Tensor.zeros([features]).requiringGrad() : nil
        runningMean = trackRunningStats ? Buffer(Tensor.zeros([features])) : nil
        runningVar = trackRunningStats ? Buffer(Tensor.ones([features])) : nil
        numBatchesTracked = trackRunningStats ? Buffer(Tensor.zeros([]), storedAs: .int64) : nil
        self.momentum = momentum
        self.epsilon = epsilon
        super.init()
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { self(x, relu: false) }

    /// With `relu`, relu(self(x)) as one op (`batchNorm(…, relu: true)`): the same values and
    /// gradients in one pass, keeping one activation fewer for the backward pass. `Sequential`
    /// uses it for a batch norm followed by a `ReLU`.
    public func callAsFunction(_ x: Tensor, relu: Bool) -> Tensor {
        check(acceptedRanks.contains(x.rank) && x.shape[1] == (runningMean?.value.count ?? weight?.count ?? x.shape[1]),
              "\(name): input \(x.shape) does not fit \(runningMean?.value.count ?? weight?.count ?? 0) features")
        if isTraining, let counter = numBatchesTracked {
            counter.value = Tensor(scalar: counter.value.item + 1)
        }
        return batchNorm(
            x, runningMean: runningMean?.value, runningVar: runningVar?.value, weight: weight, bias: bias,
            training: isTraining || runningMean == nil, momentum: momentum, epsilon: epsilon, relu: relu)
    }
}

/// Batch normalization of (N, C) or (N, C, L).
public final class BatchNorm1d: BatchNorm {
    public init(_ features: Int, epsilon: Float = 1e-5, momentum: Float = 0.1, affine: Bool = true, trackRunningStats: Bool = true) {
        super.init(name: "BatchNorm1d", acceptedRanks: [2, 3], features, epsilon: epsilon, momentum: momentum,
                   affine: affine, trackRunningStats: trackRunningStats)
    }
}

/// Batch normalization of (N, C, H, W).
public final class BatchNorm2d: BatchNorm {
    public init(_ features: Int, epsilon: Float = 1e-5, momentum: Float = 0.1, affine: Bool = true, trackRunningStats: Bool = true) {
        super.init(name: "BatchNorm2d", acceptedRanks: [4], features, epsilon: epsilon, momentum: momentum,
                   affine: affine, trackRunningStats: trackRunningStats)
    }
}

/// Layer normalization over the trailing `normalizedShape` axes.
public final class LayerNorm: Module, Layer {
    public let weight: Tensor?
    public let bias: Tensor?
    public let normalizedShape: [Int]
    public let epsilon: Float

    public init(_ normalizedShape: [Int], epsilon: Float = 1e-5, elementwiseAffine: Bool = true) {
        self.normalizedShape = normalizedShape
        weight = elementwiseAffine ? Tensor.ones(normalizedShape).requiringGrad() : nil
        bias = elementwiseAffine ? Tensor.zeros(normalizedShape).requiringGrad() : nil
        self.epsilon = epsilon
        super.init()
    }

    public convenience init(_ features: Int, epsilon: Float = 1e-5) { self.init([features], epsilon: epsilon) }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        layerNorm(x, normalizedShape: normalizedShape, weight: weight, bias: bias, epsilon: epsilon)
    }
}

/// Group normalization of (N, C, …) in `groups` groups of channels.
public final class GroupNorm: Module, Layer {
    public let weight: Tensor?
    public let bias: Tensor?
    public let groups: Int
    public let epsilon: Float

    public init(groups: Int, channels: Int, epsilon: Float = 1e-5, affine: Bool = true) {
        check(groups > 0 && channels % groups == 0, "GroupNorm: \(channels) channels do not split into \(groups) groups")
        self.groups = groups
        weight = affine ? Tensor.ones([channels]).requiringGrad() : nil
        bias = affine ? Tensor.zeros([channels]).requiringGrad() : nil
        self.epsilon = epsilon
        super.init()
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        groupNorm(x, groups: groups, weight: weight, bias: bias, epsilon: epsilon)
    }
}

/// Instance normalization of (N, C, H, W): each plane on its own (PyTorch defaults: no affine,
/// no running statistics).
public final class InstanceNorm2d: Module, Layer {
    public let weight: Tensor?
    public let bias: Tensor?
    public let epsilon: Float

    public init(_ channels: Int, epsilon: Float = 1e-5, affine: Bool = false) {
        weight = affine ? Tensor.ones([channels]).requiringGrad() : nil
        bias = affine ? Tensor.zeros([channels]).requiringGrad() : nil
        self.epsilon = epsilon
        super.init()
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        check(x.rank == 4, "InstanceNorm2d: input must be (N, C, H, W), got \(x.shape)")
        return instanceNorm(x, weight: weight, bias: bias, epsilon: epsilon)
    }
}

// Normalization (PyTorch's F.batch_norm, F.layer_norm, F.group_norm, F.instance_norm), written as
// compositions of differentiable ops so their gradients come from the checked primitives.

/// Batch normalization over every axis but 1 (channels) of (N, C, …).
///
/// In training, normalizes with the batch's mean and biased variance and, when running
/// statistics are given, updates them in place with `momentum` using the unbiased variance
/// (PyTorch's rule). In evaluation, normalizes with the running statistics.
public func batchNorm(
    _ x: Tensor, runningMean: Tensor?, runningVar: Tensor?, weight: Tensor?, bias: Tensor?,
    training: Bool, momentum: Float = 0.1, epsilon: Float = 1e-5
) -> Tensor {
    check(x.rank >= 2, "batchNorm: input must be (N, C, …), got shape \(x.shape)")
    let channels = x.shape[1]
    var statShape = [Int](repeating: 1, count: x.rank)
    statShape[1] = channels
    let axes = [0] + Array(2..<x.rank)
    let mean: Tensor
    let variance: Tensor
    if training || runningMean == nil || runningVar == nil {
        let n = x.count / Swift.max(channels, 1)
        check(n > 1 || !training, "batchNorm: training needs more than one value per channel, got input \(x.shape)")
        mean = x.mean(axes: axes, keepDims: true)
        variance = x.variance(axes: axes, correction: 0, keepDims: true)
        if training, let runningMean, let runningVar {
            noGrad {
                let batchMean = mean.detach().reshaped([channels])
                let unbiased = variance.detach().reshaped([channels]) * (Float(n) / Float(Swift.max(n - 1, 1)))
                runningMean.assign(runningMean * (1 - momentum) + batchMean * momentum)
                runningVar.assign(runningVar * (1 - momentum) + unbiased * momentum)
            }
        }
    } else {
        mean = runningMean!.reshaped(statShape)
        variance = runningVar!.reshaped(statShape)
    }
    var result = (x - mean) / (variance + epsilon).sqrt()
    if let weight { result = result * weight.reshaped(statShape) }
    if let bias { result = result + bias.reshaped(statShape) }
    return result
}

/// Layer normalization over the trailing axes given by `normalizedShape`.
public func layerNorm(
    _ x: Tensor, normalizedShape: [Int], weight: Tensor?, bias: Tensor?, epsilon: Float = 1e-5
) -> Tensor {
    let k = normalizedShape.count
    check(
        x.rank >= k && Array(x.shape.suffix(k)) == normalizedShape,
        "layerNorm: input \(x.shape) does not end with normalized shape \(normalizedShape)")
    let axes = Array((x.rank - k)..<x.rank)
    let mean = x.mean(axes: axes, keepDims: true)
    let variance = x.variance(axes: axes, correction: 0, keepDims: true)
    var result = (x - mean) / (variance + epsilon).sqrt()
    if let weight { result = result * weight }
    if let bias { result = result + bias }
    return result
}

/// Group normalization of (N, C, …) over groups of C / `groups` channels and all spatial axes.
public func groupNorm(
    _ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?, epsilon: Float = 1e-5
) -> Tensor {
    check(x.rank >= 2, "groupNorm: input must be (N, C, …), got shape \(x.shape)")
    let (batch, channels) = (x.shape[0], x.shape[1])
    check(groups > 0 && channels % groups == 0, "groupNorm: \(channels) channels do not split into \(groups) groups")
    let grouped = x.reshaped([batch, groups, -1])
    let mean = grouped.mean(axis: 2, keepDims: true)
    let variance = grouped.variance(axis: 2, correction: 0, keepDims: true)
    var result = ((grouped - mean) / (variance + epsilon).sqrt()).reshaped(x.shape)
    var statShape = [Int](repeating: 1, count: x.rank)
    statShape[1] = channels
    if let weight { result = result * weight.reshaped(statShape) }
    if let bias { result = result + bias.reshaped(statShape) }
    return result
}

/// Instance normalization: each (sample, channel) plane normalized on its own.
public func instanceNorm(_ x: Tensor, weight: Tensor?, bias: Tensor?, epsilon: Float = 1e-5) -> Tensor {
    check(x.rank >= 3, "instanceNorm: input must be (N, C, spatial…), got shape \(x.shape)")
    return groupNorm(x, groups: x.shape[1], weight: weight, bias: bias, epsilon: epsilon)
}

/// Rows of `weight` picked by `indices` (PyTorch's `F.embedding`): the result has shape
/// indices.shape + [embeddingDim]. The row at `paddingIndex`, if given, receives no gradient.
public func embedding(_ indices: IntTensor, weight: Tensor, paddingIndex: Int? = nil) -> Tensor {
    check(weight.rank == 2, "embedding: weight must be (numEmbeddings, dim), got \(weight.shape)")
    let (rows, dim) = (weight.shape[0], weight.shape[1])
    let flat = indices.scalars
    for i in flat {
        check(i >= 0 && i < rows, "embedding: index \(i) is out of range for \(rows) embeddings")
    }
    let result = noGrad { weight.indexSelect(axis: 0, index: IntTensor(flat)) }.reshaped(indices.shape + [dim])
    return record(result, "embedding", [weight]) { g in
        let gradient = Tensor.zeros([rows, dim])
        let gc = g.contiguousValues()
        withExtendedLifetime(gc) {
            for (position, row) in flat.enumerated() where row != paddingIndex {
                let target = gradient.pointer + row * dim
                let source = gc.pointer + position * dim
                for k in 0..<dim { target[k] += source[k] }
            }
        }
        return [gradient]
    }
}

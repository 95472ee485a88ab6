// Normalization (PyTorch's F.batch_norm, F.layer_norm, F.group_norm, F.instance_norm), written as
// compositions of differentiable ops so their gradients come from the checked primitives.

/// Batch normalization over every axis but 1 (channels) of (N, C, …).
///
/// In training, normalizes with the batch's mean and biased variance and, when running
/// statistics are given, updates them in place with `momentum` using the unbiased variance
/// (PyTorch's rule). In evaluation, normalizes with the running statistics. One fused pass per
/// direction: no full-size temporaries besides the output (it dominated ResNet training time and
/// memory when written as broadcast ops).
///
/// With `relu`, returns relu(batchNorm(…)) as one op, bit for bit the composition's values and
/// gradients, in one pass over the output instead of two and with one full-size tensor fewer kept
/// for the backward pass (the normalized values before the ReLU): the conv → batch norm → ReLU
/// blocks of ResNets and U-Nets.
public func batchNorm(
    _ x: Tensor, runningMean: Tensor?, runningVar: Tensor?, weight: Tensor?, bias: Tensor?,
    training: Bool, momentum: Float = 0.1, epsilon: Float = 1e-5, relu: Bool = false
) -> Tensor {
    check(x.rank >= 2, "batchNorm: input must be (N, C, …), got shape \(x.shape)")
    let (batch, channels) = (x.shape[0], x.shape[1])
    let spatial = x.count / Swift.max(batch * channels, 1)
    let perChannel = batch * spatial
    for (name, t) in [("runningMean", runningMean), ("runningVar", runningVar), ("weight", weight), ("bias", bias)] {
        if let t { check(t.shape == [channels], "batchNorm: \(name) \(t.shape) does not match \(channels) channels of \(x.shape)") }
    }
    let useBatchStatistics = training || runningMean == nil || runningVar == nil
    check(!useBatchStatistics || perChannel > 1 || !training,
          "batchNorm: training needs more than one value per channel, got input \(x.shape)")
    let input = x.contiguousValues()
    defer { withExtendedLifetime(input) {} }
    let result = Tensor(uninitializedShape: x.shape)
    // Per channel: the mean used and 1/√(var + ε), saved for the backward pass.
    var means = [Float](repeating: 0, count: channels)
    var inverseStd = [Float](repeating: 0, count: channels)
    let gamma = weight?.scalars
    let beta = bias?.scalars
    let source = input.pointer
    let out = result.pointer
    if useBatchStatistics {
        var variances = [Float](repeating: 0, count: channels)
        means.withUnsafeMutableBufferPointer { meanBuffer in
            variances.withUnsafeMutableBufferPointer { varianceBuffer in
                let meanOut = meanBuffer.baseAddress!
                let varianceOut = varianceBuffer.baseAddress!
                parallelRanges(count: channels, grain: Swift.max(1, elementwiseGrain / Swift.max(perChannel, 1))) { first, last in
                    for c in first..<last {
                        var total = 0.0
                        for n in 0..<batch { total += sumContiguous(source + (n &* channels &+ c) &* spatial, spatial) }
                        let mean = total / Double(perChannel)
                        // Second pass over centred values: no cancellation for large means.
                        var squares = 0.0
                        let m = Float(mean)
                        for n in 0..<batch {
                            let row = source + (n &* channels &+ c) &* spatial
                            squares += Double(VectorMath.sumOfSquares(row, centeredOn: m, count: spatial))
                        }
                        meanOut[c] = m
                        varianceOut[c] = Float(squares / Double(perChannel))
                    }
                }
            }
        }
        for c in 0..<channels { inverseStd[c] = 1 / (variances[c] + epsilon).squareRoot() }
        if training, let runningMean, let runningVar {
            check(runningMean.isContiguous && runningVar.isContiguous, "batchNorm: running statistics must be contiguous")
            let correction = Float(perChannel) / Float(Swift.max(perChannel - 1, 1))
            let rm = runningMean.pointer
            let rv = runningVar.pointer
            for c in 0..<channels {
                rm[c] = (1 - momentum) * rm[c] + momentum * means[c]
                rv[c] = (1 - momentum) * rv[c] + momentum * variances[c] * correction
            }
        }
    } else {
        means = runningMean!.scalars
        inverseStd = runningVar!.scalars.map { 1 / ($0 + epsilon).squareRoot() }
    }
    // y = x·scale + shift per channel.
    let scale = (0..<channels).map { inverseStd[$0] * (gamma?[$0] ?? 1) }
    let shift = (0..<channels).map { (beta?[$0] ?? 0) - means[$0] * scale[$0] }
    scale.withUnsafeBufferPointer { scaleBuffer in
        shift.withUnsafeBufferPointer { shiftBuffer in
            let (sc, sh) = (scaleBuffer.baseAddress!, shiftBuffer.baseAddress!)
            parallelRanges(count: batch * channels, grain: Swift.max(1, elementwiseGrain / Swift.max(spatial, 1))) { first, last in
                for plane in first..<last {
                    let c = plane % channels
                    scaleAndShift(
                        source + plane &* spatial, into: out + plane &* spatial, count: spatial, scale: sc[c],
                        shift: sh[c], relu: relu)
                }
            }
        }
    }
    let inputs = [x] + [weight, bias].compactMap { $0 }
    // The ReLU's mask comes from the output's storage: capturing the output tensor itself would
    // make a reference cycle through its own backward closure.
    let output = relu ? result.storage : nil
    return record(result, relu ? "batchNormReLU" : "batchNorm", inputs) { g in
        var gradient = g.contiguousValues()
        if let output {
            // relu's own backward kernel, given the ReLU's output: positive exactly where its input was.
            gradient = mapBinary(
                gradient, Tensor(storage: output, shape: gradient.shape), ReluGradKernel(), op: "batchNormReLU backward")
        }
        // `input` may be a contiguous copy of x that only this closure keeps alive.
        defer { withExtendedLifetime((gradient, input)) {} }
        let dy = gradient.pointer
        let source = input.pointer
        // Per channel: Σ dy and Σ dy·x̂, with x̂ = (x − mean)·invstd.
        var sumDy = [Double](repeating: 0, count: channels)
        var sumDyXhat = [Double](repeating: 0, count: channels)
        sumDy.withUnsafeMutableBufferPointer { sumBuffer in
            sumDyXhat.withUnsafeMutableBufferPointer { dotBuffer in
                let (sums, dots) = (sumBuffer.baseAddress!, dotBuffer.baseAddress!)
                parallelRanges(count: channels, grain: Swift.max(1, elementwiseGrain / Swift.max(perChannel, 1))) { first, last in
                    for c in first..<last {
                        var total = 0.0
                        var dot = 0.0
                        let (m, s) = (means[c], inverseStd[c])
                        // Vectorized row sums (a scalar `+=` loop is one dependent add per
                        // element), combined over the batch in Double.
                        for n in 0..<batch {
                            let offset = (n &* channels &+ c) &* spatial
                            total += Double(VectorMath.sum(dy + offset, count: spatial))
                            dot += Double(VectorMath.dot(dy + offset, source + offset, centeredOn: m, count: spatial) * s)
                        }
                        sums[c] = total
                        dots[c] = dot
                    }
                }
            }
        }
        var inputGradient: Tensor? = nil
        if x.requiresGrad {
            let dx = Tensor(uninitializedShape: x.shape)
            let target = dx.pointer
            let count = Float(perChannel)
            parallelRanges(count: batch * channels, grain: Swift.max(1, elementwiseGrain / Swift.max(spatial, 1))) { first, last in
                for plane in first..<last {
                    let c = plane % channels
                    let (m, s, w) = (means[c], inverseStd[c], gamma?[c] ?? 1)
                    let offset = plane &* spatial
                    if useBatchStatistics {
                        // dx = w·invstd/M · (M·dy − Σdy − x̂·Σ(dy·x̂)): the batch statistics depend on x too.
                        let (meanDy, meanDot) = (Float(sumDy[c]) / count, Float(sumDyXhat[c]) / count)
                        let factor = w * s
                        for i in 0..<spatial {
                            let xhat = (source[offset &+ i] - m) * s
                            target[offset &+ i] = factor * (dy[offset &+ i] - meanDy - xhat * meanDot)
                        }
                    } else {
                        let factor = w * s
                        for i in 0..<spatial { target[offset &+ i] = dy[offset &+ i] * factor }
                    }
                }
            }
            inputGradient = dx
        }
        var grads: [Tensor?] = [inputGradient]
        if let weight { grads.append(weight.requiresGrad ? Tensor(sumDyXhat.map { Float($0) }) : nil) }
        if let bias { grads.append(bias.requiresGrad ? Tensor(sumDy.map { Float($0) }) : nil) }
        return grads
    }
}

/// Layer normalization over the trailing axes given by `normalizedShape`.
///
/// One fused pass per row each way (a transformer layer has two or three of these per step;
/// built from broadcast ops it took ten tensors and ~13% of a training step): the forward keeps
/// each row's mean and 1/σ, the backward computes dx = (1/σ)·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)) with
/// ĝ = g·weight, and the weight and bias gradients as column sums.
public func layerNorm(
    _ x: Tensor, normalizedShape: [Int], weight: Tensor?, bias: Tensor?, epsilon: Float = 1e-5
) -> Tensor {
    let k = normalizedShape.count
    check(
        x.rank >= k && Array(x.shape.suffix(k)) == normalizedShape,
        "layerNorm: input \(x.shape) does not end with normalized shape \(normalizedShape)")
    if let weight { check(weight.shape == normalizedShape, "layerNorm: weight \(weight.shape) must be \(normalizedShape)") }
    if let bias { check(bias.shape == normalizedShape, "layerNorm: bias \(bias.shape) must be \(normalizedShape)") }
    let width = Shape.count(normalizedShape)
    let rows = width == 0 ? 0 : x.count / width
    let input = x.contiguousValues()
    let w = weight?.contiguousValues()
    let b = bias?.contiguousValues()
    let result = Tensor(uninitializedShape: x.shape)
    let statistics = TensorStorage(uninitializedCount: max(2 * rows, 1))  // mean, 1/σ per row
    let source = input.pointer, out = result.pointer, stats = statistics.pointer
    let wp = w?.pointer, bp = b?.pointer
    parallelRanges(count: rows, grain: max(1, 16_384 / max(width, 1))) { start, end in
        for r in start..<end {
            let row = source + r * width, y = out + r * width
            let mean = VectorMath.sum(row, count: width) / Float(width)
            let squares = VectorMath.sumOfSquares(row, centeredOn: mean, count: width)
            let inverse = 1 / (squares / Float(width) + epsilon).squareRoot()
            stats[2 * r] = mean
            stats[2 * r + 1] = inverse
            normalizeRow(row, into: y, count: width, mean: mean, inverse: inverse, weight: wp, bias: bp)
        }
    }
    var inputs = [x]
    if let weight { inputs.append(weight) }
    if let bias { inputs.append(bias) }
    return record(result, "layerNorm", inputs) { gradient in
        let g = gradient.contiguousValues()
        let gp = g.pointer, stats = statistics.pointer, source = input.pointer
        let wp = w?.pointer  // w may be a contiguous copy of the weight: the closure keeps it alive
        let dx = Tensor(uninitializedShape: x.shape)
        let dxp = dx.pointer
        parallelRanges(count: rows, grain: max(1, 16_384 / max(width, 1))) { start, end in
            for r in start..<end {
                let row = source + r * width, gr = gp + r * width, d = dxp + r * width
                let (mean, inverse) = (stats[2 * r], stats[2 * r + 1])
                // ĝ = g ⊙ w goes into d first.
                if let wp {
                    multiplyRows(gr, wp, into: d, count: width)
                } else {
                    d.update(from: gr, count: width)
                }
                let sumG = VectorMath.sum(d, count: width)
                let sumGX = VectorMath.dot(d, row, centeredOn: mean, count: width) * inverse
                let (meanG, meanGX) = (sumG / Float(width), sumGX / Float(width))
                layerNormInputGradient(d, row, count: width, mean: mean, inverse: inverse, meanG: meanG, meanGX: meanGX)
            }
        }
        var grads: [Tensor?] = [dx]
        // d(weight) and d(bias) are column sums over the rows; each thread takes a range of
        // columns, so the sums do not depend on the thread count.
        if weight != nil {
            let dw = Tensor(uninitializedShape: normalizedShape)
            let dwp = dw.pointer
            parallelRanges(count: width, grain: Swift.max(16, elementwiseGrain / Swift.max(rows, 1))) { start, end in
                layerNormWeightGradient(
                    gp, source, stats, rows: rows, width: width, columns: start..<end, into: dwp)
            }
            grads.append(dw)
        }
        if bias != nil {
            let db = Tensor(uninitializedShape: normalizedShape)
            sumRows(gp, rows: rows, columns: width, into: db.pointer)
            grads.append(db)
        }
        return grads
    }
}

/// target = source·scale + shift (then max(·, 0) with `relu`, NaN to 0 as `relu`), eight lanes at a
/// time with the scalar loop's operation order.
private func scaleAndShift(
    _ source: UnsafePointer<Float>, into target: UnsafeMutablePointer<Float>, count: Int, scale: Float, shift: Float,
    relu: Bool
) {
    let (a, b, zero) = (VectorMath.Vector(repeating: scale), VectorMath.Vector(repeating: shift), VectorMath.Vector())
    var i = 0
    while i + 8 <= count {
        var v = VectorMath.load(source + i) * a + b
        if relu { v = v.replacing(with: zero, where: .!(v .> zero)) }
        VectorMath.store(v, target + i)
        i += 8
    }
    while i < count {
        let v = source[i] * scale + shift
        target[i] = relu ? (v > 0 ? v : 0) : v
        i += 1
    }
}

// Layer norm's row loops, eight lanes at a time. Each lane evaluates the scalar expression in the
// same order, so the results are the scalar loops' bits; written out because the compiler kept
// the loops scalar (it cannot rule out that the output row aliases an input), and layer norm
// took 2.6% of a transformer training step besides its reductions.

/// y = (x − mean)·inverse (· weight) (+ bias) over one row.
private func normalizeRow(
    _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int, mean: Float, inverse: Float,
    weight: UnsafePointer<Float>?, bias: UnsafePointer<Float>?
) {
    let (m, s) = (VectorMath.Vector(repeating: mean), VectorMath.Vector(repeating: inverse))
    var j = 0
    while j + 8 <= count {
        var v = (VectorMath.load(x + j) - m) * s
        if let weight { v *= VectorMath.load(weight + j) }
        if let bias { v += VectorMath.load(bias + j) }
        VectorMath.store(v, y + j)
        j += 8
    }
    while j < count {
        var v = (x[j] - mean) * inverse
        if let weight { v *= weight[j] }
        if let bias { v += bias[j] }
        y[j] = v
        j += 1
    }
}

/// d = g ⊙ w over one row.
private func multiplyRows(
    _ g: UnsafePointer<Float>, _ w: UnsafePointer<Float>, into d: UnsafeMutablePointer<Float>, count: Int
) {
    var j = 0
    while j + 8 <= count {
        VectorMath.store(VectorMath.load(g + j) * VectorMath.load(w + j), d + j)
        j += 8
    }
    while j < count {
        d[j] = g[j] * w[j]
        j += 1
    }
}

/// d ← inverse·(d − meanG − (x − mean)·inverse·meanGX) over one row: dx from ĝ.
private func layerNormInputGradient(
    _ d: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, count: Int, mean: Float, inverse: Float,
    meanG: Float, meanGX: Float
) {
    typealias Vector = VectorMath.Vector
    let (m, s, mg, mgx) = (Vector(repeating: mean), Vector(repeating: inverse), Vector(repeating: meanG), Vector(repeating: meanGX))
    var j = 0
    while j + 8 <= count {
        let v = s * (VectorMath.load(d + j) - mg - (VectorMath.load(x + j) - m) * s * mgx)
        VectorMath.store(v, d + j)
        j += 8
    }
    while j < count {
        d[j] = inverse * (d[j] - meanG - (x[j] - mean) * inverse * meanGX)
        j += 1
    }
}

/// dw[j] = Σ_r g[r, j]·(x[r, j] − mean_r)·inverse_r for j in `columns`, rows added in order: four
/// vectors of columns summed down all rows in registers.
private func layerNormWeightGradient(
    _ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ stats: UnsafePointer<Float>, rows: Int, width: Int,
    columns: Range<Int>, into dw: UnsafeMutablePointer<Float>
) {
    typealias Vector = VectorMath.Vector
    var j = columns.lowerBound
    while j + 32 <= columns.upperBound {
        var (a, b, c, d) = (Vector(), Vector(), Vector(), Vector())
        for r in 0..<rows {
            let (gr, xr) = (g + r * width + j, x + r * width + j)
            let (m, s) = (Vector(repeating: stats[2 * r]), Vector(repeating: stats[2 * r + 1]))
            a += VectorMath.load(gr) * (VectorMath.load(xr) - m) * s
            b += VectorMath.load(gr + 8) * (VectorMath.load(xr + 8) - m) * s
            c += VectorMath.load(gr + 16) * (VectorMath.load(xr + 16) - m) * s
            d += VectorMath.load(gr + 24) * (VectorMath.load(xr + 24) - m) * s
        }
        VectorMath.store(a, dw + j)
        VectorMath.store(b, dw + j + 8)
        VectorMath.store(c, dw + j + 16)
        VectorMath.store(d, dw + j + 24)
        j += 32
    }
    while j + 8 <= columns.upperBound {
        var a = Vector()
        for r in 0..<rows {
            let (m, s) = (Vector(repeating: stats[2 * r]), Vector(repeating: stats[2 * r + 1]))
            a += VectorMath.load(g + r * width + j) * (VectorMath.load(x + r * width + j) - m) * s
        }
        VectorMath.store(a, dw + j)
        j += 8
    }
    while j < columns.upperBound {
        var sum: Float = 0
        for r in 0..<rows { sum += g[r * width + j] * (x[r * width + j] - stats[2 * r]) * stats[2 * r + 1] }
        dw[j] = sum
        j += 1
    }
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

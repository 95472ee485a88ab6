// Nearest and bilinear 2-D resizing of NCHW tensors, matching PyTorch's `F.interpolate`,
// forward and backward side by side. Source indices and weights are computed once per output row
// and column (they are separable), then every (sample, channel) plane is resized in parallel.

/// The output length along one axis and the scale PyTorch hands its kernel: the user's scale
/// factor when one was given (F.interpolate's default `recompute_scale_factor=None`), nil when a
/// size was given.
private func resizeTarget(
    _ op: String, input: [Int], size: (Int, Int)?, scaleFactor: (Float, Float)?
) -> (outH: Int, outW: Int, scaleH: Float?, scaleW: Float?) {
    check(input.count == 4, "\(op): input must be (N, C, H, W), got shape \(input)")
    switch (size, scaleFactor) {
    case let (size?, nil):
        check(size.0 >= 1 && size.1 >= 1, "\(op): size must be positive, got \(size) for input \(input)")
        return (size.0, size.1, nil, nil)
    case let (nil, scale?):
        check(
            scale.0 > 0 && scale.1 > 0 && scale.0.isFinite && scale.1.isFinite,
            "\(op): scaleFactor must be positive, got \(scale)")
        // Python computes floor(in · scale) in double precision.
        let outH = Int((Double(input[2]) * Double(scale.0)).rounded(.down))
        let outW = Int((Double(input[3]) * Double(scale.1)).rounded(.down))
        check(
            outH >= 1 && outW >= 1,
            "\(op): scaleFactor \(scale) shrinks input \(input) to an empty output (\(outH)×\(outW))")
        return (outH, outW, scale.0, scale.1)
    default:
        fatalError("\(op): give exactly one of size and scaleFactor (input \(input))")
    }
}

/// PyTorch's source-per-destination ratio (`compute_scales_value`): 1/scale when a scale factor
/// was given, else in/out, in Float as PyTorch's Float32 kernels compute it.
@inline(__always)
private func sourceRatio(input: Int, output: Int, scale: Float?) -> Float {
    if let scale, scale > 0 { return Float(1.0 / Double(scale)) }
    return Float(input) / Float(output)
}

/// One output plane's source rows/columns for 'nearest': ⌊dst · ratio⌋, clamped to the input.
private func nearestSources(input: Int, output: Int, scale: Float?) -> [Int] {
    let ratio = sourceRatio(input: input, output: output, scale: scale)
    return (0..<output).map { Swift.min(Int((Float($0) * ratio).rounded(.down)), input - 1) }
}

/// Gathers (forward) or scatter-adds (backward, into zeros) between `count` planes of `inH`×`inW`
/// (`source` for the forward, `destination` for the backward) and `outH`×`outW`, through index
/// tables: output (oh, ow) ↔ input (rows[oh], columns[ow]).
private func nearestKernel(
    planes: Int, inArea: Int, inW: Int, outH: Int, outW: Int, rows: [Int], columns: [Int],
    _ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<Float>, backward: Bool
) {
    let outArea = outH &* outW
    rows.withUnsafeBufferPointer { rowBuffer in
        columns.withUnsafeBufferPointer { columnBuffer in
            let row = rowBuffer.baseAddress!
            let column = columnBuffer.baseAddress!
            parallelRanges(count: planes, grain: Swift.max(1, elementwiseGrain / Swift.max(1, outArea))) { start, end in
                for plane in start..<end {
                    let image = plane &* inArea
                    let resized = plane &* outArea
                    for oh in 0..<outH {
                        let inRow = image &+ row[oh] &* inW
                        let outRow = resized &+ oh &* outW
                        if backward {
                            for ow in 0..<outW { destination[inRow &+ column[ow]] += source[outRow &+ ow] }
                        } else {
                            for ow in 0..<outW { destination[outRow &+ ow] = source[inRow &+ column[ow]] }
                        }
                    }
                }
            }
        }
    }
}

/// Nearest-neighbour 2-D upsampling (PyTorch's `F.interpolate(mode='nearest')`): output (oh, ow)
/// copies input (⌊oh · ratio⌋, ⌊ow · ratio⌋), with ratio = 1/scaleFactor when a scale factor is
/// given and in/out otherwise.
///
/// - Parameters:
///   - x: (N, C, H, W) or (C, H, W).
///   - size: output (height, width); give this or `scaleFactor`.
///   - scaleFactor: multiplies H and W (rounded down) to get the output size.
public func upsampleNearest2d(
    _ x: Tensor, size: (Int, Int)? = nil, scaleFactor: (Float, Float)? = nil
) -> Tensor {
    if x.rank == 3 {
        return upsampleNearest2d(x.unsqueezed(axis: 0), size: size, scaleFactor: scaleFactor).squeezed(axis: 0)
    }
    let op = "upsampleNearest2d"
    let target = resizeTarget(op, input: x.shape, size: size, scaleFactor: scaleFactor)
    let (height, width, outH, outW) = (x.shape[2], x.shape[3], target.outH, target.outW)
    let rows = nearestSources(input: height, output: outH, scale: target.scaleH)
    let columns = nearestSources(input: width, output: outW, scale: target.scaleW)
    let planes = x.shape[0] * x.shape[1]
    let values = x.contiguousValues()
    defer { withExtendedLifetime(values) {} }
    let result = Tensor(uninitializedShape: [x.shape[0], x.shape[1], outH, outW])
    nearestKernel(
        planes: planes, inArea: height * width, inW: width, outH: outH, outW: outW, rows: rows, columns: columns,
        values.pointer, result.pointer, backward: false)
    let inputShape = x.shape
    return record(result, op, [x]) { gradient in
        let dy = gradient.contiguousValues()
        defer { withExtendedLifetime(dy) {} }
        let dx = Tensor.zeros(inputShape)
        nearestKernel(
            planes: planes, inArea: height * width, inW: width, outH: outH, outW: outW, rows: rows, columns: columns,
            dy.pointer, dx.pointer, backward: true)
        return [dx]
    }
}

/// Nearest-neighbour upsampling by the same factor along height and width.
public func upsampleNearest2d(_ x: Tensor, scaleFactor: Float) -> Tensor {
    upsampleNearest2d(x, scaleFactor: (scaleFactor, scaleFactor))
}

/// Nearest-neighbour upsampling to a square `size` × `size`.
public func upsampleNearest2d(_ x: Tensor, size: Int) -> Tensor {
    upsampleNearest2d(x, size: (size, size))
}

/// Linear interpolation taps along one axis: output i reads input first[i] with weight 1 - λ[i]
/// and first[i] + step[i] (step 0 at the last input) with weight λ[i].
private struct LinearTaps {
    var first: [Int]
    var step: [Int]
    var lambda: [Float]

    /// PyTorch's `compute_source_index_and_lambda` for every output position.
    init(input: Int, output: Int, alignCorners: Bool, scale: Float?) {
        first = [Int](repeating: 0, count: output)
        step = [Int](repeating: 0, count: output)
        lambda = [Float](repeating: 0, count: output)
        if input == output {
            for i in 0..<output { first[i] = i }
            return
        }
        let ratio: Float
        if alignCorners {
            ratio = output > 1 ? Float(input - 1) / Float(output - 1) : 0
        } else {
            ratio = sourceRatio(input: input, output: output, scale: scale)
        }
        for i in 0..<output {
            var source = alignCorners ? ratio * Float(i) : ratio * (Float(i) + 0.5) - 0.5
            // Half-pixel centres put the first outputs left of input 0; PyTorch clamps them there.
            if source < 0 { source = 0 }
            let index = Swift.min(Int(source.rounded(.down)), input - 1)
            first[i] = index
            step[i] = index < input - 1 ? 1 : 0
            lambda[i] = Swift.min(Swift.max(source - Float(index), 0), 1)
        }
    }
}

/// Bilinear forward (gather) or backward (scatter-add into zeros) over `planes` planes.
private func bilinearKernel(
    planes: Int, inH: Int, inW: Int, outH: Int, outW: Int, rows: LinearTaps, columns: LinearTaps,
    _ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<Float>, backward: Bool
) {
    let inArea = inH &* inW
    let outArea = outH &* outW
    rows.first.withUnsafeBufferPointer { rowFirst in
    rows.step.withUnsafeBufferPointer { rowStep in
    rows.lambda.withUnsafeBufferPointer { rowLambda in
    columns.first.withUnsafeBufferPointer { columnFirst in
    columns.step.withUnsafeBufferPointer { columnStep in
    columns.lambda.withUnsafeBufferPointer { columnLambda in
        let (h0s, hSteps, hLambdas) = (rowFirst.baseAddress!, rowStep.baseAddress!, rowLambda.baseAddress!)
        let (w0s, wSteps, wLambdas) = (columnFirst.baseAddress!, columnStep.baseAddress!, columnLambda.baseAddress!)
        parallelRanges(count: planes, grain: Swift.max(1, elementwiseGrain / Swift.max(1, 4 &* outArea))) { start, end in
            for plane in start..<end {
                let image = plane &* inArea
                let resized = plane &* outArea
                for oh in 0..<outH {
                    let top = image &+ h0s[oh] &* inW
                    let bottom = top &+ hSteps[oh] &* inW
                    let b = hLambdas[oh]
                    let a = 1 - b
                    let outRow = resized &+ oh &* outW
                    for ow in 0..<outW {
                        let left = w0s[ow]
                        let right = left &+ wSteps[ow]
                        let d = wLambdas[ow]
                        let c = 1 - d
                        if backward {
                            let g = source[outRow &+ ow]
                            destination[top &+ left] += a * c * g
                            destination[top &+ right] += a * d * g
                            destination[bottom &+ left] += b * c * g
                            destination[bottom &+ right] += b * d * g
                        } else {
                            destination[outRow &+ ow] =
                                a * (c * source[top &+ left] + d * source[top &+ right])
                                + b * (c * source[bottom &+ left] + d * source[bottom &+ right])
                        }
                    }
                }
            }
        }
    }
    }
    }
    }
    }
    }
}

/// Bilinear 2-D upsampling (PyTorch's `F.interpolate(mode='bilinear')`).
///
/// - Parameters:
///   - x: (N, C, H, W) or (C, H, W).
///   - size: output (height, width); give this or `scaleFactor`.
///   - scaleFactor: multiplies H and W (rounded down) to get the output size; without
///     `alignCorners` its inverse is also the sampling step, as in PyTorch.
///   - alignCorners: map the corner pixels' centres onto each other (step (in-1)/(out-1)); when
///     false, pixels are areas and output centres map to (dst + ½)·step - ½, clamped at 0.
public func upsampleBilinear2d(
    _ x: Tensor, size: (Int, Int)? = nil, scaleFactor: (Float, Float)? = nil, alignCorners: Bool = false
) -> Tensor {
    if x.rank == 3 {
        return upsampleBilinear2d(
            x.unsqueezed(axis: 0), size: size, scaleFactor: scaleFactor, alignCorners: alignCorners
        ).squeezed(axis: 0)
    }
    let op = "upsampleBilinear2d"
    let target = resizeTarget(op, input: x.shape, size: size, scaleFactor: scaleFactor)
    let (height, width, outH, outW) = (x.shape[2], x.shape[3], target.outH, target.outW)
    let rows = LinearTaps(input: height, output: outH, alignCorners: alignCorners, scale: target.scaleH)
    let columns = LinearTaps(input: width, output: outW, alignCorners: alignCorners, scale: target.scaleW)
    let planes = x.shape[0] * x.shape[1]
    let values = x.contiguousValues()
    defer { withExtendedLifetime(values) {} }
    let result = Tensor(uninitializedShape: [x.shape[0], x.shape[1], outH, outW])
    bilinearKernel(
        planes: planes, inH: height, inW: width, outH: outH, outW: outW, rows: rows, columns: columns,
        values.pointer, result.pointer, backward: false)
    let inputShape = x.shape
    return record(result, op, [x]) { gradient in
        let dy = gradient.contiguousValues()
        defer { withExtendedLifetime(dy) {} }
        let dx = Tensor.zeros(inputShape)
        bilinearKernel(
            planes: planes, inH: height, inW: width, outH: outH, outW: outW, rows: rows, columns: columns,
            dy.pointer, dx.pointer, backward: true)
        return [dx]
    }
}

/// Bilinear upsampling by the same factor along height and width.
public func upsampleBilinear2d(_ x: Tensor, scaleFactor: Float, alignCorners: Bool = false) -> Tensor {
    upsampleBilinear2d(x, scaleFactor: (scaleFactor, scaleFactor), alignCorners: alignCorners)
}

/// Bilinear upsampling to a square `size` × `size`.
public func upsampleBilinear2d(_ x: Tensor, size: Int, alignCorners: Bool = false) -> Tensor {
    upsampleBilinear2d(x, size: (size, size), alignCorners: alignCorners)
}

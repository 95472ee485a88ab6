// 2-D pooling over NCHW tensors (PyTorch semantics), forward and backward side by side.
// Every kernel works plane by plane (one (sample, channel) pair), so planes run in parallel and a
// backward scatter never crosses into another thread's plane.

import CGalenRuntime

/// The window layout shared by the pooling ops along one image.
private struct PoolGeometry {
    let planes: Int
    let height: Int
    let width: Int
    let outH: Int
    let outW: Int
    let kernelH: Int
    let kernelW: Int
    let strideH: Int
    let strideW: Int
    let padH: Int
    let padW: Int
    let dilationH: Int
    let dilationW: Int

    var imageArea: Int { height &* width }
    var outArea: Int { outH &* outW }

    /// 2×2 windows, stride 2, fully inside the image: the LeNet/U-Net case, with its own AVX2
    /// kernels (PoolingKernels.c) where the CPU has AVX2.
    var isPlain2x2: Bool {
        poolKernelsUseAVX2 && kernelH == 2 && kernelW == 2 && strideH == 2 && strideW == 2 && padH == 0
            && padW == 0 && dilationH == 1 && dilationW == 1 && 2 &* outH <= height && 2 &* outW <= width
    }

    /// Planes per thread chunk: enough that waking a second thread pays off.
    var grain: Int { Swift.max(1, elementwiseGrain / Swift.max(1, outArea &* kernelH &* kernelW)) }
}

/// PyTorch's pooling output length along one axis, including its ceil-mode rule that the last
/// window must start inside the input or the left padding. Stops naming `op` when there is none.
private func poolOutputLength(
    _ op: String, input: Int, kernel: Int, stride: Int, padding: Int, dilation: Int, ceilMode: Bool,
    shape: [Int]
) -> Int {
    let span = dilation * (kernel - 1) + 1
    check(
        input + 2 * padding >= span,
        "\(op): window of extent \(span) (kernel \(kernel), dilation \(dilation)) is larger than the padded input (\(input) + 2·\(padding)) of input \(shape)")
    var length = (input + 2 * padding - span + (ceilMode ? stride - 1 : 0)) / stride + 1
    if ceilMode && (length - 1) * stride >= input + padding { length -= 1 }
    return length
}

/// Stops naming `op` unless the pooling arguments are in range (PyTorch's checks).
private func checkPoolArguments(
    _ op: String, _ x: Tensor, kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int)
) {
    check(x.rank == 4, "\(op): input must be (N, C, H, W) or (C, H, W), got shape \(x.shape)")
    check(kernel.0 >= 1 && kernel.1 >= 1, "\(op): kernelSize must be positive, got \(kernel)")
    check(stride.0 >= 1 && stride.1 >= 1, "\(op): stride must be positive, got \(stride)")
    check(dilation.0 >= 1 && dilation.1 >= 1, "\(op): dilation must be positive, got \(dilation)")
    check(
        padding.0 >= 0 && padding.1 >= 0 && padding.0 <= kernel.0 / 2 && padding.1 <= kernel.1 / 2,
        "\(op): padding \(padding) must be non-negative and at most half of kernelSize \(kernel)")
}

/// The geometry of a pooling op on a rank-4 `x`, after `checkPoolArguments`.
private func poolGeometry(
    _ op: String, _ x: Tensor, kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int),
    ceilMode: Bool
) -> PoolGeometry {
    let (height, width) = (x.shape[2], x.shape[3])
    return PoolGeometry(
        planes: x.shape[0] * x.shape[1], height: height, width: width,
        outH: poolOutputLength(
            op, input: height, kernel: kernel.0, stride: stride.0, padding: padding.0, dilation: dilation.0,
            ceilMode: ceilMode, shape: x.shape),
        outW: poolOutputLength(
            op, input: width, kernel: kernel.1, stride: stride.1, padding: padding.1, dilation: dilation.1,
            ceilMode: ceilMode, shape: x.shape),
        kernelH: kernel.0, kernelW: kernel.1, strideH: stride.0, strideW: stride.1,
        padH: padding.0, padW: padding.1, dilationH: dilation.0, dilationW: dilation.1)
}

// MARK: Max pooling

/// Max pooling forward: values and, per output, the flat index (ih·W + iw) of its maximum within
/// the input plane (-1 in the degenerate case of a window with no element inside the image).
/// Indices are 32-bit: half the memory traffic of Int; `maxPool2dRecorded` checks that a plane fits.
private func maxPoolForward(_ x: Tensor, _ g: PoolGeometry, allowFastPath: Bool) -> (Tensor, [Int32]) {
    let values = x.contiguousValues()
    defer { withExtendedLifetime(values) {} }
    let result = Tensor(uninitializedShape: [x.shape[0], x.shape[1], g.outH, g.outW])
    let source = values.pointer
    let out = result.pointer
    let isPlain2x2 = allowFastPath && g.isPlain2x2
    let indices = [Int32](unsafeUninitializedCapacity: g.planes &* g.outArea) { buffer, initialized in
        let argmax = buffer.baseAddress!
        parallelRanges(count: g.planes, grain: g.grain) { start, end in
            for plane in start..<end {
                let input = source + plane &* g.imageArea
                let output = out + plane &* g.outArea
                let index = argmax + plane &* g.outArea
                if isPlain2x2 {
                    galen_max_pool_2x2_avx2(input, g.width, output, index, g.outH, g.outW)
                    continue
                }
                for oh in 0..<g.outH {
                    let h0 = oh &* g.strideH &- g.padH
                    for ow in 0..<g.outW {
                        let w0 = ow &* g.strideW &- g.padW
                        var best = -Float.infinity
                        var bestIndex = -1
                        for kh in 0..<g.kernelH {
                            let ih = h0 &+ kh &* g.dilationH
                            if ih < 0 || ih >= g.height { continue }
                            for kw in 0..<g.kernelW {
                                let iw = w0 &+ kw &* g.dilationW
                                if iw < 0 || iw >= g.width { continue }
                                let position = ih &* g.width &+ iw
                                let v = input[position]
                                // First maximum wins; NaN propagates (PyTorch's rule). An all -inf
                                // window still reports its first element.
                                if v > best || v.isNaN || bestIndex < 0 {
                                    best = v
                                    bestIndex = position
                                }
                            }
                        }
                        let o = oh &* g.outW &+ ow
                        output[o] = best
                        index[o] = Int32(truncatingIfNeeded: bestIndex)
                    }
                }
            }
        }
        initialized = g.planes &* g.outArea
    }
    return (result, indices)
}

/// Whether the 2×2 pooling kernels of PoolingKernels.c (AVX2) run on this CPU; elsewhere every
/// geometry takes the general loops.
let poolKernelsUseAVX2 = galen_cpu_has_avx2() != 0

/// Max pooling with the argmax of every window recorded for the backward, shared by the public
/// variants. `allowFastPath: false` runs the general loops on every geometry, so tests can check
/// the 2×2 kernels against them.
func maxPool2dRecorded(
    _ x: Tensor, kernelSize: (Int, Int), stride: (Int, Int)?, padding: (Int, Int), dilation: (Int, Int),
    ceilMode: Bool, op: String, allowFastPath: Bool = true
) -> (Tensor, [Int32]) {
    if x.rank == 3 {
        let (values, indices) = maxPool2dRecorded(
            x.unsqueezed(axis: 0), kernelSize: kernelSize, stride: stride, padding: padding, dilation: dilation,
            ceilMode: ceilMode, op: op, allowFastPath: allowFastPath)
        return (values.squeezed(axis: 0), indices)
    }
    let stride = stride ?? kernelSize
    checkPoolArguments(op, x, kernel: kernelSize, stride: stride, padding: padding, dilation: dilation)
    let g = poolGeometry(op, x, kernel: kernelSize, stride: stride, padding: padding, dilation: dilation, ceilMode: ceilMode)
    check(
        g.imageArea <= Int(Int32.max),
        "\(op): an input plane of \(g.height)×\(g.width) elements is larger than max pooling's 32-bit indices address")
    let (result, indices) = maxPoolForward(x, g, allowFastPath: allowFastPath)
    let inputShape = x.shape
    let isPlain2x2 = allowFastPath && g.isPlain2x2
    let recorded = record(result, op, [x]) { gradient in
        let dy = gradient.contiguousValues()
        defer { withExtendedLifetime(dy) {} }
        let dx = isPlain2x2 ? Tensor(uninitializedShape: inputShape) : Tensor.zeros(inputShape)
        let source = dy.pointer
        let out = dx.pointer
        indices.withUnsafeBufferPointer { buffer in
            let index = buffer.baseAddress!
            parallelRanges(count: g.planes, grain: Swift.max(1, elementwiseGrain / Swift.max(1, g.outArea))) { start, end in
                for plane in start..<end {
                    let target = out + plane &* g.imageArea
                    let base = plane &* g.outArea
                    if isPlain2x2 {
                        galen_max_pool_2x2_backward_avx2(
                            source + base, index + base, target, g.height, g.width, g.outH, g.outW)
                        continue
                    }
                    for o in base..<(base &+ g.outArea) where index[o] >= 0 {
                        target[Int(index[o])] += source[o]
                    }
                }
            }
        }
        return [dx]
    }
    return (recorded, indices)
}

/// 2-D max pooling (PyTorch's `F.max_pool2d`); the gradient flows to the first maximum of each window.
///
/// - Parameters:
///   - x: (N, C, H, W) or (C, H, W).
///   - kernelSize: window (height, width).
///   - stride: step between windows; defaults to `kernelSize`.
///   - padding: implicit -∞ on both sides, at most half the kernel.
///   - dilation: spacing between the window's taps.
///   - ceilMode: round the output size up, keeping a last partial window that starts inside the
///     input (or its left padding).
public func maxPool2d(
    _ x: Tensor, kernelSize: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0),
    dilation: (Int, Int) = (1, 1), ceilMode: Bool = false
) -> Tensor {
    maxPool2dRecorded(
        x, kernelSize: kernelSize, stride: stride, padding: padding, dilation: dilation, ceilMode: ceilMode,
        op: "maxPool2d"
    ).0
}

/// 2-D max pooling with a square window and equal stride, padding and dilation on both axes.
public func maxPool2d(
    _ x: Tensor, kernelSize: Int, stride: Int? = nil, padding: Int = 0, dilation: Int = 1, ceilMode: Bool = false
) -> Tensor {
    maxPool2d(
        x, kernelSize: (kernelSize, kernelSize), stride: stride.map { ($0, $0) }, padding: (padding, padding),
        dilation: (dilation, dilation), ceilMode: ceilMode)
}

/// 2-D max pooling that also returns where each maximum was (PyTorch's `return_indices=True`):
/// the flat index ih·W + iw within its own (H, W) input plane, as `F.max_unpool2d` expects.
public func maxPool2dWithIndices(
    _ x: Tensor, kernelSize: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0),
    dilation: (Int, Int) = (1, 1), ceilMode: Bool = false
) -> (values: Tensor, indices: IntTensor) {
    let (values, indices) = maxPool2dRecorded(
        x, kernelSize: kernelSize, stride: stride, padding: padding, dilation: dilation, ceilMode: ceilMode,
        op: "maxPool2dWithIndices")
    return (values, IntTensor(indices.map(Int.init), shape: values.shape))
}

/// `maxPool2dWithIndices` with a square window and equal stride, padding and dilation on both axes.
public func maxPool2dWithIndices(
    _ x: Tensor, kernelSize: Int, stride: Int? = nil, padding: Int = 0, dilation: Int = 1, ceilMode: Bool = false
) -> (values: Tensor, indices: IntTensor) {
    maxPool2dWithIndices(
        x, kernelSize: (kernelSize, kernelSize), stride: stride.map { ($0, $0) }, padding: (padding, padding),
        dilation: (dilation, dilation), ceilMode: ceilMode)
}

// MARK: Average pooling

/// The clipped window [start, end) of every output position along one axis and the size PyTorch
/// divides by when padding counts (the window clipped to the padded input only).
private func averageWindows(
    outputs: Int, input: Int, kernel: Int, stride: Int, padding: Int
) -> (starts: [Int], ends: [Int], paddedSizes: [Int]) {
    var starts = [Int](repeating: 0, count: outputs)
    var ends = [Int](repeating: 0, count: outputs)
    var sizes = [Int](repeating: 0, count: outputs)
    for o in 0..<outputs {
        let start = o * stride - padding
        let end = Swift.min(start + kernel, input + padding)
        sizes[o] = end - start
        starts[o] = Swift.max(start, 0)
        ends[o] = Swift.min(end, input)
    }
    return (starts, ends, sizes)
}

/// 2-D average pooling (PyTorch's `F.avg_pool2d`).
///
/// - Parameters:
///   - x: (N, C, H, W) or (C, H, W).
///   - kernelSize: window (height, width).
///   - stride: step between windows; defaults to `kernelSize`.
///   - padding: implicit zeros on both sides, at most half the kernel.
///   - ceilMode: round the output size up (see `maxPool2d`).
///   - countIncludePad: divide by the window size including padded positions (true) or by the
///     number of input elements in the window (false).
///   - divisorOverride: divide every window's sum by this instead.
public func avgPool2d(
    _ x: Tensor, kernelSize: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0),
    ceilMode: Bool = false, countIncludePad: Bool = true, divisorOverride: Int? = nil
) -> Tensor {
    if x.rank == 3 {
        return avgPool2d(
            x.unsqueezed(axis: 0), kernelSize: kernelSize, stride: stride, padding: padding, ceilMode: ceilMode,
            countIncludePad: countIncludePad, divisorOverride: divisorOverride
        ).squeezed(axis: 0)
    }
    let op = "avgPool2d"
    let stride = stride ?? kernelSize
    checkPoolArguments(op, x, kernel: kernelSize, stride: stride, padding: padding, dilation: (1, 1))
    if let divisorOverride {
        check(divisorOverride != 0, "\(op): divisorOverride must not be zero")
    }
    let g = poolGeometry(op, x, kernel: kernelSize, stride: stride, padding: padding, dilation: (1, 1), ceilMode: ceilMode)
    let rows = averageWindows(outputs: g.outH, input: g.height, kernel: g.kernelH, stride: g.strideH, padding: g.padH)
    let columns = averageWindows(outputs: g.outW, input: g.width, kernel: g.kernelW, stride: g.strideW, padding: g.padW)
    // The factor each output's window sum is multiplied by; 0 for a window entirely in the padding
    // (possible in ceil mode), whose output PyTorch defines as 0.
    var scales = [Float](repeating: 0, count: g.outArea)
    for oh in 0..<g.outH {
        for ow in 0..<g.outW {
            let clippedH = rows.ends[oh] - rows.starts[oh]
            let clippedW = columns.ends[ow] - columns.starts[ow]
            if clippedH <= 0 || clippedW <= 0 { continue }
            let divisor = divisorOverride
                ?? (countIncludePad ? rows.paddedSizes[oh] * columns.paddedSizes[ow] : clippedH * clippedW)
            scales[oh * g.outW + ow] = 1 / Float(divisor)
        }
    }
    let windows = AverageWindows(
        planes: g.planes, height: g.height, width: g.width, outH: g.outH, outW: g.outW,
        rowStarts: rows.starts, rowEnds: rows.ends, columnStarts: columns.starts, columnEnds: columns.ends,
        scales: scales)
    return windows.apply(x, op: op)
}

/// `avgPool2d` with a square window and equal stride and padding on both axes.
public func avgPool2d(
    _ x: Tensor, kernelSize: Int, stride: Int? = nil, padding: Int = 0, ceilMode: Bool = false,
    countIncludePad: Bool = true, divisorOverride: Int? = nil
) -> Tensor {
    avgPool2d(
        x, kernelSize: (kernelSize, kernelSize), stride: stride.map { ($0, $0) }, padding: (padding, padding),
        ceilMode: ceilMode, countIncludePad: countIncludePad, divisorOverride: divisorOverride)
}

/// Precomputed rectangular windows (separable in rows and columns) with one scale per output,
/// shared by average and adaptive average pooling: output = scale · Σ window.
private struct AverageWindows {
    let planes: Int
    let height: Int
    let width: Int
    let outH: Int
    let outW: Int
    let rowStarts: [Int]
    let rowEnds: [Int]
    let columnStarts: [Int]
    let columnEnds: [Int]
    /// Per output position (oh·outW + ow).
    let scales: [Float]

    /// Planes per thread chunk, from the number of elements all windows of one plane touch.
    private var grain: Int {
        var rows = 0
        for oh in 0..<outH { rows += rowEnds[oh] - rowStarts[oh] }
        var columns = 0
        for ow in 0..<outW { columns += columnEnds[ow] - columnStarts[ow] }
        return Swift.max(1, elementwiseGrain / Swift.max(1, rows * columns))
    }

    /// Pools `x` (rank 4, matching this layout) and records the backward under `op`.
    func apply(_ x: Tensor, op: String) -> Tensor {
        let values = x.contiguousValues()
        defer { withExtendedLifetime(values) {} }
        let result = Tensor(uninitializedShape: [x.shape[0], x.shape[1], outH, outW])
        run(values.pointer, result.pointer, scatter: false)
        let inputShape = x.shape
        return record(result, op, [x]) { gradient in
            let dy = gradient.contiguousValues()
            defer { withExtendedLifetime(dy) {} }
            let dx = Tensor.zeros(inputShape)
            run(dy.pointer, dx.pointer, scatter: true)
            return [dx]
        }
    }

    /// Forward (`scatter` false): output[o] = scale[o] · Σ input[window o].
    /// Backward (`scatter` true): input[window o] += scale[o] · output gradient[o], into zeros.
    /// Parallel over planes, so every thread writes only its own planes.
    private func run(_ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<Float>, scatter: Bool) {
        let (height, width, outH, outW) = (height, width, outH, outW)
        let imageArea = height &* width
        let outArea = outH &* outW
        rowStarts.withUnsafeBufferPointer { rowStart in
            rowEnds.withUnsafeBufferPointer { rowEnd in
                columnStarts.withUnsafeBufferPointer { columnStart in
                    columnEnds.withUnsafeBufferPointer { columnEnd in
                        scales.withUnsafeBufferPointer { scaleBuffer in
                            let rs = rowStart.baseAddress!
                            let re = rowEnd.baseAddress!
                            let cs = columnStart.baseAddress!
                            let ce = columnEnd.baseAddress!
                            let scale = scaleBuffer.baseAddress!
                            parallelRanges(count: planes, grain: grain) { start, end in
                                for plane in start..<end {
                                    let image = plane &* imageArea
                                    let pooled = plane &* outArea
                                    for oh in 0..<outH {
                                        let (h0, h1) = (rs[oh], re[oh])
                                        for ow in 0..<outW {
                                            let (w0, w1) = (cs[ow], ce[ow])
                                            let o = oh &* outW &+ ow
                                            if scatter {
                                                let share = source[pooled &+ o] * scale[o]
                                                for ih in h0..<h1 {
                                                    let row = destination + (image &+ ih &* width)
                                                    for iw in w0..<w1 { row[iw] += share }
                                                }
                                            } else {
                                                var total: Float = 0
                                                for ih in h0..<h1 {
                                                    let row = source + (image &+ ih &* width)
                                                    for iw in w0..<w1 { total += row[iw] }
                                                }
                                                destination[pooled &+ o] = total * scale[o]
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

// MARK: Adaptive average pooling

/// Adaptive 2-D average pooling (PyTorch's `F.adaptive_avg_pool2d`): output cell i along an axis
/// averages input [⌊i·In/Out⌋, ⌈(i+1)·In/Out⌉), so any input size maps onto `outputSize`.
///
/// - Parameters:
///   - x: (N, C, H, W) or (C, H, W).
///   - outputSize: (height, width) of the result.
public func adaptiveAvgPool2d(_ x: Tensor, outputSize: (Int, Int)) -> Tensor {
    if x.rank == 3 {
        return adaptiveAvgPool2d(x.unsqueezed(axis: 0), outputSize: outputSize).squeezed(axis: 0)
    }
    let op = "adaptiveAvgPool2d"
    check(x.rank == 4, "\(op): input must be (N, C, H, W) or (C, H, W), got shape \(x.shape)")
    check(
        outputSize.0 >= 1 && outputSize.1 >= 1, "\(op): outputSize must be positive, got \(outputSize)")
    check(
        x.shape[2] >= 1 && x.shape[3] >= 1, "\(op): input \(x.shape) has an empty spatial dimension")
    let (height, width) = (x.shape[2], x.shape[3])
    let (outH, outW) = outputSize
    func bins(_ input: Int, _ output: Int) -> ([Int], [Int]) {
        let starts = (0..<output).map { $0 * input / output }
        let ends = (0..<output).map { (($0 + 1) * input + output - 1) / output }
        return (starts, ends)
    }
    let (rowStarts, rowEnds) = bins(height, outH)
    let (columnStarts, columnEnds) = bins(width, outW)
    var scales = [Float](repeating: 0, count: outH * outW)
    for oh in 0..<outH {
        for ow in 0..<outW {
            scales[oh * outW + ow] = 1 / Float((rowEnds[oh] - rowStarts[oh]) * (columnEnds[ow] - columnStarts[ow]))
        }
    }
    let windows = AverageWindows(
        planes: x.shape[0] * x.shape[1], height: height, width: width, outH: outH, outW: outW,
        rowStarts: rowStarts, rowEnds: rowEnds, columnStarts: columnStarts, columnEnds: columnEnds,
        scales: scales)
    return windows.apply(x, op: op)
}

/// Adaptive 2-D average pooling to a square `outputSize` × `outputSize`.
public func adaptiveAvgPool2d(_ x: Tensor, outputSize: Int) -> Tensor {
    adaptiveAvgPool2d(x, outputSize: (outputSize, outputSize))
}

import CBLAS
import Foundation

// 2-D convolution and its transpose (NCHW, PyTorch semantics), forward and backward side by side.
//
// Everything reduces to three kernels on one `ConvGeometry`, where "image" is the convolution's
// input side and "output" its result side:
//   forward        y = W · im2col(x)                       (conv2d forward, convTranspose2d input grad)
//   input grad     x = col2im(Wᵀ · y)                      (conv2d input grad, convTranspose2d forward)
//   weight grad    dW += dy · im2col(x)ᵀ                   (both, with the roles of x and dy swapped)
// Each kernel has two implementations (see `ConvolutionPath`): oneDNN's forward, backward-data and
// backward-weights primitives (Kernels/OneDNNConvolution.swift), and the reference path here, where
// the products go through OpenBLAS (`sgemm`), one per sample and group, and im2col / col2im run on
// Galen's threads before / after them, so the two pools never compete for the cores.

// MARK: Path selection

/// Which implementation computes `conv2d`, `conv1d` and `convTranspose2d`.
///
/// Both compute the same function but add in different orders, so their results agree to float
/// rounding (about 1e-6 relative), not bit for bit. Each is deterministic for a given thread count.
public enum ConvolutionPath: String, Sendable, CaseIterable {
    /// Galen's own im2col / col2im + OpenBLAS sgemm: the plain reference, always available.
    case reference
    /// oneDNN's JIT primitives in its blocked layouts, with inputs and outputs reordered from and to
    /// NCHW. Where oneDNN is missing, cannot build a primitive for a geometry or offers only its
    /// slow reference loops, the convolution silently takes the reference path.
    case oneDNN = "onednn"

    /// Forces a path for the current task and the tasks it creates, ahead of `GALEN_CONV`:
    /// `ConvolutionPath.$override.withValue(.reference) { … }`. A convolution keeps the path it
    /// started with for its backward pass.
    @TaskLocal public static var override: ConvolutionPath?

    /// The path set by the environment variable `GALEN_CONV` (`reference` or `onednn`), read once;
    /// oneDNN when unset.
    public static let environmentDefault = pathFromEnvironment("GALEN_CONV", default: ConvolutionPath.oneDNN)

    /// The path the next convolution requests: `override`, else `GALEN_CONV`, else oneDNN.
    public static var current: ConvolutionPath { override ?? environmentDefault }

    /// Whether the oneDNN path can run in this process (oneDNN created its CPU engine).
    public static var isOneDNNAvailable: Bool { OneDNNConvolution.isAvailable }
}

/// Column buffers are built for several samples at once up to this many floats (16 MiB), so that
/// small images still give the threads enough rows, while large ones never need a batch-sized buffer.
private let columnBudget = 1 << 22

/// The shape of one convolution seen from both sides. For a transposed convolution the image is
/// its output and the "output" its input.
struct ConvGeometry: Hashable, Sendable {
    let batch: Int
    let imageChannels: Int
    let height: Int
    let width: Int
    let outChannels: Int
    let outH: Int
    let outW: Int
    let groups: Int
    let kernelH: Int
    let kernelW: Int
    let strideH: Int
    let strideW: Int
    let padH: Int
    let padW: Int
    let dilationH: Int
    let dilationW: Int

    /// The same convolution on `batch` samples.
    func withBatch(_ batch: Int) -> ConvGeometry {
        ConvGeometry(
            batch: batch, imageChannels: imageChannels, height: height, width: width, outChannels: outChannels,
            outH: outH, outW: outW, groups: groups, kernelH: kernelH, kernelW: kernelW, strideH: strideH,
            strideW: strideW, padH: padH, padW: padW, dilationH: dilationH, dilationW: dilationW)
    }

    var kernelArea: Int { kernelH &* kernelW }
    var imageArea: Int { height &* width }
    var outArea: Int { outH &* outW }
    /// Rows of one sample's column matrix: one per (image channel, kernel row, kernel column).
    var columnRows: Int { imageChannels &* kernelArea }
    /// Rows of the column matrix that one group's filters read.
    var groupColumnRows: Int { imageChannels / groups &* kernelArea }
    var groupOutChannels: Int { outChannels / groups }
    /// Floats in one sample's column matrix.
    var columnSize: Int { columnRows &* outArea }

    /// A 1×1 kernel with unit stride and no padding reads the image as its own column matrix.
    var isPointwise: Bool {
        kernelH == 1 && kernelW == 1 && strideH == 1 && strideW == 1 && padH == 0 && padW == 0
            && outH == height && outW == width
    }

    /// Samples per column buffer.
    var chunk: Int { Swift.max(1, Swift.min(batch, columnBudget / Swift.max(1, columnSize))) }

    /// The output columns `ow` whose input column `ow·strideW + offset` lies inside the image,
    /// as a half-open range (empty when none does).
    @inline(__always)
    func validColumns(offset: Int) -> (Int, Int) {
        let start = offset >= 0 ? 0 : Swift.min(outW, (-offset + strideW - 1) / strideW)
        let last = width - 1 - offset
        let end = last < 0 ? 0 : Swift.min(outW, last / strideW + 1)
        return (start, Swift.max(start, end))
    }
}

// MARK: im2col / col2im

/// Fills rows start..<end of the column matrices of `count` consecutive samples, in parallel.
/// Row r of a sample holds, for kernel tap (c, kh, kw) = r, the image values that tap sees at every
/// output position (0 where it falls into the padding).
private func im2col(
    _ geometry: ConvGeometry, image: UnsafePointer<Float>, columns: UnsafeMutablePointer<Float>, count: Int
) {
    let rows = geometry.columnRows
    let imageSize = geometry.imageChannels &* geometry.imageArea
    let outArea = geometry.outArea
    parallelRanges(count: count &* rows, grain: Swift.max(1, elementwiseGrain / Swift.max(1, outArea))) { start, end in
        var row = start
        while row < end {
            // Split the range at sample boundaries so each piece has one image and one matrix.
            let sample = row / rows
            let stop = Swift.min(end, (sample &+ 1) &* rows)
            im2colRows(
                geometry, image + sample &* imageSize, columns + sample &* geometry.columnSize,
                row &- sample &* rows, stop &- sample &* rows)
            row = stop
        }
    }
}

private func im2colRows(
    _ g: ConvGeometry, _ image: UnsafePointer<Float>, _ columns: UnsafeMutablePointer<Float>, _ start: Int, _ end: Int
) {
    let (height, width, outH, outW) = (g.height, g.width, g.outH, g.outW)
    let strideW = g.strideW
    for row in start..<end {
        let channel = row / g.kernelArea
        let tap = row &- channel &* g.kernelArea
        let kh = tap / g.kernelW
        let kw = tap &- kh &* g.kernelW
        let plane = image + channel &* height &* width
        let destination = columns + row &* g.outArea
        let offsetW = kw &* g.dilationW &- g.padW
        let (first, last) = g.validColumns(offset: offsetW)
        for oh in 0..<outH {
            let ih = oh &* g.strideH &+ kh &* g.dilationH &- g.padH
            let out = destination + oh &* outW
            guard ih >= 0 && ih < height else {
                out.update(repeating: 0, count: outW)
                continue
            }
            let source = plane + ih &* width
            if first > 0 { out.update(repeating: 0, count: first) }
            if strideW == 1 {
                if last > first { (out + first).update(from: source + (first &+ offsetW), count: last &- first) }
            } else {
                for ow in first..<last { out[ow] = source[ow &* strideW &+ offsetW] }
            }
            if last < outW { (out + last).update(repeating: 0, count: outW &- last) }
        }
    }
}

/// Sums the column matrices of `count` consecutive samples back into their images (the adjoint of
/// im2col), overwriting the images; each image channel starts from `bias[channel]` when given.
///
/// Parallel over image rows: every image row gathers the column entries that land on it, so no
/// two threads ever write the same element.
private func col2im(
    _ geometry: ConvGeometry, columns: UnsafePointer<Float>, image: UnsafeMutablePointer<Float>, count: Int,
    bias: UnsafePointer<Float>?
) {
    let rows = geometry.imageChannels &* geometry.height
    let work = geometry.width &* geometry.kernelArea
    parallelRanges(count: count &* rows, grain: Swift.max(1, elementwiseGrain / Swift.max(1, work))) { start, end in
        var row = start
        while row < end {
            let sample = row / rows
            let stop = Swift.min(end, (sample &+ 1) &* rows)
            col2imRows(
                geometry, columns + sample &* geometry.columnSize, image + sample &* rows &* geometry.width,
                row &- sample &* rows, stop &- sample &* rows, bias)
            row = stop
        }
    }
}

private func col2imRows(
    _ g: ConvGeometry, _ columns: UnsafePointer<Float>, _ image: UnsafeMutablePointer<Float>,
    _ start: Int, _ end: Int, _ bias: UnsafePointer<Float>?
) {
    let (height, width, outH, outW) = (g.height, g.width, g.outH, g.outW)
    let strideW = g.strideW
    for imageRow in start..<end {
        let channel = imageRow / height
        let ih = imageRow &- channel &* height
        let out = image + imageRow &* width
        out.update(repeating: bias?[channel] ?? 0, count: width)
        for kh in 0..<g.kernelH {
            // Output row oh reads image row oh·strideH + kh·dilationH - padH; invert that for ih.
            let shifted = ih &+ g.padH &- kh &* g.dilationH
            if shifted < 0 { break }
            if shifted % g.strideH != 0 { continue }
            let oh = shifted / g.strideH
            if oh >= outH { continue }
            for kw in 0..<g.kernelW {
                let row = channel &* g.kernelArea &+ kh &* g.kernelW &+ kw
                let source = columns + (row &* g.outArea &+ oh &* outW)
                let offsetW = kw &* g.dilationW &- g.padW
                let (first, last) = g.validColumns(offset: offsetW)
                if strideW == 1 {
                    for ow in first..<last { out[ow &+ offsetW] += source[ow] }
                } else {
                    for ow in first..<last { out[ow &* strideW &+ offsetW] += source[ow] }
                }
            }
        }
    }
}

// MARK: GEMM kernels

// Every matrix here is row-major in memory; a product reads it either as stored or transposed.
private let asStored = CblasNoTrans
private let transposed = CblasTrans

/// y[n] = W · im2col(x[n]) (+ bias), per group. x: [batch, imageChannels, H, W];
/// weight: [outChannels, imageChannels / groups, kH, kW]; y: [batch, outChannels, outH, outW].
private func convolutionForward(
    _ g: ConvGeometry, x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    y: UnsafeMutablePointer<Float>
) {
    let (area, rowsG, channelsG) = (g.outArea, g.groupColumnRows, g.groupOutChannels)
    let imageSize = g.imageChannels &* g.imageArea
    let outSize = g.outChannels &* area
    let chunk = g.chunk
    let buffer: UnsafeMutablePointer<Float>? = g.isPointwise ? nil : .allocate(capacity: chunk &* g.columnSize)
    defer { buffer?.deallocate() }
    var first = 0
    while first < g.batch {
        let count = Swift.min(chunk, g.batch &- first)
        if let buffer { im2col(g, image: x + first &* imageSize, columns: buffer, count: count) }
        for s in 0..<count {
            let n = first &+ s
            let columns: UnsafePointer<Float> = buffer.map { UnsafePointer($0 + s &* g.columnSize) } ?? x + n &* imageSize
            let out = y + n &* outSize
            var beta: Float = 0
            if let bias {
                // Start from the bias and let the product accumulate onto it.
                for c in 0..<g.outChannels { (out + c &* area).update(repeating: bias[c], count: area) }
                beta = 1
            }
            for group in 0..<g.groups {
                sgemm(
                    weight + group &* channelsG &* rowsG, MatrixOperand(transpose: asStored, leadingDimension: rowsG),
                    columns + group &* rowsG &* area, MatrixOperand(transpose: asStored, leadingDimension: area),
                    out + group &* channelsG &* area, m: channelsG, n: area, k: rowsG, beta: beta)
            }
        }
        first &+= count
    }
}

/// x[n] = col2im(Wᵀ · y[n]) (+ bias per image channel): the adjoint of `convolutionForward`.
private func convolutionAdjoint(
    _ g: ConvGeometry, y: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    x: UnsafeMutablePointer<Float>
) {
    let (area, rowsG, channelsG) = (g.outArea, g.groupColumnRows, g.groupOutChannels)
    let imageSize = g.imageChannels &* g.imageArea
    let outSize = g.outChannels &* area
    if g.isPointwise {
        for n in 0..<g.batch {
            let out = x + n &* imageSize
            var beta: Float = 0
            if let bias {
                for c in 0..<g.imageChannels { (out + c &* area).update(repeating: bias[c], count: area) }
                beta = 1
            }
            for group in 0..<g.groups {
                sgemm(
                    weight + group &* channelsG &* rowsG, MatrixOperand(transpose: transposed, leadingDimension: rowsG),
                    y + n &* outSize + group &* channelsG &* area, MatrixOperand(transpose: asStored, leadingDimension: area),
                    out + group &* rowsG &* area, m: rowsG, n: area, k: channelsG, beta: beta)
            }
        }
        return
    }
    let chunk = g.chunk
    let buffer = UnsafeMutablePointer<Float>.allocate(capacity: chunk &* g.columnSize)
    defer { buffer.deallocate() }
    var first = 0
    while first < g.batch {
        let count = Swift.min(chunk, g.batch &- first)
        for s in 0..<count {
            let n = first &+ s
            for group in 0..<g.groups {
                sgemm(
                    weight + group &* channelsG &* rowsG, MatrixOperand(transpose: transposed, leadingDimension: rowsG),
                    y + n &* outSize + group &* channelsG &* area, MatrixOperand(transpose: asStored, leadingDimension: area),
                    buffer + s &* g.columnSize + group &* rowsG &* area, m: rowsG, n: area, k: channelsG)
            }
        }
        col2im(g, columns: buffer, image: x + first &* imageSize, count: count, bias: bias)
        first &+= count
    }
}

/// dW += dy[n] · im2col(x[n])ᵀ summed over the batch, per group. `dW` must hold zeros (or a sum
/// to add to).
private func convolutionWeightGradient(
    _ g: ConvGeometry, x: UnsafePointer<Float>, dy: UnsafePointer<Float>, dW: UnsafeMutablePointer<Float>
) {
    let (area, rowsG, channelsG) = (g.outArea, g.groupColumnRows, g.groupOutChannels)
    let imageSize = g.imageChannels &* g.imageArea
    let outSize = g.outChannels &* area
    let chunk = g.chunk
    let buffer: UnsafeMutablePointer<Float>? = g.isPointwise ? nil : .allocate(capacity: chunk &* g.columnSize)
    defer { buffer?.deallocate() }
    var first = 0
    while first < g.batch {
        let count = Swift.min(chunk, g.batch &- first)
        if let buffer { im2col(g, image: x + first &* imageSize, columns: buffer, count: count) }
        for s in 0..<count {
            let n = first &+ s
            let columns: UnsafePointer<Float> = buffer.map { UnsafePointer($0 + s &* g.columnSize) } ?? x + n &* imageSize
            for group in 0..<g.groups {
                sgemm(
                    dy + n &* outSize + group &* channelsG &* area, MatrixOperand(transpose: asStored, leadingDimension: area),
                    columns + group &* rowsG &* area, MatrixOperand(transpose: transposed, leadingDimension: area),
                    dW + group &* channelsG &* rowsG, m: channelsG, n: rowsG, k: area, beta: 1)
            }
        }
        first &+= count
    }
}

/// Whether a convolution's weight gradient skips oneDNN for `thinWeightGradient`: filters over one
/// image channel (LeNet's and U-Net's first layers) or making one output channel (a segmentation
/// head). oneDNN 2.6's AVX2 backward-weights kernels vectorize over channels and run these at
/// 4–6 GFLOP/s per core (`ONEDNN_VERBOSE`): LeNet-5's first layer took 35% of the step's
/// oneDNN time, 3.0–3.4 ms per half batch against 0.9 ms for its forward. Only while one sample's
/// column matrix fits the column budget: every thread holds one.
func hasThinWeightGradient(_ g: ConvGeometry) -> Bool {
    g.groups == 1 && (g.imageChannels == 1 || g.outChannels == 1) && g.columnSize <= columnBudget
}

/// dW = Σ dy[n] · im2col(x[n])ᵀ (overwritten) for one group, split by batch like oneDNN's kernels: each of the
/// threads takes a contiguous block of samples, builds one sample's column matrix at a time (in
/// its cache) and accumulates into its own partial sum with single-threaded products; the
/// partials are then added to dW in block order, so the bits depend only on the thread count.
/// The products go to OpenBLAS whatever `MatmulPath` says: oneDNN's matmul ran U-Net's first
/// layer's 16×4096·4096×9 at 2 GFLOP/s (557 µs a sample), OpenBLAS at 31 (38 µs).
private func thinWeightGradient(
    _ g: ConvGeometry, x: UnsafePointer<Float>, dy: UnsafePointer<Float>, dW: UnsafeMutablePointer<Float>
) {
    let parts = Swift.min(Threads.count, g.batch)
    let weightCount = g.outChannels &* g.groupColumnRows
    dW.update(repeating: 0, count: weightCount)
    guard parts > 1 else {
        convolutionWeightGradient(g, x: x, dy: dy, dW: dW)
        return
    }
    let partials = UnsafeMutablePointer<Float>.allocate(capacity: (parts &- 1) &* weightCount)
    defer { partials.deallocate() }
    partials.update(repeating: 0, count: (parts &- 1) &* weightCount)
    let (imageSize, outSize) = (g.imageChannels &* g.imageArea, g.outChannels &* g.outArea)
    withSingleThreadedBLAS {
        parallelChunks(parts, threads: parts) { part in
            let (first, end) = (g.batch &* part / parts, g.batch &* (part &+ 1) / parts)
            let sum = part == 0 ? dW : partials + (part &- 1) &* weightCount
            let columns: UnsafeMutablePointer<Float>? = g.isPointwise ? nil : .allocate(capacity: g.columnSize)
            defer { columns?.deallocate() }
            for n in first..<end {
                if let columns { im2colRows(g, x + n &* imageSize, columns, 0, g.columnRows) }
                sgemm(
                    dy + n &* outSize, MatrixOperand(transpose: asStored, leadingDimension: g.outArea),
                    columns.map { UnsafePointer($0) } ?? x + n &* imageSize,
                    MatrixOperand(transpose: transposed, leadingDimension: g.outArea),
                    sum, m: g.outChannels, n: g.columnRows, k: g.outArea, beta: 1, threads: 1, path: .openBLAS)
            }
        }
    }
    addPartialSums(partials, stride: weightCount, count: parts &- 1, into: dW, length: weightCount)
}

/// Σ over batch and positions of a [batch, channels, area] gradient: the bias gradient.
private func channelSums(_ dy: UnsafePointer<Float>, batch: Int, channels: Int, area: Int) -> Tensor {
    let result = Tensor(uninitializedShape: [channels])
    channelSums(dy, batch: batch, channels: channels, area: area, into: result.pointer)
    return result
}

/// Writes Σ over batch and positions of each channel of a [batch, channels, area] tensor to out.
private func channelSums(
    _ dy: UnsafePointer<Float>, batch: Int, channels: Int, area: Int, into out: UnsafeMutablePointer<Float>
) {
    let grain = Swift.max(1, elementwiseGrain / Swift.max(1, batch &* area))
    parallelRanges(count: channels, grain: grain) { start, end in
        for c in start..<end {
            var total = 0.0
            for n in 0..<batch { total += sumContiguous(dy + (n &* channels &+ c) &* area, area) }
            out[c] = Float(total)
        }
    }
}

// MARK: Dispatch

// The three kernels on the path a convolution chose: oneDNN first when asked for, the reference
// kernel when oneDNN declines the geometry. A oneDNN session spans one forward or one backward
// pass, so the gradients of one backward share their reordered inputs.

/// Runs `body` with a oneDNN session when `path` is oneDNN and oneDNN is available, else with nil.
private func onPath<Result>(_ path: ConvolutionPath, _ body: (OneDNNSession?) -> Result) -> Result {
    path == .oneDNN ? OneDNNConvolution.withSession(body) : body(nil)
}

/// `convolutionForward`, when `session` is given as Winograd F(2×2, 3×3) where `Winograd.serves`
/// the geometry, else on oneDNN where it serves it.
private func forwardKernel(
    _ session: OneDNNSession?, _ g: ConvGeometry, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    bias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>
) {
    if session != nil, Winograd.serves(g) {
        return Winograd.convolve(g, adjoint: false, x, weight: weight, bias: bias, into: y)
    }
    if let session, OneDNNConvolution.forward(session, g, x: x, weight: weight, bias: bias, y: y) { return }
    convolutionForward(g, x: x, weight: weight, bias: bias, y: y)
}

/// `convolutionAdjoint`, when `session` is given as Winograd F(2×2, 3×3) where `Winograd.serves`
/// the geometry, else on oneDNN where it serves it.
private func adjointKernel(
    _ session: OneDNNSession?, _ g: ConvGeometry, y: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    bias: UnsafePointer<Float>?, x: UnsafeMutablePointer<Float>
) {
    if session != nil, Winograd.serves(g) {
        return Winograd.convolve(g, adjoint: true, y, weight: weight, bias: bias, into: x)
    }
    if let session, OneDNNConvolution.backwardData(session, g, y: y, weight: weight, bias: bias, x: x) { return }
    convolutionAdjoint(g, y: y, weight: weight, bias: bias, x: x)
}

/// The weight gradient into `dW` (overwritten, not accumulated), and when `dBias` is given the
/// sums of dy per output channel (oneDNN fuses them into the same pass); on oneDNN when
/// `session` is given and oneDNN serves the geometry, except Winograd's (`Winograd.serves`) and
/// thin ones (`hasThinWeightGradient`).
private func weightGradientKernel(
    _ session: OneDNNSession?, _ g: ConvGeometry, x: UnsafePointer<Float>, dy: UnsafePointer<Float>,
    dW: UnsafeMutablePointer<Float>, dBias: UnsafeMutablePointer<Float>?
) {
    if session != nil, Winograd.serves(g) {
        Winograd.weightGradient(g, x: x, dy: dy, into: dW)
    } else if session != nil, hasThinWeightGradient(g) {
        thinWeightGradient(g, x: x, dy: dy, dW: dW)
    } else if let session, OneDNNConvolution.backwardWeights(session, g, x: x, dy: dy, dW: dW, dBias: dBias) {
        return
    } else {
        dW.update(repeating: 0, count: g.outChannels &* g.groupColumnRows)
        convolutionWeightGradient(g, x: x, dy: dy, dW: dW)
    }
    if let dBias { channelSums(dy, batch: g.batch, channels: g.outChannels, area: g.outArea, into: dBias) }
}

// MARK: Argument checks

/// Stops naming `op` unless stride, padding, dilation and groups are in range.
private func checkConvArguments(
    _ op: String, stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int), groups: Int
) {
    check(stride.0 >= 1 && stride.1 >= 1, "\(op): stride must be positive, got \(stride)")
    check(padding.0 >= 0 && padding.1 >= 0, "\(op): padding must be non-negative, got \(padding)")
    check(dilation.0 >= 1 && dilation.1 >= 1, "\(op): dilation must be positive, got \(dilation)")
    check(groups >= 1, "\(op): groups must be positive, got \(groups)")
}

/// The output length of a convolution along one axis; stops naming `op` when the dilated kernel
/// does not fit into the padded input.
private func convOutputLength(
    _ op: String, input: Int, kernel: Int, stride: Int, padding: Int, dilation: Int,
    inputShape: [Int], weightShape: [Int]
) -> Int {
    let span = dilation * (kernel - 1) + 1
    check(
        input + 2 * padding >= span,
        "\(op): kernel of extent \(span) (weight \(weightShape), dilation \(dilation)) is larger than the padded input (\(input) + 2·\(padding)) of input \(inputShape)")
    return (input + 2 * padding - span) / stride + 1
}

/// Stops naming `op` unless `bias` is nil or a vector of `channels` values.
private func checkBias(_ op: String, _ bias: Tensor?, channels: Int, weightShape: [Int]) {
    guard let bias else { return }
    check(
        bias.shape == [channels],
        "\(op): bias of shape \(bias.shape) does not match the \(channels) output channels of weight \(weightShape)")
}

// MARK: conv2d

/// 2-D convolution (cross-correlation, as in PyTorch's `F.conv2d`).
///
/// - Parameters:
///   - input: (N, Cin, H, W), or (Cin, H, W) for one unbatched sample.
///   - weight: (Cout, Cin / groups, kH, kW).
///   - bias: (Cout), added to every output position of its channel.
///   - stride, padding, dilation: (height, width); padding adds zeros on both sides.
///   - groups: splits input and output channels into this many independent convolutions
///     (groups = Cin gives a depthwise convolution).
/// - Returns: (N, Cout, Hout, Wout) with Hout = ⌊(H + 2·padding - dilation·(kH - 1) - 1) / stride⌋ + 1.
public func conv2d(
    _ input: Tensor, weight: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1),
    padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1
) -> Tensor {
    if input.rank == 3 {
        return conv2d(
            input.unsqueezed(axis: 0), weight: weight, bias: bias, stride: stride, padding: padding,
            dilation: dilation, groups: groups
        ).squeezed(axis: 0)
    }
    let op = "conv2d"
    check(input.rank == 4, "\(op): input must be (N, C, H, W) or (C, H, W), got shape \(input.shape)")
    check(weight.rank == 4, "\(op): weight must be (Cout, Cin/groups, kH, kW), got shape \(weight.shape)")
    checkConvArguments(op, stride: stride, padding: padding, dilation: dilation, groups: groups)
    let (batch, channels, height, width) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
    let (outChannels, groupChannels, kernelH, kernelW) = (weight.shape[0], weight.shape[1], weight.shape[2], weight.shape[3])
    check(
        groupChannels >= 1 && kernelH >= 1 && kernelW >= 1 && outChannels >= 1,
        "\(op): weight \(weight.shape) has an empty dimension")
    check(
        outChannels % groups == 0,
        "\(op): the \(outChannels) output channels of weight \(weight.shape) are not divisible by groups \(groups)")
    check(
        groupChannels * groups == channels,
        "\(op): weight \(weight.shape) with groups \(groups) expects \(groupChannels * groups) input channels, but input \(input.shape) has \(channels)")
    checkBias(op, bias, channels: outChannels, weightShape: weight.shape)
    let outH = convOutputLength(
        op, input: height, kernel: kernelH, stride: stride.0, padding: padding.0, dilation: dilation.0,
        inputShape: input.shape, weightShape: weight.shape)
    let outW = convOutputLength(
        op, input: width, kernel: kernelW, stride: stride.1, padding: padding.1, dilation: dilation.1,
        inputShape: input.shape, weightShape: weight.shape)
    let geometry = ConvGeometry(
        batch: batch, imageChannels: channels, height: height, width: width,
        outChannels: outChannels, outH: outH, outW: outW, groups: groups,
        kernelH: kernelH, kernelW: kernelW, strideH: stride.0, strideW: stride.1,
        padH: padding.0, padW: padding.1, dilationH: dilation.0, dilationW: dilation.1)

    let x = input.contiguousValues()
    defer { withExtendedLifetime(x) {} }
    let w = weight.contiguousValues()
    defer { withExtendedLifetime(w) {} }
    let b = bias?.contiguousValues()
    defer { withExtendedLifetime(b) {} }
    let path = ConvolutionPath.current
    let result = Tensor(uninitializedShape: [batch, outChannels, outH, outW])
    onPath(path) { session in
        forwardKernel(session, geometry, x: x.pointer, weight: w.pointer, bias: b?.pointer, y: result.pointer)
    }

    let inputs = bias.map { [input, weight, $0] } ?? [input, weight]
    return record(result, op, inputs) { gradient in
        let dy = gradient.contiguousValues()
        defer { withExtendedLifetime(dy) {} }
        var grads: [Tensor?] = [nil, nil]
        let biasGrad = bias?.requiresGrad == true ? Tensor(uninitializedShape: [outChannels]) : nil
        onPath(path) { session in
            if input.requiresGrad {
                let dx = Tensor(uninitializedShape: x.shape)
                adjointKernel(session, geometry, y: dy.pointer, weight: w.pointer, bias: nil, x: dx.pointer)
                grads[0] = dx
            }
            if weight.requiresGrad {
                let dW = Tensor(uninitializedShape: w.shape)
                weightGradientKernel(
                    session, geometry, x: x.pointer, dy: dy.pointer, dW: dW.pointer, dBias: biasGrad?.pointer)
                grads[1] = dW
            } else if let biasGrad {
                channelSums(dy.pointer, batch: batch, channels: outChannels, area: outH * outW, into: biasGrad.pointer)
            }
        }
        if bias != nil { grads.append(biasGrad) }
        return grads
    }
}

/// 2-D convolution with the same stride, padding and dilation along height and width.
// Disfavored so that a call leaving all three out picks the tuple version instead of being ambiguous.
@_disfavoredOverload
public func conv2d(
    _ input: Tensor, weight: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: Int = 0,
    dilation: Int = 1, groups: Int = 1
) -> Tensor {
    conv2d(
        input, weight: weight, bias: bias, stride: (stride, stride), padding: (padding, padding),
        dilation: (dilation, dilation), groups: groups)
}

// MARK: conv1d

/// 1-D convolution (PyTorch's `F.conv1d`), computed as a 2-D convolution of height 1.
///
/// - Parameters:
///   - input: (N, Cin, L), or (Cin, L) for one unbatched sample.
///   - weight: (Cout, Cin / groups, k).
///   - bias: (Cout).
/// - Returns: (N, Cout, Lout) with Lout = ⌊(L + 2·padding - dilation·(k - 1) - 1) / stride⌋ + 1.
public func conv1d(
    _ input: Tensor, weight: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: Int = 0,
    dilation: Int = 1, groups: Int = 1
) -> Tensor {
    if input.rank == 2 {
        return conv1d(
            input.unsqueezed(axis: 0), weight: weight, bias: bias, stride: stride, padding: padding,
            dilation: dilation, groups: groups
        ).squeezed(axis: 0)
    }
    let op = "conv1d"
    check(input.rank == 3, "\(op): input must be (N, C, L) or (C, L), got shape \(input.shape)")
    check(weight.rank == 3, "\(op): weight must be (Cout, Cin/groups, k), got shape \(weight.shape)")
    checkConvArguments(op, stride: (1, stride), padding: (0, padding), dilation: (1, dilation), groups: groups)
    check(
        weight.shape[0] % groups == 0 && weight.shape[1] * groups == input.shape[1],
        "\(op): weight \(weight.shape) with groups \(groups) does not fit input \(input.shape)")
    checkBias(op, bias, channels: weight.shape[0], weightShape: weight.shape)
    _ = convOutputLength(
        op, input: input.shape[2], kernel: weight.shape[2], stride: stride, padding: padding, dilation: dilation,
        inputShape: input.shape, weightShape: weight.shape)
    return conv2d(
        input.unsqueezed(axis: 2), weight: weight.unsqueezed(axis: 2), bias: bias, stride: (1, stride),
        padding: (0, padding), dilation: (1, dilation), groups: groups
    ).squeezed(axis: 2)
}

// MARK: convTranspose2d

/// 2-D transposed convolution (PyTorch's `F.conv_transpose2d`): the gradient of `conv2d` with
/// respect to its input, used to upsample learned features.
///
/// - Parameters:
///   - input: (N, Cin, H, W), or (Cin, H, W) for one unbatched sample.
///   - weight: (Cin, Cout / groups, kH, kW) (note: input channels first, as in PyTorch).
///   - bias: (Cout).
///   - padding: rows/columns trimmed from each side of the full transposed convolution (the
///     same number as the matching `conv2d` pads), as in PyTorch.
///   - outputPadding: extra rows/columns added on one side of the output to pick among the
///     sizes that stride the same way; each must be smaller than the stride or the dilation.
/// - Returns: (N, Cout, Hout, Wout) with
///   Hout = (H - 1)·stride - 2·padding + dilation·(kH - 1) + outputPadding + 1.
public func convTranspose2d(
    _ input: Tensor, weight: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1),
    padding: (Int, Int) = (0, 0), outputPadding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1),
    groups: Int = 1
) -> Tensor {
    if input.rank == 3 {
        return convTranspose2d(
            input.unsqueezed(axis: 0), weight: weight, bias: bias, stride: stride, padding: padding,
            outputPadding: outputPadding, dilation: dilation, groups: groups
        ).squeezed(axis: 0)
    }
    let op = "convTranspose2d"
    check(input.rank == 4, "\(op): input must be (N, C, H, W) or (C, H, W), got shape \(input.shape)")
    check(weight.rank == 4, "\(op): weight must be (Cin, Cout/groups, kH, kW), got shape \(weight.shape)")
    checkConvArguments(op, stride: stride, padding: padding, dilation: dilation, groups: groups)
    check(
        outputPadding.0 >= 0 && outputPadding.1 >= 0
            && (outputPadding.0 < stride.0 || outputPadding.0 < dilation.0)
            && (outputPadding.1 < stride.1 || outputPadding.1 < dilation.1),
        "\(op): outputPadding \(outputPadding) must be non-negative and smaller than either stride \(stride) or dilation \(dilation)")
    let (batch, channels, height, width) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
    let (weightIn, groupOut, kernelH, kernelW) = (weight.shape[0], weight.shape[1], weight.shape[2], weight.shape[3])
    check(
        groupOut >= 1 && kernelH >= 1 && kernelW >= 1,
        "\(op): weight \(weight.shape) has an empty dimension")
    check(
        weightIn == channels,
        "\(op): weight \(weight.shape) expects \(weightIn) input channels, but input \(input.shape) has \(channels)")
    check(
        channels % groups == 0 && channels >= 1,
        "\(op): the \(channels) input channels of input \(input.shape) are not divisible by groups \(groups)")
    let outChannels = groupOut * groups
    checkBias(op, bias, channels: outChannels, weightShape: weight.shape)
    let outH = (height - 1) * stride.0 - 2 * padding.0 + dilation.0 * (kernelH - 1) + outputPadding.0 + 1
    let outW = (width - 1) * stride.1 - 2 * padding.1 + dilation.1 * (kernelW - 1) + outputPadding.1 + 1
    check(
        outH >= 1 && outW >= 1,
        "\(op): input \(input.shape) with weight \(weight.shape), stride \(stride), padding \(padding) gives an empty output (\(outH)×\(outW))")
    // The convolution whose input gradient this is: its image is our output, its output our input.
    let geometry = ConvGeometry(
        batch: batch, imageChannels: outChannels, height: outH, width: outW,
        outChannels: channels, outH: height, outW: width, groups: groups,
        kernelH: kernelH, kernelW: kernelW, strideH: stride.0, strideW: stride.1,
        padH: padding.0, padW: padding.1, dilationH: dilation.0, dilationW: dilation.1)

    let x = input.contiguousValues()
    defer { withExtendedLifetime(x) {} }
    let w = weight.contiguousValues()
    defer { withExtendedLifetime(w) {} }
    let b = bias?.contiguousValues()
    defer { withExtendedLifetime(b) {} }
    let path = ConvolutionPath.current
    let result = Tensor(uninitializedShape: [batch, outChannels, outH, outW])
    onPath(path) { session in
        adjointKernel(session, geometry, y: x.pointer, weight: w.pointer, bias: b?.pointer, x: result.pointer)
    }

    let inputs = bias.map { [input, weight, $0] } ?? [input, weight]
    return record(result, op, inputs) { gradient in
        let dy = gradient.contiguousValues()
        defer { withExtendedLifetime(dy) {} }
        var grads: [Tensor?] = [nil, nil]
        onPath(path) { session in
            if input.requiresGrad {
                let dx = Tensor(uninitializedShape: x.shape)
                forwardKernel(session, geometry, x: dy.pointer, weight: w.pointer, bias: nil, y: dx.pointer)
                grads[0] = dx
            }
            if weight.requiresGrad {
                // The bias of a transposed convolution sits on the image side, which the fused
                // backward-weights bias (per output channel of the convolution) does not cover.
                let dW = Tensor(uninitializedShape: w.shape)
                weightGradientKernel(session, geometry, x: dy.pointer, dy: x.pointer, dW: dW.pointer, dBias: nil)
                grads[1] = dW
            }
        }
        if let bias {
            grads.append(
                bias.requiresGrad
                    ? channelSums(dy.pointer, batch: batch, channels: outChannels, area: outH * outW) : nil)
        }
        return grads
    }
}

/// 2-D transposed convolution with the same stride, padding, output padding and dilation along
/// height and width.
// Disfavored so that a call leaving them all out picks the tuple version instead of being ambiguous.
@_disfavoredOverload
public func convTranspose2d(
    _ input: Tensor, weight: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: Int = 0,
    outputPadding: Int = 0, dilation: Int = 1, groups: Int = 1
) -> Tensor {
    convTranspose2d(
        input, weight: weight, bias: bias, stride: (stride, stride), padding: (padding, padding),
        outputPadding: (outputPadding, outputPadding), dilation: (dilation, dilation), groups: groups)
}

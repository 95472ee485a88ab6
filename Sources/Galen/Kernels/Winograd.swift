import Foundation

// Winograd F(2×2, 3×3) for the 3×3, stride-1, padding-1 convolutions that dominate ResNets and
// U-Nets: each 2×2 block of outputs comes from a 4×4 block of inputs with 16 multiplies per
// input/output channel pair instead of 36. The transforms are Galen's own loops; the multiplies are
// 16 matrix products per block of tiles, through `gemm` on the process's `MatmulPath` (oneDNN's
// matmul by default: these products have a side of about 128 tiles, where it beats OpenBLAS):
//
//   U[ξ] = (G g Gᵀ)[ξ]      the filters, K × C for each of the 16 positions ξ of a 4×4 tile
//   V[ξ] = (Bᵀ d B)[ξ]      the input tiles, C × P (P tiles side by side)
//   M[ξ] = U[ξ] · V[ξ]      K × P
//   y    = Aᵀ M A           each tile's 2×2 outputs
//
// with Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1], G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1] and
// Aᵀ = [1 1 1 0; 0 1 −1 −1]. The input gradient of such a layer is the same convolution of the
// output gradient with the filters turned by 180° and input and output channels swapped, so one
// kernel serves the forward and backward-data passes; the weight gradient runs the transforms
// backwards (`weightGradient`). The rounding differs from a direct convolution's by a few units
// in the last place of the larger terms (the transforms add and subtract neighbouring inputs
// before the products).
//
// All three passes skip oneDNN's convolutions for these layers, and with them the reorders into
// and out of their blocked layouts (what that gained is at `serves`).
//
// The products went to OpenBLAS until 2026-11-29. On AMD Zen 5 (AVX-512), ResNet-18 (28) training
// ran at 109–111 samples/s with them there and OPENBLAS_CORETYPE=Haswell (as the machine's
// environment set it), 154–156 with its SkylakeX kernels; through oneDNN 155–161 and 162. With
// oneDNN held to AVX2 (ONEDNN_MAX_CPU_ISA=AVX2, Haswell kernels) 101–102 against 102–108.

enum Winograd {
    /// Tile rows whose transforms one block holds: about 128 tiles, so that a block's V and M (16
    /// planes each) stay in the thread's cache between the transforms and the products.
    static let blockTiles = 128

    /// Whether the Winograd passes serve a geometry on `threads` threads: 3×3, stride 1, padding 1,
    /// no dilation, ungrouped, at least 4×4, at least 32 input and output channels, and at least
    /// `minimumTilesPerThread` tiles for each thread. An odd size computes a last row or column
    /// of tiles half in the padding and keeps what lies inside.
    ///
    /// Alternating both paths step by step inside one training run (so that the neighbours' load
    /// hits both alike): ResNet-18 (28)'s steps took 0.78 and 0.75 of the oneDNN steps' time with
    /// its 7×7 and 4×4 stages served, 0.84 and 0.83 without them. Per layer on the U-Net, the
    /// 16-channel ones ran 2–31% slower than on oneDNN in the forward and backward-data passes,
    /// and the 4×4 ones (32 tiles for each thread) 19–30% slower in the backward-data pass.
    static func serves(_ g: ConvGeometry, threads: Int = Threads.count) -> Bool {
        let tiles = ((g.height &+ 1) / 2) &* ((g.width &+ 1) / 2) &* g.batch
        return g.groups == 1 && g.kernelH == 3 && g.kernelW == 3 && g.strideH == 1 && g.strideW == 1
            && g.padH == 1 && g.padW == 1 && g.dilationH == 1 && g.dilationW == 1 && g.height >= 4 && g.width >= 4
            && g.imageChannels >= 32 && g.outChannels >= 32 && tiles >= minimumTilesPerThread &* Swift.max(1, threads)
    }

    /// Below this many tiles for a thread the 16 products are too narrow to pay for the transforms
    /// (measured when the products ran on OpenBLAS).
    static let minimumTilesPerThread = 128

    /// The transformed filters U, 16 planes of `outputs` × `inputs`, from OIHW weights
    /// [outChannels, imageChannels, 3, 3]. For the backward-data pass (`flipped`) the roles swap:
    /// the planes are imageChannels × outChannels and hold the filters turned by 180°.
    private static func transformFilters(
        _ weight: UnsafePointer<Float>, outChannels: Int, imageChannels: Int, flipped: Bool
    ) -> UnsafeMutablePointer<Float> {
        let (outputs, inputs) = flipped ? (imageChannels, outChannels) : (outChannels, imageChannels)
        let plane = outputs &* inputs
        let u = UnsafeMutablePointer<Float>.allocate(capacity: 16 &* plane)
        // Row by row of the planes, so that the 16 planes are written in order (the flipped
        // filters read the weights with a stride instead).
        parallelRanges(count: outputs, grain: Swift.max(1, 4096 / Swift.max(1, inputs))) { start, end in
            for row in start..<end {
                for column in 0..<inputs {
                    let (k, c) = flipped ? (column, row) : (row, column)
                    let w = weight + (k &* imageChannels &+ c) &* 9
                    func filterRow(_ i: Int) -> SIMD4<Float> {
                        flipped
                            ? SIMD4(w[8 &- 3 &* i], w[7 &- 3 &* i], w[6 &- 3 &* i], 0)
                            : SIMD4(w[3 &* i], w[3 &* i &+ 1], w[3 &* i &+ 2], 0)
                    }
                    // t = G g (4 × 3, lane 3 unused), then each row of t times Gᵀ.
                    let (g0, g1, g2) = (filterRow(0), filterRow(1), filterRow(2))
                    let t = (g0, 0.5 * (g0 + g1 + g2), 0.5 * (g0 - g1 + g2), g2)
                    let index = row &* inputs &+ column
                    @inline(__always)
                    func emit(_ i: Int, _ r: SIMD4<Float>) {
                        let (a, b, e) = (r[0], r[1], r[2])
                        u[(i &* 4) &* plane &+ index] = a
                        u[(i &* 4 &+ 1) &* plane &+ index] = 0.5 * (a + b + e)
                        u[(i &* 4 &+ 2) &* plane &+ index] = 0.5 * (a - b + e)
                        u[(i &* 4 &+ 3) &* plane &+ index] = e
                    }
                    emit(0, t.0)
                    emit(1, t.1)
                    emit(2, t.2)
                    emit(3, t.3)
                }
            }
        }
        return u
    }

    /// A layer's forward pass, y = conv(x, w) + bias, or with `adjoint` its backward-data pass,
    /// dx = convᵀ(dy, w) + bias: the same convolution of `source` with the filters turned by 180°
    /// and the channels swapped. `source` and `target` are NCHW; `weight` is OIHW.
    static func convolve(
        _ g: ConvGeometry, adjoint: Bool, _ source: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        bias: UnsafePointer<Float>?, into target: UnsafeMutablePointer<Float>
    ) {
        let (inputs, outputs) = adjoint ? (g.outChannels, g.imageChannels) : (g.imageChannels, g.outChannels)
        let u = transformFilters(weight, outChannels: g.outChannels, imageChannels: g.imageChannels, flipped: adjoint)
        defer { u.deallocate() }
        let path = MatmulPath.current  // a task-local, read here: the blocks run on Galen's threads
        forEachBlock(g, inputs: inputs, outputs: outputs, source) { block, v, m, strips in
            // M[ξ] = U[ξ] · V[ξ], then each tile's outputs.
            for xi in 0..<16 {
                gemm(
                    false, false, m: outputs, n: block.tiles, k: inputs, alpha: 1,
                    u + xi &* outputs &* inputs, inputs, v + xi &* inputs &* block.stride, block.stride,
                    beta: 0, m + xi &* outputs &* block.stride, block.stride, threads: 1, path: path)
            }
            transformOutput(
                m, channels: outputs, height: g.height, width: g.width, block: block, strips: strips, bias: bias,
                into: target)
        }
    }

    /// dW (overwritten; OIHW) = Σ over the batch of the correlation of x with dy: the weight
    /// gradient of `convolve`'s forward pass. Through the transforms: dU[ξ] = Σ over tiles of
    /// dM[ξ] · V[ξ]ᵀ, with V the input tiles as in the forward pass and dM = A dy Aᵀ each output
    /// tile's gradient spread to 4×4, then dW = Gᵀ dU G. Each thread sums its own dU; the parts are
    /// added in part order, so the bits depend only on the thread count.
    static func weightGradient(
        _ g: ConvGeometry, x: UnsafePointer<Float>, dy: UnsafePointer<Float>, into dW: UnsafeMutablePointer<Float>
    ) {
        let (inputs, outputs) = (g.imageChannels, g.outChannels)
        let parts = Swift.min(Threads.count, g.batch)
        let plane = outputs &* inputs
        // From the buffer cache: the 512-channel layers' sums (33.5 MB on two threads) are above
        // malloc's largest mmap threshold, and fresh pages cleared by the kernel on every call were
        // 1% of ResNet-18 (28)'s step.
        let sumsBytes = parts &* 16 &* plane &* MemoryLayout<Float>.stride
        let sums = allocateAligned(sumsBytes).bindMemory(to: Float.self, capacity: parts &* 16 &* plane)
        defer { deallocateAligned(UnsafeMutableRawPointer(sums), bytes: sumsBytes) }
        let path = MatmulPath.current
        forEachBlock(g, inputs: inputs, outputs: outputs, x) { block, v, dm, strips in
            transformGradient(
                dy, channels: outputs, height: g.height, width: g.width, block: block, strips: strips, into: dm)
            let sum = sums + block.part &* 16 &* plane
            for xi in 0..<16 {
                gemm(
                    false, true, m: outputs, n: inputs, k: block.tiles, alpha: 1,
                    dm + xi &* outputs &* block.stride, block.stride, v + xi &* inputs &* block.stride,
                    block.stride, beta: block.isFirst ? 0 : 1, sum + xi &* plane, inputs, threads: 1,
                    path: path)
            }
        }
        addPartialSums(sums + 16 &* plane, stride: 16 &* plane, count: parts &- 1, into: sums, length: 16 &* plane)
        // dW = Gᵀ dU G for every filter.
        parallelRanges(count: outputs, grain: Swift.max(1, 4096 / Swift.max(1, inputs))) { start, end in
            for k in start..<end {
                for c in 0..<inputs {
                    let index = k &* inputs &+ c
                    func tileRow(_ i: Int) -> SIMD4<Float> {
                        SIMD4(
                            sums[(4 &* i) &* plane &+ index], sums[(4 &* i &+ 1) &* plane &+ index],
                            sums[(4 &* i &+ 2) &* plane &+ index], sums[(4 &* i &+ 3) &* plane &+ index])
                    }
                    let (d0, d1, d2, d3) = (tileRow(0), tileRow(1), tileRow(2), tileRow(3))
                    // Gᵀ D (3 × 4), then each row times G.
                    let e0: SIMD4<Float> = d0 + 0.5 * (d1 + d2)
                    let e1: SIMD4<Float> = 0.5 * (d1 - d2)
                    let e2: SIMD4<Float> = 0.5 * (d1 + d2) + d3
                    let w = dW + index &* 9
                    @inline(__always)
                    func emit(_ i: Int, _ e: SIMD4<Float>) {
                        w[3 &* i] = e[0] + 0.5 * (e[1] + e[2])
                        w[3 &* i &+ 1] = 0.5 * (e[1] - e[2])
                        w[3 &* i &+ 2] = 0.5 * (e[1] + e[2]) + e[3]
                    }
                    emit(0, e0)
                    emit(1, e1)
                    emit(2, e2)
                }
            }
        }
    }

    /// A block of consecutive tile rows of one batch part, about `blockTiles` tiles, whose
    /// transformed tiles sit side by side: tile row r of the block, tile tx, channel c at
    /// `c · stride + r · tilesW + tx` of each of the 16 planes. The transforms treat the block's
    /// tiles as one row (tile t = r · tilesW + tx), eight to a SIMD vector whatever the image's
    /// width, so that 4×4 and 7×7 images (two and four tiles to a row) fill the lanes too.
    private struct Block {
        let part: Int
        let firstSample: Int
        let firstRow: Int
        let rows: Int
        let tilesH: Int
        let tilesW: Int
        /// Whether this is the part's first block.
        var isFirst: Bool { firstRow == 0 }
        var tiles: Int { rows &* tilesW }
        /// Each channel's tiles are followed by 8 spare lanes: the last group of eight tiles is
        /// transformed and stored whole, and its extra lanes land there.
        var stride: Int { tiles &+ 8 }
        /// The sample (in the whole batch) and tile row of the block's row r.
        func position(_ r: Int) -> (sample: Int, ty: Int) {
            let row = firstRow &+ r
            return (firstSample &+ row / tilesH, row % tilesH)
        }
    }

    /// A part's scratch rows for the transforms: four strips, each the block's image rows laid end
    /// to end, one tile row after another (2 · tilesW columns each, an odd width's last one zero).
    /// Tile t's columns 2tx − 1 ... 2tx + 2 are then strip columns 2t − 1 ... 2t + 2, with the
    /// strip's column c at `strip[c + 1]`; the columns that belong to the neighbouring tile row
    /// (the padding of the image) are zeroed by the masks.
    private struct Strips {
        let base: UnsafeMutablePointer<Float>
        let length: Int
        /// All ones for tiles with a left neighbour in their row, else 0 (tile t at `left[t]`): bit
        /// masks rather than factors, so that a neighbouring row's infinity does not leak in as NaN.
        let left: UnsafeMutablePointer<UInt32>
        /// All ones for tiles with a right neighbour in their row, else 0.
        let right: UnsafeMutablePointer<UInt32>

        init(capacityTiles: Int, tilesW: Int) {
            // Loads reach 16 columns past a group's first tile and the spare lanes 8 tiles on.
            length = 2 &* (capacityTiles &+ 8) &+ 32
            base = .allocate(capacity: 4 &* length)
            base.initialize(repeating: 0, count: 4 &* length)
            left = .allocate(capacity: capacityTiles &+ 8)
            right = .allocate(capacity: capacityTiles &+ 8)
            for t in 0..<(capacityTiles &+ 8) {
                left[t] = t % tilesW == 0 ? 0 : ~0
                right[t] = t % tilesW == tilesW &- 1 ? 0 : ~0
            }
        }

        func deallocate() {
            base.deallocate()
            left.deallocate()
            right.deallocate()
        }

        /// Strip i; its column c (c ≥ −1) at index c + 1.
        func strip(_ i: Int) -> UnsafeMutablePointer<Float> { base + i &* length }

        /// Fills strips 0 ..< `count` for channel `channel` of `image` (NCHW, the whole batch):
        /// strip i holds image row 2ty + `firstRow` + i of each tile row ty of the block, end to
        /// end (zeros for a row in the padding).
        @inline(__always)
        func gather(
            _ count: Int, firstRow: Int, of image: UnsafePointer<Float>, channel: Int, channels: Int, height: Int,
            width: Int, block: Block
        ) {
            let segment = 2 &* block.tilesW
            for i in 0..<count {
                let target = strip(i) + 1
                for r in 0..<block.rows {
                    let (sample, ty) = block.position(r)
                    let ih = 2 &* ty &+ firstRow &+ i
                    let out = target + r &* segment
                    // Element loops rather than memmove and memset: rows are a few dozen floats,
                    // and the calls cost more than the copies (3% of ResNet-18 (28)'s cycles).
                    if ih >= 0 && ih < height {
                        let source = image + ((sample &* channels &+ channel) &* height &+ ih) &* width
                        for j in 0..<width { out[j] = source[j] }
                    } else {
                        for j in 0..<width { out[j] = 0 }
                    }
                    if segment > width { out[width] = 0 }
                }
            }
        }
    }

    /// Splits the batch across Galen's threads (single-threaded OpenBLAS inside) and, for each
    /// block of tile rows of a part, transforms `source`'s input tiles (`inputs` channels) into V
    /// and calls `body(block, V, W, strips)`, with W room for the block's `outputs`-channel planes
    /// and the strips free for the body's own transforms.
    private static func forEachBlock(
        _ g: ConvGeometry, inputs: Int, outputs: Int, _ source: UnsafePointer<Float>,
        _ body: (Block, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, Strips) -> Void
    ) {
        let parts = Swift.min(Threads.count, g.batch)
        let (tilesH, tilesW) = ((g.height &+ 1) / 2, (g.width &+ 1) / 2)
        let rowsPerBlock = Swift.max(1, blockTiles / tilesW)
        let capacity = rowsPerBlock &* tilesW &+ 8
        withSingleThreadedBLAS {
            parallelChunks(parts, threads: parts) { part in
                let (first, end) = (g.batch &* part / parts, g.batch &* (part &+ 1) / parts)
                let v = UnsafeMutablePointer<Float>.allocate(capacity: 16 &* inputs &* capacity)
                let w = UnsafeMutablePointer<Float>.allocate(capacity: 16 &* outputs &* capacity)
                let strips = Strips(capacityTiles: capacity, tilesW: tilesW)
                defer {
                    v.deallocate()
                    w.deallocate()
                    strips.deallocate()
                }
                let totalRows = (end &- first) &* tilesH
                var row = 0
                while row < totalRows {
                    let block = Block(
                        part: part, firstSample: first, firstRow: row, rows: Swift.min(rowsPerBlock, totalRows &- row),
                        tilesH: tilesH, tilesW: tilesW)
                    transformInput(
                        source, channels: inputs, height: g.height, width: g.width, block: block, strips: strips,
                        into: v)
                    body(block, v, w, strips)
                    row &+= block.rows
                }
            }
        }
    }

    /// Bᵀ d B for every tile of the block and every channel: tile t of channel c goes to
    /// `v[ξ · channels · stride + c · stride + t]`. Per channel, the four input rows of each tile
    /// row are gathered into the strips; then eight tiles at a time, one per SIMD lane, each
    /// lane's four columns 2t − 1 ... 2t + 2 the even and odd halves of two loads.
    private static func transformInput(
        _ source: UnsafePointer<Float>, channels: Int, height: Int, width: Int, block: Block, strips: Strips,
        into v: UnsafeMutablePointer<Float>
    ) {
        let (planeStride, channelStride) = (channels &* block.stride, block.stride)
        for c in 0..<channels {
            strips.gather(
                4, firstRow: -1, of: source, channel: c, channels: channels, height: height, width: width, block: block)
            let out = v + c &* channelStride
            var t = 0
            while t < block.tiles {
                let leftMask = UnsafeRawPointer(strips.left + t).loadUnaligned(as: SIMD8<UInt32>.self)
                let rightMask = UnsafeRawPointer(strips.right + t).loadUnaligned(as: SIMD8<UInt32>.self)
                // Lane l is tile t + l; a...d are its columns; a tile at the start of its row has
                // the image's left padding for a, one at the end its right padding for d.
                @inline(__always)
                func columns(_ i: Int) -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>) {
                    let row = UnsafeRawPointer(strips.strip(i) + 2 &* t)
                    let low = row.loadUnaligned(as: SIMD16<Float>.self)
                    let high = (row + 2 &* MemoryLayout<Float>.stride).loadUnaligned(as: SIMD16<Float>.self)
                    let a = unsafeBitCast(unsafeBitCast(low.evenHalf, to: SIMD8<UInt32>.self) & leftMask, to: SIMD8<Float>.self)
                    let b: SIMD8<Float> = low.oddHalf
                    let c: SIMD8<Float> = high.evenHalf
                    let d = unsafeBitCast(unsafeBitCast(high.oddHalf, to: SIMD8<UInt32>.self) & rightMask, to: SIMD8<Float>.self)
                    // · B: combine the columns.
                    return (a - c, b + c, c - b, b - d)
                }
                let (t0, t1, t2, t3) = (columns(0), columns(1), columns(2), columns(3))
                // Bᵀ ·: combine the rows; row i, column j goes to plane 4i + j.
                @inline(__always)
                func store(_ xi: Int, _ value: SIMD8<Float>) {
                    UnsafeMutableRawPointer(out + (xi &* planeStride &+ t)).storeBytes(of: value, as: SIMD8<Float>.self)
                }
                store(0, t0.0 - t2.0); store(1, t0.1 - t2.1); store(2, t0.2 - t2.2); store(3, t0.3 - t2.3)
                store(4, t1.0 + t2.0); store(5, t1.1 + t2.1); store(6, t1.2 + t2.2); store(7, t1.3 + t2.3)
                store(8, t2.0 - t1.0); store(9, t2.1 - t1.1); store(10, t2.2 - t1.2); store(11, t2.3 - t1.3)
                store(12, t1.0 - t3.0); store(13, t1.1 - t3.1); store(14, t1.2 - t3.2); store(15, t1.3 - t3.3)
                t &+= 8
            }
        }
    }

    /// A dy Aᵀ for every output tile of the block and every channel of the gradient `dy`: tile t
    /// of channel k goes to `dm[ξ · channels · stride + k · stride + t]`. Per channel, the two
    /// rows of each tile row are gathered into strips 0 and 1 (an odd height's missing last row
    /// and an odd width's missing last column as zeros); then eight tiles at a time.
    private static func transformGradient(
        _ dy: UnsafePointer<Float>, channels: Int, height: Int, width: Int, block: Block, strips: Strips,
        into dm: UnsafeMutablePointer<Float>
    ) {
        let (planeStride, channelStride) = (channels &* block.stride, block.stride)
        for k in 0..<channels {
            strips.gather(
                2, firstRow: 0, of: dy, channel: k, channels: channels, height: height, width: width, block: block)
            let (top, bottom) = (strips.strip(0) + 1, strips.strip(1) + 1)
            let out = dm + k &* channelStride
            var t = 0
            while t < block.tiles {
                // Columns 2t and 2t + 1 of a strip: the even and odd halves of one load.
                let upper = UnsafeRawPointer(top + 2 &* t).loadUnaligned(as: SIMD16<Float>.self)
                let lower = UnsafeRawPointer(bottom + 2 &* t).loadUnaligned(as: SIMD16<Float>.self)
                let (a0, a1, b0, b1) = (upper.evenHalf, upper.oddHalf, lower.evenHalf, lower.oddHalf)
                // A ·: rows a, a + b, a − b, −b; then · Aᵀ: columns p, p + q, p − q, −q.
                @inline(__always)
                func store(_ i: Int, _ p: SIMD8<Float>, _ q: SIMD8<Float>) {
                    let base = out + (4 &* i &* planeStride &+ t)
                    UnsafeMutableRawPointer(base).storeBytes(of: p, as: SIMD8<Float>.self)
                    UnsafeMutableRawPointer(base + planeStride).storeBytes(of: p + q, as: SIMD8<Float>.self)
                    UnsafeMutableRawPointer(base + 2 &* planeStride).storeBytes(of: p - q, as: SIMD8<Float>.self)
                    UnsafeMutableRawPointer(base + 3 &* planeStride).storeBytes(of: -q, as: SIMD8<Float>.self)
                }
                store(0, a0, a1)
                store(1, a0 + b0, a1 + b1)
                store(2, a0 - b0, a1 - b1)
                store(3, -b0, -b1)
                t &+= 8
            }
        }
    }

    /// Aᵀ m A (+ bias) for every tile of the block and every output channel, into `image` (NCHW,
    /// the whole batch): per channel, eight tiles at a time into strips 0 and 1 (each tile row's
    /// two output rows end to end), then each row copied to its place.
    private static func transformOutput(
        _ m: UnsafePointer<Float>, channels: Int, height: Int, width: Int, block: Block, strips: Strips,
        bias: UnsafePointer<Float>?, into image: UnsafeMutablePointer<Float>
    ) {
        let (planeStride, channelStride) = (channels &* block.stride, block.stride)
        let (upperStrip, lowerStrip) = (strips.strip(0), strips.strip(1))
        let segment = 2 &* block.tilesW
        for k in 0..<channels {
            let source = m + k &* channelStride
            let b = SIMD8<Float>(repeating: bias?[k] ?? 0)
            var t = 0
            while t < block.tiles {
                @inline(__always)
                func plane(_ xi: Int) -> SIMD8<Float> {
                    UnsafeRawPointer(source + (xi &* planeStride &+ t)).loadUnaligned(as: SIMD8<Float>.self)
                }
                // Aᵀ ·: rows 0 + 1 + 2 and 1 − 2 − 3, per column j.
                @inline(__always)
                func column(_ j: Int) -> (SIMD8<Float>, SIMD8<Float>) {
                    let (m0, m1, m2, m3) = (plane(j), plane(4 &+ j), plane(8 &+ j), plane(12 &+ j))
                    return (m0 + m1 + m2, m1 - m2 - m3)
                }
                let (c0, c1, c2, c3) = (column(0), column(1), column(2), column(3))
                let s0 = (c0.0, c1.0, c2.0, c3.0)
                let s1 = (c0.1, c1.1, c2.1, c3.1)
                // · A: columns 0 + 1 + 2 (even outputs) and 1 − 2 − 3 (odd), interleaved.
                var upper = SIMD16<Float>()
                upper.evenHalf = s0.0 + s0.1 + s0.2 + b
                upper.oddHalf = s0.1 - s0.2 - s0.3 + b
                var lower = SIMD16<Float>()
                lower.evenHalf = s1.0 + s1.1 + s1.2 + b
                lower.oddHalf = s1.1 - s1.2 - s1.3 + b
                UnsafeMutableRawPointer(upperStrip + 2 &* t).storeBytes(of: upper, as: SIMD16<Float>.self)
                UnsafeMutableRawPointer(lowerStrip + 2 &* t).storeBytes(of: lower, as: SIMD16<Float>.self)
                t &+= 8
            }
            // Each tile row's outputs to rows 2ty and 2ty + 1 (an odd height's last tile row has
            // no second row, an odd width's last tile no second column).
            for r in 0..<block.rows {
                let (sample, ty) = block.position(r)
                let top = image + ((sample &* channels &+ k) &* height &+ 2 &* ty) &* width
                let (upperRow, lowerRow) = (upperStrip + r &* segment, lowerStrip + r &* segment)
                for j in 0..<width { top[j] = upperRow[j] }
                if 2 &* ty &+ 1 < height {
                    let bottom = top + width
                    for j in 0..<width { bottom[j] = lowerRow[j] }
                }
            }
        }
    }
}

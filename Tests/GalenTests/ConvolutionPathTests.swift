import Foundation
import Testing

@testable import Galen

/// The two convolution paths (oneDNN and the im2col reference) compute the same outputs and
/// gradients, and the oneDNN path gives the same bits when repeated.
@Suite struct ConvolutionPaths {
    /// One conv2d / convTranspose2d call: shapes and hyper-parameters.
    struct Case: CustomStringConvertible, Sendable {
        var name: String
        var batch = 2
        var inChannels = 4
        var outChannels = 6
        var height = 9
        var width = 9
        var kernel = (3, 3)
        var stride = (1, 1)
        var padding = (0, 0)
        var dilation = (1, 1)
        var outputPadding = (0, 0)
        var groups = 1
        var bias = true

        var description: String { name }
    }

    static let convCases: [Case] = [
        Case(name: "3x3 pad 1 bias", padding: (1, 1)),
        Case(name: "stride 2 odd size, no pad (tight right padding < 0)", height: 11, width: 7, stride: (2, 2)),
        Case(name: "stride 3 pad 1", height: 13, width: 10, stride: (3, 3), padding: (1, 1)),
        Case(name: "dilation 2 pad 2", height: 12, width: 12, padding: (2, 2), dilation: (2, 2)),
        Case(name: "groups 2", inChannels: 4, outChannels: 6, padding: (1, 1), groups: 2),
        Case(name: "depthwise", inChannels: 8, outChannels: 8, padding: (1, 1), groups: 8),
        Case(name: "depthwise x2 stride 2", inChannels: 8, outChannels: 16, height: 10, width: 10, stride: (2, 2), padding: (1, 1), groups: 8),
        Case(name: "1x1 no bias batch 1", batch: 1, inChannels: 16, outChannels: 8, kernel: (1, 1), bias: false),
        Case(name: "1x1 stride 2", batch: 3, inChannels: 5, outChannels: 7, kernel: (1, 1), stride: (2, 2)),
        Case(name: "1x3 asymmetric", kernel: (1, 3), stride: (1, 2), padding: (0, 1)),
        Case(name: "mixed stride/pad/dilation", height: 14, width: 11, kernel: (3, 2), stride: (2, 1), padding: (2, 0), dilation: (1, 2)),
        Case(name: "first layer 3→16 7x7 s2 p3", batch: 2, inChannels: 3, outChannels: 16, height: 20, width: 20, kernel: (7, 7), stride: (2, 2), padding: (3, 3)),
        Case(name: "blocked 32→64", batch: 3, inChannels: 32, outChannels: 64, height: 10, width: 10, padding: (1, 1)),
        Case(name: "17→33 odd channels, no bias", batch: 5, inChannels: 17, outChannels: 33, height: 7, width: 8, padding: (1, 1), bias: false),
        Case(name: "kernel = image", batch: 4, inChannels: 6, outChannels: 5, height: 5, width: 5, kernel: (5, 5)),
        Case(name: "batch 1 tiny", batch: 1, inChannels: 1, outChannels: 1, height: 3, width: 3, kernel: (2, 2)),
        // Thin weight gradients (one image channel, or one output channel) skip oneDNN for
        // Galen's batch-split im2col products.
        Case(name: "one input channel 5x5 pad 2 (LeNet's first)", batch: 5, inChannels: 1, outChannels: 6, height: 12, width: 12, kernel: (5, 5), padding: (2, 2)),
        Case(name: "one input channel stride 2, no bias", batch: 3, inChannels: 1, outChannels: 4, height: 11, width: 9, stride: (2, 2), padding: (1, 1), bias: false),
        Case(name: "one output channel 1x1 (segmentation head)", batch: 4, inChannels: 16, outChannels: 1, kernel: (1, 1)),
        // Winograd F(2×2, 3×3) for all three passes (`Winograd.serves`, at least 128 tiles for
        // each of two threads): six tiles to a row (one partial group of eight), ten (a full
        // group and two), blocks of tile rows that end inside a sample (four samples of seven tile
        // rows for each thread, 21 rows to a block), odd sizes, and the smallest images.
        Case(name: "Winograd 32→48 14x12", batch: 8, inChannels: 32, outChannels: 48, height: 14, width: 12, padding: (1, 1)),
        Case(name: "Winograd 32→40 16x20, no bias", batch: 4, inChannels: 32, outChannels: 40, height: 16, width: 20, padding: (1, 1), bias: false),
        Case(name: "Winograd 32→32 blocks across samples", batch: 8, inChannels: 32, outChannels: 32, height: 14, width: 12, padding: (1, 1)),
        Case(name: "Winograd 32→40 odd sizes 7x9", batch: 13, inChannels: 32, outChannels: 40, height: 7, width: 9, padding: (1, 1)),
        Case(name: "Winograd 48→32 4x4", batch: 64, inChannels: 48, outChannels: 32, height: 4, width: 4, padding: (1, 1)),
    ]

    static let transposedCases: [Case] = [
        Case(name: "T stride 2 pad 1 outpad 1", inChannels: 6, outChannels: 4, height: 5, width: 6, stride: (2, 2), padding: (1, 1), outputPadding: (1, 1)),
        Case(name: "T 3x3 pad 1 no bias", batch: 1, inChannels: 8, outChannels: 8, padding: (1, 1), bias: false),
        Case(name: "T groups 2 dilation 2", inChannels: 4, outChannels: 6, height: 6, width: 5, padding: (1, 1), dilation: (2, 2), groups: 2),
        Case(name: "T depthwise stride 2", inChannels: 8, outChannels: 8, height: 6, width: 6, kernel: (4, 4), stride: (2, 2), padding: (1, 1), groups: 8),
        Case(name: "T 1x1", batch: 3, inChannels: 16, outChannels: 32, kernel: (1, 1)),
        Case(name: "T 2x2 stride 2 (U-Net up)", batch: 2, inChannels: 32, outChannels: 16, height: 7, width: 7, kernel: (2, 2), stride: (2, 2)),
        Case(name: "T to one channel 2x2 stride 2", batch: 3, inChannels: 8, outChannels: 1, height: 5, width: 5, kernel: (2, 2), stride: (2, 2)),
        Case(name: "T Winograd 3x3 pad 1 32→40", batch: 6, inChannels: 32, outChannels: 40, height: 12, width: 16, padding: (1, 1)),
    ]

    /// Which weight gradients skip oneDNN: one image channel or one output channel, ungrouped.
    @Test func thinWeightGradientsAreRecognized() {
        func layer(_ image: Int, _ out: Int, groups: Int = 1) -> ConvGeometry {
            ConvGeometry(
                batch: 128, imageChannels: image, height: 28, width: 28, outChannels: out, outH: 28, outW: 28,
                groups: groups, kernelH: 5, kernelW: 5, strideH: 1, strideW: 1, padH: 2, padW: 2, dilationH: 1,
                dilationW: 1)
        }
        #expect(hasThinWeightGradient(layer(1, 6)))  // LeNet-5's first layer
        #expect(hasThinWeightGradient(layer(16, 1)))  // a one-channel segmentation head
        #expect(!hasThinWeightGradient(layer(3, 64)))  // an RGB stem
        #expect(!hasThinWeightGradient(layer(6, 16)))
        #expect(!hasThinWeightGradient(layer(8, 8, groups: 8)))  // depthwise: one channel per group
        // A one-channel head over 512 channels at 28×28: a 40 MB column matrix per thread.
        #expect(!hasThinWeightGradient(layer(512, 1)))
    }

    /// Which layers run as Winograd F(2×2, 3×3) on two threads: 3×3, stride 1, padding 1, at
    /// least 4×4, at least 32 channels each way, at least 128 tiles for each thread.
    @Test func winogradServesItsGeometries() {
        func layer(
            _ image: Int, _ out: Int, _ size: Int, batch: Int = 128, kernel: Int = 3, stride: Int = 1,
            padding: Int = 1, dilation: Int = 1, groups: Int = 1
        ) -> ConvGeometry {
            let outSize = (size + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1
            return ConvGeometry(
                batch: batch, imageChannels: image, height: size, width: size, outChannels: out, outH: outSize,
                outW: outSize, groups: groups, kernelH: kernel, kernelW: kernel, strideH: stride, strideW: stride,
                padH: padding, padW: padding, dilationH: dilation, dilationW: dilation)
        }
        func served(_ g: ConvGeometry) -> Bool { Winograd.serves(g, threads: 2) }
        #expect(served(layer(64, 64, 28)))  // ResNet-18 (28)'s stages
        #expect(served(layer(128, 128, 14)))
        #expect(served(layer(256, 256, 7)))  // odd: the last tiles half in the padding
        #expect(served(layer(512, 512, 4)))
        #expect(served(layer(32, 64, 32, batch: 16)))  // the U-Net's second level
        #expect(!served(layer(16, 16, 64, batch: 16)))  // too few channels (the U-Net's top level)
        #expect(!served(layer(32, 16, 64, batch: 16)))
        #expect(!served(layer(256, 256, 4, batch: 16)))  // 32 tiles for each thread
        #expect(served(layer(256, 256, 4, batch: 64)))  // 128
        #expect(!served(layer(512, 512, 2)))  // 16 multiplies per output where 9 would do
        #expect(!served(layer(64, 128, 28, stride: 2)))
        #expect(!served(layer(64, 64, 28, kernel: 1, padding: 0)))
        #expect(!served(layer(64, 64, 28, kernel: 5, padding: 2)))
        #expect(!served(layer(64, 64, 28, padding: 2, dilation: 2)))
        #expect(!served(layer(64, 64, 28, groups: 2)))
        // The path cases named for Winograd take it on two threads (CI's machine).
        for (c, transposed) in Self.convCases.map({ ($0, false) }) + Self.transposedCases.map({ ($0, true) })
        where c.name.contains("Winograd") {
            #expect(served(Self.geometry(c, transposed: transposed)), "\(c.name) does not take the Winograd path")
        }
    }

    /// The convolution geometry of a case (for a transposed convolution, the convolution whose
    /// input gradient it is).
    static func geometry(_ c: Case, transposed: Bool) -> ConvGeometry {
        func span(_ k: Int, _ d: Int) -> Int { d * (k - 1) + 1 }
        if transposed {
            let outH = (c.height - 1) * c.stride.0 - 2 * c.padding.0 + span(c.kernel.0, c.dilation.0) + c.outputPadding.0
            let outW = (c.width - 1) * c.stride.1 - 2 * c.padding.1 + span(c.kernel.1, c.dilation.1) + c.outputPadding.1
            return ConvGeometry(
                batch: c.batch, imageChannels: c.outChannels, height: outH, width: outW, outChannels: c.inChannels,
                outH: c.height, outW: c.width, groups: c.groups, kernelH: c.kernel.0, kernelW: c.kernel.1,
                strideH: c.stride.0, strideW: c.stride.1, padH: c.padding.0, padW: c.padding.1,
                dilationH: c.dilation.0, dilationW: c.dilation.1)
        }
        return ConvGeometry(
            batch: c.batch, imageChannels: c.inChannels, height: c.height, width: c.width, outChannels: c.outChannels,
            outH: (c.height + 2 * c.padding.0 - span(c.kernel.0, c.dilation.0)) / c.stride.0 + 1,
            outW: (c.width + 2 * c.padding.1 - span(c.kernel.1, c.dilation.1)) / c.stride.1 + 1,
            groups: c.groups, kernelH: c.kernel.0, kernelW: c.kernel.1, strideH: c.stride.0, strideW: c.stride.1,
            padH: c.padding.0, padW: c.padding.1, dilationH: c.dilation.0, dilationW: c.dilation.1)
    }

    /// Which oneDNN implementations serve a case ("-" where it falls back to the reference path).
    static func served(_ c: Case, transposed: Bool) -> String {
        let names = OneDNNConvolution.implementations(geometry(c, transposed: transposed), bias: c.bias && !transposed)
        return [OneDNNConvKind.forward, .backwardData, .backwardWeights].map { "\($0): \((names[$0] ?? nil) ?? "-")" }
            .joined(separator: ", ")
    }

    /// Output, input gradient, weight gradient and (when present) bias gradient of one case on
    /// one path, from the same seeded inputs.
    static func run(_ c: Case, transposed: Bool, path: ConvolutionPath) -> [[Float]] {
        ConvolutionPath.$override.withValue(path) {
            let g = Generator(seed: 1234)
            let x = Tensor.randn([c.batch, c.inChannels, c.height, c.width], generator: g).requiringGrad()
            let weightShape =
                transposed
                ? [c.inChannels, c.outChannels / c.groups, c.kernel.0, c.kernel.1]
                : [c.outChannels, c.inChannels / c.groups, c.kernel.0, c.kernel.1]
            let w = Tensor.randn(weightShape, std: 0.2, generator: g).requiringGrad()
            let b = c.bias ? Tensor.randn([c.outChannels], generator: g).requiringGrad() : nil
            let y =
                transposed
                ? convTranspose2d(
                    x, weight: w, bias: b, stride: c.stride, padding: c.padding, outputPadding: c.outputPadding,
                    dilation: c.dilation, groups: c.groups)
                : conv2d(x, weight: w, bias: b, stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups)
            y.backward(Tensor.randn(y.shape, generator: g))
            var results = [y.scalars, x.grad!.scalars, w.grad!.scalars]
            if let b { results.append(b.grad!.scalars) }
            return results
        }
    }

    /// Stops the test unless each value of `a` is within 1e-4 relative of `b`, plus an absolute
    /// 1e-5 of the largest magnitude (sums that cancel to ~0 carry the rounding of their terms).
    static func expectClose(_ a: [[Float]], _ b: [[Float]], _ label: String) {
        let names = ["output", "input grad", "weight grad", "bias grad"]
        #expect(a.count == b.count, "\(label): different number of results")
        for (index, (x, y)) in zip(a, b).enumerated() {
            #expect(x.count == y.count, "\(label) \(names[index]): sizes \(x.count) vs \(y.count)")
            let scale = y.reduce(Float(0)) { Swift.max($0, abs($1)) }
            var mismatch: (Int, Float, Float)?
            for i in 0..<Swift.min(x.count, y.count) where abs(x[i] - y[i]) > 1e-5 * (1 + scale) + 1e-4 * abs(y[i]) {
                mismatch = (i, x[i], y[i])
                break
            }
            #expect(mismatch == nil, "\(label) \(names[index]): element \(mismatch!.0) oneDNN \(mismatch!.1) vs reference \(mismatch!.2)")
        }
    }

    /// The oneDNN path as one OpenMP-parallel primitive and split by batch across Galen's threads
    /// (single-threaded primitives, weight gradients summed over the parts), each against the
    /// reference path, and each repeated for the same bits.
    static func checkOneDNNAgainstReference(_ c: Case, transposed: Bool) {
        let label = "\(transposed ? "convTranspose2d" : "conv2d") \(c.name)"
        print("\(label) → \(served(c, transposed: transposed))")
        let reference = run(c, transposed: transposed, path: .reference)
        for split in [false, true] {
            let fast = OneDNNConvolution.$splitOverride.withValue(split) { run(c, transposed: transposed, path: .oneDNN) }
            expectClose(fast, reference, "\(label), batch split \(split)")
            // Repeating the oneDNN path (same primitives, same thread count) gives the same bits.
            let again = OneDNNConvolution.$splitOverride.withValue(split) { run(c, transposed: transposed, path: .oneDNN) }
            #expect(again.map { $0.map(\.bitPattern) } == fast.map { $0.map(\.bitPattern) }, "\(label), batch split \(split): not deterministic")
        }
        // Winograd's products follow the matrix-product path (oneDNN by default); OpenBLAS's too.
        if c.name.contains("Winograd") {
            let onOpenBLAS = MatmulPath.$override.withValue(.openBLAS) { run(c, transposed: transposed, path: .oneDNN) }
            expectClose(onOpenBLAS, reference, "\(label), Winograd's products on OpenBLAS")
        }
    }

    @Test(arguments: convCases) func conv2dPathsAgree(_ c: Case) {
        Self.checkOneDNNAgainstReference(c, transposed: false)
    }

    @Test(arguments: transposedCases) func convTranspose2dPathsAgree(_ c: Case) {
        Self.checkOneDNNAgainstReference(c, transposed: true)
    }

    @Test func conv1dPathsAgree() {
        func run(_ path: ConvolutionPath) -> [[Float]] {
            ConvolutionPath.$override.withValue(path) {
                let g = Generator(seed: 77)
                let x = Tensor.randn([3, 5, 40], generator: g).requiringGrad()
                let w = Tensor.randn([7, 5, 4], std: 0.3, generator: g).requiringGrad()
                let b = Tensor.randn([7], generator: g).requiringGrad()
                let y = conv1d(x, weight: w, bias: b, stride: 2, padding: 3, dilation: 2)
                y.backward(Tensor.randn(y.shape, generator: g))
                return [y.scalars, x.grad!.scalars, w.grad!.scalars, b.grad!.scalars]
            }
        }
        Self.expectClose(run(.oneDNN), run(.reference), "conv1d")
    }

    /// The benchmark's geometry (and the common 3x3 / 1x1 layers) really run on oneDNN's JIT
    /// kernels rather than falling back, wherever oneDNN is available.
    @Test func commonGeometriesUseOneDNN() throws {
        try #require(ConvolutionPath.isOneDNNAvailable)
        let shapes: [ConvGeometry] = [
            ConvGeometry(
                batch: 128, imageChannels: 32, height: 28, width: 28, outChannels: 64, outH: 28, outW: 28, groups: 1,
                kernelH: 3, kernelW: 3, strideH: 1, strideW: 1, padH: 1, padW: 1, dilationH: 1, dilationW: 1),
            ConvGeometry(
                batch: 8, imageChannels: 64, height: 14, width: 14, outChannels: 128, outH: 14, outW: 14, groups: 1,
                kernelH: 1, kernelW: 1, strideH: 1, strideW: 1, padH: 0, padW: 0, dilationH: 1, dilationW: 1),
        ]
        for g in shapes {
            let names = OneDNNConvolution.implementations(g, bias: true)
            for (kind, name) in names {
                #expect(name != nil, "oneDNN fell back for \(kind) of \(g)")
                #expect(!(name ?? "").hasPrefix("ref"), "oneDNN chose its reference loops for \(kind): \(name ?? "")")
            }
        }
    }

    /// Winograd's transforms run a block's tiles as one row across tile rows, so a tile at the
    /// start or end of its row sits next to the neighbouring tile row's data and masks it off as
    /// padding. An infinity there must stay out: outside the tiles whose inputs hold it (one more
    /// output row than a direct convolution reaches, the price of 4×4 input tiles), every output
    /// is finite and matches the reference path.
    @Test func winogradKeepsNonFiniteInputsInTheirTiles() throws {
        let (batch, channels, height, width) = (8, 32, 14, 12)
        let c = Case(
            name: "Winograd non-finite", batch: batch, inChannels: channels, outChannels: channels, height: height,
            width: width, padding: (1, 1))
        try #require(Winograd.serves(Self.geometry(c, transposed: false)))
        // Sample 3, channel 5: +∞ in the last column of row 5 (next to tile row 3's first tile in
        // the strips), −∞ in the first column of row 9 (next to tile row 3's last tile).
        let (sample, channel) = (3, 5)
        let poisoned: [(row: Int, column: Int, value: Float)] = [(5, width - 1, .infinity), (9, 0, -.infinity)]
        // Output rows and columns of the 2×2 tiles whose 4×4 inputs hold each value.
        let reach: [(rows: ClosedRange<Int>, columns: ClosedRange<Int>)] = [(4...7, 10...11), (8...11, 0...1)]
        func forward(_ path: ConvolutionPath) -> [Float] {
            ConvolutionPath.$override.withValue(path) {
                let g = Generator(seed: 99)
                let x = Tensor.randn([batch, channels, height, width], generator: g)
                for p in poisoned { x.pointer[((sample * channels + channel) * height + p.row) * width + p.column] = p.value }
                let w = Tensor.randn([channels, channels, 3, 3], std: 0.2, generator: g)
                let b = Tensor.randn([channels], generator: g)
                return conv2d(x, weight: w, bias: b, padding: (1, 1)).scalars
            }
        }
        let (fast, reference) = (forward(.oneDNN), forward(.reference))
        var leaks: [String] = []
        for n in 0..<batch {
            for k in 0..<channels {
                for row in 0..<height {
                    for column in 0..<width {
                        if n == sample && reach.contains(where: { $0.rows.contains(row) && $0.columns.contains(column) }) {
                            continue
                        }
                        let i = ((n * channels + k) * height + row) * width + column
                        if !fast[i].isFinite || abs(fast[i] - reference[i]) > 1e-4 * (1 + abs(reference[i])) {
                            leaks.append("sample \(n) channel \(k) (\(row), \(column)): \(fast[i]) vs \(reference[i])")
                        }
                    }
                }
            }
        }
        #expect(leaks.count == 0, "outputs differ, first \(leaks.first ?? "")")
        // The tiles that do hold the infinities are not finite (the values reached them).
        #expect(!fast[((sample * channels) * height + 5) * width + 11].isFinite)
        #expect(!fast[((sample * channels) * height + 9) * width + 0].isFinite)
    }

    /// Layers split by batch across Galen's threads unless their weights are large and outweigh
    /// their activations: ResNet-18 (28)'s 64-channel 28×28 and 256-channel 7×7 layers split, its
    /// 512-channel 4×4 layers and the 256 → 512 one run as one primitive on OpenMP's threads.
    @Test func weightHeavyLayersRunAsOnePrimitive() {
        func layer(_ channels: Int, _ size: Int, batch: Int = 128) -> ConvGeometry {
            ConvGeometry(
                batch: batch, imageChannels: channels, height: size, width: size, outChannels: channels, outH: size,
                outW: size, groups: 1, kernelH: 3, kernelW: 3, strideH: 1, strideW: 1, padH: 1, padW: 1,
                dilationH: 1, dilationW: 1)
        }
        #expect(OneDNNConvolution.batchParts(layer(64, 28), threads: 2) == 2)
        #expect(OneDNNConvolution.batchParts(layer(128, 14), threads: 2) == 2)
        #expect(OneDNNConvolution.batchParts(layer(256, 7), threads: 2) == 2)
        #expect(OneDNNConvolution.batchParts(layer(512, 4), threads: 2) == 1)
        let widening = ConvGeometry(
            batch: 128, imageChannels: 256, height: 7, width: 7, outChannels: 512, outH: 4, outW: 4, groups: 1,
            kernelH: 3, kernelW: 3, strideH: 2, strideW: 2, padH: 1, padW: 1, dilationH: 1, dilationW: 1)
        #expect(OneDNNConvolution.batchParts(widening, threads: 2) == 1)
        // Weights outweigh the activations, but at 256×128×3×3 they are too few (U-Net's bottleneck).
        let bottleneck = ConvGeometry(
            batch: 16, imageChannels: 256, height: 8, width: 8, outChannels: 128, outH: 8, outW: 8, groups: 1,
            kernelH: 3, kernelW: 3, strideH: 1, strideW: 1, padH: 1, padW: 1, dilationH: 1, dilationW: 1)
        #expect(OneDNNConvolution.batchParts(bottleneck, threads: 2) == 2)
        #expect(OneDNNConvolution.batchParts(layer(64, 28), threads: 1) == 1)
        #expect(OneDNNConvolution.batchParts(layer(64, 28, batch: 1), threads: 2) == 1)
        // Tests that force the split get it whatever the shape.
        OneDNNConvolution.$splitOverride.withValue(true) {
            #expect(OneDNNConvolution.batchParts(layer(512, 4), threads: 2) == 2)
        }
    }

    /// At a size where oneDNN splits every primitive across all threads (and backward-weights
    /// reduces per-thread partial sums), two runs still give the same bits.
    @Test func multithreadedRunsAreDeterministic() {
        let c = Case(name: "16×32→64×28×28", batch: 16, inChannels: 32, outChannels: 64, height: 28, width: 28, padding: (1, 1))
        let first = Self.run(c, transposed: false, path: .oneDNN)
        for _ in 0..<2 {
            #expect(Self.run(c, transposed: false, path: .oneDNN).map { $0.map(\.bitPattern) } == first.map { $0.map(\.bitPattern) })
        }
    }

    /// Many geometries never grow the primitive cache past its bound.
    @Test func planCacheIsBounded() {
        for size in 0..<(OneDNNPlanCache.capacity + 8) {
            let g = ConvGeometry(
                batch: 1, imageChannels: 1, height: 1, width: 1 + size, outChannels: 1, outH: 1, outW: 1 + size,
                groups: 1, kernelH: 1, kernelW: 1, strideH: 1, strideW: 1, padH: 0, padW: 0, dilationH: 1, dilationW: 1)
            _ = OneDNNConvolution.plan(.forward, g, bias: false)
        }
        #expect(OneDNNPlanCache.shared.count <= OneDNNPlanCache.capacity)
    }
}

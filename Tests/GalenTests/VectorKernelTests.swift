import Foundation
import Testing

@testable import Galen

/// The hand-vectorized kernels against plain loops: e^x, tanh and sigmoid against the C library
/// in double precision, and the in-order sums (`sumRows`, `VectorMath.add`) bit for bit against
/// the scalar loops they replace, so that rewriting them never changes a training run's bits.
@Suite struct VectorKernels {
    /// Values from −100 to 100 on an irregular grid, plus the edges of e^x's clamp.
    static let inputs: [Float] = {
        var values = stride(from: Float(-100), through: 100, by: 0.0371).map { $0 }
        values += [-87.336_54, -87.3, -88, 88.7, 88.722_83, 89, 0, -0, 1e-8, -1e-8, 0.0625, -0.0625, 0.07]
        return values
    }()

    /// Runs an eight-lane function over `values` (padded to whole vectors).
    static func lanes(_ values: [Float], _ f: (SIMD8<Float>) -> SIMD8<Float>) -> [Float] {
        var result: [Float] = []
        for start in stride(from: 0, to: values.count, by: 8) {
            var v = SIMD8<Float>(repeating: 0)
            for lane in 0..<8 where start + lane < values.count { v[lane] = values[start + lane] }
            let y = f(v)
            for lane in 0..<8 where start + lane < values.count { result.append(y[lane]) }
        }
        return result
    }

    /// |got − want| within `ulps` units in the last place of `want` (as a Float).
    static func expectWithinUlps(_ got: [Float], _ want: [Double], inputs: [Float], ulps: Float, _ name: String) {
        var worst: Float = 0
        var worstInput: Float = 0
        for (index, (g, w)) in zip(got, want).enumerated() {
            let target = Float(w)
            if target.isInfinite {
                #expect(g == target, "\(name)(\(inputs[index])) = \(g), want \(target)")
                continue
            }
            // Where the result is 0 or subnormal, 0 counts as right (the kernels flush there).
            if abs(target) < Float.leastNormalMagnitude {
                #expect(abs(g) < Float.leastNormalMagnitude, "\(name)(\(inputs[index])) = \(g), want \(target)")
                continue
            }
            let error = abs(g - target) / target.ulp
            if error > worst { (worst, worstInput) = (error, inputs[index]) }
        }
        #expect(worst <= ulps, "\(name): worst error \(worst) ulp at x = \(worstInput)")
    }

    @Test func expMatchesTheCLibrary() {
        // Within ln2/2 below ln(Float.greatestFiniteMagnitude) e^x rounds to n = 128 and overflows
        // to +∞ early, where expf is still finite: a known edge that the range leaves out.
        let inputs = Self.inputs.filter { $0 <= 88.37 || $0 > 88.722_84 }
        let got = Self.lanes(inputs) { VectorMath.exp($0) }
        Self.expectWithinUlps(got, inputs.map { Foundation.exp(Double($0)) }, inputs: inputs, ulps: 2, "exp")
        // Special values: expf's results at the ends, NaN stays NaN.
        let special = Self.lanes([-.infinity, .infinity, .nan, -200, 200]) { VectorMath.exp($0) }
        #expect(special[0] == 0 && special[1] == .infinity && special[2].isNaN && special[3] == 0)
        #expect(special[4] == .infinity)
    }

    @Test func tanhAndSigmoidMatchTheCLibrary() {
        let tanh = Self.lanes(Self.inputs) { VectorMath.tanh($0) }
        // Below |x| = 0.0625 a series; above it 1 − 2/(e^2x + 1), whose subtraction cancels about
        // four bits just above the switch (19 ulp at x = 0.07, a relative error of 2e-6).
        Self.expectWithinUlps(tanh, Self.inputs.map { Foundation.tanh(Double($0)) }, inputs: Self.inputs, ulps: 24, "tanh")
        let sigmoid = Self.lanes(Self.inputs) { VectorMath.sigmoid($0) }
        Self.expectWithinUlps(
            sigmoid, Self.inputs.map { 1 / (1 + Foundation.exp(-Double($0))) }, inputs: Self.inputs, ulps: 4, "sigmoid")
    }

    /// Widths around the 64-column blocks and the 8-wide vectors, and row counts that make
    /// `sumRows` run on one thread and on several.
    @Test(arguments: [(1, 1), (3, 7), (5, 8), (17, 63), (9, 64), (130, 65), (2048, 128), (33, 200), (700, 384)])
    func sumRowsAddsEachColumnInRowOrder(_ rows: Int, _ columns: Int) {
        let generator = Generator(seed: UInt64(rows * 1000 + columns))
        let x = Tensor.randn([rows, columns], generator: generator)
        var expected = [Float](repeating: 0, count: columns)
        for row in 0..<rows {
            for column in 0..<columns { expected[column] += x.pointer[row * columns + column] }
        }
        var got = [Float](repeating: .nan, count: columns)
        got.withUnsafeMutableBufferPointer { sumRows(x.pointer, rows: rows, columns: columns, into: $0.baseAddress!) }
        #expect(got == expected, "\(rows)×\(columns)")
    }

    /// Layer norm's vectorized row loops (blocks of 32 and 8 columns and a scalar tail) against a
    /// double-precision reference: values and the input, weight and bias gradients.
    @Test(arguments: [5, 20, 100, 128])
    func layerNormMatchesDoublePrecision(_ width: Int) {
        let rows = 37
        let generator = Generator(seed: UInt64(width))
        let x = Tensor.randn([rows, width], generator: generator).requiringGrad()
        let weight = Tensor.uniform([width], low: 0.5, high: 1.5, generator: generator).requiringGrad()
        let bias = Tensor.randn([width], generator: generator).requiringGrad()
        let upstream = Tensor.randn([rows, width], generator: generator)
        let y = layerNorm(x, normalizedShape: [width], weight: weight, bias: bias)
        (y * upstream).sum().backward()

        let (xs, ws, bs, gs) = (x.scalars.map(Double.init), weight.scalars.map(Double.init), bias.scalars.map(Double.init), upstream.scalars.map(Double.init))
        var (yRef, dxRef) = ([Double](repeating: 0, count: rows * width), [Double](repeating: 0, count: rows * width))
        var (dwRef, dbRef) = ([Double](repeating: 0, count: width), [Double](repeating: 0, count: width))
        for r in 0..<rows {
            let row = Array(xs[(r * width)..<((r + 1) * width)])
            let mean = row.reduce(0, +) / Double(width)
            let inverse = 1 / (row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(width) + 1e-5).squareRoot()
            let normalized = row.map { ($0 - mean) * inverse }
            let gHat = (0..<width).map { gs[r * width + $0] * ws[$0] }
            let meanG = gHat.reduce(0, +) / Double(width)
            let meanGX = zip(gHat, normalized).map { $0 * $1 }.reduce(0, +) / Double(width)
            for j in 0..<width {
                yRef[r * width + j] = normalized[j] * ws[j] + bs[j]
                dxRef[r * width + j] = inverse * (gHat[j] - meanG - normalized[j] * meanGX)
                dwRef[j] += gs[r * width + j] * normalized[j]
                dbRef[j] += gs[r * width + j]
            }
        }
        func worst(_ got: [Float], _ want: [Double]) -> Double {
            let scale = want.map(abs).max()!
            return zip(got, want).map { abs(Double($0) - $1) }.max()! / scale
        }
        #expect(worst(y.scalars, yRef) < 1e-6, "values, width \(width)")
        #expect(worst(x.grad!.scalars, dxRef) < 1e-5, "d(input), width \(width)")
        #expect(worst(weight.grad!.scalars, dwRef) < 1e-5, "d(weight), width \(width)")
        #expect(worst(bias.grad!.scalars, dbRef) < 1e-5, "d(bias), width \(width)")
    }

    @Test(arguments: [0, 1, 7, 8, 9, 16, 130])
    func addAccumulatesElementwise(_ count: Int) {
        let source = (0..<count).map { Float($0) * 0.37 - 5 }
        var target = (0..<count).map { Float($0 * $0) * 0.011 }
        let expected = zip(target, source).map { $0 + $1 }
        source.withUnsafeBufferPointer { s in
            target.withUnsafeMutableBufferPointer { t in
                if count > 0 { VectorMath.add(s.baseAddress!, into: t.baseAddress!, count: count) }
            }
        }
        #expect(target == expected)
    }
}

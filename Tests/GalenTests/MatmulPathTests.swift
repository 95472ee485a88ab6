import Testing

@testable import Galen

/// The oneDNN matmul path computes what OpenBLAS computes, for every operand layout, scale and
/// split into blocks, and never writes outside C's rows and columns.
@Suite struct MatmulPaths {
    struct Case: CustomStringConvertible, Sendable {
        var m: Int, n: Int, k: Int
        var transposeA = false, transposeB = false
        /// Extra floats per row beyond the matrix (leading dimension − width).
        var padding = 0
        var alpha: Float = 1, beta: Float = 0
        var threads = 1
        /// A bias row added inside the product (alpha 1, beta 0 only).
        var bias = false
        var description: String {
            "\(m)×\(k)·\(k)×\(n) tA \(transposeA) tB \(transposeB) pad \(padding) α \(alpha) β \(beta) threads \(threads) bias \(bias)"
        }
    }

    static let cases: [Case] = [
        Case(m: 64, n: 48, k: 32),
        Case(m: 37, n: 29, k: 19, transposeA: true),
        Case(m: 37, n: 29, k: 19, transposeB: true),
        Case(m: 20, n: 33, k: 17, transposeA: true, transposeB: true, padding: 3),
        Case(m: 50, n: 40, k: 30, padding: 5, alpha: 0.125, beta: 1),
        Case(m: 50, n: 40, k: 30, transposeB: true, alpha: 2, beta: 0.5),
        // Split by rows (m ≥ 8 per block) and, with few rows, by columns.
        Case(m: 67, n: 41, k: 23, padding: 2, beta: 1, threads: 2),
        Case(m: 67, n: 41, k: 23, transposeA: true, transposeB: true, threads: 3),
        Case(m: 6, n: 130, k: 21, transposeB: true, padding: 1, alpha: 0.5, beta: 1, threads: 2),
        Case(m: 6, n: 130, k: 21, transposeA: true, threads: 2),
        Case(m: 1, n: 1, k: 300),
        // From 2^19 multiply-adds one block runs the matmul primitive (below, dnnl_sgemm).
        Case(m: 130, n: 70, k: 60, transposeA: true, padding: 3, alpha: 0.5, beta: 1),
        Case(m: 130, n: 70, k: 60, transposeB: true),
        // The bias of a linear layer, in one block and split by rows and by columns.
        Case(m: 33, n: 47, k: 29, transposeB: true, padding: 2, bias: true),
        Case(m: 67, n: 41, k: 23, transposeB: true, threads: 2, bias: true),
        Case(m: 6, n: 130, k: 21, transposeB: true, padding: 1, threads: 3, bias: true),
    ]

    @Test(arguments: cases)
    func oneDNNMatchesOpenBLAS(_ c: Case) throws {
        try #require(OneDNNRuntime.shared != nil, "oneDNN has no CPU engine in this process")
        let g = Generator(seed: 3)
        // Stored shapes: A is (m × k) or, transposed, (k × m); likewise B; rows padded.
        let (aRows, aColumns) = c.transposeA ? (c.k, c.m) : (c.m, c.k)
        let (bRows, bColumns) = c.transposeB ? (c.n, c.k) : (c.k, c.n)
        let (lda, ldb, ldc) = (aColumns + c.padding, bColumns + c.padding, c.n + c.padding)
        let a = Tensor.randn([aRows * lda], generator: g).scalars
        let b = Tensor.randn([bRows * ldb], generator: g).scalars
        let c0 = Tensor.randn([c.m * ldc], generator: g).scalars
        let bias = c.bias ? Tensor.randn([c.n], generator: g).scalars : nil

        var reference = c0, fast = c0
        let served = (bias ?? []).withUnsafeBufferPointer { values in
            let biasPointer = bias == nil ? nil : values.baseAddress
            gemm(c.transposeA, c.transposeB, m: c.m, n: c.n, k: c.k, alpha: c.alpha, a, lda, b, ldb, beta: c.beta,
                 &reference, ldc, bias: biasPointer, threads: 1, path: .openBLAS)
            return fast.withUnsafeMutableBufferPointer { out in
                OneDNNMatmul.gemm(
                    transposeA: c.transposeA, transposeB: c.transposeB, m: c.m, n: c.n, k: c.k, alpha: c.alpha, a,
                    lda: lda, b, ldb: ldb, beta: c.beta, out.baseAddress!, ldc: ldc, bias: biasPointer,
                    threads: c.threads, minimumWork: 0, parallelThreshold: 0)
            }
        }
        #expect(served, "oneDNN refused \(c)")
        // Products of up to 300 terms of unit-variance values: rounding ≈ 1e-6 · √k · scale.
        var worst: Float = 0
        for row in 0..<c.m {
            for column in 0..<ldc {
                let index = row * ldc + column
                if column >= c.n {
                    #expect(fast[index] == c0[index], "\(c): wrote padding at (\(row), \(column))")
                    continue
                }
                worst = max(worst, abs(fast[index] - reference[index]) / (1 + abs(reference[index])))
            }
        }
        #expect(worst <= 1e-5, "\(c): largest difference \(worst)")
        #expect(fast != c0, "\(c): oneDNN wrote nothing")
        if let bias {
            // The bias is really in both: without it row 0 would differ from A·B by exactly it.
            var product = c0
            gemm(c.transposeA, c.transposeB, m: c.m, n: c.n, k: c.k, alpha: 1, a, lda, b, ldb, beta: 0, &product, ldc,
                 threads: 1, path: .openBLAS)
            for column in 0..<c.n {
                #expect(abs(reference[column] - product[column] - bias[column]) <= 1e-4 * (1 + abs(bias[column])))
            }
        }
    }
}

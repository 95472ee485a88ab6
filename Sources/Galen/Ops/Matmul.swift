import CBLAS

// Matrix multiplication through oneDNN's matmul or OpenBLAS's sgemm (`MatmulPath`). A transposed
// operand (a `transposed()` view) is passed with a transpose flag, never copied; the backward
// products use the same trick.

/// How one matrix operand sits in memory, in BLAS terms.
struct MatrixOperand {
    let transpose: CBLAS_TRANSPOSE
    let leadingDimension: Int
}

/// The BLAS reading of the last two axes of `x` (rows × columns), or nil when neither row-major
/// nor column-major.
func matrixOperand(_ x: Tensor) -> MatrixOperand? {
    let rows = x.shape[x.rank - 2]
    let columns = x.shape[x.rank - 1]
    let rowStride = x.strides[x.rank - 2]
    let columnStride = x.strides[x.rank - 1]
    if columnStride == 1 && (rowStride == columns || rows == 1) {
        return MatrixOperand(transpose: CblasNoTrans, leadingDimension: max(columns, 1))
    }
    if rowStride == 1 && (columnStride == rows || columns == 1) {
        return MatrixOperand(transpose: CblasTrans, leadingDimension: max(rows, 1))
    }
    if rows == 1 && columns == 1 {
        return MatrixOperand(transpose: CblasNoTrans, leadingDimension: 1)
    }
    return nil
}

/// C = A·B (+ beta·C) for row-major C (m×n), with A m×k and B k×n read as described by their
/// operands. `threads`: how many of Galen's threads the product may use (1 inside a block that
/// already runs on one of them). Code running on Galen's threads passes the `path` it read
/// before: task-local overrides are not visible there.
@inline(__always)
func sgemm(
    _ a: UnsafePointer<Float>, _ opA: MatrixOperand,
    _ b: UnsafePointer<Float>, _ opB: MatrixOperand,
    _ c: UnsafeMutablePointer<Float>, m: Int, n: Int, k: Int, beta: Float = 0, threads: Int = Threads.count,
    path: MatmulPath = MatmulPath.current
) {
    gemm(opA.transpose == CblasTrans, opB.transpose == CblasTrans, m: m, n: n, k: k, alpha: 1,
         a, opA.leadingDimension, b, opB.leadingDimension, beta: beta, c, n, threads: threads, path: path)
}

/// C ← alpha·op(A)·op(B) + beta·C, all row-major with explicit leading dimensions: every matrix
/// product in Galen ends here, and `MatmulPath.current` picks oneDNN or OpenBLAS.
///
/// `bias` (n values, only with alpha 1 and beta 0) is added to every row of C: inside the product
/// on oneDNN, and written into C before a beta-1 product on OpenBLAS (as PyTorch's addmm).
func gemm(
    _ transposeA: Bool, _ transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
    _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
    beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int, bias: UnsafePointer<Float>? = nil,
    threads: Int = Threads.count, path: MatmulPath = MatmulPath.current
) {
    precondition(bias == nil || (alpha == 1 && beta == 0), "gemm: a bias needs alpha 1 and beta 0")
    if path == .oneDNN,
        OneDNNMatmul.gemm(
            transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha, a, lda: lda, b, ldb: ldb,
            beta: beta, c, ldc: ldc, bias: bias, threads: threads)
    {
        return
    }
    var beta = beta
    if let bias {
        for row in 0..<m { (c + row * ldc).update(from: bias, count: n) }
        beta = 1
    }
    Threads.configure()
    // OpenBLAS brings its own threads; oneDNN's products above run on Galen's.
    yieldCoresToLibraries()
    cblas_sgemm(
        CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
        Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// The matrix product of `a` and `b` with PyTorch's `torch.matmul` semantics: 1-D operands are
/// promoted to a row or column vector (and the axis removed again); leading batch axes broadcast.
public func matmul(_ a: Tensor, _ b: Tensor) -> Tensor {
    check(a.rank >= 1 && b.rank >= 1, "matmul: operands must have at least 1 axis, got \(a.shape) and \(b.shape)")
    if a.rank == 1 { return matmul(a.unsqueezed(axis: 0), b).squeezed(axis: -2) }
    if b.rank == 1 { return matmul(a, b.unsqueezed(axis: 1)).squeezed(axis: -1) }
    let m = a.shape[a.rank - 2]
    let k = a.shape[a.rank - 1]
    let n = b.shape[b.rank - 1]
    check(
        b.shape[b.rank - 2] == k,
        "matmul: inner dimensions differ: \(a.shape) × \(b.shape) (\(k) vs \(b.shape[b.rank - 2]))")
    let batchShape = Shape.broadcast(Array(a.shape.dropLast(2)), Array(b.shape.dropLast(2)), op: "matmul")
    let result = Tensor(uninitializedShape: batchShape + [m, n])
    let left = matrixOperand(a) == nil ? a.contiguousValues() : a
    let right = matrixOperand(b) == nil ? b.contiguousValues() : b
    defer { withExtendedLifetime((left, right)) {} }
    let opA = matrixOperand(left)!
    let opB = matrixOperand(right)!
    let out = result.pointer
    let batches = Shape.count(batchShape)
    if m * n > 0 {
        if k == 0 {
            out.update(repeating: 0, count: result.count)
        } else if right.rank == 2 && opA.transpose == CblasNoTrans && left.isContiguous {
            // A stack of row-major matrices times one matrix is one tall product.
            sgemm(left.pointer, opA, right.pointer, opB, out, m: batches * m, n: n, k: k)
        } else {
            let offsetsA = batchOffsets(left, batchShape)
            let offsetsB = batchOffsets(right, batchShape)
            let baseA = left.storage.pointer + left.offset
            let baseB = right.storage.pointer + right.offset
            for batch in 0..<batches {
                sgemm(baseA + offsetsA[batch], opA, baseB + offsetsB[batch], opB, out + batch * m * n, m: m, n: n, k: k)
            }
        }
    }
    return record(result, "matmul", [a, b]) { g in
        let rightGradient: Tensor?
        if b.requiresGrad && b.rank == 2 && a.rank > 2 && k > 0 && n > 0 {
            // A stack times one matrix: d(B) is one product over all the stacked rows.
            rightGradient = matmul(a.reshaped([-1, k]).transposed(), g.reshaped([-1, n]))
        } else {
            rightGradient = b.requiresGrad ? matmul(a.transposed(), g).sumToShape(b.shape) : nil
        }
        return [a.requiresGrad ? matmul(g, b.transposed()).sumToShape(a.shape) : nil, rightGradient]
    }
}

/// The element offset of each batch's matrix in `x` when its batch axes broadcast to `batchShape`.
func batchOffsets(_ x: Tensor, _ batchShape: [Int]) -> [Int] {
    let batchRank = x.rank - 2
    let lead = batchShape.count - batchRank
    var strides = [Int](repeating: 0, count: batchShape.count)
    for i in 0..<batchRank where x.shape[i] != 1 { strides[lead + i] = x.strides[i] }
    var offsets = [Int](repeating: 0, count: Shape.count(batchShape))
    var index = [Int](repeating: 0, count: batchShape.count)
    var offset = 0
    for batch in 0..<offsets.count {
        offsets[batch] = offset
        var axis = batchShape.count - 1
        while axis >= 0 {
            index[axis] += 1
            offset += strides[axis]
            if index[axis] < batchShape[axis] { break }
            offset -= strides[axis] * batchShape[axis]
            index[axis] = 0
            axis -= 1
        }
    }
    return offsets
}

extension Tensor {
    /// The matrix product self · other (see `matmul`).
    public func matmul(_ other: Tensor) -> Tensor { Galen.matmul(self, other) }
}

/// x · Wᵀ + b (PyTorch's `F.linear`): x (…, in), weight (out, in), bias (out).
///
/// One graph node over all leading axes at once, as PyTorch's addmm: the forward is one product
/// over every row of x with the bias added inside it; the backward is one product for d(x), one
/// for d(weight) over all rows (not one per leading index summed afterwards) and a column sum for
/// d(bias).
public func linear(_ x: Tensor, weight: Tensor, bias: Tensor? = nil) -> Tensor {
    check(
        weight.rank == 2 && x.rank >= 1 && x.shape[x.rank - 1] == weight.shape[1],
        "linear: input \(x.shape) does not fit weight \(weight.shape) (in features \(weight.rank == 2 ? weight.shape[1] : -1))")
    let (outFeatures, inFeatures) = (weight.shape[0], weight.shape[1])
    if let bias {
        check(bias.shape == [outFeatures], "linear: bias \(bias.shape) does not match weight \(weight.shape)")
    }
    let rows = Shape.count(Array(x.shape.dropLast()))
    // x as a row-major (rows × in) matrix; W read in place when it is row- or column-major.
    let input = x.contiguousValues()
    let weightMatrix = matrixOperand(weight) == nil ? weight.contiguousValues() : weight
    let weightOperand = matrixOperand(weightMatrix)!
    let biasValues = bias?.contiguousValues()
    // x·Wᵀ: Wᵀ is op(B) with B transposed exactly when W is stored row-major.
    let weightRowMajor = weightOperand.transpose == CblasNoTrans
    let ldw = weightOperand.leadingDimension

    let result = Tensor(uninitializedShape: Array(x.shape.dropLast()) + [outFeatures])
    if rows * outFeatures > 0 {
        withExtendedLifetime((input, weightMatrix, biasValues)) {
            let out = result.pointer
            if inFeatures == 0 {
                for row in 0..<rows {
                    if let biasValues { (out + row * outFeatures).update(from: biasValues.pointer, count: outFeatures) }
                    else { (out + row * outFeatures).update(repeating: 0, count: outFeatures) }
                }
            } else {
                gemm(false, weightRowMajor, m: rows, n: outFeatures, k: inFeatures, alpha: 1, input.pointer, inFeatures,
                     weightMatrix.pointer, ldw, beta: 0, out, outFeatures, bias: biasValues?.pointer)
            }
        }
    }

    let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
    return record(result, "linear", inputs) { g in
        let g = g.contiguousValues()
        var inputGradient: Tensor?, weightGradient: Tensor?, biasGradient: Tensor?
        withExtendedLifetime((g, input, weightMatrix)) {
            if x.requiresGrad {
                // d(x) = g · W
                let dx = Tensor(uninitializedShape: x.shape)
                product(false, !weightRowMajor, m: rows, n: inFeatures, k: outFeatures, g.pointer, outFeatures,
                        weightMatrix.pointer, ldw, into: dx.pointer)
                inputGradient = dx
            }
            if weight.requiresGrad {
                // d(W) = gᵀ · x, one product over every row
                let dw = Tensor(uninitializedShape: weight.shape)
                product(true, false, m: outFeatures, n: inFeatures, k: rows, g.pointer, outFeatures, input.pointer,
                        inFeatures, into: dw.pointer)
                weightGradient = dw
            }
            if let bias, bias.requiresGrad {
                let db = Tensor(uninitializedShape: [outFeatures])
                sumRows(g.pointer, rows: rows, columns: outFeatures, into: db.pointer)
                biasGradient = db
            }
        }
        return bias == nil ? [inputGradient, weightGradient] : [inputGradient, weightGradient, biasGradient]
    }
}

/// C ← op(A)·op(B) into a contiguous (m × n) buffer; an empty sum (k = 0) gives zeros, where BLAS
/// would be handed an empty operand.
private func product(
    _ transposeA: Bool, _ transposeB: Bool, m: Int, n: Int, k: Int, _ a: UnsafePointer<Float>, _ lda: Int,
    _ b: UnsafePointer<Float>, _ ldb: Int, into c: UnsafeMutablePointer<Float>
) {
    guard m * n > 0 else { return }
    guard k > 0 else { return c.update(repeating: 0, count: m * n) }
    gemm(transposeA, transposeB, m: m, n: n, k: k, alpha: 1, a, lda, b, ldb, beta: 0, c, n)
}

/// The column sums of a row-major (rows × columns) matrix. Each thread takes a range of columns
/// and adds the rows in order, so the result does not depend on the thread count.
///
/// Blocks of 64 columns are summed down all rows in eight vector registers and stored once: a
/// running row of sums in memory costs a load and a store per element and row, and that version
/// took 2.2–2.7% of a transformer's or an LSTM's training step (bias gradients) in perf.
func sumRows(_ x: UnsafePointer<Float>, rows: Int, columns: Int, into out: UnsafeMutablePointer<Float>) {
    typealias Vector = SIMD8<Float>
    let block = 64
    let blocks = (columns + block - 1) / block
    parallelRanges(count: blocks, grain: Swift.max(1, elementwiseGrain / Swift.max(rows * block, 1))) { start, end in
        for first in stride(from: start * block, to: Swift.min(end * block, columns), by: block) {
            let width = Swift.min(block, columns - first)
            var j = 0
            // Up to eight vectors at once; the additions down each column stay in row order.
            while j + 8 <= width {
                let lanes = Swift.min((width - j) / 8, 8)
                var sums = (Vector(), Vector(), Vector(), Vector(), Vector(), Vector(), Vector(), Vector())
                var row = x + first + j
                for _ in 0..<rows {
                    sums.0 += VectorMath.load(row)
                    if lanes > 1 { sums.1 += VectorMath.load(row + 8) }
                    if lanes > 2 { sums.2 += VectorMath.load(row + 16) }
                    if lanes > 3 { sums.3 += VectorMath.load(row + 24) }
                    if lanes > 4 { sums.4 += VectorMath.load(row + 32) }
                    if lanes > 5 { sums.5 += VectorMath.load(row + 40) }
                    if lanes > 6 { sums.6 += VectorMath.load(row + 48) }
                    if lanes > 7 { sums.7 += VectorMath.load(row + 56) }
                    row += columns
                }
                let target = out + first + j
                withUnsafeBytes(of: sums) { bytes in
                    target.update(from: bytes.bindMemory(to: Float.self).baseAddress!, count: lanes * 8)
                }
                j += lanes * 8
            }
            while j < width {
                var sum: Float = 0
                var element = x + first + j
                for _ in 0..<rows {
                    sum += element.pointee
                    element += columns
                }
                out[first + j] = sum
                j += 1
            }
        }
    }
}

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
func gemm(
    _ transposeA: Bool, _ transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
    _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
    beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int, threads: Int = Threads.count,
    path: MatmulPath = MatmulPath.current
) {
    if path == .oneDNN,
        OneDNNMatmul.gemm(
            transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha, a, lda: lda, b, ldb: ldb,
            beta: beta, c, ldc: ldc, threads: threads)
    {
        return
    }
    Threads.configure()
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
        [a.requiresGrad ? matmul(g, b.transposed()).sumToShape(a.shape) : nil,
         b.requiresGrad ? matmul(a.transposed(), g).sumToShape(b.shape) : nil]
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
public func linear(_ x: Tensor, weight: Tensor, bias: Tensor? = nil) -> Tensor {
    check(
        weight.rank == 2 && x.rank >= 1 && x.shape[x.rank - 1] == weight.shape[1],
        "linear: input \(x.shape) does not fit weight \(weight.shape) (in features \(weight.rank == 2 ? weight.shape[1] : -1))")
    let product = matmul(x, weight.transposed())
    guard let bias else { return product }
    check(bias.shape == [weight.shape[0]], "linear: bias \(bias.shape) does not match weight \(weight.shape)")
    return product + bias
}

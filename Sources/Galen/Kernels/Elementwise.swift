/// Elementwise map kernels on raw buffers.
///
/// An operation is a small struct conforming to `UnaryKernel` or `BinaryKernel`; the generic map
/// functions below are specialized per kernel by the compiler, so the inner loops are plain
/// arithmetic on pointers (no closure call per element) and vectorize.

/// A function of one value, possibly with parameters stored in the struct (a slope, a bound).
protocol UnaryKernel {
    func callAsFunction(_ x: Float) -> Float
}

/// A function of two values.
protocol BinaryKernel {
    func callAsFunction(_ a: Float, _ b: Float) -> Float
}

/// Below this many elements a kernel runs on one thread: waking a second costs more than it saves.
let elementwiseGrain = 1 << 15

/// Applies `kernel` to every element of `input`, returning a new contiguous tensor.
func mapUnary<K: UnaryKernel>(_ input: Tensor, _ kernel: K) -> Tensor {
    let x = input.contiguousValues()
    defer { withExtendedLifetime(x) {} }
    let result = Tensor(uninitializedShape: x.shape)
    let source = x.pointer
    let destination = result.pointer
    parallelRanges(count: x.count, grain: elementwiseGrain) { start, end in
        for i in start..<end { destination[i] = kernel(source[i]) }
    }
    return result
}

/// Applies a vectorized kernel (`VectorMath`) that works on whole ranges, split across threads.
func mapVectorized(
    _ x: Tensor, _ kernel: (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void
) -> Tensor {
    let input = x.contiguousValues()
    defer { withExtendedLifetime(input) {} }
    let result = Tensor(uninitializedShape: x.shape)
    let source = input.pointer
    let destination = result.pointer
    parallelRanges(count: x.count, grain: elementwiseGrain) { start, end in
        kernel(source + start, destination + start, end - start)
    }
    return result
}

/// Applies `kernel` to `a` and `b` broadcast together, returning a new contiguous tensor.
func mapBinary<K: BinaryKernel>(_ a: Tensor, _ b: Tensor, _ kernel: K, op: String) -> Tensor {
    let x = a.contiguousValues()
    let y = b.contiguousValues()
    defer { withExtendedLifetime((x, y)) {} }
    let shape = Shape.broadcast(x.shape, y.shape, op: op)
    let result = Tensor(uninitializedShape: shape)
    let out = result.pointer
    let px = x.pointer
    let py = y.pointer
    if x.shape == y.shape {
        parallelRanges(count: result.count, grain: elementwiseGrain) { start, end in
            for i in start..<end { out[i] = kernel(px[i], py[i]) }
        }
        return result
    }
    let plan = BroadcastPlan(shape: shape, x.shape, y.shape)
    plan.forEachRun { outOffset, offsets, innerStrides, n in
        let o = out + outOffset
        let xa = px + offsets.0
        let yb = py + offsets.1
        switch innerStrides {
        case (1, 1): for i in 0..<n { o[i] = kernel(xa[i], yb[i]) }
        case (1, 0):
            let v = yb[0]
            for i in 0..<n { o[i] = kernel(xa[i], v) }
        case (0, 1):
            let v = xa[0]
            for i in 0..<n { o[i] = kernel(v, yb[i]) }
        default:
            let v = kernel(xa[0], yb[0])
            for i in 0..<n { o[i] = v }
        }
    }
    return result
}

/// How two contiguous operands are read when broadcast to a common shape: the output is walked in
/// runs along the (merged) innermost dimension, where each operand advances by 1 or stays put.
struct BroadcastPlan {
    /// Output shape after merging dimensions that can be walked as one.
    let shape: [Int]
    let stridesX: [Int]
    let stridesY: [Int]

    init(shape target: [Int], _ shapeX: [Int], _ shapeY: [Int]) {
        let sx = Shape.broadcastStrides(shapeX, to: target)
        let sy = Shape.broadcastStrides(shapeY, to: target)
        // Merge neighbouring dimensions when both operands step through them as one dimension.
        var shape: [Int] = []
        var stridesX: [Int] = []
        var stridesY: [Int] = []
        for axis in 0..<target.count where target[axis] != 1 {
            if let last = shape.indices.last,
                stridesX[last] == sx[axis] * target[axis], stridesY[last] == sy[axis] * target[axis]
            {
                shape[last] *= target[axis]
                stridesX[last] = sx[axis]
                stridesY[last] = sy[axis]
            } else {
                shape.append(target[axis])
                stridesX.append(sx[axis])
                stridesY.append(sy[axis])
            }
        }
        if shape.isEmpty {
            shape = [1]
            stridesX = [0]
            stridesY = [0]
        }
        self.shape = shape
        self.stridesX = stridesX
        self.stridesY = stridesY
    }

    /// Calls `body(outputOffset, (xOffset, yOffset), (xInnerStride, yInnerStride), runLength)` for
    /// every run, splitting the runs across threads when there is enough work.
    func forEachRun(_ body: (Int, (Int, Int), (Int, Int), Int) -> Void) {
        let rank = shape.count
        let inner = shape[rank - 1]
        let runs = Shape.count(shape) / inner
        let innerStrides = (stridesX[rank - 1], stridesY[rank - 1])
        parallelRanges(count: runs, grain: max(1, elementwiseGrain / inner)) { start, end in
            // Decompose the first run's index into a multi-index over the outer dimensions.
            var index = [Int](repeating: 0, count: rank)
            var remainder = start
            var offsetX = 0
            var offsetY = 0
            for axis in stride(from: rank - 2, through: 0, by: -1) {
                index[axis] = remainder % shape[axis]
                remainder /= shape[axis]
                offsetX += index[axis] * stridesX[axis]
                offsetY += index[axis] * stridesY[axis]
            }
            for run in start..<end {
                body(run * inner, (offsetX, offsetY), innerStrides, inner)
                var axis = rank - 2
                while axis >= 0 {
                    index[axis] += 1
                    offsetX += stridesX[axis]
                    offsetY += stridesY[axis]
                    if index[axis] < shape[axis] { break }
                    offsetX -= stridesX[axis] * shape[axis]
                    offsetY -= stridesY[axis] * shape[axis]
                    index[axis] = 0
                    axis -= 1
                }
            }
        }
    }
}

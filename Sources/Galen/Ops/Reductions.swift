import Foundation

// Reductions over axes: sum, mean, var, max, min, argmax, argmin.
// Every reduction views its input as (outer, n, inner) with the reduced axes merged into n.

/// Shape bookkeeping for reducing a contiguous block of axes.
struct ReductionLayout {
    let outer: Int
    let n: Int
    let inner: Int
    /// The result's shape with the reduced axes kept as size 1.
    let keptShape: [Int]

    init(shape: [Int], axes range: ClosedRange<Int>) {
        outer = Shape.count(Array(shape[..<range.lowerBound]))
        n = Shape.count(Array(shape[range]))
        inner = Shape.count(Array(shape[(range.upperBound + 1)...]))
        var kept = shape
        for axis in range { kept[axis] = 1 }
        keptShape = kept
    }
}

/// Sums `n` contiguous values, in blocks of Float SIMD lanes combined in Double: fast and accurate
/// to a few ulp even for ten million elements.
@inline(__always)
func sumContiguous(_ x: UnsafePointer<Float>, _ n: Int) -> Double {
    var total = 0.0
    var start = 0
    while start < n {
        let end = Swift.min(start + 4096, n)
        var lanes = SIMD8<Float>()
        var i = start
        while i + 8 <= end {
            lanes += UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
            i += 8
        }
        var block = lanes.sum()
        while i < end {
            block += x[i]
            i += 1
        }
        total += Double(block)
        start = end
    }
    return total
}

/// out[o, i] = Σ_k x[o, k, i] for a contiguous x.
func sumKernel(_ x: UnsafePointer<Float>, _ layout: ReductionLayout, into out: UnsafeMutablePointer<Float>) {
    let (outer, n, inner) = (layout.outer, layout.n, layout.inner)
    if inner == 1 {
        if outer == 1 {
            // One long row: each thread sums its own range; partials are combined in range order.
            let parts = Threads.count
            var partials = [Double](repeating: 0, count: parts)
            partials.withUnsafeMutableBufferPointer { buffer in
                let p = buffer.baseAddress!
                parallelRanges(count: parts, grain: 1) { first, last in
                    for part in first..<last {
                        let start = n * part / parts
                        let end = n * (part + 1) / parts
                        p[part] = sumContiguous(x + start, end - start)
                    }
                }
            }
            out[0] = Float(partials.reduce(0, +))
            return
        }
        parallelRanges(count: outer, grain: Swift.max(1, elementwiseGrain / Swift.max(n, 1))) { start, end in
            for o in start..<end { out[o] = Float(sumContiguous(x + o * n, n)) }
        }
        return
    }
    parallelRanges(count: outer, grain: Swift.max(1, elementwiseGrain / Swift.max(n * inner, 1))) { start, end in
        for o in start..<end {
            let row = out + o * inner
            row.update(repeating: 0, count: inner)
            for k in 0..<n {
                let source = x + (o * n + k) * inner
                for i in 0..<inner { row[i] += source[i] }
            }
        }
    }
}

extension Tensor {
    /// Normalized, sorted, de-duplicated axes; all axes when `axes` is nil.
    func reductionAxes(_ axes: [Int]?, op: String) -> [Int] {
        guard let axes else { return Array(0..<rank) }
        let normalized = axes.map { Shape.normalize(axis: $0, rank: rank, op: op, shape: shape) }
        return Array(Set(normalized)).sorted()
    }

    /// The sum over `axes` (all when nil), keeping reduced axes as size 1 when `keepDims`.
    public func sum(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        let axes = reductionAxes(axes, op: "sum")
        if axes.isEmpty || rank == 0 { return self.reshaped(shape) }
        var current = contiguousValues()
        // Reduce maximal runs of adjacent axes, last run first so earlier axis numbers stay valid.
        var runs: [ClosedRange<Int>] = []
        for axis in axes {
            if let last = runs.last, last.upperBound + 1 == axis {
                runs[runs.count - 1] = last.lowerBound...axis
            } else {
                runs.append(axis...axis)
            }
        }
        for run in runs.reversed() {
            let layout = ReductionLayout(shape: current.shape, axes: run)
            let out = Tensor(uninitializedShape: layout.keptShape)
            withExtendedLifetime(current) { sumKernel(current.pointer, layout, into: out.pointer) }
            current = out
        }
        let keptShape = current.shape
        let resultShape = keepDims ? keptShape : shape.enumerated().filter { !axes.contains($0.offset) }.map(\.element)
        let result = Tensor(storage: current.storage, shape: resultShape)
        let inputShape = shape
        return record(result, "sum", [self]) { g in [g.reshaped(keptShape).expanded(to: inputShape)] }
    }

    /// Sum over one axis.
    public func sum(axis: Int, keepDims: Bool = false) -> Tensor { sum(axes: [axis], keepDims: keepDims) }

    /// The mean over `axes` (all when nil).
    public func mean(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        let axes = reductionAxes(axes, op: "mean")
        let n = axes.reduce(1) { $0 * shape[$1] }
        return sum(axes: axes, keepDims: keepDims) / Float(n)
    }

    /// Mean over one axis.
    public func mean(axis: Int, keepDims: Bool = false) -> Tensor { mean(axes: [axis], keepDims: keepDims) }

    /// The variance over `axes` with Bessel's `correction` (1 = unbiased, PyTorch's default).
    public func variance(axes: [Int]? = nil, correction: Int = 1, keepDims: Bool = false) -> Tensor {
        let axes = reductionAxes(axes, op: "var")
        let n = axes.reduce(1) { $0 * shape[$1] }
        let centered = self - mean(axes: axes, keepDims: true)
        return (centered * centered).sum(axes: axes, keepDims: keepDims) / Float(Swift.max(n - correction, 0))
    }

    /// Variance over one axis.
    public func variance(axis: Int, correction: Int = 1, keepDims: Bool = false) -> Tensor {
        variance(axes: [axis], correction: correction, keepDims: keepDims)
    }

    /// The largest value along `axis` and where it is (first occurrence).
    public func max(axis: Int, keepDims: Bool = false) -> (values: Tensor, indices: IntTensor) {
        extremum(axis: axis, keepDims: keepDims, largest: true)
    }

    /// The smallest value along `axis` and where it is (first occurrence).
    public func min(axis: Int, keepDims: Bool = false) -> (values: Tensor, indices: IntTensor) {
        extremum(axis: axis, keepDims: keepDims, largest: false)
    }

    /// The largest element; its gradient goes to the first maximal element.
    public func max() -> Tensor { reshaped([count]).max(axis: 0).values }

    /// The smallest element; its gradient goes to the first minimal element.
    public func min() -> Tensor { reshaped([count]).min(axis: 0).values }

    /// Index of the largest value along `axis` (of the flattened tensor when nil).
    public func argmax(axis: Int? = nil, keepDims: Bool = false) -> IntTensor {
        guard let axis else { return noGrad { reshaped([count]).max(axis: 0).indices } }
        return noGrad { self.max(axis: axis, keepDims: keepDims).indices }
    }

    /// Index of the smallest value along `axis` (of the flattened tensor when nil).
    public func argmin(axis: Int? = nil, keepDims: Bool = false) -> IntTensor {
        guard let axis else { return noGrad { reshaped([count]).min(axis: 0).indices } }
        return noGrad { self.min(axis: axis, keepDims: keepDims).indices }
    }

    private func extremum(axis: Int, keepDims: Bool, largest: Bool) -> (values: Tensor, indices: IntTensor) {
        let op = largest ? "max" : "min"
        let axis = Shape.normalize(axis: axis, rank: rank, op: op, shape: shape)
        check(rank > 0 && shape[axis] > 0, "\(op): cannot reduce an empty axis of shape \(shape)")
        let x = contiguousValues()
        defer { withExtendedLifetime(x) {} }
        let layout = ReductionLayout(shape: shape, axes: axis...axis)
        let values = Tensor(uninitializedShape: layout.keptShape)
        var indices = [Int](repeating: 0, count: layout.outer * layout.inner)
        let (outer, n, inner) = (layout.outer, layout.n, layout.inner)
        let source = x.pointer
        let out = values.pointer
        indices.withUnsafeMutableBufferPointer { buffer in
            let index = buffer.baseAddress!
            for o in 0..<outer {
                for i in 0..<inner {
                    let base = source + o * n * inner + i
                    var best = base[0]
                    var bestIndex = 0
                    for k in 1..<n {
                        let v = base[k * inner]
                        // NaN propagates, as in PyTorch.
                        if (largest ? v > best : v < best) || (v.isNaN && !best.isNaN) {
                            best = v
                            bestIndex = k
                        }
                    }
                    out[o * inner + i] = best
                    index[o * inner + i] = bestIndex
                }
            }
        }
        var resultShape = shape
        if keepDims { resultShape[axis] = 1 } else { resultShape.remove(at: axis) }
        let result = Tensor(storage: values.storage, shape: resultShape)
        let inputShape = shape
        let positions = indices
        return (
            record(result, op, [self]) { g in
                let gradient = Tensor.zeros(inputShape)
                let gv = g.contiguousValues()
                for o in 0..<outer {
                    for i in 0..<inner {
                        gradient.pointer[(o * n + positions[o * inner + i]) * inner + i] += gv.pointer[o * inner + i]
                    }
                }
                return [gradient]
            },
            IntTensor(indices, shape: resultShape)
        )
    }
}

// Slicing and indexing: narrow/slice/select (strided views), gather, indexSelect, scatterAdd,
// where and maskedFill, and the comparisons that make masks.

extension Tensor {
    /// Elements start, start+step, … before `end` along `axis`, as a view (PyTorch's x[..., a:b:s]).
    /// Negative `start`/`end` count from the end; both are clamped to the axis like Python slices.
    public func slice(axis: Int, start: Int = 0, end: Int? = nil, step: Int = 1) -> Tensor {
        let a = Shape.normalize(axis: axis, rank: rank, op: "slice", shape: shape)
        check(step > 0, "slice: step \(step) must be positive")
        let size = shape[a]
        func clampIndex(_ i: Int) -> Int { Swift.min(Swift.max(i < 0 ? i + size : i, 0), size) }
        let from = clampIndex(start)
        let to = Swift.max(clampIndex(end ?? size), from)
        var newShape = shape
        newShape[a] = (to - from + step - 1) / step
        var newStrides = strides
        newStrides[a] = strides[a] * step
        let result = Tensor(
            storage: storage, shape: newShape, strides: newStrides, offset: offset + from * strides[a])
        let inputShape = shape
        return record(result, "slice", [self]) { g in
            let gradient = Tensor.zeros(inputShape)
            var viewStrides = gradient.strides
            viewStrides[a] *= step
            let view = Tensor(
                storage: gradient.storage, shape: newShape, strides: viewStrides,
                offset: from * gradient.strides[a])
            let values = g.contiguousValues()
            withExtendedLifetime(values) { addStrided(values.pointer, into: view) }
            return [gradient]
        }
    }

    /// `length` elements from `start` along `axis` (PyTorch's `narrow`).
    public func narrow(axis: Int, start: Int, length: Int) -> Tensor {
        let a = Shape.normalize(axis: axis, rank: rank, op: "narrow", shape: shape)
        check(
            start >= 0 && length >= 0 && start + length <= shape[a],
            "narrow: \(start)..<\(start + length) is outside axis \(axis) of shape \(shape)")
        return slice(axis: a, start: start, end: start + length)
    }

    /// The sub-tensor at `index` along `axis`, which is removed (PyTorch's `select`).
    public func select(axis: Int, index: Int) -> Tensor {
        let a = Shape.normalize(axis: axis, rank: rank, op: "select", shape: shape)
        let i = index < 0 ? index + shape[a] : index
        check(i >= 0 && i < shape[a], "select: index \(index) is out of range for axis \(axis) of shape \(shape)")
        return slice(axis: a, start: i, end: i + 1).squeezed(axis: a)
    }

    /// x[i]: the sub-tensor at `index` along the first axis.
    public subscript(index: Int) -> Tensor { select(axis: 0, index: index) }

    /// x[a..<b]: a range along the first axis.
    public subscript(range: Range<Int>) -> Tensor { narrow(axis: 0, start: range.lowerBound, length: range.count) }

    /// The values at `index` along `axis`: out[i][j][k] = x[i][index[i][j][k]][k] for axis 1.
    /// `index` has the rank of x and is no larger on the other axes (PyTorch's `gather`).
    public func gather(axis: Int, index: IntTensor) -> Tensor {
        let a = Shape.normalize(axis: axis, rank: rank, op: "gather", shape: shape)
        check(
            index.rank == rank && (0..<rank).allSatisfy { $0 == a || index.shape[$0] <= shape[$0] },
            "gather: index of shape \(index.shape) does not fit input of shape \(shape) along axis \(axis)")
        let x = contiguousValues()
        defer { withExtendedLifetime(x) {} }
        let result = Tensor(uninitializedShape: index.shape)
        let positions = scatterPositions(index: index, axis: a, targetShape: shape, op: "gather")
        let source = x.pointer
        let out = result.pointer
        for (i, p) in positions.enumerated() { out[i] = source[p] }
        let inputShape = shape
        return record(result, "gather", [self]) { g in
            let gradient = Tensor.zeros(inputShape)
            let gc = g.contiguousValues()
            defer { withExtendedLifetime(gc) {} }
            let gv = gc.pointer
            for (i, p) in positions.enumerated() { gradient.pointer[p] += gv[i] }
            return [gradient]
        }
    }

    /// A copy with `source` added at `index` along `axis`: self[i][index[i][j][k]][k] += source[i][j][k]
    /// for axis 1 (PyTorch's `scatter_add`, out of place).
    public func scatterAdd(axis: Int, index: IntTensor, source: Tensor) -> Tensor {
        let a = Shape.normalize(axis: axis, rank: rank, op: "scatterAdd", shape: shape)
        check(
            index.rank == rank && source.rank == rank
                && (0..<rank).allSatisfy { index.shape[$0] <= source.shape[$0] && ($0 == a || index.shape[$0] <= shape[$0]) },
            "scatterAdd: index \(index.shape) and source \(source.shape) do not fit shape \(shape) along axis \(axis)")
        let result = copy()
        let positions = scatterPositions(index: index, axis: a, targetShape: shape, op: "scatterAdd")
        // Only the part of source that index covers contributes (PyTorch's rule).
        let sourceView = source.contiguousValues()
        let sourceOffsets = regionOffsets(region: index.shape, within: source.shape)
        for (i, p) in positions.enumerated() { result.pointer[p] += sourceView.pointer[sourceOffsets[i]] }
        let sourceShape = source.shape
        return record(result, "scatterAdd", [self, source]) { g in
            let gc = g.contiguousValues()
            defer { withExtendedLifetime(gc) {} }
            let gv = gc.pointer
            let sourceGradient = Tensor.zeros(sourceShape)
            for (i, p) in positions.enumerated() { sourceGradient.pointer[sourceOffsets[i]] = gv[p] }
            return [g, sourceGradient]
        }
    }

    /// The slices at `index` (1-D) along `axis`, in that order (PyTorch's `index_select`).
    public func indexSelect(axis: Int, index: IntTensor) -> Tensor {
        let a = Shape.normalize(axis: axis, rank: rank, op: "indexSelect", shape: shape)
        check(index.rank == 1, "indexSelect: index must be 1-D, got shape \(index.shape)")
        let size = shape[a]
        for i in index.scalars {
            check(i >= 0 && i < size, "indexSelect: index \(i) is out of range for axis \(axis) of shape \(shape)")
        }
        let layout = ReductionLayout(shape: shape, axes: a...a)
        var newShape = shape
        newShape[a] = index.count
        let x = contiguousValues()
        let result = Tensor(uninitializedShape: newShape)
        let (outer, inner, picks) = (layout.outer, layout.inner, index.scalars)
        for o in 0..<outer {
            for (j, i) in picks.enumerated() {
                (result.pointer + (o * picks.count + j) * inner).update(from: x.pointer + (o * size + i) * inner, count: inner)
            }
        }
        let inputShape = shape
        return record(result, "indexSelect", [self]) { g in
            let gradient = Tensor.zeros(inputShape)
            let gc = g.contiguousValues()
            defer { withExtendedLifetime(gc) {} }
            let gv = gc.pointer
            for o in 0..<outer {
                for (j, i) in picks.enumerated() {
                    let target = gradient.pointer + (o * size + i) * inner
                    let from = gv + (o * picks.count + j) * inner
                    for k in 0..<inner { target[k] += from[k] }
                }
            }
            return [gradient]
        }
    }

    /// Where `mask` is non-zero, `value`; elsewhere self (PyTorch's `masked_fill`).
    public func maskedFill(_ mask: IntTensor, value: Float) -> Tensor {
        Galen.where(mask, Tensor.full([], value), self)
    }
}

/// For each element of `index` (row-major), the flat offset into a contiguous tensor of
/// `targetShape` that it addresses along `axis` (the other coordinates are the element's own).
private func scatterPositions(index: IntTensor, axis: Int, targetShape: [Int], op: String) -> [Int] {
    let targetStrides = Shape.contiguousStrides(targetShape)
    let size = targetShape[axis]
    var positions = [Int](repeating: 0, count: index.count)
    var coordinate = [Int](repeating: 0, count: index.rank)
    for i in 0..<index.count {
        let value = index.scalars[i]
        check(value >= 0 && value < size, "\(op): index \(value) is out of range for axis \(axis) of size \(size)")
        var offset = 0
        for d in 0..<index.rank { offset += (d == axis ? value : coordinate[d]) * targetStrides[d] }
        positions[i] = offset
        var d = index.rank - 1
        while d >= 0 {
            coordinate[d] += 1
            if coordinate[d] < index.shape[d] { break }
            coordinate[d] = 0
            d -= 1
        }
    }
    return positions
}

/// Flat offsets, in a contiguous tensor of `shape`, of the leading `region` corner (row-major).
private func regionOffsets(region: [Int], within shape: [Int]) -> [Int] {
    let strides = Shape.contiguousStrides(shape)
    var offsets: [Int] = []
    offsets.reserveCapacity(Shape.count(region))
    forEachRun(shape: region, strides: strides, offset: 0) { start, _ in
        for k in 0..<(region.last ?? 1) { offsets.append(start + k * (strides.last ?? 1)) }
    }
    return offsets
}

/// Elementwise choice: `a` where `condition` is non-zero, else `b`; all three broadcast.
public func `where`(_ condition: IntTensor, _ a: Tensor, _ b: Tensor) -> Tensor {
    let shape = Shape.broadcast(Shape.broadcast(condition.shape, a.shape, op: "where"), b.shape, op: "where")
    let mask = IntTensor(condition.scalars, shape: condition.shape)
    let maskFloat = Tensor(mask.scalars.map { $0 != 0 ? 1 : 0 }, shape: mask.shape).expanded(to: shape).contiguousValues()
    let x = a.detach().expanded(to: shape).contiguousValues()
    let y = b.detach().expanded(to: shape).contiguousValues()
    let result = Tensor(uninitializedShape: shape)
    for i in 0..<result.count {
        result.pointer[i] = maskFloat.pointer[i] != 0 ? x.pointer[i] : y.pointer[i]
    }
    return record(result, "where", [a, b]) { g in
        let zero = Tensor.zeros([])
        let keepA = Galen.where(condition, g, zero)
        let keepB = Galen.where(condition, zero, g)
        return [a.requiresGrad ? keepA.sumToShape(a.shape) : nil, b.requiresGrad ? keepB.sumToShape(b.shape) : nil]
    }
}

// MARK: Comparisons (masks; not differentiable)

private func compare(_ a: Tensor, _ b: Tensor, op: String, _ predicate: (Float, Float) -> Bool) -> IntTensor {
    let shape = Shape.broadcast(a.shape, b.shape, op: op)
    let x = a.detach().expanded(to: shape).contiguousValues()
    let y = b.detach().expanded(to: shape).contiguousValues()
    var values = [Int](repeating: 0, count: Shape.count(shape))
    for i in 0..<values.count where predicate(x.pointer[i], y.pointer[i]) { values[i] = 1 }
    return IntTensor(values, shape: shape)
}

public func .> (a: Tensor, b: Tensor) -> IntTensor { compare(a, b, op: ".>") { $0 > $1 } }
public func .< (a: Tensor, b: Tensor) -> IntTensor { compare(a, b, op: ".<") { $0 < $1 } }
public func .>= (a: Tensor, b: Tensor) -> IntTensor { compare(a, b, op: ".>=") { $0 >= $1 } }
public func .<= (a: Tensor, b: Tensor) -> IntTensor { compare(a, b, op: ".<=") { $0 <= $1 } }
public func .== (a: Tensor, b: Tensor) -> IntTensor { compare(a, b, op: ".==") { $0 == $1 } }
public func .!= (a: Tensor, b: Tensor) -> IntTensor { compare(a, b, op: ".!=") { $0 != $1 } }
public func .> (a: Tensor, b: Float) -> IntTensor { a .> Tensor(scalar: b) }
public func .< (a: Tensor, b: Float) -> IntTensor { a .< Tensor(scalar: b) }
public func .>= (a: Tensor, b: Float) -> IntTensor { a .>= Tensor(scalar: b) }
public func .<= (a: Tensor, b: Float) -> IntTensor { a .<= Tensor(scalar: b) }
public func .== (a: Tensor, b: Float) -> IntTensor { a .== Tensor(scalar: b) }
public func .!= (a: Tensor, b: Float) -> IntTensor { a .!= Tensor(scalar: b) }

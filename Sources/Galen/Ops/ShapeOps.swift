// Operations that change how elements are arranged, not their values. Transpose, permute and
// expand return strided views that share storage; reshape shares storage when the input is
// contiguous and copies otherwise.

extension Tensor {
    /// The same elements in `newShape`; one dimension may be -1 and is inferred.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var resolved = newShape
        if let unknown = newShape.firstIndex(of: -1) {
            let known = newShape.enumerated().filter { $0.offset != unknown }.reduce(1) { $0 * $1.element }
            check(
                known > 0 && count % known == 0,
                "reshape: cannot infer -1 in \(newShape) for a tensor of shape \(shape)")
            resolved[unknown] = count / known
        }
        check(
            Shape.count(resolved) == count && !resolved.contains { $0 < 0 },
            "reshape: shape \(newShape) does not hold the \(count) elements of shape \(shape)")
        let source = contiguous()
        let result = Tensor(storage: source.storage, shape: resolved, offset: source.offset)
        let inputShape = shape
        return record(result, "reshape", [self]) { g in [g.reshaped(inputShape)] }
    }

    /// Merges axes startAxis…endAxis into one (PyTorch's `flatten`).
    public func flattened(startAxis: Int = 0, endAxis: Int = -1) -> Tensor {
        if rank == 0 { return reshaped([1]) }
        let start = Shape.normalize(axis: startAxis, rank: rank, op: "flatten", shape: shape)
        let end = Shape.normalize(axis: endAxis, rank: rank, op: "flatten", shape: shape)
        check(start <= end, "flatten: startAxis \(startAxis) comes after endAxis \(endAxis) for shape \(shape)")
        let merged = Shape.count(Array(shape[start...end]))
        return reshaped(Array(shape[..<start]) + [merged] + Array(shape[(end + 1)...]))
    }

    /// A view with axes reordered: result axis i is input axis `order[i]`.
    public func permuted(_ order: [Int]) -> Tensor {
        let order = order.map { Shape.normalize(axis: $0, rank: rank, op: "permute", shape: shape) }
        check(
            order.count == rank && Set(order).count == rank,
            "permute: \(order) is not a permutation of the \(rank) axes of shape \(shape)")
        let result = Tensor(
            storage: storage, shape: order.map { shape[$0] }, strides: order.map { strides[$0] }, offset: offset)
        var inverse = [Int](repeating: 0, count: rank)
        for (i, axis) in order.enumerated() { inverse[axis] = i }
        return record(result, "permute", [self]) { g in [g.permuted(inverse)] }
    }

    /// A view with two axes swapped.
    public func transposed(_ axis0: Int = -2, _ axis1: Int = -1) -> Tensor {
        // Like PyTorch's `.t()`, a 0-D or 1-D tensor is its own transpose.
        if rank < 2 { return self }
        let a = Shape.normalize(axis: axis0, rank: rank, op: "transpose", shape: shape)
        let b = Shape.normalize(axis: axis1, rank: rank, op: "transpose", shape: shape)
        var order = Array(0..<rank)
        order.swapAt(a, b)
        return permuted(order)
    }

    /// The matrix transpose of a 2-D tensor.
    public var T: Tensor {
        check(rank == 2, "T: expects a 2-D tensor, got shape \(shape); use transposed(_:_:)")
        return transposed(0, 1)
    }

    /// Removes `axis` if it has size 1, or every size-1 axis when `axis` is nil.
    public func squeezed(axis: Int? = nil) -> Tensor {
        if let axis {
            let a = Shape.normalize(axis: axis, rank: rank, op: "squeeze", shape: shape)
            if shape[a] != 1 { return self }
            var newShape = shape
            newShape.remove(at: a)
            return reshaped(newShape)
        }
        return reshaped(shape.filter { $0 != 1 })
    }

    /// Inserts a size-1 axis at `axis` (which may equal rank, or be negative as in PyTorch).
    public func unsqueezed(axis: Int) -> Tensor {
        let a = axis < 0 ? axis + rank + 1 : axis
        check(a >= 0 && a <= rank, "unsqueeze: axis \(axis) is out of range for shape \(shape)")
        var newShape = shape
        newShape.insert(1, at: a)
        return reshaped(newShape)
    }

    /// A broadcast view of this tensor as `target` (size-1 axes repeat; -1 keeps a size).
    public func expanded(to target: [Int]) -> Tensor {
        check(target.count >= rank, "expand: cannot expand shape \(shape) to fewer axes \(target)")
        let lead = target.count - rank
        var newShape = target
        var newStrides = [Int](repeating: 0, count: target.count)
        for i in 0..<rank {
            let size = shape[i]
            let wanted = target[lead + i] == -1 ? size : target[lead + i]
            check(
                size == wanted || size == 1,
                "expand: the size \(size) of axis \(i) in shape \(shape) cannot expand to \(target)")
            newShape[lead + i] = wanted
            newStrides[lead + i] = size == 1 && wanted != 1 ? 0 : strides[i]
        }
        if newShape == shape { return self }
        let result = Tensor(storage: storage, shape: newShape, strides: newStrides, offset: offset)
        let inputShape = shape
        return record(result, "expand", [self]) { g in [g.sumToShape(inputShape)] }
    }

    /// A broadcast view with the shape of `other`.
    public func expanded(as other: Tensor) -> Tensor { expanded(to: other.shape) }
}

// Joining and splitting along an axis: concat, stack, split, chunk.

/// The tensors joined end to end along `axis`; all other sizes must agree.
public func concat(_ tensors: [Tensor], axis: Int = 0) -> Tensor {
    check(!tensors.isEmpty, "concat: needs at least one tensor")
    let first = tensors[0]
    let axis = Shape.normalize(axis: axis, rank: first.rank, op: "concat", shape: first.shape)
    for t in tensors {
        check(
            t.rank == first.rank
                && (0..<t.rank).allSatisfy { $0 == axis || t.shape[$0] == first.shape[$0] },
            "concat: shape \(t.shape) does not match \(first.shape) outside axis \(axis)")
    }
    let sizes = tensors.map { $0.shape[axis] }
    var shape = first.shape
    shape[axis] = sizes.reduce(0, +)
    let result = Tensor(uninitializedShape: shape)
    let outer = Shape.count(Array(shape[..<axis]))
    let inner = Shape.count(Array(shape[(axis + 1)...]))
    let outRow = shape[axis] * inner
    var column = 0
    for (t, size) in zip(tensors, sizes) {
        let values = t.contiguousValues()
        let width = size * inner
        let destination = result.pointer + column
        withExtendedLifetime(values) {
            for o in 0..<outer {
                (destination + o * outRow).update(from: values.pointer + o * width, count: width)
            }
        }
        column += width
    }
    return record(result, "concat", tensors) { g in
        var start = 0
        return sizes.map { size in
            defer { start += size }
            return g.narrow(axis: axis, start: start, length: size)
        }
    }
}

/// The tensors (all one shape) stacked along a new axis.
public func stack(_ tensors: [Tensor], axis: Int = 0) -> Tensor {
    check(!tensors.isEmpty, "stack: needs at least one tensor")
    for t in tensors {
        check(t.shape == tensors[0].shape, "stack: shape \(t.shape) differs from \(tensors[0].shape)")
    }
    let a = axis < 0 ? axis + tensors[0].rank + 1 : axis
    return concat(tensors.map { $0.unsqueezed(axis: a) }, axis: a)
}

extension Tensor {
    /// Pieces of the given sizes along `axis` (they must add up to the axis size).
    public func split(sizes: [Int], axis: Int = 0) -> [Tensor] {
        let a = Shape.normalize(axis: axis, rank: rank, op: "split", shape: shape)
        check(
            sizes.reduce(0, +) == shape[a],
            "split: sizes \(sizes) do not add up to \(shape[a]), the size of axis \(axis) in \(shape)")
        var start = 0
        return sizes.map { size in
            defer { start += size }
            return narrow(axis: a, start: start, length: size)
        }
    }

    /// Pieces of `size` along `axis`, the last one possibly smaller (PyTorch's `split(int)`).
    public func split(size: Int, axis: Int = 0) -> [Tensor] {
        check(size > 0, "split: size \(size) must be positive")
        let a = Shape.normalize(axis: axis, rank: rank, op: "split", shape: shape)
        let total = shape[a]
        let sizes = stride(from: 0, to: total, by: size).map { Swift.min(size, total - $0) }
        return split(sizes: sizes, axis: a)
    }

    /// At most `chunks` pieces of equal size along `axis` (the last possibly smaller).
    public func chunk(_ chunks: Int, axis: Int = 0) -> [Tensor] {
        check(chunks > 0, "chunk: \(chunks) is not a positive number of chunks")
        let a = Shape.normalize(axis: axis, rank: rank, op: "chunk", shape: shape)
        let size = (shape[a] + chunks - 1) / chunks
        return split(size: Swift.max(size, 1), axis: a)
    }
}

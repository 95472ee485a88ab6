// Padding of the trailing axes (PyTorch's F.pad): constant, reflect, replicate and circular.

/// How `pad` fills the border.
public enum PaddingMode: String, Sendable {
    /// A constant value.
    case constant
    /// Mirror without repeating the edge: [1 2 3] → 3 2 [1 2 3] 2 1.
    case reflect
    /// Repeat the edge: [1 2 3] → 1 1 [1 2 3] 3 3.
    case replicate
    /// Wrap around: [1 2 3] → 2 3 [1 2 3] 1 2.
    case circular
}

/// Pads the trailing axes. `padding` is PyTorch's flat list, last axis first:
/// (left, right) pads the last axis, (left, right, top, bottom) the last two, and so on.
public func pad(_ x: Tensor, _ padding: [Int], mode: PaddingMode = .constant, value: Float = 0) -> Tensor {
    check(
        padding.count % 2 == 0 && padding.count / 2 <= x.rank,
        "pad: padding \(padding) must hold (before, after) pairs for at most \(x.rank) axes of shape \(x.shape)")
    check(padding.allSatisfy { $0 >= 0 }, "pad: negative padding \(padding) is not supported")
    var shape = x.shape
    // For every axis, the source index of each output index (-1 = constant fill).
    var maps: [[Int]] = x.shape.map { Array(0..<$0) }
    for pair in 0..<(padding.count / 2) {
        let axis = x.rank - 1 - pair
        let (before, after) = (padding[2 * pair], padding[2 * pair + 1])
        let size = x.shape[axis]
        if mode == .reflect {
            check(before < size && after < size, "pad: reflect padding \(padding) must be smaller than axis \(axis) of shape \(x.shape)")
        }
        if mode != .constant {
            check(size > 0, "pad: \(mode) padding of an empty axis \(axis) in shape \(x.shape)")
        }
        shape[axis] = size + before + after
        maps[axis] = (0..<shape[axis]).map { out in
            let i = out - before
            if i >= 0 && i < size { return i }
            switch mode {
            case .constant: return -1
            case .replicate: return Swift.min(Swift.max(i, 0), size - 1)
            case .circular: return ((i % size) + size) % size
            case .reflect:
                let period = 2 * (size - 1)
                if period == 0 { return 0 }
                let r = ((i % period) + period) % period
                return r < size ? r : period - r
            }
        }
    }
    let sourceOffsets = padOffsets(maps: maps, sourceShape: x.shape)
    let input = x.contiguousValues()
    let result = Tensor(uninitializedShape: shape)
    for (i, source) in sourceOffsets.enumerated() {
        result.pointer[i] = source < 0 ? value : input.pointer[source]
    }
    let inputShape = x.shape
    return record(result, "pad", [x]) { g in
        let gradient = Tensor.zeros(inputShape)
        let gc = g.contiguousValues()
        defer { withExtendedLifetime(gc) {} }
        let gv = gc.pointer
        for (i, source) in sourceOffsets.enumerated() where source >= 0 {
            gradient.pointer[source] += gv[i]
        }
        return [gradient]
    }
}

/// The flat source offset of every output element (row-major), or -1 where the fill value goes.
private func padOffsets(maps: [[Int]], sourceShape: [Int]) -> [Int] {
    var offsets: [Int] = [0]
    let strides = Shape.contiguousStrides(sourceShape)
    for (axis, map) in maps.enumerated() {
        var next: [Int] = []
        next.reserveCapacity(offsets.count * map.count)
        for base in offsets {
            for source in map {
                next.append(base < 0 || source < 0 ? -1 : base + source * strides[axis])
            }
        }
        offsets = next
    }
    return offsets
}

/// Shape arithmetic shared by the operations: element counts, strides, broadcasting, axes.
public enum Shape {
    /// Number of elements in a tensor of this shape (1 for a scalar).
    @inline(__always)
    public static func count(_ shape: [Int]) -> Int {
        var product = 1
        for size in shape { product &*= size }
        return product
    }

    /// The element count of a shape read from a file: nil when a dimension is negative or the
    /// product overflows, so a corrupt header becomes an error instead of a crash.
    public static func checkedCount(_ shape: [Int]) -> Int? {
        var count = 1
        for dimension in shape {
            guard dimension >= 0 else { return nil }
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard !overflow else { return nil }
            count = product
        }
        return count
    }

    /// Row-major strides for `shape`.
    public static func contiguousStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var running = 1
        for axis in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[axis] = running
            running *= shape[axis]
        }
        return strides
    }

    /// The NumPy/PyTorch broadcast of two shapes; stops naming `op` when they are incompatible.
    public static func broadcast(_ a: [Int], _ b: [Int], op: String) -> [Int] {
        if a == b { return a }
        let rank = max(a.count, b.count)
        var result = [Int](repeating: 1, count: rank)
        for i in 0..<rank {
            let da = i < rank - a.count ? 1 : a[i - (rank - a.count)]
            let db = i < rank - b.count ? 1 : b[i - (rank - b.count)]
            check(
                da == db || da == 1 || db == 1,
                "\(op): shapes \(a) and \(b) cannot be broadcast together (dimension \(i): \(da) vs \(db))")
            result[i] = da == 1 ? db : da
        }
        return result
    }

    /// `axis` (negative counts from the end) as an index in 0..<rank; stops naming `op` if out of range.
    public static func normalize(axis: Int, rank: Int, op: String, shape: [Int]) -> Int {
        let normalized = axis < 0 ? axis + rank : axis
        check(
            normalized >= 0 && normalized < max(rank, 1),
            "\(op): axis \(axis) is out of range for a tensor of shape \(shape)")
        return normalized
    }

    /// Strides that read a tensor of `shape` (row-major) as if it had `target` shape: 0 on broadcast axes.
    static func broadcastStrides(_ shape: [Int], to target: [Int]) -> [Int] {
        let own = contiguousStrides(shape)
        var result = [Int](repeating: 0, count: target.count)
        let lead = target.count - shape.count
        for i in 0..<shape.count where shape[i] != 1 || target[lead + i] == 1 {
            result[lead + i] = shape[i] == 1 ? 0 : own[i]
        }
        return result
    }
}

/// An n-dimensional array of integers: class labels, token ids, gather/scatter indices and masks.
///
/// Integer data never flows through autodiff, so this is a plain value type. Operations that take
/// indices (`gather`, `indexSelect`, `scatterAdd`, `crossEntropy` labels) take an `IntTensor`;
/// comparisons (`x .> 0`) return one holding 0 and 1, which `where` and `maskedFill` accept.
public struct IntTensor: Equatable, Sendable {
    /// The size of each dimension.
    public let shape: [Int]
    /// The values in row-major order.
    public var scalars: [Int]

    /// A tensor holding `scalars` in row-major order with the given shape.
    public init(_ scalars: [Int], shape: [Int]) {
        check(
            Shape.count(shape) == scalars.count,
            "IntTensor(_:shape:): \(scalars.count) values do not fill shape \(shape)")
        self.shape = shape
        self.scalars = scalars
    }

    /// A 1-D tensor holding `scalars`.
    public init(_ scalars: [Int]) {
        self.init(scalars, shape: [scalars.count])
    }

    /// Number of dimensions.
    public var rank: Int { shape.count }
    /// Total number of elements.
    public var count: Int { scalars.count }

    /// 0, 1, …, n-1.
    public static func arange(_ n: Int) -> IntTensor { IntTensor(Array(0..<n)) }

    /// Uniform integers in `range`, drawn from `generator`.
    public static func randint(
        _ range: Range<Int>, shape: [Int], generator: Generator = .default
    ) -> IntTensor {
        let n = Shape.count(shape)
        let values = generator.withStream { stream in
            (0..<n).map { _ in range.lowerBound + stream.nextInt(below: range.count) }
        }
        return IntTensor(values, shape: shape)
    }

    /// The same values with a new shape of the same element count.
    public func reshaped(_ newShape: [Int]) -> IntTensor {
        IntTensor(scalars, shape: newShape)
    }

    /// The values as Float32 (e.g. binary labels as regression targets).
    public func toFloat() -> Tensor {
        Tensor(scalars.map(Float.init), shape: shape)
    }
}

extension Tensor {
    /// The values truncated toward zero as integers (PyTorch's `.long()`).
    public func toInt() -> IntTensor {
        IntTensor(scalars.map { Int($0) }, shape: shape)
    }
}

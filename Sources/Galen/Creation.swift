/// Factory functions: constants, ranges and random tensors.
extension Tensor {
    /// A tensor of `shape` filled with `value`.
    public static func full(_ shape: [Int], _ value: Float) -> Tensor {
        Tensor(storage: TensorStorage(count: Shape.count(shape), repeating: value), shape: shape)
    }

    /// A tensor of `shape` filled with zeros.
    public static func zeros(_ shape: [Int]) -> Tensor { full(shape, 0) }

    /// A tensor of `shape` filled with ones.
    public static func ones(_ shape: [Int]) -> Tensor { full(shape, 1) }

    /// Zeros with the shape of `other`.
    public static func zeros(like other: Tensor) -> Tensor { full(other.shape, 0) }

    /// Ones with the shape of `other`.
    public static func ones(like other: Tensor) -> Tensor { full(other.shape, 1) }

    /// start, start + step, … up to but excluding `end` (PyTorch's `torch.arange`).
    public static func arange(_ start: Float = 0, _ end: Float, step: Float = 1) -> Tensor {
        check(step != 0, "arange: step must not be zero")
        let n = Swift.max(0, Int(((end - start) / step).rounded(.up)))
        let result = Tensor(uninitializedShape: [n])
        for i in 0..<n { result.pointer[i] = start + Float(i) * step }
        return result
    }

    /// The n×m identity-like matrix (ones on the main diagonal).
    public static func eye(_ n: Int, _ m: Int? = nil) -> Tensor {
        let columns = m ?? n
        let result = zeros([n, columns])
        for i in 0..<Swift.min(n, columns) { result.pointer[i * columns + i] = 1 }
        return result
    }

    /// Uniform values in [0, 1).
    public static func rand(_ shape: [Int], generator: Generator = .default) -> Tensor {
        uniform(shape, low: 0, high: 1, generator: generator)
    }

    /// Uniform values in [low, high).
    public static func uniform(
        _ shape: [Int], low: Float, high: Float, generator: Generator = .default
    ) -> Tensor {
        let result = Tensor(uninitializedShape: shape)
        generator.fillUniform(result.pointer, count: result.count, low: low, high: high)
        return result
    }

    /// Normal values with the given mean and standard deviation (standard normal by default).
    public static func randn(
        _ shape: [Int], mean: Float = 0, std: Float = 1, generator: Generator = .default
    ) -> Tensor {
        let result = Tensor(uninitializedShape: shape)
        generator.fillNormal(result.pointer, count: result.count, mean: mean, std: std)
        return result
    }

    /// 1 with probability `probability`, else 0, independently per element.
    public static func bernoulli(
        _ shape: [Int], probability: Float, generator: Generator = .default
    ) -> Tensor {
        let result = Tensor(uninitializedShape: shape)
        let out = result.pointer
        generator.withStream { stream in
            for i in 0..<result.count { out[i] = stream.nextFloat() < probability ? 1 : 0 }
        }
        return result
    }

    /// 1 with the probability held in each element of `probabilities`, else 0.
    public static func bernoulli(_ probabilities: Tensor, generator: Generator = .default) -> Tensor {
        let p = probabilities.contiguousValues()
        let result = Tensor(uninitializedShape: p.shape)
        let out = result.pointer
        generator.withStream { stream in
            for i in 0..<result.count { out[i] = stream.nextFloat() < p.pointer[i] ? 1 : 0 }
        }
        return result
    }
}

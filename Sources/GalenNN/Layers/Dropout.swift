import Galen

/// Zeroes elements with probability p in training and scales the rest by 1/(1−p).
public final class Dropout: Module, Layer, DrawsRandomNumbers {
    public let p: Float
    public let generator: Generator

    public init(p: Float = 0.5, generator: Generator = .default) {
        check(p >= 0 && p <= 1, "Dropout: probability \(p) is outside [0, 1]")
        self.p = p
        self.generator = generator
        super.init()
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { dropout(x, p: p, training: isTraining, generator: generator) }
}

/// Zeroes whole channels of (N, C, H, W) with probability p in training (PyTorch's Dropout2d).
public final class Dropout2d: Module, Layer, DrawsRandomNumbers {
    public let p: Float
    public let generator: Generator

    public init(p: Float = 0.5, generator: Generator = .default) {
        check(p >= 0 && p <= 1, "Dropout2d: probability \(p) is outside [0, 1]")
        self.p = p
        self.generator = generator
        super.init()
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        guard isTraining, p > 0 else { return x }
        check(x.rank >= 3, "Dropout2d: input must be (N, C, H, W) or (C, H, W), got \(x.shape)")
        var maskShape = x.shape
        for axis in (x.rank - 2)..<x.rank { maskShape[axis] = 1 }
        let keep = Tensor.bernoulli(maskShape, probability: 1 - p, generator: generator)
        return x * (keep * (1 / (1 - p)))
    }
}

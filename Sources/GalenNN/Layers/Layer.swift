import Galen

/// A module that maps one tensor to one tensor: what `Sequential` chains.
public protocol Layer: Module {
    func callAsFunction(_ x: Tensor) -> Tensor
}

/// Layers applied in order; state-dict keys are the indices (`0.weight`, `1.running_mean`), as in
/// PyTorch's `nn.Sequential`.
public final class Sequential: Module, Layer {
    public let layers: [any Layer]

    public init(_ layers: [any Layer]) {
        self.layers = layers
        super.init()
    }

    public convenience init(_ layers: any Layer...) { self.init(layers) }

    public override func namedChildren() -> [(String, Module)] {
        layers.enumerated().map { (String($0.offset), $0.element) }
    }

    /// The layers in order; a `BatchNorm` directly followed by a `ReLU` runs as one fused op
    /// (the same values and gradients, one pass and one saved activation fewer).
    public func callAsFunction(_ x: Tensor) -> Tensor {
        var y = x
        var index = 0
        while index < layers.count {
            if let norm = layers[index] as? BatchNorm, index + 1 < layers.count, layers[index + 1] is ReLU {
                y = norm(y, relu: true)
                index += 2
            } else {
                y = layers[index](y)
                index += 1
            }
        }
        return y
    }

    public subscript(index: Int) -> any Layer { layers[index] }
    public var count: Int { layers.count }
}

/// A list of modules registered as children by index (PyTorch's `nn.ModuleList`).
public final class ModuleList: Module {
    public let modules: [Module]

    public init(_ modules: [Module]) {
        self.modules = modules
        super.init()
    }

    public override func namedChildren() -> [(String, Module)] {
        modules.enumerated().map { (String($0.offset), $0.element) }
    }

    public subscript(index: Int) -> Module { modules[index] }
    public var count: Int { modules.count }
}

/// Returns its input.
public final class Identity: Module, Layer {
    public override init() { super.init() }
    public func callAsFunction(_ x: Tensor) -> Tensor { x }
}

/// Merges axes startAxis…endAxis (default: all but the batch axis).
public final class Flatten: Module, Layer {
    public let startAxis: Int
    public let endAxis: Int

    public init(startAxis: Int = 1, endAxis: Int = -1) {
        self.startAxis = startAxis
        self.endAxis = endAxis
        super.init()
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { x.flattened(startAxis: startAxis, endAxis: endAxis) }
}

// MARK: Activations

/// max(x, 0).
public final class ReLU: Module, Layer {
    public override init() { super.init() }
    public func callAsFunction(_ x: Tensor) -> Tensor { relu(x) }
}

/// x for x > 0, otherwise negativeSlope · x.
public final class LeakyReLU: Module, Layer {
    public let negativeSlope: Float
    public init(negativeSlope: Float = 0.01) {
        self.negativeSlope = negativeSlope
        super.init()
    }
    public func callAsFunction(_ x: Tensor) -> Tensor { leakyRelu(x, negativeSlope: negativeSlope) }
}

/// x for x > 0, otherwise alpha · (e^x − 1).
public final class ELU: Module, Layer {
    public let alpha: Float
    public init(alpha: Float = 1) {
        self.alpha = alpha
        super.init()
    }
    public func callAsFunction(_ x: Tensor) -> Tensor { elu(x, alpha: alpha) }
}

/// x · Φ(x).
public final class GELU: Module, Layer {
    public let approximate: GeluApproximation
    public init(approximate: GeluApproximation = .none) {
        self.approximate = approximate
        super.init()
    }
    public func callAsFunction(_ x: Tensor) -> Tensor { gelu(x, approximate: approximate) }
}

/// x · sigmoid(x).
public final class SiLU: Module, Layer {
    public override init() { super.init() }
    public func callAsFunction(_ x: Tensor) -> Tensor { silu(x) }
}

/// 1 / (1 + e^−x).
public final class Sigmoid: Module, Layer {
    public override init() { super.init() }
    public func callAsFunction(_ x: Tensor) -> Tensor { sigmoid(x) }
}

/// Hyperbolic tangent.
public final class Tanh: Module, Layer {
    public override init() { super.init() }
    public func callAsFunction(_ x: Tensor) -> Tensor { tanh(x) }
}

/// Softmax along `axis`.
public final class Softmax: Module, Layer {
    public let axis: Int
    public init(axis: Int = -1) {
        self.axis = axis
        super.init()
    }
    public func callAsFunction(_ x: Tensor) -> Tensor { softmax(x, axis: axis) }
}

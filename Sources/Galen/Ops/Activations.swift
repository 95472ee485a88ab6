import Foundation

// Activation functions (PyTorch's torch.nn.functional definitions), forward and backward.
// Backward passes are fused kernels of (upstream gradient, saved input or output).

struct ReluKernel: UnaryKernel { @inline(__always) func callAsFunction(_ x: Float) -> Float { x > 0 ? x : 0 } }
struct ReluGradKernel: BinaryKernel {
    @inline(__always) func callAsFunction(_ g: Float, _ x: Float) -> Float { x > 0 ? g : 0 }
}
struct LeakyReluKernel: UnaryKernel {
    let slope: Float
    @inline(__always) func callAsFunction(_ x: Float) -> Float { x > 0 ? x : x * slope }
}
struct LeakyReluGradKernel: BinaryKernel {
    let slope: Float
    @inline(__always) func callAsFunction(_ g: Float, _ x: Float) -> Float { x > 0 ? g : g * slope }
}
struct EluKernel: UnaryKernel {
    let alpha: Float
    @inline(__always) func callAsFunction(_ x: Float) -> Float { x > 0 ? x : alpha * Foundation.expm1(x) }
}
struct EluGradKernel: BinaryKernel {
    let alpha: Float
    @inline(__always) func callAsFunction(_ g: Float, _ x: Float) -> Float { x > 0 ? g : g * alpha * Foundation.exp(x) }
}
struct GeluKernel: UnaryKernel {
    @inline(__always) func callAsFunction(_ x: Float) -> Float { 0.5 * x * (1 + Foundation.erf(x * 0.707_106_77)) }
}
struct GeluGradKernel: BinaryKernel {
    @inline(__always) func callAsFunction(_ g: Float, _ x: Float) -> Float {
        let cdf = 0.5 * (1 + Foundation.erf(x * 0.707_106_77))
        let pdf = 0.398_942_28 * Foundation.exp(-0.5 * x * x)
        return g * (cdf + x * pdf)
    }
}
/// GELU with the tanh approximation (PyTorch's approximate='tanh').
struct GeluTanhKernel: UnaryKernel {
    @inline(__always) func callAsFunction(_ x: Float) -> Float {
        0.5 * x * (1 + Foundation.tanh(0.797_884_6 * (x + 0.044_715 * x * x * x)))
    }
}
struct GeluTanhGradKernel: BinaryKernel {
    @inline(__always) func callAsFunction(_ g: Float, _ x: Float) -> Float {
        let inner = 0.797_884_6 * (x + 0.044_715 * x * x * x)
        let t = Foundation.tanh(inner)
        let dInner = 0.797_884_6 * (1 + 3 * 0.044_715 * x * x)
        return g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * dInner)
    }
}
struct SigmoidGradKernel: BinaryKernel {
    @inline(__always) func callAsFunction(_ g: Float, _ y: Float) -> Float { g * y * (1 - y) }
}
struct TanhGradKernel: BinaryKernel {
    @inline(__always) func callAsFunction(_ g: Float, _ y: Float) -> Float { g * (1 - y * y) }
}
struct SoftplusKernel: UnaryKernel {
    let beta: Float
    let threshold: Float
    @inline(__always) func callAsFunction(_ x: Float) -> Float {
        x * beta > threshold ? x : Foundation.log1p(Foundation.exp(x * beta)) / beta
    }
}
struct SoftplusGradKernel: BinaryKernel {
    let beta: Float
    let threshold: Float
    @inline(__always) func callAsFunction(_ g: Float, _ x: Float) -> Float {
        x * beta > threshold ? g : g / (1 + Foundation.exp(-x * beta))
    }
}
struct SiluGradKernel: BinaryKernel {
    @inline(__always) func callAsFunction(_ g: Float, _ x: Float) -> Float {
        let s = 1 / (1 + Foundation.exp(-x))
        return g * s * (1 + x * (1 - s))
    }
}

/// max(x, 0).
public func relu(_ x: Tensor) -> Tensor {
    record(mapUnary(x, ReluKernel()), "relu", [x]) { g in [mapBinary(g, x, ReluGradKernel(), op: "relu backward")] }
}

/// x for x > 0, otherwise slope · x.
public func leakyRelu(_ x: Tensor, negativeSlope: Float = 0.01) -> Tensor {
    let result = mapUnary(x, LeakyReluKernel(slope: negativeSlope))
    return record(result, "leakyRelu", [x]) { g in
        [mapBinary(g, x, LeakyReluGradKernel(slope: negativeSlope), op: "leakyRelu backward")]
    }
}

/// x for x > 0, otherwise alpha · (e^x − 1).
public func elu(_ x: Tensor, alpha: Float = 1) -> Tensor {
    let result = mapUnary(x, EluKernel(alpha: alpha))
    return record(result, "elu", [x]) { g in [mapBinary(g, x, EluGradKernel(alpha: alpha), op: "elu backward")] }
}

/// How `gelu` evaluates the Gaussian CDF.
public enum GeluApproximation: Sendable {
    /// The exact erf form (PyTorch's default).
    case none
    /// The tanh approximation used by BERT and GPT-2.
    case tanh
}

/// x · Φ(x), with Φ the standard normal CDF.
public func gelu(_ x: Tensor, approximate: GeluApproximation = .none) -> Tensor {
    switch approximate {
    case .none:
        return record(mapUnary(x, GeluKernel()), "gelu", [x]) { g in
            [mapBinary(g, x, GeluGradKernel(), op: "gelu backward")]
        }
    case .tanh:
        return record(mapUnary(x, GeluTanhKernel()), "gelu", [x]) { g in
            [mapBinary(g, x, GeluTanhGradKernel(), op: "gelu backward")]
        }
    }
}

/// 1 / (1 + e^−x).
public func sigmoid(_ x: Tensor) -> Tensor {
    let result = mapVectorized(x) { VectorMath.sigmoid($0, $1, count: $2) }
    let saved = result.detach()
    return record(result, "sigmoid", [x]) { g in
        [mapBinary(g, saved, SigmoidGradKernel(), op: "sigmoid backward")]
    }
}

/// Hyperbolic tangent.
public func tanh(_ x: Tensor) -> Tensor {
    let result = mapVectorized(x) { VectorMath.tanh($0, $1, count: $2) }
    let saved = result.detach()
    return record(result, "tanh", [x]) { g in
        [mapBinary(g, saved, TanhGradKernel(), op: "tanh backward")]
    }
}

/// log(1 + e^(beta·x)) / beta, linear above `threshold` for stability (PyTorch's definition).
public func softplus(_ x: Tensor, beta: Float = 1, threshold: Float = 20) -> Tensor {
    let result = mapUnary(x, SoftplusKernel(beta: beta, threshold: threshold))
    return record(result, "softplus", [x]) { g in
        [mapBinary(g, x, SoftplusGradKernel(beta: beta, threshold: threshold), op: "softplus backward")]
    }
}

/// x · sigmoid(x) (also called swish).
public func silu(_ x: Tensor) -> Tensor {
    let result = noGrad { x.detach() * sigmoid(x.detach()) }
    return record(result, "silu", [x]) { g in [mapBinary(g, x, SiluGradKernel(), op: "silu backward")] }
}

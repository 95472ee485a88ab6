import Foundation

// Arithmetic with broadcasting, and elementwise math: forward and backward side by side.
// A gradient flowing to a broadcast operand is summed back to its shape (`sumToShape`).

struct AddKernel: BinaryKernel { @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a + b } }
struct SubKernel: BinaryKernel { @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a - b } }
struct MulKernel: BinaryKernel { @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a * b } }
struct DivKernel: BinaryKernel { @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a / b } }
struct PowKernel: BinaryKernel { @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { Foundation.pow(a, b) } }

struct AddScalarKernel: UnaryKernel {
    let value: Float
    @inline(__always) func callAsFunction(_ x: Float) -> Float { x + value }
}
struct MulScalarKernel: UnaryKernel {
    let value: Float
    @inline(__always) func callAsFunction(_ x: Float) -> Float { x * value }
}
struct ReciprocalTimesKernel: UnaryKernel {
    let value: Float
    @inline(__always) func callAsFunction(_ x: Float) -> Float { value / x }
}
struct PowScalarKernel: UnaryKernel {
    let exponent: Float
    @inline(__always) func callAsFunction(_ x: Float) -> Float {
        exponent == 2 ? x * x : Foundation.pow(x, exponent)
    }
}

extension Tensor {
    /// The gradient of a broadcast result summed back to `target`, the operand's shape.
    func sumToShape(_ target: [Int]) -> Tensor {
        if shape == target { return self }
        let lead = rank - target.count
        var axes = Array(0..<lead)
        for i in 0..<target.count where target[i] == 1 && shape[lead + i] != 1 {
            axes.append(lead + i)
        }
        return sum(axes: axes, keepDims: true).reshaped(target)
    }
}

// MARK: Tensor ⊕ Tensor

public func + (a: Tensor, b: Tensor) -> Tensor {
    let result = mapBinary(a, b, AddKernel(), op: "add")
    return record(result, "add", [a, b]) { g in [g.sumToShape(a.shape), g.sumToShape(b.shape)] }
}

public func - (a: Tensor, b: Tensor) -> Tensor {
    let result = mapBinary(a, b, SubKernel(), op: "sub")
    return record(result, "sub", [a, b]) { g in [g.sumToShape(a.shape), (-g).sumToShape(b.shape)] }
}

public func * (a: Tensor, b: Tensor) -> Tensor {
    let result = mapBinary(a, b, MulKernel(), op: "mul")
    return record(result, "mul", [a, b]) { g in
        [a.requiresGrad ? (g * b).sumToShape(a.shape) : nil,
         b.requiresGrad ? (g * a).sumToShape(b.shape) : nil]
    }
}

public func / (a: Tensor, b: Tensor) -> Tensor {
    let result = mapBinary(a, b, DivKernel(), op: "div")
    return record(result, "div", [a, b]) { g in
        let ga = g / b
        return [a.requiresGrad ? ga.sumToShape(a.shape) : nil,
                b.requiresGrad ? (-ga * a / b).sumToShape(b.shape) : nil]
    }
}

// MARK: Tensor ⊕ scalar

public func + (a: Tensor, b: Float) -> Tensor {
    record(mapUnary(a, AddScalarKernel(value: b)), "add", [a]) { g in [g] }
}
public func + (a: Float, b: Tensor) -> Tensor { b + a }
public func - (a: Tensor, b: Float) -> Tensor { a + (-b) }
public func - (a: Float, b: Tensor) -> Tensor {
    record(mapUnary(b, LinearKernel(scale: -1, shift: a)), "rsub", [b]) { g in [-g] }
}
public func * (a: Tensor, b: Float) -> Tensor {
    record(mapUnary(a, MulScalarKernel(value: b)), "mul", [a]) { g in [g * b] }
}
public func * (a: Float, b: Tensor) -> Tensor { b * a }
public func / (a: Tensor, b: Float) -> Tensor { a * (1 / b) }
public func / (a: Float, b: Tensor) -> Tensor {
    let result = mapUnary(b, ReciprocalTimesKernel(value: a))
    let saved = result.detach()
    return record(result, "rdiv", [b]) { g in [-g * saved / b] }
}

public prefix func - (a: Tensor) -> Tensor {
    record(mapUnary(a, MulScalarKernel(value: -1)), "neg", [a]) { g in [-g] }
}

public func += (a: inout Tensor, b: Tensor) { a = a + b }
public func -= (a: inout Tensor, b: Tensor) { a = a - b }
public func *= (a: inout Tensor, b: Tensor) { a = a * b }
public func /= (a: inout Tensor, b: Tensor) { a = a / b }

struct LinearKernel: UnaryKernel {
    let scale: Float
    let shift: Float
    @inline(__always) func callAsFunction(_ x: Float) -> Float { x * scale + shift }
}

// MARK: Elementwise math

struct SqrtKernel: UnaryKernel { @inline(__always) func callAsFunction(_ x: Float) -> Float { x.squareRoot() } }
struct LogKernel: UnaryKernel { @inline(__always) func callAsFunction(_ x: Float) -> Float { Foundation.log(x) } }
struct AbsKernel: UnaryKernel { @inline(__always) func callAsFunction(_ x: Float) -> Float { Swift.abs(x) } }
struct SignKernel: UnaryKernel {
    @inline(__always) func callAsFunction(_ x: Float) -> Float { x > 0 ? 1 : (x < 0 ? -1 : 0) }
}
struct ClampKernel: UnaryKernel {
    let low: Float
    let high: Float
    @inline(__always) func callAsFunction(_ x: Float) -> Float { Swift.min(Swift.max(x, low), high) }
}
/// Passes the gradient where low ≤ x ≤ high (PyTorch's clamp backward, bounds inclusive).
struct ClampGradKernel: BinaryKernel {
    let low: Float
    let high: Float
    @inline(__always) func callAsFunction(_ g: Float, _ x: Float) -> Float { x >= low && x <= high ? g : 0 }
}

extension Tensor {
    /// Raises each element to a constant power.
    public func pow(_ exponent: Float) -> Tensor {
        let result = mapUnary(self, PowScalarKernel(exponent: exponent))
        return record(result, "pow", [self]) { g in
            [exponent == 2 ? g * self * 2 : g * self.pow(exponent - 1) * exponent]
        }
    }

    /// Raises each element to the power in `exponent` (broadcast).
    public func pow(_ exponent: Tensor) -> Tensor {
        let result = mapBinary(self, exponent, PowKernel(), op: "pow")
        let saved = result.detach()
        return record(result, "pow", [self, exponent]) { g in
            [self.requiresGrad ? (g * exponent * self.pow(exponent - 1)).sumToShape(self.shape) : nil,
             exponent.requiresGrad ? (g * saved * self.log()).sumToShape(exponent.shape) : nil]
        }
    }

    /// Square root.
    public func sqrt() -> Tensor {
        let result = mapUnary(self, SqrtKernel())
        let saved = result.detach()
        return record(result, "sqrt", [self]) { g in [g / (saved * 2)] }
    }

    /// e^x.
    public func exp() -> Tensor {
        let result = mapVectorized(self) { VectorMath.exp($0, $1, count: $2) }
        let saved = result.detach()
        return record(result, "exp", [self]) { g in [g * saved] }
    }

    /// Natural logarithm.
    public func log() -> Tensor {
        record(mapUnary(self, LogKernel()), "log", [self]) { g in [g / self] }
    }

    /// Absolute value; the gradient at 0 is 0, as in PyTorch.
    public func abs() -> Tensor {
        record(mapUnary(self, AbsKernel()), "abs", [self]) { g in [g * mapUnary(self, SignKernel())] }
    }

    /// -1, 0 or 1 by the sign of each element (not differentiable: its gradient is zero).
    public func sign() -> Tensor {
        let result = mapUnary(self, SignKernel())
        return record(result, "sign", [self]) { g in [Tensor.zeros(like: g)] }
    }

    /// Limits each element to [min, max]; either bound may be omitted.
    public func clamp(min low: Float? = nil, max high: Float? = nil) -> Tensor {
        let lo = low ?? -.infinity
        let hi = high ?? .infinity
        check(!(lo > hi), "clamp: min \(lo) is greater than max \(hi)")
        let result = mapUnary(self, ClampKernel(low: lo, high: hi))
        return record(result, "clamp", [self]) { g in
            [mapBinary(g, self, ClampGradKernel(low: lo, high: hi), op: "clamp backward")]
        }
    }

    /// Elementwise square (x · x).
    public func square() -> Tensor { pow(2) }
}

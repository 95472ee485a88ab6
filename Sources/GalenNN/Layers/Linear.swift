import Galen

/// y = x · Wᵀ + b, weight (out, in), initialized like PyTorch (U(±1/√in) for weight and bias).
public final class Linear: Module, Layer {
    public let weight: Tensor
    public let bias: Tensor?

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true) {
        check(inFeatures > 0 && outFeatures > 0, "Linear: features must be positive, got \(inFeatures) → \(outFeatures)")
        weight = Tensor.zeros([outFeatures, inFeatures]).requiringGrad()
        self.bias = bias ? Tensor.zeros([outFeatures]).requiringGrad() : nil
        super.init()
        resetParameters()
    }

    /// PyTorch's default: kaiming_uniform(a=√5) for the weight, which is U(±1/√in), and the same
    /// bound for the bias.
    public func resetParameters() {
        Init.kaimingUniform(weight, nonlinearity: .leakyRelu(negativeSlope: Float(5).squareRoot()))
        if let bias {
            let bound = 1 / Float(weight.shape[1]).squareRoot()
            Init.uniform(bias, low: -bound, high: bound)
        }
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { linear(x, weight: weight, bias: bias) }
}

/// y_k = x1ᵀ · A_k · x2 + b_k, weight (out, in1, in2) (PyTorch's `nn.Bilinear`).
public final class Bilinear: Module {
    public let weight: Tensor
    public let bias: Tensor?

    public init(_ in1: Int, _ in2: Int, _ outFeatures: Int, bias: Bool = true) {
        weight = Tensor.zeros([outFeatures, in1, in2]).requiringGrad()
        self.bias = bias ? Tensor.zeros([outFeatures]).requiringGrad() : nil
        super.init()
        let bound = 1 / Float(in1).squareRoot()
        Init.uniform(weight, low: -bound, high: bound)
        if let b = self.bias { Init.uniform(b, low: -bound, high: bound) }
    }

    public func callAsFunction(_ x1: Tensor, _ x2: Tensor) -> Tensor { bilinear(x1, x2, weight: weight, bias: bias) }
}

/// y_k = x1ᵀ · A_k · x2 + b_k (PyTorch's `F.bilinear`): x1 (…, in1), x2 (…, in2), weight (out, in1, in2).
public func bilinear(_ x1: Tensor, _ x2: Tensor, weight: Tensor, bias: Tensor? = nil) -> Tensor {
    check(weight.rank == 3, "bilinear: weight must be (out, in1, in2), got \(weight.shape)")
    let (out, in1, in2) = (weight.shape[0], weight.shape[1], weight.shape[2])
    check(x1.shape.last == in1 && x2.shape.last == in2 && x1.shape.dropLast() == x2.shape.dropLast(),
          "bilinear: inputs \(x1.shape) and \(x2.shape) do not fit weight \(weight.shape)")
    let batch = Array(x1.shape.dropLast())
    // (…, in1) · (in1, out·in2) → (…, out, in2), then contract in2 with x2.
    let mixed = matmul(x1, weight.permuted([1, 0, 2]).reshaped([in1, out * in2])).reshaped(batch + [out, in2])
    let y = (mixed * x2.unsqueezed(axis: -2)).sum(axis: -1)
    return bias.map { y + $0 } ?? y
}

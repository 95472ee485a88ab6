import Galen

/// Shared init of convolution weights: PyTorch's kaiming_uniform(a=√5) = U(±1/√fanIn), bias alike.
private func resetConvolution(weight: Tensor, bias: Tensor?) {
    Init.kaimingUniform(weight, nonlinearity: .leakyRelu(negativeSlope: Float(5).squareRoot()))
    if let bias {
        let bound = 1 / Float(Init.fans(weight.shape).fanIn).squareRoot()
        Init.uniform(bias, low: -bound, high: bound)
    }
}

/// 2-D convolution over (N, C, H, W); weight (out, in / groups, kH, kW).
public final class Conv2d: Module, Layer {
    public let weight: Tensor
    public let bias: Tensor?
    public let stride: (Int, Int)
    public let padding: (Int, Int)
    public let dilation: (Int, Int)
    public let groups: Int

    public init(
        _ inChannels: Int, _ outChannels: Int, kernelSize: (Int, Int), stride: (Int, Int) = (1, 1),
        padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1, bias: Bool = true
    ) {
        check(groups > 0 && inChannels % groups == 0 && outChannels % groups == 0,
              "Conv2d: \(inChannels) → \(outChannels) channels do not split into \(groups) groups")
        weight = Tensor.zeros([outChannels, inChannels / groups, kernelSize.0, kernelSize.1]).requiringGrad()
        self.bias = bias ? Tensor.zeros([outChannels]).requiringGrad() : nil
        (self.stride, self.padding, self.dilation, self.groups) = (stride, padding, dilation, groups)
        super.init()
        resetConvolution(weight: weight, bias: self.bias)
    }

    public convenience init(
        _ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
        dilation: Int = 1, groups: Int = 1, bias: Bool = true
    ) {
        self.init(inChannels, outChannels, kernelSize: (kernelSize, kernelSize), stride: (stride, stride),
                  padding: (padding, padding), dilation: (dilation, dilation), groups: groups, bias: bias)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }
}

/// 1-D convolution over (N, C, L); weight (out, in / groups, k).
public final class Conv1d: Module, Layer {
    public let weight: Tensor
    public let bias: Tensor?
    public let stride: Int
    public let padding: Int
    public let dilation: Int
    public let groups: Int

    public init(
        _ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
        dilation: Int = 1, groups: Int = 1, bias: Bool = true
    ) {
        check(groups > 0 && inChannels % groups == 0 && outChannels % groups == 0,
              "Conv1d: \(inChannels) → \(outChannels) channels do not split into \(groups) groups")
        weight = Tensor.zeros([outChannels, inChannels / groups, kernelSize]).requiringGrad()
        self.bias = bias ? Tensor.zeros([outChannels]).requiringGrad() : nil
        (self.stride, self.padding, self.dilation, self.groups) = (stride, padding, dilation, groups)
        super.init()
        resetConvolution(weight: weight, bias: self.bias)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        conv1d(x, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }
}

/// Transposed 2-D convolution ("deconvolution"); weight (in, out / groups, kH, kW).
public final class ConvTranspose2d: Module, Layer {
    public let weight: Tensor
    public let bias: Tensor?
    public let stride: (Int, Int)
    public let padding: (Int, Int)
    public let outputPadding: (Int, Int)
    public let dilation: (Int, Int)
    public let groups: Int

    public init(
        _ inChannels: Int, _ outChannels: Int, kernelSize: (Int, Int), stride: (Int, Int) = (1, 1),
        padding: (Int, Int) = (0, 0), outputPadding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1),
        groups: Int = 1, bias: Bool = true
    ) {
        check(groups > 0 && inChannels % groups == 0 && outChannels % groups == 0,
              "ConvTranspose2d: \(inChannels) → \(outChannels) channels do not split into \(groups) groups")
        weight = Tensor.zeros([inChannels, outChannels / groups, kernelSize.0, kernelSize.1]).requiringGrad()
        self.bias = bias ? Tensor.zeros([outChannels]).requiringGrad() : nil
        (self.stride, self.padding, self.outputPadding, self.dilation, self.groups) =
            (stride, padding, outputPadding, dilation, groups)
        super.init()
        resetConvolution(weight: weight, bias: self.bias)
    }

    public convenience init(
        _ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
        outputPadding: Int = 0, groups: Int = 1, bias: Bool = true
    ) {
        self.init(inChannels, outChannels, kernelSize: (kernelSize, kernelSize), stride: (stride, stride),
                  padding: (padding, padding), outputPadding: (outputPadding, outputPadding), groups: groups, bias: bias)
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        convTranspose2d(x, weight: weight, bias: bias, stride: stride, padding: padding,
                        outputPadding: outputPadding, dilation: dilation, groups: groups)
    }
}

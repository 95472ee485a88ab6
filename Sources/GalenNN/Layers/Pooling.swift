import Galen

/// Max pooling of (N, C, H, W).
public final class MaxPool2d: Module, Layer {
    public let kernelSize: (Int, Int)
    public let stride: (Int, Int)
    public let padding: (Int, Int)
    public let ceilMode: Bool

    public init(kernelSize: Int, stride: Int? = nil, padding: Int = 0, ceilMode: Bool = false) {
        self.kernelSize = (kernelSize, kernelSize)
        self.stride = (stride ?? kernelSize, stride ?? kernelSize)
        self.padding = (padding, padding)
        self.ceilMode = ceilMode
        super.init()
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        maxPool2d(x, kernelSize: kernelSize, stride: stride, padding: padding, ceilMode: ceilMode)
    }
}

/// Average pooling of (N, C, H, W).
public final class AvgPool2d: Module, Layer {
    public let kernelSize: (Int, Int)
    public let stride: (Int, Int)
    public let padding: (Int, Int)
    public let ceilMode: Bool
    public let countIncludePad: Bool

    public init(kernelSize: Int, stride: Int? = nil, padding: Int = 0, ceilMode: Bool = false, countIncludePad: Bool = true) {
        self.kernelSize = (kernelSize, kernelSize)
        self.stride = (stride ?? kernelSize, stride ?? kernelSize)
        self.padding = (padding, padding)
        self.ceilMode = ceilMode
        self.countIncludePad = countIncludePad
        super.init()
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        avgPool2d(x, kernelSize: kernelSize, stride: stride, padding: padding, ceilMode: ceilMode,
                  countIncludePad: countIncludePad)
    }
}

/// Average pooling to a fixed output size.
public final class AdaptiveAvgPool2d: Module, Layer {
    public let outputSize: (Int, Int)

    public init(outputSize: (Int, Int)) {
        self.outputSize = outputSize
        super.init()
    }

    public convenience init(_ outputSize: Int) { self.init(outputSize: (outputSize, outputSize)) }

    public func callAsFunction(_ x: Tensor) -> Tensor { adaptiveAvgPool2d(x, outputSize: outputSize) }
}

/// Resizes (N, C, H, W) by a scale factor or to a size, nearest or bilinear.
public final class Upsample: Module, Layer {
    public enum Mode: Sendable { case nearest, bilinear }
    public let size: (Int, Int)?
    public let scaleFactor: (Float, Float)?
    public let mode: Mode
    public let alignCorners: Bool

    public init(size: (Int, Int)? = nil, scaleFactor: Float? = nil, mode: Mode = .nearest, alignCorners: Bool = false) {
        check((size == nil) != (scaleFactor == nil), "Upsample: give exactly one of size and scaleFactor")
        self.size = size
        self.scaleFactor = scaleFactor.map { ($0, $0) }
        self.mode = mode
        self.alignCorners = alignCorners
        super.init()
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        switch mode {
        case .nearest: upsampleNearest2d(x, size: size, scaleFactor: scaleFactor)
        case .bilinear: upsampleBilinear2d(x, size: size, scaleFactor: scaleFactor, alignCorners: alignCorners)
        }
    }
}

import Galen

// Residual networks (He et al., 2016) in the two layouts medical checkpoints come in: the
// MedMNIST v2 "28" layout for small images (a CIFAR-style network) and the torchvision layout
// for ImageNet-sized images. The block math is the same; the stems, the name of the projection
// branch and the head differ, and each class keeps its reference's state-dict keys exactly.

/// Which residual block a ResNet stacks.
public enum ResidualBlockKind: Sendable {
    /// Two 3×3 convolutions (ResNet-18/34).
    case basic
    /// 1×1 reduce, 3×3, 1×1 expand by 4 (ResNet-50/101/152).
    case bottleneck

    /// Output channels of a block per channel of its `planes` width.
    public var expansion: Int { self == .basic ? 1 : 4 }
}

/// Conv 1×1 (stride, no bias) + BatchNorm2d: the projection that matches a residual branch's
/// shape when a block changes width or resolution; nil when the identity already fits.
private func projection(_ inChannels: Int, _ outChannels: Int, stride: Int) -> Sequential? {
    guard stride != 1 || inChannels != outChannels else { return nil }
    return Sequential(Conv2d(inChannels, outChannels, kernelSize: 1, stride: stride, bias: false), BatchNorm2d(outChannels))
}

/// The four stages of a ResNet: stage i has width baseWidth·2^i and `blocks[i]` blocks, the first
/// of which strides by 2 (except in stage 1). `makeBlock(inChannels, planes, stride)` builds one.
private func residualStages(
    _ name: String, kind: ResidualBlockKind, blocks: [Int], baseWidth: Int, makeBlock: (Int, Int, Int) -> any Layer
) -> [Sequential] {
    check(blocks.count == 4 && blocks.allSatisfy { $0 > 0 }, "\(name): needs 4 positive block counts, got \(blocks)")
    check(baseWidth > 0, "\(name): base width must be positive, got \(baseWidth)")
    var inChannels = baseWidth
    return blocks.enumerated().map { stage, count in
        let planes = baseWidth << stage
        let layers = (0..<count).map { index -> any Layer in
            let block = makeBlock(inChannels, planes, index == 0 && stage > 0 ? 2 : 1)
            inChannels = planes * kind.expansion
            return block
        }
        return Sequential(layers)
    }
}

/// Global average pooling: (N, C, H, W) → (N, C).
private func globalAveragePool(_ x: Tensor) -> Tensor { x.mean(axes: [2, 3]) }

// MARK: - MedMNIST "28" layout

/// ResNet in the layout of the MedMNIST v2 experiments (kuangliu's pytorch-cifar ResNet), made
/// for 28×28 images: a 3×3 stride-1 stem without max-pooling, four stages, global average pooling
/// and a `linear` head.
///
/// Keys: `conv1.weight`, `bn1.{weight,bias,running_mean,running_var,num_batches_tracked}`,
/// `layer1.0.conv1.weight` … `layer4.1.bn2.*` (Bottleneck adds `conv3`, `bn3`), the projection
/// `layerK.0.shortcut.0.weight` (1×1 conv) and `layerK.0.shortcut.1.*` (BatchNorm2d) where a block
/// changes shape (the empty `shortcut` of other blocks has no keys), and `linear.{weight,bias}`.
public final class ResNet28: Module, Layer {
    public let conv1: Conv2d
    public let bn1: BatchNorm2d
    public let layer1: Sequential
    public let layer2: Sequential
    public let layer3: Sequential
    public let layer4: Sequential
    public let linear: Linear

    /// - Parameters:
    ///   - block: basic (ResNet-18/34) or bottleneck (ResNet-50/…) blocks.
    ///   - blocks: blocks in each of the four stages, e.g. [2, 2, 2, 2] for ResNet-18.
    ///   - baseWidth: channels of the stem and first stage (64 in the reference); stages double it.
    public init(block: ResidualBlockKind, blocks: [Int], inChannels: Int, classes: Int, baseWidth: Int = 64) {
        conv1 = Conv2d(inChannels, baseWidth, kernelSize: 3, stride: 1, padding: 1, bias: false)
        bn1 = BatchNorm2d(baseWidth)
        let stages = residualStages("ResNet28", kind: block, blocks: blocks, baseWidth: baseWidth) { input, planes, stride in
            switch block {
            case .basic: BasicBlock(input, planes, stride: stride)
            case .bottleneck: Bottleneck(input, planes, stride: stride)
            }
        }
        (layer1, layer2, layer3, layer4) = (stages[0], stages[1], stages[2], stages[3])
        linear = Linear(8 * baseWidth * block.expansion, classes)
        super.init()
    }

    /// (N, inChannels, H, W) → (N, classes).
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let features = layer4(layer3(layer2(layer1(bn1(conv1(x), relu: true)))))
        return linear(globalAveragePool(features))
    }

    /// Two 3×3 convolutions with a residual connection; `shortcut` is empty (identity) unless the
    /// block changes shape.
    public final class BasicBlock: Module, Layer {
        public let conv1: Conv2d
        public let bn1: BatchNorm2d
        public let conv2: Conv2d
        public let bn2: BatchNorm2d
        public let shortcut: Sequential

        public init(_ inChannels: Int, _ planes: Int, stride: Int = 1) {
            conv1 = Conv2d(inChannels, planes, kernelSize: 3, stride: stride, padding: 1, bias: false)
            bn1 = BatchNorm2d(planes)
            conv2 = Conv2d(planes, planes, kernelSize: 3, stride: 1, padding: 1, bias: false)
            bn2 = BatchNorm2d(planes)
            shortcut = projection(inChannels, planes, stride: stride) ?? Sequential([])
            super.init()
        }

        public func callAsFunction(_ x: Tensor) -> Tensor {
            relu(bn2(conv2(bn1(conv1(x), relu: true))) + shortcut(x))
        }
    }

    /// 1×1 reduce → 3×3 (carrying the stride) → 1×1 expand to 4·planes, with a residual connection.
    public final class Bottleneck: Module, Layer {
        public let conv1: Conv2d
        public let bn1: BatchNorm2d
        public let conv2: Conv2d
        public let bn2: BatchNorm2d
        public let conv3: Conv2d
        public let bn3: BatchNorm2d
        public let shortcut: Sequential

        public init(_ inChannels: Int, _ planes: Int, stride: Int = 1) {
            let outChannels = planes * ResidualBlockKind.bottleneck.expansion
            conv1 = Conv2d(inChannels, planes, kernelSize: 1, bias: false)
            bn1 = BatchNorm2d(planes)
            conv2 = Conv2d(planes, planes, kernelSize: 3, stride: stride, padding: 1, bias: false)
            bn2 = BatchNorm2d(planes)
            conv3 = Conv2d(planes, outChannels, kernelSize: 1, bias: false)
            bn3 = BatchNorm2d(outChannels)
            shortcut = projection(inChannels, outChannels, stride: stride) ?? Sequential([])
            super.init()
        }

        public func callAsFunction(_ x: Tensor) -> Tensor {
            let y = bn2(conv2(bn1(conv1(x), relu: true)), relu: true)
            return relu(bn3(conv3(y)) + shortcut(x))
        }
    }
}

/// ResNet-18 in the MedMNIST "28" layout (basic blocks [2, 2, 2, 2]).
public func resnet18_28(inChannels: Int, classes: Int, baseWidth: Int = 64) -> ResNet28 {
    ResNet28(block: .basic, blocks: [2, 2, 2, 2], inChannels: inChannels, classes: classes, baseWidth: baseWidth)
}

/// ResNet-50 in the MedMNIST "28" layout (bottleneck blocks [3, 4, 6, 3]).
public func resnet50_28(inChannels: Int, classes: Int, baseWidth: Int = 64) -> ResNet28 {
    ResNet28(block: .bottleneck, blocks: [3, 4, 6, 3], inChannels: inChannels, classes: classes, baseWidth: baseWidth)
}

// MARK: - torchvision layout

/// ResNet in torchvision's layout (`torchvision.models.resnet`, v1.5: a bottleneck strides in its
/// 3×3 convolution): a 7×7 stride-2 stem, 3×3 stride-2 max-pooling, four stages, global average
/// pooling and an `fc` head. Checkpoints of torchvision models load into it (with `classes` and
/// `inChannels` matching theirs).
///
/// Keys: `conv1.weight`, `bn1.*`, `layer1.0.conv1.weight` … (`conv3`/`bn3` in bottlenecks),
/// `layerK.0.downsample.0.weight` (1×1 conv) and `layerK.0.downsample.1.*` (BatchNorm2d) only in
/// blocks that change shape, and `fc.{weight,bias}`.
///
/// Initialized like torchvision: convolutions Kaiming-normal (fan-out, ReLU gain), batch norms
/// weight 1 and bias 0, the head PyTorch's Linear default.
public final class ResNet: Module, Layer {
    public let conv1: Conv2d
    public let bn1: BatchNorm2d
    public let layer1: Sequential
    public let layer2: Sequential
    public let layer3: Sequential
    public let layer4: Sequential
    public let fc: Linear

    /// - Parameters:
    ///   - block: basic (ResNet-18/34) or bottleneck (ResNet-50/…) blocks.
    ///   - blocks: blocks in each of the four stages, e.g. [3, 4, 6, 3] for ResNet-50.
    ///   - baseWidth: channels of the stem and first stage (64 in torchvision); stages double it.
    ///     (Not torchvision's `width_per_group`: this scales every layer.)
    ///   - zeroInitResidual: start each block's last batch norm at weight 0, so every block begins as
    ///     the identity (torchvision's `zero_init_residual`).
    public init(
        block: ResidualBlockKind, blocks: [Int], inChannels: Int = 3, classes: Int, baseWidth: Int = 64,
        zeroInitResidual: Bool = false
    ) {
        conv1 = Conv2d(inChannels, baseWidth, kernelSize: 7, stride: 2, padding: 3, bias: false)
        bn1 = BatchNorm2d(baseWidth)
        let stages = residualStages("ResNet", kind: block, blocks: blocks, baseWidth: baseWidth) { input, planes, stride in
            switch block {
            case .basic: BasicBlock(input, planes, stride: stride)
            case .bottleneck: Bottleneck(input, planes, stride: stride)
            }
        }
        (layer1, layer2, layer3, layer4) = (stages[0], stages[1], stages[2], stages[3])
        fc = Linear(8 * baseWidth * block.expansion, classes)
        super.init()
        apply { module in
            if let conv = module as? Conv2d { Init.kaimingNormal(conv.weight, nonlinearity: .relu, mode: .fanOut) }
            if zeroInitResidual, let basic = module as? BasicBlock, let weight = basic.bn2.weight { Init.zeros(weight) }
            if zeroInitResidual, let bottleneck = module as? Bottleneck, let weight = bottleneck.bn3.weight {
                Init.zeros(weight)
            }
        }
    }

    /// (N, inChannels, H, W) → (N, classes).
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let stem = maxPool2d(bn1(conv1(x), relu: true), kernelSize: 3, stride: 2, padding: 1)
        return fc(globalAveragePool(layer4(layer3(layer2(layer1(stem))))))
    }

    /// Two 3×3 convolutions with a residual connection; `downsample` exists only where the block
    /// changes shape.
    public final class BasicBlock: Module, Layer {
        public let conv1: Conv2d
        public let bn1: BatchNorm2d
        public let conv2: Conv2d
        public let bn2: BatchNorm2d
        public let downsample: Sequential?

        public init(_ inChannels: Int, _ planes: Int, stride: Int = 1) {
            conv1 = Conv2d(inChannels, planes, kernelSize: 3, stride: stride, padding: 1, bias: false)
            bn1 = BatchNorm2d(planes)
            conv2 = Conv2d(planes, planes, kernelSize: 3, stride: 1, padding: 1, bias: false)
            bn2 = BatchNorm2d(planes)
            downsample = projection(inChannels, planes, stride: stride)
            super.init()
        }

        public func callAsFunction(_ x: Tensor) -> Tensor {
            relu(bn2(conv2(bn1(conv1(x), relu: true))) + (downsample?(x) ?? x))
        }
    }

    /// 1×1 reduce → 3×3 (carrying the stride) → 1×1 expand to 4·planes, with a residual connection.
    public final class Bottleneck: Module, Layer {
        public let conv1: Conv2d
        public let bn1: BatchNorm2d
        public let conv2: Conv2d
        public let bn2: BatchNorm2d
        public let conv3: Conv2d
        public let bn3: BatchNorm2d
        public let downsample: Sequential?

        public init(_ inChannels: Int, _ planes: Int, stride: Int = 1) {
            let outChannels = planes * ResidualBlockKind.bottleneck.expansion
            conv1 = Conv2d(inChannels, planes, kernelSize: 1, bias: false)
            bn1 = BatchNorm2d(planes)
            conv2 = Conv2d(planes, planes, kernelSize: 3, stride: stride, padding: 1, bias: false)
            bn2 = BatchNorm2d(planes)
            conv3 = Conv2d(planes, outChannels, kernelSize: 1, bias: false)
            bn3 = BatchNorm2d(outChannels)
            downsample = projection(inChannels, outChannels, stride: stride)
            super.init()
        }

        public func callAsFunction(_ x: Tensor) -> Tensor {
            let y = bn2(conv2(bn1(conv1(x), relu: true)), relu: true)
            return relu(bn3(conv3(y)) + (downsample?(x) ?? x))
        }
    }
}

/// ResNet-18 in torchvision's layout (basic blocks [2, 2, 2, 2]).
public func resnet18(inChannels: Int = 3, classes: Int, baseWidth: Int = 64) -> ResNet {
    ResNet(block: .basic, blocks: [2, 2, 2, 2], inChannels: inChannels, classes: classes, baseWidth: baseWidth)
}

/// ResNet-50 in torchvision's layout (bottleneck blocks [3, 4, 6, 3]).
public func resnet50(inChannels: Int = 3, classes: Int, baseWidth: Int = 64) -> ResNet {
    ResNet(block: .bottleneck, blocks: [3, 4, 6, 3], inChannels: inChannels, classes: classes, baseWidth: baseWidth)
}

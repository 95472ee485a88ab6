import Galen

/// U-Net (Ronneberger et al., 2015) for segmentation, in the layout of the widely used
/// milesial/Pytorch-UNet, generalized to any depth: padded 3×3 convolutions with batch norm, so the
/// output has the input's height and width.
///
/// `depth` down steps (max-pool 2 → double conv) take `baseWidth` channels to baseWidth·2^depth;
/// as many up steps (upsample ×2 → pad to the skip's size → concatenate [skip, upsampled] → double
/// conv) come back, and a 1×1 convolution gives one score map per class. A double conv is
/// (conv 3×3 no bias → BatchNorm2d → ReLU) × 2.
///
/// The up path upsamples by a 2×2 stride-2 transposed convolution (halving the channels), or with
/// `bilinear` by parameter-free bilinear interpolation (align_corners=True); in the bilinear
/// variant the deepest level has half the channels and each up step's first convolution halves
/// its input (milesial's `factor`), so both variants concatenate equal halves.
///
/// Keys (depth 4): `inc.double_conv.{0,1,3,4}.*` (conv, BN, conv, BN; 2 and 5 are the ReLUs),
/// `down1.maxpool_conv.1.double_conv.*` … `down4.*`, `up1.up.{weight,bias}` (transposed conv only),
/// `up1.conv.double_conv.*` … `up4.*`, `outc.conv.{weight,bias}`.
public final class UNet: Module, Layer {
    public let inc: DoubleConv
    /// The contracting path, `down1` … `downN` in the state dict.
    public let downs: [Down]
    /// The expanding path from the deepest level up, `up1` … `upN` in the state dict.
    public let ups: [Up]
    public let outc: OutConv

    /// - Parameters:
    ///   - inChannels: channels of the input images.
    ///   - classes: output score maps (logits), one per class.
    ///   - depth: number of down (and up) steps; the input's height and width should be multiples
    ///     of 2^depth (other sizes work: upsampled maps are zero-padded to the skip's size).
    ///   - baseWidth: channels of the first double conv; each level doubles it.
    ///   - bilinear: bilinear upsampling instead of transposed convolutions.
    public init(inChannels: Int = 1, classes: Int, depth: Int = 4, baseWidth: Int = 64, bilinear: Bool = false) {
        check(depth >= 1 && baseWidth > 0 && inChannels > 0 && classes > 0,
              "UNet: depth \(depth), base width \(baseWidth), channels \(inChannels) and classes \(classes) must be positive")
        let factor = bilinear ? 2 : 1
        let width = { (level: Int) in baseWidth << level }
        inc = DoubleConv(inChannels, baseWidth)
        downs = (1...depth).map { level in
            Down(width(level - 1), level == depth ? width(level) / factor : width(level))
        }
        ups = (1...depth).map { step in
            let level = depth - step + 1
            return Up(width(level), step == depth ? baseWidth : width(level - 1) / factor, bilinear: bilinear)
        }
        outc = OutConv(baseWidth, classes)
        super.init()
    }

    /// Children named like milesial's attributes: inc, down1…, up1…, outc.
    public override func namedChildren() -> [(String, Module)] {
        [("inc", inc)] + downs.enumerated().map { ("down\($0.offset + 1)", $0.element) }
            + ups.enumerated().map { ("up\($0.offset + 1)", $0.element) } + [("outc", outc)]
    }

    /// (N, inChannels, H, W) → (N, classes, H, W) logits.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        check(x.rank == 4, "UNet: input must be (N, C, H, W), got \(x.shape)")
        var skips = [inc(x)]
        for down in downs { skips.append(down(skips[skips.count - 1])) }
        var y = skips.removeLast()
        for up in ups { y = up(y, skip: skips.removeLast()) }
        return outc(y)
    }

    /// (conv 3×3 → BatchNorm2d → ReLU) × 2 in a Sequential named `double_conv`.
    public final class DoubleConv: Module, Layer {
        public let doubleConv: Sequential

        /// `middleChannels` (default `outChannels`) is the width between the two convolutions.
        public init(_ inChannels: Int, _ outChannels: Int, middleChannels: Int? = nil) {
            let middle = middleChannels ?? outChannels
            doubleConv = Sequential(
                Conv2d(inChannels, middle, kernelSize: 3, padding: 1, bias: false), BatchNorm2d(middle), ReLU(),
                Conv2d(middle, outChannels, kernelSize: 3, padding: 1, bias: false), BatchNorm2d(outChannels), ReLU())
            super.init()
        }

        public func callAsFunction(_ x: Tensor) -> Tensor { doubleConv(x) }
    }

    /// Max-pool 2 then a double conv, in a Sequential named `maxpool_conv`.
    public final class Down: Module, Layer {
        public let maxpoolConv: Sequential

        public init(_ inChannels: Int, _ outChannels: Int) {
            maxpoolConv = Sequential(MaxPool2d(kernelSize: 2), DoubleConv(inChannels, outChannels))
            super.init()
        }

        public func callAsFunction(_ x: Tensor) -> Tensor { maxpoolConv(x) }
    }

    /// Upsample ×2 (`up`), pad to the skip connection's size, concatenate [skip, upsampled] on the
    /// channels, double conv (`conv`).
    public final class Up: Module {
        /// A ConvTranspose2d (in → in/2, kernel 2, stride 2) or a bilinear Upsample.
        public let up: any Layer
        public let conv: DoubleConv

        /// `inChannels` is the width after concatenation.
        public init(_ inChannels: Int, _ outChannels: Int, bilinear: Bool) {
            if bilinear {
                up = Upsample(scaleFactor: 2, mode: .bilinear, alignCorners: true)
                conv = DoubleConv(inChannels, outChannels, middleChannels: inChannels / 2)
            } else {
                up = ConvTranspose2d(inChannels, inChannels / 2, kernelSize: 2, stride: 2)
                conv = DoubleConv(inChannels, outChannels)
            }
            super.init()
        }

        /// `x` from the level below, `skip` from the contracting path at this level.
        public func callAsFunction(_ x: Tensor, skip: Tensor) -> Tensor {
            var upsampled = up(x)
            let rows = skip.shape[2] - upsampled.shape[2]
            let columns = skip.shape[3] - upsampled.shape[3]
            if rows != 0 || columns != 0 {
                // Odd sizes lose a row or column to pooling; put it back split like milesial's F.pad.
                upsampled = pad(upsampled, [columns / 2, columns - columns / 2, rows / 2, rows - rows / 2])
            }
            return conv(concat([skip, upsampled], axis: 1))
        }
    }

    /// The 1×1 convolution to class scores, named `conv`.
    public final class OutConv: Module, Layer {
        public let conv: Conv2d

        public init(_ inChannels: Int, _ classes: Int) {
            conv = Conv2d(inChannels, classes, kernelSize: 1)
            super.init()
        }

        public func callAsFunction(_ x: Tensor) -> Tensor { conv(x) }
    }
}

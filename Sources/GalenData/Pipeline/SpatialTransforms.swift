import Galen

// Geometric transforms. Each moves the image and, with the same geometry, a segmentation mask:
// an IntTensor `label` or a Float `target` whose last two dimensions equal the image's height and
// width. Images are resampled bilinearly and filled with `fill` outside the source; masks are
// resampled by nearest neighbour and filled with 0 (background), so label values never blend.

/// Mirrors the image left–right with probability `probability`.
public struct RandomHorizontalFlip: Transform {
    public let probability: Float

    public init(probability: Float = 0.5) {
        checkProbability(probability, "RandomHorizontalFlip")
        self.probability = probability
    }

    public func apply(_ example: Example, generator: Generator) -> Example {
        guard generator.nextFloat() < probability else { return example }
        return example.applying(.flip(horizontal: true), fill: 0, what: "RandomHorizontalFlip")
    }
}

/// Mirrors the image top–bottom with probability `probability`.
public struct RandomVerticalFlip: Transform {
    public let probability: Float

    public init(probability: Float = 0.5) {
        checkProbability(probability, "RandomVerticalFlip")
        self.probability = probability
    }

    public func apply(_ example: Example, generator: Generator) -> Example {
        guard generator.nextFloat() < probability else { return example }
        return example.applying(.flip(horizontal: false), fill: 0, what: "RandomVerticalFlip")
    }
}

/// Pads each side with a constant (torchvision's `Pad` with `padding_mode="constant"`).
public struct Pad: Transform {
    public let top: Int, bottom: Int, left: Int, right: Int
    public let fill: Float

    public init(top: Int, bottom: Int, left: Int, right: Int, fill: Float = 0) {
        check(min(top, bottom, left, right) >= 0, "Pad: padding must be ≥ 0, got \([top, bottom, left, right])")
        (self.top, self.bottom, self.left, self.right, self.fill) = (top, bottom, left, right, fill)
    }

    /// The same padding on all four sides.
    public init(_ padding: Int, fill: Float = 0) {
        self.init(top: padding, bottom: padding, left: padding, right: padding, fill: fill)
    }

    public func apply(_ example: Example, generator: Generator) -> Example {
        let layout = PlaneLayout(example.input.shape, what: "Pad")
        return example.applying(
            .window(top: -top, left: -left, height: layout.height + top + bottom, width: layout.width + left + right),
            fill: fill, what: "Pad")
    }
}

/// The central `height`×`width` window; where the margin is odd, the extra pixel is at the top or
/// left as torchvision rounds it (half to even).
public struct CenterCrop: Transform {
    public let height: Int, width: Int

    public init(height: Int, width: Int) {
        check(height >= 1 && width >= 1, "CenterCrop: size must be positive, got \(height)×\(width)")
        (self.height, self.width) = (height, width)
    }

    public func apply(_ example: Example, generator: Generator) -> Example {
        let layout = PlaneLayout(example.input.shape, what: "CenterCrop")
        check(height <= layout.height && width <= layout.width,
              "CenterCrop: \(height)×\(width) is larger than the image \(layout.height)×\(layout.width)")
        let top = Int((Double(layout.height - height) / 2).rounded(.toNearestOrEven))
        let left = Int((Double(layout.width - width) / 2).rounded(.toNearestOrEven))
        return example.applying(.window(top: top, left: left, height: height, width: width), fill: 0, what: "CenterCrop")
    }
}

/// A `height`×`width` window at a uniformly random position of the image padded by `padding` on
/// every side with `fill` (torchvision's `RandomCrop(size, padding)`).
public struct RandomCrop: Transform {
    public let height: Int, width: Int
    public let padding: Int
    public let fill: Float

    public init(height: Int, width: Int, padding: Int = 0, fill: Float = 0) {
        check(height >= 1 && width >= 1 && padding >= 0,
              "RandomCrop: size must be positive and padding ≥ 0, got \(height)×\(width), padding \(padding)")
        (self.height, self.width, self.padding, self.fill) = (height, width, padding, fill)
    }

    public func apply(_ example: Example, generator: Generator) -> Example {
        let layout = PlaneLayout(example.input.shape, what: "RandomCrop")
        let paddedHeight = layout.height + 2 * padding, paddedWidth = layout.width + 2 * padding
        check(height <= paddedHeight && width <= paddedWidth,
              "RandomCrop: \(height)×\(width) is larger than the padded image \(paddedHeight)×\(paddedWidth)")
        let top = generator.nextInt(below: paddedHeight - height + 1) - padding
        let left = generator.nextInt(below: paddedWidth - width + 1) - padding
        return example.applying(.window(top: top, left: left, height: height, width: width), fill: fill, what: "RandomCrop")
    }
}

/// Resizes to `height`×`width` bilinearly with half-pixel centres, as PyTorch's
/// `F.interpolate(mode="bilinear", align_corners=False, antialias=False)`; a mask is resized as
/// `mode="nearest-exact"`.
public struct Resize: Transform {
    public let height: Int, width: Int

    public init(height: Int, width: Int) {
        check(height >= 1 && width >= 1, "Resize: size must be positive, got \(height)×\(width)")
        (self.height, self.width) = (height, width)
    }

    public func apply(_ example: Example, generator: Generator) -> Example {
        example.applying(.resize(height: height, width: width), fill: 0, what: "Resize")
    }
}

/// A fixed affine warp about the image centre, keeping the size: the content is rotated by
/// `degrees` counter-clockwise as displayed (rows run down), scaled by `scale`, then shifted by
/// `translation` pixels (x right, y down).
///
/// Pixel centres sit at half-integers as in PyTorch's `align_corners=False`. For an H×W image the
/// result equals `F.grid_sample(x, F.affine_grid(θ, size, align_corners=False), "bilinear",
/// "zeros", align_corners=False)` with θ = D·M·D⁻¹ (and translation D·m) for the output-to-source
/// pixel map M, m and D = diag(2/W, 2/H); `fill` replaces the zeros outside. Masks use grid_sample's
/// `mode="nearest"`.
public struct Affine: Transform {
    public let degrees: Float
    public let translation: (x: Float, y: Float)
    public let scale: Float
    public let fill: Float

    public init(degrees: Float = 0, translation: (x: Float, y: Float) = (0, 0), scale: Float = 1, fill: Float = 0) {
        check(scale > 0, "Affine: scale must be positive, got \(scale)")
        (self.degrees, self.translation, self.scale, self.fill) = (degrees, translation, scale, fill)
    }

    public func apply(_ example: Example, generator: Generator) -> Example {
        example.applying(
            .affine(AffineMap(degrees: degrees, translation: translation, scale: scale)), fill: fill, what: "Affine")
    }
}

/// A random `Affine` (torchvision's `RandomAffine` without shear): the angle uniform in
/// [−degrees, degrees], the shift uniform in ±translate.x·W and ±translate.y·H pixels (not rounded),
/// the scale uniform in `scale`.
public struct RandomAffine: Transform {
    public let degrees: Float
    public let translate: (x: Float, y: Float)
    public let scale: ClosedRange<Float>
    public let fill: Float

    public init(degrees: Float, translate: (x: Float, y: Float) = (0, 0), scale: ClosedRange<Float> = 1...1, fill: Float = 0) {
        check(degrees >= 0, "RandomAffine: degrees must be ≥ 0, got \(degrees)")
        check(translate.x >= 0 && translate.x <= 1 && translate.y >= 0 && translate.y <= 1,
              "RandomAffine: translate fractions must lie in [0, 1], got \(translate)")
        check(scale.lowerBound > 0, "RandomAffine: scale \(scale) must be positive")
        (self.degrees, self.translate, self.scale, self.fill) = (degrees, translate, scale, fill)
    }

    public func apply(_ example: Example, generator: Generator) -> Example {
        let layout = PlaneLayout(example.input.shape, what: "RandomAffine")
        let angle = uniform(-degrees, degrees, generator)
        let maxX = translate.x * Float(layout.width), maxY = translate.y * Float(layout.height)
        let shift = (x: uniform(-maxX, maxX, generator), y: uniform(-maxY, maxY, generator))
        let factor = uniform(scale.lowerBound, scale.upperBound, generator)
        return example.applying(
            .affine(AffineMap(degrees: angle, translation: shift, scale: factor)), fill: fill, what: "RandomAffine")
    }
}

/// Rotates by an angle drawn uniformly from [−degrees, degrees] about the centre (torchvision's
/// `RandomRotation` with bilinear interpolation); see `Affine` for the convention.
public struct RandomRotation: Transform {
    public let degrees: Float
    public let fill: Float

    public init(degrees: Float, fill: Float = 0) {
        check(degrees >= 0, "RandomRotation: degrees must be ≥ 0, got \(degrees)")
        (self.degrees, self.fill) = (degrees, fill)
    }

    public func apply(_ example: Example, generator: Generator) -> Example {
        let angle = uniform(-degrees, degrees, generator)
        return example.applying(
            .affine(AffineMap(degrees: angle, translation: (0, 0), scale: 1)), fill: fill, what: "RandomRotation")
    }
}

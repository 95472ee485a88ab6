import Foundation
import Galen

/// A data transform, like torchvision's: maps an example to a new one, drawing any randomness from
/// `generator`.
///
/// The DataLoader passes each example a generator derived from (loader seed, epoch, dataset
/// index), so augmentation is reproducible, differs between epochs and does not depend on the
/// number of workers. Transforms read `input` as [C, H, W] (or [H, W]) Float32 and never write
/// into the tensors they are given.
public protocol Transform: Sendable {
    /// The transformed example.
    func apply(_ example: Example, generator: Generator) -> Example
}

/// Transforms applied in order, all drawing from the same generator (torchvision's `Compose`).
public struct Compose: Transform {
    public let transforms: [any Transform]

    public init(_ transforms: [any Transform]) { self.transforms = transforms }
    public init(_ transforms: any Transform...) { self.transforms = transforms }

    public func apply(_ example: Example, generator: Generator) -> Example {
        transforms.reduce(example) { $1.apply($0, generator: generator) }
    }
}

/// Applies `transform` with probability `probability` (torchvision's `RandomApply`).
public struct RandomApply: Transform {
    public let transform: any Transform
    public let probability: Float

    public init(_ transform: any Transform, probability: Float = 0.5) {
        checkProbability(probability, "RandomApply")
        self.transform = transform
        self.probability = probability
    }

    public func apply(_ example: Example, generator: Generator) -> Example {
        generator.nextFloat() < probability ? transform.apply(example, generator: generator) : example
    }
}

/// A transform given as a closure (torchvision's `Lambda`).
public struct Lambda: Transform {
    public let body: @Sendable (Example, Generator) -> Example

    public init(_ body: @escaping @Sendable (Example, Generator) -> Example) { self.body = body }

    public func apply(_ example: Example, generator: Generator) -> Example { body(example, generator) }
}

// MARK: Intensity transforms (the image only)

/// `(x − mean[c]) / std[c]` per channel (dimension −3 of the image); one mean or std applies to
/// every channel (torchvision's `Normalize`).
public struct Normalize: Transform {
    public let mean: [Float]
    public let std: [Float]

    public init(mean: [Float], std: [Float]) {
        check(!mean.isEmpty && !std.isEmpty, "Normalize: mean and std must not be empty")
        check(!std.contains(0), "Normalize: std contains 0: \(std)")
        self.mean = mean
        self.std = std
    }

    public func apply(_ example: Example, generator: Generator) -> Example {
        let shape = example.input.shape
        let layout = PlaneLayout(shape, what: "Normalize")
        let channels = shape.count >= 3 ? shape[shape.count - 3] : 1
        check((mean.count == 1 || mean.count == channels) && (std.count == 1 || std.count == channels),
              "Normalize: \(mean.count) mean(s) and \(std.count) std(s) for an image of shape \(shape) (\(channels) channel(s))")
        var result = example
        result.input = mapValues(example.input, shape: shape) { source, destination in
            let plane = layout.height &* layout.width
            for p in 0..<layout.planes {
                let c = p % channels
                let m = mean[mean.count == 1 ? 0 : c], s = std[std.count == 1 ? 0 : c]
                for k in p &* plane..<(p &+ 1) &* plane { destination[k] = (source[k] - m) / s }
            }
        }
        return result
    }
}

/// Random brightness and contrast, for images already normalized (no clamping to [0, 1]):
/// contrast scales each value's distance from the image mean by a factor drawn from
/// [1 − contrast, 1 + contrast], then brightness adds an offset drawn from [−brightness, brightness].
public struct IntensityJitter: Transform {
    public let brightness: Float
    public let contrast: Float

    public init(brightness: Float = 0, contrast: Float = 0) {
        check(brightness >= 0 && contrast >= 0 && contrast <= 1,
              "IntensityJitter: brightness must be ≥ 0 and contrast in [0, 1], got \(brightness), \(contrast)")
        self.brightness = brightness
        self.contrast = contrast
    }

    public func apply(_ example: Example, generator: Generator) -> Example {
        let factor = uniform(1 - contrast, 1 + contrast, generator)
        let offset = uniform(-brightness, brightness, generator)
        var result = example
        let count = example.input.count
        result.input = mapValues(example.input, shape: example.input.shape) { source, destination in
            var sum = 0.0
            for k in 0..<count { sum += Double(source[k]) }
            let mean = Float(sum / Double(max(count, 1)))
            for k in 0..<count { destination[k] = mean + factor * (source[k] - mean) + offset }
        }
        return result
    }
}

/// Adds independent normal noise of standard deviation `std` (and mean `mean`) to every value.
public struct GaussianNoise: Transform {
    public let std: Float
    public let mean: Float

    public init(std: Float, mean: Float = 0) {
        check(std >= 0, "GaussianNoise: std must be ≥ 0, got \(std)")
        self.std = std
        self.mean = mean
    }

    public func apply(_ example: Example, generator: Generator) -> Example {
        let image = contiguousImage(example.input)
        let noisy = Tensor.randn(image.shape, mean: mean, std: std, generator: generator)
        withExtendedLifetime(image) {
            let source = image.storage.pointer + image.offset, destination = noisy.storage.pointer
            for k in 0..<image.count { destination[k] += source[k] }
        }
        var result = example
        result.input = noisy
        return result
    }
}

/// With probability `probability`, sets a random rectangle of the image (all channels) to `value`
/// (torchvision's `RandomErasing`, same sampling): its area is a fraction of the image drawn from
/// `scale`, its aspect ratio (height / width) log-uniform in `ratio`; up to 10 draws are tried to
/// find one that fits, and the image is left as it is if none does.
public struct RandomErasing: Transform {
    public let probability: Float
    public let scale: ClosedRange<Float>
    public let ratio: ClosedRange<Float>
    public let value: Float

    public init(
        probability: Float = 0.5, scale: ClosedRange<Float> = 0.02...0.33, ratio: ClosedRange<Float> = 0.3...3.3,
        value: Float = 0
    ) {
        checkProbability(probability, "RandomErasing")
        check(scale.lowerBound >= 0 && scale.upperBound <= 1, "RandomErasing: scale \(scale) must lie in [0, 1]")
        check(ratio.lowerBound > 0, "RandomErasing: ratio \(ratio) must be positive")
        self.probability = probability
        self.scale = scale
        self.ratio = ratio
        self.value = value
    }

    public func apply(_ example: Example, generator: Generator) -> Example {
        guard generator.nextFloat() < probability else { return example }
        let layout = PlaneLayout(example.input.shape, what: "RandomErasing")
        let (height, width) = (layout.height, layout.width)
        let area = Float(height * width)
        for _ in 0..<10 {
            let erasedArea = area * uniform(scale.lowerBound, scale.upperBound, generator)
            let aspect = exp(uniform(log(ratio.lowerBound), log(ratio.upperBound), generator))
            let h = Int((erasedArea * aspect).squareRoot().rounded(.toNearestOrEven))
            let w = Int((erasedArea / aspect).squareRoot().rounded(.toNearestOrEven))
            guard h >= 1, w >= 1, h < height, w < width else { continue }
            let top = generator.nextInt(below: height - h + 1), left = generator.nextInt(below: width - w + 1)
            var result = example
            result.input = mapValues(example.input, shape: example.input.shape) { source, destination in
                destination.update(from: source, count: example.input.count)
                for p in 0..<layout.planes {
                    for row in top..<top + h {
                        (destination + (p * height + row) * width + left).update(repeating: value, count: w)
                    }
                }
            }
            return result
        }
        return example
    }
}

// MARK: Helpers

/// A Float drawn uniformly from [low, high).
func uniform(_ low: Float, _ high: Float, _ generator: Generator) -> Float {
    low + (high - low) * generator.nextFloat()
}

func checkProbability(_ probability: Float, _ what: String) {
    check(probability >= 0 && probability <= 1, "\(what): probability must lie in [0, 1], got \(probability)")
}

import Foundation
import Galen
import GalenData
import Testing

// Resize and affine warps against PyTorch (Scripts/fixtures/transform_cases.py), flips, crops and
// pads exactly, and the random transforms for reproducibility and sane statistics.

struct ResizeCase: Decodable, CustomTestStringConvertible {
    let name: String
    let shape: [Int]
    let height: Int
    let width: Int
    let input: [Float]
    let expected: [Float]
    let mask: [Int]
    let maskExpected: [Int]
    var testDescription: String { name }
}

struct AffineCase: Decodable, CustomTestStringConvertible {
    let name: String
    let shape: [Int]
    let degrees: Float
    let translation: [Float]
    let scale: Float
    let input: [Float]
    let expected: [Float]
    let mask: [Int]
    let maskExpected: [Int]
    var testDescription: String { name }
}

struct TransformCases: Decodable {
    let resize: [ResizeCase]
    let affine: [AffineCase]

    static let shared: TransformCases = {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let url = fixturesDirectory.appendingPathComponent("transform_cases.json")
        do {
            return try decoder.decode(TransformCases.self, from: Data(contentsOf: url))
        } catch {
            fatalError("cannot read \(url.path): \(error); run Scripts/make_fixtures.sh")
        }
    }()
}

/// The largest absolute difference between two equally long arrays.
func maxDifference(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "maxDifference: \(a.count) and \(b.count) values")
    return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

/// An example whose image holds 0, 1, 2, … and whose mask (same shape) holds the same values.
func rampExample(_ shape: [Int]) -> Example {
    let n = shape.reduce(1, *)
    return Example(input: Tensor((0..<n).map(Float.init), shape: shape), label: IntTensor(Array(0..<n), shape: shape))
}

let anyGenerator = Generator(seed: 1)

@Suite struct TransformParity {
    @Test(arguments: TransformCases.shared.resize)
    func resizeMatchesPyTorch(_ c: ResizeCase) {
        let example = Example(input: Tensor(c.input, shape: c.shape), label: IntTensor(c.mask, shape: c.shape))
        let resized = Resize(height: c.height, width: c.width).apply(example, generator: anyGenerator)
        #expect(resized.input.shape == [c.shape[0], c.height, c.width])
        #expect(maxDifference(resized.input.scalars, c.expected) < 1e-5)
        #expect(resized.label == IntTensor(c.maskExpected, shape: [c.shape[0], c.height, c.width]))
    }

    @Test(arguments: TransformCases.shared.affine)
    func affineMatchesGridSample(_ c: AffineCase) {
        let example = Example(input: Tensor(c.input, shape: c.shape), label: IntTensor(c.mask, shape: c.shape))
        let warp = Affine(degrees: c.degrees, translation: (c.translation[0], c.translation[1]), scale: c.scale)
        let warped = warp.apply(example, generator: anyGenerator)
        #expect(warped.input.shape == c.shape)
        #expect(maxDifference(warped.input.scalars, c.expected) < 1e-4)
        #expect(warped.label?.scalars == c.maskExpected)
    }

    @Test func positiveAnglesTurnCounterClockwise() {
        // A bright pixel right of the centre ends up above it after +90°.
        var pixels = [Float](repeating: 0, count: 16)
        pixels[1 * 4 + 3] = 1
        let turned = Affine(degrees: 90).apply(Example(input: Tensor(pixels, shape: [1, 4, 4])), generator: anyGenerator)
        let values = turned.input.scalars
        #expect(abs(values[0 * 4 + 1] - 1) < 1e-5)
        #expect(abs(values.reduce(0, +) - 1) < 1e-5)
    }

    @Test func shiftsMoveRightAndDown() {
        let shifted = Affine(translation: (1, 2)).apply(rampExample([1, 4, 5]), generator: anyGenerator)
        let values = shifted.input.scalars
        // Output (row 2, column 1) reads source (0, 0); rows 0–1 and column 0 read outside.
        #expect(values[2 * 5 + 1] == 0 && values[3 * 5 + 4] == 8)
        #expect(values[0..<10].allSatisfy { $0 == 0 })
        #expect(shifted.label?.scalars[3 * 5 + 4] == 8)
    }
}

@Suite struct ExactTransforms {
    @Test func flipsMirrorImageAndMask() {
        let example = rampExample([2, 3, 4])
        let horizontal = RandomHorizontalFlip(probability: 1).apply(example, generator: anyGenerator)
        let vertical = RandomVerticalFlip(probability: 1).apply(example, generator: anyGenerator)
        var expectedHorizontal: [Int] = [], expectedVertical: [Int] = []
        for c in 0..<2 {
            for r in 0..<3 {
                for w in 0..<4 {
                    expectedHorizontal.append((c * 3 + r) * 4 + (3 - w))
                    expectedVertical.append((c * 3 + (2 - r)) * 4 + w)
                }
            }
        }
        #expect(horizontal.input.scalars == expectedHorizontal.map(Float.init))
        #expect(horizontal.label?.scalars == expectedHorizontal)
        #expect(vertical.input.scalars == expectedVertical.map(Float.init))
        #expect(vertical.label?.scalars == expectedVertical)
        let kept = RandomHorizontalFlip(probability: 0).apply(example, generator: anyGenerator)
        #expect(kept.input.scalars == example.input.scalars)
    }

    @Test func centerCropAndPad() {
        let example = rampExample([1, 5, 7])
        // Margins 3 and 4: torchvision puts round(1.5) = 2 rows and 2 columns before the window.
        let cropped = CenterCrop(height: 2, width: 3).apply(example, generator: anyGenerator)
        #expect(cropped.input.shape == [1, 2, 3])
        #expect(cropped.input.scalars == [16, 17, 18, 23, 24, 25])
        #expect(cropped.label?.scalars == [16, 17, 18, 23, 24, 25])

        let padded = Pad(top: 1, bottom: 0, left: 2, right: 1, fill: -1).apply(rampExample([1, 2, 2]), generator: anyGenerator)
        #expect(padded.input.shape == [1, 3, 5])
        #expect(padded.input.scalars == [-1, -1, -1, -1, -1, -1, -1, 0, 1, -1, -1, -1, 2, 3, -1])
        // Masks are padded with background.
        #expect(padded.label?.scalars == [0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 3, 0])
    }

    @Test func randomCropIsAWindowOfThePaddedImage() {
        let example = rampExample([1, 6, 6])
        let crop = RandomCrop(height: 6, width: 6, padding: 2, fill: -1)
        var offsets = Set<[Int]>()
        for seed in 0..<400 {
            let out = crop.apply(example, generator: Generator(seed: UInt64(seed))).input.scalars
            // Find the offset that reproduces the output exactly.
            let match = (-2...2).flatMap { dy in (-2...2).map { dx in [dy, dx] } }.first { offset in
                (0..<36).allSatisfy { k in
                    let r = k / 6 + offset[0], c = k % 6 + offset[1]
                    let expected: Float = (0..<6).contains(r) && (0..<6).contains(c) ? Float(r * 6 + c) : -1
                    return out[k] == expected
                }
            }
            guard let match else {
                Issue.record("seed \(seed): output is no window of the padded image")
                return
            }
            offsets.insert(match)
        }
        #expect(offsets.count == 25)
    }

    @Test func normalizePerChannel() {
        let example = Example(input: Tensor([1, 2, 3, 4, 5, 6, 7, 8], shape: [2, 2, 2]))
        let out = Normalize(mean: [1, 5], std: [2, 0.5]).apply(example, generator: anyGenerator)
        #expect(out.input.scalars == [0, 0.5, 1, 1.5, 0, 2, 4, 6])
        #expect(example.input.scalars == [1, 2, 3, 4, 5, 6, 7, 8], "the input is left as it was")
    }

    @Test func spatialTransformsMoveTheMaskWithTheImage() {
        // 90° maps pixel centres onto pixel centres, so nearest and bilinear agree there.
        let example = rampExample([1, 6, 6])
        let turned = Affine(degrees: 90).apply(example, generator: anyGenerator)
        #expect(turned.label?.scalars == turned.input.scalars.map { Int($0.rounded()) })
        let augment = Compose(RandomCrop(height: 5, width: 5, padding: 1), RandomHorizontalFlip(), RandomVerticalFlip())
        for seed in 0..<20 {
            let out = augment.apply(example, generator: Generator(seed: UInt64(seed)))
            #expect(out.label?.shape == [1, 5, 5])
            #expect(out.label?.scalars == out.input.scalars.map { Int($0) })
        }
        // A float mask in `target` follows too; a [L] target is left alone.
        let withTarget = Example(input: example.input, target: Tensor((0..<36).map(Float.init), shape: [6, 6]))
        #expect(RandomHorizontalFlip(probability: 1).apply(withTarget, generator: anyGenerator).target?.scalars[0] == 5)
        let vector = Example(input: example.input, target: Tensor([1, 0, 1]))
        #expect(Resize(height: 3, width: 3).apply(vector, generator: anyGenerator).target?.scalars == [1, 0, 1])
    }
}

@Suite struct RandomTransforms {
    let augment = Compose(
        RandomCrop(height: 28, width: 28, padding: 2), RandomHorizontalFlip(), RandomRotation(degrees: 10),
        RandomAffine(degrees: 5, translate: (0.1, 0.1), scale: 0.9...1.1), IntensityJitter(brightness: 0.1, contrast: 0.2),
        GaussianNoise(std: 0.05), RandomErasing(probability: 0.5))

    @Test func sameSeedSameOutputOtherSeedOtherOutput() {
        let image = Example(input: Tensor.randn([1, 28, 28], generator: Generator(seed: 3)))
        let a = augment.apply(image, generator: Generator(seed: 11)).input.scalars
        let b = augment.apply(image, generator: Generator(seed: 11)).input.scalars
        let c = augment.apply(image, generator: Generator(seed: 12)).input.scalars
        #expect(a.map(\.bitPattern) == b.map(\.bitPattern))
        #expect(a != c)
        // Per-example generators of a loader differ by dataset index.
        let loader = DataLoader(FixedImages(count: 2), seed: 5)
        let first = augment.apply(image, generator: loader.exampleGenerator(epoch: 0, index: 0)).input.scalars
        let second = augment.apply(image, generator: loader.exampleGenerator(epoch: 0, index: 1)).input.scalars
        #expect(first != second)
    }

    @Test func flipRateMatchesProbability() {
        let example = rampExample([1, 2, 2])
        let flip = RandomHorizontalFlip(probability: 0.3)
        let generator = Generator(seed: 9)
        let draws = 4000
        let flipped = (0..<draws).filter { _ in flip.apply(example, generator: generator).input.scalars[0] == 1 }.count
        // Standard deviation of the rate is 0.0072; allow about 4 of them.
        #expect(abs(Double(flipped) / Double(draws) - 0.3) < 0.03)
        let applied = RandomApply(Lambda { e, _ in Example(input: e.input + 1) }, probability: 0.7)
        let shifted = (0..<draws).filter { _ in applied.apply(example, generator: generator).input.scalars[0] == 1 }.count
        #expect(abs(Double(shifted) / Double(draws) - 0.7) < 0.03)
    }

    @Test func rotationAnglesStayInRange() {
        // A rotation keeps the centre pixel of an odd image fixed and, within ±10°, the values near it.
        let example = rampExample([1, 9, 9])
        for seed in 0..<50 {
            let out = RandomRotation(degrees: 10).apply(example, generator: Generator(seed: UInt64(seed)))
            #expect(abs(out.input.scalars[40] - 40) < 1e-4)
            #expect(abs(out.input.scalars[41] - 41) < 2)  // the neighbour moves by at most sin(10°)·1 pixel
        }
    }

    @Test func erasingFillsOneRectangleOfTheRightSize() {
        let example = Example(input: Tensor.ones([2, 20, 30]))
        let erase = RandomErasing(probability: 1, scale: 0.1...0.2, ratio: 0.5...2, value: -3)
        for seed in 0..<30 {
            let values = erase.apply(example, generator: Generator(seed: UInt64(seed))).input.scalars
            let erased = values.indices.filter { values[$0] == -3 }
            #expect(erased.count + values.filter { $0 == 1 }.count == values.count)
            // Both channels, same rectangle; its area within the scale range (up to rounding).
            let perChannel = Double(erased.count) / 2 / 600
            #expect(perChannel > 0.07 && perChannel < 0.24, "seed \(seed): erased fraction \(perChannel)")
            let rows = Set(erased.map { ($0 % 600) / 30 }), columns = Set(erased.map { $0 % 30 })
            #expect(rows.count * columns.count * 2 == erased.count)
        }
    }

    @Test func noiseAndJitterStatistics() {
        let zeros = Example(input: Tensor.zeros([1, 64, 64]))
        let noise = GaussianNoise(std: 0.5).apply(zeros, generator: Generator(seed: 4)).input.scalars
        let mean = noise.reduce(0, +) / Float(noise.count)
        let std = (noise.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(noise.count)).squareRoot()
        #expect(abs(mean) < 0.05 && abs(std - 0.5) < 0.03)

        let ramp = rampExample([1, 4, 4])
        let brighter = IntensityJitter(brightness: 2).apply(ramp, generator: Generator(seed: 1)).input.scalars
        let offsets = zip(brighter, ramp.input.scalars).map { $0 - $1 }
        #expect(offsets.allSatisfy { abs($0 - offsets[0]) < 1e-5 } && abs(offsets[0]) <= 2)
        let contrasted = IntensityJitter(contrast: 0.5).apply(ramp, generator: Generator(seed: 1)).input.scalars
        // The mean (7.5) stays; deviations scale by one factor in [0.5, 1.5].
        #expect(abs(contrasted.reduce(0, +) / 16 - 7.5) < 1e-4)
        let factor = (contrasted[15] - contrasted[0]) / 15
        #expect(factor >= 0.5 && factor <= 1.5)
    }
}

/// `count` images [1, 28, 28] of value i, labelled i % 2.
struct FixedImages: Dataset {
    let count: Int
    func example(at index: Int, generator: Generator) throws -> Example {
        Example(input: Tensor.full([1, 28, 28], Float(index)), label: IntTensor([index % 2], shape: []))
    }
}

import Foundation
import Galen

/// Images and their segmentation masks from two folders, paired by file name stem.
///
/// ```swift
/// let nuclei = try SegmentationFolderDataset(
///     images: "Data/segmentation-bbbc039/images", masks: "Data/segmentation-bbbc039/masks")
/// let example = try nuclei.example(at: 0)   // input [1, 520, 696] in [0, 1], label [520, 696] of 0/1
/// ```
///
/// Images are PNG or TIFF (`.png`, `.tif`, `.tiff`), masks PNG; `images/a.tif` pairs with
/// `masks/a.png` (or `masks/a<maskSuffix>.png`). The input is Float [C, H, W]; the label is the
/// mask's `maskChannel` as an IntTensor [H, W]. Files are read when an example is asked for, so a
/// mask whose size differs from its image's, or an unreadable file, throws then, naming the files.
public struct SegmentationFolderDataset: Dataset {
    /// How image samples become input values.
    public enum ImageScaling: Sendable, Equatable {
        /// Stored values (0…255, 0…65535, or a float TIFF's values).
        case raw
        /// Integer samples divided by the largest value of their bit depth (255 for 8-bit, 65535 for
        /// 16-bit, even when a 16-bit file holds 12-bit data, as BBBC039's do); float TIFFs as stored.
        case unitRange
        /// Every sample divided by this value (e.g. 4095 for 12-bit data stored in 16 bits).
        case divided(by: Float)
    }

    /// What the mask values become.
    public enum MaskLabels: Sendable, Equatable {
        /// 1 where the mask value is above 0, else 0 (foreground / background).
        case binary
        /// The values as stored. In BBBC039 they are 1–3, which tell touching nuclei apart but are
        /// not unique per nucleus.
        case values
    }

    /// Image files, sorted by name.
    public let imagePaths: [String]
    /// The mask file of each image.
    public let maskPaths: [String]
    /// The mask channel read as the label (0: gray, or red of RGB/RGBA).
    public let maskChannel: Int
    public let maskLabels: MaskLabels
    public let scaling: ImageScaling

    public var count: Int { imagePaths.count }

    /// Pairs every image in `images` with its mask in `masks`; an image without a mask throws naming
    /// it. Masks without an image are ignored.
    public init(
        images: String, masks: String, maskSuffix: String = "", maskChannel: Int = 0,
        maskLabels: MaskLabels = .binary, scaling: ImageScaling = .unitRange
    ) throws {
        check(maskChannel >= 0, "SegmentationFolderDataset: maskChannel must be >= 0, got \(maskChannel)")
        let imageNames = try Self.files(in: images, extensions: ["png", "tif", "tiff"])
        guard !imageNames.isEmpty else {
            throw DataFormatError(source: images, message: "the folder has no .png, .tif or .tiff images")
        }
        let maskNames = Set(try Self.files(in: masks, extensions: ["png"]))
        var maskPaths: [String] = []
        for name in imageNames {
            let maskName = (name as NSString).deletingPathExtension + maskSuffix + ".png"
            guard maskNames.contains(maskName) else {
                throw DataFormatError(source: images + "/" + name, message: "no mask for this image (expected \(masks)/\(maskName))")
            }
            maskPaths.append(masks + "/" + maskName)
        }
        self.imagePaths = imageNames.map { images + "/" + $0 }
        self.maskPaths = maskPaths
        self.maskChannel = maskChannel
        self.maskLabels = maskLabels
        self.scaling = scaling
    }

    public func example(at index: Int, generator: Generator) throws -> Example {
        check(index >= 0 && index < count, "SegmentationFolderDataset.example: index \(index) is outside 0..<\(count)")
        let imagePath = imagePaths[index], maskPath = maskPaths[index]
        let image = try readImage(imagePath)
        let mask = try PNG.read(path: maskPath)
        guard mask.width == image.width, mask.height == image.height else {
            throw DataFormatError(
                source: maskPath,
                message: "mask is \(mask.width)×\(mask.height) but its image \(imagePath) is \(image.width)×\(image.height)")
        }
        guard maskChannel < mask.channels else {
            throw DataFormatError(source: maskPath, message: "mask has \(mask.channels) channel(s); channel \(maskChannel) was asked for")
        }
        let plane = mask.width * mask.height
        let labels = (0..<plane).map { p -> Int in
            let value = Int(mask.samples[p * mask.channels + maskChannel])
            return maskLabels == .binary ? (value > 0 ? 1 : 0) : value
        }
        return Example(input: image.tensor, label: IntTensor(labels, shape: [mask.height, mask.width]))
    }

    /// An image's size and its pixels as a scaled [C, H, W] tensor.
    private struct ScaledImage {
        let width: Int, height: Int
        let tensor: Tensor
    }

    private func readImage(_ path: String) throws -> ScaledImage {
        if path.lowercased().hasSuffix(".png") {
            let png = try PNG.read(path: path)
            let divisor = divisor(bitDepth: png.bitDepth, isFloat: false)
            return ScaledImage(width: png.width, height: png.height, tensor: planar(
                width: png.width, height: png.height, channels: png.channels) { Float(png.samples[$0]) / divisor })
        }
        let tiff = try TIFF.read(path: path)
        let divisor = divisor(bitDepth: tiff.bitDepth, isFloat: tiff.isFloat)
        return ScaledImage(width: tiff.width, height: tiff.height, tensor: planar(
            width: tiff.width, height: tiff.height, channels: tiff.channels) { tiff.samples[$0] / divisor })
    }

    private func divisor(bitDepth: Int, isFloat: Bool) -> Float {
        switch scaling {
        case .raw: return 1
        case .unitRange: return isFloat ? 1 : Float((1 << bitDepth) - 1)
        case .divided(let value): return value
        }
    }

    /// [C, H, W] values from (H, W, C)-interleaved samples.
    private func planar(width: Int, height: Int, channels: Int, sample: (Int) -> Float) -> Tensor {
        let plane = width * height
        var values = [Float](repeating: 0, count: plane * channels)
        for p in 0..<plane {
            for c in 0..<channels { values[c * plane + p] = sample(p * channels + c) }
        }
        return Tensor(values, shape: [channels, height, width])
    }

    /// Names of the visible files in `folder` with one of `extensions` (any case), sorted.
    private static func files(in folder: String, extensions: Set<String>) throws -> [String] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: folder)
        } catch {
            throw DataFormatError(source: folder, message: "cannot list the folder (does it exist?)")
        }
        return names.filter { !$0.hasPrefix(".") && extensions.contains(($0 as NSString).pathExtension.lowercased()) }.sorted()
    }
}

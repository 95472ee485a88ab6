import Foundation
import Galen
import GalenData
import GalenNN

/// One image's class probabilities.
public struct ImagePrediction: Sendable {
    public var file: String
    /// Which image of the file (DICOM frame, NIfTI slice), described for people.
    public var part: String
    public var probabilities: [Float]
}

/// `galen predict`: runs a trained model on image files as they come from the clinic — PNG, DICOM
/// (each frame) or NIfTI (the middle axial slice unless told) — prepared the way the training
/// data was: intensities to [0, 1] (DICOM through its window, else min–max), channels matched to
/// the model (gray repeated to RGB, RGB averaged to gray), bilinear resize to the model's input
/// size, then the training normalization.
public struct Predictor {
    public let model: any Layer
    public let task: TrainingTask
    public let channels: Int
    public let imageSize: Int
    /// `medmnist` or `unit`, as in training.
    public let normalization: String

    public init(model: any Layer, task: TrainingTask, channels: Int, imageSize: Int = 28, normalization: String = "medmnist") {
        self.model = model
        self.task = task
        self.channels = channels
        self.imageSize = imageSize
        self.normalization = normalization
    }

    /// Predictions for every image in `path`; `slice` picks a NIfTI slice (the middle one when nil).
    public func predict(file path: String, slice: Int? = nil) throws -> [ImagePrediction] {
        let images = try Self.loadImages(path, slice: slice)
        model.eval()
        return images.map { part, image in
            let input = prepare(image)
            let output = noGrad { task.probabilities(outputs: model(input.reshaped([1] + input.shape))) }
            return ImagePrediction(file: path, part: part, probabilities: output.scalars)
        }
    }

    /// [C, H, W] in [0, 1] → the model's input.
    func prepare(_ image: Tensor) -> Tensor {
        var x = image
        if x.shape[0] != channels {
            if channels == 1 {
                x = x.mean(axis: 0, keepDims: true)
            } else {
                x = x.shape[0] == 1 ? x.expanded(to: [channels, x.shape[1], x.shape[2]]).contiguous() : x
            }
        }
        if x.shape[1] != imageSize || x.shape[2] != imageSize {
            x = Resize(height: imageSize, width: imageSize).apply(Example(input: x), generator: Generator(seed: 0)).input
        }
        return normalization == "medmnist" ? (x - 0.5) / 0.5 : x
    }

    /// The 2-D images of a file as ([description], [C, H, W] in [0, 1]).
    static func loadImages(_ path: String, slice: Int?) throws -> [(String, Tensor)] {
        let lower = path.lowercased()
        let prefix = try readFilePrefix(path, count: 132)
        if prefix.count >= 132 && Array(prefix[128..<132]) == Array("DICM".utf8) || lower.hasSuffix(".dcm") {
            let dicom = try readDICOM(atPath: path)
            let windowed = dicom.windowed()   // [frames, samples, rows, columns] in [0, 1]
            let frames = windowed.shape[0]
            return (0..<frames).map { f in
                (frames == 1 ? "image" : "frame \(f + 1) of \(frames)", windowed.select(axis: 0, index: f).contiguous())
            }
        }
        if lower.hasSuffix(".nii") || lower.hasSuffix(".nii.gz") {
            let volume = try readNIfTI(atPath: path)
            guard volume.shape.count >= 2 else {
                throw DataFormatError(source: path, message: "a NIfTI image needs at least 2 dimensions, this one has \(volume.shape)")
            }
            let x = volume.shape[0], y = volume.shape[1], z = volume.shape.count > 2 ? volume.shape[2] : 1
            let k = slice ?? z / 2
            guard k >= 0 && k < z else { throw DataFormatError(source: path, message: "slice \(k) is outside 0..<\(z)") }
            // Only the first volume of a 4-D series; C order [x, y, z, t] → rows y, columns x.
            let values = volume.data.contiguous().scalars
            let stride = volume.data.count / (x * y * z)
            var plane = [Float](repeating: 0, count: x * y)
            for j in 0..<y { for i in 0..<x { plane[j * x + i] = values[((i * y + j) * z + k) * stride] } }
            return [("slice \(k) of \(z)", minMaxScaled(Tensor(plane, shape: [1, y, x])))]
        }
        if lower.hasSuffix(".png") {
            let png = try PNG.read(path: path)
            let top = Float((1 << png.bitDepth) - 1)
            var image = png.tensor / top
            if png.channels == 2 || png.channels == 4 { image = image.narrow(axis: 0, start: 0, length: png.channels - 1).contiguous() }
            return [("image", image)]
        }
        if lower.hasSuffix(".tif") || lower.hasSuffix(".tiff") {
            let tiff = try TIFF.read(path: path)
            return [("image", minMaxScaled(tiff.tensor))]
        }
        throw DataFormatError(source: path, message: "not an image Galen predicts on (PNG, TIFF, DICOM or NIfTI)")
    }
}

/// Values linearly mapped to [0, 1] (a constant image becomes 0).
func minMaxScaled(_ x: Tensor) -> Tensor {
    let values = x.scalars
    guard let lo = values.min(), let hi = values.max(), hi > lo else { return Tensor.zeros(x.shape) }
    return (x - lo) / (hi - lo)
}

/// The first `count` bytes of a file (fewer if it is shorter).
func readFilePrefix(_ path: String, count: Int) throws -> [UInt8] {
    guard let handle = FileHandle(forReadingAtPath: path) else {
        throw DataFormatError(source: path, message: "cannot open")
    }
    defer { try? handle.close() }
    return [UInt8](handle.readData(ofLength: count))
}

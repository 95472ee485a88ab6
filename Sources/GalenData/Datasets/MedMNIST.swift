import Galen

/// One of the three official splits of a MedMNIST file, named as in the file's keys (`val_images`).
public enum MedMNISTSplitName: String, Sendable, CaseIterable {
    case train
    case validation = "val"
    case test
}

/// How MedMNIST's uint8 pixels become Float32 image values.
public enum MedMNISTNormalization: Sendable, Equatable {
    /// `(pixel / 255 − mean[c]) / std[c]` per channel, in Float32 arithmetic as torchvision's
    /// `ToTensor` + `Normalize` compute it. A single mean or std applies to every channel.
    case meanStd(mean: [Float], std: [Float])
    /// `pixel / 255`, in [0, 1] (torchvision's `ToTensor` alone).
    case unitRange
    /// The stored values 0 … 255.
    case raw

    /// What the MedMNIST authors' code applies by default: `ToTensor()` then
    /// `Normalize(mean=[.5], std=[.5])`, giving values in [−1, 1].
    public static let medMNIST = MedMNISTNormalization.meanStd(mean: [0.5], std: [0.5])
}

/// The images and labels of one split of a MedMNIST 2D dataset.
///
/// ```swift
/// let test = try MedMNISTSplit(contentsOf: "Data/medmnist/pneumoniamnist.npz", split: .test)
/// test.images   // Tensor [624, 1, 28, 28], values in [-1, 1]
/// test.labels   // IntTensor [624]: 0 = normal, 1 = pneumonia
/// ```
public struct MedMNISTSplit {
    /// Which split this is.
    public let split: MedMNISTSplitName
    /// The catalog entry of the dataset, when known (given, or recognized from the file name).
    public let info: MedMNISTInfo?
    /// The images as Float32 [N, C, H, W], normalized as requested.
    public let images: Tensor
    /// The images exactly as stored: uint8 [N, H, W] (gray) or [N, H, W, C] (RGB).
    public let rawImages: NPYArray
    /// Class labels [N]; for multi-label data (ChestMNIST) 0/1 findings [N, L].
    public let labels: IntTensor

    /// Number of images.
    public var count: Int { images.shape[0] }
    /// Image channels (1 or 3).
    public var channels: Int { images.shape[1] }

    /// Reads one split of the MedMNIST .npz file at `path`, decoding only that split's arrays.
    ///
    /// `info` defaults to the catalog entry whose flag matches the file name
    /// (`pneumoniamnist.npz`, `pneumoniamnist_64.npz`); with an entry, the channel count, label
    /// shape and label values are checked against it. Throws a `DataFormatError` naming the file
    /// and member for a damaged file or arrays that do not fit the MedMNIST layout.
    public init(
        contentsOf path: String, split: MedMNISTSplitName, info: MedMNISTInfo? = nil,
        normalization: MedMNISTNormalization = .medMNIST
    ) throws {
        let npz = try NPZ(contentsOf: path, only: ["\(split.rawValue)_images", "\(split.rawValue)_labels"])
        try self.init(npz: npz, split: split, info: info ?? MedMNISTInfo.matching(fileName: path), normalization: normalization)
    }

    /// The split `split` of an already-read MedMNIST archive.
    public init(
        npz: NPZ, split: MedMNISTSplitName, info: MedMNISTInfo?, normalization: MedMNISTNormalization = .medMNIST
    ) throws {
        let rawImages = try npz.array(named: "\(split.rawValue)_images")
        let rawLabels = try npz.array(named: "\(split.rawValue)_labels")
        func failure(_ array: NPYArray, _ message: String) -> DataFormatError {
            DataFormatError(source: array.source, message: message)
        }

        guard rawImages.dtype == .uint8 else {
            throw failure(rawImages, "MedMNIST images are uint8, this array is \(rawImages.descr)")
        }
        let shape = rawImages.shape
        guard shape.count == 3 || (shape.count == 4 && shape[3] >= 1) else {
            throw failure(rawImages, "MedMNIST images are N×H×W or N×H×W×C, this array is \(shape)")
        }
        let channels = shape.count == 4 ? shape[3] : 1
        if let info, info.channels != channels {
            throw failure(rawImages, "\(info.name) has \(info.channels) channel(s), these images have \(channels)")
        }

        guard !rawLabels.dtype.isFloatingPoint else {
            throw failure(rawLabels, "MedMNIST labels are integers, this array is \(rawLabels.descr)")
        }
        let labelShape = rawLabels.shape
        guard (labelShape.count == 1 || labelShape.count == 2), labelShape[0] == shape[0] else {
            throw failure(rawLabels, "labels of shape \(labelShape) do not match \(shape[0]) images (expected N or N×L)")
        }
        let columns = labelShape.count == 2 ? labelShape[1] : 1
        var labels = try rawLabels.intTensor()
        if let info {
            let expectedColumns = info.task == .multiLabel ? info.classCount : 1
            guard columns == expectedColumns else {
                throw failure(rawLabels, "\(info.name) has \(expectedColumns) label column(s), this array has \(columns)")
            }
            let limit = info.task == .multiLabel ? 2 : info.classCount
            if let index = labels.scalars.firstIndex(where: { $0 < 0 || $0 >= limit }) {
                throw failure(
                    rawLabels, "label \(labels.scalars[index]) at index \(index) is outside 0 ..< \(limit) for \(info.name)")
            }
        }
        if columns == 1 && info?.task != .multiLabel { labels = labels.reshaped([shape[0]]) }

        self.split = split
        self.info = info
        self.rawImages = rawImages
        self.labels = labels
        self.images = try channelsFirstImages(rawImages, channels: channels, normalization: normalization)
    }
}

/// All three splits of a MedMNIST 2D dataset.
///
/// ```swift
/// let breast = try MedMNIST(contentsOf: "Data/medmnist/breastmnist.npz")
/// breast.train.images.shape   // [546, 1, 28, 28]
/// breast.info?.labelNames     // ["malignant", "normal, benign"]
/// ```
public struct MedMNIST {
    /// The catalog entry of the dataset, when known.
    public let info: MedMNISTInfo?
    /// The training split.
    public let train: MedMNISTSplit
    /// The validation split (`val_*` in the file).
    public let validation: MedMNISTSplit
    /// The test split.
    public let test: MedMNISTSplit

    /// Reads the MedMNIST .npz file at `path`; see `MedMNISTSplit.init(contentsOf:split:info:normalization:)`.
    public init(contentsOf path: String, info: MedMNISTInfo? = nil, normalization: MedMNISTNormalization = .medMNIST) throws {
        let npz = try NPZ(contentsOf: path)
        let info = info ?? MedMNISTInfo.matching(fileName: path)
        self.info = info
        train = try MedMNISTSplit(npz: npz, split: .train, info: info, normalization: normalization)
        validation = try MedMNISTSplit(npz: npz, split: .validation, info: info, normalization: normalization)
        test = try MedMNISTSplit(npz: npz, split: .test, info: info, normalization: normalization)
    }

    /// The split named `split`.
    public subscript(split: MedMNISTSplitName) -> MedMNISTSplit {
        switch split {
        case .train: return train
        case .validation: return validation
        case .test: return test
        }
    }
}

extension MedMNISTInfo {
    /// The catalog entry for a file named like the official ones: `pneumoniamnist.npz`, or
    /// `pneumoniamnist_64.npz` for MedMNIST+'s larger sizes.
    static func matching(fileName path: String) -> MedMNISTInfo? {
        var stem = Substring(path.split(separator: "/").last ?? "")
        if stem.hasSuffix(".npz") { stem = stem.dropLast(4) }
        if let underscore = stem.lastIndex(of: "_"), stem[stem.index(after: underscore)...].allSatisfy(\.isNumber) {
            stem = stem[..<underscore]
        }
        return named(String(stem))
    }
}

/// uint8 images [N, H, W(, C)] → Float32 [N, C, H, W] through a 256-entry table per channel,
/// which gives exactly the values of Float32 arithmetic on each pixel at the cost of one lookup.
private func channelsFirstImages(_ raw: NPYArray, channels: Int, normalization: MedMNISTNormalization) throws -> Tensor {
    var table = [Float](repeating: 0, count: 256 * channels)
    switch normalization {
    case .raw:
        for channel in 0..<channels { for value in 0..<256 { table[channel * 256 + value] = Float(value) } }
    case .unitRange:
        for channel in 0..<channels { for value in 0..<256 { table[channel * 256 + value] = Float(value) / 255 } }
    case .meanStd(let mean, let std):
        guard (mean.count == 1 || mean.count == channels), (std.count == 1 || std.count == channels) else {
            throw DataFormatError(
                source: raw.source,
                message: "normalization has \(mean.count) mean(s) and \(std.count) std(s) for \(channels)-channel images (give 1 or \(channels))")
        }
        guard !std.contains(0) else { throw DataFormatError(source: raw.source, message: "normalization std contains 0") }
        for channel in 0..<channels {
            let m = mean[mean.count == 1 ? 0 : channel]
            let s = std[std.count == 1 ? 0 : channel]
            for value in 0..<256 { table[channel * 256 + value] = (Float(value) / 255 - m) / s }
        }
    }

    let count = raw.shape[0]
    let plane = raw.shape[1] * raw.shape[2]
    let storage = TensorStorage(uninitializedCount: raw.count)
    let output = storage.pointer
    raw.rowMajorBytes().withUnsafeBufferPointer { input in
        table.withUnsafeBufferPointer { table in
            if channels == 1 {
                for index in 0..<input.count { output[index] = table[Int(input[index])] }
                return
            }
            // Interleaved H×W×C pixels become C planes of H×W.
            for image in 0..<count {
                let imageInput = input.baseAddress! + image &* plane &* channels
                let imageOutput = output + image &* plane &* channels
                for pixel in 0..<plane {
                    for channel in 0..<channels {
                        imageOutput[channel &* plane &+ pixel] = table[channel &* 256 &+ Int(imageInput[pixel &* channels &+ channel])]
                    }
                }
            }
        }
    }
    return Tensor(storage: storage, shape: [count, channels, raw.shape[1], raw.shape[2]])
}

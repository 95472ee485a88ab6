import Foundation
import Galen
import GalenData
import Testing

// The bundled MedMNIST files (Data/medmnist) load with the official shapes and label counts, and
// with the pixels, labels and normalized values NumPy reads.

@Suite struct MedMNISTLoading {
    private func path(_ expected: MedMNISTCase) -> String {
        repositoryRoot.appendingPathComponent(expected.file).path
    }

    @Test(arguments: DataCases.shared.medmnist)
    func loadsEverySplitAsNumPyReadsIt(_ expected: MedMNISTCase) throws {
        let dataset = try MedMNIST(contentsOf: path(expected))
        let info = try #require(dataset.info)
        #expect(info.flag == expected.flag)
        for split in MedMNISTSplitName.allCases {
            let numpy = try #require(expected.splits[split.rawValue])
            let loaded = dataset[split]
            let (count, height, width) = (numpy.imagesShape[0], numpy.imagesShape[1], numpy.imagesShape[2])
            #expect(loaded.split == split)
            #expect(count == info.size(of: split), "\(expected.flag) \(split): catalog size")
            #expect(loaded.images.shape == [count, 1, height, width])
            #expect(loaded.rawImages.shape == numpy.imagesShape)
            #expect(loaded.labels.shape == [count])
            #expect(Array(loaded.labels.scalars.prefix(numpy.firstLabels.count)) == numpy.firstLabels)
            let histogram = (0..<info.classCount).map { label in loaded.labels.scalars.filter { $0 == label }.count }
            #expect(histogram == numpy.labelCounts, "\(expected.flag) \(split)")
            #expect(loaded.rawImages.bytes.reduce(0) { $0 + Int($1) } == numpy.pixelSum)

            let values = loaded.images.scalars
            for sample in numpy.samples {
                let n = sample.index[0], h = sample.index[2], w = sample.index[3]
                let flat = (n * height + h) * width + w
                #expect(Int(loaded.rawImages.bytes[flat]) == sample.pixel)
                #expect(values[flat].bitPattern == sample.normalizedBits, "\(expected.flag) \(split) \(sample.index)")
            }
            #expect(values.min()! >= -1 && values.max()! <= 1)
        }
    }

    @Test func loadsOneSplitWithOtherNormalizations() throws {
        let file = repositoryRoot.appendingPathComponent("Data/medmnist/breastmnist.npz").path
        let raw = try MedMNISTSplit(contentsOf: file, split: .validation, normalization: .raw)
        let unit = try MedMNISTSplit(contentsOf: file, split: .validation, normalization: .unitRange)
        #expect(raw.count == 78 && raw.channels == 1)
        #expect(raw.images.scalars == raw.rawImages.bytes.map(Float.init))
        #expect(unit.images.scalars == raw.rawImages.bytes.map { Float($0) / 255 })
        #expect(raw.info?.labelNames == ["malignant", "normal, benign"])
        #expect(raw.info?.task == .binaryClass)

        let wrongMean = #expect(throws: DataFormatError.self) {
            try MedMNISTSplit(contentsOf: file, split: .test, normalization: .meanStd(mean: [0.5, 0.5, 0.5], std: [0.5]))
        }
        #expect(wrongMean?.message.contains("1-channel") == true)
    }

    @Test func catalogMatchesTheOfficialList() throws {
        #expect(MedMNISTInfo.catalog.count == 12)
        let chest = try #require(MedMNISTInfo.named("ChestMNIST"))
        #expect(chest.task == .multiLabel && chest.classCount == 14 && chest.channels == 1)
        let path = try #require(MedMNISTInfo.named("pathmnist"))
        #expect(path.channels == 3 && path.classCount == 9 && path.splitSizes == (89996, 10004, 7180))
        #expect(MedMNISTInfo.named("retinamnist")?.task == .ordinalRegression)
        #expect(MedMNISTInfo.named("dermamnist")?.license == "CC BY-NC 4.0")
        for info in MedMNISTInfo.catalog {
            #expect(info.md5.count == 32 && info.md5.allSatisfy(\.isHexDigit), "\(info.name)")
            #expect(info.url == "https://zenodo.org/records/10519652/files/\(info.flag).npz?download=1")
        }
        // The bundled files are the official ones.
        #expect(MedMNISTInfo.named("breastmnist")?.md5 == "750601b1f35ba3300ea97c75c52ff8f6")
        #expect(MedMNISTInfo.named("pneumoniamnist")?.md5 == "28209eda62fecd6e6a2d98b1501bb15f")
    }

    @Test func checksTheFileAgainstTheCatalog() throws {
        let npz = try NPZ(contentsOf: repositoryRoot.appendingPathComponent("Data/medmnist/breastmnist.npz").path)
        // BreastMNIST's file read as if it were PathMNIST (3 channels, 9 classes) or ChestMNIST (14 labels).
        let asPath = #expect(throws: DataFormatError.self) {
            try MedMNISTSplit(npz: npz, split: .test, info: MedMNISTInfo.named("pathmnist"))
        }
        #expect(asPath?.message.contains("PathMNIST has 3 channel(s), these images have 1") == true)
        #expect(asPath?.source.hasPrefix("NPZ member test_images.npy of file") == true)
        let asChest = #expect(throws: DataFormatError.self) {
            try MedMNISTSplit(npz: npz, split: .test, info: MedMNISTInfo.named("chestmnist"))
        }
        #expect(asChest?.message.contains("14 label column(s)") == true)
        // Unknown file name and no info: loads without a catalog entry.
        let anonymous = try MedMNISTSplit(npz: npz, split: .test, info: nil)
        #expect(anonymous.info == nil && anonymous.labels.shape == [156])
    }
}

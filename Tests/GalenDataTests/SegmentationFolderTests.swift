import Foundation
import Galen
@testable import GalenData
import Testing

// BBBC039 image/mask pairs against tifffile and Pillow (Scripts/fixtures/dataset_cases.py), and
// folders with a missing mask or a mask of the wrong size.

struct SegmentationCases: Decodable {
    struct Pixel: Decodable {
        let row: Int
        let column: Int
        let value: Int
        let mask: Int
    }
    struct Case: Decodable {
        let image: String
        let mask: String
        let shape: [Int]
        let nucleusPixels: Int
        let maskValueSum: Int
        let maxMaskValue: Int
        let imageSum: Int
        let pixel: Pixel
    }
    let segmentation: [Case]

    static let shared = loadDatasetCases(SegmentationCases.self)
}

private let bbbc039 = repositoryRoot.appendingPathComponent("Data/segmentation-bbbc039").path

@Suite struct SegmentationFolderTests {
    @Test func bbbc039MatchesTifffileAndPillow() throws {
        let expected = SegmentationCases.shared.segmentation
        #expect(expected.count == 30)
        let binary = try SegmentationFolderDataset(images: bbbc039 + "/images", masks: bbbc039 + "/masks")
        let raw = try SegmentationFolderDataset(images: bbbc039 + "/images", masks: bbbc039 + "/masks",
                                                maskLabels: .values, scaling: .raw)
        #expect(binary.count == 30)
        #expect(binary.imagePaths.map { ($0 as NSString).lastPathComponent } == expected.map(\.image))
        #expect(binary.maskPaths.map { ($0 as NSString).lastPathComponent } == expected.map(\.mask))
        // Every pair is checked on the first three and the last; the rest by nucleus pixel count.
        for (i, want) in expected.enumerated() {
            let example = try binary.example(at: i)
            #expect(want.shape == [520, 696])
            #expect(example.input.shape == [1, 520, 696] && example.label?.shape == [520, 696])
            let labels = try #require(example.label).scalars
            #expect(labels.reduce(0, +) == want.nucleusPixels, "\(want.mask)")
            #expect(labels.allSatisfy { $0 == 0 || $0 == 1 })
            let p = want.pixel.row * 696 + want.pixel.column
            #expect(example.input.scalars[p] == Float(want.pixel.value) / 65535)
            #expect(labels[p] == (want.pixel.mask > 0 ? 1 : 0))
            guard i < 3 || i == expected.count - 1 else { continue }
            let values = try raw.example(at: i)
            let pixels = values.input.scalars
            #expect(pixels.reduce(0) { $0 + Int($1) } == want.imageSum, "\(want.image)")
            #expect(pixels[p] == Float(want.pixel.value))
            let stored = try #require(values.label).scalars
            #expect(stored.reduce(0, +) == want.maskValueSum && stored.max() == want.maxMaskValue)
        }
        let twelveBit = try SegmentationFolderDataset(images: bbbc039 + "/images", masks: bbbc039 + "/masks", scaling: .divided(by: 4095))
        let first = expected[0].pixel
        #expect(try twelveBit.example(at: 0).input.scalars[first.row * 696 + first.column] == Float(first.value) / 4095)
    }

    @Test func pngImagesWithSuffixedMasks() throws {
        let images = makeTestFolder("galen-seg-images"), masks = makeTestFolder("galen-seg-masks")
        try PNG.write(PNGImage(width: 3, height: 2, channels: 3, bitDepth: 8, samples: (0..<18).map(UInt16.init)), path: images + "/a.png")
        try PNG.write(PNGImage(width: 3, height: 2, channels: 1, bitDepth: 8, samples: [0, 2, 0, 5, 0, 1]), path: masks + "/a_mask.png")
        _ = writeTestFile(images, "notes.txt", Array("not an image".utf8))
        let dataset = try SegmentationFolderDataset(images: images, masks: masks, maskSuffix: "_mask")
        #expect(dataset.count == 1)
        let example = try dataset.example(at: 0)
        #expect(example.input.shape == [3, 2, 3])
        // Channel-major: red samples are 0, 3, 6, … of the interleaved RGB values.
        #expect(Array(example.input.scalars.prefix(6)) == [0, 3, 6, 9, 12, 15].map { Float($0) / 255 })
        #expect(example.label == IntTensor([0, 1, 0, 1, 0, 1], shape: [2, 3]))
        let values = try SegmentationFolderDataset(images: images, masks: masks, maskSuffix: "_mask", maskLabels: .values)
        #expect(try values.example(at: 0).label == IntTensor([0, 2, 0, 5, 0, 1], shape: [2, 3]))
        let channel = try SegmentationFolderDataset(images: images, masks: masks, maskSuffix: "_mask", maskChannel: 1)
        let error = try #require(throws: DataFormatError.self) { try channel.example(at: 0) }
        #expect(error.source.hasSuffix("a_mask.png") && error.message.contains("channel 1"), "\(error)")
    }

    @Test func missingMasksAndMismatchedSizesThrowNamingFiles() throws {
        let images = makeTestFolder("galen-seg-images"), masks = makeTestFolder("galen-seg-masks")
        try PNG.write(PNGImage(width: 4, height: 4, channels: 1, bitDepth: 16, samples: [UInt16](repeating: 9, count: 16)), path: images + "/b.png")
        let missing = try #require(throws: DataFormatError.self) { try SegmentationFolderDataset(images: images, masks: masks) }
        #expect(missing.source == images + "/b.png" && missing.message.contains("no mask"), "\(missing)")
        #expect(missing.message.contains(masks + "/b.png"))

        try PNG.write(PNGImage(width: 5, height: 4, channels: 1, bitDepth: 8, samples: [UInt8](repeating: 1, count: 20).map(UInt16.init)), path: masks + "/b.png")
        let dataset = try SegmentationFolderDataset(images: images, masks: masks)
        let size = try #require(throws: DataFormatError.self) { try dataset.example(at: 0) }
        #expect(size.source == masks + "/b.png" && size.message.contains("5×4") && size.message.contains(images + "/b.png") && size.message.contains("4×4"),
                "\(size)")

        _ = writeTestFile(masks, "b.png", Array("broken".utf8))
        let broken = try #require(throws: DataFormatError.self) { try dataset.example(at: 0) }
        #expect(broken.source == masks + "/b.png")
        let folder = try #require(throws: DataFormatError.self) { try SegmentationFolderDataset(images: images + "/none", masks: masks) }
        #expect(folder.source == images + "/none")
        let empty = try #require(throws: DataFormatError.self) { try SegmentationFolderDataset(images: makeTestFolder("galen-seg-empty"), masks: masks) }
        #expect(empty.message.contains("no .png, .tif or .tiff images"))
    }
}

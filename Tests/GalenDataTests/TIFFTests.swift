import Foundation
import Galen
@testable import GalenData
import Testing

// TIFF decoding against tifffile/Pillow (Scripts/fixtures/image_cases.py), the bundled BBBC039
// images, and malformed input.

@Suite struct TIFFTests {
    @Test(arguments: ImageCases.shared.tiff)
    func decodesFixture(_ expected: ImageCase) throws {
        let image = try TIFF.read(path: fixturePath(expected.file))
        #expect(image.width == expected.width && image.height == expected.height)
        #expect(image.channels == expected.channels && image.bitDepth == expected.bitDepth)
        #expect(image.samples.map(Double.init) == expected.samples)
        #expect(image.tensor.shape == [expected.channels, expected.height, expected.width])
    }

    @Test func bbbc039ImagesMatchTifffile() throws {
        for expected in ImageCases.shared.bbbc039 {
            let image = try TIFF.read(path: repositoryRoot.appendingPathComponent(expected.image).path)
            #expect([image.height, image.width] == expected.imageShape && image.channels == 1 && image.bitDepth == 16)
            let raw = try #require(image.rawUInt16)
            #expect(raw.reduce(0) { $0 + Int($1) } == expected.imageSum)
            #expect(Int(raw.min()!) == expected.imageMin && Int(raw.max()!) == expected.imageMax)
            for px in expected.imagePixels { #expect(Int(raw[px[0] * image.width + px[1]]) == px[2]) }
        }
    }

    /// A little-endian 4×2 8-bit gray TIFF with one strip.
    static func small(stripOffset: UInt32? = nil) -> [UInt8] {
        func le16(_ v: Int) -> [UInt8] { [UInt8(v & 0xff), UInt8(v >> 8)] }
        func le32(_ v: UInt32) -> [UInt8] { [UInt8(v & 0xff), UInt8((v >> 8) & 0xff), UInt8((v >> 16) & 0xff), UInt8(v >> 24)] }
        func entry(_ tag: Int, _ type: Int, _ value: UInt32) -> [UInt8] {
            le16(tag) + le16(type) + le32(1) + (type == 3 ? le16(Int(value)) + [0, 0] : le32(value))
        }
        let entries = [entry(256, 3, 4), entry(257, 3, 2), entry(258, 3, 8), entry(259, 3, 1), entry(262, 3, 1),
                       entry(273, 4, stripOffset ?? 8), entry(277, 3, 1), entry(278, 3, 2), entry(279, 4, 8)]
        let pixels: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8]
        return [0x49, 0x49, 42, 0] + le32(16) + pixels + le16(entries.count) + entries.flatMap { $0 } + le32(0)
    }

    @Test func smallDecodes() throws {
        #expect(try TIFF.decode(Self.small()).rawUInt8 == [1, 2, 3, 4, 5, 6, 7, 8])
    }

    @Test func everyTruncationThrows() {
        let bytes = Self.small()
        for n in 0..<bytes.count - 4 { // the last 4 bytes are the next-IFD offset, unused
            #expect(throws: DataFormatError.self) { try TIFF.decode(Array(bytes[0..<n]), source: "cut.tif") }
        }
    }

    @Test func offsetsOutsideTheFileThrow() {
        for offset: UInt32 in [1000, 0xffff_fff0, 20] {
            do {
                _ = try TIFF.decode(Self.small(stripOffset: offset), source: "off.tif")
                if offset != 20 { Issue.record("no error for offset \(offset)") }
            } catch let error as DataFormatError {
                #expect(error.source == "off.tif")
            } catch { Issue.record("wrong error \(error)") }
        }
        var planar = Self.small()
        planar[0] = 0x4d // claims big-endian: every value is then garbage
        #expect(throws: DataFormatError.self) { try TIFF.decode(planar, source: "be.tif") }
    }
}

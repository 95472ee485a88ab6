import Foundation
import Galen
@testable import GalenData
import Testing

// Inputs on which a fuzz target of Fuzz/ (docs/fuzzing.md) crashed a parser, kept in
// Fixtures/fuzz-crashes/ as `<parser>-<what went wrong>.<ext>`: each must now be refused with a
// DataFormatError. The synthetic cases below cover the neighbours of each fix that the fuzzer had
// not reached yet.

/// The reproducer files, sorted.
private let crashFiles: [String] = {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: fixturePath("fuzz-crashes"))) ?? []
    return names.filter { !$0.hasPrefix(".") }.sorted()
}()

/// Parses `bytes` with the parser named by the file name's prefix, as the fuzz target of that
/// name does.
private func parse(_ name: String, _ bytes: [UInt8]) throws {
    switch name.prefix(while: { $0 != "-" }) {
    case "npy": _ = try NPYArray(bytes: bytes, source: name)
    case "npz": _ = try NPZ(bytes: bytes, source: name)
    case "png": _ = try PNG.decode(bytes, source: name)
    case "tiff": _ = try TIFF.decode(bytes, source: name)
    case "nifti": _ = try parseNIfTI(isGzip(bytes) ? inflate(bytes, format: .gzip, source: name) : bytes, source: name)
    case "wfdbannotations": _ = try WFDBAnnotations(bytes: bytes, source: name)
    case "wfdbheader": _ = try WFDBHeader(text: String(decoding: bytes, as: UTF8.self), source: name)
    case "dicom": _ = try DICOMImage.parse(bytes, source: name)
    default: Issue.record("\(name): no parser for this prefix; name reproducers <parser>-<what>.<ext>")
    }
}

/// A little-endian TIFF with one IFD of `entries` (tag, type, count, value; values that fit in
/// the entry), then `data`,
/// which starts at byte `tiffDataOffset(entries.count)`.
private func tiff(_ entries: [(Int, Int, Int, Int)], data: [UInt8] = []) -> [UInt8] {
    var b: [UInt8] = [0x49, 0x49, 42, 0, 8, 0, 0, 0]
    func u16(_ v: Int) { b += [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF)] }
    func u32(_ v: Int) { u16(v & 0xFFFF); u16((v >> 16) & 0xFFFF) }
    u16(entries.count)
    for (tag, type, count, value) in entries {
        u16(tag); u16(type); u32(count)
        if type == 3 { u16(value); u16(0) } else { u32(value) }
    }
    u32(0)  // no next IFD
    return b + data
}

private func tiffDataOffset(_ entryCount: Int) -> Int { 8 + 2 + 12 * entryCount + 4 }

/// TIFF tag types.
private let short = 3, long = 4

@Suite struct FuzzRegressionTests {
    @Test func reproducersArePresent() {
        #expect(!crashFiles.isEmpty, "Fixtures/fuzz-crashes/ is empty or missing")
    }

    @Test(arguments: crashFiles)
    func reproducerIsRefused(_ name: String) throws {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: fixturePath("fuzz-crashes/" + name))))
        #expect(throws: DataFormatError.self) { try parse(name, bytes) }
    }

    // MARK: TIFF (tiff-empty-bitspersample.tif: BitsPerSample with a count of 0 was indexed at [0])

    @Test func tiffBitsPerSampleWithoutValuesIsRefused() {
        let bytes = tiff([(256, long, 1, 1), (257, long, 1, 1), (258, short, 0, 0), (273, long, 1, 0)])
        #expect(throws: DataFormatError.self) { try TIFF.decode(bytes, source: "t") }
    }

    /// Width × SamplesPerPixel overflowed Int before the size check when both were near 2³².
    @Test func tiffSamplesPerPixelOutOfRangeIsRefused() {
        let bytes = tiff([(256, long, 1, 0xFFFF_FFFF), (257, long, 1, 1), (258, short, 1, 8), (277, long, 1, 0xFFFF_FFFF),
                          (273, long, 1, 0)])
        #expect(throws: DataFormatError.self) { try TIFF.decode(bytes, source: "t") }
    }

    /// A 2³¹-sample image whose only strip is 16 deflated bytes used to allocate and clear 8 GiB of
    /// samples (38 s here) before inflating the strip failed.
    @Test func tiffCompressedStripTooSmallForTheImageIsRefusedFirst() {
        let bytes = tiff([(256, long, 1, 1 << 16), (257, long, 1, 1 << 15), (258, short, 1, 8), (259, short, 1, 8),
                          (273, long, 1, tiffDataOffset(6)), (279, long, 1, 16)],
                         data: deflate([UInt8](repeating: 0, count: 100), format: .zlib))
        let error = #expect(throws: DataFormatError.self) { try TIFF.decode(bytes, source: "t") }
        // Refused by the size check, not by inflate after the allocation.
        #expect(error?.message.contains("too few for") == true, "\(String(describing: error))")
    }

    /// PackBits reserved the tile's claimed size (here 2⁴⁰ bytes) before unpacking anything.
    @Test func tiffPackBitsTileTooLargeForItsDataIsRefused() {
        let bytes = tiff([(256, long, 1, 1), (257, long, 1, 1), (258, short, 1, 8), (259, short, 1, 32773),
                          (322, long, 1, 1 << 20), (323, long, 1, 1 << 20), (324, long, 1, tiffDataOffset(8)), (325, long, 1, 2)],
                         data: [0x81, 0x00])
        #expect(throws: DataFormatError.self) { try TIFF.decode(bytes, source: "t") }
    }

    /// PackBits output reserves no more than the input can produce.
    @Test func packBitsRefusesShortDataWithoutReservingTheClaim() throws {
        #expect(throws: DataFormatError.self) { try TIFF.unpackBits([0x81, 0x07], expected: 1 << 40, source: "t") }
        #expect(try TIFF.unpackBits([0x81, 0x07], expected: 128, source: "t") == [UInt8](repeating: 7, count: 128))
    }
}

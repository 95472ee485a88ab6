import Foundation
import Galen
@testable import GalenData
import Testing

// A corpus of damaged files, generated here from good ones: every truncation, every single-bit
// flip in the headers, zip members that lie about their size, bad CRCs, unknown compression
// methods. Each must either read or throw a DataFormatError naming the file; none may crash,
// hang or allocate what the file cannot fill.

/// The bytes of a fixture file.
private func fixtureBytes(_ file: String) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: URL(fileURLWithPath: fixturePath(file))))
}

/// Reads `bytes` as .npz (or .npy) and returns the error, nil when it reads. Any error other than
/// a DataFormatError naming `source` is recorded as a failure.
private func readError(_ bytes: [UInt8], source: String, npy: Bool = false, sourceLocation: SourceLocation = #_sourceLocation) -> DataFormatError? {
    do {
        if npy { _ = try NPYArray(bytes: bytes, source: source) } else { _ = try NPZ(bytes: bytes, source: source) }
        return nil
    } catch let error as DataFormatError {
        #expect(error.source.contains(source), "error does not name \(source): \(error)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("unexpected error type \(type(of: error)): \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

// MARK: - Zip field surgery

private func readU16(_ bytes: [UInt8], _ offset: Int) -> Int { Int(bytes[offset]) | Int(bytes[offset + 1]) << 8 }
private func readU32(_ bytes: [UInt8], _ offset: Int) -> Int { readU16(bytes, offset) | readU16(bytes, offset + 2) << 16 }
private func writeU16(_ bytes: inout [UInt8], _ offset: Int, _ value: Int) {
    bytes[offset] = UInt8(value & 0xFF)
    bytes[offset + 1] = UInt8((value >> 8) & 0xFF)
}
private func writeU32(_ bytes: inout [UInt8], _ offset: Int, _ value: Int) {
    writeU16(&bytes, offset, value & 0xFFFF)
    writeU16(&bytes, offset + 2, (value >> 16) & 0xFFFF)
}

/// Offsets of the central directory entries of an archive without a comment or zip64 records.
private func centralEntries(_ bytes: [UInt8]) -> [(offset: Int, name: String)] {
    let end = bytes.count - 22
    precondition(readU32(bytes, end) == 0x0605_4B50, "fixture has a comment or no end record")
    var position = readU32(bytes, end + 16)
    var entries: [(Int, String)] = []
    for _ in 0..<readU16(bytes, end + 10) {
        let nameLength = readU16(bytes, position + 28)
        entries.append((position, String(decoding: bytes[(position + 46)..<(position + 46 + nameLength)], as: UTF8.self)))
        position += 46 + nameLength + readU16(bytes, position + 30) + readU16(bytes, position + 32)
    }
    return entries
}

/// zip's CRC-32 (reflected polynomial 0xEDB88320), written out here so that the test does not
/// check zlib's checksum with zlib.
private func crc32(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
    }
    return ~crc
}

/// A zip archive of stored members, built field by field so that tests can make each one lie.
private func storedZip(
    _ members: [(name: String, data: [UInt8])], method: Int = 0, declaredSize: ((Int) -> Int)? = nil,
    crc: ((UInt32) -> UInt32)? = nil, localName: String? = nil
) -> [UInt8] {
    var file: [UInt8] = []
    var central: [UInt8] = []
    func u16(_ value: Int, into bytes: inout [UInt8]) { bytes += [UInt8(value & 0xFF), UInt8((value >> 8) & 0xFF)] }
    func u32(_ value: Int, into bytes: inout [UInt8]) { u16(value & 0xFFFF, into: &bytes); u16((value >> 16) & 0xFFFF, into: &bytes) }
    for (name, data) in members {
        let offset = file.count
        let checksum = Int(crc?(crc32(data)) ?? crc32(data))
        let size = declaredSize?(data.count) ?? data.count
        for isCentral in [false, true] {
            var header: [UInt8] = []
            u32(isCentral ? 0x0201_4B50 : 0x0403_4B50, into: &header)
            if isCentral { u16(20, into: &header) }
            u16(20, into: &header)  // version needed
            u16(0, into: &header)  // flags
            u16(method, into: &header)
            u32(0, into: &header)  // time, date
            u32(checksum, into: &header)
            u32(data.count, into: &header)  // compressed size
            u32(size, into: &header)  // uncompressed size
            let headerName = Array((isCentral ? name : localName ?? name).utf8)
            u16(headerName.count, into: &header)
            u16(0, into: &header)  // extra length
            if isCentral {
                u16(0, into: &header); u16(0, into: &header); u16(0, into: &header)  // comment, disk, internal
                u32(0, into: &header)  // external attributes
                u32(offset, into: &header)
            }
            header += headerName
            if isCentral { central += header } else { file += header + data }
        }
    }
    let centralOffset = file.count
    file += central
    u32(0x0605_4B50, into: &file)
    u16(0, into: &file); u16(0, into: &file)
    u16(members.count, into: &file); u16(members.count, into: &file)
    u32(central.count, into: &file)
    u32(centralOffset, into: &file)
    u16(0, into: &file)
    return file
}

private let smallNPY = NPYArray(IntTensor([1, -2, 3, 4, 5, 6], shape: [2, 3]), dtype: .int64).npyBytes()

// MARK: - The corpus

@Suite struct MalformedInput {
    @Test func everyTruncationOfAnNPYFile() throws {
        let file = try fixtureBytes("npy/f4_le_f.npy")
        for length in 0..<file.count {
            let error = readError(Array(file.prefix(length)), source: "cut-\(length).npy", npy: true)
            #expect(error != nil, "a .npy cut to \(length) of \(file.count) bytes was accepted")
        }
        #expect(readError(file, source: "whole.npy", npy: true) == nil)
    }

    @Test(arguments: ["npz/arrays_stored.npz", "npz/arrays_deflated.npz", "npz/arrays_descriptor.npz", "npz/arrays_zip64.npz"])
    func everyTruncationOfAnNPZFile(_ fixture: String) throws {
        let file = try fixtureBytes(fixture)
        for length in 0..<file.count {
            let error = readError(Array(file.prefix(length)), source: "cut-\(length).npz")
            #expect(error != nil, "\(fixture) cut to \(length) of \(file.count) bytes was accepted")
        }
    }

    @Test func everyBitFlipInAnNPYHeader() throws {
        let file = try fixtureBytes("npy/i2_be_f.npy")
        let headerEnd = 10 + readU16(file, 8)
        var refused = 0
        for bit in 0..<(headerEnd * 8) {
            var damaged = file
            damaged[bit / 8] ^= 1 << UInt8(bit % 8)
            if readError(damaged, source: "flip-\(bit).npy", npy: true) != nil { refused += 1 }
        }
        // Flips in the magic, version and most of the dict are caught; some (a digit of the
        // padding, a space) leave a valid file.
        #expect(refused > headerEnd * 4)
    }

    @Test(arguments: ["npz/arrays_stored.npz", "npz/arrays_deflated.npz", "npz/arrays_zip64.npz"])
    func aBitFlipInEveryByteOfAnNPZFile(_ fixture: String) throws {
        // Everywhere: local headers, member data (caught by the CRC or by inflate), the central
        // directory and the end records; one bit per byte, its position cycling, keeps the
        // debug-build run short.
        let file = try fixtureBytes(fixture)
        for offset in file.indices {
            var damaged = file
            damaged[offset] ^= 1 << UInt8(offset % 8)
            _ = readError(damaged, source: "flip-\(offset).npz")
        }
    }

    @Test func deflatedMemberThatClaimsMoreOrLessThanItHolds() throws {
        let file = try fixtureBytes("npz/arrays_deflated.npz")
        let (entry, name) = try #require(centralEntries(file).first { $0.name == "images.npy" })
        let size = readU32(file, entry + 24)
        for (declared, message) in [
            (size + 1, "inflates to \(size) bytes, but its header declares \(size + 1)"),
            (size - 1, "inflates to more than the \(size - 1) bytes"),
            (0, "inflates to more than the 0 bytes"),
            (0xFFFF_FFF0, "more than its"),
        ] {
            var damaged = file
            writeU32(&damaged, entry + 24, declared)
            let error = readError(damaged, source: "lying.npz")
            #expect(error?.message.contains(name) == true)
            #expect(error?.message.contains(message) == true, "declared \(declared): \(String(describing: error))")
        }
    }

    @Test func zip64MemberThatClaimsExabytesIsRefusedWithoutAllocating() throws {
        // In the zip64 fixture the sizes live in 8-byte extra fields; make one claim 2^62 bytes.
        var file = try fixtureBytes("npz/arrays_zip64.npz")
        let extraID: [UInt8] = [0x01, 0x00]
        let central = try #require(file.indices.last { file[$0..<min($0 + 4, file.count)].elementsEqual([0x50, 0x4B, 0x01, 0x02]) })
        let extra = try #require((central..<file.count - 1).first { file[$0..<($0 + 2)].elementsEqual(extraID) && file[$0 + 2] >= 8 })
        for index in 0..<8 { file[extra + 4 + index] = index == 7 ? 0x40 : 0 }
        let error = readError(file, source: "zip64-lie.npz")
        #expect(error?.message.contains("declares 4611686018427387904 bytes uncompressed, more than its") == true, "\(String(describing: error))")
    }

    @Test func storedMemberWhoseSizesDisagree() {
        let zip = storedZip([("a.npy", smallNPY)], declaredSize: { $0 + 100 })
        let error = readError(zip, source: "stored-lie.npz")
        #expect(error?.message.contains("declares \(smallNPY.count + 100) bytes but holds \(smallNPY.count)") == true)
    }

    @Test func badCRC() throws {
        let zip = storedZip([("a.npy", smallNPY)], crc: { $0 ^ 1 })
        #expect(readError(zip, source: "crc.npz")?.message.contains("CRC-32 mismatch") == true)

        var deflated = try fixtureBytes("npz/arrays_deflated.npz")
        let entry = try #require(centralEntries(deflated).first { $0.name == "weights.npy" }).offset
        writeU32(&deflated, entry + 16, readU32(deflated, entry + 16) ^ 0x8000_0000)
        let error = readError(deflated, source: "crc-deflated.npz")
        #expect(error?.message.contains("member weights.npy: CRC-32 mismatch") == true)
    }

    @Test func unknownCompressionMethod() throws {
        let zip = storedZip([("a.npy", smallNPY)], method: 12)
        let error = readError(zip, source: "bzip2.npz")
        #expect(error?.message.contains("compression method 12 (bzip2) is not supported") == true)

        var deflated = try fixtureBytes("npz/arrays_deflated.npz")
        let entry = try #require(centralEntries(deflated).first).offset
        writeU16(&deflated, entry + 10, 99)
        #expect(readError(deflated, source: "aes.npz")?.message.contains("compression method 99") == true)
    }

    @Test func memberStructureErrors() throws {
        #expect(readError(storedZip([("a.npy", smallNPY)], localName: "b.npy"), source: "names.npz")?
            .message.contains("the local header names \"b.npy\"") == true)
        #expect(readError(storedZip([("a.npy", smallNPY), ("a.npy", smallNPY)]), source: "twice.npz")?
            .message.contains("appears twice") == true)
        #expect(readError(storedZip([("a.npy", Array("not an npy file".utf8))]), source: "junk.npz")?
            .source == "NPZ member a.npy of file junk.npz")
        #expect(readError(Array("just some text, not a zip".utf8), source: "text.npz")?
            .message.contains("no end-of-central-directory record") == true)

        // Members that are not .npy files are skipped, as NumPy lists only arrays by name.
        let npz = try NPZ(bytes: storedZip([("readme.txt", [1, 2, 3]), ("a.npy", smallNPY)]), source: "mixed.npz")
        #expect(npz.names == ["a"])
        #expect(try npz.array(named: "a").intTensor() == IntTensor([1, -2, 3, 4, 5, 6], shape: [2, 3]))

        var encrypted = storedZip([("a.npy", smallNPY)])
        let entry = centralEntries(encrypted)[0].offset
        writeU16(&encrypted, entry + 8, 1)
        #expect(readError(encrypted, source: "secret.npz")?.message.contains("encrypted") == true)

        var misplaced = storedZip([("a.npy", smallNPY)])
        writeU32(&misplaced, entry + 42, 7)
        #expect(readError(misplaced, source: "offset.npz")?.message.contains("no local file header") == true)
    }

    @Test func inflateRejectsCorruptAndTruncatedStreams() throws {
        // Straight at the inflater: a stream with an invalid block type, and an empty stream.
        let invalidBlock: [UInt8] = [0xFF, 0xFF, 0xFF]
        #expect(throws: InflateFailure.self) { try invalidBlock.withUnsafeBytes { try inflateStream($0, format: .raw, expectedCount: 10) } }
        #expect(throws: InflateFailure.self) { try [UInt8]().withUnsafeBytes { try inflateStream($0, format: .raw, expectedCount: 0) } }
        // A final empty stored block is a valid, empty stream.
        let empty: [UInt8] = [0x01, 0x00, 0x00, 0xFF, 0xFF]
        #expect(try empty.withUnsafeBytes { try inflateStream($0, format: .raw, expectedCount: 0) } == [])
    }
}

import Galen
import CZlib

// A reader for zip archives (PKWARE's APPNOTE.TXT), as far as .npz files need: the central
// directory (with zip64 records and extra fields), stored and deflated members, data descriptors,
// CRC-32 checks. Archives are untrusted: every offset and size is checked against the bytes
// actually present before it is used, and no allocation is larger than the member's compressed
// bytes can decompress to.

/// One member of a zip archive, as the central directory describes it.
struct ZipMember {
    /// The member's path inside the archive.
    let name: String
    /// The raw name bytes, compared with the local header's copy.
    let nameBytes: [UInt8]
    /// General-purpose flags: bit 0 encrypted, bit 3 sizes and CRC in a data descriptor.
    let flags: UInt16
    /// 0 stored, 8 deflate; anything else is refused when extracted.
    let method: UInt16
    let crc32: UInt32
    let compressedSize: Int
    let uncompressedSize: Int
    let localHeaderOffset: Int
}

/// A zip archive held in memory: its members, and extraction of their contents.
struct ZipArchive {
    let bytes: [UInt8]
    /// The archive's name in error messages.
    let source: String
    let members: [ZipMember]

    private static let endOfCentralDirectorySignature: UInt32 = 0x0605_4B50
    private static let zip64LocatorSignature: UInt32 = 0x0706_4B50
    private static let zip64EndSignature: UInt32 = 0x0606_4B50
    private static let centralHeaderSignature: UInt32 = 0x0201_4B50
    private static let localHeaderSignature: UInt32 = 0x0403_4B50

    /// Deflate encodes at most 258 bytes in 2 bits (a 1-bit length code and a 1-bit distance
    /// code), so n compressed bytes inflate to at most about 1032·n bytes. A size field that
    /// claims more is a lie, refused before anything is allocated.
    static let maximumDeflateRatio = 1032

    /// Reads the central directory of the archive in `bytes`.
    init(bytes: [UInt8], source: String) throws {
        self.bytes = bytes
        self.source = source
        self.members = try bytes.withUnsafeBytes { try Self.readCentralDirectory($0, source: source) }
    }

    private static func readCentralDirectory(_ file: UnsafeRawBufferPointer, source: String) throws -> [ZipMember] {
        func failure(_ message: String) -> DataFormatError { DataFormatError(source: source, message: message) }
        let reader = LittleEndianReader(file)

        // The end-of-central-directory record is 22 bytes plus a comment of up to 65535 bytes, so
        // it starts in the last 65557 bytes; search backwards for its signature.
        var endOffset: Int?
        if file.count >= 22 {
            var candidate = file.count - 22
            let lowest = max(0, file.count - 22 - 65535)
            while candidate >= lowest {
                if reader.u32(candidate) == endOfCentralDirectorySignature,
                   candidate + 22 + Int(reader.u16(candidate + 20)) <= file.count {
                    endOffset = candidate
                    break
                }
                candidate -= 1
            }
        }
        guard let end = endOffset else {
            throw failure("not a zip archive, or truncated: no end-of-central-directory record (an .npz file is a zip archive)")
        }
        var diskNumber = UInt32(reader.u16(end + 4))
        var directoryDisk = UInt32(reader.u16(end + 6))
        var entryCount = UInt64(reader.u16(end + 10))
        var directorySize = UInt64(reader.u32(end + 12))
        var directoryOffset = UInt64(reader.u32(end + 16))

        // Zip64: a locator just before the record points at a zip64 end record with 64-bit fields.
        if end >= 20, reader.u32(end - 20) == zip64LocatorSignature {
            let recordOffset = reader.u64(end - 20 + 8)
            guard recordOffset <= UInt64(end - 20), Int(recordOffset) + 56 <= end - 20,
                  reader.u32(Int(recordOffset)) == zip64EndSignature else {
                throw failure("corrupt zip64 end-of-central-directory record (locator points at offset \(recordOffset))")
            }
            let record = Int(recordOffset)
            diskNumber = reader.u32(record + 16)
            directoryDisk = reader.u32(record + 20)
            entryCount = reader.u64(record + 32)
            directorySize = reader.u64(record + 40)
            directoryOffset = reader.u64(record + 48)
        }
        guard diskNumber == 0, directoryDisk == 0 else {
            throw failure("multi-disk (spanned) zip archives are not supported")
        }
        guard directoryOffset <= UInt64(end), directorySize <= UInt64(end) - directoryOffset else {
            throw failure(
                "the central directory (\(directorySize) bytes at offset \(directoryOffset)) lies outside the archive's \(file.count) bytes")
        }
        let directoryEnd = Int(directoryOffset + directorySize)

        // Each entry takes at least 46 bytes, which bounds the reservation whatever the count claims.
        var members: [ZipMember] = []
        members.reserveCapacity(Int(min(entryCount, directorySize / 46)))
        var position = Int(directoryOffset)
        for entry in 0..<entryCount {
            guard position + 46 <= directoryEnd, reader.u32(position) == centralHeaderSignature else {
                throw failure("corrupt central directory: entry \(entry) of \(entryCount) is missing or damaged")
            }
            let flags = reader.u16(position + 8)
            let method = reader.u16(position + 10)
            let crc = reader.u32(position + 16)
            var compressedSize = UInt64(reader.u32(position + 20))
            var uncompressedSize = UInt64(reader.u32(position + 24))
            let nameLength = Int(reader.u16(position + 28))
            let extraLength = Int(reader.u16(position + 30))
            let commentLength = Int(reader.u16(position + 32))
            var localOffset = UInt64(reader.u32(position + 42))
            let nameStart = position + 46
            let extraStart = nameStart + nameLength
            let next = extraStart + extraLength + commentLength
            guard next <= directoryEnd else {
                throw failure("corrupt central directory: entry \(entry) runs past the directory's end")
            }
            let nameBytes = Array(file[nameStart..<extraStart])
            // Bit 11 marks UTF-8 names; NumPy writes ASCII, which reads the same either way.
            let name = String(decoding: nameBytes, as: UTF8.self)

            // Fields set to 0xFFFFFFFF are in the zip64 extra field (id 1), in this order.
            var extra = extraStart
            while extra + 4 <= extraStart + extraLength {
                let id = reader.u16(extra)
                let size = Int(reader.u16(extra + 2))
                let dataStart = extra + 4
                guard dataStart + size <= extraStart + extraLength else {
                    throw failure("corrupt extra field in the central directory entry of \(name)")
                }
                if id == 1 {
                    var field = dataStart
                    func next64() throws -> UInt64 {
                        guard field + 8 <= dataStart + size else {
                            throw failure("zip64 extra field of \(name) is too short for the sizes it must hold")
                        }
                        defer { field += 8 }
                        return reader.u64(field)
                    }
                    if uncompressedSize == 0xFFFF_FFFF { uncompressedSize = try next64() }
                    if compressedSize == 0xFFFF_FFFF { compressedSize = try next64() }
                    if localOffset == 0xFFFF_FFFF { localOffset = try next64() }
                }
                extra = dataStart + size
            }
            guard compressedSize <= UInt64(file.count), localOffset < UInt64(file.count),
                  uncompressedSize <= UInt64(Int.max) else {
                throw failure(
                    "member \(name): sizes or offset beyond the archive (compressed \(compressedSize), offset \(localOffset), archive \(file.count) bytes)")
            }
            members.append(
                ZipMember(
                    name: name, nameBytes: nameBytes, flags: flags, method: method, crc32: crc,
                    compressedSize: Int(compressedSize), uncompressedSize: Int(uncompressedSize),
                    localHeaderOffset: Int(localOffset)))
            position = next
        }
        return members
    }

    /// The uncompressed contents of `member`, checked against its declared size and CRC-32.
    func contents(of member: ZipMember) throws -> [UInt8] {
        func failure(_ message: String) -> DataFormatError {
            DataFormatError(source: source, message: "member \(member.name): \(message)")
        }
        guard member.flags & 1 == 0 else { throw failure("encrypted members are not supported") }
        guard member.method == 0 || member.method == 8 else {
            throw failure(
                "compression method \(member.method)\(methodName(member.method)) is not supported (Galen reads stored (0) and deflate (8))")
        }
        return try bytes.withUnsafeBytes { file in
            let reader = LittleEndianReader(file)
            let local = member.localHeaderOffset
            guard local + 30 <= file.count, reader.u32(local) == Self.localHeaderSignature else {
                throw failure("no local file header at offset \(local)")
            }
            let nameLength = Int(reader.u16(local + 26))
            let extraLength = Int(reader.u16(local + 28))
            let dataStart = local + 30 + nameLength + extraLength
            guard dataStart <= file.count else { throw failure("the local header runs past the end of the archive") }
            guard file[(local + 30)..<(local + 30 + nameLength)].elementsEqual(member.nameBytes) else {
                let localName = String(decoding: file[(local + 30)..<(local + 30 + nameLength)], as: UTF8.self)
                throw failure("the local header names \"\(localName)\", the central directory \"\(member.name)\"")
            }
            // With a data descriptor (flag bit 3) the local header's sizes and CRC are zero; the
            // central directory's copies, used here, are the real ones either way.
            guard member.compressedSize <= file.count - dataStart else {
                throw failure(
                    "\(member.compressedSize) compressed bytes at offset \(dataStart) run past the end of the archive (\(file.count) bytes)")
            }
            let compressed = UnsafeRawBufferPointer(rebasing: file[dataStart..<(dataStart + member.compressedSize)])

            let output: [UInt8]
            if member.method == 0 {
                guard member.uncompressedSize == member.compressedSize else {
                    throw failure(
                        "stored (uncompressed) member declares \(member.uncompressedSize) bytes but holds \(member.compressedSize)")
                }
                output = Array(compressed)
            } else {
                let (bound, overflow) = member.compressedSize.multipliedReportingOverflow(by: Self.maximumDeflateRatio)
                guard overflow || member.uncompressedSize <= bound + 1024 else {
                    throw failure(
                        "declares \(member.uncompressedSize) bytes uncompressed, more than its \(member.compressedSize) deflated bytes can hold")
                }
                let declared = member.uncompressedSize
                do throws(InflateFailure) {
                    output = try inflateStream(compressed, format: .raw, expectedCount: declared)
                } catch {
                    switch error {
                    case .corrupt(let reason): throw failure("corrupt deflate data (\(reason))")
                    case .truncated: throw failure("deflate data ends before the end of the stream (truncated)")
                    case .longerThan: throw failure("inflates to more than the \(declared) bytes its header declares")
                    case .shorterThanExpected(let actual):
                        throw failure("inflates to \(actual) bytes, but its header declares \(declared)")
                    case .outOfMemory: throw failure("zlib ran out of memory")
                    }
                }
            }
            let crc = crc32Checksum(output)
            guard crc == member.crc32 else {
                throw failure("CRC-32 mismatch: the data gives \(hex32(crc)), the archive declares \(hex32(member.crc32))")
            }
            return output
        }
    }
}

/// Names of compression methods other zip writers use, for the refusal message.
private func methodName(_ method: UInt16) -> String {
    switch method {
    case 9: return " (Deflate64)"
    case 12: return " (bzip2)"
    case 14: return " (LZMA)"
    case 93: return " (Zstandard)"
    case 95: return " (xz)"
    default: return ""
    }
}

private func hex32(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
}

/// Little-endian fields at byte offsets the caller has already checked.
private struct LittleEndianReader {
    let raw: UnsafeRawBufferPointer
    init(_ raw: UnsafeRawBufferPointer) { self.raw = raw }
    func u16(_ offset: Int) -> UInt16 { UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt16.self)) }
    func u32(_ offset: Int) -> UInt32 { UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }
    func u64(_ offset: Int) -> UInt64 { UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) }
}

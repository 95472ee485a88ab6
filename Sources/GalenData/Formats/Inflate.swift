import CZlib
import Galen

// The one place Galen calls zlib: zip members (raw deflate), PNG and TIFF (zlib wrapper) and
// .gz / .nii.gz files (gzip wrapper) all inflate and deflate through these functions.

/// The wrapper around a deflate stream.
public enum DeflateFormat: Sendable {
    /// RFC 1950: 2-byte header and Adler-32 trailer (PNG's IDAT, TIFF compression 8).
    case zlib
    /// RFC 1951 with no wrapper (zip's method 8).
    case raw
    /// RFC 1952 (`.gz`, `.nii.gz`); concatenated members are joined, as gunzip does.
    case gzip

    /// zlib's window-bits argument selecting the wrapper (negative: raw; +16: gzip).
    var windowBits: Int32 {
        switch self {
        case .zlib: return MAX_WBITS
        case .raw: return -MAX_WBITS
        case .gzip: return MAX_WBITS + 16
        }
    }
}

/// Whether `bytes` starts with the gzip magic number 1f 8b.
public func isGzip(_ bytes: [UInt8]) -> Bool { bytes.count >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b }

/// Why a deflate stream did not inflate to what the caller needed.
enum InflateFailure: Error {
    case corrupt(String)
    case truncated(produced: Int)
    case longerThan(Int)
    case shorterThanExpected(Int)
    case outOfMemory
}

/// zlib takes at most 2^32 − 1 bytes per call.
private let zlibChunk = Int(UInt32.max)

/// Inflates `input`. With `expectedCount` the result must be exactly that long; otherwise it may be
/// up to `maximumCount` bytes.
///
/// The output buffer grows with what the stream actually produces (starting from the expected size
/// only when that is plausible for the input), so a size field that lies costs no memory beyond
/// the real output, and a stream that inflates past the limit stops there.
func inflateStream(_ input: UnsafeRawBufferPointer, format: DeflateFormat, expectedCount: Int?,
                   maximumCount: Int = 1 << 34) throws(InflateFailure) -> [UInt8] {
    let limit = expectedCount ?? maximumCount
    var stream = z_stream()
    // The macro inflateInit2 does not import; call the function it expands to.
    guard inflateInit2_(&stream, format.windowBits, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
        throw .outOfMemory
    }
    defer { inflateEnd(&stream) }

    // One byte beyond the capacity is always allocated: offered once the limit is reached, it
    // shows whether the stream has more to give.
    var capacity = min(limit, max(1 << 16, 4 * input.count))
    var buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity + 1, alignment: 16)
    defer { buffer.deallocate() }
    var produced = 0
    var inputGiven = 0
    while true {
        if stream.avail_in == 0 && inputGiven < input.count {
            let chunk = min(zlibChunk, input.count - inputGiven)
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress!.assumingMemoryBound(to: UInt8.self) + inputGiven)
            stream.avail_in = UInt32(chunk)
            inputGiven += chunk
        }
        if produced == capacity && capacity < limit {
            let grownCapacity = min(limit, 2 * capacity)
            let grown = UnsafeMutableRawPointer.allocate(byteCount: grownCapacity + 1, alignment: 16)
            grown.copyMemory(from: buffer, byteCount: produced)
            buffer.deallocate()
            buffer = grown
            capacity = grownCapacity
        }
        let room = (produced < limit ? capacity : limit + 1) - produced
        let outputStart = buffer.assumingMemoryBound(to: UInt8.self) + produced
        stream.next_out = outputStart
        stream.avail_out = UInt32(min(zlibChunk, room))
        let status = CZlib.inflate(&stream, Z_NO_FLUSH)
        produced += stream.next_out - outputStart
        if produced > limit { throw .longerThan(limit) }
        switch status {
        case Z_STREAM_END:
            let left = Int(stream.avail_in) + (input.count - inputGiven)
            let next = input.count - left
            if format == .gzip && left >= 2 && input[next] == 0x1f && input[next + 1] == 0x8b {
                guard inflateReset(&stream) == Z_OK else { throw .outOfMemory }
                continue
            }
            if let expectedCount, produced != expectedCount { throw .shorterThanExpected(produced) }
            return Array(UnsafeRawBufferPointer(start: buffer, count: produced))
        case Z_OK:
            continue
        case Z_BUF_ERROR:
            // No progress possible: the input is used up before the stream's final block.
            throw .truncated(produced: produced)
        case Z_MEM_ERROR:
            throw .outOfMemory
        default:
            throw .corrupt(stream.msg.map { String(cString: $0) } ?? "zlib status \(status)")
        }
    }
}

/// Inflates `bytes` and returns the decompressed bytes.
///
/// `expectedSize`, when given, is the exact size the caller needs: inflating stops with an error
/// once the output would exceed it, and a shorter result is an error, so a corrupt or hostile
/// stream cannot make this allocate more than the caller asked for. Without it the output grows as
/// needed up to `maximumSize`. Errors are `DataFormatError`s naming `source`.
public func inflate(_ bytes: [UInt8], format: DeflateFormat, expectedSize: Int? = nil,
                    maximumSize: Int = 1 << 34, source: String) throws -> [UInt8] {
    let result: Result<[UInt8], InflateFailure> = bytes.withUnsafeBytes { raw in
        Result { () throws(InflateFailure) in
            try inflateStream(raw, format: format, expectedCount: expectedSize, maximumCount: maximumSize)
        }
    }
    switch result {
    case .success(let output): return output
    case .failure(let failure):
        let message: String
        switch failure {
        case .corrupt(let reason): message = "corrupt compressed data (\(reason))"
        case .truncated(let produced): message = "compressed data ends early (after \(produced) bytes of output)"
        case .longerThan(let limit):
            message = expectedSize != nil
                ? "compressed data inflates to more than the expected \(limit) bytes"
                : "compressed data inflates to more than \(limit) bytes"
        case .shorterThanExpected(let produced):
            message = "compressed data inflates to \(produced) bytes, expected \(expectedSize ?? 0)"
        case .outOfMemory: message = "zlib ran out of memory"
        }
        throw DataFormatError(source: source, message: (format == .gzip ? "gzip: " : "") + message)
    }
}

/// Deflates `bytes` into a stream with the given wrapper (zlib's default level unless told).
public func deflate(_ bytes: [UInt8], format: DeflateFormat, level: Int32 = Z_DEFAULT_COMPRESSION) -> [UInt8] {
    var stream = z_stream()
    let started = deflateInit2_(&stream, level, Z_DEFLATED, format.windowBits, 8, Z_DEFAULT_STRATEGY,
                                zlibVersion(), Int32(MemoryLayout<z_stream>.size))
    check(started == Z_OK, "zlib could not start deflating (status \(started))")
    defer { deflateEnd(&stream) }
    var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(bytes.count))) + 64)
    var produced = 0
    bytes.withUnsafeBufferPointer { input in
        var inputGiven = 0
        while true {
            if stream.avail_in == 0 && inputGiven < input.count {
                let chunk = min(zlibChunk, input.count - inputGiven)
                stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress! + inputGiven)
                stream.avail_in = UInt32(chunk)
                inputGiven += chunk
            }
            if produced == output.count { output.append(contentsOf: repeatElement(0, count: output.count)) }
            let room = min(zlibChunk, output.count - produced)
            let status: Int32 = output.withUnsafeMutableBufferPointer { out in
                stream.next_out = out.baseAddress! + produced
                stream.avail_out = UInt32(room)
                let status = CZlib.deflate(&stream, inputGiven == input.count ? Z_FINISH : Z_NO_FLUSH)
                produced += room - Int(stream.avail_out)
                return status
            }
            if status == Z_STREAM_END { return }
            check(status == Z_OK || status == Z_BUF_ERROR, "zlib deflate failed (status \(status))")
        }
    }
    output.removeSubrange(produced...)
    return output
}

/// The CRC-32 of `bytes` (zip's and PNG's checksum), computed by zlib.
func crc32Checksum(_ bytes: [UInt8]) -> UInt32 {
    bytes.withUnsafeBufferPointer { buffer in
        var crc = crc32(0, nil, 0)
        var offset = 0
        while offset < buffer.count {
            let chunk = min(zlibChunk, buffer.count - offset)
            crc = crc32(crc, buffer.baseAddress! + offset, UInt32(chunk))
            offset += chunk
        }
        return UInt32(truncatingIfNeeded: crc)
    }
}

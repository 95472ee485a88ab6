import CCharLS
import CJPEG
import COpenJPEG
import Galen

// Encapsulated Pixel Data (PS3.5 §A.4): frames split out of the fragments, then decoded by RLE
// (Galen's own decoder) or by the Debian codec libraries: libjpeg-turbo for JPEG Baseline, CharLS
// for JPEG-LS, OpenJPEG for JPEG 2000. Every frame's header is checked against Rows, Columns and
// Samples per Pixel before the output is allocated, so a corrupt header cannot size it.

/// The compressed transfer syntaxes Galen decodes.
enum Codec {
    case rle, jpegBaseline, jpegLS, jpeg2000
}

func codecFor(_ syntax: DICOMTransferSyntax) -> Codec? {
    switch syntax.uid {
    case DICOMTransferSyntax.rleLossless.uid: return .rle
    case DICOMTransferSyntax.jpegBaseline.uid: return .jpegBaseline
    case DICOMTransferSyntax.jpegLSLossless.uid, DICOMTransferSyntax.jpegLSNearLossless.uid: return .jpegLS
    case DICOMTransferSyntax.jpeg2000Lossless.uid, DICOMTransferSyntax.jpeg2000.uid: return .jpeg2000
    default: return nil
    }
}

/// Frames of encapsulated Pixel Data, decoded one at a time into a reused buffer.
struct EncapsulatedFrames: FrameDecoder {
    private let bytes: [UInt8]
    private let source: String
    private let codec: Codec
    private let meta: DICOMImageMetadata
    /// Each frame's fragments (byte ranges in `bytes`).
    private let frames: [[Range<Int>]]
    private var compressed: [UInt8] = []
    private var scratch: [UInt8] = []

    var convertsColour: Bool { codec == .jpegBaseline }

    init(ds: DICOMDataSet, syntax: DICOMTransferSyntax, meta: DICOMImageMetadata, fragments: [Range<Int>]) throws {
        source = ds.source
        func failure(_ message: String) -> DataFormatError { DataFormatError(source: ds.source, message: message) }
        guard let codec = codecFor(syntax) else {
            throw failure("transfer syntax \(syntax.uid) (\(syntax.name)) is not supported for Pixel Data; Galen decodes native (uncompressed), Deflated, RLE Lossless, JPEG Baseline (8-bit), JPEG-LS and JPEG 2000")
        }
        self.codec = codec
        self.meta = meta
        bytes = ds.bytes
        guard let table = fragments.first else { throw failure("encapsulated Pixel Data has no Basic Offset Table item") }
        let data = Array(fragments.dropFirst())
        frames = try splitFrames(table: table, fragments: data, count: meta.numberOfFrames, bytes: ds.bytes, fail: failure)

        let pixels = meta.rows * meta.columns
        let bytesPerSample = meta.bitsAllocated / 8
        var scratchSize = pixels * meta.samplesPerPixel * (codec == .jpeg2000 ? 4 : bytesPerSample)
        for (index, frame) in frames.enumerated() {
            func frameFailure(_ message: String) -> DataFormatError { failure("frame \(index + 1): \(message)") }
            let data = gather(frame)
            try data.withUnsafeBytes { raw in
                if codec == .rle {
                    let segments = try rleSegments(raw, expectedCount: meta.samplesPerPixel * bytesPerSample, fail: frameFailure)
                    // A PackBits byte pair expands to at most 128 bytes.
                    for segment in segments where pixels > 64 * segment.count + 128 {
                        throw frameFailure("RLE segment of \(segment.count) bytes cannot hold \(pixels) pixels")
                    }
                } else {
                    let info = try self.header(raw, fail: frameFailure)
                    guard info.rows == meta.rows, info.columns == meta.columns, info.components == meta.samplesPerPixel else {
                        throw frameFailure("the compressed image is \(info.rows)×\(info.columns)×\(info.components), but Rows, Columns and Samples per Pixel say \(meta.rows)×\(meta.columns)×\(meta.samplesPerPixel)")
                    }
                    if codec == .jpegLS { scratchSize = max(scratchSize, pixels * meta.samplesPerPixel * (info.bits > 8 ? 2 : 1)) }
                    if codec == .jpegBaseline && info.bits != 8 {
                        throw frameFailure("JPEG Baseline data has \(info.bits)-bit precision; only 8 bits is supported")
                    }
                    if codec == .jpegLS && info.bits > meta.bitsAllocated {
                        throw frameFailure("JPEG-LS data has \(info.bits) bits per sample, more than Bits Allocated \(meta.bitsAllocated)")
                    }
                }
            }
        }
        scratch = [UInt8](repeating: 0, count: scratchSize)
    }

    /// The frame's bytes: its one fragment, or its fragments joined.
    private func gather(_ frame: [Range<Int>]) -> ArraySlice<UInt8> {
        if frame.count == 1 { return bytes[frame[0]] }
        var joined: [UInt8] = []
        joined.reserveCapacity(frame.reduce(0) { $0 + $1.count })
        for range in frame { joined += bytes[range] }
        return joined[...]
    }

    private struct HeaderInfo { var rows, columns, components, bits: Int; var planar = false }

    private func header(_ data: UnsafeRawBufferPointer, fail: (String) -> DataFormatError) throws -> HeaderInfo {
        try decode(data, into: nil, capacity: 0, fail: fail)
    }

    /// Runs the codec on `data`: only the header when `out` is nil.
    @discardableResult
    private func decode(_ data: UnsafeRawBufferPointer, into out: UnsafeMutableRawPointer?, capacity: Int,
                        fail: (String) -> DataFormatError) throws -> HeaderInfo {
        guard let base = data.baseAddress, data.count > 0 else { throw fail("empty compressed frame") }
        var width: Int32 = 0, height: Int32 = 0, components: Int32 = 0, bits: Int32 = 0, flag: Int32 = 0
        var message = [CChar](repeating: 0, count: 512)
        let status: Int32
        switch codec {
        case .jpegBaseline:
            status = galen_jpeg_decode(base.assumingMemoryBound(to: UInt8.self), UInt(data.count),
                                       meta.photometricInterpretation == "RGB" ? 1 : 0,
                                       out?.assumingMemoryBound(to: UInt8.self), capacity,
                                       &width, &height, &components, &bits, &message)
        case .jpegLS:
            status = galen_jpegls_decode(base, data.count, out, capacity, &width, &height, &components, &bits,
                                         &flag, &message, message.count)
        case .jpeg2000:
            status = galen_j2k_decode(base.assumingMemoryBound(to: UInt8.self), data.count,
                                      out?.assumingMemoryBound(to: Int32.self), capacity / 4,
                                      &width, &height, &components, &bits, &flag, &message, message.count)
        case .rle:
            throw fail("RLE frames have no codec header")
        }
        guard status == 0 else {
            let name = codec == .jpegBaseline ? "libjpeg" : codec == .jpegLS ? "CharLS" : "OpenJPEG"
            throw fail("\(name) cannot decode the frame: \(String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))")
        }
        return HeaderInfo(rows: Int(height), columns: Int(width), components: Int(components), bits: Int(bits),
                          planar: codec == .jpegLS ? flag == 1 : codec == .jpeg2000)
    }

    mutating func withFrame(_ index: Int, _ body: (UnsafeRawPointer, SampleLayout) -> Void) throws {
        func failure(_ message: String) -> DataFormatError { DataFormatError(source: source, message: "frame \(index + 1): \(message)") }
        let data = gather(frames[index])
        let pixels = meta.rows * meta.columns
        let bytesPerSample = meta.bitsAllocated / 8
        let codec = self.codec
        var layout = SampleLayout(bytesPerSample: bytesPerSample, bigEndian: false, planar: true)
        // Taken out of self for the call (no copy: the array stays uniquely referenced).
        var buffer = scratch
        scratch = []
        defer { scratch = buffer }
        try buffer.withUnsafeMutableBytes { out in
            try data.withUnsafeBytes { raw in
                switch codec {
                case .rle:
                    try decodeRLEFrame(raw, pixels: pixels, samples: meta.samplesPerPixel, bytesPerSample: bytesPerSample,
                                       into: out.baseAddress!.assumingMemoryBound(to: UInt8.self), fail: failure)
                case .jpegBaseline:
                    try decode(raw, into: out.baseAddress!, capacity: out.count, fail: failure)
                    layout = SampleLayout(bytesPerSample: 1, bigEndian: false, planar: false)
                case .jpegLS:
                    let info = try decode(raw, into: out.baseAddress!, capacity: out.count, fail: failure)
                    layout = SampleLayout(bytesPerSample: info.bits > 8 ? 2 : 1, bigEndian: false, planar: info.planar)
                case .jpeg2000:
                    try decode(raw, into: out.baseAddress!, capacity: out.count, fail: failure)
                    layout = SampleLayout(bytesPerSample: 4, bigEndian: false, planar: true)
                }
            }
            body(UnsafeRawPointer(out.baseAddress!), layout)
        }
    }
}

/// Groups the fragments into frames: all of them for one frame, one each when the counts agree,
/// else by the Basic Offset Table, else (no table) by JPEG end-of-image markers.
private func splitFrames(table: Range<Int>, fragments: [Range<Int>], count: Int, bytes: [UInt8],
                         fail: (String) -> DataFormatError) throws -> [[Range<Int>]] {
    guard fragments.count >= count else {
        throw fail("encapsulated Pixel Data has \(fragments.count) fragment(s) for \(count) frame(s)")
    }
    if count == 1 { return [fragments] }
    if fragments.count == count { return fragments.map { [$0] } }
    if !table.isEmpty {
        guard table.count == 4 * count else {
            throw fail("Basic Offset Table has \(table.count / 4) offsets for \(count) frames")
        }
        // Offsets count from the first fragment's item tag.
        let origin = fragments[0].lowerBound - 8
        let offsets = (0..<count).map { i -> Int in
            let o = table.lowerBound + 4 * i
            return Int(UInt32(bytes[o]) | UInt32(bytes[o + 1]) << 8 | UInt32(bytes[o + 2]) << 16 | UInt32(bytes[o + 3]) << 24)
        }
        var frames: [[Range<Int>]] = []
        for i in 0..<count {
            let low = offsets[i], high = i + 1 < count ? offsets[i + 1] : Int.max
            let frame = fragments.filter { (low..<high).contains($0.lowerBound - 8 - origin) }
            guard !frame.isEmpty, frame[0].lowerBound - 8 - origin == low else {
                throw fail("Basic Offset Table offset \(low) of frame \(i + 1) does not start a fragment")
            }
            frames.append(frame)
        }
        return frames
    }
    // No table: a frame ends with a fragment whose data ends with the JPEG EOI marker FFD9.
    var frames: [[Range<Int>]] = []
    var current: [Range<Int>] = []
    for fragment in fragments {
        current.append(fragment)
        let tail = bytes[fragment].suffix(3)
        if tail.count >= 2 && (Array(tail.suffix(2)) == [0xFF, 0xD9] || Array(tail) == [0xFF, 0xD9, 0x00]) {
            frames.append(current)
            current = []
        }
    }
    guard frames.count == count, current.isEmpty else {
        throw fail("cannot split \(fragments.count) fragments into \(count) frames: no Basic Offset Table and \(frames.count) end-of-image markers")
    }
    return frames
}

import Galen

// RLE Lossless frames (PS3.5 Annex G). A frame is a 64-byte header (segment count, then 15
// segment offsets, all 32-bit little-endian) and up to 15 segments. Each segment is one byte plane
// — for every sample, its bytes from most to least significant — compressed with the PackBits
// scheme: a header byte n ≥ 0 copies the next n + 1 bytes, −127…−1 repeats the next byte 1 − n
// times, and −128 does nothing.

/// The byte ranges (within `frame`) of the segments of one RLE frame, checked against the frame and
/// against `expectedCount` (samples per pixel × bytes per sample).
func rleSegments(_ frame: UnsafeRawBufferPointer, expectedCount: Int, fail: (String) -> DataFormatError) throws -> [Range<Int>] {
    guard frame.count >= 64 else { throw fail("RLE frame of \(frame.count) bytes is shorter than its 64-byte header") }
    func u32(_ i: Int) -> Int { Int(UInt32(littleEndian: frame.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
    let count = u32(0)
    guard count == expectedCount else {
        throw fail("RLE header has \(count) segments; Samples per Pixel × Bits Allocated / 8 needs \(expectedCount)")
    }
    var ranges: [Range<Int>] = []
    for i in 0..<count {
        let start = u32(1 + i)
        let end = i + 1 < count ? u32(2 + i) : frame.count
        guard start >= 64, start <= end, end <= frame.count else {
            throw fail("RLE segment \(i + 1) has offsets \(start)…\(end) outside the frame's 64…\(frame.count) bytes")
        }
        ranges.append(start..<end)
    }
    return ranges
}

/// Decodes one PackBits segment into `count` bytes written `stride` apart from `output`. Extra
/// decoded bytes (encoders may pad a segment) are ignored; too few is an error.
func decodeRLESegment(_ segment: UnsafeRawBufferPointer, into output: UnsafeMutablePointer<UInt8>, count: Int,
                      stride: Int, fail: (String) -> DataFormatError) throws {
    var input = 0
    var produced = 0
    let end = segment.count
    while produced < count {
        guard input < end else {
            throw fail("RLE segment decodes to \(produced) bytes; the frame needs \(count)")
        }
        let n = Int(Int8(bitPattern: segment[input]))
        input += 1
        if n >= 0 {
            let run = n + 1
            guard run <= end - input else { throw fail("RLE literal run of \(run) bytes passes the end of its segment") }
            for k in 0..<min(run, count - produced) { output[(produced + k) * stride] = segment[input + k] }
            input += run
            produced += min(run, count - produced)
        } else if n != -128 {
            guard input < end else { throw fail("RLE replicate run has no byte to repeat at the end of its segment") }
            let value = segment[input]
            input += 1
            let run = min(1 - n, count - produced)
            for k in 0..<run { output[(produced + k) * stride] = value }
            produced += run
        }
    }
}

/// Decodes an RLE frame to samples stored little-endian, `bytesPerSample` each, planar (all of
/// sample 0, then sample 1, …), which is the layout RLE itself uses.
func decodeRLEFrame(_ frame: UnsafeRawBufferPointer, pixels: Int, samples: Int, bytesPerSample: Int,
                    into output: UnsafeMutablePointer<UInt8>, fail: (String) -> DataFormatError) throws {
    let segments = try rleSegments(frame, expectedCount: samples * bytesPerSample, fail: fail)
    for (index, range) in segments.enumerated() {
        let sample = index / bytesPerSample
        let byte = index % bytesPerSample  // 0 = most significant
        let base = output + sample * pixels * bytesPerSample + (bytesPerSample - 1 - byte)
        try decodeRLESegment(UnsafeRawBufferPointer(rebasing: frame[range]), into: base, count: pixels,
                             stride: bytesPerSample, fail: fail)
    }
}

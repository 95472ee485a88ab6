import GalenData

// PNG: signature, chunk walk with CRCs, IHDR validation, zlib-wrapped IDAT, the five scanline
// filters, palettes and transparency, bit depths 1 to 16 (interlaced images are refused by name).
//
// Almost every mutation inside a chunk breaks its CRC, which the decoder checks first; so each
// input is decoded as it is, and then again with every complete chunk's CRC recomputed, which
// lets mutated headers, palettes and image data through to the code behind the check.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var bytes = Array(UnsafeBufferPointer(start: data, count: size))
    _ = try? PNG.decode(bytes, source: "fuzz")
    if repairCRCs(&bytes) { _ = try? PNG.decode(bytes, source: "fuzz") }
    return 0
}

private let crcTable: [UInt32] = (0..<256).map { n in
    var c = UInt32(n)
    for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
    return c
}

/// Rewrites the CRC of each chunk that fits in `bytes`; true when one changed.
private func repairCRCs(_ bytes: inout [UInt8]) -> Bool {
    var changed = false
    var offset = 8  // after the signature
    while offset + 12 <= bytes.count {
        let length = Int(bytes[offset]) << 24 | Int(bytes[offset + 1]) << 16 | Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
        let end = offset + 8 + length
        guard end + 4 <= bytes.count else { break }
        var crc: UInt32 = 0xFFFF_FFFF
        for i in (offset + 4)..<end { crc = crcTable[Int((crc ^ UInt32(bytes[i])) & 0xFF)] ^ (crc >> 8) }
        crc ^= 0xFFFF_FFFF
        let stored = [UInt8(crc >> 24), UInt8((crc >> 16) & 0xFF), UInt8((crc >> 8) & 0xFF), UInt8(crc & 0xFF)]
        if Array(bytes[end..<end + 4]) != stored {
            bytes.replaceSubrange(end..<end + 4, with: stored)
            changed = true
        }
        offset = end + 4
    }
    return changed
}

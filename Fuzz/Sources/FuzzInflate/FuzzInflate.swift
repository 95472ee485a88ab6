import GalenData

// The zlib wrapper used by zip, PNG, TIFF, gzip and DICOM: the input as a gzip, zlib and raw
// deflate stream, bounded and with an exact expected size; then a round trip through deflate,
// which must give the input back.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let cap = 16 << 20
    for format in [DeflateFormat.gzip, .zlib, .raw] {
        if let out = try? inflate(bytes, format: format, maximumSize: cap, source: "fuzz") {
            // The same stream with its exact size must inflate; one byte less must be refused.
            guard (try? inflate(bytes, format: format, expectedSize: out.count, source: "fuzz")) == out else {
                fatalError("\(format): inflating with the exact expected size \(out.count) failed")
            }
            if !out.isEmpty, (try? inflate(bytes, format: format, expectedSize: out.count - 1, source: "fuzz")) != nil {
                fatalError("\(format): an expected size one short of \(out.count) was accepted")
            }
        }
    }
    for format in [DeflateFormat.gzip, .zlib, .raw] {
        let packed = deflate(bytes, format: format)
        guard (try? inflate(packed, format: format, expectedSize: bytes.count, source: "fuzz")) == bytes else {
            fatalError("\(format): deflate then inflate did not give back the \(bytes.count) input bytes")
        }
    }
    return 0
}

import GalenData

// TIFF: byte order, IFD walk, tag types and counts, strips and tiles, uncompressed, PackBits and
// deflate compression, predictors, integer and float samples in either byte order.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    _ = try? TIFF.decode(bytes, source: "fuzz")
    return 0
}

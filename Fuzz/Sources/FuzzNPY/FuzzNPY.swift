import GalenData

// NPY: magic, version, header length, the Python-literal header dictionary and the element data;
// then the conversions to Tensor / IntTensor that every loader applies.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let array = try? NPYArray(bytes: bytes, source: "fuzz") else { return 0 }
    _ = array.floatTensor()
    _ = try? array.intTensor()
    return 0
}
